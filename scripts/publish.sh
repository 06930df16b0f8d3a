#!/usr/bin/env bash
# Publishes the three ways to get the engine for one runtime (default linux-x64) into artifacts/<rid>/:
#   rgemma                  self-contained single-file CLI (JIT; no .NET needed on the target)
#   aot/rgemma              the same CLI compiled with NativeAOT
#   lib/librecurrentgemma.so + lib/recurrentgemma.h   the C library (NativeAOT)
# linux-arm64 from an x64 machine needs the cross toolchain first: scripts/setup-arm64-cross.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
rid=${1:-linux-x64}
out=artifacts/$rid
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rm -rf "$out"
mkdir -p "$out/aot" "$out/lib"

dotnet publish RecurrentGemma.Cli -c Release -r "$rid" -o "$out/jit-publish" -v quiet -nologo
dotnet publish RecurrentGemma.Cli -c Release -r "$rid" -p:PublishAot=true -o "$out/aot-publish" -v quiet -nologo
dotnet publish RecurrentGemma.Native -c Release -r "$rid" -o "$out/lib-publish" -v quiet -nologo

# Each publish folder must hold exactly the one file users get.
for want in jit-publish:rgemma aot-publish:rgemma lib-publish:librecurrentgemma.so; do
  got=$(ls "$out/${want%%:*}")
  [ "$got" = "${want#*:}" ] || { echo "publish: $out/${want%%:*} holds [$got]; expected only ${want#*:}"; exit 1; }
done

mv "$out/jit-publish/rgemma" "$out/rgemma"
mv "$out/aot-publish/rgemma" "$out/aot/rgemma"
mv "$out/lib-publish/librecurrentgemma.so" "$out/lib/librecurrentgemma.so"
cp include/recurrentgemma.h "$out/lib/"
rm -rf "$out/jit-publish" "$out/aot-publish" "$out/lib-publish"

ls -l "$out/rgemma" "$out/aot/rgemma" "$out/lib/librecurrentgemma.so" | awk '{printf "%s  %.1f MB\n", $NF, $5 / 1e6}'
