"""likelihood='gaussian_full': one full noise covariance, against closed forms."""

import copy
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from skvae import GaussianVAE
from skvae._core.likelihoods import FullGaussianLikelihood, FullLogNormalLikelihood


def _covariance(n_features, seed=0):
    rng = np.random.RandomState(seed)
    A = rng.normal(size=(n_features, n_features))
    return A @ A.T / n_features + 0.1 * np.eye(n_features)


def _likelihood(covariance):
    likelihood = FullGaussianLikelihood(len(covariance)).double()
    likelihood.set_covariance(torch.tensor(covariance))
    return likelihood


def test_log_prob_matches_scipy():
    covariance = _covariance(4)
    likelihood = _likelihood(covariance)
    rng = np.random.RandomState(1)
    x, out = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    expected = [
        multivariate_normal(o, covariance).logpdf(row)
        for row, o in zip(x, out, strict=True)
    ]
    got = likelihood.log_prob(torch.tensor(x), torch.tensor(out))
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=1e-10)
    # Every (row, output) pair, as the exact Bernoulli score needs them.
    pairs = likelihood.log_prob_pairs(torch.tensor(x), torch.tensor(out))
    expected_pairs = [
        [multivariate_normal(o, covariance).logpdf(row) for o in out] for row in x
    ]
    np.testing.assert_allclose(pairs.detach().numpy(), expected_pairs, rtol=1e-10)


def test_samples_have_the_covariance():
    covariance = _covariance(3)
    likelihood = _likelihood(covariance)
    generator = torch.Generator().manual_seed(0)
    out = torch.zeros(100_000, 3, dtype=torch.float64)
    draws = likelihood.sample(out, generator).detach().numpy()
    np.testing.assert_allclose(np.cov(draws.T), covariance, atol=0.02)


def test_each_variance_given_the_others_is_floored_by_min_variance():
    likelihood = FullGaussianLikelihood(2, min_variance=1e-4).double()
    likelihood.set_covariance(torch.tensor(1e-12 * np.eye(2)))
    # Each conditional variance is at least the floor (twice it, as set), so
    # the density at the mean is bounded.
    at_mean = likelihood.log_prob(torch.zeros(1, 2, dtype=torch.float64), 0.0)
    assert at_mean.item() == pytest.approx(-np.log(2 * np.pi) + np.log(0.5e4))
    assert (likelihood.variance() >= 1e-4).all()


def test_a_linear_model_starts_at_the_data_covariance():
    # x = 4 features, two of them nearly the same: a full covariance captures
    # what a diagonal noise cannot. The untrained linear model is the data's
    # Gaussian, so its score is that Gaussian's log-likelihood.
    rng = np.random.RandomState(0)
    z = rng.normal(size=(500, 3))
    X = np.column_stack([z, z[:, 0] + 0.01 * rng.normal(size=500)])
    params = dict(
        hidden_layer_sizes=(),
        n_prior_components=1,
        max_iter=1,
        learning_rate=1e-12,
        early_stopping=False,
        n_importance_samples=50,
        device="cpu",
        random_state=0,
    )
    full = GaussianVAE(1, likelihood="gaussian_full", **params).fit(X)
    diagonal = GaussianVAE(1, likelihood="gaussian", **params).fit(X)
    gaussian = multivariate_normal(X.mean(0), np.cov(X.T)).logpdf(X).mean()
    assert full.score(X) == pytest.approx(gaussian, abs=0.02)
    assert diagonal.score(X) < gaussian - 1.0


def test_auto_gives_a_full_covariance_where_it_is_affordable():
    rng = np.random.RandomState(0)
    params = dict(hidden_layer_sizes=(), max_iter=1, device="cpu", random_state=0)
    # Few columns, rows to spare: one full covariance.
    vae = GaussianVAE(1, **params).fit(rng.normal(size=(40, 5)))
    assert vae.likelihoods_ == [("gaussian_full", [0, 1, 2, 3, 4])]
    # No more rows than twice the columns: a covariance without full rank.
    vae = GaussianVAE(1, **params).fit(rng.normal(size=(20, 10)))
    assert vae.likelihoods_ == [("gaussian", list(range(10)))]
    # More than 100 columns: the diagonal one.
    vae = GaussianVAE(1, **params).fit(rng.normal(size=(300, 101)))
    assert vae.likelihoods_ == [("gaussian", list(range(101)))]


def test_autoencoder_gmm_scores_a_full_covariance_exactly(make_linear_gaussian):
    # Linear decoder, full noise covariance and one Gaussian prior: p(x) is
    # Gaussian, and so is p(z|x), which the Laplace approximation (with the
    # full covariance's Gauss-Newton curvature) finds exactly: one importance
    # draw gives log p(x) itself.
    from skvae import AutoencoderGMM

    X, _, _ = make_linear_gaussian(300)
    model = AutoencoderGMM(
        2,
        likelihood="gaussian_full",
        n_mixture_components=1,
        n_importance_samples=1,
        hidden_layer_sizes=(),
        max_iter=20,
        device="cpu",
        random_state=0,
    ).fit(X)
    module = copy.deepcopy(model.module_).double()
    with torch.no_grad():
        A = module.decoder.linear.weight.numpy()
        b = module.decoder.linear.bias.numpy()
        factor, _ = module.likelihood._factor()
        noise = np.linalg.inv(factor.numpy() @ factor.numpy().T)
        np.testing.assert_allclose(np.diag(noise), module.likelihood.variance())
        mean = module.latent.prior_means[0].numpy()
        scale_tril = module.latent.prior_scale_tril[0].numpy()
    covariance = A @ scale_tril @ scale_tril.T @ A.T + noise
    expected = multivariate_normal(A @ mean + b, covariance).logpdf(X[:50])
    np.testing.assert_allclose(model.score_samples(X[:50]), expected, rtol=1e-7)


def test_lognormal_full_is_the_full_gaussian_of_log_x():
    covariance = _covariance(3, seed=2)
    likelihood = FullLogNormalLikelihood(3).double()
    likelihood.set_covariance(torch.tensor(covariance))
    rng = np.random.RandomState(3)
    x, out = np.exp(rng.normal(size=(4, 3))), rng.normal(size=(4, 3))
    log_x = np.log(x)
    expected = [
        multivariate_normal(o, covariance).logpdf(row) - row.sum()
        for row, o in zip(log_x, out, strict=True)
    ]
    x, out = torch.tensor(x), torch.tensor(out)
    with torch.no_grad():
        np.testing.assert_allclose(likelihood.log_prob(x, out), expected, rtol=1e-10)
        elements = likelihood.log_prob_elements(x, out).sum(-1)
        np.testing.assert_allclose(elements, expected, rtol=1e-10)
        pairs = likelihood.log_prob_pairs(x, out)
        broadcast = likelihood.log_prob(x[:, None, :], out[None, :, :])
        np.testing.assert_allclose(pairs, broadcast, rtol=1e-10)
        # Draws: log x has the covariance; x has the lognormal marginals' mean.
        generator = torch.Generator().manual_seed(0)
        centre = out[:1].expand(200_000, 3)
        draws = likelihood.sample(centre, generator).numpy()
        mean = likelihood.mean(out[:1]).numpy()[0]
    np.testing.assert_allclose(np.cov(np.log(draws).T), covariance, atol=0.02)
    np.testing.assert_allclose(draws.mean(0), mean, rtol=0.02)
    np.testing.assert_allclose(mean, np.exp(out[0].numpy() + np.diag(covariance) / 2))


def test_lognormal_full_learns_what_positive_columns_share():
    # Two pairs of nearly proportional positive measurements: one latent
    # component can take one pair's shared direction, not both; a covariance
    # of log x takes the other. Within a per-column plan, as a mixed table
    # gives it.
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(2, 300))
    near = 0.05 * rng.normal(size=(2, 300))
    log_x = np.column_stack([a, a + near[0], b, b + near[1]])
    counts = rng.poisson(np.exp(0.5 * a))
    X = np.column_stack([np.exp(log_x), counts])
    params = dict(
        hidden_layer_sizes=(), max_iter=60, early_stopping=False, random_state=0
    )
    scores = {}
    for name in ("lognormal", "lognormal_full"):
        plan = [(name, [0, 1, 2, 3]), ("poisson", [4])]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GaussianVAE(1, likelihood=plan, **params).fit(X)
        assert model.likelihoods_[0] == (name, [0, 1, 2, 3])
        assert np.all(model.sample(50, random_state=0)[:, :4] > 0)
        scores[name] = model.score(X)
    assert scores["lognormal_full"] > scores["lognormal"] + 1.0
    with pytest.raises(ValueError, match="Use likelihood='lognormal' "):
        X_missing = X[:, :4].copy()
        X_missing[0, 0] = np.nan
        GaussianVAE(1, likelihood="lognormal_full", **params).fit(X_missing)


def test_a_full_part_of_a_plan_starts_at_its_columns_covariance():
    # A per-column plan starts at probabilistic PCA of its encoder inputs,
    # linearized; its 'gaussian_full' part starts at what the components
    # leave of its columns' covariance, so that with a linear decoder the
    # untrained model's covariance of those columns is the data's.
    rng = np.random.RandomState(0)
    z = rng.normal(size=(400, 3))
    numbers = np.column_stack([z, z[:, 0] + 0.01 * rng.normal(size=400)])
    X = np.column_stack([numbers, (z[:, 1] > 0).astype(float)])
    model = GaussianVAE(
        1,
        likelihood=[("gaussian_full", [0, 1, 2, 3]), ("categorical", [4])],
        hidden_layer_sizes=(),
        n_prior_components=1,
        max_iter=1,
        learning_rate=1e-12,
        early_stopping=False,
        device="cpu",
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    module = copy.deepcopy(model.module_).double()
    full = module.likelihood.likelihoods[0]
    with torch.no_grad():
        weight = module.decoder.linear.weight[:4].numpy()
        factor, _ = full._factor()
        noise = np.linalg.inv(factor.numpy() @ factor.numpy().T)
    np.testing.assert_allclose(
        weight @ weight.T + noise, np.cov(numbers.T), rtol=1e-3, atol=1e-4
    )
    # Not diagonal: the near-copy of the first column is in the noise.
    assert abs(noise[0, 3]) > 0.5 * np.sqrt(noise[0, 0] * noise[3, 3])
