"""Held-out log-likelihood of skvae's models against scikit-learn's density models.

For each data set of the panel (``benchmarks/_panel.py``), every model's size is
chosen as a careful user would: ``GridSearchCV(cv=3)`` on the training part with
the model's own ``score``, then the refitted model is scored on the held-out
part (nats per row, higher is better). Goal: GaussianVAE's held-out
log-likelihood at least the best baseline's on every data set, never below PCA
or FactorAnalysis, each skvae grid search under a minute on 2 idle cores.

    python benchmarks/bench_density_panel.py [--data NAME ...] [--models NAME ...]

``--models BernoulliVAE`` adds BernoulliVAE, which the panel has no goal for.
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

sys.path.insert(0, os.path.dirname(__file__))
from _panel import HELD_OUT, LOADERS, load_panel  # noqa: E402

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE  # noqa: E402

SIZES = (1, 2, 4, 8, 16, 32)
FULL = (1, 2, 3, 4, 6, 8, 12, 16, 20, 25, 30, 35, 40)
DIAG = (1, 2, 4, 6, 8, 12, 16, 24, 32, 40, 50, 60, 70, 80)


def candidates(n_features, n_train):
    """Each model and its grid, as a careful user would search it."""
    # 1, 2, 4, ..., 32 below the number of features, and the number of
    # features itself where it is at most 32: a user searching the latent size
    # of 3 columns tries 1, 2 and 3.
    below = [k for k in SIZES if k < n_features]
    latent = below + ([n_features] if n_features <= max(SIZES) else [])
    # A fold trains on 2/3 of the training rows; a mixture needs rows to spare.
    fold = 2 * n_train // 3
    full = [k for k in FULL if k * (n_features + 1) < fold]
    diag = [k for k in DIAG if k * 2 < fold]
    return {
        "PCA": (PCA(), {"n_components": latent}),
        "FactorAnalysis": (FactorAnalysis(random_state=0), {"n_components": latent}),
        "GaussianMixture full": (
            GaussianMixture(covariance_type="full", random_state=0, reg_covar=1e-4),
            {"n_components": full},
        ),
        "GaussianMixture diag": (
            GaussianMixture(covariance_type="diag", random_state=0, reg_covar=1e-4),
            {"n_components": diag},
        ),
        "KernelDensity": (
            KernelDensity(),
            {"bandwidth": np.logspace(-2, 0.5, 21)},
        ),
        "GaussianVAE": (GaussianVAE(random_state=0), {"n_components": latent}),
        "AutoencoderGMM": (AutoencoderGMM(random_state=0), {"n_components": latent}),
        "BernoulliVAE": (BernoulliVAE(random_state=0), {"n_components": latent}),
    }


# Run only when named in --models: no goal of the panel is BernoulliVAE's.
ON_REQUEST = ("BernoulliVAE",)


def run(name, models):
    X_train, X_test = load_panel(name)
    rows = {}
    for model, (estimator, grid) in candidates(*X_train.shape[::-1]).items():
        wanted = model in models if models else model not in ON_REQUEST
        if not wanted:
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search = GridSearchCV(estimator, grid, cv=3).fit(X_train)
        seconds = time.perf_counter() - start
        # KernelDensity.score sums over rows: report every model's mean.
        score = float(np.mean(search.best_estimator_.score_samples(X_test)))
        best = dict(search.best_params_)
        for attribute in ("n_prior_components_", "n_active_components_"):
            if hasattr(search.best_estimator_, attribute):
                best[attribute] = getattr(search.best_estimator_, attribute)
        rows[model] = dict(score=score, seconds=seconds, best=best)
        print(
            f"  {name:14s} {model:22s} {score:9.3f}  {seconds:7.1f} s  {best}",
            flush=True,
        )
    return rows


def verdict(name, rows):
    vae = rows["GaussianVAE"]["score"]
    baselines = {
        k: v["score"]
        for k, v in rows.items()
        if k not in ("GaussianVAE", "AutoencoderGMM", *ON_REQUEST)
    }
    best_name = max(baselines, key=baselines.get)
    linear = max(baselines["PCA"], baselines["FactorAnalysis"])
    fast = rows["GaussianVAE"]["seconds"] < 60
    goal = vae >= baselines[best_name]
    floor = vae >= linear
    print(
        f"{name:14s} GaussianVAE {vae:8.3f} | best baseline {best_name} "
        f"{baselines[best_name]:8.3f}: {'PASS' if goal else 'FAIL'} | "
        f"PCA/FA {linear:8.3f}: {'PASS' if floor else 'FAIL'} | "
        f"{rows['GaussianVAE']['seconds']:.0f} s: {'PASS' if fast else 'FAIL'}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", nargs="*", default=None)
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="the data sets no default was chosen on, instead of the panel's",
    )
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    results = {}
    names = args.data or list(HELD_OUT if args.held_out else LOADERS)
    for name in names:
        results[name] = run(name, args.models)
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    if args.models is None:
        print()
        for name, rows in results.items():
            verdict(name, rows)


if __name__ == "__main__":
    main()
