#!/usr/bin/env python3
"""The TRL side of scripts/bench-trl.mjs and scripts/bench-realsize.mjs: TRL's own SFTTrainer,
DPOTrainer and GRPOTrainer (trl 1.13, with PEFT's LoraConfig when the task asks for an adapter),
and transformers' `generate`, on the same model, data and thread count as torch-rlhf's side, so
that the benchmark compares with what people actually run. Run with the Python whose PyTorch holds
the addon's libtorch (.venv, with trl, peft and transformers: scripts/setup.sh --bench). Reads one
JSON task from stdin, prints one JSON line {"times": [...], "maxRssKiB": n, "threads": n, ...}.

The model is either bench-trl's tiny GPT-2 (task["size"]: transformers' GPT2LMHeadModel, made
here) or a Hugging Face checkpoint directory (task["model"]["dir"], bench-realsize's models of
SmolLM2-135M's and Qwen2.5-0.5B's shapes), which the trainers load themselves from the path, as
users call them, with model_init_kwargs' dtype set to the task's.

What is timed: trainer.train() with max_steps = 1 + warmup + repeats, and a TrainerCallback that
takes time.perf_counter() at every on_step_end; a step's time is the gap between two consecutive
step ends, so it holds everything the Trainer's loop does per optimizer step (fetching and
collating the batch, TRL's training_step, clipping, AdamW, the scheduler, callbacks) and nothing
of the setup or the end of the run. The first gap after warm-up is the first one kept.

TRL's defaults that would change the work are set to torch-rlhf's: bf16 off (float32) and
gradient checkpointing off (no recomputed forward) unless the task turns them on
(task["trl"]: gradientCheckpointing, bf16), use_cpu, report_to none, no saving, no
logging (logging_strategy "no"; TRL still gathers its metrics each step, as it always does).
With the tiny GPT-2, texts are tokenized by a byte-level tokenizer equal to torch-rlhf's
ByteTokenizer (ids 0-255 the UTF-8 bytes, 256 BOS added in front of a prompt, 257 EOS, 258 PAD),
so both sides see the same ids; a checkpoint directory brings its own tokenizer.
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
    """TrainingArguments shared by the trainers: the same work as torch-rlhf's, without extras."""
    settings = cfg.get("trl", {})
    extra = {}
    if "model" in cfg:
        # Loaded by the trainer from the path, in the task's dtype (TRL's own default is float32).
        extra["model_init_kwargs"] = {"dtype": cfg["model"].get("dtype", "float32")}
    return dict(
        output_dir=os.path.join(tempfile.gettempdir(), f"torch-rlhf-bench-trl-{cfg['task']}"),
        report_to="none", use_cpu=True, bf16=bool(settings.get("bf16", False)), fp16=False,
        gradient_checkpointing=bool(settings.get("gradientCheckpointing", False)), **extra,
        logging_strategy="no", save_strategy="no", eval_strategy="no", disable_tqdm=True,
        max_steps=steps, gradient_accumulation_steps=1, max_grad_norm=1.0, seed=42,
        dataloader_num_workers=0,
    )


def model_and_tokenizer(cfg):
    """The model to hand a trainer (the tiny GPT-2, or a checkpoint's path) and its tokenizer."""
    if "model" in cfg:
        from transformers import AutoTokenizer

        return cfg["model"]["dir"], AutoTokenizer.from_pretrained(cfg["model"]["dir"])
    return create_gpt2(cfg["size"]), byte_tokenizer()


def peft_config(cfg):
    """PEFT's LoraConfig from the task's (torch-rlhf's names), or None for full training."""
    p = cfg.get("peft")
    if not p:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=p["r"], lora_alpha=p["loraAlpha"], lora_dropout=p.get("loraDropout", 0.0), target_modules=p["targetModules"],
        bias="none", task_type="CAUSAL_LM",
    )


def held(trainer):
    """The trained parameters' count and dtypes, and the frozen ones' dtypes (what the run actually held)."""
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    frozen = [p for p in trainer.model.parameters() if not p.requires_grad]
    name = lambda ps: "+".join(sorted({str(p.dtype).replace("torch.", "") for p in ps})) or "none"  # noqa: E731
    return {"trainable": sum(p.numel() for p in trainable), "trainableDtype": name(trainable), "frozenDtype": name(frozen)}


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
    model, tokenizer = model_and_tokenizer(cfg)
    steps = 1 + cfg["warmup"] + cfg["repeats"]
    d = cfg["dpo"]
    args = DPOConfig(
        **common_args(cfg, steps), per_device_train_batch_size=d["batchSize"], learning_rate=d["learningRate"],
        loss_type=["sigmoid"], beta=d["beta"], max_length=d.get("maxLength", cfg.get("size", {}).get("blockSize")),
        precompute_ref_log_probs=False,
    )
    ds = datasets.Dataset.from_list(cfg["data"]["pairs"])
    # The reference is a copy of the starting policy, as torch-rlhf's frozenCopy (TRL makes one itself from a path);
    # with an adapter, both sides take the base model with the adapter switched off.
    lora = peft_config(cfg)
    ref = copy.deepcopy(model) if lora is None and not isinstance(model, str) else None
    trainer = DPOTrainer(
        model=model, ref_model=ref, args=args, train_dataset=ds, processing_class=tokenizer, peft_config=lora,
    )
    clock = step_clock()
    trainer.add_callback(clock)
    trainer.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    return {"times": step_times(clock, cfg["warmup"]), "batchShape": list(batch["input_ids"].shape), **held(trainer)}


def task_grpo(cfg):
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(0)
    model, tokenizer = model_and_tokenizer(cfg)
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
    trainer = GRPOTrainer(
        model=model, reward_funcs=byte_share, args=args, train_dataset=ds, processing_class=tokenizer, peft_config=peft_config(cfg),
    )
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
        "meanCompletionLength": sum(lengths) / max(len(lengths), 1), **held(trainer),
    }


def task_sft_trainer(cfg):
    """SFTTrainer on prompt-completion rows (completion-only loss, TRL's default for them)."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    model, tokenizer = model_and_tokenizer(cfg)
    steps = 1 + cfg["warmup"] + cfg["repeats"]
    s = cfg["sft"]
    args = SFTConfig(
        **common_args(cfg, steps), per_device_train_batch_size=s["batchSize"], learning_rate=s["learningRate"],
        max_length=s["maxLength"], packing=False,
    )
    ds = datasets.Dataset.from_list(cfg["data"]["examples"])
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer, peft_config=peft_config(cfg))
    clock = step_clock()
    trainer.add_callback(clock)
    trainer.train()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(s["batchSize"])])
    return {
        "times": step_times(clock, cfg["warmup"]), "batchShape": list(batch["input_ids"].shape), **held(trainer),
    }


@torch.inference_mode()
def task_generate(cfg):
    """transformers' generate: sampling at temperature 1 (no top-k/top-p), KV cache, exactly newTokens tokens (no EOS)."""
    from transformers import AutoModelForCausalLM

    g = cfg["gen"]
    model = AutoModelForCausalLM.from_pretrained(cfg["model"]["dir"], dtype=getattr(torch, cfg["model"]["dtype"])).eval()
    model.generation_config.eos_token_id = None  # every sequence runs newTokens steps, as torch-rlhf's without an eosTokenId
    ids = torch.tensor(g["prompts"], dtype=torch.long)
    kw = dict(
        attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=g["newTokens"],
        use_cache=True, num_return_sequences=g.get("numReturnSequences", 1), pad_token_id=model.config.pad_token_id,
    )
    times, shape = [], None
    for r in range(cfg["warmup"] + cfg["repeats"]):
        torch.manual_seed(r)
        t0 = time.perf_counter()
        out = model.generate(ids, **kw)
        if r >= cfg["warmup"]:
            times.append(time.perf_counter() - t0)
        shape = [out.shape[0], out.shape[1] - ids.shape[1]]
    return {"times": times, "outShape": shape}


def main():
    cfg = json.loads(sys.stdin.read())
    torch.set_num_threads(cfg["threads"])
    quiet()
    tasks = {"dpo": task_dpo, "grpo": task_grpo, "sftTrainer": task_sft_trainer, "generate": task_generate}
    out = tasks[cfg["task"]](cfg)
    out["maxRssKiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    out["threads"] = torch.get_num_threads()
    out["versions"] = versions()
    try:
        import peft

        out["versions"]["peft"] = peft.__version__
    except ImportError:
        pass
    print(json.dumps(out))


if __name__ == "__main__":
    main()
