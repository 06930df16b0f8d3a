#!/bin/bash
# The weight formats side by side on one machine, one session (bench/RESULTS.md, issue 13):
# decode B=1 + prefill 512, then batched decode, for bf16, q8 and q4 on the synthetic 2B. ~6 minutes on 2 cores.
# Usage: bench/formats.sh [OUT_DIR]   (JSON per run in OUT_DIR, default bench/formats-<date>)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/formats-$(date +%Y%m%d-%H%M)}"
mkdir -p "$out"
dotnet build RecurrentGemma.Cli -c Release -v q -nologo >/dev/null
rgemma() { dotnet RecurrentGemma.Cli/bin/Release/net10.0/rgemma.dll "$@"; }
for w in bf16 q8 q4; do rgemma bench --model random:2b --weights "$w" --prompt 512 --gen 64 --json > "$out/single-$w.json"; done
for w in bf16 q8 q4; do rgemma bench --model random:2b --weights "$w" --prompt 64 --gen 8 --batch 1,8,16,64 --json > "$out/batch-$w.json"; done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for w in ['bf16', 'q8', 'q4']:
    s = json.load(open(f'{out}/single-{w}.json'))
    b = json.load(open(f'{out}/batch-{w}.json'))
    batches = ', '.join(f"{p['batch']}: {p['decode_tok_s']:.1f}" for p in b['batches'])
    print(f"{w:4}  decode {s['decode_tok_s']:6.2f} tok/s ({s['decode_roofline']:.1%})  prefill {s['prefill_tok_s']:6.1f} ({s['prefill_roofline']:.1%})  batches {batches}")
PY
