"""Property-based: any small input either fails clearly or gives finite output."""

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from tests.test_input import _fitted_state

SPECIAL = [0.0, -0.0, 1.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 1e-30]
ESTIMATORS = [GaussianVAE, BernoulliVAE, AutoencoderGMM]


@st.composite
def problems(draw):
    estimator = draw(st.sampled_from(ESTIMATORS))
    params = dict(
        n_components=draw(st.integers(1, 3)),
        hidden_layer_sizes=draw(st.sampled_from([(), (4,), (4, 3)])),
        likelihood=draw(st.sampled_from(["gaussian", "bernoulli"])),
        n_importance_samples=draw(st.integers(1, 6)),
        batch_size=draw(st.sampled_from(["auto", 1, 7])),
        learning_rate=draw(st.sampled_from([1e-3, 1e-1, 10.0])),
        max_iter=draw(st.integers(1, 2)),
        early_stopping=draw(st.booleans()),
        device="cpu",
        random_state=0,
    )
    if estimator is AutoencoderGMM:
        params["n_mixture_components"] = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 4)))
    elements = st.one_of(
        st.floats(0, 1, width=32), st.sampled_from(SPECIAL), st.floats(-1e6, 1e6)
    )
    X = draw(arrays(dtype, shape, elements=elements))
    return estimator(**params), X


def _finite_or_minus_inf(values):
    return not np.isnan(values).any() and not (values == np.inf).any()


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(problems())
def test_fails_clearly_or_gives_finite_results(problem):
    estimator, X = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator.fit(X)
        except (ValueError, TypeError) as error:
            assert str(error)
            assert not hasattr(estimator, "module_")
            return
        n_samples, n_features = X.shape
        before = _fitted_state(estimator)
        codes = estimator.transform(X)
        assert codes.shape == (n_samples, estimator.n_components)
        assert codes.dtype == X.dtype and np.isfinite(codes).all()
        scores = estimator.score_samples(X)
        assert scores.shape == (n_samples,) and scores.dtype == X.dtype
        assert _finite_or_minus_inf(scores)
        samples = estimator.sample(3)
        assert samples.shape == (3, n_features) and np.isfinite(samples).all()
        try:
            estimator.partial_fit(X[::-1] * 1e3)
        except (ValueError, TypeError) as error:
            assert str(error)
            assert _fitted_state(estimator) == before
