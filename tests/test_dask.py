"""Dask arrays in and out, dask-ml's Incremental, and searches on a Dask cluster."""

import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn import config_context

import skvae
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from tests.test_input import _fitted_state
from tests.test_out_of_core import FAST, TINY  # TINY MiB: 2,000 x 20 values stream

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(2000, 20)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(X):
    return GaussianVAE(2, **FAST).fit(X)


def test_skvae_imports_dask_only_when_given_a_dask_array():
    # No module-level import of dask anywhere in skvae: it stays optional.
    for path in Path(skvae.__file__).parent.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "")]
                assert not any((n or "").startswith("dask") for n in names), path


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_per_row_methods_return_dask_arrays_block_by_block(fitted, X, dtype):
    data = (X * 10).astype(dtype) if dtype == np.int64 else X.astype(dtype)
    lazy = da.from_array(data, chunks=(300, 7))  # blocks of columns too
    out_dtype = np.float32 if dtype == np.float32 else np.float64
    codes = fitted.transform(lazy)
    scores = fitted.score_samples(lazy)
    decoded = fitted.inverse_transform(codes)
    for result, shape in [(codes, (2000, 2)), (scores, (2000,)), (decoded, (2000, 20))]:
        assert isinstance(result, da.Array)
        assert result.shape == shape and result.dtype == out_dtype
        assert result.chunks[0] == lazy.chunks[0]
    np.testing.assert_allclose(codes.compute(), fitted.transform(data), rtol=1e-6)
    np.testing.assert_allclose(
        scores.compute(), fitted.score_samples(data), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        decoded.compute(), fitted.inverse_transform(fitted.transform(data)), rtol=1e-5
    )
    assert codes.compute().dtype == out_dtype
    assert fitted.score(lazy) == pytest.approx(fitted.score(data), rel=1e-6)


def test_a_lazy_result_is_computed_by_the_model_as_it_was(fitted, X):
    model = GaussianVAE(2, **FAST).fit(X)
    codes = model.transform(da.from_array(X, chunks=500))
    expected = model.transform(X)
    model.set_params(random_state=1).fit(X)
    np.testing.assert_array_equal(codes.compute(), expected)


@pytest.mark.parametrize("Estimator", [GaussianVAE, BernoulliVAE, AutoencoderGMM])
def test_fit_on_a_dask_array_within_the_budget_is_the_numpy_fit(Estimator, X):
    expected = Estimator(2, **FAST).fit(X)
    model = Estimator(2, **FAST).fit(da.from_array(X, chunks=(300, 20)))
    np.testing.assert_array_equal(model.loss_curve_, expected.loss_curve_)
    np.testing.assert_array_equal(model.transform(X), expected.transform(X))


def test_fit_beyond_the_budget_computes_each_block_once_per_pass(X):
    computed = []

    def block(values, block_info=None):
        if block_info:  # not dask's call that infers the result's type
            computed.append(block_info[None]["chunk-location"][0])
        return values

    lazy = da.from_array(X, chunks=(100, 20)).map_blocks(block, dtype=X.dtype)
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, **FAST).fit(lazy)
    # The first row, to check the shape and dtype; then the pass that counts
    # the missing values, the first pass and two epochs: every block four
    # times, and never the whole array at once.
    assert sorted(computed) == sorted([0, *[*range(20)] * 4])
    assert np.isfinite(model.loss_curve_).all() and model.early_stopping_
    assert model.n_features_in_ == 20


def test_fit_beyond_the_budget_models_missing_values(X):
    data = X.copy()
    data[::9, 3] = np.nan
    data[1999, 0] = np.nan  # in the last block only
    with config_context(working_memory=TINY):
        model = GaussianVAE(2, **FAST).fit(da.from_array(data, chunks=100))
    # As in memory: likelihood='auto' gives the columns one variance each.
    assert model.likelihoods_ == [("gaussian", list(range(20)))]
    assert model.likelihoods_ == GaussianVAE(2, **FAST).fit(data).likelihoods_
    assert np.isfinite(model.loss_curve_).all()
    codes = model.transform(da.from_array(data, chunks=500)).compute()
    assert np.isfinite(codes).all()
    np.testing.assert_allclose(codes, model.transform(data), rtol=1e-6)


def test_bad_values_in_a_block_fail_when_computed_and_change_nothing(fitted, X):
    before = _fitted_state(fitted)
    bad = X.copy()
    bad[1999, 0] = np.inf
    with (
        config_context(working_memory=TINY),
        pytest.raises(ValueError, match="Input X contains infinity"),
    ):
        fitted.fit(da.from_array(bad, chunks=500))
    assert _fitted_state(fitted) == before
    # A missing value, which the fitted full noise covariance cannot model.
    bad[1999, 0] = np.nan
    lazy = da.from_array(bad, chunks=500)
    codes = fitted.transform(lazy)  # lazy: nothing computed yet
    refused = r"1 missing value\(s\) \(NaN\).*'gaussian_full' cannot model"
    with pytest.raises(ValueError, match=refused):
        codes.compute()
    with pytest.raises(ValueError, match=refused):
        fitted.score_samples(lazy).compute()
    with (
        config_context(working_memory=TINY),
        pytest.raises(ValueError, match=refused),
    ):
        fitted.partial_fit(lazy)
    model = GaussianVAE(2, likelihood="bernoulli", **FAST).fit(X)
    scores = model.score_samples(da.from_array(X * 2, chunks=500))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        scores.compute()
    assert _fitted_state(fitted) == before


def test_what_needs_no_values_is_checked_at_once(fitted, X):
    from sklearn.exceptions import NotFittedError

    for method in ("transform", "score_samples", "inverse_transform"):
        with pytest.raises(NotFittedError):
            getattr(GaussianVAE(), method)(da.from_array(X))
    with pytest.raises(ValueError, match="X has 5 features, but GaussianVAE is"):
        fitted.transform(da.from_array(X[:, :5]))
    with pytest.raises(ValueError, match="X has 3 columns, but this GaussianVAE"):
        fitted.inverse_transform(da.zeros((4, 3)))
    with pytest.raises(ValueError, match="strings"):
        fitted.score_samples(da.from_array(X.astype(str)))
    unknown = da.from_array(X, chunks=500)
    unknown = unknown[unknown[:, 0] > 0.5]  # rows of unknown number
    assert fitted.transform(unknown).compute().shape[1] == 2
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        GaussianVAE(2, **FAST).fit(unknown)


def test_dask_ml_incremental_is_one_epoch_per_block(X):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    lazy = da.from_array(X, chunks=(500, 20))
    incremental = wrappers.Incremental(GaussianVAE(2, **FAST))
    incremental.fit(lazy)  # one pass: partial_fit on each of the 4 blocks
    assert incremental.estimator_.n_iter_ == 4
    for _ in range(2):  # more epochs: partial_fit again
        incremental.partial_fit(lazy)
    assert incremental.estimator_.n_iter_ == 12
    codes = incremental.estimator_.transform(lazy)
    assert isinstance(codes, da.Array) and codes.compute().shape == (2000, 2)


def test_grid_search_on_a_local_dask_cluster(X):
    distributed = pytest.importorskip("distributed")
    import joblib
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        GaussianVAE(**FAST), {"n_components": [1, 2]}, cv=2, error_score="raise"
    )
    with (
        distributed.Client(
            processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
        ),
        joblib.parallel_backend("dask"),
    ):
        search.fit(X[:300])
    assert search.best_params_["n_components"] in (1, 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
