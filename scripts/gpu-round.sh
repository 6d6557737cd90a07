#!/usr/bin/env bash
# The GPU round, part one (on a machine with Rust, no GPU needed): builds the
# test executables with the `cuda` feature, copies them stripped into a
# git-ignored folder with a runner script, and prints the command that runs
# them on the GPU machine, plainly and under compute-sanitizer memcheck.
#
#   scripts/gpu-round.sh [DEST]     DEST defaults to <repo root>/.device
#
# CARGO_PROFILE=release builds with the release profile (default: the test
# profile, which is already optimized; see Cargo.toml).
set -euo pipefail

root=$(git rev-parse --show-toplevel)
dest=${1:-$root/.device}
profile_flag=()
if [[ ${CARGO_PROFILE:-test} == release ]]; then profile_flag=(--release); fi

cd "$root"
cargo build "${profile_flag[@]}" --features cuda -p metallic-cli
cargo test "${profile_flag[@]}" --features cuda -p metallic --no-run --message-format=json \
  >"$root/target/gpu-round-build.json"

rm -rf "$dest"
mkdir -p "$dest/bin"
python3 - "$root/target/gpu-round-build.json" "$dest/bin" <<'PY'
import json, shutil, sys
build, out = sys.argv[1], sys.argv[2]
for line in open(build):
    msg = json.loads(line)
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    if not msg["profile"]["test"]:
        continue
    name = msg["target"]["name"]
    kind = msg["target"]["kind"][0]
    # lib unit tests are named after the crate; keep the kind in the name.
    shutil.copy(msg["executable"], f"{out}/{kind}-{name}")
    print(f"  {kind}-{name}")
PY
strip "$dest"/bin/*
cp "$root/scripts/gpu-run.sh" "$dest/run.sh"
chmod +x "$dest/run.sh"
du -sh "$dest"
echo
echo "On the GPU machine (device tool: carry .device), run:"
echo "  bash .device/run.sh"
