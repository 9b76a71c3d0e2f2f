#!/usr/bin/env bash
# Packs what a CUDA machine without Node.js needs to build and check torch-rlhf (docs/gpu.md):
# .gpu/node.xz (this machine's Node binary), .gpu/include (Node-API + node-addon-api headers)
# and dist/ (npm run build:ts). Then run scripts/gpu-run.sh there, carrying .gpu/ and dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/include
xz -T2 -6 -c "$(command -v node)" > .gpu/node.xz
cp node_modules/node-api-headers/include/*.h node_modules/node-addon-api/napi*.h .gpu/include/
npm run build:ts
echo "gpu-prepare: .gpu/ and dist/ are ready ($(du -sh .gpu | cut -f1))"
