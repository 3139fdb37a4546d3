#!/usr/bin/env bash
# Everything only a GPU can show, in one call on a GPU machine (device tool):
#   build with CUDA, run the test suite (CUDA tests included), compute-sanitizer memcheck and
#   racecheck on every op, the kernel, solver and PH-Net (accuracy, latency, training
#   samples/s and energy_loss share at n = 48) benchmarks. Results and logs go to $OUT (the device
#   tool's return folder) and are meant to be committed under benchmarks/results/.
# Usage (from the repo root): bash benchmarks/gpu_run.sh [quick]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${OUT:-benchmarks/results/gpu}")  # absolute: some steps run from /tmp
mkdir -p "$OUT"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-')
gpu=${gpu:-unknown-gpu}
log="$OUT/gpu_run_${gpu}.log"
export PYTHONUNBUFFERED=1
status=0
step() { echo; echo "== $*"; }
{
  step "device"; nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  step "build (CUDA ON, sm_90)"
  PHNET_CUDA=ON PHNET_CUDA_ARCHITECTURES=90 python3 -m pip install -q --no-build-isolation --no-deps . || status=1
  # python -c / -m from outside the checkout: in it, 'import phnet_cuda' finds the source folder,
  # which holds no compiled library (the loader only loads the one next to the package)
  (cd /tmp && python3 -c "import phnet_cuda; assert phnet_cuda.has_cuda_kernels(); print('CUDA kernels: yes')") || status=1
  step "tests"
  (cd /tmp && python3 -m pytest -q -p no:cacheprovider "$OLDPWD/python_tests" -x) || status=1
  step "compute-sanitizer"
  if command -v compute-sanitizer >/dev/null; then
    compute-sanitizer --tool memcheck --error-exitcode 3 python3 benchmarks/sanitize_ops.py || status=1
    compute-sanitizer --tool racecheck --error-exitcode 3 python3 benchmarks/sanitize_ops.py || status=1
  else
    echo "compute-sanitizer not found"; status=1
  fi
  step "kernel benchmark"
  if [ "${1:-}" = "quick" ]; then
    python3 benchmarks/kernels.py --device cuda --n 32 48 --batch 8 --repeats 10 --out "$OUT/kernels_${gpu}.json" || status=1
  else
    python3 benchmarks/kernels.py --device cuda --out "$OUT/kernels_${gpu}.json" || status=1
  fi
  step "solver benchmark (n = 48 target, rows to 128, largest cell)"
  python3 benchmarks/solver.py --device cuda --out "$OUT/solver_${gpu}.json" || status=1
  step "material-sensitivity gradient (vs the gather formula)"
  python3 benchmarks/material_gradient.py --device cuda --out "$OUT/material_gradient_${gpu}.json" || status=1
  step "solver: rigid-piece deflation vs plain multigrid PCG"
  python3 benchmarks/deflation.py --device cuda --out "$OUT/deflation_${gpu}.json" || status=1
  step "solver: semi-coarsening vs full coarsening on stretched cells"
  python3 benchmarks/anisotropy.py --device cuda --out "$OUT/anisotropy_${gpu}.json" || status=1
  step "PH-Net: shipped-model accuracy and latency, full-width n = 48 training throughput"
  python3 benchmarks/accuracy.py --device cuda --out "$OUT/accuracy_${gpu}.json" || status=1
  (cd /tmp && python3 -m phnet_cuda.train --out "$OUT/train_speed_${gpu}" --resolution 48 --widths 64,128,256 \
    --head 32 --epochs 1 --epoch-size 512 --eval-size 8 --no-progress) || status=1
  # the same with the physics output stage (4 block-Jacobi CG steps, trained through): its share of step time
  (cd /tmp && python3 -m phnet_cuda.train --out "$OUT/train_speed_cg4_${gpu}" --resolution 48 --widths 64,128,256 \
    --head 32 --cg-steps 4 --epochs 1 --epoch-size 256 --eval-size 8 --no-progress) || status=1
  step "done, status $status"
} 2>&1 | tee "$log"
exit $status
