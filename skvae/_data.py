"""Moving validated arrays into torch, one batch at a time where it matters."""

import numpy as np
import scipy.sparse as sp
import torch


def training_rows(X, device):
    """Rows to train on: a float32 tensor on ``device`` for dense input (the
    fast path: batches are slices of it), a :class:`Rows` for sparse input."""
    if sp.issparse(X):
        return Rows(X, device, np.float32)
    return to_tensor(X, np.float32, device)


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
