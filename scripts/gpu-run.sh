#!/usr/bin/env bash
# The GPU round, part two (on the GPU machine): runs every test executable
# that scripts/gpu-round.sh packed beside this script, plainly, then the GPU
# ones under compute-sanitizer memcheck. Logs go to /tmp/gpu-round-logs and,
# archived, to $OUT when set.
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

# Plain runs: every test executable. The kernel cache test prints start-up
# times; a cold cache first shows the compile cost of the other binaries.
# ROUNDS repeats them (fresh random inputs each time) to shake out races.
for round in $(seq "${ROUNDS:-1}"); do
  for exe in "$here"/bin/*; do
    name=$(basename "$exe")
    run "$name-$round" "$exe" --test-threads=1 --nocapture
  done
done
grep -h -A2 "device cuda" "$logs"/*.log || true

# Memcheck over the GPU tests.
if command -v compute-sanitizer >/dev/null; then
  for exe in "$here"/bin/test-gpu_*; do
    name=$(basename "$exe")
    run "memcheck-$name" compute-sanitizer --tool memcheck --error-exitcode 99 \
      "$exe" --test-threads=1
    grep -h "ERROR SUMMARY" "$logs/memcheck-$name.log" || true
  done
  # Shared-memory races (attention, reductions).
  run "racecheck-test-gpu_ops" compute-sanitizer --tool racecheck --error-exitcode 99 \
    "$here/bin/test-gpu_ops" --test-threads=1
  grep -h "ERROR SUMMARY\|RACECHECK SUMMARY" "$logs/racecheck-test-gpu_ops.log" || true
else
  summary+=("compute-sanitizer: NOT FOUND")
fi

# The device tool returns at most 8 files: one archive of all logs.
if [[ -n ${OUT:-} ]]; then tar -czf "$OUT/gpu-round-logs.tar.gz" -C "$logs" .; fi
printf '%s\n' "${summary[@]}"
