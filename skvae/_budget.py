"""The memory budget: how many rows, draws and codes one block may hold.

skvae follows scikit-learn's convention: the temporary memory of a method is
bounded by ``sklearn.get_config()["working_memory"]`` MiB (1024 by default),
set with ``sklearn.set_config(working_memory=...)`` or, for a block of code,
``with sklearn.config_context(working_memory=...)``. The data itself and the
results do not count; every temporary that grows with rows, importance draws,
codes or features does. Sizes here are estimates of the values held at once,
with a margin for the temporaries of elementwise operations.
"""

from sklearn import get_config
from torch import nn


def budget_bytes():
    """The working-memory budget, in bytes."""
    return int(get_config()["working_memory"] * 2**20)


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
