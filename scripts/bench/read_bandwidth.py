"""How fast this machine reads a model's weights: the floor under a decode step's time.

A decode step at batch 1-8 reads every weight once and does ~2 FLOPs per weight per row, so its
time is bounded by memory bandwidth, not arithmetic. This measures, with PyTorch at the given
thread count, the read rate of (a) a plain reduction over a buffer of the given size and (b) a
matrix-vector product over a matrix of that size (what transformers' decode runs), and prints
the time per step that a model of that many float32 bytes cannot beat at that rate.
    python3 scripts/bench/read_bandwidth.py [--gib 1.84] [--threads 2] [--rows 1]
"""
import argparse
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--gib", type=float, default=1.84, help="bytes read per step (Qwen2.5-0.5B in float32: 1.84 GiB)")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--rows", type=int, default=1, help="the batch: rows of x in x @ W^T")
p.add_argument("--repeats", type=int, default=10)
a = p.parse_args()
torch.set_num_threads(a.threads)
K = 896
n = int(a.gib * 2**30 / 4 / K)
w = torch.randn(n, K)
x = torch.randn(a.rows, K)


def best(fn):
    fn()
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


gb = w.numel() * 4 / 1e9
t_sum = best(lambda: w.sum())
t_mm = best(lambda: x @ w.T)
print(f"{a.threads} thread(s), {gb:.2f} GB of float32 weights ({n} x {K}), batch {a.rows}")
print(f"  sum over the buffer:  {t_sum * 1e3:7.1f} ms  {gb / t_sum:5.1f} GB/s")
print(f"  x @ W^T (MKL):        {t_mm * 1e3:7.1f} ms  {gb / t_mm:5.1f} GB/s")
