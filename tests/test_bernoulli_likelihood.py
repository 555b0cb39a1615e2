"""likelihood='bernoulli' on data in [0, 1]: the properties that scikit-learn's
estimator checks cannot test for it, since their data lies outside [0, 1]."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

FAST = dict(
    likelihood="bernoulli",
    hidden_layer_sizes=(8,),
    max_iter=3,
    n_importance_samples=4,
    device="cpu",
    random_state=0,
)
ESTIMATORS = [
    GaussianVAE(2, **FAST),
    BernoulliVAE(2, **FAST),
    BernoulliVAE(2, gradient_estimator="reinforce", **FAST),
    AutoencoderGMM(2, n_mixture_components=2, **FAST),
]
METHODS = ["transform", "score_samples"]


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    return np.where(rng.uniform(size=(60, 7)) > 0.5, 1.0, rng.uniform(size=(60, 7)))


@pytest.fixture(
    params=ESTIMATORS,
    ids=lambda e: f"{type(e).__name__}-{getattr(e, 'gradient_estimator', '')}",
)
def fitted(request, X):
    return clone(request.param).fit(X)


@pytest.mark.parametrize("method", METHODS)
def test_subset_invariance(fitted, X, method):
    whole = getattr(fitted, method)(X)
    parts = np.concatenate(
        [getattr(fitted, method)(X[i : i + 7]) for i in range(0, 60, 7)]
    )
    np.testing.assert_allclose(parts, whole, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_sample_order_invariance(fitted, X, method):
    order = np.random.RandomState(1).permutation(60)
    np.testing.assert_allclose(
        getattr(fitted, method)(X[order]),
        getattr(fitted, method)(X)[order],
        rtol=1e-7,
        atol=1e-9,
    )


def test_pickle(fitted, X):
    restored = pickle.loads(pickle.dumps(fitted))
    for method in METHODS:
        np.testing.assert_array_equal(
            getattr(restored, method)(X), getattr(fitted, method)(X)
        )


def test_fit_is_idempotent_and_fit_transform_agrees(fitted, X):
    again = clone(fitted).fit(X)
    for method in METHODS:
        np.testing.assert_array_equal(
            getattr(again, method)(X), getattr(fitted, method)(X)
        )
    np.testing.assert_array_equal(clone(fitted).fit_transform(X), fitted.transform(X))


def test_dtypes_are_preserved(fitted, X):
    for dtype in (np.float32, np.float64):
        assert fitted.transform(X.astype(dtype)).dtype == dtype
        assert fitted.score_samples(X.astype(dtype)).dtype == dtype
    clone(fitted).fit(X.astype(np.float32))
    clone(fitted).fit(X.astype(np.int64) % 2)


def test_read_only_and_fortran_input(fitted, X):
    read_only = X.copy()
    read_only.flags.writeable = False
    reference = fitted.transform(X)
    np.testing.assert_array_equal(fitted.transform(read_only), reference)
    np.testing.assert_array_equal(fitted.transform(np.asfortranarray(X)), reference)
    refit = clone(fitted).fit(np.asfortranarray(X))
    np.testing.assert_array_equal(refit.transform(X), reference)


def test_one_sample_and_one_feature(fitted, X):
    if isinstance(fitted, AutoencoderGMM):
        # A mixture needs at least two codes; it says so, as sklearn's check allows.
        with pytest.raises(ValueError, match="n_samples=1"):
            clone(fitted).fit(X[:1])
    else:
        clone(fitted).fit(X[:1])
    single = clone(fitted).fit(X[:, :1])
    assert single.transform(X[:5, :1]).shape == (5, 2)


def test_fit_leaves_parameters_alone(fitted, X):
    params = fitted.get_params()
    clone(fitted).fit(X)
    assert fitted.get_params() == params
    before = dict(vars(fitted))
    fitted.transform(X)
    fitted.score_samples(X)
    assert vars(fitted).keys() == before.keys()
    assert fitted.n_features_in_ == 7 and fitted.n_iter_ >= 1
