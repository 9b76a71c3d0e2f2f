#!/usr/bin/env python3
"""The Python side of scripts/bench.mjs: the same GPT-2 as gpt_reference.py plus a reward head
and a value head, and the same SFT step, reward-model step and PPO iteration as torch-rlhf
(src/trainers/sft.ts, reward.ts, ppo.ts, ppo-math.ts), written the way one would in PyTorch.
Run with the Python whose PyTorch wheel holds the addon's libtorch (.venv after
scripts/setup.sh). Reads one JSON task from stdin, prints one JSON line:
{"times": [...], ..., "maxRssKiB": n}.

    echo '{"task": "sft", ...}' | .venv/bin/python3 scripts/bench/train_reference.py
"""
import json
import math
import os
import re
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt_reference import GPT, generate as generate_plain  # noqa: E402

IGNORE_INDEX = -100


# ---------------------------------------------------------------- model

def create_gpt(s):
    """gpt_reference.GPT with torch-rlhf's GPT-2 initialisation (src/models/gpt.ts)."""
    m = GPT(s["vocabSize"], s["blockSize"], s["nLayer"], s["nHead"], s["nEmbd"])
    proj_std = 0.02 / math.sqrt(2 * s["nLayer"])
    with torch.no_grad():
        m.wte.weight.normal_(0, 0.02)
        m.wpe.weight.normal_(0, 0.01)
        for blk in m.h:
            for lin, std in ((blk.c_attn, 0.02), (blk.c_proj, proj_std), (blk.c_fc, 0.02), (blk.mlp_proj, proj_std)):
                lin.weight.normal_(0, std)
                lin.bias.zero_()
    return m


def scalar_head(C):
    """The reward / value head: Linear(C, 1), weight ~ N(0, 1/sqrt(C+1)), bias 0."""
    lin = nn.Linear(C, 1)
    with torch.no_grad():
        lin.weight.normal_(0, 1 / math.sqrt(C + 1))
        lin.bias.zero_()
    return lin


def hidden_states(model, ids, key_valid, pos=None, past=None, last_only=False):
    """gpt_reference.GPT.forward without the LM head: positions counted over the real tokens
    (left-padding aware, as torch-rlhf), returns the final hidden states after ln_f and the
    per-layer keys/values."""
    T, S = ids.shape[1], key_valid.shape[1]
    if pos is None:
        pos = (key_valid.long().cumsum(1) - 1).clamp(min=0)[:, S - T:]
    causal = torch.ones(T, S, dtype=torch.bool).tril(S - T)
    mask = causal[None] & key_valid[:, None, :]
    mask = (mask | ~mask.any(-1, keepdim=True))[:, None]
    x = model.wte(ids) + model.wpe(pos)
    presents = []
    for i, blk in enumerate(model.h):
        x, kv = blk(x, mask, None if past is None else past[i])
        presents.append(kv)
    if last_only:
        x = x[:, -1:]
    return model.ln_f(x), presents


def lm_logits(model, h):
    return h @ model.wte.weight.T


def last_token_index(mask):
    return (torch.arange(mask.shape[1])[None] * mask.long()).argmax(1)


def rewards(rm, ids, mask):
    h, _ = hidden_states(rm, ids, mask)
    last = last_token_index(mask)
    hl = h.gather(1, last.view(-1, 1, 1).expand(-1, 1, h.shape[2])).squeeze(1)
    return rm.score(hl).squeeze(-1)


NO_DECAY = re.compile(r"(^|\.)(ln_\w+|ln_f|layernorm|norm)\.", re.I)


def adamw_groups(model, weight_decay):
    """The Trainer's two groups (src/trainers/trainer.ts): no decay on biases, LayerNorms, wpe."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        nd = name.endswith(".bias") or NO_DECAY.search(name) or re.search(r"(^|\.)wpe\.", name)
        (no_decay if nd else decay).append(p)
    return [g for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]


def lr_linear(step, total):
    return max(0.0, 1 - step / max(1, total))


# ---------------------------------------------------------------- collation (as sft.ts / reward.ts)

def collate_sequences(seqs, pad):
    B, T = len(seqs), max(len(s["ids"]) for s in seqs)
    ids = torch.full((B, T), pad, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.bool)
    labels = torch.full((B, T), IGNORE_INDEX, dtype=torch.long)
    for b, s in enumerate(seqs):
        n = len(s["ids"])
        ids[b, :n] = torch.tensor(s["ids"])
        mask[b, :n] = True
        labels[b, : n - 1] = torch.tensor(s["labels"][1:])
    return ids, mask, labels


def collate_pairs(pairs, pad):
    seqs = [s for p in pairs for s in p]
    B, T = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((B, T), pad, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.bool)
    for b, s in enumerate(seqs):
        ids[b, : len(s)] = torch.tensor(s)
        mask[b, : len(s)] = True
    better = torch.arange(0, B, 2)
    worse = better + 1
    weight = torch.full((len(pairs),), 1.0 / len(pairs))
    return ids, mask, better, worse, weight


# ---------------------------------------------------------------- tasks

def timed(step, warmup, repeats):
    times = []
    for r in range(warmup + repeats):
        t0 = time.perf_counter()
        step()
        if r >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def task_matmul(cfg):
    n = cfg["n"]
    a, b = torch.randn(n, n), torch.randn(n, n)
    times = timed(lambda: a @ b, cfg["warmup"], cfg["repeats"])
    return {"times": times}


def sft_task(cfg, model, logits_of):
    """The SFT step of src/trainers/sft.ts on `model`, whose logits for (ids, mask) are logits_of."""
    d = cfg["data"]
    opt = torch.optim.AdamW(adamw_groups(model, 0.0), lr=2e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids, mask, labels = collate_sequences(d["seqs"], d["pad"])
    V = cfg["size"]["vocabSize"]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(logits_of(ids, mask).view(-1, V), labels.view(-1), ignore_index=IGNORE_INDEX)
        loss.item()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    times = timed(step, cfg["warmup"], cfg["repeats"])
    # The matmul ceiling in this same process, right after: the machine's speed drifts.
    return {"times": times, "matmulTimes": task_matmul(cfg["matmul"])["times"]}


def task_sft(cfg):
    torch.manual_seed(0)
    model = create_gpt(cfg["size"]).train()
    return sft_task(cfg, model, lambda ids, mask: lm_logits(model, hidden_states(model, ids, mask)[0]))


def task_rm(cfg):
    s, d = cfg["size"], cfg["data"]
    torch.manual_seed(0)
    rm = create_gpt(s).train()
    rm.score = scalar_head(s["nEmbd"])
    opt = torch.optim.AdamW(adamw_groups(rm, 0.0), lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids, mask, better, worse, weight = collate_pairs(d["pairs"], d["pad"])

    def step():
        opt.zero_grad(set_to_none=True)
        r = rewards(rm, ids, mask)
        diff = r[better] - r[worse]
        loss = (-F.logsigmoid(diff - 0.0) * weight).sum()
        ((diff > 0).float() * weight).sum().item()
        (diff * weight).sum().item()
        loss.item()
        loss.backward()
        nn.utils.clip_grad_norm_(rm.parameters(), 1.0)
        opt.step()

    return {"times": timed(step, cfg["warmup"], cfg["repeats"])}


# ---- PPO (mirrors src/trainers/ppo.ts and ppo-math.ts)

def masked_mean(x, mask):
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum()


def masked_whiten(x, mask, shift_mean=True):
    m = mask.to(x.dtype)
    mean = masked_mean(x, m)
    var = masked_mean((x - mean).square(), m)
    n = m.sum().item()
    var = var * (n / (n - 1))
    w = (x - mean) * (var + 1e-8).rsqrt()
    return w if shift_mean else w + mean


def gae(rewards_, values, mask, gamma, lam):
    m = mask.to(values.dtype)
    v, r = values * m, rewards_ * m
    T = v.shape[1]
    out = [None] * T
    last = torch.zeros_like(v[:, 0])
    for t in reversed(range(T)):
        nxt = v[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = r[:, t] + gamma * nxt - v[:, t]
        last = (delta + gamma * lam * last) * m[:, t]
        out[t] = last
    adv = torch.stack(out, 1)
    return adv, adv + v


@torch.no_grad()
def sample(model, prompt_ids, prompt_mask, new_tokens, temperature, eos, pad, gen):
    """native/gpt.cpp's generate: KV cache (concatenated, as HF), temperature sampling,
    log-probs of the sampled tokens, rows stop at EOS, the loop stops when all have."""
    B = prompt_ids.shape[0]
    valid = prompt_mask
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    next_pos = pos[:, -1:] + 1
    h, past = hidden_states(model, prompt_ids, valid, pos, last_only=True)
    logits = lm_logits(model, h)[:, 0]
    finished = torch.zeros(B, dtype=torch.bool)
    tokens, masks, logps = [], [], []
    for step in range(new_tokens):
        scaled = logits / temperature
        lp_all = scaled.log_softmax(-1)
        nxt = torch.multinomial(scaled.softmax(-1), 1, generator=gen).squeeze(-1)
        alive = ~finished
        lp = lp_all.gather(-1, nxt[:, None]).squeeze(-1)
        nxt = nxt.masked_fill(finished, pad)
        tokens.append(nxt)
        masks.append(alive)
        logps.append(lp.masked_fill(finished, 0.0))
        finished = finished | nxt.eq(eos)
        if step + 1 == new_tokens or finished.all().item():
            break
        valid = torch.cat([valid, torch.ones(B, 1, dtype=torch.bool)], 1)
        h, past = hidden_states(model, nxt.masked_fill(finished, eos)[:, None], valid, next_pos, past, last_only=True)
        logits = lm_logits(model, h)[:, 0]
        next_pos = next_pos + 1
    return torch.stack(tokens, 1), torch.stack(masks, 1), torch.stack(logps, 1)


def task_ppo(cfg):
    s, d, c = cfg["size"], cfg["data"], cfg["ppo"]
    torch.manual_seed(0)
    C, eos, pad = s["nEmbd"], d["eos"], d["pad"]
    policy = create_gpt(s)
    policy.v_head = scalar_head(C)
    ref = create_gpt(s).requires_grad_(False)
    rm = create_gpt(s)
    rm.score = scalar_head(C)
    rm.requires_grad_(False)
    for m in (policy, ref, rm):
        m.eval()  # no dropout anywhere; eval as PPOTrainer
    opt = torch.optim.AdamW(policy.parameters(), lr=c["learningRate"], eps=c["adamEpsilon"], weight_decay=0.0)
    prompts = [[d["bos"]] + list(p.encode()) for p in d["prompts"]]
    prompts = [p[-c["maxPromptLength"]:] for p in prompts]
    P = max(len(p) for p in prompts)
    B = len(prompts)
    prompt_ids = torch.full((B, P), pad, dtype=torch.long)
    prompt_mask = torch.zeros(B, P, dtype=torch.bool)
    for b, p in enumerate(prompts):
        prompt_ids[b, P - len(p):] = torch.tensor(p)
        prompt_mask[b, P - len(p):] = True
    temp, micro, mb, epochs = c["temperature"], c["miniBatchSize"], c["miniBatchSize"], c["ppoEpochs"]
    total_steps = c["numIterations"] * epochs * (B // mb)
    state = {"it": 0, "steps": 0}

    def resp_logprobs(logits, resp):
        R = resp.shape[1]
        return logits.narrow(1, P - 1, R).div(temp).log_softmax(-1).gather(2, resp.unsqueeze(-1)).squeeze(-1)

    def rollout():
        gen = torch.Generator().manual_seed(c["seed"] * 100003 + state["it"])
        tokens, resp_mask, gen_lp = sample(policy, prompt_ids, prompt_mask, c["maxNewTokens"], temp, eos, pad, gen)
        with torch.no_grad():
            responses = torch.where(resp_mask, tokens, torch.full_like(tokens, pad))
            seqs = torch.cat([prompt_ids, responses], 1)
            attn = torch.cat([prompt_mask, resp_mask], 1)
            R = responses.shape[1]
            lps, vals, refs, scores = [], [], [], []
            for i in range(0, B, micro):
                ids, m, resp = seqs[i:i + micro], attn[i:i + micro], responses[i:i + micro]
                h, _ = hidden_states(policy, ids, m)
                lps.append(resp_logprobs(lm_logits(policy, h), resp))
                vals.append(policy.v_head(h).squeeze(-1).narrow(1, P - 1, R))
                hr, _ = hidden_states(ref, ids, m)
                refs.append(resp_logprobs(lm_logits(ref, hr), resp))
                scores.append(rewards(rm, ids, m))
            fm = resp_mask.float()
            logprobs = torch.cat(lps) * fm
            ref_logprobs = torch.cat(refs) * fm
            values = torch.cat(vals) * fm
            score = torch.cat(scores)
            has_eos = (tokens.eq(eos) & resp_mask).any(1)
            score = score - (~has_eos).float() * c["missingEosPenalty"]
            kl = (logprobs - ref_logprobs) * fm
            non_score = kl * -c["klCoef"] * fm
            last = resp_mask.long().sum(1).sub(1).clamp(min=0).unsqueeze(1)
            rew = non_score.scatter_add(1, last, score.unsqueeze(1))
            adv, returns = gae(rew, values, resp_mask, c["gamma"], c["lam"])
            advantages = masked_whiten(adv, resp_mask) * fm
            return dict(seqs=seqs, attn=attn, responses=responses, mask=resp_mask, gen_logprobs=gen_lp.clone(), logprobs=logprobs,
                        values=values, returns=returns, advantages=advantages)

    def update(r):
        rng = torch.Generator().manual_seed(c["seed"] * 31 + state["it"])
        stats = {}
        R = r["responses"].shape[1]
        for _ in range(epochs):
            order = torch.randperm(B, generator=rng).tolist()
            for start in range(0, B, mb):
                lr = c["learningRate"] * lr_linear(state["steps"], total_steps)
                for g in opt.param_groups:
                    g["lr"] = lr
                opt.zero_grad(set_to_none=True)
                idx = torch.tensor(order[start:start + mb])
                pick = lambda t: t.index_select(0, idx)  # noqa: E731
                mask = pick(r["mask"])
                h, _ = hidden_states(policy, pick(r["seqs"]), pick(r["attn"]))
                logits = lm_logits(policy, h).narrow(1, P - 1, R).div(temp)
                values = policy.v_head(h).squeeze(-1)
                new_lp = logits.log_softmax(-1).gather(2, pick(r["responses"]).unsqueeze(-1)).squeeze(-1)
                vpred = values.narrow(1, P - 1, R)
                # policyLoss
                adv = pick(r["advantages"])
                log_ratio = new_lp - pick(r["logprobs"])
                ratio = log_ratio.exp()
                l1, l2 = -adv * ratio, -adv * ratio.clamp(1 - c["cliprange"], 1 + c["cliprange"])
                pl = masked_mean(torch.maximum(l1, l2), mask)
                clipfrac = masked_mean((l2 > l1).float(), mask)
                approx_kl = masked_mean(log_ratio.square(), mask) * 0.5
                ratio_mean = masked_mean(ratio, mask)
                # valueLoss
                old_v, ret = pick(r["values"]), pick(r["returns"])
                clipped = vpred.clamp(old_v - c["cliprangeValue"], old_v + c["cliprangeValue"])
                v1, v2 = (vpred - ret).square(), (clipped - ret).square()
                vl = masked_mean(torch.maximum(v1, v2), mask) * 0.5
                vclip = masked_mean((v2 > v1).float(), mask)
                entropy = masked_mean(logits.logsumexp(-1) - (logits.softmax(-1) * logits).sum(-1), mask)
                loss = pl + vl * c["vfCoef"]
                loss.item()
                loss.div(1).backward()
                for k, t in (("approxkl", approx_kl), ("clipfrac", clipfrac), ("pl", pl), ("vl", vl), ("vclip", vclip), ("entropy", entropy), ("ratio", ratio_mean)):
                    stats.setdefault(k, []).append(t.item())
                stats.setdefault("grad_norm", []).append(nn.utils.clip_grad_norm_(policy.parameters(), c["maxGradNorm"]).item())
                opt.step()
                state["steps"] += 1
        return stats

    times, rollout_times = [], []
    for it in range(cfg["warmup"] + cfg["repeats"]):
        t0 = time.perf_counter()
        r = rollout()
        t1 = time.perf_counter()
        update(r)
        t2 = time.perf_counter()
        del r
        state["it"] += 1
        if it >= cfg["warmup"]:
            times.append(t2 - t0)
            rollout_times.append(t1 - t0)
    return {"times": times, "rolloutTimes": rollout_times}


def task_generate(cfg):
    """gpt_reference.py's generation benchmark, in this process (so its peak RSS is measured)."""
    s, w = cfg["size"], cfg["gen"]
    torch.manual_seed(0)
    model = GPT(s["vocabSize"], s["blockSize"], s["nLayer"], s["nHead"], s["nEmbd"]).eval()
    prompt = torch.randint(0, s["vocabSize"], (w["batch"], w["promptLen"]))
    mask = torch.ones(w["batch"], w["promptLen"], dtype=torch.bool)
    gen = torch.Generator().manual_seed(1)
    times = timed(lambda: generate_plain(model, prompt, mask, w["newTokens"], cfg["useCache"], gen), cfg["warmup"], cfg["repeats"])
    return {"times": times}


def main():
    cfg = json.loads(sys.stdin.read())
    torch.set_num_threads(cfg["threads"])
    out = {"matmul": task_matmul, "sft": task_sft, "rm": task_rm, "ppo": task_ppo, "generate": task_generate}[cfg["task"]](cfg)
    out["maxRssKiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
