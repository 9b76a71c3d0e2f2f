#!/usr/bin/env bash
# Installs PyTorch's own wheel, which carries a complete libtorch (headers, libraries and
# TorchConfig.cmake), with pip into a virtual environment:
#   bash scripts/install-torch.sh <venv folder> cpu|cuda [version]
# cpu takes torch==<version>+cpu from PyTorch's CPU index (PyPI's Linux wheels are CUDA builds);
# cuda takes torch==<version> from PyPI, with the CUDA libraries it depends on (nvidia-* wheels).
# Default versions: 2.13.0 (cpu) and 2.14.1 (cuda), the releases the prebuilt binaries are
# made for. pip fails fast where a package is missing (an offline mirror): PIP_RETRIES and
# PIP_TIMEOUT (default 0 and 5 s) raise that.
set -euo pipefail
venv=${1:?usage: install-torch.sh <venv> cpu|cuda [version]}
variant=${2:?usage: install-torch.sh <venv> cpu|cuda [version]}
version=${3:-$([ "$variant" = cuda ] && echo 2.14.1 || echo 2.13.0)}
say() { printf 'install-torch: %s\n' "$*"; }

if [ ! -x "$venv/bin/python3" ]; then
  say "creating the virtual environment $venv"
  python3 -m venv "$venv"
fi
py="$venv/bin/python3"
pip=("$py" -m pip install --retries "${PIP_RETRIES:-0}" --timeout "${PIP_TIMEOUT:-5}" --disable-pip-version-check)

case "$variant" in
  cpu)
    say "PyTorch $version (CPU) into $venv"
    "${pip[@]}" "torch==${version}+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
    ;;
  cuda)
    say "PyTorch $version (CUDA) into $venv"
    if ! "${pip[@]}" "torch==${version}"; then
      # An offline mirror may lack torch's Python-only dependencies (cuda-bindings, triton), which
      # libtorch does not need: install torch alone, then the libraries it links (CUDA, cuDNN, NCCL).
      say "retrying without torch's Python-only dependencies (cuda-bindings, triton)"
      "${pip[@]}" --no-deps "torch==${version}"
      "$py" - > "$venv/torch-runtime-requirements.txt" <<'PY'
import importlib.metadata as m
from pip._vendor.packaging.requirements import Requirement
for line in m.requires('torch') or []:
    req = Requirement(line)
    if req.name in ('cuda-bindings', 'triton') or (req.marker and not req.marker.evaluate({'extra': ''})):
        continue
    req.marker = None
    print(req)
PY
      "${pip[@]}" -r "$venv/torch-runtime-requirements.txt"
    fi
    ;;
  *) say "unknown variant '$variant' (cpu or cuda)"; exit 2 ;;
esac
say "installed: $("$py" -c 'import importlib.metadata as m; print("torch", m.version("torch"))')"
