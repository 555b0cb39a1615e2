"""What the defaults promise: a start at probabilistic PCA, early stopping on
held-out rows, diagnostics that make collapse visible, measured threads."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from skvae._core import threads

FAST = dict(
    hidden_layer_sizes=(16,),
    max_iter=5,
    n_importance_samples=10,
    device="cpu",
    random_state=0,
)


def test_untrained_model_is_probabilistic_pca(make_linear_gaussian):
    # max_iter=1 and a learning rate of ~0: what is scored is the start.
    X, _, _ = make_linear_gaussian(2000)
    vae = GaussianVAE(
        2,
        **{
            **FAST,
            "learning_rate": 1e-12,
            "max_iter": 1,
            "early_stopping": False,
            "n_importance_samples": 1,
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vae.fit(X[:1500])
    # The posterior of probabilistic PCA is exact and diagonal, so even the
    # one-draw ELBO averages to PCA's log-likelihood.
    elbo = vae.score_samples(X[1500:])
    pca = PCA(2).fit(X[:1500]).score(X[1500:])
    assert abs(elbo.mean() - pca) < 3 * elbo.std() / np.sqrt(len(elbo)) + 0.02


def test_early_stopping_is_on_by_default_and_keeps_the_best_weights(digits):
    X, _ = digits
    vae = GaussianVAE(4, **{**FAST, "early_stopping": True}).fit(X[:300])
    assert vae.early_stopping_ is True
    assert len(vae.validation_scores_) == vae.n_iter_
    # The start competes too, so the kept score is at least every epoch's.
    assert vae.best_validation_score_ >= max(vae.validation_scores_)
    tiny = GaussianVAE(2, **FAST).fit(X[:20])  # 2 rows would be held out
    assert tiny.early_stopping_ is False and tiny.validation_scores_ is None


def test_active_units_match_the_true_latent_dimension(make_linear_gaussian):
    X, _, _ = make_linear_gaussian(2000, n_features=6, n_latent=2)
    vae = GaussianVAE(4, random_state=0).fit(X)
    assert vae.n_active_components_ == 2
    assert vae.component_activity_.shape == vae.kl_per_component_.shape == (4,)
    active = vae.component_activity_ > 0.01
    # Used components carry information (KL), unused ones almost none.
    assert vae.kl_per_component_[active].min() > 0.5
    assert vae.kl_per_component_[~active].max() < 0.05


def test_a_very_large_beta_leaves_no_unit_active(make_linear_gaussian):
    X, _, _ = make_linear_gaussian(1000)
    vae = GaussianVAE(4, beta=1000.0, **{**FAST, "max_iter": 30}).fit(X)
    assert vae.n_active_components_ == 0
    # Started at probabilistic PCA (about 2 nats per component), pushed to ~0.
    assert np.all(vae.kl_per_component_ < 0.2)


def test_small_data_train_on_on_all_rows_for_half_the_epochs_chosen(digits):
    X, _ = digits
    Estimator = GaussianVAE
    # A diagonal likelihood: its start (probabilistic PCA) is one that
    # training beats on held-out rows epoch after epoch, whatever the seed;
    # under the full covariance these 300 rows' start was sometimes the best.
    params = {**FAST, "max_iter": 12, "n_iter_no_change": 3, "likelihood": "gaussian"}
    held_out = Estimator(4, **{**params, "early_stopping": True}).fit(X[:300])
    refit = Estimator(4, **params).fit(X[:300])
    # The same run chose the epochs: its validation record is kept.
    np.testing.assert_array_equal(refit.validation_scores_, held_out.validation_scores_)
    assert refit.best_validation_score_ == held_out.best_validation_score_
    # The epoch whose weights were kept (epochs of a KL warm-up never are).
    chosen = held_out.validation_scores_.index(held_out.best_validation_score_) + 1
    assert refit.early_stopping_ is True
    # Its epochs, then half the chosen ones more, on all rows.
    assert held_out.n_iter_ == len(held_out.validation_scores_)
    more = -(-chosen // 2)
    assert refit.n_iter_ == len(refit.loss_curve_) == held_out.n_iter_ + more
    np.testing.assert_array_equal(
        refit.loss_curve_[: held_out.n_iter_], held_out.loss_curve_
    )
    # Trained on the held-out rows too.
    assert not np.allclose(refit.transform(X[:50]), held_out.transform(X[:50]))
    # 1,000 rows or more, or early_stopping=True, keep the model that stopped.
    large = Estimator(4, **{**params, "max_iter": 3}).fit(np.tile(X[:500], (2, 1)))
    assert large.n_iter_ == len(large.validation_scores_)
    # So do 100 rows per column or more: 300 rows of 3 columns give the model
    # that stopped; 299 train on.
    columns = [20, 28, 36]
    for n_rows, again in ((300, False), (299, True)):
        auto = Estimator(2, **params).fit(X[:n_rows, columns])
        stopped = Estimator(2, **{**params, "early_stopping": True})
        stopped.fit(X[:n_rows, columns])
        same = np.array_equal(
            auto.transform(X[:50, columns]), stopped.transform(X[:50, columns])
        )
        assert same is not again


def test_no_second_fit_where_training_never_beat_the_start(digits):
    # A learning rate so large that every epoch's held-out reconstruction is
    # far below the start's (PCA): the start is kept, and no epoch count to
    # refit for.
    X, _ = digits
    params = {**FAST, "max_iter": 12, "n_iter_no_change": 3, "learning_rate": 0.3}
    model = AutoencoderGMM(4, **params).fit(X[:300])
    assert model.best_validation_score_ > max(model.validation_scores_)
    assert model.n_iter_ == len(model.loss_curve_) == len(model.validation_scores_)


def test_the_all_rows_run_continues_the_stopped_model_and_returns_its_average(
    digits,
):
    # Without the average, the second run would be a warm start of the model
    # that stopped, bit for bit: the same weights, optimizer state, batches
    # and noise, nothing held out. (The diagonal likelihood, for a first run
    # that beats its start: see above.)
    X, _ = digits
    params = {**FAST, "max_iter": 12, "n_iter_no_change": 3, "likelihood": "gaussian"}
    vae = GaussianVAE(4, **params).fit(X[:300])
    stopped = GaussianVAE(4, **{**params, "early_stopping": True}).fit(X[:300])
    n_more = vae.n_iter_ - stopped.n_iter_
    assert n_more >= 1
    stopped.set_params(warm_start=True, early_stopping=False, max_iter=n_more)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stopped.fit(X[:300])
    assert vae.n_iter_ == stopped.n_iter_
    np.testing.assert_array_equal(vae.loss_curve_, stopped.loss_curve_)
    assert not np.allclose(vae.transform(X[:50]), stopped.transform(X[:50]))


@pytest.mark.parametrize("Estimator", [BernoulliVAE, AutoencoderGMM])
def test_every_estimator_reports_its_diagnostics(Estimator, digits):
    X, _ = digits
    model = Estimator(4, **FAST).fit(X[:200])
    assert model.component_activity_.shape == (4,)
    assert 0 <= model.n_active_components_ <= 4
    if Estimator is AutoencoderGMM:
        assert model.kl_per_component_ is None  # no KL term in its objective
    else:
        assert model.kl_per_component_.shape == (4,)


def test_convergence_warning_only_when_still_improving(digits):
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Stops early (patience 2): converged by its own criterion, no warning.
        GaussianVAE(2, n_iter_no_change=2, tol=1e3, **{**FAST, "max_iter": 50}).fit(
            X[:200]
        )


def test_fit_restores_the_callers_thread_count(digits):
    X, _ = digits
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model = GaussianVAE(2, **{**FAST, "max_iter": 40}).fit(X[:300])
        assert torch.get_num_threads() == 2
        assert model.n_threads_ in (1, 2)
        with threadpool_limits(1):
            # scikit-learn's convention: threadpoolctl's limit is respected.
            assert (
                GaussianVAE(2, **{**FAST, "max_iter": 40}).fit(X[:300]).n_threads_ == 1
            )
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def _fake_clock(monkeypatch, many_cost):
    """A clock under which each training step takes 1 s on one thread and
    ``many_cost`` s on more; returns the count of steps timed so far."""
    clock = {"now": 0.0, "n": 1, "reads": 0}

    class FakeThreads:
        def __init__(self, n):
            self.n = n

        def __enter__(self):
            clock["n"] = self.n

        def __exit__(self, *args):
            pass

    def perf_counter():
        # Each step reads the clock twice: half its cost after each read.
        now = clock["now"]
        clock["now"] += (1.0 if clock["n"] == 1 else many_cost) / 2
        clock["reads"] += 1
        return now

    monkeypatch.setattr(threads, "torch_threads", FakeThreads)
    monkeypatch.setattr(threads.time, "perf_counter", perf_counter)
    return lambda: clock["reads"] // 2


@pytest.mark.parametrize("many_cost, expected", [(0.5, 4), (2.0, 1)])
def test_the_faster_thread_count_is_chosen(monkeypatch, many_cost, expected):
    # The choice follows the measurement, not the size of the network (this
    # one is too small to be timed at all unless the floor is lifted).
    model = GaussianVAE(2, **FAST).fit(np.random.RandomState(0).randn(50, 3))
    x = torch.randn(8, 3)
    monkeypatch.setattr(threads, "_MIN_MULTIPLY_ADDS", 0)
    steps = _fake_clock(monkeypatch, many_cost)
    assert threads.fastest_thread_count(model.module_, x, 4) == expected
    assert steps() == 24  # 8 rounds of an untimed step and two timed ones
    assert threads.fastest_thread_count(model.module_, x, 1) == 1


def test_thread_timing_gives_up_at_once_on_a_busy_machine(monkeypatch):
    # All threads 10 times slower than one, as on a machine whose cores other
    # processes use: the first step on them ends the timing.
    model = GaussianVAE(2, **FAST).fit(np.random.RandomState(0).randn(50, 3))
    monkeypatch.setattr(threads, "_MIN_MULTIPLY_ADDS", 0)
    steps = _fake_clock(monkeypatch, 10.0)
    assert threads.fastest_thread_count(model.module_, torch.randn(8, 3), 4) == 1
    assert steps() == 4  # three on one thread, one on four


def test_small_networks_train_on_one_thread_untimed(monkeypatch):
    model = GaussianVAE(2, **FAST).fit(np.random.RandomState(0).randn(50, 3))
    steps = _fake_clock(monkeypatch, 0.1)
    assert threads.fastest_thread_count(model.module_, torch.randn(8, 3), 4) == 1
    assert steps() == 0


def test_one_thread_fits_run_blas_and_openmp_on_one_thread():
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info()]
    with threads.fit_threads(1):
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert torch.get_num_threads() == 1
    assert [pool["num_threads"] for pool in threadpool_info()] == before
