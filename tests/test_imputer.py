"""VAEImputer: fills the missing entries only, draws for multiple imputation,
and behaves as scikit-learn's imputers do."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skvae import BernoulliVAE, GaussianVAE, VAEImputer
from tests.test_input import _fitted_state

FAST = dict(hidden_layer_sizes=(8,), max_iter=5, device="cpu")


def _imputer(**params):
    return VAEImputer(GaussianVAE(2, **FAST), n_importance_samples=50, **params)


def _fit(estimator, X, y=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X, y)


@pytest.fixture
def data(digits):
    X = digits[0][:150]
    hidden = np.random.RandomState(0).uniform(size=X.shape) < 0.3
    return X, np.where(hidden, np.nan, X), hidden


def test_only_the_missing_entries_are_filled(data):
    X, holes, hidden = data
    imputer = _fit(_imputer(random_state=0), holes)
    imputed = imputer.transform(holes)
    assert imputed.shape == X.shape and np.isfinite(imputed).all()
    np.testing.assert_array_equal(imputed[~hidden], X[~hidden])
    # The model's conditional mean, not a constant: rows differ.
    assert np.unique(imputed[hidden]).size > 100
    # A row's imputation depends on that row alone (beyond the rounding of
    # matrix products).
    np.testing.assert_allclose(
        imputer.transform(holes[5:9]), imputed[5:9], rtol=1e-12, atol=1e-15
    )
    np.testing.assert_array_equal(imputer.fit_transform(holes), imputed)
    assert imputer.transform(holes.astype(np.float32)).dtype == np.float32


def test_the_same_seed_gives_the_same_imputations(data):
    _, holes, _ = data
    first = _fit(_imputer(random_state=3), holes).transform(holes)
    second = _fit(_imputer(random_state=3), holes).transform(holes)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(
        first, _fit(_imputer(random_state=4), holes).transform(holes)
    )


def test_draws_differ_and_average_to_the_mean(data):
    _, holes, _ = data
    row = holes[:1]
    mean_imputer = _fit(_imputer(random_state=0), holes)
    mean = mean_imputer.transform(row)
    drawer = clone(mean_imputer).set_params(sample_posterior=True)
    drawer = _fit(drawer, holes)
    # The same model and the same importance draws behind both.
    np.testing.assert_array_equal(
        drawer.set_params(sample_posterior=False).transform(row), mean
    )
    drawer.set_params(sample_posterior=True)
    copies = np.repeat(row, 4000, axis=0)
    draws = drawer.transform(copies)
    missing = np.isnan(row[0])
    np.testing.assert_array_equal(draws[:, ~missing], copies[:, ~missing])
    assert np.unique(draws[:, missing][:, 0]).size > 100
    # Each call draws anew.
    assert not np.array_equal(drawer.transform(row), drawer.transform(row))
    spread = draws[:, missing].std(0)
    error = np.abs(draws[:, missing].mean(0) - mean[0, missing])
    assert (error < 4 * spread / np.sqrt(len(copies)) + 1e-3).all()


def test_indicator_empty_features_and_names(data):
    X, holes, hidden = data
    holes = holes.copy()
    holes[:, 4] = np.nan
    frame = pd.DataFrame(holes, columns=[f"p{i}" for i in range(64)])
    dropped = _fit(_imputer(random_state=0, add_indicator=True), frame)
    out = dropped.transform(frame)
    with_missing = np.flatnonzero(np.isnan(holes).any(0))
    assert out.shape == (150, 63 + len(with_missing))
    np.testing.assert_array_equal(out[:, 63:], np.isnan(holes[:, with_missing]))
    names = dropped.get_feature_names_out()
    assert (
        "p4" not in names[:63] and names[63] == f"missingindicator_p{with_missing[0]}"
    )
    kept = _fit(_imputer(random_state=0, keep_empty_features=True), frame)
    out = kept.transform(frame)
    assert out.shape == (150, 64) and (out[:, 4] == 0).all()
    assert list(kept.get_feature_names_out()) == list(frame.columns)
    assert (
        kept.set_output(transform="pandas").transform(frame).columns == frame.columns
    ).all()


def test_other_missing_value_markers(data):
    X, holes, hidden = data
    marked = np.where(hidden, -1.0, X)
    imputer = _fit(_imputer(random_state=0, missing_values=-1), marked)
    imputed = imputer.transform(marked)
    np.testing.assert_array_equal(imputed[~hidden], X[~hidden])
    assert (imputed[hidden] != -1).all()
    np.testing.assert_array_equal(
        imputed, _fit(_imputer(random_state=0), holes).transform(holes)
    )
    with pytest.raises(ValueError, match="NaN"):
        imputer.transform(holes)


def test_any_skvae_model_and_the_self_masking_one(binary_digits):
    X = binary_digits[0][:100]
    hidden = np.random.RandomState(1).uniform(size=X.shape) < 0.3
    holes = np.where(hidden, np.nan, X)
    for model in (
        BernoulliVAE(3, likelihood="bernoulli", **FAST),
        GaussianVAE(2, likelihood="bernoulli", missingness="self_masking", **FAST),
    ):
        for sample in (False, True):
            imputer = VAEImputer(
                model, n_importance_samples=20, sample_posterior=sample, random_state=0
            )
            imputed = _fit(imputer, holes).transform(holes)
            assert np.isfinite(imputed).all()
            assert ((imputed >= 0) & (imputed <= 1)).all()
            np.testing.assert_array_equal(imputed[~hidden], X[~hidden])


def test_goes_where_scikit_learns_imputers_go(data, digits):
    _, holes, _ = data
    y = digits[1][:150]
    for imputer in (_imputer(random_state=0), IterativeImputer(max_iter=2)):
        pipeline = _fit(
            make_pipeline(imputer, LogisticRegression(max_iter=200)), holes, y
        )
        assert pipeline.score(holes, y) > 0.5
    fitted = _fit(_imputer(random_state=0), holes)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(holes), fitted.transform(holes))
    sio = pytest.importorskip("skops.io")
    payload = sio.dumps(fitted)
    untrusted = sio.get_untrusted_types(data=payload)
    assert untrusted == ["skvae._gaussian.GaussianVAE", "skvae._imputer.VAEImputer"]
    restored = sio.loads(payload, trusted=untrusted)
    np.testing.assert_array_equal(restored.transform(holes), fitted.transform(holes))


def test_errors_and_a_failed_call_changes_nothing(data):
    _, holes, _ = data
    with pytest.raises(ValueError, match="Every entry of X is missing"):
        _imputer().fit(np.full((5, 3), np.nan))
    with pytest.raises(TypeError, match="must be a GaussianVAE"):
        VAEImputer(IterativeImputer()).fit(holes)
    fitted = _fit(_imputer(random_state=0), holes)
    before = _fitted_state(fitted)
    bad = holes.copy()
    bad[0, 0] = np.inf
    for call in (fitted.fit, fitted.transform):
        with pytest.raises(ValueError, match="infinity"):
            call(bad)
    with pytest.raises(ValueError, match="X has 3 features"):
        fitted.transform(holes[:, :3])
    assert _fitted_state(fitted) == before
