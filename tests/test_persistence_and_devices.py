"""Pickling, and the device a model trains and lives on."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch

from skvae import GaussianVAE
from skvae._device import resolve_device

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, n_importance_samples=5, random_state=0)
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"
)


def _outputs(vae, X):
    return (
        vae.transform(X),
        vae.score_samples(X),
        vae.inverse_transform(vae.transform(X)),
        vae.sample(3),
    )


def _torch_objects(obj):
    """The torch objects (tensors, modules, devices) anywhere in obj."""
    if isinstance(obj, dict):
        return [found for value in obj.values() for found in _torch_objects(value)]
    if isinstance(obj, list | tuple):
        return [found for value in obj for found in _torch_objects(value)]
    return [obj] if type(obj).__module__.startswith("torch") else []


def _assert_same_outputs(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


def test_pickle_and_joblib_round_trips(digits):
    X, _ = digits
    vae = GaussianVAE(2, device="cpu", **FAST).fit(X[:100])
    expected = _outputs(vae, X[:20])
    restored = pickle.loads(pickle.dumps(vae))
    _assert_same_outputs(_outputs(restored, X[:20]), expected)
    buffer = io.BytesIO()
    joblib.dump(vae, buffer)
    buffer.seek(0)
    _assert_same_outputs(_outputs(joblib.load(buffer), X[:20]), expected)
    # A restored model keeps training where it stopped.
    restored.partial_fit(X[:100])
    assert restored.n_iter_ == vae.n_iter_ + 1


def test_model_fitted_on_a_gpu_loads_on_a_machine_without_one(digits, monkeypatch):
    X, _ = digits
    vae = GaussianVAE(2, device="cpu", **FAST).fit(X[:100])
    expected = _outputs(vae, X[:20])
    # Pretend the model lives on a GPU, then unpickle where CUDA is absent.
    vae.device_ = torch.device("cuda")
    state = vae.__getstate__()
    # The pickled state holds no torch object, hence no tensor on the GPU.
    assert not _torch_objects(state)
    payload = pickle.dumps(vae)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on cuda.*loaded on the CPU"):
        restored = pickle.loads(payload)
    assert restored.device_ == torch.device("cpu")
    _assert_same_outputs(_outputs(restored, X[:20]), expected)


def test_device_resolution(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for device in ("cuda", "cuda:1", "mps"):
        with pytest.raises(ValueError, match="not available on this machine"):
            resolve_device(device)
    with pytest.raises(ValueError, match="not understood"):
        resolve_device("gpu")


def test_auto_device_is_resolved_into_a_fitted_attribute(digits):
    X, _ = digits
    vae = GaussianVAE(2, **FAST).fit(X[:50])
    assert vae.device == "auto"
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert vae.device_.type == expected
    else:
        assert vae.device_.type in ("cpu", "mps")


def test_asking_for_a_missing_gpu_is_a_clear_error(digits, monkeypatch):
    X, _ = digits
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        GaussianVAE(device="cuda", **FAST).fit(X[:50])


@needs_cuda
def test_trains_on_cuda_and_agrees_with_the_cpu(digits):
    X, _ = digits
    gpu = GaussianVAE(2, device="cuda", **{**FAST, "max_iter": 5}).fit(X[:200])
    assert gpu.device_.type == "cuda"
    assert next(gpu.module_.parameters()).is_cuda
    codes = gpu.transform(X[:20])
    assert codes.dtype == np.float64 and np.isfinite(codes).all()
    assert np.isfinite(gpu.score(X[:20]))
    assert gpu.sample(4).shape == (4, 64)
    # Scoring is batch-independent on the GPU too.
    assert gpu.score_samples(X[3:4])[0] == pytest.approx(
        gpu.score_samples(X[:10])[3], rel=1e-9
    )


@needs_cuda
def test_cuda_model_pickles_to_a_cpu_only_machine(digits, monkeypatch):
    X, _ = digits
    gpu = GaussianVAE(2, device="cuda", **FAST).fit(X[:100])
    # Samples are left out: their draws come from the device's generator.
    expected = _outputs(gpu, X[:20])[:3]
    payload = pickle.dumps(gpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        restored = pickle.loads(payload)
    assert restored.device_ == torch.device("cpu")
    _assert_same_outputs(_outputs(restored, X[:20])[:3], expected)
