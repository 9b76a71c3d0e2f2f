#!/usr/bin/env bash
# On a CUDA machine with PyTorch but no Node.js: build the addon with plain CMake against that
# PyTorch's libtorch and run the CUDA checks and benchmark (scripts/gpu-check.mjs), writing the
# results under ${OUT:-gpu-results}. Prepare with scripts/gpu-prepare.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
xz -dc .gpu/node.xz > .gpu/node && chmod +x .gpu/node
PY=${PYTHON:-python3}
prefix=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
generator=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
cmake -S . -B build -G "$generator" -DNODE_API_INCLUDE_DIR="$PWD/.gpu/include" -DCMAKE_PREFIX_PATH="$prefix" > "$OUT/cmake-configure.log" 2>&1
cmake --build build -j "$(nproc)" > "$OUT/cmake-build.log" 2>&1
PYTHON="$PY" .gpu/node scripts/gpu-check.mjs --out "$OUT" 2>&1 | tee "$OUT/gpu-check.log"
