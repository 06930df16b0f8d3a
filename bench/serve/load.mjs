// Aggregate streaming throughput of rgemma serve: C clients start together, each streams R chat completions of
// max_tokens M from a prompt of about P words; reports completion tok/s over the whole run and over the window where
// every client was decoding, time to first token, and errors. Usage:
//   node load.mjs URL [--clients 64] [--requests 1] [--max-tokens 64] [--words 8]
import OpenAI from "openai";

const args = process.argv.slice(2);
const url = args[0];
const opt = (name, fallback) => { const i = args.indexOf(`--${name}`); return i > 0 ? Number(args[i + 1]) : fallback; };
const clients = opt("clients", 64), requests = opt("requests", 1), maxTokens = opt("max-tokens", 64), words = opt("words", 8);
const client = new OpenAI({ baseURL: url, apiKey: "none", maxRetries: 0, timeout: 600_000 });

const firstTokens = [], tokenTimes = [];
let errors = 0, tokens = 0;
const start = performance.now();
await Promise.all(Array.from({ length: clients }, async (_, c) => {
  for (let r = 0; r < requests; r++) {
    const sent = performance.now();
    try {
      const stream = await client.chat.completions.create({
        model: "m", stream: true, max_tokens: maxTokens, temperature: 0.8, seed: c * 1000 + r,
        messages: [{ role: "user", content: `Client ${c} request ${r}: ` + "tell me more of the king ".repeat(Math.ceil(words / 6)) }],
      });
      let first = true;
      for await (const chunk of stream) {
        if (!chunk.choices.length || !chunk.choices[0].delta.content) continue;
        const now = performance.now();
        if (first) { firstTokens.push(now - sent); first = false; }
        tokenTimes.push(now);
        tokens++;
      }
    } catch (e) {
      errors++;
      console.error(`client ${c}: ${e.message}`);
    }
  }
}));
const seconds = (performance.now() - start) / 1000;
firstTokens.sort((a, b) => a - b);
tokenTimes.sort((a, b) => a - b);
// The steady window: from the last first token to the first client's end, when all clients decode together.
const lastFirst = start + Math.max(...firstTokens.map((t, i) => t));
const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
console.log(JSON.stringify({
  clients, requests, max_tokens: maxTokens, errors, tokens, seconds: +seconds.toFixed(2),
  aggregate_tok_s: +(tokens / seconds).toFixed(1),
  ttft_ms: { p50: +q(firstTokens, 0.5).toFixed(1), p90: +q(firstTokens, 0.9).toFixed(1), max: +firstTokens.at(-1).toFixed(1) },
}));
