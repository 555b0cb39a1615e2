"""How many CPU threads torch trains with: measured, not assumed.

On an idle machine a wide network trains faster on all cores (a 784-400-20
network 1.5 times faster on 2 cores than on 1); on a machine whose cores other
processes use, torch's threads wait for each other at every operation and a fit
runs 10 to 40 times slower than on one thread. Small networks gain nothing from
threads in either case. So each fit times a few training steps on one thread
and on all it may use, interleaved, and trains on one thread only where that
is clearly faster (by 15%): a short measurement is noisy, and on an idle
machine all threads are never much slower, while on a busy one they are many
times slower.
"""

import copy
import time
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

from .missing import observed_entries
from .objectives import training_loss

# Steps timed with each thread count, after one untimed step each.
_PROBE_STEPS = 3
# One thread must be this much faster to be chosen over all.
_MARGIN = 1.15
# All threads this many times slower than one, on one step, end the timing:
# on an idle machine they never are, even on the smallest networks (0.8x).
_GIVE_UP = 3
# Multiply-adds of the linear layers per batch below which one thread is
# taken without timing.
_MIN_MULTIPLY_ADDS = 2**23


@contextmanager
def torch_threads(n_threads):
    """torch's intra-op thread count set to ``n_threads`` inside the block,
    and the caller's restored after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def fit_threads(n_threads):
    """torch on ``n_threads`` threads inside the block; on one thread, BLAS
    and OpenMP too (the start's PCA and k-means, scikit-learn's mixtures),
    which on a busy machine are as slow on many threads as torch is. Many
    threads leave the caller's BLAS and OpenMP limits as they are."""
    with torch_threads(n_threads):
        if n_threads > 1:
            yield
        else:
            with threadpool_limits(limits=1):
                yield


def fastest_thread_count(model, x, most, n_draws=1):
    """1 or ``most``: whichever trains ``model`` on the batch ``x`` faster.

    Times forward and backward passes of a copy of the model (the model, its
    generators and its statistics are untouched), alternating the two counts
    so that a change in load falls on both.
    """
    if most <= 1 or x.device.type != "cpu":
        return max(most, 1)
    if _multiply_adds(model, x.shape[0]) < _MIN_MULTIPLY_ADDS:
        # Too little work per step for threads to share: not worth timing
        # (on a busy machine the timing itself took seconds).
        return 1
    probe = copy.deepcopy(model).train()
    generator = torch.Generator().manual_seed(0)
    observed = observed_entries(x)

    def step():
        loss, _, _ = training_loss(probe, x, 1.0, generator, observed, n_draws)
        probe.zero_grad(set_to_none=True)
        loss.backward()

    def timed_step():
        start = time.perf_counter()
        step()
        return time.perf_counter() - start

    times = {1: [], most: []}
    for n_threads in (1, most, most, 1) * ((_PROBE_STEPS + 1) // 2):
        with torch_threads(n_threads):
            # The first step after a change of thread count wakes the pool:
            # not what training pays, so not timed as a step, but a busy
            # machine shows already there: all threads many times slower
            # than one ends the timing (it cost seconds otherwise).
            first = timed_step()
            if n_threads == most and first > _GIVE_UP * min(times[1]):
                return 1
            times[n_threads].append((timed_step() + timed_step()) / 2)
    one, many = (sorted(times[n])[len(times[n]) // 2] for n in (1, most))
    return 1 if one * _MARGIN < many else most


def _multiply_adds(model, n_rows):
    """Multiply-adds of one forward pass of ``n_rows`` rows through the
    model's linear layers."""
    return n_rows * sum(
        layer.in_features * layer.out_features
        for layer in model.modules()
        if isinstance(layer, torch.nn.Linear)
    )
