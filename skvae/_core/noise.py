"""Random draws that belong to a row: a function of the row's values and a seed.

``score_samples`` must give a row the same score whatever other rows are in the
call. Sharing one set of draws between all rows achieves that, but then the
error of that single draw does not average out over rows: the mean score of a
data set stays as noisy as one row's. Here each row gets its own draws, from a
counter-based generator (splitmix64) keyed by a hash of the row's values, so
draws are independent between different rows and identical for the same row.

The key is computed from the values as float64, with -0.0 read as 0.0: the same
numbers give the same draws whether they come as float32 or float64. It is all
torch integer arithmetic on the rows' device, so the draws of a GPU model are
made on the GPU.
"""

import torch

_MASK64 = (1 << 64) - 1


def _signed(constant):
    """A 64-bit constant as the int64 with the same bits."""
    return constant - (1 << 64) if constant >= 1 << 63 else constant


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)
_2_POW_53 = float(2**53)


def row_keys(x, seed):
    """One int64 key per row of ``x``: a hash of its values and of ``seed``."""
    device = x.device if x.device.type != "mps" else torch.device("cpu")  # no float64
    values = x.detach().to(device=device, dtype=torch.float64)
    # -0.0 == 0.0, but their bits differ.
    values = torch.where(values == 0, 0.0, values).contiguous()
    words = values.view(torch.int64)
    positions = _splitmix64(
        torch.arange(words.shape[1], device=device, dtype=torch.int64) ^ _signed(seed)
    )
    return _splitmix64(_splitmix64(words ^ positions).sum(dim=1))


def row_uniforms(x, seed, n_draws, n_dims, start=0, keys=None):
    """Uniform draws in (0, 1) of shape (n_draws, rows, n_dims), float64.

    Draws number ``start`` to ``start + n_draws - 1`` of each row: row i's
    draws depend on ``seed`` and on the values of ``x[i]`` only, and asking for
    them in blocks gives the same numbers as asking for them at once. ``keys``
    (from :func:`row_keys`) saves hashing the rows again for each block.
    """
    if keys is None:
        keys = row_keys(x, seed)
    counters = (
        torch.arange(
            start * n_dims + 1,
            (start + n_draws) * n_dims + 1,
            device=keys.device,
            dtype=torch.int64,
        )
        * _MIX1
    )
    bits = _splitmix64(keys[None, :, None] ^ counters.reshape(n_draws, 1, n_dims))
    return (_shift_right(bits, 11).to(torch.float64) + 0.5) / _2_POW_53


def _splitmix64(z):
    # int64 arithmetic wraps around as uint64 does; shifts must be logical.
    z = z + _GOLDEN
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def _shift_right(z, n):
    """Logical right shift of int64 bits (torch's >> keeps the sign)."""
    return (z >> n) & ((1 << (64 - n)) - 1)


class RowDraws:
    """The ``n_draws`` scoring draws of the rows ``x``, made block by block.

    Iterating gives ``(start, noise)`` for consecutive blocks of at most
    ``block_size`` draws, ``noise`` of shape (draws, rows, n_dims) in x's dtype
    and on its device, so that no more than one block of draws is ever held.
    Nothing is computed until iterated: a caller that needs no draws (an exact
    score) costs nothing.
    """

    def __init__(self, x, seed, n_draws, n_dims, transform, block_size=None):
        self.x = x
        self.seed = seed
        self.n_draws = n_draws
        self.n_dims = n_dims
        self.transform = transform
        self.block_size = n_draws if block_size is None else max(1, block_size)

    def __iter__(self):
        keys = row_keys(self.x, self.seed)
        for start in range(0, self.n_draws, self.block_size):
            n_draws = min(self.block_size, self.n_draws - start)
            u = row_uniforms(self.x, self.seed, n_draws, self.n_dims, start, keys)
            noise = self.transform(u)
            yield start, noise.to(device=self.x.device, dtype=self.x.dtype)


def draw_blocks(noise):
    """``(start, noise)`` blocks of a tensor of draws or of a :class:`RowDraws`."""
    if isinstance(noise, torch.Tensor):
        return [(0, noise)]
    return noise


def n_draws(noise):
    """How many draws a tensor of draws or a :class:`RowDraws` holds."""
    return noise.shape[0] if isinstance(noise, torch.Tensor) else noise.n_draws
