"""The memory budget: how many rows, draws and codes one block may hold.

skvae follows scikit-learn's convention: the temporary memory of a method is
bounded by ``sklearn.get_config()["working_memory"]`` MiB (1024 by default),
set with ``sklearn.set_config(working_memory=...)`` or, for a block of code,
``with sklearn.config_context(working_memory=...)``. The results do not count;
every temporary that grows with rows, importance draws, codes or features does,
and so does the float32 copy of the training data that ``fit`` makes: data whose
copy would exceed the budget are streamed from where they lie, a window of
chunks at a time (``skvae._stream``). Sizes here are estimates of the values
held at once, with a margin for the temporaries of elementwise operations.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from torch import nn

# A stream of training rows holds two windows at a time (the one trained on,
# the one read ahead), each at most a quarter of the budget; for the whole fit
# it keeps the validation rows and rows for the diagnostics, at most an eighth
# of the budget each. A pass in row order (the first pass of a fit, the
# per-row methods) reads a sixteenth at a time, and its statistics take at
# most a quarter.
_WINDOW_SHARE = 4
_KEPT_SHARE = 8
_READ_SHARE = 16
STATISTICS_SHARE = 4
# Chunks per window: rows are shuffled across the chunks of a window, so more
# chunks mix the data better; fewer make longer contiguous reads. 16 chunks of
# a 256 MiB window are 16 MiB reads.
_CHUNKS_PER_WINDOW = 16


class StreamPlan(NamedTuple):
    """Rows per window of training rows, per chunk, and per read of a pass
    in row order."""

    window_rows: int
    chunk_rows: int
    read_rows: int


def budget_bytes():
    """The working-memory budget, in bytes."""
    return int(get_config()["working_memory"] * 2**20)


def training_bytes(X):
    """The bytes of the copy of X that training would hold in memory: float32
    values of dense data, the stored values and indices of sparse data."""
    if sp.issparse(X):
        return sum(
            getattr(X, name).nbytes
            for name in ("data", "indices", "indptr")
            if hasattr(X, name)
        )
    return 4 * int(np.prod(X.shape, dtype=np.float64))


def exceeds_budget(X):
    """Whether fit streams X rather than copying it into memory."""
    return training_bytes(X) > budget_bytes()


def stream_plan(n_features, itemsize=4):
    """The :class:`StreamPlan` of rows of ``n_features`` values of
    ``itemsize`` bytes."""
    row = itemsize * n_features
    window = fitting(row, budget_bytes() // _WINDOW_SHARE)
    return StreamPlan(
        window_rows=window,
        chunk_rows=max(1, window // _CHUNKS_PER_WINDOW),
        read_rows=fitting(row, budget_bytes() // _READ_SHARE),
    )


def keepable_rows(n_features, itemsize):
    """How many rows a stream may keep in memory for the whole fit, for one
    purpose (validation, or the diagnostics)."""
    return fitting(itemsize * n_features, budget_bytes() // _KEPT_SHARE)


def fitting(bytes_each, budget=None, at_most=None):
    """How many items of ``bytes_each`` bytes fit in the budget; at least 1."""
    budget = budget_bytes() if budget is None else budget
    n = max(1, int(budget // max(1, bytes_each)))
    return n if at_most is None else max(1, min(n, at_most))


def decoder_width(module):
    """Values one decoded code holds: the widths of all decoder layers."""
    return _width(module.decoder)


def encoder_width(module):
    return _width(module.encoder)


def _width(network):
    """The widths of all Linear layers of a network, added up."""
    return sum(
        layer.out_features
        for layer in network.modules()
        if isinstance(layer, nn.Linear)
    )


def score_plan(module, itemsize, n_draws):
    """``(rows per batch, draws per block)`` of ``score_samples``.

    A (row, draw) pair holds the decoder's activations (twice: before and
    after the activation function), a few feature-sized temporaries of the
    likelihood, the code, its draws (float64 uniforms and int64 bits) and one
    density per mixture component; a row also holds its encoding and, for the
    Laplace proposal, the decoder's Jacobian. An exact sum over codes makes
    no draws and decodes every code for every batch, so its batches are as
    large as the other half of the budget allows, whatever ``n_draws`` is.
    """
    latent = module.latent
    n_features = module.n_features
    if latent.scoring == "exact":
        return fitting(4 * itemsize * n_features, budget_bytes() // 2), 1
    width = decoder_width(module)
    n_mixture = getattr(latent, "n_mixture_components", 0)
    per_draw = (
        itemsize * (2 * width + 3 * n_features + 4 * n_mixture)
        + (8 * itemsize + 24) * latent.n_components
    )
    per_row = itemsize * (
        2 * encoder_width(module) + 2 * width * (latent.n_components + 1)
    )
    budget = budget_bytes()
    if per_row + n_draws * per_draw <= budget:
        return fitting(per_row + n_draws * per_draw, budget), n_draws
    return 1, fitting(per_draw, budget - per_row)


def rows_plan(module, itemsize, n_features):
    """Rows per batch for a pass through the encoder and the decoder."""
    width = encoder_width(module) + decoder_width(module) + n_features
    return fitting(2 * itemsize * width)
