#!/usr/bin/env bash
# The GPU check that fits in 10 minutes of device time (the device tool lends 15 minutes per task,
# all tries together): every step is time-boxed and results go to $OUT, in priority order, so
# that a cut-off run still returns the most important measurements:
#   1. build for sm_90;  2. the op tests on CUDA;  3. compute-sanitizer memcheck and racecheck on
#   the ops at small n;  4. the kernel benchmark at n = 48, B = 8;  5. the solver at n = 48, 128.
# benchmarks/gpu_run.sh is the long version (whole suite, all benchmarks, PH-Net training speed).
# Usage (repo root, on the GPU machine): bash benchmarks/gpu_check.sh   (OUT=dir to choose the folder)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${OUT:-benchmarks/results/gpu}")  # absolute: the Python steps run from /tmp
mkdir -p "$OUT"
REPO=$(pwd)
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-')
gpu=${gpu:-unknown-gpu}
log="$OUT/gpu_check_${gpu}.log"
export PYTHONUNBUFFERED=1
status=0
step() { echo; echo "== $(date +%T) $*"; }
# box SECONDS CMD...: run one step under a time limit; a step that times out marks the run failed
box() { local s=$1; shift; timeout --signal=INT --kill-after=10 "$s" "$@" || { echo "(step failed or exceeded ${s}s)"; status=1; }; }
{
  step "device"
  nvidia-smi || status=1
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" || status=1
  step "1. build (CUDA ON, sm_90)"
  PHNET_CUDA=ON PHNET_CUDA_ARCHITECTURES=90 box 240 python3 -m pip install -q --no-build-isolation --no-deps .
  # from outside the checkout: there, 'import phnet_cuda' would find the library-less source folder
  (cd /tmp && python3 -c "import json, phnet_cuda; i = phnet_cuda.build_info(); print(json.dumps(i)); assert i['cuda']") \
    > "$OUT/build_info_${gpu}.json" || status=1
  step "2. op tests on CUDA"
  (cd /tmp && box 120 python3 -m pytest -q -p no:cacheprovider -x "$REPO/python_tests/test_ops.py" \
    "$REPO/python_tests/test_identities.py" "$REPO/python_tests/test_compile.py" -k "cuda or compile")
  step "3. compute-sanitizer (memcheck, racecheck) on every op at small n"
  if command -v compute-sanitizer >/dev/null; then
    (cd /tmp && box 90 compute-sanitizer --tool memcheck --error-exitcode 3 python3 "$REPO/benchmarks/sanitize_ops.py")
    (cd /tmp && box 90 compute-sanitizer --tool racecheck --error-exitcode 3 python3 "$REPO/benchmarks/sanitize_ops.py")
  else
    echo "compute-sanitizer not found"; status=1
  fi
  step "4. kernel benchmark, n = 48, B = 8, float32 (with the byte floor and fraction of it)"
  box 90 python3 benchmarks/kernels.py --device cuda --n 48 --batch 8 --repeats 20 --out "$OUT/kernels_${gpu}.json"
  step "5. solver, n = 48 and 128 (project methods only, no CPU baselines)"
  box 120 python3 benchmarks/solver.py --device cuda --n 48 128 --methods multigrid --sweep-n --sweep-soft \
    --out "$OUT/solver_${gpu}.json"
  step "done, status $status"
} 2>&1 | tee "$log"
exit $status
