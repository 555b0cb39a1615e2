"""skvae.save and skvae.load: safetensors and JSON, no pickle."""

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline

import skvae
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

pytest.importorskip("safetensors")

DATA = Path(__file__).parent / "data"
FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=2,
    n_importance_samples=5,
    device="cpu",
    random_state=0,
)
ESTIMATORS = [
    GaussianVAE(2, early_stopping=True, **FAST),
    BernoulliVAE(4, likelihood="bernoulli", **FAST),
    BernoulliVAE(4, gradient_estimator="reinforce", **FAST),
    AutoencoderGMM(2, n_mixture_components=3, **FAST),
]
IDS = ["gaussian-vae", "bernoulli-vae", "bernoulli-vae-reinforce", "autoencoder-gmm"]


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


def _assert_same_value(a, b, name):
    if isinstance(a, torch.nn.Module):
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    elif isinstance(a, np.random.RandomState):
        _assert_same_value(a.get_state(), b.get_state(), name)
    elif hasattr(a, "get_params"):  # the mixture
        _assert_same_value(vars(a), vars(b), name)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), name
        for key in a:
            _assert_same_value(a[key], b[key], f"{name}.{key}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), name
        for x, y in zip(a, b, strict=True):
            _assert_same_value(x, y, name)
    elif isinstance(a, np.ndarray | torch.Tensor):
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    else:
        assert type(a) is type(b) and a == b, (name, a, b)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_save_and_load_restore_every_attribute(digits, tmp_path, estimator):
    X = pd.DataFrame(digits[0][:150], columns=[f"p{i}" for i in range(64)])
    model = _fit(estimator, X)
    path = tmp_path / "model.safetensors"
    skvae.save(model, path)
    loaded = skvae.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert vars(loaded).keys() == vars(model).keys()
    for name, value in vars(model).items():
        _assert_same_value(value, getattr(loaded, name), name)
    np.testing.assert_array_equal(loaded.transform(X[:20]), model.transform(X[:20]))
    np.testing.assert_array_equal(
        loaded.score_samples(X[:20]), model.score_samples(X[:20])
    )
    np.testing.assert_array_equal(loaded.sample(3), model.sample(3))
    # The optimizer's state and the random state came along: training goes on
    # exactly as it would have without the round trip.
    model.partial_fit(X)
    loaded.partial_fit(X)
    _assert_same_value(model.module_, loaded.module_, "module_")


def test_loading_never_unpickles(digits, tmp_path, monkeypatch):
    model = _fit(GaussianVAE(2, **FAST), digits[0][:100])
    skvae.save(model, tmp_path / "model.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("loading unpickled something")

    for module, name in [
        (pickle, "loads"),
        (pickle, "load"),
        (pickle, "Unpickler"),
        (torch, "load"),
    ]:
        monkeypatch.setattr(module, name, refuse)
    loaded = skvae.load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(
        loaded.transform(digits[0][:5]), model.transform(digits[0][:5])
    )


def test_model_saved_on_a_gpu_loads_on_a_machine_without_one(
    digits, tmp_path, monkeypatch
):
    model = _fit(GaussianVAE(2, **FAST), digits[0][:100])
    expected = model.transform(digits[0][:5])
    model.device_ = torch.device("cuda:0")  # as if fitted there
    skvae.save(model, tmp_path / "model.safetensors")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="fitted on cuda:0.*loaded on the CPU"):
        loaded = skvae.load(tmp_path / "model.safetensors")
    assert loaded.device_ == torch.device("cpu")
    assert next(loaded.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.transform(digits[0][:5]), expected)


def test_the_file_says_what_wrote_it(digits, tmp_path):
    from safetensors import safe_open

    skvae.save(
        _fit(GaussianVAE(2, **FAST), digits[0][:100]), tmp_path / "m.safetensors"
    )
    with safe_open(tmp_path / "m.safetensors", framework="numpy") as file:
        document = json.loads(file.metadata()["skvae"])
    assert document["schema_version"] == 3
    assert document["estimator"] == "GaussianVAE"
    assert document["module"]["network"] == {
        "name": "linear_plus_mlp",
        "hidden_layer_sizes": [8],
        "decoder_layer_sizes": [8],
        "activation": "relu",
    }
    assert document["versions"]["skvae"] == skvae.__version__
    assert document["versions"]["torch"] == torch.__version__
    assert set(document["versions"]) >= {"skvae", "torch", "scikit-learn"}


def test_save_and_load_errors(digits, tmp_path):
    X = digits[0][:100]
    with pytest.raises(ValueError, match="not fitted yet"):
        skvae.save(GaussianVAE(), tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="skops"):
        skvae.save(_fit(make_pipeline(GaussianVAE(2, **FAST)), X), tmp_path / "p")

    from safetensors.numpy import save_file

    save_file({"x": np.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not one that skvae.save wrote"):
        skvae.load(tmp_path / "other.safetensors")

    # A file from a later skvae, with a schema this one does not know.
    path = tmp_path / "later.safetensors"
    skvae.save(_fit(GaussianVAE(2, **FAST), X), path)
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as file:
        document = json.loads(file.metadata()["skvae"])
        arrays = {name: file.get_tensor(name) for name in file.keys()}
    document["schema_version"] = 99
    save_file(arrays, str(path), metadata={"skvae": json.dumps(document)})
    with pytest.raises(ValueError, match="schema version 99.*Upgrade skvae"):
        skvae.load(path)


REFERENCE_FILES = [
    (schema, name)
    for schema in (1, 2, 3)
    for name in ["gaussian_vae", "bernoulli_vae", "autoencoder_gmm"]
    + (["gaussian_vae_missing"] if schema >= 3 else [])
]


@pytest.mark.parametrize("schema, name", REFERENCE_FILES)
def test_files_written_by_every_schema_still_load(name, schema):
    """Files committed with skvae 0.1.0.dev0: every later version must load them.

    tests/data/make_reference_files.py wrote them and the expected outputs, once
    per schema version.
    """
    outputs = DATA / f"reference_outputs_schema{schema}.json"
    expected = json.loads(outputs.read_text())[name]
    model = skvae.load(DATA / f"{name}_schema{schema}.safetensors")
    # The rows of tests/data/make_reference_files.py's reference_data().
    X = load_digits().data[:300] / 16
    if name == "gaussian_vae_missing":
        X.reshape(-1)[::7] = np.nan
    X = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(64)])
    rows = X.iloc[:5] if name == "gaussian_vae" else X.to_numpy()[:5]
    codes = model.transform(rows)
    np.testing.assert_allclose(codes, expected["transform"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        model.inverse_transform(codes),
        expected["inverse_transform"],
        rtol=1e-6,
        atol=1e-7,
    )
    assert model.n_iter_ == expected["n_iter_"]
    assert model.loss_curve_ == expected["loss_curve_"]
    assert np.isfinite(model.score(rows))
    assert model.sample(2).shape == (2, 64)
    # Before schema 3 a model does not know what its encoder reads in place of
    # a missing value.
    holes = rows.copy()  # a DataFrame where the model was fitted on one
    if isinstance(holes, pd.DataFrame):
        holes.iloc[0, 0] = np.nan
    else:
        holes[0, 0] = np.nan
    if model.module_.likelihood.name == "gaussian_full":
        # likelihood='auto' gave the complete reference data one full
        # covariance, which does not leave missing entries out.
        with pytest.raises(ValueError, match="'gaussian_full' cannot model"):
            model.transform(holes)
    elif schema < 3:
        with pytest.raises(ValueError, match="did not keep the training mean"):
            model.transform(holes)
    else:
        assert np.isfinite(model.transform(holes)).all()
    # Training goes on; a file of schema 1 has no loss parts for its epochs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(rows)
    n_saved = expected["n_iter_"]
    for curve in (model.reconstruction_curve_, model.kl_curve_):
        assert len(curve) == n_saved + 1 and np.isfinite(curve[-1])
        assert np.isnan(curve[:n_saved]).all() == (schema == 1)
