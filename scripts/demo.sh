#!/usr/bin/env bash
# The main job (README): fine-tune the bundled tiny GPT — trained from scratch by peftc on
# Moby-Dick — with LoRA on State of the Union addresses, then sample from it.
set -euo pipefail
cd "$(dirname "$0")/.."
peftc() { node bin/peftc.js "$@"; }
BASE=examples/tiny-gpt.safetensors
MODEL=examples/tiny-gpt-lora.peft
OUT=${OUT:-runs/demo-lora}

echo "== what trains and what stays frozen"
peftc params "$MODEL"
echo
echo "== the base model before fine-tuning, on the new text"
peftc generate "$MODEL" --init "$BASE" --prompt "The state of the Union is" --max-tokens 120 --seed 1
echo
echo "== LoRA fine-tuning on State of the Union addresses (1990-2021)"
peftc train "$MODEL" --init "$BASE" --data sotu:1990-2021 --steps "${STEPS:-150}" --batch 16 --seq 64 \
  --lr 3e-3 --warmup 10 --eval-every 30 --eval-rows 128 --seed 1 --out "$OUT" --overwrite "$@"
echo
echo "== after fine-tuning"
peftc generate "$MODEL" --init "$BASE" --adapter "$OUT" --prompt "The state of the Union is" --max-tokens 120 --seed 1
