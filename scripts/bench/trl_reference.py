#!/usr/bin/env python3
"""The TRL side of scripts/bench-trl.mjs: TRL's own DPOTrainer and GRPOTrainer (trl 1.13, on
transformers' GPT2LMHeadModel) on the same tiny GPT-2, data and thread count as torch-rlhf's
trainers, so that the benchmark compares with what people actually run. Run with the Python whose
PyTorch holds the addon's libtorch (.venv, with trl and transformers installed). Reads one JSON
task from stdin, prints one JSON line {"times": [...], "maxRssKiB": n, "threads": n, ...}.

What is timed: trainer.train() with max_steps = 1 + warmup + repeats, and a TrainerCallback that
takes time.perf_counter() at every on_step_end; a step's time is the gap between two consecutive
step ends, so it holds everything the Trainer's loop does per optimizer step (fetching and
collating the batch, TRL's training_step, clipping, AdamW, the scheduler, callbacks) and nothing
of the setup or the end of the run. The first gap after warm-up is the first one kept.

TRL's defaults that would change the work are set to torch-rlhf's: bf16 off (float32) and
gradient checkpointing off (no recomputed forward), use_cpu, report_to none, no saving, no
logging (logging_strategy "no"; TRL still gathers its metrics each step, as it always does).
Texts are tokenized by a byte-level tokenizer equal to torch-rlhf's ByteTokenizer (ids 0-255 the
UTF-8 bytes, 256 BOS added in front of a prompt, 257 EOS, 258 PAD), so both sides see the same ids.
"""
import copy
import json
import os
import resource
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
# Offline, silent transformers/datasets/TRL and their versions, as the TRL fixtures script has them.
from make_trl_fixtures import quiet, versions  # noqa: E402

BOS, EOS, PAD = 256, 257, 258  # ByteTokenizer's ids
BOS_TEXT, EOS_TEXT, PAD_TEXT = "<|bos|>", "<|endoftext|>", "<|pad|>"


def byte_tokenizer():
    """torch-rlhf's ByteTokenizer as a transformers tokenizer: byte-level, no merges, BOS prepended."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: b for b, ch in bytes_to_unicode().items()}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([BOS_TEXT, EOS_TEXT, PAD_TEXT])
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS_TEXT} $A", special_tokens=[(BOS_TEXT, BOS)])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS_TEXT, eos_token=EOS_TEXT, pad_token=PAD_TEXT)
    assert hf(BOS_TEXT + EOS_TEXT + PAD_TEXT, add_special_tokens=False)["input_ids"] == [BOS, EOS, PAD]
    assert hf("ab")["input_ids"] == [BOS, 97, 98]
    return hf


def create_gpt2(s):
    """The GPT-2 of torch-rlhf's GPT.create: same sizes, GPT-2 init, tied head, dropout 0, float32."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=s["vocabSize"], n_positions=s["blockSize"], n_embd=s["nEmbd"], n_layer=s["nLayer"], n_head=s["nHead"],
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
    )
    cfg._attn_implementation = "sdpa"
    return GPT2LMHeadModel(cfg).float()


def common_args(cfg, steps):
    """TrainingArguments shared by both trainers: the same work as torch-rlhf's, without extras."""
    return dict(
        output_dir=os.path.join(tempfile.gettempdir(), f"torch-rlhf-bench-trl-{cfg['task']}"),
        report_to="none", use_cpu=True, bf16=False, fp16=False, gradient_checkpointing=False,
        logging_strategy="no", save_strategy="no", eval_strategy="no", disable_tqdm=True,
        max_steps=steps, gradient_accumulation_steps=1, max_grad_norm=1.0, seed=42,
        dataloader_num_workers=0,
    )


def step_clock():
    """A TrainerCallback that takes the time at every optimizer step's end."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

    return StepClock()


def step_times(clock, warmup):
    gaps = [b - a for a, b in zip(clock.ends, clock.ends[1:])]
    return gaps[warmup:]


def task_dpo(cfg):
    import datasets
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    model = create_gpt2(cfg["size"])
    steps = 1 + cfg["warmup"] + cfg["repeats"]
    d = cfg["dpo"]
    args = DPOConfig(
        **common_args(cfg, steps), per_device_train_batch_size=d["batchSize"], learning_rate=d["learningRate"],
        loss_type=["sigmoid"], beta=d["beta"], max_length=cfg["size"]["blockSize"], precompute_ref_log_probs=False,
    )
    ds = datasets.Dataset.from_list(cfg["data"]["pairs"])
    # The reference is a copy of the starting policy, as torch-rlhf's frozenCopy (TRL makes one only from a hub path).
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args, train_dataset=ds, processing_class=byte_tokenizer())
    clock = step_clock()
    trainer.add_callback(clock)
    trainer.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    return {"times": step_times(clock, cfg["warmup"]), "batchShape": list(batch["input_ids"].shape)}


def task_grpo(cfg):
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(0)
    model = create_gpt2(cfg["size"])
    steps = 1 + cfg["warmup"] + cfg["repeats"]
    g = cfg["grpo"]
    byte = g["rewardByte"]

    lengths = []

    def byte_share(prompts, completions, completion_ids, **kwargs):
        lengths.extend(len(ids) for ids in completion_ids)
        return [sum(1 for t in ids if t == byte) / max(len(ids), 1) for ids in completion_ids]

    args = GRPOConfig(
        **common_args(cfg, steps), per_device_train_batch_size=g["batchSize"], num_generations=g["numGenerations"],
        max_completion_length=g["maxCompletionLength"], temperature=g["temperature"], top_p=1.0, top_k=0, beta=g["beta"],
        learning_rate=g["learningRate"], loss_type=g["lossType"], scale_rewards=g["scaleRewards"], num_iterations=1,
        epsilon=g["epsilon"], use_vllm=False, log_completions=False,
    )
    ds = datasets.Dataset.from_list([{"prompt": p} for p in cfg["data"]["prompts"]])
    trainer = GRPOTrainer(model=model, reward_funcs=byte_share, args=args, train_dataset=ds, processing_class=byte_tokenizer())
    # Generation and scoring (the rollout) of each step, timed around the method training_step calls for it.
    rollouts, generate_and_score = [], trainer._generate_and_score_completions

    def timed_generate_and_score(*a, **k):
        t0 = time.perf_counter()
        out = generate_and_score(*a, **k)
        rollouts.append(time.perf_counter() - t0)
        return out

    trainer._generate_and_score_completions = timed_generate_and_score
    clock = step_clock()
    trainer.add_callback(clock)
    trainer.train()
    return {
        "times": step_times(clock, cfg["warmup"]), "rolloutTimes": rollouts[1 + cfg["warmup"]:],
        "meanCompletionLength": sum(lengths) / max(len(lengths), 1),
    }


def main():
    cfg = json.loads(sys.stdin.read())
    torch.set_num_threads(cfg["threads"])
    quiet()
    out = {"dpo": task_dpo, "grpo": task_grpo}[cfg["task"]](cfg)
    out["maxRssKiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out["threads"] = torch.get_num_threads()
    out["versions"] = versions()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
