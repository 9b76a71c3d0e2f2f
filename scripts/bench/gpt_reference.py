#!/usr/bin/env python3
"""The same GPT-2 and generation loop in PyTorch, for the benchmarks (run by scripts/bench-*.mjs
with the Python whose PyTorch wheel holds the addon's libtorch: .venv after scripts/setup.sh).
Written as one would with today's PyTorch: F.scaled_dot_product_attention, a Hugging Face-style
concatenating KV cache. Prints one JSON line of timings.

    .venv/bin/python3 scripts/bench/gpt_reference.py '{"task": "generate", ...}'
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x, mask, past):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = [t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v)]
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, (k, v)


class GPT(nn.Module):
    def __init__(self, V, P, L, H, C):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(P, C)
        self.h = nn.ModuleList([Block(C, H) for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)

    def forward(self, ids, pos, key_valid, past=None):
        T, S = ids.shape[1], key_valid.shape[1]
        causal = torch.ones(T, S, dtype=torch.bool, device=ids.device).tril(S - T)
        mask = (causal[None] & key_valid[:, None, :])
        mask = (mask | ~mask.any(-1, keepdim=True))[:, None]
        x = self.wte(ids) + self.wpe(pos)
        presents = []
        for i, blk in enumerate(self.h):
            x, kv = blk(x, mask, None if past is None else past[i])
            presents.append(kv)
        x = self.ln_f(x)
        return x @ self.wte.weight.T, presents


@torch.inference_mode()
def generate(model, prompt, mask, new_tokens, use_cache, gen):
    pos = (mask.long().cumsum(1) - 1).clamp(min=0)
    logits, past = model(prompt, pos, mask)
    ids, valid, allpos = prompt, mask, pos
    nxt_pos = pos[:, -1:] + 1
    out = []
    for step in range(new_tokens):
        probs = logits[:, -1].softmax(-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        out.append(nxt)
        if step + 1 == new_tokens:
            break
        valid = torch.cat([valid, torch.ones_like(nxt, dtype=torch.bool)], 1)
        if use_cache:
            logits, past = model(nxt, nxt_pos, valid, past)
        else:
            ids = torch.cat([ids, nxt], 1)
            allpos = torch.cat([allpos, nxt_pos], 1)
            logits, _ = model(ids, allpos, valid)
        nxt_pos = nxt_pos + 1
    return torch.cat(out, 1)


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    device = cfg.get("device", "cpu")
    model = GPT(cfg["vocabSize"], cfg["blockSize"], cfg["nLayer"], cfg["nHead"], cfg["nEmbd"]).eval().to(device)
    B, T = cfg["batch"], cfg["promptLen"]
    prompt = torch.randint(0, cfg["vocabSize"], (B, T)).to(device)
    mask = torch.ones(B, T, dtype=torch.bool, device=device)
    gen = torch.Generator(device=device).manual_seed(1)
    times = []
    for r in range(cfg["warmup"] + cfg["repeats"]):
        t0 = time.perf_counter()
        generate(model, prompt, mask, cfg["newTokens"], cfg["useCache"], gen)
        if device != "cpu":
            torch.cuda.synchronize()
        if r >= cfg["warmup"]:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times}))


if __name__ == "__main__":
    main()
