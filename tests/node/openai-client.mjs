// Drives a running rgemma serve with the official openai npm package, as a Node application would:
// a chat completion, the same streamed (same text, usage last), n > 1, a text completion, the model list, and a 400.
// Usage: node openai-client.mjs http://127.0.0.1:PORT/v1
import assert from "node:assert/strict";
import OpenAI from "openai";

const baseURL = process.argv[2];
if (!baseURL) {
  console.error("usage: node openai-client.mjs BASE_URL (e.g. http://127.0.0.1:8080/v1)");
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: process.env.RGEMMA_API_KEY ?? "none", maxRetries: 0, timeout: 60_000 });
const messages = [
  { role: "system", content: "Answer as a herald." },
  { role: "user", content: "What news from the court?" },
];

const whole = await client.chat.completions.create({ model: "griffin-shakespeare", messages, temperature: 0, max_tokens: 24 });
const text = whole.choices[0].message.content;
assert.ok(text.length > 0, "the answer is empty");
assert.equal(whole.choices[0].finish_reason, "length");
assert.equal(whole.usage.completion_tokens, 24);

const stream = await client.chat.completions.create({
  model: "griffin-shakespeare", messages, temperature: 0, max_tokens: 24, stream: true, stream_options: { include_usage: true },
});
let streamed = "", chunks = 0, usage = null, finish = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const choice of chunk.choices) {
    streamed += choice.delta.content ?? "";
    finish ??= choice.finish_reason;
  }
}
assert.equal(streamed, text, "the streamed answer differs from the whole one");
assert.ok(chunks > 10, `only ${chunks} chunks: not streamed token by token`);
assert.equal(finish, "length");
assert.equal(usage.completion_tokens, 24);
assert.ok(usage.prompt_tokens_details.cached_tokens > 0, "the second identical prompt should reuse the cached state");

const several = await client.chat.completions.create({ model: "m", messages, n: 3, temperature: 1, seed: 5, max_tokens: 8 });
assert.deepEqual(several.choices.map((c) => c.index), [0, 1, 2]);

const completion = await client.completions.create({ model: "m", prompt: "ROMEO:", max_tokens: 10, temperature: 0 });
assert.ok(completion.choices[0].text.length > 0);

const models = await client.models.list();
assert.equal(models.data.length, 1);

await assert.rejects(
  client.chat.completions.create({ model: "m", messages, temperature: 5 }),
  (e) => e instanceof OpenAI.APIError && e.status === 400 && e.error?.param === "temperature",
);

console.log(`openai npm client: ok (chat ${JSON.stringify(text.slice(0, 40))}..., ${chunks} stream chunks, n=3, completions, models, 400)`);
