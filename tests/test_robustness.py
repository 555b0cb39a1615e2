"""No crash and no silent NaN: threads, extreme rows, divergence."""

import threading

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=3,
    n_importance_samples=5,
    device="cpu",
    random_state=0,
)
ESTIMATORS = [
    GaussianVAE(2, **FAST),
    BernoulliVAE(3, **FAST),
    BernoulliVAE(20, **FAST),
    AutoencoderGMM(2, n_mixture_components=2, **FAST),
]


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(60, 5))


def test_autoencoder_gmm_scores_from_many_threads_as_serially(X):
    models = [
        AutoencoderGMM(2, n_mixture_components=2, **{**FAST, "random_state": seed}).fit(
            X
        )
        for seed in range(2)
    ]
    expected = [model.score_samples(X) for model in models]
    results, errors = {}, []

    def score(i):
        try:
            for _ in range(5):
                results.setdefault(i, []).append(models[i % 2].score_samples(X))
        except BaseException as error:  # noqa: BLE001 -- reported below
            errors.append(error)

    threads = [threading.Thread(target=score, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i, scores in results.items():
        for score in scores:
            np.testing.assert_array_equal(score, expected[i % 2])


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_far_from_the_data_score_finite_or_minus_inf(estimator, X, dtype):
    model = clone(estimator).fit(X)
    far = np.vstack([X[:3] * 500, X[:3] * 1e6, X[:3] * 1e30, X[:3]]).astype(dtype)
    far[-1, 0] = -10_000
    scores = model.score_samples(far)
    assert not np.isnan(scores).any()
    assert np.all(np.isfinite(scores) | (scores == -np.inf))
    # The other rows of the call are scored as alone.
    np.testing.assert_allclose(scores[:3], model.score_samples(far[:3]), rtol=1e-5)


def test_log_posterior_is_finite_when_the_variance_underflows():
    from skvae._core.latents import GaussianLatent

    latent = GaussianLatent(2)
    z_mean = torch.zeros(1, 2, dtype=torch.float64)
    z_logvar = torch.full((1, 2), -2000.0, dtype=torch.float64)
    value = latent.log_posterior(z_mean + 0.0, (z_mean, z_logvar))
    assert torch.isfinite(value).all()


def test_divergence_on_the_last_step_fails_the_fit_and_changes_nothing(X):
    from tests.test_input import _fitted_state

    # Without a validation split: nothing but the last step's state to check.
    # (The linear-plus-MLP networks stay finite, if useless, up to about 1e10.)
    model = GaussianVAE(2, **{**FAST, "early_stopping": False}).fit(X)
    before = _fitted_state(model)
    model.set_params(learning_rate=1e20, max_iter=1, batch_size=len(X))
    with pytest.raises(ValueError, match="Training diverged"):
        model.fit(X)
    settings = {**FAST, "early_stopping": False}
    model.set_params(
        **{
            k: settings.get(k, v)
            for k, v in GaussianVAE().get_params().items()
            if k != "n_components"
        }
    )
    assert _fitted_state(model) == before
    with pytest.raises(ValueError, match="Training diverged"):
        GaussianVAE(
            2,
            **{
                **FAST,
                "learning_rate": 1e20,
                "max_iter": 1,
                "batch_size": len(X),
                "early_stopping": False,
            },
        ).fit(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_draws_are_keyed_on_values_not_bytes(estimator, X):
    model = clone(estimator).set_params(n_importance_samples=10).fit(X)
    X32 = X[:10].astype(np.float32)
    # The same numbers as float32 and as float64: the same draws, so scores
    # differ only by the rounding of float32 arithmetic.
    np.testing.assert_allclose(
        model.score_samples(X32),
        model.score_samples(X32.astype(np.float64)),
        rtol=1e-4,
        atol=1e-3,
    )
    zeros = np.where(X[:10] > 0.5, X[:10], 0.0)
    np.testing.assert_array_equal(
        model.score_samples(zeros), model.score_samples(np.where(zeros, zeros, -0.0))
    )


def test_row_uniforms_depend_on_values():
    from skvae._core.noise import row_uniforms

    x = torch.tensor([[0.5, 0.0, -1.25], [0.1, 0.2, 0.3]])
    same = torch.tensor([[0.5, -0.0, -1.25]], dtype=torch.float64)
    u = row_uniforms(x, 7, 4, 3)
    assert u.dtype == torch.float64 and u.shape == (4, 2, 3)
    torch.testing.assert_close(u[:, :1], row_uniforms(same, 7, 4, 3), rtol=0, atol=0)
    assert not torch.equal(u[:, 0], u[:, 1])
    assert ((u > 0) & (u < 1)).all()


def test_float64_results_depend_on_the_batch_only_by_rounding(X):
    # The default network: BLAS sums in a different order for 1 row and 60.
    model = GaussianVAE(
        2, max_iter=1, n_importance_samples=3, device="cpu", random_state=0
    ).fit(X)
    alone = np.concatenate([model.score_samples(X[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(model.score_samples(X)[:5], alone, rtol=1e-12)
    codes = np.vstack([model.transform(X[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(model.transform(X)[:5], codes, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("estimator", ESTIMATORS[:1] + ESTIMATORS[-1:], ids=repr)
def test_values_beyond_float32_are_refused_before_training(estimator, X):
    from tests.test_input import _fitted_state

    model = clone(estimator).set_params(likelihood="gaussian").fit(X - 0.5)
    before = _fitted_state(model)
    huge = (X - 0.5) * 1e40  # finite in float64, infinite in float32
    with pytest.raises(ValueError, match=r"float32, whose largest value is 3.4e\+38"):
        model.fit(huge)
    assert _fitted_state(model) == before


@pytest.mark.parametrize("estimator", ESTIMATORS[:1] + ESTIMATORS[-1:], ids=repr)
def test_a_column_that_float32_cannot_resolve_is_refused(estimator, X):
    # 1e9 plus noise of standard deviation 0.3: float32's neighbouring values
    # there lie 64 apart, so its copy of the column would be constant.
    data = X - 0.5
    data[:, 1] += 1e9
    with pytest.raises(ValueError, match=r"Column\(s\) 1 of X vary by less than"):
        clone(estimator).set_params(likelihood="gaussian").fit(data)
    # A column constant but for float64's rounding is a constant column.
    rounded = X - 0.5
    rounded[:, 1] = -0.0709 + np.random.RandomState(1).normal(0, 1e-16, len(X))
    clone(estimator).set_params(likelihood="gaussian").fit(rounded)
    # A thousandth of its size is resolved: the model learns the column.
    data[:, 1] -= 1e9 - 1e3
    model = clone(estimator).set_params(likelihood="gaussian").fit(data)
    assert np.isfinite(model.score_samples(data)).all()


def test_a_start_beyond_float32_is_refused(X):
    # Positive values of 1e30: their variance, 1e60, has no float32 value,
    # and the lognormal's start (the variance of log x) is computed from it.
    with pytest.raises(ValueError, match="could not start its model of X"):
        GaussianVAE(2, **{**FAST, "likelihood": "lognormal"}).fit((X + 0.1) * 1e30)
    # Gaussian columns of 1e20: their variance overflows (the mixture prior's
    # start would otherwise have read NaN codes).
    huge = (X - 0.5) * 1e21
    largest = np.abs(huge).max()
    column = np.abs(huge).max(0).argmax()
    message = f"largest value, {largest:.3g}, is in column {column}"
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        AutoencoderGMM(2, n_mixture_components=2, **FAST).set_params(
            likelihood="gaussian"
        ).fit(huge)
    # Rescaled, the same data fit.
    model = GaussianVAE(2, **{**FAST, "likelihood": "lognormal"}).fit(X + 0.1)
    assert np.isfinite(model.score_samples(X + 0.1)).all()


@pytest.mark.parametrize("estimator", ESTIMATORS[:1] + ESTIMATORS[-1:], ids=repr)
def test_a_fit_that_continues_checks_its_data_too(estimator, X):
    from tests.test_input import _fitted_state

    # AutoencoderGMM trained on the constant that float32 made of such a
    # column without a word, and scored -1e17 nats per row after.
    model = clone(estimator).set_params(likelihood="gaussian").fit(X - 0.5)
    before = _fitted_state(model)
    for bad, message in [
        (X + 1e9, "vary by less than a millionth"),
        ((X - 0.5) * 1e40, "whose largest value is 3.4e"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.partial_fit(bad)
        assert _fitted_state(model) == before
    model.set_params(warm_start=True)
    with pytest.raises(ValueError, match="vary by less than a millionth"):
        model.fit(X + 1e9)
