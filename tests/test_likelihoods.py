"""The likelihoods for the columns users have: counts ('poisson'), categories
('categorical') and positive values ('lognormal'), against scipy.stats, and
the per-column primitive that every likelihood offers."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from skvae._core.likelihoods import (
    LIKELIHOODS,
    BernoulliLikelihood,
    CategoricalLikelihood,
    ColumnLikelihood,
    GaussianLikelihood,
    LogNormalLikelihood,
    PoissonLikelihood,
)

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=3,
    n_importance_samples=4,
    device="cpu",
    random_state=0,
)
DOUBLE = torch.float64


def _tensor(values):
    return torch.tensor(values, dtype=DOUBLE)


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


def _poisson():
    x = _tensor([[0.0, 3.0], [7.0, 1.0]])
    out = _tensor([[0.5, -1.0], [2.0, 0.1]])
    expected = stats.poisson.logpmf(x.numpy(), np.exp(out.numpy()))
    return PoissonLikelihood(2).double(), x, out, expected


def _lognormal():
    likelihood = LogNormalLikelihood(2).double()
    with torch.no_grad():
        likelihood.log_variance.copy_(_tensor([-1.0, 0.5]))
    x = _tensor([[0.3, 2.0], [5.0, 0.01]])
    out = _tensor([[0.0, 1.0], [1.5, -2.0]])
    sigma = np.sqrt(likelihood.variance().detach().numpy())
    expected = stats.lognorm.logpdf(x.numpy(), s=sigma, scale=np.exp(out.numpy()))
    return likelihood, x, out, expected


def _one_hot():
    x = _tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    out = _tensor([[0.2, 1.0, -0.5], [3.0, 0.0, 1.0]])
    probabilities = F.softmax(out, -1).numpy()
    masses = stats.multinomial.logpmf(x.numpy(), 1, probabilities)
    # The group's log-probability in its first column, 0 in the others.
    expected = np.stack([masses, np.zeros(2), np.zeros(2)], axis=1)
    return CategoricalLikelihood(3).double(), x, out, expected


def _codes():
    x = _tensor([[2.0], [0.0]])
    out = _tensor([[0.2, 1.0, -0.5], [3.0, 0.0, 1.0]])
    probabilities = F.softmax(out, -1).numpy()
    expected = np.log(probabilities[[0, 1], [2, 0]])[:, None]
    return CategoricalLikelihood(1, n_levels=3).double(), x, out, expected


CASES = {
    "poisson": _poisson,
    "lognormal": _lognormal,
    "one_hot": _one_hot,
    "codes": _codes,
}


@pytest.mark.parametrize("case", CASES)
def test_log_prob_against_scipy(case):
    likelihood, x, out, expected = CASES[case]()
    with torch.no_grad():
        elements = likelihood.log_prob_elements(x, out)
        np.testing.assert_allclose(elements.numpy(), expected, rtol=1e-12)
        np.testing.assert_allclose(
            likelihood.log_prob(x, out).numpy(), expected.sum(-1), rtol=1e-12
        )
        # Every row against every output, in one matrix, as exact scoring
        # asks; and with leading draw dimensions on the outputs.
        pairs = likelihood.log_prob_pairs(x, out)
        broadcast = likelihood.log_prob(x[:, None, :], out[None, :, :])
        np.testing.assert_allclose(pairs.numpy(), broadcast.numpy(), rtol=1e-12)
        draws = likelihood.log_prob(x, torch.stack([out, out]))
        np.testing.assert_allclose(draws.numpy(), [expected.sum(-1)] * 2, rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_curvature_is_the_diagonal_of_the_hessian(case):
    likelihood, x, out, _ = CASES[case]()
    curvature = likelihood.curvature(x, out)
    assert likelihood.log_concave and (curvature <= 0).all()
    hessians = [
        torch.autograd.functional.hessian(
            lambda o, row=row: likelihood.log_prob(row, o), out_row
        )
        for row, out_row in zip(x, out, strict=True)
    ]
    diagonal = torch.stack([torch.diagonal(h) for h in hessians])
    np.testing.assert_allclose(curvature.detach().numpy(), diagonal.numpy(), rtol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_samples_have_the_mean(case):
    likelihood, x, out, _ = CASES[case]()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        draws = likelihood.sample(out.expand(20_000, *out.shape), generator)
        mean = likelihood.mean(out)
    assert draws.shape == (20_000, *x.shape)
    if case == "codes":
        # The mean of a code is no level: mean() gives the most probable one,
        # the level drawn most often.
        np.testing.assert_array_equal(torch.mode(draws, 0).values, mean)
        return
    np.testing.assert_allclose(draws.mean(0), mean, rtol=0.05)


def test_the_untrained_decoder_predicts_the_data():
    # Counts and positive values: their mean; categories: their frequencies.
    x_mean, x_var = _tensor([2.5, 0.0]), _tensor([4.0, 0.0])
    poisson = PoissonLikelihood(2).double()
    np.testing.assert_allclose(
        poisson.mean(poisson.initialize(x_mean, x_var)), [2.5, 1e-6], rtol=1e-12
    )
    lognormal = LogNormalLikelihood(1).double()
    with torch.no_grad():
        start = lognormal.initialize(_tensor([3.0]), _tensor([2.0]))
        np.testing.assert_allclose(lognormal.mean(start), [3.0], rtol=1e-6)
    one_hot = CategoricalLikelihood(3).double()
    frequencies = _tensor([0.5, 0.2, 0.3])
    start = one_hot.initialize(frequencies, frequencies * (1 - frequencies))
    np.testing.assert_allclose(F.softmax(start, -1), frequencies, rtol=1e-12)
    codes = CategoricalLikelihood(1, n_levels=4).double()
    assert codes.observes_rows
    for block in (_tensor([[0.0], [1.0], [1.0]]), _tensor([[3.0]])):
        codes.observe(block)
    start = codes.initialize(_tensor([1.25]), _tensor([1.0]))
    np.testing.assert_allclose(F.softmax(start, -1), [0.25, 0.5, 0, 0.25], atol=1e-5)


def test_gaussian_and_bernoulli_log_probs_keep_their_bits():
    # The per-column primitive is new; the row sums are the expressions the
    # models trained with before it, bit for bit.
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, generator=generator)
    out = torch.randn(3, 5, 7, generator=generator)
    gaussian = GaussianLikelihood(7)
    with torch.no_grad():
        gaussian.log_variance.copy_(torch.randn(7, generator=generator))
        variance = gaussian.variance()
        before = -0.5 * (
            math.log(2 * math.pi) + torch.log(variance) + (x - out) ** 2 / variance
        ).sum(-1)
        assert torch.equal(gaussian.log_prob(x, out), before)
        torch.testing.assert_close(
            gaussian.log_prob_elements(x, out).sum(-1), before, rtol=1e-6, atol=1e-5
        )
    bernoulli = BernoulliLikelihood(7)
    binary = (x > 0).float()
    before = torch.einsum("...j,...j->...", binary, out) - F.softplus(out).sum(-1)
    assert torch.equal(bernoulli.log_prob(binary, out), before)
    torch.testing.assert_close(
        bernoulli.log_prob_elements(binary, out).sum(-1), before, rtol=1e-6, atol=1e-5
    )


def test_column_likelihood_puts_each_part_in_its_columns():
    poisson, x_p, out_p, expected_p = _poisson()
    codes, x_c, out_c, expected_c = _codes()
    # Columns 1 and 3 are counts, column 0 a category code; 2 is Gaussian.
    gaussian = GaussianLikelihood(1).double()
    x_g, out_g = _tensor([[0.5], [-1.0]]), _tensor([[0.0], [0.2]])
    expected_g = stats.norm.logpdf(x_g.numpy(), out_g.numpy(), np.sqrt(1 + 1e-6))
    likelihood = ColumnLikelihood(4, [(poisson, [3, 1]), (codes, [0]), (gaussian, [2])])
    assert likelihood.n_outputs == 2 + 3 + 1
    x = torch.cat([x_c, x_p[:, 1:], x_g, x_p[:, :1]], -1)
    out = torch.cat([out_p, out_c, out_g], -1)
    expected = np.concatenate(
        [expected_c, expected_p[:, 1:], expected_g, expected_p[:, :1]], -1
    )
    with torch.no_grad():
        np.testing.assert_allclose(
            likelihood.log_prob_elements(x, out), expected, rtol=1e-12
        )
        np.testing.assert_allclose(
            likelihood.log_prob(x, out), expected.sum(-1), rtol=1e-12
        )
        np.testing.assert_allclose(
            likelihood.log_prob_pairs(x, out),
            likelihood.log_prob(x[:, None, :], out[None]),
            rtol=1e-12,
        )
        mean = likelihood.mean(out)
    np.testing.assert_allclose(mean[:, [3, 1]], poisson.mean(out_p).detach())
    np.testing.assert_array_equal(mean[:, 0], [1.0, 0.0])
    assert likelihood.log_concave
    assert likelihood.encoder_input(x).shape == (2, 2 + 3 + 1)


# --- In the estimators --------------------------------------------------------


@pytest.mark.parametrize("Estimator", [GaussianVAE, BernoulliVAE, AutoencoderGMM])
@pytest.mark.parametrize("name", ["poisson", "lognormal", "categorical"])
def test_each_likelihood_fits_scores_and_samples(Estimator, name):
    rng = np.random.RandomState(0)
    X = {
        "poisson": rng.poisson(3.0, size=(60, 4)).astype(float),
        "lognormal": np.exp(rng.normal(size=(60, 4))),
        "categorical": np.eye(4)[rng.randint(0, 4, size=60)],
    }[name]
    extra = {"n_mixture_components": 2} if Estimator is AutoencoderGMM else {}
    model = _fit(Estimator(2, likelihood=name, **FAST, **extra), X)
    assert model.likelihoods_ == [(name, [0, 1, 2, 3])]
    assert type(model.module_.likelihood) is LIKELIHOODS[name]
    scores = model.score_samples(X[:10])
    assert scores.shape == (10,) and np.isfinite(scores).all()
    if name != "lognormal":
        # Masses: a row's probability is at most 1.
        assert (scores <= 0).all()
    assert model.inverse_transform(model.transform(X[:3])).shape == (3, 4)
    samples = model.sample(5)
    if name == "poisson":
        assert (samples >= 0).all() and (samples == np.round(samples)).all()
    elif name == "lognormal":
        assert (samples > 0).all()
    else:
        assert (samples.sum(1) == 1).all()


def test_an_integer_coded_column_has_one_output_per_level():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 3, size=(50, 1)).astype(float)
    model = _fit(GaussianVAE(2, likelihood="categorical", **FAST), X)
    assert model.module_.likelihood.n_levels == 3
    assert model.module_.decoder.linear.out_features == 3
    assert model.module_.encoder.linear.in_features == 3
    assert set(np.unique(model.inverse_transform(model.transform(X)))) <= {0, 1, 2}
    assert set(np.unique(model.sample(20))) <= {0.0, 1.0, 2.0}


def test_exact_scores_of_masses_add_up_to_one():
    # With codes of a few bits the score is exact: over every value of a
    # categorical column (3 levels) and a one-hot pair, the probabilities of
    # all 6 possible rows add up to one.
    rng = np.random.RandomState(0)
    X = np.column_stack(
        [rng.randint(0, 3, size=80), np.eye(2)[rng.randint(0, 2, size=80)]]
    ).astype(float)
    plan = [("categorical", [0]), ("categorical", [1, 2])]
    model = _fit(BernoulliVAE(3, likelihood=plan, **FAST), X)
    rows = np.array([[c, a, 1 - a] for c in range(3) for a in (0, 1)], dtype=float)
    np.testing.assert_allclose(np.exp(model.score_samples(rows)).sum(), 1, rtol=1e-6)


@pytest.mark.parametrize(
    "name, X, match",
    [
        ("poisson", [[1.0, 2.5], [0.0, 1.0]], "not counts.*the value 2.5"),
        ("poisson", [[1.0, -1.0], [0.0, 1.0]], "not counts.*the value -1"),
        ("lognormal", [[1.0, 0.0], [2.0, 1.0]], r"not positive.*\[0, 2\]"),
        (
            "categorical",
            [[1.0, 0.0], [1.0, 1.0]],
            r"not one-hot.*row 1 is \[1.0, 1.0\]",
        ),
        ("categorical", [[0.0], [1.5]], "not category codes.*the value 1.5"),
    ],
)
def test_data_outside_the_domain_is_refused_in_skvae_words(name, X, match):
    model = GaussianVAE(2, likelihood=name, **FAST)
    with pytest.raises(ValueError, match=match):
        model.fit(np.array(X))
    assert not hasattr(model, "module_")


def test_a_fitted_model_refuses_unseen_levels_and_is_left_as_it_was():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 3, size=(40, 1)).astype(float)
    model = _fit(GaussianVAE(2, likelihood="categorical", **FAST), X)
    before = dict(vars(model))
    for method in (model.score_samples, model.transform, model.partial_fit):
        with pytest.raises(ValueError, match="fitted with 3 levels.*the code 3"):
            method(np.array([[3.0]]))
    assert vars(model).keys() == before.keys()
    assert all(vars(model)[k] is v for k, v in before.items())


def test_transform_checks_the_domain_only_where_the_encoder_maps_it():
    rng = np.random.RandomState(0)
    model = _fit(
        GaussianVAE(2, likelihood="lognormal", **FAST), np.exp(rng.rand(30, 2))
    )
    with pytest.raises(ValueError, match="not positive"):
        model.transform(np.array([[1.0, 0.0]]))
    # A Bernoulli model encodes any numbers, as it always did.
    binary = _fit(GaussianVAE(2, likelihood="bernoulli", **FAST), rng.rand(30, 2))
    assert np.isfinite(binary.transform(np.array([[3.0, -1.0]]))).all()


def test_a_lognormal_model_starts_at_probabilistic_pca_of_log_x(make_linear_gaussian):
    # Linear networks, one step of a negligible size: the model as it starts.
    # Its start is probabilistic PCA of its encoder inputs, log x standardized,
    # linearized into its outputs: for the lognormal exactly a Gaussian model
    # of those inputs, up to the Jacobian and the start's centring.
    X, _, _ = make_linear_gaussian(400, n_features=4, noise=0.3)
    X = np.exp(0.3 * X)
    settings = dict(
        FAST,
        hidden_layer_sizes=(),
        max_iter=1,
        learning_rate=1e-10,
        early_stopping=False,
        n_importance_samples=200,
    )
    lognormal = _fit(GaussianVAE(2, likelihood="lognormal", **settings), X)
    likelihood = lognormal.module_.likelihood
    location = likelihood.input_location.double().numpy()
    scale = likelihood.input_scale.double().numpy()
    inputs = (np.log(X) - location) / scale
    gaussian = _fit(GaussianVAE(2, likelihood="gaussian", **settings), inputs)
    expected = gaussian.score(inputs) - np.log(scale).sum() - np.log(X).sum(1).mean()
    assert abs(lognormal.score(X) - expected) < 0.05
