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

from .missing import observed_entries
from .objectives import training_loss

# Steps timed with each thread count, after one untimed step each.
_PROBE_STEPS = 3
# One thread must be this much faster to be chosen over all.
_MARGIN = 1.15


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


def fastest_thread_count(model, x, most, n_draws=1):
    """1 or ``most``: whichever trains ``model`` on the batch ``x`` faster.

    Times forward and backward passes of a copy of the model (the model, its
    generators and its statistics are untouched), alternating the two counts
    so that a change in load falls on both.
    """
    if most <= 1 or x.device.type != "cpu":
        return max(most, 1)
    probe = copy.deepcopy(model).train()
    generator = torch.Generator().manual_seed(0)
    observed = observed_entries(x)

    def step():
        loss, _, _ = training_loss(probe, x, 1.0, generator, observed, n_draws)
        probe.zero_grad(set_to_none=True)
        loss.backward()

    times = {1: [], most: []}
    for n_threads in (1, most, most, 1) * ((_PROBE_STEPS + 1) // 2):
        with torch_threads(n_threads):
            # The first step after a change of thread count wakes the pool:
            # not what training pays, so not timed.
            step()
            start = time.perf_counter()
            step()
            step()
            times[n_threads].append(time.perf_counter() - start)
    one, many = (sorted(times[n])[len(times[n]) // 2] for n in (1, most))
    return 1 if one * _MARGIN < many else most
