"""GaussianVAE: the mathematics against closed forms, and training behaviour."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from torch.distributions import Normal, kl_divergence

from skvae import GaussianVAE
from skvae._core.latents import GaussianLatent
from skvae._core.objectives import elbo
from skvae._core.scoring import importance_weighted_log_likelihood
from skvae._core.training import TrainingSettings, beta_at, train

FAST = dict(hidden_layer_sizes=(16,), max_iter=3, device="cpu", random_state=0)


def test_kl_matches_torch_distributions():
    latent = GaussianLatent(3)
    generator = torch.Generator().manual_seed(0)
    z_mean = torch.randn(5, 3, generator=generator)
    z_logvar = torch.randn(5, 3, generator=generator)
    expected = kl_divergence(
        Normal(z_mean, torch.exp(0.5 * z_logvar)), Normal(0.0, 1.0)
    ).sum(-1)
    torch.testing.assert_close(latent.kl((z_mean, z_logvar)), expected)


def test_log_densities_match_torch_distributions():
    latent = GaussianLatent(2)
    posterior = (torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.7]]))
    z = torch.tensor([[0.1, 0.3]])
    q = Normal(posterior[0], torch.exp(0.5 * posterior[1]))
    torch.testing.assert_close(
        latent.log_posterior(z, posterior), q.log_prob(z).sum(-1)
    )
    torch.testing.assert_close(
        latent.log_prior(z), Normal(0.0, 1.0).log_prob(z).sum(-1)
    )


def test_score_approaches_true_log_likelihood_on_linear_gaussian_data(
    make_linear_gaussian,
):
    # A linear VAE can represent data from x = W z + mu + noise exactly, so its
    # importance-weighted score should reach the true log-likelihood, as PCA's
    # probabilistic score does.
    X, mean, covariance = make_linear_gaussian(3000)
    X_train, X_test = X[:2000], X[2000:]
    true = multivariate_normal(mean, covariance).logpdf(X_test).mean()
    vae = GaussianVAE(
        2,
        hidden_layer_sizes=(),
        learning_rate=1e-2,
        max_iter=100,
        n_importance_samples=500,
        random_state=0,
    ).fit(X_train)
    score = vae.score(X_test)
    assert abs(score - true) < 0.1
    assert abs(score - PCA(2).fit(X_train).score(X_test)) < 0.1
    # The ELBO is a looser bound than the importance-weighted one; here the
    # posterior is nearly exact, so the two agree within the ELBO's noise.
    elbo = vae.set_params(n_importance_samples=1).score_samples(X_test)
    assert elbo.mean() < score + 3 * elbo.std() / np.sqrt(len(elbo))


def test_score_does_not_rest_on_the_encoder_alone(make_linear_gaussian):
    # log p(x) is the decoder's, the likelihood's and the prior's: the encoder
    # only proposes the draws. Spoil it, as an amortized encoder is spoiled on
    # rows unlike its training rows, and the score must still reach the exact
    # log-likelihood of this linear Gaussian model, which draws from the
    # encoder alone do not.
    X, _, _ = make_linear_gaussian(400, n_features=5, n_latent=2, noise=0.5)
    model = GaussianVAE(
        2,
        hidden_layer_sizes=(),
        likelihood="gaussian",
        max_iter=30,
        device="cpu",
        random_state=0,
    ).fit(X)
    module = model.module_
    W = module.decoder.linear.weight.detach().double().numpy()
    b = module.decoder.linear.bias.detach().double().numpy()
    psi = module.likelihood.variance().detach().double().numpy()
    exact = multivariate_normal(b, W @ W.T + np.diag(psi)).logpdf(X[:50])
    with torch.no_grad():
        module.encoder.linear.weight.mul_(0.3)  # codes shrunk towards 0
    scores = model.score_samples(X[:50])
    assert np.abs(scores - exact).mean() < 0.05
    x = torch.as_tensor(X[:50], dtype=torch.float32)
    noise = torch.randn(100, 50, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        encoder_only = importance_weighted_log_likelihood(
            module, x, noise, every_row=False
        ).numpy()
    assert (exact - encoder_only).mean() > 0.5


def test_importance_weighted_bound_is_above_elbo_and_tightens(binary_digits):
    X, _ = binary_digits
    vae = GaussianVAE(
        4,
        likelihood="bernoulli",
        hidden_layer_sizes=(32,),
        max_iter=20,
        early_stopping=False,
        random_state=0,
    ).fit(X)
    model = vae.module_.eval()
    x = torch.as_tensor(X[:100], dtype=torch.float32)
    generator = torch.Generator().manual_seed(1)

    def mean_bound(n_draws, repeats=20):
        values = []
        with torch.no_grad():
            for _ in range(repeats):
                noise = torch.randn(n_draws, *x.shape[:1], 4, generator=generator)
                if n_draws == 1:
                    values.append(elbo(model, x, noise).mean())
                else:
                    values.append(
                        importance_weighted_log_likelihood(model, x, noise).mean()
                    )
        return torch.stack(values).mean().item()

    bounds = [mean_bound(k) for k in (1, 5, 50, 200)]
    # Increasing in K, up to the noise of the average once the bound has
    # nearly converged (the posterior is close to exact here: a gap of 0.02).
    assert all(b <= c + 1e-3 for b, c in zip(bounds, bounds[1:], strict=False))
    assert bounds[0] < bounds[1] < bounds[3]
    assert bounds[-1] - bounds[0] > 0.01


def test_fitted_attributes(digits):
    X, _ = digits
    vae = GaussianVAE(3, early_stopping=False, **FAST)
    with pytest.warns(ConvergenceWarning, match="maximum iterations") as record:
        vae.fit(X[:100])
    # The warning points at the line that called fit, not into skvae.
    assert record[0].filename == __file__
    assert vae.early_stopping_ is False
    assert vae.n_iter_ == 3
    assert len(vae.loss_curve_) == 3
    assert vae.n_steps_ == 6  # batch_size='auto' is 64: 2 steps per epoch
    assert vae.validation_scores_ is None
    assert vae.n_features_in_ == 64
    assert vae.device_ == torch.device("cpu")
    assert vae.transform(X[:5]).shape == (5, 3)
    assert vae.inverse_transform(np.zeros((2, 3))).shape == (2, 64)


def test_the_loss_parts_are_kept_for_every_epoch(digits):
    X, _ = digits
    vae = GaussianVAE(2, beta=2.0, early_stopping=False, **FAST).fit(X[:100])
    loss = np.array(vae.loss_curve_)
    reconstruction = np.array(vae.reconstruction_curve_)
    kl = np.array(vae.kl_curve_)
    assert loss.shape == reconstruction.shape == kl.shape == (3,)
    # Each epoch's loss is beta * KL - reconstruction, all means over its rows.
    np.testing.assert_allclose(loss, 2.0 * kl - reconstruction, rtol=1e-5)
    assert (kl > 0).all()
    vae.partial_fit(X[:100])
    assert len(vae.reconstruction_curve_) == len(vae.kl_curve_) == 4
    assert vae.reconstruction_curve_[:3] == list(reconstruction)


def test_training_reduces_the_loss(digits):
    X, _ = digits
    vae = GaussianVAE(
        4, hidden_layer_sizes=(32,), max_iter=30, random_state=0, early_stopping=False
    )
    vae.fit(X[:500])
    # The first epoch starts from probabilistic PCA, already a fair model.
    assert vae.loss_curve_[-1] < vae.loss_curve_[0] - 5


def test_same_random_state_gives_the_same_model_bit_for_bit(digits):
    X, _ = digits
    first = GaussianVAE(2, **FAST).fit(X[:200])
    second = GaussianVAE(2, **FAST).fit(X[:200])
    for a, b in zip(
        first.module_.state_dict().values(),
        second.module_.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    assert np.array_equal(first.score_samples(X[:50]), second.score_samples(X[:50]))
    assert np.array_equal(first.sample(5), second.sample(5))
    other = GaussianVAE(2, **{**FAST, "random_state": 1}).fit(X[:200])
    assert not np.array_equal(first.transform(X[:5]), other.transform(X[:5]))


def test_global_torch_random_state_is_left_alone(digits):
    X, _ = digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    GaussianVAE(2, **FAST).fit(X[:50])
    assert torch.equal(torch.rand(3), expected)


def test_a_row_scores_the_same_whatever_else_is_in_the_call(digits):
    X, _ = digits
    vae = GaussianVAE(2, n_importance_samples=7, **FAST).fit(X[:100])
    alone = vae.score_samples(X[3:4])
    in_batch = vae.score_samples(X[:10])[3]
    shuffled = vae.score_samples(X[[5, 3, 1]])[1]
    assert alone[0] == in_batch == shuffled
    assert vae.score(X[:10]) == pytest.approx(np.mean(vae.score_samples(X[:10])))
    assert isinstance(vae.score(X[:10]), float)


def test_beta_weights_the_kl_term(digits):
    X, _ = digits
    kls = []
    for beta in (0.1, 4.0):
        vae = GaussianVAE(
            2, beta=beta, hidden_layer_sizes=(32,), max_iter=20, random_state=0
        ).fit(X[:300])
        with torch.no_grad():
            latent = vae.module_.latent
            posterior = vae.module_.encode(
                torch.as_tensor(X[:300], dtype=torch.float32)
            )
            # Under a mixture prior the KL term is estimated at draws.
            z = latent.sample(posterior, latent.noise(300, torch.Generator()))
            kls.append(latent.kl(posterior, z).mean().item())
    assert kls[1] < kls[0]


def test_kl_warmup_schedule():
    assert beta_at(0, 2.0, 4) == pytest.approx(0.5)
    assert beta_at(3, 2.0, 4) == pytest.approx(2.0)
    assert beta_at(10, 2.0, 4) == 2.0
    assert beta_at(0, 2.0, 0) == 2.0


def test_kl_warmup_never_outlasts_fit(digits, monkeypatch):
    # fit trains 5 epochs of 1 step; a warm-up of 1000 steps is cut to half of
    # that, so that the last epochs train at the full beta.
    import skvae._core.training as training

    seen = []
    original = training.beta_at

    def recording_beta_at(step, beta, warmup_steps):
        value = original(step, beta, warmup_steps)
        seen.append(value)
        return value

    monkeypatch.setattr(training, "beta_at", recording_beta_at)
    X, _ = digits
    GaussianVAE(2, kl_warmup_steps=1000, **{**FAST, "max_iter": 5}).fit(X[:100])
    assert seen[0] < 1.0
    assert seen[-2:] == [1.0, 1.0]


def test_early_stopping_keeps_the_best_validation_weights(digits):
    X, _ = digits
    vae = GaussianVAE(
        2,
        hidden_layer_sizes=(16,),
        early_stopping=True,
        n_iter_no_change=2,
        learning_rate=0.05,
        max_iter=50,
        random_state=0,
    ).fit(X[:300])
    assert len(vae.validation_scores_) == vae.n_iter_
    # The start competes: at this learning rate no epoch beats it.
    assert vae.best_validation_score_ >= max(vae.validation_scores_)
    assert vae.n_iter_ < 50
    assert vae.validation_scores_[-1] < vae.best_validation_score_


def test_training_loop_restores_the_best_validation_weights(digits):
    X, _ = digits
    vae = GaussianVAE(2, hidden_layer_sizes=(16,), max_iter=1, random_state=0)
    vae.fit(X[:50])
    model = vae.module_
    x_train = torch.as_tensor(X[:200], dtype=torch.float32)
    x_val = torch.as_tensor(X[200:260], dtype=torch.float32)
    noise = torch.randn(1, 60, 2, generator=torch.Generator().manual_seed(0))
    history = train(
        model,
        torch.optim.Adam(model.parameters(), lr=0.05),
        x_train,
        TrainingSettings(
            batch_size=20,
            max_epochs=40,
            tol=0.0,
            n_iter_no_change=3,
            permutation_seed=0,
            noise_seed=1,
        ),
        validation_data=x_val,
        validation_noise=lambda x: noise,
    )
    assert history.stopped_early
    with torch.no_grad():
        restored = elbo(model.eval(), x_val, noise).mean().item()
    assert restored == pytest.approx(history.best_validation_score, abs=1e-4)
    assert history.best_validation_score >= max(history.validation_scores)
    assert history.validation_scores[-1] < restored


def test_stops_when_the_training_loss_stops_improving(digits):
    X, _ = digits
    vae = GaussianVAE(
        2,
        hidden_layer_sizes=(8,),
        tol=1e6,
        n_iter_no_change=2,
        max_iter=50,
        random_state=0,
        early_stopping=False,
    ).fit(X[:100])
    # With an unreachable tol no epoch counts as progress: 1 + n_iter_no_change + 1.
    assert vae.n_iter_ == 4


@pytest.mark.parametrize("n_iter_no_change, n_iter", [("auto", 100), (20, 21)])
def test_auto_patience_gives_the_start_200_steps(digits, n_iter_no_change, n_iter):
    X, _ = digits
    # A learning rate too small to move any weight: no epoch beats the start.
    vae = GaussianVAE(
        2,
        hidden_layer_sizes=(8,),
        learning_rate=1e-30,
        batch_size=50,
        max_iter=150,
        n_iter_no_change=n_iter_no_change,
        early_stopping=True,
        random_state=0,
    ).fit(X[:100])
    assert set(vae.validation_scores_) == {vae.best_validation_score_}
    # 90 training rows in batches of 50 are 2 steps an epoch: 'auto' waits
    # 100 epochs for the first improvement, 20 epochs wait 21.
    assert vae.n_iter_ == n_iter


def test_early_stopping_needs_rows_to_train_on():
    vae = GaussianVAE(early_stopping=True, validation_fraction=0.9)
    with pytest.raises(ValueError, match="leaves none to train on"):
        vae.fit(np.ones((1, 3)))


def test_partial_fit_runs_one_epoch_per_call(digits):
    X, _ = digits
    vae = GaussianVAE(2, hidden_layer_sizes=(16,), batch_size=50, random_state=0)
    vae.partial_fit(X[:100])
    assert (vae.n_iter_, vae.n_steps_) == (1, 2)
    vae.partial_fit(X[100:250])
    assert (vae.n_iter_, vae.n_steps_) == (2, 5)
    assert len(vae.loss_curve_) == 2
    with pytest.raises(ValueError, match="features"):
        vae.partial_fit(X[:10, :5])


def test_warm_start_continues_training(digits):
    X, _ = digits
    vae = GaussianVAE(2, warm_start=True, early_stopping=False, **FAST).fit(X[:100])
    weights = vae.module_.decoder.linear.weight.detach().clone()
    vae.fit(X[:100])
    assert vae.n_iter_ == 6
    assert len(vae.loss_curve_) == 6
    assert not torch.equal(weights, vae.module_.decoder.linear.weight)
    vae.set_params(n_components=3)
    with pytest.raises(ValueError, match="different architecture"):
        vae.fit(X[:100])
    assert vae.n_components == 3 and vae.transform(X[:2]).shape == (2, 2)


def test_cold_fit_starts_over(digits):
    X, _ = digits
    vae = GaussianVAE(2, **FAST, early_stopping=True).fit(X[:100])
    vae.fit(X[:100, :10])
    assert vae.n_iter_ == 3 and vae.n_features_in_ == 10


def test_sample(digits):
    X, _ = digits
    vae = GaussianVAE(2, **FAST).fit(X[:100])
    samples = vae.sample(7)
    assert samples.shape == (7, 64) and samples.dtype == np.float64
    assert np.array_equal(vae.sample(3, random_state=4), vae.sample(3, random_state=4))
    assert not np.array_equal(
        vae.sample(3, random_state=4), vae.sample(3, random_state=5)
    )
    # Without observation noise, samples are decoder means of prior draws.
    means = vae.sample(3, random_state=4, noise=False)
    assert means.shape == (3, 64)
    assert not np.allclose(means, vae.sample(3, random_state=4))
    with pytest.raises(ValueError, match="positive integer"):
        vae.sample(0)


def test_gaussian_likelihood_variance_floor():
    # A constant feature: its variance sinks to the floor, not to zero, and the
    # density stays finite.
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.normal(size=200), np.full(200, 3.0)])
    vae = GaussianVAE(
        1,
        hidden_layer_sizes=(8,),
        min_variance=1e-3,
        max_iter=20,
        learning_rate=0.05,
        random_state=0,
    ).fit(X)
    variance = vae.module_.likelihood.variance().detach().numpy()
    assert variance[1] >= 1e-3
    assert np.isfinite(vae.score(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_early_stopping_watches_the_bound_that_score_reports(beta, monkeypatch):
    # With beta=1 the held-out rows are scored on a 10-draw importance-weighted
    # bound, what score estimates; with another beta, on the beta-ELBO that
    # training maximizes. Training itself is the same either way.
    X = np.random.RandomState(0).randn(300, 6) @ np.random.RandomState(1).randn(6, 6)
    params = dict(
        n_components=2, beta=beta, early_stopping=True, max_iter=4, random_state=0
    )
    default = GaussianVAE(n_iter_no_change=10, **params).fit(X)
    monkeypatch.setattr(
        GaussianVAE, "_validation_draws", lambda self, settings: settings.n_draws
    )
    on_elbo = GaussianVAE(n_iter_no_change=10, **params).fit(X)
    assert default.loss_curve_ == on_elbo.loss_curve_
    bound, elbo_scores = (np.array(m.validation_scores_) for m in (default, on_elbo))
    if beta == 1.0:
        assert np.all(bound != elbo_scores)
        assert np.allclose(bound, elbo_scores, atol=0.5)  # one quantity, two estimates
    else:
        np.testing.assert_array_equal(bound, elbo_scores)
