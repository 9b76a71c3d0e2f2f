#!/usr/bin/env bash
# Sets up torch-rlhf on this machine: libtorch and a build toolchain (from the system packages
# on Debian/Ubuntu when missing), then `npm ci`, which builds the native addon and dist/.
# Safe to run again: it installs only what is missing.
# --test also installs Chromium (Debian's chromium package, /usr/bin/chromium), which
# test/report.test.ts uses to render the HTML report headless.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

with_test=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    -h|--help) say "usage: bash scripts/setup.sh [--test]   (--test: also install Chromium for the tests)"; exit 0 ;;
    *) say "unknown option: $arg (usage: bash scripts/setup.sh [--test])"; exit 2 ;;
  esac
done

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 1
fi

have_libtorch() {
  local d
  for d in "${LIBTORCH:-}" "${Torch_DIR:-}"; do
    [ -n "$d" ] && { [ -f "$d/share/cmake/Torch/TorchConfig.cmake" ] || [ -f "$d/TorchConfig.cmake" ]; } && return 0
  done
  if [ -n "${CMAKE_PREFIX_PATH:-}" ]; then
    local IFS=':'
    for d in $CMAKE_PREFIX_PATH; do
      [ -f "$d/Torch/TorchConfig.cmake" ] || [ -f "$d/share/cmake/Torch/TorchConfig.cmake" ] && return 0
    done
  fi
  for py in python3 /usr/bin/python3; do
    d=$("$py" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || continue
    [ -f "$d/Torch/TorchConfig.cmake" ] && return 0
  done
  compgen -G '/usr/lib/*/cmake/Torch/TorchConfig.cmake' >/dev/null || [ -f /usr/share/cmake/Torch/TorchConfig.cmake ]
}

missing=()
have_libtorch || missing+=(libtorch-dev libopenblas0-pthread)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || command -v ninja >/dev/null || missing+=(make)

if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null; then sudo="sudo"; else
        say "missing: ${missing[*]}; run as root: apt-get install ${missing[*]}"
        exit 1
      fi
    fi
    say "installing ${missing[*]} from the system packages"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "missing: ${missing[*]}."
    say "Install libtorch (https://pytorch.org, 'LibTorch', C++17 ABI) and set LIBTORCH=/path/to/libtorch,"
    say "or install PyTorch for Python (its libtorch is found automatically), plus CMake and a C++17 compiler."
    exit 1
  fi
fi

# The report test runs exactly /usr/bin/chromium, so that is what is checked for.
if [ "$with_test" -eq 1 ] && [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null; then sudo="sudo"; else
        say "missing: chromium; run as root: apt-get install chromium"
        exit 1
      fi
    fi
    say "installing chromium from the system packages (for the tests)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  else
    say "missing: Chromium at /usr/bin/chromium (the report test renders HTML in headless Chromium)."
    say "Install Chromium with your system's package manager so that /usr/bin/chromium exists (Debian: apt-get install chromium)."
    exit 1
  fi
fi

say "npm ci (builds the native addon and dist/)"
npm ci --no-audit --no-fund
