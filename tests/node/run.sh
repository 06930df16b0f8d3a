#!/usr/bin/env bash
# Starts rgemma serve (the built CLI, demo model, a free port, an API key), runs the openai npm client against it and
# drives its chat page in headless Chromium, then stops the server with SIGTERM and checks that it drained and exited
# 0. Called by .ci/run after the build; installs its npm packages from the lockfile, and Debian's chromium if missing.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
if [ ! -x /usr/bin/chromium ]; then
  echo "node test: installing Debian's chromium for the chat-page test"
  # A fresh machine may have no package lists yet ("Unable to locate package"): update them first.
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; else sudo apt-get update -qq >/dev/null && sudo apt-get install -y -qq chromium >/dev/null; fi
fi
rgemma=../../RecurrentGemma.Cli/bin/Release/net10.0/rgemma.dll
log=$(mktemp -d)
export RGEMMA_API_KEY=node-test-key
dotnet "$rgemma" serve --port 0 --max-tokens-cap 100000 >"$log/out" 2>"$log/err" &
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
node chat-page.mjs "${url%/v1}" "$RGEMMA_API_KEY"
kill -TERM $pid
code=0
wait $pid || code=$?
[ "$code" -eq 0 ] || { echo "node test: rgemma serve exited $code after SIGTERM"; cat "$log/err"; exit 1; }
echo "node test: rgemma serve drained and exited 0"
