#!/usr/bin/env python3
"""transformers' side of scripts/bench/load_peak.mjs (issue 31): in a fresh process, the resident
size before AutoModelForCausalLM.from_pretrained(dir, dtype=...), the peak during it (ru_maxrss)
and after it, beside the bytes of the loaded weights.

    .venv/bin/python3 scripts/bench/load_peak.py .cache/realsize/qwen2.5-0.5b [float32|bfloat16]
"""
import json
import resource
import sys
import time

import torch
from transformers import AutoModelForCausalLM

MIB = 2**20


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def main():
    model_dir = sys.argv[1]
    dtype = sys.argv[2] if len(sys.argv) > 2 else "float32"
    before = rss()
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    seconds = time.perf_counter() - t0
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    after = rss()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "side": "transformers", "dtype": dtype, "seconds": round(seconds, 2), "weightsMiB": round(weights / MIB),
        "beforeMiB": round(before / MIB), "peakMiB": round(peak / MIB), "afterMiB": round(after / MIB),
        "peakOverBeforeMiB": round((peak - before) / MIB), "peakOverWeightsMiB": round((peak - before - weights) / MIB),
    }))


if __name__ == "__main__":
    main()
