"""AutoencoderGMM: training, the mixture on the codes, the score, sampling."""

import copy
import math
import pickle

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture
from sklearn.utils._param_validation import InvalidParameterError

from skvae import AutoencoderGMM

FAST = dict(hidden_layer_sizes=(16,), max_iter=3, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def digits_model(digits):
    """A small model of 300 digits, with its data."""
    X = digits[0][:300]
    model = AutoencoderGMM(
        4, likelihood="bernoulli", n_mixture_components=3, **{**FAST, "max_iter": 10}
    ).fit(X)
    return model, X


def test_training_reduces_reconstruction_error(digits):
    X = digits[0][:300]

    def reconstruction_error(max_iter):
        model = AutoencoderGMM(
            4,
            likelihood="bernoulli",
            learning_rate=1e-2,
            batch_size=50,
            **{**FAST, "max_iter": max_iter},
        ).fit(X)
        return np.mean((model.inverse_transform(model.transform(X)) - X) ** 2), model

    error_1, _ = reconstruction_error(1)
    error_20, model = reconstruction_error(20)
    # Below half of the error of one epoch (which is about the variance of X).
    assert error_20 < 0.5 * error_1
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_no_kl_parameters():
    params = AutoencoderGMM().get_params()
    assert "beta" not in params and "kl_warmup_steps" not in params
    assert params["n_mixture_components"] == 10


def test_the_loss_is_the_reconstruction_alone(digits):
    model = AutoencoderGMM(2, n_mixture_components=2, **FAST).fit(digits[0][:100])
    assert model.kl_curve_ == [0.0] * model.n_iter_
    assert model.loss_curve_ == [-r for r in model.reconstruction_curve_]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_mixture_is_fitted_on_the_codes(digits, covariance_type):
    X = digits[0][:200]
    model = AutoencoderGMM(
        3,
        likelihood="bernoulli",
        n_mixture_components=4,
        mixture_covariance_type=covariance_type,
        mixture_reg_covar=1e-3,
        **FAST,
    ).fit(X)
    mixture = model.mixture_
    assert isinstance(mixture, GaussianMixture)
    assert mixture.n_components == 4
    assert mixture.covariance_type == covariance_type
    assert mixture.reg_covar == 1e-3
    assert mixture.means_.shape == (4, 3)
    # The torch prior that scores and samples is the fitted mixture.
    codes = model.transform(X)
    log_prior = model.module_.latent.log_prior(torch.as_tensor(codes).float())
    np.testing.assert_allclose(
        log_prior.numpy(), mixture.score_samples(codes), rtol=1e-4, atol=1e-4
    )


def test_random_state_reaches_the_mixture(digits):
    X = digits[0][:200]

    def mixture(random_state):
        params = dict(FAST, random_state=random_state)
        return AutoencoderGMM(likelihood="bernoulli", **params).fit(X).mixture_

    first, again, other = mixture(0), mixture(0), mixture(1)
    assert isinstance(first.random_state, int)
    assert first.random_state == again.random_state != other.random_state
    np.testing.assert_array_equal(first.means_, again.means_)


def test_score_is_exact_for_a_linear_gaussian_model(make_linear_gaussian):
    # Linear decoder, Gaussian likelihood and one Gaussian prior: p(x) is
    # Gaussian and so is p(z|x), which the Laplace approximation then finds
    # exactly, so a single importance draw gives log p(x) itself.
    X, _, _ = make_linear_gaussian(300)
    model = AutoencoderGMM(
        2,
        likelihood="gaussian",
        n_mixture_components=1,
        n_importance_samples=1,
        **{**FAST, "hidden_layer_sizes": (), "max_iter": 20},
    ).fit(X)
    # The float64 model that scores float64 input.
    module = copy.deepcopy(model.module_).double()
    with torch.no_grad():
        A = module.decoder.linear.weight.numpy()
        b = module.decoder.linear.bias.numpy()
        variance = module.likelihood.variance().numpy()
        mean = module.latent.prior_means[0].numpy()
        scale_tril = module.latent.prior_scale_tril[0].numpy()
    covariance = A @ scale_tril @ scale_tril.T @ A.T + np.diag(variance)
    expected = multivariate_normal(A @ mean + b, covariance).logpdf(X[:50])
    np.testing.assert_allclose(model.score_samples(X[:50]), expected, rtol=1e-7)


def test_score_converges_to_numerical_integral():
    # One latent dimension: log p(x) = log integral p(x|decoder(z)) p(z) dz on
    # a fine grid. A weak likelihood and three mixture components make p(z|x)
    # multimodal, which a Laplace approximation alone would miss.
    rng = np.random.RandomState(0)
    t = rng.uniform(-2, 2, 200)
    X = np.c_[np.sin(t), np.cos(t), t / 2] + 0.1 * rng.normal(size=(200, 3))
    model = AutoencoderGMM(
        1, activation="tanh", n_mixture_components=3, **{**FAST, "max_iter": 30}
    ).fit(X)
    module = copy.deepcopy(model.module_).double().eval()
    spread = 10 * np.sqrt(model.mixture_.covariances_.max())
    low = min(model.mixture_.means_.min() - spread, model.transform(X).min() - 1)
    high = max(model.mixture_.means_.max() + spread, model.transform(X).max() + 1)
    grid = torch.linspace(low, high, 100_001, dtype=torch.float64)[:, None]
    x = torch.as_tensor(X[:20])
    with torch.no_grad():
        log_joint = module.likelihood.log_prob(
            x[:, None, :], module.decode(grid)
        ) + module.latent.log_prior(grid)
    exact = (torch.logsumexp(log_joint, 1) + math.log(grid[1, 0] - grid[0, 0])).numpy()

    errors = {}
    for n_draws in (10, 100, 10_000):
        model.set_params(n_importance_samples=n_draws)
        errors[n_draws] = np.abs(model.score_samples(X[:20]) - exact).mean()
    assert errors[10_000] < errors[100] < errors[10]
    assert errors[10_000] < 0.02


def test_sample(digits_model):
    model, X = digits_model
    samples = model.sample(5)
    assert samples.shape == (5, X.shape[1]) and samples.dtype == np.float64
    np.testing.assert_array_equal(samples, model.sample(5))
    assert not np.array_equal(model.sample(5, random_state=1), samples)
    means = model.sample(5, noise=False)
    assert np.all((means > 0) & (means < 1))


def test_prior_sample_follows_the_mixture(digits_model):
    model, _ = digits_model
    mixture = model.mixture_
    generator = torch.Generator().manual_seed(0)
    z = model.module_.latent.prior_sample(20_000, generator).double().numpy()
    np.testing.assert_allclose(
        z.mean(0), mixture.weights_ @ mixture.means_, atol=0.05 * z.std()
    )


def test_pickle_round_trip(digits_model):
    model, X = digits_model
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.score_samples(X), model.score_samples(X))
    np.testing.assert_array_equal(restored.sample(3), model.sample(3))
    np.testing.assert_array_equal(restored.mixture_.means_, model.mixture_.means_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes(digits_model, dtype):
    model, X = digits_model
    X = X.astype(dtype)
    assert model.transform(X).dtype == dtype
    assert model.inverse_transform(model.transform(X)).dtype == dtype
    scores = model.score_samples(X)
    assert scores.dtype == dtype and np.all(np.isfinite(scores))


def test_too_few_rows_for_the_mixture_leave_the_model_unchanged(digits):
    X = digits[0][:50]
    model = AutoencoderGMM(n_mixture_components=10, **FAST)
    with pytest.raises(
        ValueError,
        match="n_mixture_components=10 it needs at least 10 rows, got n_samples=5",
    ):
        model.fit(X[:5])
    assert not hasattr(model, "module_")
    model.partial_fit(X)
    state = model.module_.state_dict()
    with pytest.raises(ValueError, match="n_samples=5"):
        model.partial_fit(X[:5])
    assert model.n_iter_ == 1
    for name, tensor in model.module_.state_dict().items():
        torch.testing.assert_close(tensor, state[name])
    # A mixture, even of one Gaussian, is not fitted on one row.
    with pytest.raises(ValueError, match="at least 2 rows, got n_samples=1"):
        AutoencoderGMM(n_mixture_components=1, **FAST).fit(X[:1])


@pytest.mark.parametrize(
    "params",
    [
        dict(n_mixture_components=0),
        dict(mixture_covariance_type="full-rank"),
        dict(mixture_reg_covar=0.0),
    ],
)
def test_invalid_mixture_parameters(digits, params):
    with pytest.raises(InvalidParameterError):
        AutoencoderGMM(**params, **FAST).fit(digits[0][:50])


def test_partial_fit_refits_the_mixture_on_the_last_chunk(digits):
    # With one component the mixture's mean is the mean of the codes it was
    # fitted on: those of the last chunk, under the encoder after that chunk.
    X = digits[0][:300]
    model = AutoencoderGMM(n_mixture_components=1, **FAST)
    for chunk in (X[:100], X[100:200], X[200:]):
        model.partial_fit(chunk)
        np.testing.assert_allclose(
            model.mixture_.means_[0], model.transform(chunk).mean(0), rtol=1e-6
        )
    assert model.n_iter_ == 3
    assert not np.allclose(model.mixture_.means_[0], model.transform(X).mean(0))


def test_too_few_rows_after_the_split_are_counted_and_refused_before_training(
    digits, monkeypatch
):
    from skvae._core import training

    trained = []
    monkeypatch.setattr(training, "train", lambda *a, **k: trained.append(1))
    model = AutoencoderGMM(
        n_mixture_components=10, early_stopping=True, validation_fraction=0.5, **FAST
    )
    with pytest.raises(
        ValueError,
        match=r"got n_samples=7 \(early_stopping=True "
        r"holds out 7 of the 14 rows",
    ):
        model.fit(digits[0][:14])
    assert not trained and not hasattr(model, "module_")


def test_mixture_failure_names_our_parameters(digits, monkeypatch):
    def fail(self, X, y=None):
        raise ValueError("Fitting the mixture model failed ... increase reg_covar")

    monkeypatch.setattr(GaussianMixture, "fit", fail)
    with pytest.raises(ValueError, match="Increase mixture_reg_covar"):
        AutoencoderGMM(n_mixture_components=2, **FAST).fit(digits[0][:50])


@pytest.mark.parametrize("value", [1e300, True])
def test_mixture_parameters_torch_cannot_hold_are_refused(digits, value):
    key = "mixture_reg_covar" if value is not True else "n_mixture_components"
    with pytest.raises(InvalidParameterError, match=key):
        AutoencoderGMM(**{key: value}, **FAST).fit(digits[0][:50])
