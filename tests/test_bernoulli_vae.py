"""BernoulliVAE: the binary latent family, its gradient estimators and its scores."""

import copy
import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from torch.distributions import Bernoulli, kl_divergence

from skvae import BernoulliVAE
from skvae._core.latents import BernoulliLatent
from skvae._core.objectives import training_loss
from skvae._core.scoring import exact_log_likelihood, importance_weighted_log_likelihood

FAST = dict(hidden_layer_sizes=(16,), max_iter=3, device="cpu", random_state=0)
ESTIMATORS = ["reinforce", "relaxed", "straight_through"]

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def fitted(binary_digits):
    """A small model whose bits carry information, with a trained baseline.

    The relaxed estimator at a high learning rate gets the bits used quickly;
    a warm start with the score-function estimator then trains the baseline.
    """
    X, _ = binary_digits
    vae = BernoulliVAE(
        6,
        likelihood="bernoulli",
        hidden_layer_sizes=(32,),
        batch_size=50,
        learning_rate=1e-2,
        max_iter=40,
        tol=0.0,
        random_state=0,
        device="cpu",
        early_stopping=False,
    ).fit(X)
    vae.set_params(
        gradient_estimator="reinforce",
        learning_rate=1e-3,
        max_iter=60,
        warm_start=True,
    ).fit(X)
    return vae, torch.as_tensor(X[:64], dtype=torch.float32)


# --- The latent family ----------------------------------------------------------


def test_kl_matches_torch_distributions():
    latent = BernoulliLatent(4)
    logits = torch.tensor(
        [[0.3, -2.0, 5.0, 0.0], [40.0, -40.0, 1e-3, -7.5]], dtype=torch.float64
    )
    expected = kl_divergence(
        Bernoulli(logits=logits), Bernoulli(probs=torch.full_like(logits, 0.5))
    ).sum(-1)
    torch.testing.assert_close(latent.kl((logits,)), expected)
    # Stable where the probabilities round to 0 or 1: KL -> n_components log 2.
    saturated = latent.kl((torch.tensor([[200.0, -200.0, 1e4, -1e4]]),))
    torch.testing.assert_close(saturated, torch.tensor([4 * math.log(2.0)]))


def test_log_densities_match_torch_distributions():
    latent = BernoulliLatent(3)
    logits = torch.tensor([[0.5, -1.0, 3.0], [-0.2, 8.0, -30.0]])
    z = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]])  # a leading draw dim
    torch.testing.assert_close(
        latent.log_posterior(z, (logits,)),
        Bernoulli(logits=logits).log_prob(z).sum(-1),
    )
    torch.testing.assert_close(
        latent.log_prior(z), torch.full((1, 2), -3 * math.log(2))
    )


def test_bits_follow_the_posterior_and_the_prior():
    latent = BernoulliLatent(3)
    logits = torch.tensor([[-2.0, 0.0, 1.5]])
    generator = torch.Generator().manual_seed(0)
    noise = latent.noise(20000, generator)[:, None, :]  # (draws, rows, bits)
    z = latent.sample((logits,), noise)
    assert set(z.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(z.mean(0), torch.sigmoid(logits), atol=0.01, rtol=0)
    prior = latent.prior_sample(20000, generator)
    torch.testing.assert_close(prior.mean(0), torch.full((3,), 0.5), atol=0.01, rtol=0)
    torch.testing.assert_close(latent.mean((logits,)), torch.sigmoid(logits))


@pytest.mark.parametrize("gradient_estimator", ESTIMATORS)
def test_training_sample_of_each_estimator(gradient_estimator):
    latent = BernoulliLatent(5, gradient_estimator, temperature=0.5)
    logits = torch.randn(8, 5, requires_grad=True)
    z, state = latent.training_sample((logits,), torch.Generator().manual_seed(0))
    assert z.shape == (8, 5)
    if gradient_estimator == "relaxed":
        assert ((z > 0) & (z < 1)).all()
    else:
        assert set(z.unique().tolist()) <= {0.0, 1.0}
    if gradient_estimator == "reinforce":
        # Hard bits carry no gradient: the encoder learns through log q(z|x).
        assert not z.requires_grad
        assert state[0].shape == (8,) and state[0].requires_grad
    else:
        assert state is None
        z.sum().backward()
        assert logits.grad.abs().sum() > 0


def test_codes_enumerate_every_bit_pattern_once():
    codes = BernoulliLatent(4).codes(0, 16)
    assert codes.shape == (16, 4)
    assert len({tuple(c) for c in codes.tolist()}) == 16
    torch.testing.assert_close(BernoulliLatent(4).codes(5, 7), codes[5:7])


# --- Exact log-likelihood ---------------------------------------------------------


def _brute_force_log_likelihood(model, x):
    """log sum_z p(x|z) p(z) with the likelihood's own log_prob, all pairs at once."""
    codes = model.latent.codes(0, 2**model.latent.n_components, x.dtype)
    out = model.decode(codes).expand(x.shape[0], -1, -1)  # (rows, codes, features)
    log_joint = model.likelihood.log_prob(x[:, None, :], out) + model.latent.log_prior(
        codes
    )
    return torch.logsumexp(log_joint, dim=1)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("n_components", [3, 13])  # 13 bits: several code chunks
def test_exact_log_likelihood_matches_brute_force(likelihood, n_components):
    X = (np.random.RandomState(0).uniform(size=(30, 5)) > 0.5).astype(np.float64)
    vae = BernoulliVAE(n_components, likelihood=likelihood, **FAST).fit(X)
    model = vae._inference_module(torch.float64)
    x = torch.as_tensor(X[:7])
    with torch.no_grad():
        expected = _brute_force_log_likelihood(model, x)
        torch.testing.assert_close(exact_log_likelihood(model, x), expected)
    np.testing.assert_allclose(vae.score_samples(X[:7]), expected.numpy())


def test_exact_likelihood_sums_to_one_over_all_binary_rows():
    X = (np.random.RandomState(0).uniform(size=(40, 4)) > 0.3).astype(np.float64)
    vae = BernoulliVAE(3, likelihood="bernoulli", **FAST).fit(X)
    every_row = np.array(list(itertools.product([0.0, 1.0], repeat=4)))
    assert np.exp(vae.score_samples(every_row)).sum() == pytest.approx(1.0, abs=1e-9)


def test_importance_weighted_estimate_approaches_the_exact_value_from_below(fitted):
    vae, x = fitted
    model = vae.module_.eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        exact = exact_log_likelihood(model, x).mean().item()
        # Independent repetitions: their mean is the expected estimate, which
        # the importance-weighted bound says rises towards log p(x) with K.
        estimates = [
            torch.stack([_iw_estimate(model, x, k, generator) for _ in range(100)])
            for k in (1, 4, 16, 64)
        ]
    gaps = [exact - e.mean().item() for e in estimates]
    tolerance = 3 * max(e.std().item() / 10 for e in estimates)
    assert all(gap > -tolerance for gap in gaps), gaps
    assert all(b < a + tolerance for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[-1] < gaps[0] / 4, gaps


def _iw_estimate(model, x, n_draws, generator):
    """The mean over rows of one importance-weighted estimate with K draws."""
    noise = model.latent.noise(n_draws * x.shape[0], generator)
    noise = noise.reshape(n_draws, x.shape[0], -1)
    return importance_weighted_log_likelihood(model, x, noise).mean()


def test_score_is_exact_up_to_the_threshold_then_importance_weighted(binary_digits):
    X, _ = binary_digits
    X = X[:, :8]
    exact = BernoulliVAE(16, n_importance_samples=2, **FAST).fit(X)
    # n_importance_samples plays no part in an exact score.
    scores = exact.score_samples(X[:5])
    np.testing.assert_array_equal(
        exact.set_params(n_importance_samples=50).score_samples(X[:5]), scores
    )
    estimated = BernoulliVAE(17, n_importance_samples=2, **FAST).fit(X)
    assert not np.array_equal(
        estimated.score_samples(X[:5]),
        estimated.set_params(n_importance_samples=50).score_samples(X[:5]),
    )


@pytest.mark.parametrize("n_components", [4, 20])  # exact, importance-weighted
def test_a_row_scores_the_same_whatever_else_is_in_the_call(
    binary_digits, n_components
):
    X, _ = binary_digits
    vae = BernoulliVAE(n_components, n_importance_samples=5, **FAST).fit(X[:100])
    alone = vae.score_samples(X[3:4])
    in_batch = vae.score_samples(X[:10])[3]
    shuffled = vae.score_samples(X[[5, 3, 1]])[1]
    np.testing.assert_allclose([in_batch, shuffled], [alone[0]] * 2, rtol=1e-12)


# --- The score-function estimator ---------------------------------------------------


def _encoder_gradients(model, x, n_repeats):
    """Encoder gradients of the training loss, one row per random draw."""
    model = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    gradients = []
    for _ in range(n_repeats):
        model.zero_grad()
        loss, _, _ = training_loss(model, x, 1.0, generator)
        loss.backward()
        gradients.append(
            torch.cat([p.grad.flatten() for p in model.encoder.parameters()])
        )
    return torch.stack(gradients)


def test_the_baseline_cuts_the_gradient_variance_and_keeps_its_mean(
    fitted,
):
    vae, x = fitted
    # eval() freezes the baseline's running statistics; gradients still flow.
    model = vae.module_.eval()
    full = _encoder_gradients(model, x, 200)
    # The running mean alone: the baseline network's output set to 0.
    ablated = copy.deepcopy(model).eval()
    torch.nn.init.zeros_(ablated.latent.baseline[-1].weight)
    torch.nn.init.zeros_(ablated.latent.baseline[-1].bias)
    mean_only = _encoder_gradients(ablated, x, 200)
    # No baseline at all.
    ablated.latent.signal_mean.zero_()
    ablated.latent.signal_variance.fill_(1.0)
    none = _encoder_gradients(ablated, x, 200)

    variances = [g.var(0).sum().item() for g in (full, mean_only, none)]
    # The network's share depends on what the fixture trained (15% with plain
    # MLPs, 6% with linear-plus-MLP networks); the running mean does the most.
    assert variances[0] < 0.97 * variances[1] < variances[2] / 5, variances
    # Every version is unbiased: the means agree within a few standard errors.
    difference = full.mean(0) - none.mean(0)
    standard_error = ((full.var(0) + none.var(0)) / 200).sqrt()
    assert (difference.abs() < 5 * standard_error + 1e-6).float().mean() > 0.99


def test_score_function_term_leaves_the_reported_loss_alone(fitted):
    vae, x = fitted
    model = vae.module_.eval()
    loss, reconstruction, kl = training_loss(
        model, x, 1.0, torch.Generator().manual_seed(0)
    )
    assert loss.item() == pytest.approx((kl - reconstruction).item(), rel=1e-6)


def test_baseline_statistics_follow_the_reconstruction(fitted):
    vae, x = fitted
    latent = vae.module_.latent
    # One update per step of the score-function fit: 60 epochs of 6 batches.
    assert latent.n_signal_updates.item() == 60 * 6
    with torch.no_grad():
        posterior = vae.module_.encode(x)
        z = latent.sample(posterior, latent.noise(64, torch.Generator()))
        reconstruction = vae.module_.likelihood.log_prob(x, vae.module_.decode(z))
    assert abs(latent.signal_mean.item() - reconstruction.mean().item()) < 5


# --- The estimator -------------------------------------------------------------------


@pytest.mark.parametrize("gradient_estimator", ESTIMATORS)
def test_each_estimator_trains(binary_digits, gradient_estimator):
    X, _ = binary_digits
    # A high learning rate: on so few steps, the default leaves the bits unused.
    vae = BernoulliVAE(
        8,
        likelihood="bernoulli",
        gradient_estimator=gradient_estimator,
        hidden_layer_sizes=(32,),
        batch_size=50,
        learning_rate=1e-2,
        max_iter=60,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert np.mean(vae.loss_curve_[-3:]) < vae.loss_curve_[0] - 0.5
    codes = vae.transform(X)
    assert codes.shape == (len(X), 8)
    assert ((codes >= 0) & (codes <= 1)).all()
    assert codes.std(0).max() > 0.1  # the codes depend on the input


def test_a_bit_starts_as_the_sign_of_the_leading_principal_component():
    # Two clusters along one direction of a rotated 5-D cloud: the start reads
    # the cluster off the sign of the first principal component, and one
    # epoch keeps it (a start at the data's mean agreed on 67% of the rows).
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    Z = rng.normal(size=(400, 5))
    Z[:, 0] += 4 * (2 * labels - 1)
    X = Z @ np.linalg.qr(rng.normal(size=(5, 5)))[0]
    vae = BernoulliVAE(1, max_iter=1, random_state=0, device="cpu").fit(X)
    bits = vae.transform(X)[:, 0] > 0.5
    assert max(np.mean(bits == labels), np.mean(bits != labels)) > 0.97
    # The decoder maps the two codes to the two cluster means.
    means = vae.inverse_transform(np.array([[0.0], [1.0]]))
    centres = [X[labels == c].mean(0) for c in (0, 1)]
    distance = np.linalg.norm(centres[0] - centres[1])
    error = min(
        np.linalg.norm(means - centres, axis=1).max(),
        np.linalg.norm(means - centres[::-1], axis=1).max(),
    )
    assert error < 0.25 * distance


def test_bits_stay_alive_under_a_full_covariance():
    # Digits divided by 16 (repeated values), likelihood='auto': a full
    # covariance. Started at the data's mean, every bit died (0 of 8 active,
    # its codes useless as features).
    from sklearn.datasets import load_digits

    X = load_digits().data[:500] / 16
    vae = BernoulliVAE(8, hidden_layer_sizes=(32,), random_state=0, device="cpu")
    vae.fit(X)
    assert vae.likelihoods_[0][0] == "gaussian_full"
    assert vae.n_active_components_ >= 6


def test_transform_is_deterministic_and_rounds_to_hard_codes(binary_digits):
    X, _ = binary_digits
    vae = BernoulliVAE(5, **FAST).fit(X)
    np.testing.assert_array_equal(vae.transform(X), vae.transform(X))
    hard = (vae.transform(X) > 0.5).astype(float)
    assert set(np.unique(hard)) <= {0.0, 1.0}
    assert vae.inverse_transform(hard).shape == X.shape


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_sample(binary_digits, likelihood):
    X, _ = binary_digits
    vae = BernoulliVAE(4, likelihood=likelihood, **FAST).fit(X)
    rows = vae.sample(7)
    assert rows.shape == (7, X.shape[1]) and rows.dtype == np.float64
    np.testing.assert_array_equal(rows, vae.sample(7))
    means = vae.sample(3, random_state=1, noise=False)
    assert means.shape == (3, X.shape[1])
    if likelihood == "bernoulli":
        assert set(np.unique(rows)) <= {0.0, 1.0}
        assert ((means >= 0) & (means <= 1)).all()


def test_pickle_round_trip_keeps_the_baseline(fitted, binary_digits):
    X, _ = binary_digits
    vae, _ = fitted
    loaded = pickle.loads(pickle.dumps(vae))
    for name, value in vae.module_.latent.state_dict().items():
        assert torch.equal(loaded.module_.latent.state_dict()[name], value), name
    np.testing.assert_array_equal(
        loaded.score_samples(X[:20]), vae.score_samples(X[:20])
    )
    np.testing.assert_array_equal(loaded.transform(X[:20]), vae.transform(X[:20]))
    # The restored baseline keeps learning where it stopped.
    loaded.partial_fit(X)
    updates = loaded.module_.latent.n_signal_updates
    assert updates == vae.module_.latent.n_signal_updates + len(X) // 50


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_in_is_dtype_out(binary_digits, dtype):
    X, _ = binary_digits
    X = X.astype(dtype)
    vae = BernoulliVAE(4, **FAST).fit(X)
    assert vae.transform(X).dtype == dtype
    assert vae.score_samples(X).dtype == dtype
    assert vae.inverse_transform(vae.transform(X)).dtype == dtype


def test_same_random_state_gives_the_same_model_bit_for_bit(binary_digits):
    X, _ = binary_digits
    params = dict(gradient_estimator="reinforce", n_importance_samples=3, **FAST)
    first = BernoulliVAE(20, **params).fit(X)
    second = BernoulliVAE(20, **params).fit(X)
    for a, b in zip(
        first.module_.state_dict().values(),
        second.module_.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    np.testing.assert_array_equal(first.score_samples(X), second.score_samples(X))
    np.testing.assert_array_equal(first.sample(5), second.sample(5))
    other = BernoulliVAE(20, **{**params, "random_state": 1}).fit(X)
    assert not np.array_equal(first.transform(X[:5]), other.transform(X[:5]))


def test_warm_start_trains_with_the_current_gradient_estimator(binary_digits):
    X, _ = binary_digits
    # Without a validation split, whose best weights (buffers included) could
    # be the start's.
    vae = BernoulliVAE(
        4, gradient_estimator="relaxed", early_stopping=False, **FAST
    ).fit(X)
    assert vae.module_.latent.n_signal_updates.item() == 0
    vae.set_params(gradient_estimator="reinforce", temperature=0.3, warm_start=True)
    vae.fit(X)
    assert vae.module_.latent.gradient_estimator == "reinforce"
    assert vae.module_.latent.temperature == 0.3
    assert vae.module_.latent.n_signal_updates.item() == vae.n_steps_ // 2
    vae.set_params(gradient_estimator="straight_through").partial_fit(X)
    assert vae.module_.latent.gradient_estimator == "straight_through"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"gradient_estimator": "gumbel"}, "gradient_estimator"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"beta": -1.0}, "beta"),
    ],
)
def test_bad_parameters_are_named(binary_digits, params, message):
    X, _ = binary_digits
    with pytest.raises(InvalidParameterError, match=message):
        BernoulliVAE(**params, **FAST).fit(X)


def test_bernoulli_likelihood_refuses_data_outside_the_unit_interval(binary_digits):
    X, _ = binary_digits
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        BernoulliVAE(likelihood="bernoulli", **FAST).fit(X * 2)
    vae = BernoulliVAE(likelihood="bernoulli", **FAST).fit(X)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        vae.score_samples(X - 1)
