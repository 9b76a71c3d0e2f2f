#!/usr/bin/env python3
"""The models of scripts/bench-realsize.mjs (issue 31): SmolLM2-135M's and Qwen2.5-0.5B's exact
shapes, made by transformers' own config classes (LlamaConfig, Qwen2Config) with random weights
from a fixed seed, saved as a Hugging Face checkpoint would be (config.json, bf16
model.safetensors, generation_config.json) beside a byte-level BPE tokenizer trained here with
`tokenizers` on generated English-like text (ChatML's special tokens, a ChatML chat template in
tokenizer_config.json). Nothing is downloaded, so the benchmark runs offline, and the shapes,
the vocabulary padding and the file layout are what users of those checkpoints have.

The tokenizer's vocabulary (TOKENIZER_VOCAB) is smaller than the model's vocab_size on purpose:
real checkpoints pad their embedding matrix (Qwen2.5: 151,665 tokens, 151,936 rows), and a
sampled id in that gap must not break a run.

    .venv/bin/python3 scripts/bench/make_realsize_models.py [OUT_DIR] [--models smol,qwen]

OUT_DIR defaults to .cache/realsize (git-ignored); each model goes to OUT_DIR/<name>/, and
OUT_DIR/words.json holds the word list of the generated text, which the benchmark writes its
prompts and answers with. A model whose directory already holds model.safetensors is left alone.
"""
import json
import os
import random
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SEED = 1234
TOKENIZER_VOCAB = 16384

# The real checkpoints' config.json fields that fix the shapes and the numerics
# (HuggingFaceTB/SmolLM2-135M and Qwen/Qwen2.5-0.5B).
MODELS = {
    "smol": {
        "dir": "smollm2-135m",
        "class": "LlamaConfig",
        "config": dict(
            hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
            vocab_size=49152, max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=100000.0,
            tie_word_embeddings=True, hidden_act="silu", attention_bias=False, mlp_bias=False,
            initializer_range=0.041666666666666664,
        ),
    },
    "qwen": {
        "dir": "qwen2.5-0.5b",
        "class": "Qwen2Config",
        "config": dict(
            hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
            vocab_size=151936, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
            tie_word_embeddings=True, hidden_act="silu", use_sliding_window=False, sliding_window=32768,
            max_window_layers=24, initializer_range=0.02,
        ),
    },
}

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 (as in SmolLM2's tokenizer)
EOS, PAD = "<|im_end|>", "<|endoftext|>"
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Generated English-like text: sentences of common words, some capitalised, with punctuation and numbers.
WORDS = """the of and to in is was for on that with as by at from it an be this which or are his have
had not but they one first their new were all has been more its after other can who would when two
also time into some most these only over year years made many part such under there where then
than between used school she during about both known three state people city work well while
world before through later them each against since well second same name will any state number
group because family house music water light river small house great long little old right
large high local different small young important few public bad same able found help make know
take see come think look want give use find tell ask work seem feel try leave call keep let begin
show hear play run move like live believe hold bring happen write provide sit stand lose pay meet
include continue set learn change lead understand watch follow stop create speak read allow add
spend grow open walk win offer remember love consider appear buy wait serve die send expect build
stay fall cut reach kill remain suggest raise pass sell require report decide pull model train
answer question data token reward policy value table window garden morning evening story paper
market island forest mountain teacher student doctor village engine signal letter bridge""".split()


SYLLABLES = "ba be bi bo bu ca ce co da de di do fa fe fi ga ge go ha he hi ho ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo wa we wi ya yo za zo ar er ir or ur an en in on un al el il ol st tr pr gr br ch sh th".split()


def vocabulary(rnd):
    """The common words, then pseudo-words of 2 to 4 syllables (names, rarer words): enough distinct text
    for a BPE of TOKENIZER_VOCAB tokens."""
    made = {"".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(2, 4))) for _ in range(12000)}
    return WORDS + sorted(made - set(WORDS))


def words_text(rnd, words, n_sentences):
    """Sentences of mostly common words, with a rarer (pseudo-)word in three of ten places."""
    out = []
    for _ in range(n_sentences):
        n = rnd.randint(5, 18)
        ws = [rnd.choice(words) if rnd.random() < 0.3 else rnd.choice(WORDS) for _ in range(n)]
        if rnd.random() < 0.2:
            ws.insert(rnd.randint(0, n), str(rnd.randint(0, 2030)))
        s = " ".join(ws)
        out.append(s[0].upper() + s[1:] + rnd.choice([".", ".", ".", "?", "!", ","]))
    return " ".join(out)


def train_tokenizer(out_dir, words):
    """A byte-level BPE (GPT-2's / SmolLM2's pre-tokenizer and decoder) with ChatML's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    rnd = random.Random(SEED)
    corpus = [words_text(rnd, words, 20) for _ in range(6000)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2, show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, chat_template=CHATML, model_max_length=8192)
    hf.save_pretrained(out_dir)
    # The template inside tokenizer_config.json, as the hub's SmolLM2 and Qwen2.5 files have it (transformers 5
    # writes it to chat_template.jinja instead).
    cfg_path = os.path.join(out_dir, "tokenizer_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["chat_template"] = CHATML
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
    jinja = os.path.join(out_dir, "chat_template.jinja")
    if os.path.exists(jinja):
        os.remove(jinja)
    return {t: tok.token_to_id(t) for t in SPECIALS}, tok.get_vocab_size()


def make_model(spec, out_dir, words):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, GenerationConfig

    os.makedirs(out_dir, exist_ok=True)
    ids, tok_vocab = train_tokenizer(out_dir, words)
    assert tok_vocab < spec["config"]["vocab_size"], (tok_vocab, spec["config"]["vocab_size"])
    config = getattr(transformers, spec["class"])(
        **spec["config"], bos_token_id=ids[PAD], eos_token_id=ids[EOS], pad_token_id=ids[PAD], dtype="bfloat16",
    )
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model = model.to(torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=ids[PAD], eos_token_id=ids[EOS], pad_token_id=ids[PAD])
    model.save_pretrained(out_dir)
    n = sum(p.numel() for p in model.parameters())
    print(f"{out_dir}: {spec['class']} {n / 1e6:.1f}M parameters, tokenizer of {tok_vocab} tokens for vocab_size "
          f"{spec['config']['vocab_size']}", file=sys.stderr)


def main():
    args = sys.argv[1:]
    names = list(MODELS)
    if "--models" in args:
        i = args.index("--models")
        names = args[i + 1].split(",")
        del args[i:i + 2]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"make_realsize_models.py: unknown model(s) {unknown}; known: {list(MODELS)}")
    out = os.path.abspath(args[0]) if args else os.path.join(ROOT, ".cache", "realsize")
    os.makedirs(out, exist_ok=True)
    words = vocabulary(random.Random(SEED))
    with open(os.path.join(out, "words.json"), "w") as f:
        json.dump(words, f)
    for name in names:
        d = os.path.join(out, MODELS[name]["dir"])
        if os.path.exists(os.path.join(d, "model.safetensors")):
            continue
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        make_model(MODELS[name], d, words)


if __name__ == "__main__":
    main()
