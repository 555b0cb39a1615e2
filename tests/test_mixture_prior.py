"""GaussianVAE's learned mixture prior: its densities against closed forms,
how its size is chosen, and that it round-trips."""

import pickle

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch.distributions import Normal, kl_divergence

from skvae import GaussianVAE, load, save
from skvae._core.latents import GaussianLatent

FAST = dict(hidden_layer_sizes=(16,), max_iter=3, device="cpu", random_state=0)


def _mixture_latent(weights, means, variances):
    latent = GaussianLatent(len(means[0]))
    latent.set_prior(
        *(torch.tensor(a, dtype=torch.float64) for a in (weights, means, variances))
    )
    return latent.double()


def test_mixture_log_prior_matches_scipy():
    weights, means, variances = (
        [0.3, 0.7],
        [[0.0, 1.0], [-2.0, 0.5]],
        [[1, 2], [0.5, 1]],
    )
    latent = _mixture_latent(weights, means, variances)
    z = torch.tensor([[0.3, -0.4], [-1.5, 2.0]], dtype=torch.float64)
    expected = np.log(
        sum(
            w * norm.pdf(z.numpy(), m, np.sqrt(v)).prod(-1)
            for w, m, v in zip(weights, means, variances, strict=True)
        )
    )
    np.testing.assert_allclose(latent.log_prior(z).detach().numpy(), expected)


def test_mixture_kl_estimate_is_unbiased():
    # One learned component N(0.5, 2): the single-draw estimates average to
    # the closed-form KL of two Gaussians.
    latent = _mixture_latent([1.0], [[0.5, 0.5]], [[2.0, 2.0]])
    posterior = (
        torch.tensor([[1.0, -0.5]], dtype=torch.float64),
        torch.tensor([[-1.0, 0.3]], dtype=torch.float64),
    )
    noise = torch.randn(200_000, 1, 2, generator=torch.Generator().manual_seed(0))
    z = latent.sample(posterior, noise.double())
    estimate = latent.kl(posterior, z).mean().item()
    expected = kl_divergence(
        Normal(posterior[0], torch.exp(0.5 * posterior[1])),
        Normal(0.5, np.sqrt(2.0)),
    ).sum()
    assert estimate == pytest.approx(expected.item(), abs=0.02)
    with pytest.raises(ValueError, match="estimated at a draw"):
        latent.kl(posterior)


def test_kl_per_component_quadrature_matches_the_closed_form():
    # A one-component mixture at N(0, 1) is the standard prior, whose
    # per-component KL is known in closed form.
    mixture = _mixture_latent([1.0], [[0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]])
    standard = GaussianLatent(3).double()
    posterior = (
        torch.tensor([[0.3, -2.0, 0.0]], dtype=torch.float64),
        torch.tensor([[-1.0, 0.5, -3.0]], dtype=torch.float64),
    )
    torch.testing.assert_close(
        mixture.kl_per_component(posterior),
        standard.kl_per_component(posterior),
        atol=1e-6,
        rtol=1e-6,
    )


def _blobs(n):
    """Three well separated clusters in 2-d, embedded linearly in 5-d: the
    first n rows for training, the next n to test."""
    rng = np.random.RandomState(0)
    centres = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]])
    Z = centres[rng.randint(3, size=2 * n)] + 0.3 * rng.normal(size=(2 * n, 2))
    X = Z @ rng.normal(size=(2, 5)) + 0.1 * rng.normal(size=(2 * n, 5))
    return X[:n], X[n:]


def test_auto_finds_clusters_and_beats_the_standard_prior():
    X, X_test = _blobs(600)
    params = dict(hidden_layer_sizes=(32,), max_iter=30, device="cpu", random_state=0)
    mixture = GaussianVAE(2, **params).fit(X)
    standard = GaussianVAE(2, n_prior_components=1, **params).fit(X)
    assert mixture.n_prior_components_ >= 3
    assert standard.n_prior_components_ == 1
    assert standard.module_.latent.n_prior_components == 0
    assert mixture.score(X_test) > standard.score(X_test) + 0.5


def test_a_given_size_is_used_and_too_few_rows_are_refused(digits):
    X = digits[0][:60]
    vae = GaussianVAE(2, n_prior_components=4, **FAST).fit(X)
    assert vae.n_prior_components_ == 4
    assert vae.module_.latent.prior_means.shape == (4, 2)
    before = vae.module_.latent.prior_means.detach().clone()
    with pytest.raises(ValueError, match="n_prior_components=100 needs at least"):
        vae.set_params(n_prior_components=100).fit(X)
    # The failed fit left the fitted model as it was.
    torch.testing.assert_close(vae.module_.latent.prior_means, before)
    assert vae.n_prior_components_ == 4


def test_the_mixture_prior_round_trips(digits, tmp_path):
    X = digits[0][:80]
    vae = GaussianVAE(2, n_prior_components=3, n_importance_samples=5, **FAST).fit(X)
    expected = vae.score_samples(X)
    samples = vae.sample(4, random_state=0)
    for restored in (
        pickle.loads(pickle.dumps(vae)),
        (save(vae, tmp_path / "vae.safetensors"), load(tmp_path / "vae.safetensors"))[
            1
        ],
    ):
        assert restored.module_.latent.n_prior_components == 3
        np.testing.assert_array_equal(restored.score_samples(X), expected)
        np.testing.assert_array_equal(restored.sample(4, random_state=0), samples)
    # partial_fit continues with the learned prior.
    vae.partial_fit(X)
    assert vae.module_.latent.n_prior_components == 3


def test_samples_come_from_the_mixture():
    X, _ = _blobs(600)
    vae = GaussianVAE(
        2, hidden_layer_sizes=(), max_iter=20, device="cpu", random_state=0
    ).fit(X)
    codes = vae.transform(vae.sample(2000, random_state=0, noise=False))
    latent = vae.module_.latent
    # Most samples lie near one of the prior's components: a mixture, not
    # one broad Gaussian.
    means = latent.prior_means.detach().numpy()
    scales = np.exp(0.5 * latent.prior_logvar.detach().numpy())
    distance = np.min(
        np.linalg.norm((codes[:, None, :] - means) / scales, axis=-1), axis=1
    )
    assert np.mean(distance < 3.0) > 0.9
