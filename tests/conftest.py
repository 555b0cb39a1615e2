"""Shared test data: small, so that the whole suite runs in a few minutes."""

import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits():
    """The 8x8 digits scaled into [0, 1], and their labels."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def binary_digits(digits):
    """300 digits binarized at 0.5: data for the Bernoulli likelihood."""
    X, y = digits
    return (X[:300] > 0.5).astype(np.float64), y[:300]


def linear_gaussian(n_samples, n_features=6, n_latent=2, noise=0.5, seed=0):
    """Data from x = W z + mu + noise, z ~ N(0, I), with its true covariance.

    Returns X, the mean and the covariance W W^T + noise^2 I, so that a test can
    compute the exact log-likelihood.
    """
    rng = np.random.RandomState(seed)
    W = rng.normal(size=(n_features, n_latent))
    mean = rng.normal(size=n_features)
    Z = rng.normal(size=(n_samples, n_latent))
    X = Z @ W.T + mean + noise * rng.normal(size=(n_samples, n_features))
    covariance = W @ W.T + noise**2 * np.eye(n_features)
    return X, mean, covariance


@pytest.fixture(scope="session")
def make_linear_gaussian():
    return linear_gaussian
