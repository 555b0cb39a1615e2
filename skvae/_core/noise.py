"""Random draws that belong to a row: a function of the row's values and a seed.

``score_samples`` must give a row the same score whatever other rows are in the
call. Sharing one set of draws between all rows achieves that, but then the
error of that single draw does not average out over rows: the mean score of a
data set stays as noisy as one row's. Here each row gets its own draws, from a
counter-based generator (splitmix64) keyed by a hash of the row's bytes, so
draws are independent between different rows and identical for the same row.
"""

import numpy as np
import torch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_2_POW_53 = float(2**53)


def row_uniforms(x, seed, n_draws, n_dims):
    """Uniform draws in (0, 1) of shape (n_draws, rows, n_dims), float64, CPU.

    Row i's draws depend on ``seed`` and on the values of ``x[i]`` only.
    """
    rows = np.ascontiguousarray(x.detach().cpu().numpy())
    words = rows.view(np.uint64 if rows.itemsize == 8 else np.uint32).astype(np.uint64)
    seed = np.uint64(seed)
    positions = _splitmix64(np.arange(words.shape[1], dtype=np.uint64) ^ seed)
    keys = _splitmix64(_splitmix64(words ^ positions).sum(axis=1, dtype=np.uint64))
    counters = np.arange(1, n_draws * n_dims + 1, dtype=np.uint64) * _MIX1
    bits = _splitmix64(keys[None, :, None] ^ counters.reshape(n_draws, 1, n_dims))
    return torch.from_numpy(((bits >> np.uint64(11)) + 0.5) / _2_POW_53)


def _splitmix64(z):
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))
