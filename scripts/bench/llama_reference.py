#!/usr/bin/env python3
"""The Python side of scripts/bench-llama.mjs: the same Llama-style model as transformers'
LlamaForCausalLM (the reference implementation itself), the SFT step as torch-rlhf takes it
(src/trainers/sft.ts: completion-only cross entropy, gradient clipping, AdamW) and a KV-cache
sampling loop as one writes it over transformers' forward (past_key_values, the positions of
the new tokens). Run with the Python whose PyTorch holds the addon's libtorch (.venv, with
transformers from scripts/setup.sh --test). Reads one JSON task from stdin, prints one JSON
line {"times": [...], "maxRssKiB": n, "threads": n}.
"""
import json
import os
import resource
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_reference import sft_task, task_matmul, timed  # noqa: E402


def create_llama(s):
    cfg = LlamaConfig(
        vocab_size=s["vocabSize"], hidden_size=s["nEmbd"], intermediate_size=s["intermediateSize"],
        num_hidden_layers=s["nLayer"], num_attention_heads=s["nHead"], num_key_value_heads=s["nKvHead"],
        max_position_embeddings=s["blockSize"], rms_norm_eps=1e-6, tie_word_embeddings=False,
        attention_dropout=0.0, attn_implementation="sdpa",
    )
    return LlamaForCausalLM(cfg)


def task_sft(cfg):
    torch.manual_seed(0)
    model = create_llama(cfg["size"]).train()
    return sft_task(cfg, model, lambda ids, mask: model(input_ids=ids, attention_mask=mask.long()).logits)


@torch.inference_mode()
def sample(model, prompt, mask, new_tokens, use_cache, gen):
    attn = mask.long()
    pos = (attn.cumsum(1) - 1).clamp(min=0)
    out = model(input_ids=prompt, attention_mask=attn, position_ids=pos, use_cache=use_cache)
    ids, past, nxt_pos = prompt, out.past_key_values, pos[:, -1:] + 1
    logits = out.logits[:, -1]
    tokens = []
    for step in range(new_tokens):
        nxt = torch.multinomial(logits.softmax(-1), 1, generator=gen)
        tokens.append(nxt)
        if step + 1 == new_tokens:
            break
        attn = torch.cat([attn, torch.ones_like(nxt)], 1)
        if use_cache:
            out = model(input_ids=nxt, attention_mask=attn, position_ids=nxt_pos, past_key_values=past, use_cache=True)
            past = out.past_key_values
        else:
            ids = torch.cat([ids, nxt], 1)
            pos = torch.cat([pos, nxt_pos], 1)
            out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False)
        logits = out.logits[:, -1]
        nxt_pos = nxt_pos + 1
    return torch.cat(tokens, 1)


def task_generate(cfg):
    s, w = cfg["size"], cfg["gen"]
    torch.manual_seed(0)
    model = create_llama(s).eval()
    prompt = torch.randint(0, s["vocabSize"], (w["batch"], w["promptLen"]))
    mask = torch.ones(w["batch"], w["promptLen"], dtype=torch.bool)
    gen = torch.Generator().manual_seed(1)
    times = timed(lambda: sample(model, prompt, mask, w["newTokens"], cfg["useCache"], gen), cfg["warmup"], cfg["repeats"])
    return {"times": times}


def main():
    cfg = json.loads(sys.stdin.read())
    torch.set_num_threads(cfg["threads"])
    out = {"matmul": task_matmul, "sft": task_sft, "generate": task_generate}[cfg["task"]](cfg)
    out["maxRssKiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
