"""skops and MLflow store fitted estimators, and pipelines that hold one."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=2,
    n_importance_samples=5,
    device="cpu",
    random_state=0,
)
ESTIMATORS = [
    GaussianVAE(2, **FAST),
    BernoulliVAE(4, likelihood="bernoulli", **FAST),
    AutoencoderGMM(2, n_mixture_components=3, **FAST),
]


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("in_pipeline", [False, True], ids=["bare", "pipeline"])
def test_skops_round_trip_trusts_only_skvae_classes(digits, estimator, in_pipeline):
    sio = pytest.importorskip("skops.io")
    X = digits[0][:150]
    model = make_pipeline(MinMaxScaler(), estimator) if in_pipeline else estimator
    model = _fit(model, X)
    payload = sio.dumps(model)
    untrusted = sio.get_untrusted_types(data=payload)
    assert untrusted == [f"{type(estimator).__module__}.{type(estimator).__name__}"]
    restored = sio.loads(payload, trusted=untrusted)
    np.testing.assert_array_equal(restored.transform(X[:20]), model.transform(X[:20]))
    assert restored.score(X[:20]) == model.score(X[:20])
    vae = restored[-1] if in_pipeline else restored
    assert isinstance(vae.module_, torch.nn.Module)
    assert vae.device_ == torch.device("cpu")


def test_skops_loaded_model_keeps_training_exactly(digits):
    sio = pytest.importorskip("skops.io")
    X = digits[0][:150]
    vae = _fit(GaussianVAE(2, **FAST), X)
    payload = sio.dumps(vae)
    restored = sio.loads(payload, trusted=sio.get_untrusted_types(data=payload))
    vae.partial_fit(X)
    restored.partial_fit(X)
    for a, b in zip(
        vae.module_.state_dict().values(),
        restored.module_.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# Loads the logged model in a new interpreter and prints what it computes.
_LOAD_IN_A_FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    import mlflow.sklearn
    import numpy as np

    model = mlflow.sklearn.load_model(sys.argv[1])
    X = np.array(json.loads(sys.argv[2]))
    print(json.dumps({"transform": model.transform(X).tolist(),
                      "score": model.score(X), "type": type(model).__name__}))
    """
)


def test_mlflow_default_format_loads_in_a_fresh_process(digits, tmp_path, monkeypatch):
    pytest.importorskip("skops")
    pytest.importorskip("mlflow")
    import mlflow
    import mlflow.sklearn

    X = digits[0][:150]
    vae = _fit(GaussianVAE(2, **FAST), X)
    # A local file store: MLflow 3 asks for an opt-in to use it.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            vae,
            name="model",
            skops_trusted_types=["skvae._gaussian.GaussianVAE"],
            # Explicit requirements skip MLflow's inference, which loads the
            # model in a subprocess (30 s here); the user guide shows
            # extra_pip_requirements, which keeps the inference.
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
    flavor = mlflow.models.get_model_info(info.model_uri).flavors["sklearn"]
    assert flavor["serialization_format"] == "skops"

    environment = {
        **os.environ,
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
        # MLflow refuses to deserialize, even skops files, without it.
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    rows = X[:10]
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD_IN_A_FRESH_PROCESS,
            info.model_uri,
            json.dumps(rows.tolist()),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert loaded["type"] == "GaussianVAE"
    np.testing.assert_array_equal(np.array(loaded["transform"]), vae.transform(rows))
    assert loaded["score"] == vae.score(rows)
