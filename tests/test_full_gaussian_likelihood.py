"""likelihood='gaussian_full': one full noise covariance, against closed forms."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from skvae import GaussianVAE
from skvae._core.likelihoods import FullGaussianLikelihood


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


def test_the_diagonal_is_floored_by_min_variance():
    likelihood = _likelihood(1e-12 * np.eye(2))
    likelihood.min_variance = 1e-4
    # log det P is capped at n_features * log(1 / sqrt(min_variance)).
    at_mean = likelihood.log_prob(torch.zeros(1, 2, dtype=torch.float64), 0.0)
    assert at_mean.item() == pytest.approx(-np.log(2 * np.pi) + np.log(1e4))


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
