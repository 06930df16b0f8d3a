// The chat page of rgemma serve in a real headless browser (Debian's chromium, driven by playwright-core): enter the
// API key, type a prompt, watch the demo model's reply stream in, press Stop mid-stream, send a follow-up turn that
// reuses the conversation's cached state. Usage: node chat-page.mjs http://127.0.0.1:PORT (the server root) KEY
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [root, key] = process.argv.slice(2);
if (!root || !key) {
  console.error("usage: node chat-page.mjs SERVER_ROOT API_KEY");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  // As this machine's probe starts it: no sandbox as root, and no background connections the closed network refuses.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  await page.goto(root + "/");

  // The server wants a key: the page says so and shows the field.
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("API key"));
  await page.fill("#key", key);
  await page.dispatchEvent("#key", "change");
  await page.waitForFunction(() => document.getElementById("status").textContent === "ready");
  problems.length = 0;   // the browser logs the first, expected 401 as a failed load
  assert.equal(await page.textContent("#model"), "griffin-shakespeare");

  const replies = page.locator(".msg.assistant");
  const statsOf = (i) => replies.nth(i).locator(".stats");

  // 1. A prompt: the reply appears, then its stats line. (The demo answers 60 tokens in milliseconds, so how many
  // screen updates they take depends on how the network batches them; step 2 shows text arriving mid-stream.)
  await page.evaluate(() => {
    window.updates = 0;
    new MutationObserver(() => window.updates++).observe(document.getElementById("log"), { subtree: true, childList: true, characterData: true });
  });
  await page.fill("#max_tokens", "60");
  await page.fill("#prompt", "Who goes there?");
  await page.press("#prompt", "Enter");
  await statsOf(0).waitFor();
  const stats1 = await statsOf(0).textContent();
  const updates = await page.evaluate(() => window.updates);
  assert.ok((await replies.nth(0).textContent()).length > stats1.length, "the first reply is empty");
  assert.match(stats1, /tok\/s/);
  assert.match(stats1, /cached prefix 0/);

  // 2. Streaming and Stop: an answer of up to 100000 tokens (minutes) shows its first text while it is still running,
  // and is stopped then; it stops growing and says so. The click happens in the page within 10 ms of the text being there (the demo streams thousands of tokens a second).
  await page.fill("#max_tokens", "100000");
  await page.fill("#prompt", "Tell me the whole tale.");
  await page.click("#send");
  await page.waitForFunction(() => {
    const all = document.querySelectorAll(".msg.assistant");
    if (all.length !== 2 || all[1].textContent.length <= 30) return false;
    if (document.getElementById("stop").disabled) throw new Error("the long answer ended before Stop could be pressed");
    document.getElementById("stop").click();
    return true;
  }, null, { polling: 10 });   // a timer: with requestAnimationFrame polling this wait timed out once in CI (30 s)
  await statsOf(1).waitFor();
  const stats2 = await statsOf(1).textContent();
  assert.match(stats2, /stopped/);
  const stoppedText = await replies.nth(1).textContent();
  await page.waitForTimeout(300);
  assert.equal(await replies.nth(1).textContent(), stoppedText, "the reply grew after Stop");

  // The server freed the sequence at once: nothing is running any more.
  let running = null;
  for (let i = 0; i < 100 && running !== "0"; i++) {
    running = /\nrgemma_running_sequences (\d+)\n/.exec(await (await fetch(root + "/metrics")).text())[1];
    if (running !== "0") await page.waitForTimeout(50);
  }
  assert.equal(running, "0", "the stopped request is still running on the server");

  // 3. A follow-up turn: the history goes back to the server, which starts from the conversation's cached state.
  await page.fill("#max_tokens", "30");
  await page.fill("#prompt", "And then?");
  await page.press("#prompt", "Enter");
  await statsOf(2).waitFor({ timeout: 60_000 });
  const stats3 = await statsOf(2).textContent();
  const cached = Number(/cached prefix (\d+)/.exec(stats3)[1]);
  assert.ok(cached > 0, `the follow-up turn reused nothing: ${stats3}`);
  assert.ok((await replies.nth(2).textContent()).length > stats3.length, "the follow-up reply is empty");
  assert.equal(await page.locator(".msg.user").count(), 3);
  assert.deepEqual(problems, []);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(`chat page: ok (streamed in ${updates} page updates; stopped at ${stoppedText.length} chars; follow-up reused ${cached} cached tokens)`);
} finally {
  await browser.close();
}
