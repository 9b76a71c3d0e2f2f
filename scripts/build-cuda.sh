#!/usr/bin/env bash
# Builds the CUDA variant of the addon on a machine with or without a GPU, and proves that it
# loads: PyTorch's CUDA wheel goes into .venv-cuda (scripts/install-torch.sh), the addon is
# built against it with the CUDA toolkit found here (CUDA_HOME, else /usr/local/cuda) and stored
# as prebuilds/<platform>-<arch>/torch-rlhf.libtorch-<version>-<cuXYZ>.node (npm run prebuild),
# then scripts/check-cuda-build.mjs loads it through the package's loader and checks it: it is
# the CUDA build, it reports whether a GPU is there, CPU work gives the right values and a
# training step runs, and a CUDA tensor without a GPU is a JS error. The NCCL headers and
# library that part 13 needs come with the wheel and are checked for.
#   bash scripts/build-cuda.sh [version]        (default: install-torch.sh's CUDA default)
# Needs the npm dependencies and dist/ (bash scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'build-cuda: %s\n' "$*"; }

venv=${TORCH_RLHF_CUDA_VENV:-.venv-cuda}
[ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c 'import importlib.metadata as m; m.version("torch")' 2>/dev/null \
  && grep -q "^cuda.*'[0-9]" "$venv"/lib/python3*/site-packages/torch/version.py \
  || bash scripts/install-torch.sh "$venv" cuda "${1:-}"
torch_dir=$(echo "$(pwd)/$venv"/lib/python3*/site-packages/torch)

cuda_home=${CUDA_HOME:-/usr/local/cuda}
if [ ! -x "$cuda_home/bin/nvcc" ]; then
  say "no CUDA toolkit at $cuda_home (nvcc): set CUDA_HOME"
  exit 1
fi
export PATH="$cuda_home/bin:$PATH"
say "CUDA toolkit: $(nvcc --version | grep -o 'release [0-9.]*')"

site=$(dirname "$torch_dir")
for f in "$site/nvidia/nccl/include/nccl.h" "$site/nvidia/nccl/lib/libnccl.so.2" "$torch_dir/include/torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp"; do
  [ -f "$f" ] || { say "missing from the wheel: $f"; exit 1; }
done
say "NCCL: $(grep -m1 -o 'NCCL_VERSION_CODE [0-9]*' "$site/nvidia/nccl/include/nccl.h" || echo present) (headers and libnccl.so.2 in the wheel)"

LIBTORCH="$torch_dir" npm run prebuild --silent
LIBTORCH="$torch_dir" node scripts/check-cuda-build.mjs
