"""Data beyond the memory budget, read in contiguous chunks where they lie.

``fit`` copies its training data into memory as float32 when that copy fits
the memory budget (``skvae._budget``). Beyond it, it streams them: from a
memory-mapped array, any array that supports row slicing (h5py and zarr
datasets), a sparse matrix, a Dask array (each block computed when it is
read) or an array in memory. The rows are read in contiguous chunks; each epoch
takes the chunks in a new random order, gathers them into windows of a quarter
of the budget, shuffles the rows within a window and serves its batches while a
background thread reads the next window (numpy, h5py and Dask release the GIL
while they read).

Before training, a pass in row order counts the missing values (NaN) of each
column, which the choice of likelihoods depends on (``likelihood='auto'``
models a column with missing values with its own variance), checking every
value as it is read (what scikit-learn's validation checks of data in memory:
inf, NaN only where the likelihood cannot leave it out); a second one checks
the likelihood's domain, computes the statistics that start the model (of the
observed entries, with the training rows' own counts of missing values), and
keeps the held-out rows of early stopping and evenly spaced training rows for
the diagnostics: nothing else of the data is copied whole.

The per-row methods read a memory-mapped array or a sliceable array beyond the
budget chunk by chunk in the same way, and apply themselves to a Dask array
block by block (:func:`blockwise`), returning a Dask array.
"""

import mmap
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import torch

from ._budget import (
    STATISTICS_SHARE,
    budget_bytes,
    exceeds_budget,
    keepable_rows,
    stream_plan,
)
from ._data import (
    FeatureStatistics,
    Rows,
    missing_counts,
    stack_rows,
    tensor_rows,
    training_rows,
)


def is_dask_array(X):
    """Whether X is a Dask array; never imports Dask."""
    dask_array = sys.modules.get("dask.array")
    return dask_array is not None and isinstance(X, dask_array.Array)


def input_kind(X):
    """Where X lies: ``'dask'``, ``'mapped'`` (an ndarray on a memory-mapped
    file), ``'sliced'`` (another array that supports row slicing, such as an
    h5py or zarr dataset), or None for anything scikit-learn's validation
    converts as it is (numpy, sparse, pandas, lists)."""
    if is_dask_array(X):
        return "dask"
    if isinstance(X, np.ndarray):
        return "mapped" if _mapped_file(X) is not None else None
    if sp.issparse(X) or isinstance(X, list | tuple):
        return None
    if hasattr(X, "dtypes") or hasattr(X, "columns"):  # data frames
        return None
    shape = getattr(X, "shape", None)
    if not (isinstance(shape, tuple) and len(shape) == 2) or not hasattr(
        X, "__getitem__"
    ):
        return None
    try:
        dtype = np.dtype(X.dtype)
    except TypeError:  # torch tensors, whose dtype numpy does not know
        return None
    return "sliced" if dtype.kind in "biuf" else None


def streams(X, kind):
    """Whether an input of ``kind`` is read in chunks rather than converted
    whole: a memory-mapped, sliceable or Dask array beyond the budget."""
    return kind is not None and exceeds_budget(X)


def in_memory(X, kind):
    """X as scikit-learn's validation takes it: a Dask array computed, a
    sliceable array read whole (what ``numpy.asarray`` does with an h5py
    dataset), anything else as it is."""
    if kind == "dask":
        return X.compute()
    if kind == "sliced":
        return np.asarray(X[0 : X.shape[0]])
    return X


def first_rows(X, kind):
    """The first row of X as a numpy array (or sparse matrix), for the checks
    of shape, dtype and feature names that need no values."""
    head = X[:1]
    if kind == "dask":
        head = head.compute()
    return head if sp.issparse(head) else np.asarray(head)


class ChunkedArray:
    """A 2-D array read a range of rows at a time, never whole.

    ``checks`` are functions applied in turn to the rows of every range read,
    each returning them checked (scikit-learn's ``check_array``, the
    likelihood's domain), so that values are validated as they are read.
    ``dtype`` is the dtype the checked rows have.
    """

    def __init__(self, X, dtype, checks=()):
        self.X = X
        self.shape = tuple(int(n) for n in X.shape)
        self.dtype = np.dtype(dtype)
        self.checks = tuple(checks)
        self._dask = is_dask_array(X)
        self._mapping = _releasable_mapping(X) if isinstance(X, np.ndarray) else None
        mapping = self._mapping
        self._file = None if mapping is None else _MappedFile.of(X, *mapping)

    def also_checked(self, check):
        """The same array, its rows checked by ``check`` too, after the
        checks it has."""
        return ChunkedArray(self.X, self.dtype, (*self.checks, check))

    def chunk_ranges(self, rows, max_rows):
        """``(start, stop)`` of each chunk: ``rows`` rows each, or a Dask
        array's blocks, those longer than ``max_rows`` cut into pieces (each
        piece computes its block again: give Dask arrays blocks of at most
        ``max_rows`` rows)."""
        if self._dask:
            bounds = np.cumsum((0, *self.X.chunks[0])).tolist()
            return [
                (start, min(start + max_rows, stop))
                for first, stop in zip(bounds[:-1], bounds[1:], strict=True)
                for start in range(first, stop, max_rows)
            ]
        n = self.shape[0]
        return [(start, min(start + rows, n)) for start in range(0, n, rows)]

    def missing_counts(self):
        """The missing values (NaN) in each column: one pass in row order,
        in the chunks of :class:`StreamedData`'s first pass (a Dask array's
        blocks, each computed once), each checked as it is read and let go
        once counted."""
        plan = stream_plan(self.shape[1])
        counts = np.zeros(self.shape[1], dtype=np.int64)
        chunks = self.chunk_ranges(plan.chunk_rows, plan.window_rows)
        for _, rows in self.in_order(chunks, plan.read_rows):
            counts += missing_counts(rows, max(1, rows.shape[0]))
        return counts

    def read(self, ranges):
        """The checked rows of each ``(start, stop)`` of ``ranges``."""
        if self._dask:
            import dask

            parts = dask.compute(*(self.X[start:stop] for start, stop in ranges))
        else:
            parts = [self._read(start, stop) for start, stop in ranges]
        checked = []
        for rows in parts:
            for check in self.checks:
                rows = check(rows)
            checked.append(rows)
        return checked

    def in_order(self, chunks, read_rows):
        """``((start, stop), checked rows)`` of each of ``chunks`` in turn,
        read ``read_rows`` rows at a time (at least a chunk), the next read
        made while the caller works on this one."""
        groups = _windows(chunks, read_rows)
        for group, parts in zip(groups, read_ahead(groups, self.read), strict=True):
            yield from zip(group, parts, strict=True)
            parts = None  # noqa: F841 - let it go before the next window is read

    def _read(self, start, stop):
        rows = self.X[start:stop]
        if self._mapping is None:
            return rows if sp.issparse(rows) else np.asarray(rows)
        if self._file is not None and rows.flags.c_contiguous:
            copied = self._file.read(rows)
            if copied is not None:
                return copied
        # A copy, then the pages dropped from this process: a memory-mapped
        # file's pages count in its resident memory until the kernel needs
        # them back, which on a machine with free memory it does not (a pass
        # over a 0.94 GB file left 1.30 GB resident, 0.41 GB with the pages
        # dropped).
        copied = np.array(rows)
        _release(self._mapping, rows)
        return copied


def read_ahead(items, read):
    """``read(item)`` for each item in turn, each one read in a background
    thread while the caller works on the one before.

    At most two results are alive at a time if the caller drops each before
    asking for the next: the one it holds and the one being read.
    """
    items = list(items)
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skvae-read")
    future = pool.submit(read, items[0])
    try:
        for item in items[1:]:
            result = future.result()
            future = pool.submit(read, item)
            yield result
        result = future.result()
        yield result
    finally:
        future.cancel()
        pool.shutdown(wait=True)


def _windows(chunks, window_rows):
    """Consecutive chunks gathered into windows of at most ``window_rows``
    rows (at least one chunk each)."""
    windows, current, size = [], [], 0
    for start, stop in chunks:
        if current and size + stop - start > window_rows:
            windows.append(current)
            current, size = [], 0
        current.append((start, stop))
        size += stop - start
    if current:
        windows.append(current)
    return windows


class StreamedData:
    """Training data read from a :class:`ChunkedArray`, one window at a time.

    The interface of ``skvae._data.InMemoryData``: what ``BaseVAE._fit`` asks
    of its training data. ``held_out`` holds the sorted indices of the rows
    that early stopping holds out (None without it); ``n_kept`` is how many
    evenly spaced training rows the diagnostics (and an estimator's
    ``_after_training``) need, at most what an eighth of the budget holds.
    """

    def __init__(self, source, held_out, n_kept):
        self.source = source
        self.X = source.X
        self.held_out = held_out
        n_samples, n_features = source.shape
        self.n_train = n_samples - (0 if held_out is None else len(held_out))
        self.plan = stream_plan(n_features)
        self.chunks = source.chunk_ranges(self.plan.chunk_rows, self.plan.window_rows)
        n_kept = min(n_kept, keepable_rows(n_features, source.dtype.itemsize))
        self.kept_step = -(-self.n_train // max(1, n_kept))
        self._first_pass = None

    # The statistics that start the model are computed within this budget.
    @property
    def statistics_budget(self):
        return budget_bytes() // STATISTICS_SHARE

    def statistics(self, plan, observe=None):
        """The :class:`~skvae._data.FeatureStatistics` of the training rows
        (``plan``, its arguments), ``observe`` called on each chunk of them:
        the first pass over the data."""
        return self._pass((plan, observe)).statistics

    def head(self, n, device):
        """The first ``n`` training rows (all of them if fewer), as a float32
        tensor: read from the first chunks before the first pass (the thread
        count is timed on them), the first kept rows after it."""
        if self._first_pass is not None:
            return tensor_rows(self._first_pass.kept[:n], device)
        pieces, count = [], 0
        for start, stop in self.chunks:
            rows = self.source.read([(start, stop)])[0]
            if self.held_out is not None:
                rows = self._split(rows, start, stop)[0]
            pieces.append(rows[: n - count])
            count += pieces[-1].shape[0]
            if count >= n:
                break
        return tensor_rows(stack_rows(pieces), device)

    @property
    def kept_rows(self):
        """Every ``kept_step``-th training row, in the data's dtype."""
        return self._pass().kept

    def training(self, device):
        return TrainingStream(self, device)

    def validation(self, device):
        rows = self._pass().held_out
        return None if rows is None else training_rows(rows, device)

    def _pass(self, start=None):
        """One pass in row order: the checks of every value, the statistics
        that start the model (when ``start``, the statistics' plan and the
        function that observes the rows, or None, is given), the held-out and
        the kept rows."""
        done = self._first_pass
        if done is not None and (start is None or done.statistics is not None):
            return done
        statistics = observe = None
        if start is not None:
            plan, observe = start
            statistics = FeatureStatistics(self.n_train, **plan)
        n_held = 0 if self.held_out is None else len(self.held_out)
        held = _Gathered(n_held)
        kept = _Gathered(-(-self.n_train // self.kept_step))
        position = 0
        chunks = self.source.in_order(self.chunks, self.plan.read_rows)
        for (start_row, stop_row), rows in chunks:
            if n_held:
                rows, held_rows = self._split(rows, start_row, stop_row)
                held.add(held_rows)
            kept.add(rows[-position % self.kept_step :: self.kept_step])
            if statistics is not None:
                statistics.update(rows)
            if observe is not None:
                observe(rows)
            position += rows.shape[0]
        self._first_pass = _FirstPass(
            statistics=None if statistics is None else statistics.finish(),
            held_out=held.rows if n_held else None,
            kept=kept.rows,
        )
        return self._first_pass

    def _split(self, rows, start, stop):
        """The rows of chunk ``[start, stop)`` that train, and those held out."""
        first, last = np.searchsorted(self.held_out, [start, stop])
        if first == last:
            return rows, rows[:0]
        local = self.held_out[first:last] - start
        keep = np.ones(stop - start, dtype=bool)
        keep[local] = False
        return rows[keep], rows[local]

    def read_window(self, chunks, pinned=False):
        """The training rows of ``chunks``: a float32 tensor on the CPU (in
        pinned memory, for a copy to a GPU, if ``pinned``), or a CSR matrix
        for sparse data.

        Read a sixteenth of the budget at a time, each read copied into the
        window at once: a window in the making holds little more than itself.
        """
        held = np.zeros(len(chunks), dtype=np.int64)
        if self.held_out is not None:
            bounds = np.searchsorted(self.held_out, np.asarray(chunks))
            held = bounds[:, 1] - bounds[:, 0]
        n_rows = sum(stop - start for start, stop in chunks) - int(held.sum())
        window, values, sparse, position = None, None, [], 0
        for group in _windows(chunks, self.plan.read_rows):
            for (start, stop), rows in zip(group, self.source.read(group), strict=True):
                if self.held_out is not None:
                    rows = self._split(rows, start, stop)[0]
                if sp.issparse(rows):
                    sparse.append(rows)
                    continue
                if window is None:
                    window = torch.empty(
                        (n_rows, rows.shape[1]), dtype=torch.float32, pin_memory=pinned
                    )
                    values = window.numpy()
                values[position : position + rows.shape[0]] = rows
                position += rows.shape[0]
        return sp.vstack(sparse, format="csr") if sparse else window


class _Gathered:
    """Rows gathered from pieces into one array of ``n_rows`` rows, filled as
    the pieces come, so that no piece is kept alive (sparse pieces are
    stacked once, at the end)."""

    def __init__(self, n_rows):
        self.n_rows = n_rows
        self._dense = None
        self._sparse = []
        self._position = 0

    def add(self, rows):
        if sp.issparse(rows):
            self._sparse.append(rows)
            return
        if self._dense is None:
            self._dense = np.empty((self.n_rows, rows.shape[1]), dtype=rows.dtype)
        self._dense[self._position : self._position + rows.shape[0]] = rows
        self._position += rows.shape[0]

    @property
    def rows(self):
        if self._sparse:
            return sp.vstack(self._sparse, format="csr")
        return self._dense


class _FirstPass:
    def __init__(self, statistics, held_out, kept):
        self.statistics = statistics
        self.held_out = held_out
        self.kept = kept


class TrainingStream:
    """The training rows of a :class:`StreamedData`, served in shuffled
    batches: what ``skvae._core.training.train`` takes for data that are not
    held in memory (``len`` and ``shuffled_batches``)."""

    def __init__(self, data, device):
        self.data = data
        self.device = device

    def __len__(self):
        return self.data.n_train

    def shuffled_batches(self, batch_size, generator):
        """One epoch of batches of ``batch_size`` rows (the last one smaller):
        chunks in a random order, rows shuffled within each window of chunks,
        a batch that straddles two windows made of both.

        With one chunk, the batches are those of an in-memory epoch: the
        same permutation of the same rows, drawn from the same generator.
        """
        chunks = self.data.chunks
        if len(chunks) > 1:
            order = torch.randperm(len(chunks), generator=generator).tolist()
            chunks = [chunks[i] for i in order]
        windows = _windows(chunks, self.data.plan.window_rows)
        carry = None
        for window in read_ahead(windows, self._read):
            n = window.shape[0] if sp.issparse(window) else len(window)
            order = torch.randperm(n, generator=generator)
            if isinstance(window, torch.Tensor):
                order = order.to(window.device)
            else:
                window = Rows(window, self.device, np.float32)
            start = 0
            if carry is not None:
                start = batch_size - len(carry)
                carry = torch.cat([carry, window[order[:start]]])
                if len(carry) == batch_size:
                    yield carry
                    carry = None
            stop = start + max(0, n - start) // batch_size * batch_size
            for first in range(start, stop, batch_size):
                yield window[order[first : first + batch_size]]
            if stop < n:
                carry = window[order[stop:]]
            window = order = None  # let them go before the next window is read
        if carry is not None:
            yield carry

    def _read(self, chunks):
        # On a GPU, through pinned memory: the copy then neither blocks the
        # thread that queues the training steps nor goes through a staging
        # copy of its own.
        cuda = self.device.type == "cuda"
        window = self.data.read_window(chunks, pinned=cuda)
        if cuda and not sp.issparse(window):
            return window.to(self.device, non_blocking=True)
        return window


def blockwise(X, function, n_columns, dtype):
    """``function`` over the blocks of the Dask array X, lazily: a Dask array
    of ``n_columns`` columns (None: one value per row), in ``dtype``.

    X is rechunked so that each block holds whole rows. ``function`` travels
    in the graph once (a Delayed), not once per block.
    """
    import dask

    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    function = dask.delayed(function)
    if n_columns is None:
        return X.map_blocks(
            _apply,
            function,
            drop_axis=1,
            dtype=dtype,
            meta=np.empty((0,), dtype=dtype),
        )
    return X.map_blocks(
        _apply,
        function,
        chunks=(X.chunks[0], (n_columns,)),
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
    )


def _apply(block, function):
    return function(block)


def _mapped_file(X):
    """The ``mmap.mmap`` an ndarray's memory belongs to, or None."""
    base = X
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    return base


def _releasable_mapping(X):
    """``(mmap, its address)`` when X lies on a shared file mapping whose
    pages may be dropped from the process (they stay in the page cache, and
    a read faults them back), else None: never for a copy-on-write mapping
    (``mode='c'``), whose changed pages would be lost."""
    mapping = _mapped_file(X)
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    modes, base = set(), X
    while base is not mapping:
        if isinstance(base, np.memmap):
            modes.add(base.mode)
        base = base.base
    if not modes or not modes <= {"r", "r+", "w+"}:
        return None
    return mapping, np.frombuffer(mapping, dtype=np.uint8).ctypes.data


class _MappedFile:
    """The file under a shared memory mapping, read with plain reads.

    Copying rows out of a mapping faults its pages in a few at a time, each
    fault a small synchronous read when the pages are not in the page cache;
    a plain read of the same bytes is one large request, which the kernel
    reads ahead of. Over a 1.9 GB memmap that was not in the page cache,
    ``transform`` ran at 0.51-0.70 of its in-memory speed reading from the
    mapping and at 0.62-0.75 with plain reads (three runs of 2-4 calls each),
    and plain reads copied a cached file at 7-10 GB/s against 3-6 from the
    mapping. On a shared mapping (Linux: one page cache) both give the same
    bytes. The mapped file is identified by device and inode in
    ``/proc/self/maps``, and checked again at each read, so that a file
    renamed, deleted or replaced since is never read in its place: where it
    cannot be (other systems, a file gone), rows are copied from the mapping.
    """

    def __init__(self, path, identity, position):
        self.path = path
        self.identity = identity
        # The file position of the mapping's first byte, and its address.
        self.position = position

    @classmethod
    def of(cls, X, mapping, address):
        """The file under X's mapping, or None where it cannot be known."""
        memmap = X
        while memmap is not None and not (
            isinstance(memmap, np.memmap) and memmap.base is mapping
        ):
            memmap = memmap.base
        try:
            path = os.fspath(memmap.filename)  # a str or a path-like
            stat = os.stat(path)
        except (AttributeError, TypeError, OSError):
            return None
        identity = _mapped_identity(address)
        if identity is None or identity != _identity(stat):
            return None
        # numpy maps from the offset rounded down to the allocation granularity.
        first = memmap.offset - memmap.offset % mmap.ALLOCATIONGRANULARITY
        return cls(path, identity, (first, address))

    def read(self, rows):
        """A copy of ``rows`` (C-contiguous, within the mapping) read from the
        file, or None if the file is no longer the one mapped."""
        first, address = self.position
        out = np.empty(rows.shape, dtype=rows.dtype)
        view = memoryview(out.reshape(-1)).cast("B")
        try:
            with open(self.path, "rb", buffering=0) as file:
                if _identity(os.fstat(file.fileno())) != self.identity:
                    return None
                file.seek(rows.ctypes.data - address + first)
                done = 0
                while done < len(view):
                    n = file.readinto(view[done:])
                    if not n:
                        return None
                    done += n
        except OSError:
            return None
        return out


def _identity(stat):
    return (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)


def _mapped_identity(address):
    """``(major, minor, inode)`` of the file mapped at ``address``, from
    ``/proc/self/maps`` (Linux), or None."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                low, high = (int(a, 16) for a in fields[0].split("-"))
                if low <= address < high:
                    if len(fields) < 6 or fields[-1] == "(deleted)":
                        return None
                    major, minor = (int(n, 16) for n in fields[3].split(":"))
                    return (major, minor, int(fields[4]))
    except (OSError, ValueError, IndexError):
        return None
    return None


def _release(mapping, rows):
    """Drop the pages under ``rows`` (a view into the mapping) from the
    process's resident memory."""
    mm, address = mapping
    low = high = rows.ctypes.data
    for length, stride in zip(rows.shape, rows.strides, strict=True):
        if length == 0:
            return
        extent = stride * (length - 1)
        low, high = low + min(extent, 0), high + max(extent, 0)
    start = (low - address) // mmap.PAGESIZE * mmap.PAGESIZE
    stop = min(high + rows.itemsize - address, len(mm))
    mm.madvise(mmap.MADV_DONTNEED, start, stop - start)
