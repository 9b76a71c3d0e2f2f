#!/usr/bin/env bash
# Issue 31's "done when": a model of Qwen2.5-0.5B's shape runs SFT, DPO and GRPO with LoRA through
# the CLI with default flags (only --use-peft and the data), on a 24 GB machine, well inside its
# memory. Writes small JSONL datasets of the model tokenizer's words, runs `rlhf sft`, `rlhf dpo`
# and `rlhf grpo` one after the other under /usr/bin/time, and prints each command's wall time and
# peak RSS. The model is scripts/bench/make_realsize_models.py's (made when missing, as
# `npm run bench:realsize` does); the runs go to a temporary folder, removed at the end.
#   bash scripts/realsize-cli.sh [MODEL_DIR]      (default: .cache/realsize/qwen2.5-0.5b)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-.cache/realsize/qwen2.5-0.5b}
if [ ! -f "$model/model.safetensors" ]; then
  .venv/bin/python3 scripts/bench/make_realsize_models.py .cache/realsize --models qwen
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 16 SFT examples, 8 preference pairs, 2 GRPO prompts with an answer column: small enough for a
# few optimizer steps at TRL's defaults (SFT: 3 epochs of batch 8; DPO: 1 epoch of batch 8; GRPO:
# one prompt's 8 completions of up to 256 tokens a step, 2 steps).
node --input-type=module - "$work" <<'EOF'
import { writeFileSync } from 'node:fs';
const dir = process.argv[2];
const subjects = ['The river', 'A small cat', 'The old map', 'Our garden', 'The train', 'A letter', 'The market', 'This song'];
const verbs = ['runs past', 'waits near', 'points to', 'grows beside'];
const line = (i) => `${subjects[i % 8]} ${verbs[i % 4]} the ${['hill', 'town', 'sea', 'door'][(i >> 1) % 4]}.`;
const jsonl = (rows) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
writeFileSync(`${dir}/sft.jsonl`, jsonl(Array.from({ length: 16 }, (_, i) => ({ prompt: `Describe ${subjects[i % 8]}:`, completion: ` ${line(i)}` }))));
writeFileSync(
  `${dir}/pairs.jsonl`,
  jsonl(Array.from({ length: 8 }, (_, i) => ({ prompt: `Describe ${subjects[i]}:`, chosen: ` ${line(i)}`, rejected: ` ${line(i + 3)}` }))),
);
writeFileSync(`${dir}/prompts.jsonl`, jsonl(Array.from({ length: 2 }, (_, i) => ({ prompt: `Where does ${subjects[i]} go?`, answer: 'the sea' }))));
EOF

run() {
  local name=$1
  shift
  printf '\n== rlhf %s\n' "$*"
  /usr/bin/time -f "$name: %e s wall, peak RSS %M KiB" -o "$work/$name.time" node dist/cli/index.js "$@" --progress-bar false
  cat "$work/$name.time"
}
run sft sft --model "$model" --data "$work/sft.jsonl" --out "$work/sft" --use-peft
run dpo dpo --model "$model" --data "$work/pairs.jsonl" --out "$work/dpo" --use-peft
run grpo grpo --model "$model" --prompts "$work/prompts.jsonl" --reward exact-match:answer --out "$work/grpo" --use-peft
printf '\n'
cat "$work"/sft.time "$work"/dpo.time "$work"/grpo.time
