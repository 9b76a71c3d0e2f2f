#!/usr/bin/env bash
# Sets up torch-rlhf on this machine. Safe to run again: it installs only what is missing.
#   1. A C++ toolchain (cmake, g++, make) and Python's venv, from the system packages on
#      Debian/Ubuntu when they are missing.
#   2. libtorch. When none is found (LIBTORCH, .venv here, a Python PyTorch, the system's: the
#      order of src/libtorch.ts, which the build and the loader share), PyTorch's own wheel is
#      installed with pip into .venv: the CPU build by default, the CUDA build with --cuda or
#      when an NVIDIA GPU is present. TORCH_VERSION picks another release.
#   3. The npm dependencies, then the native addon (built against that libtorch) and dist/.
# --test also installs Chromium (Debian's chromium package, /usr/bin/chromium), which
# test/report.test.ts uses to render the HTML report headless, clang-format, which `npm run lint`
# checks the C++ with, and Hugging Face transformers
# into .venv (beside its torch), which the Llama-family parity checks run
# (scripts/fixtures/make_llama_fixtures.py check).
# --bench also installs what the benchmarks against TRL and transformers need (npm run bench:trl,
# npm run bench:realsize): transformers, peft, trl, datasets, accelerate and tokenizers into .venv,
# with pip (the wheels on disk where pip is configured for them, PyPI elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
usage="usage: bash scripts/setup.sh [--test] [--bench] [--cpu | --cuda]   (--test: also install what the tests and lint need; --bench: what the benchmarks against TRL need)"

with_test=0
with_bench=0
variant=auto
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    --bench) with_bench=1 ;;
    --cpu) variant=cpu ;;
    --cuda) variant=cuda ;;
    -h|--help) say "$usage"; exit 0 ;;
    *) say "unknown option: $arg ($usage)"; exit 2 ;;
  esac
done
if [ "$variant" = auto ]; then
  variant=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then variant=cuda; fi
fi
# Empty: scripts/install-torch.sh's default, the release the prebuilt binaries are made for.
torch_version=${TORCH_VERSION:-}

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 1
fi

apt_install() {
  if ! command -v apt-get >/dev/null; then
    say "missing: $*; install them with your system's package manager."
    exit 1
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      say "missing: $*; run as root: apt-get install $*"
      exit 1
    fi
  fi
  say "installing $* from the system packages"
  [ -n "${apt_updated:-}" ] || { $sudo apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || command -v ninja >/dev/null || missing+=(make)
command -v python3 >/dev/null || missing+=(python3)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# The report test runs exactly /usr/bin/chromium, so that is what is checked for; clang-format is
# what `npm run lint` (which .ci/run runs) checks native/ and binding/ with.
if [ "$with_test" -eq 1 ]; then
  test_missing=()
  [ -x /usr/bin/chromium ] || test_missing+=(chromium)
  command -v clang-format >/dev/null || test_missing+=(clang-format)
  [ ${#test_missing[@]} -eq 0 ] || apt_install "${test_missing[@]}"
fi

say "npm ci (dependencies; the addon is built once libtorch is there)"
npm ci --no-audit --no-fund --ignore-scripts
npm run build:ts --silent

# ---- libtorch -----------------------------------------------------------------------------
install_torch() {
  command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  bash scripts/install-torch.sh .venv "$variant" "$torch_version"
}

found=$(node scripts/libtorch.mjs --json 2>/dev/null) && rc=0 || rc=$?
found_variant=$(node -p 'JSON.parse(process.argv[1]).variant' "$found" 2>/dev/null || echo none)
if [ "$rc" -ne 0 ]; then
  [ "$rc" -eq 2 ] && say "the libtorch found is too old: $(node scripts/libtorch.mjs 2>/dev/null || true)"
  install_torch
elif [ "$variant" = cuda ] && [ "${found_variant#cu}" = "$found_variant" ] && [ -z "${LIBTORCH:-}" ]; then
  say "found $(node scripts/libtorch.mjs), but a CUDA libtorch is wanted"
  install_torch
fi
say "libtorch: $(node scripts/libtorch.mjs)"

# transformers: the release the committed Llama-family goldens were made with (wheels only,
# ~160 MB with tokenizers, safetensors and huggingface-hub; torch is left as it is).
if [ "$with_test" -eq 1 ] && ! .venv/bin/python3 -c 'import transformers' 2>/dev/null; then
  if .venv/bin/python3 -c 'import torch' 2>/dev/null; then
    say "transformers into .venv (the tests' parity checks against Hugging Face)"
    .venv/bin/python3 -m pip install --retries "${PIP_RETRIES:-0}" --timeout "${PIP_TIMEOUT:-5}" \
      --disable-pip-version-check -q "transformers==5.18.0"
  else
    say "no PyTorch in .venv (libtorch came from elsewhere): transformers not installed, so the parity checks against Hugging Face cannot run"
  fi
fi

# peft: the LoRA round trips with PEFT itself (test/lora.test.ts loads our adapters with PEFT and
# transformers; it skips, saying why, without it). Wheels only, after transformers.
if [ "$with_test" -eq 1 ] && ! .venv/bin/python3 -c 'import peft' 2>/dev/null && .venv/bin/python3 -c 'import transformers' 2>/dev/null; then
  say "peft into .venv (the LoRA round trips with PEFT)"
  .venv/bin/python3 -m pip install --retries "${PIP_RETRIES:-0}" --timeout "${PIP_TIMEOUT:-5}" \
    --disable-pip-version-check -q "peft==0.21.0" || say "peft could not be installed: the PEFT round trips will skip"
fi

# tensorboard: the test that reads our TensorBoard event files back with TensorBoard's own reader
# (in test/callbacks.test.ts; it skips, saying why, without it).
if [ "$with_test" -eq 1 ] && ! .venv/bin/python3 -c 'import tensorboard' 2>/dev/null && [ -x .venv/bin/python3 ]; then
  say "tensorboard into .venv (reading back the event files the trainers write)"
  .venv/bin/python3 -m pip install --retries "${PIP_RETRIES:-0}" --timeout "${PIP_TIMEOUT:-5}" \
    --disable-pip-version-check -q "tensorboard==2.21.0" || say "tensorboard could not be installed: its test will skip"
fi

# The benchmarks against TRL + PEFT and transformers (scripts/bench-trl.mjs, scripts/bench-realsize.mjs):
# the releases their tables were measured with, beside .venv's torch (left as it is); wheels only.
if [ "$with_bench" -eq 1 ]; then
  if .venv/bin/python3 -c 'import torch' 2>/dev/null; then
    if ! .venv/bin/python3 -c 'import trl, peft, datasets, accelerate, tokenizers, transformers' 2>/dev/null; then
      say "trl, peft, transformers, datasets, accelerate and tokenizers into .venv (the benchmarks against TRL)"
      .venv/bin/python3 -m pip install --retries "${PIP_RETRIES:-0}" --timeout "${PIP_TIMEOUT:-5}" \
        --disable-pip-version-check -q "transformers==5.18.0" "peft==0.21.0" "trl==1.13.0" datasets accelerate tokenizers
    fi
  else
    say "no PyTorch in .venv (libtorch came from elsewhere): the benchmarks against TRL need one; set PYTHON to a python3 with the same PyTorch"
  fi
fi

say "building the native addon"
node scripts/install-native.mjs
say "done"
