#!/usr/bin/env bash
# The GPU round, part two (on the GPU machine): runs every test executable
# that scripts/gpu-round.sh packed beside this script, plainly, then the GPU
# ones under compute-sanitizer memcheck. With the default model at
# $METALLIC_MODEL (or joined from the pieces in $MODEL_PARTS, checked against
# its SHA-256) it also runs the golden tests on the GPU, `metallic generate`
# and `metallic bench` with --device cuda. Logs go to /tmp/gpu-round-logs and,
# archived, to $OUT when set. SKIP_SANITIZER=1 leaves the sanitizer out.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
logs=/tmp/gpu-round-logs
rm -rf "$logs"
mkdir -p "$logs"

# The CUDA libraries the tests load at run time (driver, NVRTC, cuBLAS).
for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  $(python3 -c 'import nvidia, os; p = nvidia.__path__[0]; print(" ".join(os.path.join(p, d, "lib") for d in os.listdir(p)))' 2>/dev/null); do
  [[ -d $dir ]] && LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$dir
done
export LD_LIBRARY_PATH
export METALLIC_HOME=${METALLIC_HOME:-/tmp/metallic-home}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
for lib in libcuda.so libnvrtc.so libcublas.so; do
  found=$(ldconfig -p | grep -m1 "$lib" || find ${LD_LIBRARY_PATH//:/ } -maxdepth 1 -name "$lib*" 2>/dev/null | head -1)
  echo "$lib: ${found:-NOT FOUND}"
done

summary=()
run() {
  local label=$1; shift
  local log="$logs/$label.log"
  local started=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  local result
  result=$(grep -E "^test result:" "$log" | tail -1)
  summary+=("$(printf '%-40s rc=%-3s %3ss  %s' "$label" "$rc" $((SECONDS - started)) "$result")")
  [[ $rc == 0 ]] || tail -40 "$log"
}

# The default model, when it came along in pieces (the device tool carries at
# most 64 MiB per call): joined once, and used only if its SHA-256 matches.
parts=${MODEL_PARTS:-$here/../.device-model}
if [[ -z ${METALLIC_MODEL:-} && -f $parts/sha256 ]]; then
  model=/tmp/metallic-default-model.gguf
  want=$(awk '{print $1}' "$parts/sha256")
  if [[ ! -f $model ]] || [[ $(sha256sum "$model" | awk '{print $1}') != "$want" ]]; then
    cat "$parts"/part* >"$model.partial" && mv "$model.partial" "$model"
  fi
  if [[ $(sha256sum "$model" | awk '{print $1}') == "$want" ]]; then
    export METALLIC_MODEL=$model
  else
    summary+=("model pieces in $parts do not match their SHA-256: golden, generate, bench not run")
  fi
fi

# Plain runs: every test executable (golden only with the model, on the GPU).
# The kernel cache test prints start-up times; a cold cache first shows the
# compile cost of the other binaries. ROUNDS repeats them (fresh random
# inputs each time) to shake out races.
for round in $(seq "${ROUNDS:-1}"); do
  for exe in "$here"/bin/*; do
    name=$(basename "$exe")
    if [[ $name == test-golden ]]; then
      if [[ -z ${METALLIC_MODEL:-} ]]; then
        summary+=("$name: not run (no model)")
        continue
      fi
      METALLIC_TEST_DEVICE=cuda run "$name-cuda-$round" "$exe" --test-threads=1 --nocapture
      continue
    fi
    run "$name-$round" "$exe" --test-threads=1 --nocapture
  done
done
grep -h -A2 "device cuda" "$logs"/*.log || true

# The CLI end to end on the GPU.
if [[ -n ${METALLIC_MODEL:-} && -x $here/tools/metallic ]]; then
  run "generate-cuda" "$here/tools/metallic" generate --device cuda --json --temperature 0 \
    --max-tokens 24 "def fibonacci(n):"
  cat "$logs/generate-cuda.log"
  run "bench-cuda" "$here/tools/metallic" bench --device cuda --prompt-tokens 512 \
    --gen-tokens 128 --repetitions 3
  cat "$logs/bench-cuda.log"
fi

# Speed (SPEED=1): the forward pass on the default model, with and without
# the decode graph, and the decode-shape table of both matmul backends.
if [[ -n ${SPEED:-} && -n ${METALLIC_MODEL:-} ]]; then
  run "speed-cuda" "$here/tools/qwen2_speed" --device cuda 512 256 2048
  METALLIC_CUDA_GRAPH=0 run "speed-cuda-no-graph" "$here/tools/qwen2_speed" --device cuda 512 256 2048
  cat "$logs/speed-cuda.log" "$logs/speed-cuda-no-graph.log"
fi
if [[ -n ${SPEED:-} && -x $here/tools/cuda_matmul_table ]]; then
  run "matmul-table" "$here/tools/cuda_matmul_table"
  cat "$logs/matmul-table.log"
fi

# Memcheck over the GPU tests.
if [[ -n ${SKIP_SANITIZER:-} ]]; then
  summary+=("compute-sanitizer: skipped (SKIP_SANITIZER)")
elif command -v compute-sanitizer >/dev/null; then
  for exe in "$here"/bin/test-gpu_*; do
    name=$(basename "$exe")
    # The Qwen-sized products (a 151936-row output layer, m = 512) take
    # minutes under the sanitizer; the small tests cover the same kernels.
    run "memcheck-$name" timeout 300 compute-sanitizer --tool memcheck --error-exitcode 99 \
      "$exe" --test-threads=1 --skip qwen_
    grep -h "ERROR SUMMARY" "$logs/memcheck-$name.log" || true
  done
  # Shared-memory races (attention, reductions).
  run "racecheck-test-gpu_ops" compute-sanitizer --tool racecheck --error-exitcode 99 \
    "$here/bin/test-gpu_ops" --test-threads=1
  # The matmul kernels' shared-memory staging, reductions and splits.
  run "racecheck-test-gpu_mlx_gemv" timeout 240 compute-sanitizer --tool racecheck \
    --error-exitcode 99 "$here/bin/test-gpu_mlx_gemv" --test-threads=1 aligned_k padded_offset
  run "racecheck-test-gpu_mlx_gemm" timeout 240 compute-sanitizer --tool racecheck \
    --error-exitcode 99 "$here/bin/test-gpu_mlx_gemm" --test-threads=1 small_every_tile
  grep -h "ERROR SUMMARY\|RACECHECK SUMMARY" "$logs"/racecheck-*.log || true
else
  summary+=("compute-sanitizer: NOT FOUND")
fi

# The device tool returns at most 8 files: one archive of all logs.
if [[ -n ${OUT:-} ]]; then tar -czf "$OUT/gpu-round-logs.tar.gz" -C "$logs" .; fi
printf '%s\n' "${summary[@]}"
