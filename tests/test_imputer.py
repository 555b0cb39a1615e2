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


def _coded_table(n=300, seed=0):
    """A number that is twice a hidden level plus noise, and the level as
    an integer code 0, 1, 2."""
    rng = np.random.RandomState(seed)
    level = rng.randint(0, 3, n)
    X = np.column_stack([2.0 * level + 0.2 * rng.randn(n), level]).astype(float)
    return X, level


def test_a_coded_category_is_filled_with_a_level():
    # An average of integer codes is no level (halfway between two codes);
    # the imputer fills in the most probable level given the row.
    X, level = _coded_table()
    hidden = np.random.RandomState(1).uniform(size=len(X)) < 0.3
    holes = X.copy()
    holes[hidden, 1] = np.nan
    model = GaussianVAE(
        1,
        likelihood=[("gaussian", [0]), ("categorical", [1])],
        hidden_layer_sizes=(16,),
        max_iter=200,
        device="cpu",
        random_state=0,
    )
    imputer = _fit(VAEImputer(model, n_importance_samples=50, random_state=0), holes)
    for sample, accuracy in ((False, 0.9), (True, 0.5)):
        # transform reads sample_posterior: one fit serves both.
        imputed = imputer.set_params(sample_posterior=sample).transform(holes)
        imputed = imputed[hidden, 1]
        assert set(np.unique(imputed)) <= {0.0, 1.0, 2.0}
        # The number tells the level apart (levels 2 apart, noise 0.2); draws
        # of the level are right more often than chance (1/3).
        assert np.mean(imputed == level[hidden]) > accuracy


def test_a_one_hot_group_is_filled_with_its_levels_probabilities():
    X, level = _coded_table()
    X = np.column_stack([X[:, :1], np.eye(3)[level]])
    hidden = np.random.RandomState(1).uniform(size=len(X)) < 0.3
    holes = X.copy()
    holes[hidden, 1:] = np.nan
    model = GaussianVAE(
        1,
        likelihood=[("gaussian", [0]), ("categorical", [1, 2, 3])],
        hidden_layer_sizes=(16,),
        max_iter=200,
        device="cpu",
        random_state=0,
    )
    # A fixed random_state: without one, the imputer seeds the model afresh
    # in each run, and about one seed in sixteen stops this small model at
    # its start (0.40 right).
    imputer = VAEImputer(model, n_importance_samples=50, random_state=0)
    imputed = _fit(imputer, holes).transform(holes)
    probabilities = imputed[hidden, 1:]
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    assert np.mean(probabilities.argmax(1) == level[hidden]) > 0.9


def test_a_row_no_draw_explains_gets_the_draws_plain_average(data, monkeypatch):
    # Where every importance weight of a row is 0, the weighted average is
    # 0/0: the row gets the unweighted average of the draws' means, in the
    # data's units (not what the encoder reads for a missing entry).
    import torch

    from skvae._core import scoring

    X, holes, hidden = data
    imputer = _fit(_imputer(), holes)
    draws = scoring.weighted_draws

    def unexplained_first_row(model, x, noise, max_bytes=None):
        for log_weights, out in draws(model, x, noise, max_bytes):
            log_weights = log_weights.clone()
            log_weights[:, 0] = -torch.inf
            yield log_weights, out

    expected = {}
    original = scoring.conditional_mean

    def spy(model, x, noise, max_bytes=None):
        means = [model.missing_terms(out)[:, 0] for _, out in draws(model, x, noise)]
        expected["row"] = torch.cat(means).mean(0)
        return original(model, x, noise, max_bytes)

    monkeypatch.setattr(scoring, "weighted_draws", unexplained_first_row)
    row = holes[:1]
    monkeypatch.setattr("skvae._base.conditional_mean", spy)
    imputed = imputer.transform(row)[0]
    assert np.isfinite(imputed).all()
    missing = np.isnan(row[0])
    np.testing.assert_allclose(
        imputed[missing], expected["row"].numpy()[missing], rtol=1e-4, atol=1e-6
    )


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
