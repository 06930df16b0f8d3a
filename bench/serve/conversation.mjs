// Time to first token of each turn of one growing conversation (the client resends the whole history each turn, as chat
// clients do). With the state cache it stays flat; without it (--state-cache-mb 0) it grows with the history.
// Usage: node conversation.mjs URL [--turns 20] [--max-tokens 32]
import OpenAI from "openai";

const args = process.argv.slice(2);
const url = args[0];
const opt = (name, fallback) => { const i = args.indexOf(`--${name}`); return i > 0 ? Number(args[i + 1]) : fallback; };
const turns = opt("turns", 20), maxTokens = opt("max-tokens", 32);
const client = new OpenAI({ baseURL: url, apiKey: "none", maxRetries: 0, timeout: 600_000 });
const messages = [{ role: "system", content: "You are a herald of the court; answer in the manner of the old plays." }];
const rows = [];
for (let t = 1; t <= turns; t++) {
  messages.push({ role: "user", content: `Turn ${t}: what news from the northern border, and what says the king of it?` });
  const sent = performance.now();
  const stream = await client.chat.completions.create({
    model: "m", messages, stream: true, stream_options: { include_usage: true }, max_tokens: maxTokens, temperature: 0.7, seed: t,
  });
  let ttft = null, answer = "", usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const piece = chunk.choices[0]?.delta?.content;
    if (piece && ttft === null) ttft = performance.now() - sent;
    answer += piece ?? "";
  }
  messages.push({ role: "assistant", content: answer });
  rows.push({ turn: t, prompt_tokens: usage.prompt_tokens, cached_tokens: usage.prompt_tokens_details.cached_tokens, ttft_ms: +ttft.toFixed(0) });
  console.log(JSON.stringify(rows.at(-1)));
}
