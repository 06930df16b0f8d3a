#!/usr/bin/env bash
# Builds examples/c/generate against artifacts/<rid>/lib (made by scripts/publish.sh <rid>) with the system C compiler.
# linux-arm64 uses Debian's aarch64-linux-gnu-gcc (scripts/setup-arm64-cross.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
rid=${1:-linux-x64}
lib=artifacts/$rid/lib
cc=${CC:-cc}
[ "$rid" = linux-arm64 ] && [ "$(uname -m)" != aarch64 ] && cc=aarch64-linux-gnu-gcc
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -I include examples/c/generate.c -L "$lib" -lrecurrentgemma -Wl,-rpath,'$ORIGIN' -o "$lib/generate"
echo "built $lib/generate"
