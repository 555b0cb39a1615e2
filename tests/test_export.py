"""Export: encoder and decoder modules that compute transform and inverse_transform."""

import warnings

import numpy as np
import pytest
import torch

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

FAST = dict(hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0)
# Each estimator with the likelihood whose mean is not the identity, and
# GaussianVAE with both: the decoder's mean is the sigmoid of its output under
# likelihood='bernoulli', the output itself under 'gaussian'.
ESTIMATORS = [
    GaussianVAE(2, **FAST),
    GaussianVAE(2, likelihood="bernoulli", **FAST),
    BernoulliVAE(4, likelihood="bernoulli", **FAST),
    AutoencoderGMM(2, n_mixture_components=3, likelihood="bernoulli", **FAST),
]
IDS = ["gaussian-vae", "gaussian-vae-bernoulli", "bernoulli-vae", "autoencoder-gmm"]
BATCH = torch.export.Dim("batch")


@pytest.fixture(scope="module", params=ESTIMATORS, ids=IDS)
def fitted(request, digits):
    X = digits[0][:150].astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = request.param.fit(X)
    return model, X[:40], model.transform(X[:40])


def test_modules_compute_transform_and_inverse_transform(fitted):
    model, X, Z = fitted
    encoder, decoder = model.encoder_module(), model.decoder_module()
    assert isinstance(encoder, torch.nn.Module) and not encoder.training
    with torch.no_grad():
        codes = encoder(torch.from_numpy(X)).numpy()
        decoded = decoder(torch.from_numpy(Z)).numpy()
    np.testing.assert_allclose(codes, Z, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        decoded, model.inverse_transform(Z), rtol=1e-6, atol=1e-7
    )
    # The modules are copies: changing them leaves the estimator as it was.
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.zero_()
    np.testing.assert_array_equal(model.transform(X), Z)


def test_torch_export(fitted):
    model, X, Z = fitted
    exported = torch.export.export(
        model.encoder_module(),
        (torch.from_numpy(X[:4]),),
        dynamic_shapes=({0: BATCH},),
    )
    codes = exported.module()(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(codes, Z, rtol=1e-6, atol=1e-7)
    exported = torch.export.export(
        model.decoder_module(),
        (torch.from_numpy(Z[:4]),),
        dynamic_shapes=({0: BATCH},),
    )
    decoded = exported.module()(torch.from_numpy(Z)).detach().numpy()
    np.testing.assert_allclose(
        decoded, model.inverse_transform(Z), rtol=1e-6, atol=1e-7
    )


def test_onnx_export_matches_transform(fitted, tmp_path):
    pytest.importorskip("onnxscript")  # torch.onnx.export's exporter
    ort = pytest.importorskip("onnxruntime")
    model, X, Z = fitted
    path = tmp_path / "encoder.onnx"
    torch.onnx.export(
        model.encoder_module(),
        (torch.from_numpy(X[:4]),),
        path,
        input_names=["X"],
        output_names=["Z"],
        dynamic_shapes=({0: BATCH},),
        verbose=False,
    )
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (codes,) = session.run(None, {"X": X})
    np.testing.assert_allclose(codes, Z, rtol=1e-5, atol=1e-6)
