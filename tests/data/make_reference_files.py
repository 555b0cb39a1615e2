"""Write the reference files that tests/test_safe_format.py loads.

Run once per schema version, with the skvae that introduces it, and commit the
output: later versions must keep loading these files and computing the same
codes and reconstructions from them. Never rewrite the files of an earlier
schema version.

    PYTHONPATH=. python tests/data/make_reference_files.py
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

import skvae
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

HERE = Path(__file__).parent
SCHEMA_VERSION = skvae._persistence.SCHEMA_VERSION
SMALL = dict(
    hidden_layer_sizes=(8,),
    max_iter=3,
    n_importance_samples=5,
    device="cpu",
    random_state=0,
)
MODELS = {
    # Feature names, validation scores: attributes that need their own encoding.
    # From schema version 2, a decoder of its own.
    "gaussian_vae": GaussianVAE(
        2, early_stopping=True, decoder_layer_sizes=(4, 8), **SMALL
    ),
    "bernoulli_vae": BernoulliVAE(4, likelihood="bernoulli", **SMALL),
    # The mixture prior: a scikit-learn estimator among the fitted attributes.
    "autoencoder_gmm": AutoencoderGMM(2, n_mixture_components=3, **SMALL),
    # From schema version 3: trained on data with missing values, with the
    # self-masking model of them (fitted on reference_data(missing=True)).
    "gaussian_vae_missing": GaussianVAE(2, missingness="self_masking", **SMALL),
}
# The schema version each model first appears in.
SINCE = {"gaussian_vae_missing": 3}


def models(schema_version):
    """The reference models of a schema version, by name."""
    return {
        name: model
        for name, model in MODELS.items()
        if SINCE.get(name, 1) <= schema_version
    }


def reference_data(missing=False):
    """The rows the reference models are fitted on and checked with; with
    ``missing``, every seventh entry is NaN."""
    X = load_digits().data[:300] / 16
    if missing:
        X.reshape(-1)[::7] = np.nan
    return pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(64)])


def main():
    expected = {}
    for name, model in models(SCHEMA_VERSION).items():
        X = reference_data(missing=name == "gaussian_vae_missing")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X if name == "gaussian_vae" else X.to_numpy())
        skvae.save(model, HERE / f"{name}_schema{SCHEMA_VERSION}.safetensors")
        rows = X.iloc[:5] if name == "gaussian_vae" else X.to_numpy()[:5]
        codes = model.transform(rows)
        expected[name] = {
            "transform": codes.tolist(),
            "inverse_transform": model.inverse_transform(codes).tolist(),
            "n_iter_": model.n_iter_,
            "loss_curve_": model.loss_curve_,
        }
    path = HERE / f"reference_outputs_schema{SCHEMA_VERSION}.json"
    path.write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
