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

const firstTokens = [], tokenTimes = [], firstAt = [], endAt = [];
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
        if (first) { firstTokens.push(now - sent); firstAt.push(now); first = false; }
        tokenTimes.push(now);
        tokens++;
      }
      endAt.push(performance.now());
    } catch (e) {
      errors++;
      console.error(`client ${c}: ${e.message}`);
    }
  }
}));
const seconds = (performance.now() - start) / 1000;
firstTokens.sort((a, b) => a - b);
tokenTimes.sort((a, b) => a - b);
// The steady window: from the last client's first token to the first client's end, when all of them decode together
// (what rgemma bench --batch measures: decode only, the prompts already prefilled).
const from = Math.max(...firstAt), to = Math.min(...endAt);
const steady = tokenTimes.filter((t) => t > from && t <= to).length;
const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
console.log(JSON.stringify({
  clients, requests, max_tokens: maxTokens, errors, tokens, seconds: +seconds.toFixed(2),
  aggregate_tok_s: +(tokens / seconds).toFixed(1),
  steady_decode_tok_s: to > from ? +(steady / ((to - from) / 1000)).toFixed(1) : null,
  steady_window_s: +((to - from) / 1000).toFixed(2),
  ttft_ms: { p50: +q(firstTokens, 0.5).toFixed(1), p90: +q(firstTokens, 0.9).toFixed(1), max: +firstTokens.at(-1).toFixed(1) },
}));
