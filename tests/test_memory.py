"""Memory bounded by a budget (scikit-learn's working_memory), and caches."""

import pickle

import numpy as np
import pytest
import torch
from sklearn import config_context

import skvae._core.noise as noise_module
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from skvae._core.networks import VAE

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).uniform(size=(40, 300))


@pytest.fixture
def decoded(monkeypatch):
    """The sizes, in bytes, of the decoder outputs computed during the test."""
    sizes = []
    original = VAE.decode

    def decode(self, z):
        out = original(self, z)
        sizes.append(out.numel() * out.element_size())
        return out

    monkeypatch.setattr(VAE, "decode", decode)
    return sizes


@pytest.mark.parametrize(
    "estimator",
    [
        GaussianVAE(2, n_importance_samples=500, **FAST),
        AutoencoderGMM(2, n_mixture_components=2, n_importance_samples=500, **FAST),
        BernoulliVAE(20, n_importance_samples=500, **FAST),
        BernoulliVAE(8, n_importance_samples=500, **FAST),
    ],
    ids=lambda e: type(e).__name__ + str(e.n_components),
)
def test_score_samples_holds_to_the_budget(estimator, X, decoded):
    model = estimator.fit(X)
    expected = model.score_samples(X[:5])
    decoded.clear()
    budget = 0.25  # MiB: less than one row's 500 draws of 300 features
    with config_context(working_memory=budget):
        scores = model.score_samples(X[:5])
    assert max(decoded) <= budget * 2**20 / 2
    # Draws made block by block are the same draws.
    np.testing.assert_allclose(scores, expected, rtol=1e-10)


def test_transform_inverse_transform_and_sample_hold_to_the_budget(X, decoded):
    model = GaussianVAE(2, **FAST).fit(X)
    expected = model.sample(300), model.inverse_transform(model.transform(X))
    decoded.clear()
    with config_context(working_memory=0.1):
        samples = model.sample(300)
        reconstruction = model.inverse_transform(model.transform(X))
    assert max(decoded) <= 0.1 * 2**20 / 2
    assert samples.shape == (300, 300)
    np.testing.assert_allclose(reconstruction, expected[1])
    assert np.isfinite(samples).all()


def test_exact_bernoulli_score_makes_no_draws(X, monkeypatch):
    made = []
    original = noise_module.row_uniforms

    def row_uniforms(*args, **kwargs):
        made.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(noise_module, "row_uniforms", row_uniforms)
    model = BernoulliVAE(4, n_importance_samples=1, **FAST).fit(X)
    expected = model.score_samples(X)
    made.clear()
    model.set_params(n_importance_samples=65_536)
    np.testing.assert_array_equal(model.score_samples(X), expected)
    assert not made
    batches = model._score_plan(model.module_, 8)
    model.set_params(n_importance_samples=1)
    assert model._score_plan(model.module_, 8) == batches


def test_float64_copy_is_kept_until_the_weights_change(X):
    model = GaussianVAE(2, **FAST).fit(X)
    copy64 = model._inference_module(torch.float64)
    assert model._inference_module(torch.float64) is copy64
    before = model.transform(X)
    model.partial_fit(X)
    assert model._inference_module(torch.float64) is not copy64
    assert not np.array_equal(model.transform(X), before)
    copy64 = model._inference_module(torch.float64)
    with torch.no_grad():
        model.module_.decoder.linear.weight.mul_(2)
    assert model._inference_module(torch.float64) is not copy64
    np.testing.assert_allclose(
        model.inverse_transform(np.ones((1, 2))),
        model.inverse_transform(np.ones((1, 2), dtype=np.float32)),
        rtol=1e-4,
        atol=1e-6,
    )
    # Not pickled, and rebuilt for the unpickled model.
    restored = pickle.loads(pickle.dumps(model))
    assert "_CAST_MODULES" not in vars(restored)
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    assert restored._inference_module(torch.float64) is not copy64


def test_mixture_refit_drops_the_float64_copy(X):
    model = AutoencoderGMM(2, n_mixture_components=2, **FAST).fit(X)
    copy64 = model._inference_module(torch.float64)
    model.partial_fit(X)
    assert model._inference_module(torch.float64) is not copy64


@pytest.mark.parametrize("early_stopping", [False, True])
def test_fit_on_a_float64_memmap_makes_no_full_copy_in_float64(
    tmp_path, early_stopping
):
    import tracemalloc

    X = np.random.RandomState(0).uniform(size=(4000, 50))
    np.save(tmp_path / "X.npy", X)
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    params = dict(FAST, max_iter=1, early_stopping=early_stopping)
    with config_context(working_memory=0.2):
        expected = GaussianVAE(2, **params).fit(X).transform(X[:5])
        tracemalloc.start()
        try:
            vae = GaussianVAE(2, **params).fit(memmap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # numpy's allocations are traced. The float32 copy of X (0.8 MB) exceeds
    # the budget, so X is streamed (tests/test_out_of_core.py): windows,
    # blocks, the held-out and kept rows; no float64 copy of X (1.6 MB).
    assert peak < 0.75 * X.nbytes
    # The same stream as from X in memory.
    np.testing.assert_array_equal(vae.transform(X[:5]), expected)
