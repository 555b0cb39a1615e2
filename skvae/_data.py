"""Moving validated arrays into torch, one batch at a time where it matters."""

import numpy as np
import scipy.sparse as sp
import torch


def training_rows(X, device):
    """Rows to train on: a float32 tensor on ``device`` for dense input (the
    fast path: batches are slices of it), a :class:`Rows` for sparse input."""
    if sp.issparse(X):
        return Rows(X, device, np.float32)
    if isinstance(X, RowSubset):
        # Filled block by block, so that the rows are never copied whole in
        # their own dtype (a float64 memmap would be copied to memory).
        out = torch.empty(X.shape, dtype=torch.float32)
        for start in range(0, X.shape[0], X.block_size):
            block = np.asarray(X[start : start + X.block_size], dtype=np.float32)
            out[start : start + block.shape[0]] = torch.from_numpy(block)
        return out.to(device)
    return to_tensor(X, np.float32, device)


class RowSubset:
    """Rows ``index`` of a dense array, read block by block, never copied whole.

    Supports what training needs of an array: ``shape``, ``dtype``, ``ndim``
    and indexing rows with a slice or an index array.
    """

    def __init__(self, X, index, block_size):
        self.X = X
        self.index = index
        self.block_size = max(1, block_size)
        self.shape = (len(index), X.shape[1])
        self.dtype = X.dtype
        self.ndim = 2

    def __getitem__(self, key):
        return self.X[self.index[key]]


def mean_variance(X, block_size):
    """Per-column mean and variance of a dense array, ``block_size`` rows at a
    time (Chan et al.'s pairwise update); exactly ``X.mean(0), X.var(0)`` when
    X fits in one block."""
    n_samples = X.shape[0]
    if n_samples <= block_size:
        X = np.asarray(X[:n_samples])
        return X.mean(axis=0), X.var(axis=0)
    mean = np.zeros(X.shape[1])
    sum_squares = np.zeros(X.shape[1])
    count = 0
    for start in range(0, n_samples, block_size):
        block = np.asarray(X[start : start + block_size], dtype=np.float64)
        block_mean = block.mean(axis=0)
        block_sum_squares = ((block - block_mean) ** 2).sum(axis=0)
        n = block.shape[0]
        delta = block_mean - mean
        total = count + n
        mean += delta * (n / total)
        sum_squares += block_sum_squares + delta**2 * (count * n / total)
        count = total
    return mean.astype(X.dtype), (sum_squares / count).astype(X.dtype)


def missing_counts(X, block_size):
    """The number of missing entries (NaN) in each column of X: dense, a
    :class:`RowSubset` or sparse (whose implicit zeros are observed), read
    ``block_size`` rows at a time."""
    if sp.issparse(X):
        return np.bincount(X.indices[np.isnan(X.data)], minlength=X.shape[1]).astype(
            np.int64
        )
    counts = np.zeros(X.shape[1], dtype=np.int64)
    for start in range(0, X.shape[0], block_size):
        counts += np.isnan(np.asarray(X[start : start + block_size])).sum(axis=0)
    return counts


def nan_mean_variance(X, block_size):
    """Per-column mean and variance of the observed entries of a dense array
    (NaN is missing), ``block_size`` rows at a time: Chan et al.'s pairwise
    update, column by column, each with its own count. A column with no
    observed entry gets NaN."""
    mean = np.zeros(X.shape[1])
    sum_squares = np.zeros(X.shape[1])
    count = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], block_size):
        block = np.asarray(X[start : start + block_size], dtype=np.float64)
        observed = ~np.isnan(block)
        n = observed.sum(axis=0)
        block_sum = np.where(observed, block, 0.0).sum(axis=0)
        block_mean = block_sum / np.maximum(n, 1)
        block_sum_squares = np.where(observed, block - block_mean, 0.0) ** 2
        total = count + n
        share = np.divide(n, total, out=np.zeros_like(mean), where=total > 0)
        delta = block_mean - mean
        mean += delta * share
        sum_squares += block_sum_squares.sum(axis=0) + delta**2 * count * share
        count = total
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, mean, np.nan)
        variance = sum_squares / count
    return mean.astype(X.dtype), variance.astype(X.dtype)


def to_tensor(X, dtype, device):
    """A tensor of ``X`` in ``dtype`` on ``device``, copying only when needed.

    Read-only arrays (memmaps) are copied, since torch cannot wrap them.
    """
    X = np.ascontiguousarray(X, dtype=dtype)
    if not X.flags.writeable:
        X = X.copy()
    return torch.from_numpy(X).to(device)


class Rows:
    """Rows of a dense or sparse array, served as tensors one batch at a time.

    Sparse input is densified per batch, never as a whole.
    """

    def __init__(self, X, device, dtype):
        self.X = X
        self.device = device
        self.dtype = dtype

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, index):
        if isinstance(index, torch.Tensor):
            index = index.numpy()
        rows = self.X[index]
        if sp.issparse(rows):
            rows = rows.toarray()
        return to_tensor(rows, self.dtype, self.device)
