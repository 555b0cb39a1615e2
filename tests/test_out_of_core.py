"""Data beyond the memory budget: fit streams them, the per-row methods read
them in chunks, and nothing changes below the budget."""

import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn import config_context

import skvae._base as base_module
import skvae._stream as stream_module
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from skvae._budget import StreamPlan
from skvae._data import FeatureStatistics, nan_mean_variance, pairwise_covariance
from skvae._stream import ChunkedArray, StreamedData, read_ahead
from tests.test_input import _fitted_state

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=2,
    n_importance_samples=2,
    device="cpu",
    random_state=0,
)
# MiB: 2,000 rows of 20 float32 values (0.15 MiB) are streamed, in windows of
# 163 rows.
TINY = 0.05


def _stream_in_one_chunk(monkeypatch):
    """Make every fit stream its data, in one chunk, one window and one
    block: the same rows, blocks and batches as the in-memory fit."""
    for module in (base_module, stream_module):
        monkeypatch.setattr(module, "exceeds_budget", lambda X: True)
        monkeypatch.setattr(module, "keepable_rows", lambda *args: 10**9)
    monkeypatch.setattr(
        stream_module, "stream_plan", lambda *args: StreamPlan(10**9, 10**9, 10**9)
    )


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(2000, 20))


@pytest.fixture
def memmap(X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


@pytest.fixture
def streamed(monkeypatch):
    """The StreamedData of each fit in the test."""
    made = []
    original = StreamedData.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(StreamedData, "__init__", init)
    return made


class Sliceable:
    """An array that only supports row slicing, as h5py and zarr datasets."""

    def __init__(self, values):
        self._values = values
        self.shape = values.shape
        self.dtype = values.dtype

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("rows are read by slices only")
        return self._values[key].copy()


def _results(model, X):
    return [
        np.asarray(model.loss_curve_),
        np.asarray(model.validation_scores_ or []),
        model.transform(X[:30]),
        model.score_samples(X[:30]),
        model.component_activity_,
    ]


def _assert_same(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("Estimator", [GaussianVAE, BernoulliVAE, AutoencoderGMM])
def test_fit_streams_data_beyond_the_budget(Estimator, memmap, streamed):
    with config_context(working_memory=TINY):
        model = Estimator(2, **FAST).fit(memmap)
        codes = model.transform(memmap)
    assert len(streamed) == 1 and len(streamed[0].chunks) > 10
    assert model.early_stopping_
    assert np.isfinite(model.loss_curve_).all()
    assert np.isfinite(model.validation_scores_).all()
    assert codes.shape == (len(memmap), 2) and np.isfinite(codes).all()
    assert np.isfinite(model.score_samples(memmap[:50])).all()


def test_below_the_budget_nothing_streams(X, memmap, streamed):
    expected = GaussianVAE(2, **FAST).fit(X)
    _assert_same(_results(GaussianVAE(2, **FAST).fit(memmap), X), _results(expected, X))
    assert not streamed


def test_every_training_row_is_served_once_per_epoch(X, monkeypatch, streamed):
    served = []
    original = stream_module.TrainingStream.shuffled_batches

    def shuffled_batches(self, batch_size, generator):
        epoch = []
        served.append(epoch)
        for batch in original(self, batch_size, generator):
            assert len(batch) <= batch_size
            epoch.append(batch[:, 0].clone())
            yield batch

    monkeypatch.setattr(
        stream_module.TrainingStream, "shuffled_batches", shuffled_batches
    )
    # Column 0 names the row.
    data = np.hstack([np.arange(len(X))[:, None] / len(X), X[:, 1:]])
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, batch_size=64, **FAST).fit(data)
    held_out = set(streamed[0].held_out.tolist())
    assert model.early_stopping_ and held_out and len(served) == 2
    for epoch in served:
        rows = torch.cat(epoch).double().mul(len(X)).round().long().tolist()
        assert sorted(rows) == sorted(set(range(len(X))) - held_out)
        assert all(len(batch) == 64 for batch in epoch[:-1])
    # A new order each epoch, and not the order of the file.
    first, second = (torch.cat(epoch) for epoch in served)
    assert not torch.equal(first, second)
    assert not torch.equal(first, first.sort().values)


ONE_CHUNK_CASES = [
    *(
        (case, GaussianVAE)
        for case in ("dense", "float32", "early stopping", "sparse", "fortran")
    ),
    ("many features", GaussianVAE),
    ("early stopping", AutoencoderGMM),  # its mixture: on the kept rows
    ("sparse", BernoulliVAE),
    # Levels read in a pass of their own, counted in the first pass; the
    # linearized start from the encoder inputs of the kept rows.
    ("columns", GaussianVAE),
]
# Real values, counts and integer codes of 4 levels.
COLUMNS = [("gaussian", [0, 1, 2]), ("poisson", [3, 4]), ("categorical", [5])]


def _mixed(rng, n_samples):
    return np.column_stack(
        [
            rng.uniform(size=(n_samples, 3)),
            rng.poisson(3.0, size=(n_samples, 2)),
            rng.randint(0, 4, size=n_samples),
        ]
    ).astype(np.float64)


@pytest.mark.parametrize(
    "case, Estimator", ONE_CHUNK_CASES, ids=lambda v: getattr(v, "__name__", v)
)
def test_a_stream_of_one_chunk_is_the_in_memory_fit(case, Estimator, monkeypatch):
    # By design: the same held-out rows, the same statistics in the same
    # blocks, and an epoch of one window is the permutation of an in-memory
    # epoch, drawn from the same generator.
    rng = np.random.RandomState(0)
    # Above 1,000 features the linear start comes from a sample of rows.
    data = rng.uniform(size=(120, 1001) if case == "many features" else (300, 12))
    data = {
        "float32": data.astype(np.float32),
        "sparse": sp.csr_matrix(data * (data > 0.5)),
        "fortran": np.asfortranarray(data),
        "columns": _mixed(rng, 300),
    }.get(case, data)
    params = dict(FAST, early_stopping=case in ("early stopping", "sparse"))
    if case == "columns":
        params["likelihood"] = COLUMNS
    expected = _results(Estimator(2, **params).fit(data), data)
    _stream_in_one_chunk(monkeypatch)
    model = Estimator(2, **params).fit(data)
    assert model.early_stopping_ == params["early_stopping"]
    _assert_same(_results(model, data), expected)


def test_a_stream_starts_the_default_model_from_its_first_pass(memmap, streamed):
    # likelihood='auto' gives 20 real columns one full covariance, started
    # from the covariance the first pass accumulates; the mixture prior
    # starts from the codes of the kept rows.
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, **FAST).fit(memmap)
    (data,) = streamed
    assert len(data.chunks) > 10 and len(data.kept_rows) < data.n_train
    assert model.likelihoods_ == [("gaussian_full", list(range(20)))]
    assert model.n_prior_components_ >= 1
    # The start's covariance is that of the training rows, not of one chunk.
    train = np.setdiff1d(np.arange(len(memmap)), data.held_out)
    statistics = data._first_pass.statistics
    dof = len(train) - 1
    covariance = (
        statistics.scatter - np.outer(statistics.sum, statistics.sum) / len(train)
    ) / dof
    np.testing.assert_allclose(covariance, np.cov(memmap[train].T), rtol=1e-9)
    assert np.isfinite(model.loss_curve_).all()


def test_levels_of_a_streamed_categorical_column_are_read_from_every_chunk(
    streamed,
):
    data = _mixed(np.random.RandomState(0), 4000)  # 96 KB as float32
    data[-1, 5] = 6  # a level that only the last chunk holds
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, likelihood=COLUMNS, **FAST).fit(Sliceable(data))
    assert len(streamed) == 1 and len(streamed[0].chunks) > 10
    in_memory = GaussianVAE(2, likelihood=COLUMNS, **FAST).fit(data)
    for fitted in (model, in_memory):
        categorical = fitted.module_.likelihood.parts()[2][0]
        assert categorical.n_levels == 7
    assert model.likelihoods_ == in_memory.likelihoods_ == COLUMNS_PLAN
    assert np.isfinite(model.loss_curve_).all()
    data[-1, 5] = 2.5
    with (
        config_context(working_memory=TINY),
        pytest.raises(ValueError, match="not category codes.*2.5"),
    ):
        GaussianVAE(2, likelihood=COLUMNS, **FAST).fit(Sliceable(data))


COLUMNS_PLAN = [(name, columns) for name, columns in COLUMNS]


def test_every_source_gives_the_same_stream(X, memmap, streamed, tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "X.h5"
    with h5py.File(path, "w") as file:
        file.create_dataset("X", data=X)
    with h5py.File(path, "r") as file, config_context(working_memory=TINY):
        fits = [
            _results(GaussianVAE(2, **FAST).fit(data), X)
            for data in (X, memmap, Sliceable(X), file["X"], sp.csr_matrix(X))
        ]
    assert len(streamed) == len(fits)
    for results in fits[1:]:
        _assert_same(results, fits[0])


def test_feature_statistics_do_not_depend_on_how_rows_arrive(X):
    rng = np.random.RandomState(1)
    cuts = np.sort(rng.choice(np.arange(1, len(X)), 30, replace=False))
    for data in (X - 0.6, sp.csr_matrix(X * (X > 0.5) - 0.5 * (X < 0.1))):
        whole = FeatureStatistics(len(X), 128, covariance=True, sample_step=7)
        pieces = FeatureStatistics(len(X), 128, covariance=True, sample_step=7)
        whole.update(data).finish()
        for rows in np.split(np.arange(len(X)), cuts):
            pieces.update(data[rows[0] : rows[-1] + 1])
        pieces.finish()
        dense = data.toarray() if sp.issparse(data) else data
        np.testing.assert_allclose(whole.mean, dense.mean(0), rtol=1e-12)
        np.testing.assert_allclose(whole.variance, dense.var(0), rtol=1e-10)
        np.testing.assert_allclose(whole.scatter, dense.T @ dense, rtol=1e-12)
        np.testing.assert_array_equal(whole.sample, dense[::7])
        np.testing.assert_array_equal(whole.max_abs, np.abs(dense).max(0))
        np.testing.assert_array_equal(pieces.max_abs, whole.max_abs)
        if sp.issparse(data):  # combined piece by piece: rounding apart
            np.testing.assert_allclose(pieces.mean, whole.mean, rtol=1e-12)
            np.testing.assert_allclose(pieces.variance, whole.variance, rtol=1e-10)
        else:
            np.testing.assert_array_equal(pieces.mean, whole.mean)
            np.testing.assert_array_equal(pieces.variance, whole.variance)
        np.testing.assert_array_equal(pieces.scatter, whole.scatter)


def _with_missing(X, seed=2):
    """X with a tenth of its entries of columns 0-9 missing, and its last
    column's only missing value in the last row (that the last chunk alone
    holds)."""
    data = X.copy()
    rng = np.random.RandomState(seed)
    data[:, :10][rng.uniform(size=(len(X), 10)) < 0.1] = np.nan
    data[-1, -1] = np.nan
    return data


def test_feature_statistics_of_the_observed_entries_in_one_pass(X):
    data = _with_missing(X)
    rng = np.random.RandomState(1)
    cuts = np.sort(rng.choice(np.arange(1, len(X)), 30, replace=False))
    whole = FeatureStatistics(len(X), 128, covariance=True, missing=True)
    pieces = FeatureStatistics(len(X), 128, covariance=True, missing=True)
    whole.update(data).finish()
    for rows in np.split(np.arange(len(X)), cuts):
        pieces.update(data[rows[0] : rows[-1] + 1])
    pieces.finish()
    # Block for block the update of nan_mean_variance, which fit in memory
    # uses; the counts of the pass.
    expected = nan_mean_variance(data, 128)
    for statistics in (whole, pieces):
        np.testing.assert_array_equal(statistics.mean, expected[0])
        np.testing.assert_array_equal(statistics.variance, expected[1])
        np.testing.assert_array_equal(statistics.missing, np.isnan(data).sum(0))
        np.testing.assert_array_equal(statistics.max_abs, np.nanmax(np.abs(data), 0))
    np.testing.assert_allclose(whole.mean, np.nanmean(data, 0), rtol=1e-12)
    np.testing.assert_allclose(whole.variance, np.nanvar(data, 0), rtol=1e-10)
    # The pairwise covariances from one pass's sums are the two passes' ones.
    means, covariance, count = pairwise_covariance(data, 128)
    for statistics in (whole, pieces):
        np.testing.assert_allclose(statistics.pairwise[0], means, rtol=1e-12)
        np.testing.assert_allclose(
            statistics.pairwise[1], covariance, rtol=1e-9, atol=1e-12
        )
        assert statistics.pairwise[2] == count
    both = ~np.isnan(data[:, 0]) & ~np.isnan(data[:, 1])
    centred = data[both][:, :2] - means[:2]
    assert whole.pairwise[1][0, 1] == pytest.approx(
        (centred[:, 0] * centred[:, 1]).sum() / (both.sum() - 1), rel=1e-9
    )
    # Without missing entries: the statistics of complete data.
    complete = FeatureStatistics(len(X), 128, covariance=True, missing=True)
    plain = FeatureStatistics(len(X), 128, covariance=True)
    complete.update(X).finish()
    plain.update(X).finish()
    np.testing.assert_allclose(complete.mean, plain.mean, rtol=1e-12)
    np.testing.assert_allclose(complete.variance, plain.variance, rtol=1e-10)
    np.testing.assert_array_equal(complete.scatter, plain.scatter)
    assert not complete.missing.any()


def test_a_stream_with_missing_values_is_fitted_as_in_memory(X, tmp_path, streamed):
    data = _with_missing(X)
    np.save(tmp_path / "missing.npy", data)
    memmap = np.load(tmp_path / "missing.npy", mmap_mode="r")
    reads = []
    original = ChunkedArray.read

    def read(self, ranges):
        reads.append(sum(stop - start for start, stop in ranges))
        return original(self, ranges)

    in_memory = GaussianVAE(2, **FAST).fit(data)
    with pytest.MonkeyPatch.context() as patch, config_context(working_memory=TINY):
        patch.setattr(ChunkedArray, "read", read)
        model = GaussianVAE(2, **FAST).fit(memmap)
        codes, scores = model.transform(memmap), model.score_samples(memmap)
    (stream,) = streamed
    assert len(stream.chunks) > 10 and max(reads) < len(data) / 4
    # likelihood='auto' saw the missing values, the last row's included: one
    # variance per column, as in memory.
    assert model.likelihoods_ == in_memory.likelihoods_
    assert model.likelihoods_ == [("gaussian", list(range(20)))]
    # The first pass counted the training rows' missing values and started
    # the model from the statistics of their observed entries.
    train = np.setdiff1d(np.arange(len(data)), stream.held_out)
    statistics = stream._first_pass.statistics
    np.testing.assert_array_equal(statistics.missing, np.isnan(data[train]).sum(0))
    np.testing.assert_allclose(statistics.mean, np.nanmean(data[train], 0), rtol=1e-6)
    np.testing.assert_allclose(
        statistics.pairwise[1],
        pairwise_covariance(data[train], 128)[1],
        rtol=1e-9,
        atol=1e-12,
    )
    assert np.isfinite(model.loss_curve_).all()
    assert np.isfinite(model.validation_scores_).all()
    assert np.isfinite(codes).all() and np.isfinite(scores).all()
    np.testing.assert_allclose(codes, model.transform(data), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores, model.score_samples(data), rtol=1e-5, atol=1e-5)


def test_a_stream_of_one_chunk_with_missing_values_is_the_in_memory_fit(X, monkeypatch):
    # The same rows, blocks and batches: only the pairwise covariances differ,
    # by rounding (one pass's sums against two passes in memory).
    data = _with_missing(X[:300, :12])
    params = dict(FAST, early_stopping=True)
    expected = _results(GaussianVAE(2, **params).fit(data), data)
    _stream_in_one_chunk(monkeypatch)
    model = GaussianVAE(2, **params).fit(data)
    assert model.early_stopping_
    for got, want in zip(_results(model, data), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_stream_refuses_missing_values_where_in_memory_data_are(X, monkeypatch):
    data = _with_missing(X)
    trained = []
    monkeypatch.setattr(base_module, "train", lambda *args, **kw: trained.append(1))
    refused = (
        rf"X has {int(np.isnan(data).sum())} missing value\(s\) \(NaN\), which "
        r"likelihood='gaussian_full' cannot model"
    )
    empty = data.copy()
    empty[:, 5] = np.nan
    with config_context(working_memory=TINY):
        with pytest.raises(ValueError, match=refused):
            GaussianVAE(2, likelihood="gaussian_full", **FAST).fit(Sliceable(data))
        with pytest.raises(ValueError, match="1 column\\(s\\) of X have no observed"):
            GaussianVAE(2, **FAST).fit(Sliceable(empty))
    assert not trained
    with pytest.raises(ValueError, match=refused):
        GaussianVAE(2, likelihood="gaussian_full", **FAST).fit(data)


def test_early_stopping_holds_out_at_most_an_eighth_of_the_budget(X, streamed):
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, validation_fraction=0.5, **FAST).fit(X)
    (data,) = streamed
    # An eighth of 0.05 MiB holds 40 rows of 20 float64 values, not the 1,000
    # that validation_fraction asks for.
    assert len(data.held_out) == 40 == len(np.unique(data.held_out))
    assert data.n_train == len(X) - 40
    assert len(model.validation_scores_) == 2


def test_warm_start_and_partial_fit_stream_too(memmap, streamed):
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, warm_start=True, **FAST).fit(memmap)
        model.fit(memmap)
        model.partial_fit(memmap)
    assert len(streamed) == 3
    assert model.n_iter_ == 5 and np.isfinite(model.loss_curve_).all()


def test_per_row_methods_read_a_memmap_in_chunks_with_the_same_results(X, memmap):
    model = GaussianVAE(2, **FAST).fit(X)
    # Under the same budget: it sets the blocks of draws that a score sums in.
    with config_context(working_memory=TINY):
        expected = model.transform(X), model.score_samples(X)
    reads = []
    original = ChunkedArray.read

    def read(self, ranges):
        reads.append(ranges)
        return original(self, ranges)

    with pytest.MonkeyPatch.context() as patch, config_context(working_memory=TINY):
        patch.setattr(ChunkedArray, "read", read)
        got = model.transform(memmap), model.score_samples(memmap)
    assert len(reads) > 10
    # Chunks of whole batches: each row is in the batch it is in memory.
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize(
    "make_bad, message",
    [
        # A missing value, which the fitted likelihood='auto' (one full noise
        # covariance, for complete data) cannot model: a new fit would model
        # it (see test_a_stream_with_missing_values_is_fitted_as_in_memory).
        (
            lambda X: np.where(np.arange(len(X))[:, None] == len(X) - 1, np.nan, X),
            r"missing value\(s\) \(NaN\).*likelihood='gaussian_full' cannot",
        ),
        (lambda X: np.where(np.arange(len(X))[:, None] == 1500, np.inf, X), "infinity"),
        (lambda X: X[:, :3], "X has 3 features, but GaussianVAE is expecting 20"),
        (lambda X: X.ravel(), "Expected 2D array"),
    ],
    ids=["nan in the last row", "inf", "features", "1-D"],
)
def test_bad_values_in_a_stream_fail_before_training_and_change_nothing(
    X, tmp_path, monkeypatch, make_bad, message
):
    model = GaussianVAE(2, **FAST).fit(X)
    before = _fitted_state(model)
    np.save(tmp_path / "bad.npy", np.ascontiguousarray(make_bad(X)))
    bad = np.load(tmp_path / "bad.npy", mmap_mode="r")
    trained = []
    monkeypatch.setattr(base_module, "train", lambda *args, **kw: trained.append(1))
    methods = ["fit", "partial_fit", "transform", "score_samples"]
    if bad.ndim == 2 and bad.shape[1] != X.shape[1]:
        methods.remove("fit")  # a new fit may change the number of features
    if bad.ndim == 2 and np.isnan(bad).any():
        methods.remove("fit")  # a new fit models the missing value
    with config_context(working_memory=TINY):
        for method in methods:
            with pytest.raises(ValueError, match=message):
                getattr(model, method)(bad)
    assert not trained
    assert _fitted_state(model) == before


def test_values_outside_the_likelihood_domain_are_refused_as_they_are_read(X):
    bad = X.copy()
    bad[-1, 0] = 2.0
    message = r"values in \[0.*, 2\]"
    with config_context(working_memory=TINY), pytest.raises(ValueError, match=message):
        GaussianVAE(2, likelihood="bernoulli", **FAST).fit(Sliceable(bad))
    model = GaussianVAE(2, likelihood="bernoulli", **FAST).fit(X)
    with config_context(working_memory=TINY), pytest.raises(ValueError, match=message):
        model.score_samples(Sliceable(bad))
    model.transform(Sliceable(bad))  # encoding needs no domain


def test_a_streamed_fit_of_a_float64_memmap_holds_little_memory(tmp_path):
    import tracemalloc

    # Enough rows that the fixed cost of the start (the mixture prior's
    # GaussianMixture, about 0.5 MB whatever the rows) stays below the bound.
    X = np.random.RandomState(0).uniform(size=(10_000, 50))
    np.save(tmp_path / "X.npy", X)
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    # A first fit imports what training imports lazily (torch's compiler
    # stack, about 60 MB of modules), which tracemalloc would count.
    GaussianVAE(2, **dict(FAST, max_iter=1)).fit(X[:200])
    with config_context(working_memory=0.2):
        tracemalloc.start()
        try:
            model = GaussianVAE(2, **dict(FAST, max_iter=1)).fit(memmap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Two windows, the held-out and kept rows, the statistics' blocks and the
    # start: about the budget (0.2 MiB) and 0.5 MB, not the float32 copy of X
    # (2 MB).
    assert peak < 0.4 * X.nbytes
    assert np.isfinite(model.loss_curve_).all()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_pages_of_a_mapped_file_are_let_go_as_they_are_read(tmp_path):
    def resident_file_pages():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("RssFile:"))
        return int(line.split()[1]) * 1024

    X = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(20_000, 500)
    )
    X[:] = 1.0
    X.flush()
    del X
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    before = resident_file_pages()
    chunked = ChunkedArray(memmap, np.float32)
    for start in range(0, 20_000, 1000):
        chunked.read([(start, start + 1000)])
    # 40 MB read, at most a chunk (2 MB) and the page tables' slack resident.
    assert resident_file_pages() - before < 8e6


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
def test_rows_of_a_mapped_file_are_read_from_that_file(tmp_path, monkeypatch):
    reads = []
    read = stream_module._MappedFile.read
    monkeypatch.setattr(
        stream_module._MappedFile,
        "read",
        lambda self, rows: reads.append(rows.shape) or read(self, rows),
    )
    X = np.random.RandomState(0).standard_normal((3000, 7)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    # A view of the file, starting 100 rows in.
    chunked = ChunkedArray(np.load(tmp_path / "X.npy", mmap_mode="r")[100:], X.dtype)
    np.testing.assert_array_equal(chunked.read([(5, 900)])[0], X[105:1000])
    assert reads == [(895, 7)]

    # Big-endian values at an offset that is not a multiple of a page,
    # written through the mapping and not flushed: a plain read sees them.
    values = np.arange(1500.0).reshape(300, 5)
    written = np.memmap(
        tmp_path / "Y", dtype=">f8", mode="w+", shape=(300, 5), offset=70_001
    )
    written[:] = values
    np.testing.assert_array_equal(
        ChunkedArray(written, np.float64).read([(3, 200)])[0], values[3:200]
    )
    assert len(reads) == 2

    # A file replaced under the same name is never read in place of the one
    # mapped: the rows come from the mapping.
    (tmp_path / "X.npy").rename(tmp_path / "old.npy")
    np.save(tmp_path / "X.npy", 2 * X)
    np.testing.assert_array_equal(chunked.read([(0, 50)])[0], X[100:150])
    assert chunked._file.read(X[:50]) is None

    # Copy-on-write mappings may hold changes the file has not: never read.
    private = np.load(tmp_path / "old.npy", mmap_mode="c")
    private[0] = 7.0
    assert ChunkedArray(private, X.dtype)._file is None


def test_a_failed_read_ahead_raises_in_the_caller_and_leaves_no_thread():
    def read(item):
        if item == 3:
            raise OSError("disk gone")
        return item

    threads = threading.active_count()
    with pytest.raises(OSError, match="disk gone"):
        list(read_ahead(range(6), read))
    items = read_ahead(range(6), read)
    assert next(items) == 0
    items.close()
    assert threading.active_count() == threads


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_stream_trains_on_the_gpu_through_pinned_memory(memmap, monkeypatch):
    pinned_windows = []
    original = stream_module.StreamedData.read_window

    def read_window(self, chunks, pinned=False):
        window = original(self, chunks, pinned)
        pinned_windows.append(window.is_pinned())
        return window

    monkeypatch.setattr(stream_module.StreamedData, "read_window", read_window)
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, **dict(FAST, device="cuda")).fit(memmap)
    assert pinned_windows and all(pinned_windows)
    assert model.device_.type == "cuda" and np.isfinite(model.loss_curve_).all()
    # The same stream from memory: the same chunks, batches and device draws.
    with config_context(working_memory=TINY):
        again = GaussianVAE(2, **dict(FAST, device="cuda")).fit(np.asarray(memmap))
    np.testing.assert_allclose(again.loss_curve_, model.loss_curve_, rtol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_data_that_fit_live_on_the_gpu_and_batches_are_taken_there(X, monkeypatch):
    trained_on = []
    original = base_module.train

    def train(model, optimizer, data, *args, **kwargs):
        trained_on.append(data)
        return original(model, optimizer, data, *args, **kwargs)

    monkeypatch.setattr(base_module, "train", train)
    model = GaussianVAE(2, **dict(FAST, device="cuda")).fit(X)
    (data,) = trained_on
    assert isinstance(data, torch.Tensor) and data.device.type == "cuda"
    assert model.device_.type == "cuda" and np.isfinite(model.loss_curve_).all()
    assert np.isfinite(model.transform(X)).all()


def test_a_stream_beyond_float32_is_refused_in_its_first_pass(X, tmp_path, streamed):
    # The largest value is read in the pass that starts the model: the
    # first chunks are fine, one value of the last one is not.
    data = X.copy()
    data[-1, 3] = 1e39
    np.save(tmp_path / "huge.npy", data)
    memmap = np.load(tmp_path / "huge.npy", mmap_mode="r")
    with config_context(working_memory=TINY):
        with pytest.raises(ValueError, match=r"column\(s\) 3 of X reach 1e\+39"):
            GaussianVAE(2, **FAST).fit(memmap)
    assert len(streamed) == 1
