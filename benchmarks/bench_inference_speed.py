"""Inference speed goals of issue 13, each timed in one process, ABBA, 1 thread.

1. ``transform`` of 5 rows in float64 (a cached float64 copy of the weights)
   within 1.2 times the float32 call, default network.
2. ``score_samples`` of 100 binary rows at K = 1,000 (BernoulliVAE, 20 bits,
   default 20-128-256-784 decoder) within 1.5 times the time of its decoder's
   forward passes alone over the same 100,000 codes.

    python benchmarks/bench_inference_speed.py
"""

import time
import warnings

import numpy as np
import torch

from skvae import BernoulliVAE, GaussianVAE


def abba(first, second, repeats=2):
    times = {0: [], 1: []}
    first(), second()  # warm-up
    for _ in range(repeats):
        for which in (0, 1, 1, 0):
            start = time.perf_counter()
            (first if which == 0 else second)()
            times[which].append(time.perf_counter() - start)
    return float(np.median(times[0])), float(np.median(times[1]))


def float64_transform():
    X = np.random.RandomState(0).uniform(size=(200, 64))
    model = GaussianVAE(8, max_iter=2, device="cpu", random_state=0).fit(X)
    x64, x32 = X[:5], X[:5].astype(np.float32)

    def calls(x):
        return lambda: [model.transform(x) for _ in range(200)]

    t32, t64 = abba(calls(x32), calls(x64))
    ratio = t64 / t32
    print(
        f"transform, 5 rows: float32 {t32 / 200 * 1e3:.3f} ms, float64 "
        f"{t64 / 200 * 1e3:.3f} ms, ratio {ratio:.2f} (goal <= 1.2): "
        f"{'PASS' if ratio <= 1.2 else 'FAIL'}"
    )


def score_samples():
    rng = np.random.RandomState(0)
    X = (rng.uniform(size=(300, 784)) > 0.7).astype(np.float32)
    model = BernoulliVAE(
        20,
        likelihood="bernoulli",
        max_iter=1,
        n_importance_samples=1000,
        device="cpu",
        random_state=0,
    ).fit(X)
    decoder = model.module_.decoder.eval()
    codes = torch.rand(100 * 1000, 20)

    def products():
        with torch.no_grad():
            for block in codes.split(65_500):
                decoder(block)

    t_score, t_products = abba(lambda: model.score_samples(X[:100]), products, 1)
    ratio = t_score / t_products
    print(
        f"score_samples, 100 rows, K=1000: {t_score:.2f} s, decoder alone "
        f"{t_products:.2f} s, ratio {ratio:.2f} (goal <= 1.5): "
        f"{'PASS' if ratio <= 1.5 else 'FAIL'}"
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    float64_transform()
    score_samples()
