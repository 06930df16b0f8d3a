#!/usr/bin/env bash
# Starts rgemma serve (the built CLI, demo model, a free port), runs the openai npm client against it, then stops the
# server with SIGTERM and checks that it drained and exited 0. Called by .ci/run after the build.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
rgemma=../../RecurrentGemma.Cli/bin/Release/net10.0/rgemma.dll
log=$(mktemp -d)
dotnet "$rgemma" serve --port 0 >"$log/out" 2>"$log/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$log"' EXIT
url=""
for _ in $(seq 1 300); do
  url=$(sed -nE 's/^rgemma: serving .* at (http[^ ]*).*/\1/p' "$log/out")
  [ -n "$url" ] && break
  kill -0 $pid 2>/dev/null || { echo "node test: rgemma serve exited early:"; cat "$log/err"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "node test: rgemma serve printed no URL in 30 s"; cat "$log/err"; exit 1; }
node openai-client.mjs "$url"
kill -TERM $pid
code=0
wait $pid || code=$?
[ "$code" -eq 0 ] || { echo "node test: rgemma serve exited $code after SIGTERM"; cat "$log/err"; exit 1; }
echo "node test: rgemma serve drained and exited 0"
