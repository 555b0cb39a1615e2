"""The encoder and the decoder: sizes of their own, validated, kept, stored."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import skvae
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

FAST = dict(max_iter=2, n_importance_samples=4, device="cpu", random_state=0)
ESTIMATORS = [GaussianVAE, BernoulliVAE, AutoencoderGMM]


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


def _widths(network):
    """Output widths of a network's layers: its linear map, then its MLP's."""
    layers = [network.linear] + ([] if network.mlp is None else list(network.mlp))
    return [layer.out_features for layer in layers if isinstance(layer, nn.Linear)]


def _assert_same_weights(a, b):
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_the_default_decoder_mirrors_the_encoder_bit_for_bit(digits, Estimator):
    X = digits[0][:120]
    default = _fit(Estimator(3, hidden_layer_sizes=(12, 6), **FAST), X)
    mirrored = _fit(
        Estimator(3, hidden_layer_sizes=(12, 6), decoder_layer_sizes=[6, 12], **FAST),
        X,
    )
    _assert_same_weights(default.module_, mirrored.module_)
    assert default.loss_curve_ == mirrored.loss_curve_


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_decoder_layer_sizes_set_the_decoder_alone(digits, Estimator):
    X = digits[0][:120]
    sizes = [5, 9]
    model = _fit(
        Estimator(2, hidden_layer_sizes=(12,), decoder_layer_sizes=sizes, **FAST), X
    )
    assert model.decoder_layer_sizes is sizes  # stored unchanged
    assert _widths(model.module_.decoder) == [64, 5, 9, 64]
    encoder_outputs = 4 if Estimator is GaussianVAE else 2
    assert _widths(model.module_.encoder) == [encoder_outputs, 12, encoder_outputs]
    assert model.inverse_transform(model.transform(X[:3])).shape == (3, 64)
    assert np.isfinite(model.score(X[:10]))
    linear = _fit(
        Estimator(2, hidden_layer_sizes=(12,), decoder_layer_sizes=(), **FAST), X
    )
    assert linear.module_.decoder.mlp is None


@pytest.mark.parametrize("sizes", [[[4]], 0, (4, -1), True, "4", 2.0])
def test_decoder_layer_sizes_are_validated_as_hidden_layer_sizes_are(digits, sizes):
    vae = GaussianVAE(decoder_layer_sizes=sizes, **FAST)
    with pytest.raises(ValueError, match="decoder_layer_sizes"):
        vae.fit(digits[0][:50])
    assert not hasattr(vae, "module_") and vae.decoder_layer_sizes is sizes


def test_warm_start_and_partial_fit_see_the_decoder(digits):
    X = digits[0][:100]
    vae = _fit(GaussianVAE(2, hidden_layer_sizes=(6,), warm_start=True, **FAST), X)
    # None and the mirrored sizes build the same decoder: the same architecture.
    _fit(vae.set_params(decoder_layer_sizes=(6,)), X)
    assert vae.n_iter_ == 4
    vae.set_params(decoder_layer_sizes=(7,))
    expected = r"decoder_layer_sizes=\(6,\).*different architecture"
    with pytest.raises(ValueError, match=expected):
        vae.fit(X)
    with pytest.raises(ValueError, match=expected):
        vae.partial_fit(X)
    assert vae.n_iter_ == 4 and _widths(vae.module_.decoder) == [64, 6, 64]


@pytest.fixture
def asymmetric(digits):
    X = digits[0][:150]
    model = AutoencoderGMM(
        2,
        hidden_layer_sizes=(10,),
        decoder_layer_sizes=(3, 7),
        n_mixture_components=2,
        **FAST,
    )
    return _fit(model, X), X


def _assert_same_model(restored, model, X):
    assert restored.get_params() == model.get_params()
    assert restored.module_.network == model.module_.network
    _assert_same_weights(restored.module_, model.module_)
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    np.testing.assert_array_equal(restored.score_samples(X), model.score_samples(X))


def test_an_asymmetric_model_round_trips_through_pickle(asymmetric):
    model, X = asymmetric
    _assert_same_model(pickle.loads(pickle.dumps(model)), model, X[:20])


def test_an_asymmetric_model_round_trips_through_skvae_save(asymmetric, tmp_path):
    pytest.importorskip("safetensors")
    model, X = asymmetric
    skvae.save(model, tmp_path / "model.safetensors")
    restored = skvae.load(tmp_path / "model.safetensors")
    _assert_same_model(restored, model, X[:20])
    model.partial_fit(X)
    restored.partial_fit(X)
    _assert_same_weights(restored.module_, model.module_)


def test_an_asymmetric_model_round_trips_through_skops(asymmetric):
    sio = pytest.importorskip("skops.io")
    model, X = asymmetric
    payload = sio.dumps(model)
    restored = sio.loads(payload, trusted=sio.get_untrusted_types(data=payload))
    _assert_same_model(restored, model, X[:20])
