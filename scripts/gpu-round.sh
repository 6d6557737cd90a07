#!/usr/bin/env bash
# The GPU round, part one (on a machine with Rust, no GPU needed): builds,
# with the `cuda` feature and the release profile, the GPU test executables,
# the golden test (run on the GPU with the real model), the `metallic` CLI
# and the CUDA speed examples; copies them stripped into a git-ignored folder
# with the runner script, and prints the command that runs the round on the
# GPU machine.
#
#   scripts/gpu-round.sh [DEST]     DEST defaults to <repo root>/.device
#
# GPU_ROUND_TESTS: which test executables to pack (a regex over their names;
# default: the GPU tests and golden). The device tool carries at most 64 MiB.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
dest=${1:-$root/.device}
tests=${GPU_ROUND_TESTS:-^(gpu_.*|golden)$}

cd "$root"
cargo build --release --features cuda -p metallic-cli
cargo build --release --features cuda -p metallic --examples
cargo test --release --features cuda -p metallic --no-run --message-format=json \
  >"$root/target/gpu-round-build.json"

rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/tools"
python3 - "$root/target/gpu-round-build.json" "$dest/bin" "$tests" <<'PY'
import json, re, shutil, sys
build, out, pattern = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
for line in open(build):
    msg = json.loads(line)
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    if not msg["profile"]["test"] or msg["target"]["kind"] != ["test"]:
        continue
    name = msg["target"]["name"]
    if pattern.search(name):
        shutil.copy(msg["executable"], f"{out}/test-{name}")
        print(f"  test-{name}")
PY
cp target/release/metallic "$dest/tools/"
for example in qwen2_speed cuda_matmul_table; do
  [[ -x target/release/examples/$example ]] && cp "target/release/examples/$example" "$dest/tools/"
done
strip "$dest"/bin/* "$dest"/tools/*
cp "$root/scripts/gpu-run.sh" "$dest/run.sh"
chmod +x "$dest/run.sh"
du -sh "$dest"
echo
echo "On the GPU machine (device tool: carry .device), run:"
echo "  bash .device/run.sh"
