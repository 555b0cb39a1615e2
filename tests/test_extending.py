"""Adding a likelihood, a latent family or a network to the core: one class (or
one builder function), registered by name; the estimators need no other edit."""

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.utils import get_tags
from torch import nn

import skvae
from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE
from skvae._core import scoring
from skvae._core.latents import LATENTS, LatentFamily
from skvae._core.likelihoods import LIKELIHOODS, Likelihood, make_likelihood
from skvae._core.networks import NETWORKS, LinearPlusMLP, build_vae
from skvae._core.state import build_module, module_arrays, module_config

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=2,
    n_importance_samples=8,
    device="cpu",
    random_state=0,
)
ESTIMATORS = [GaussianVAE, BernoulliVAE, AutoencoderGMM]


class StudentTLikelihood(Likelihood):
    """x ~ t_4(decoder(z), scale), a scale per feature: heavy tails, and a
    log-density that is not concave in the decoder's output."""

    name = "test_student_t"
    # An estimator parameter it reads by name, as the Gaussian likelihood does.
    hyperparameters = ("min_variance",)
    degrees_of_freedom = 4

    def __init__(self, n_features, min_variance=1e-6):
        super().__init__(n_features)
        self.min_variance = min_variance
        self.log_scale = nn.Parameter(torch.zeros(n_features))

    def scale(self):
        return torch.sqrt(self.min_variance + torch.exp(2 * self.log_scale))

    def log_prob_elements(self, x, out):
        # The per-column log-density: its sum is log_prob, and its sum over
        # the observed entries the likelihood of a row with missing values.
        v = self.degrees_of_freedom
        scale = self.scale()
        normalizer = (
            math.lgamma((v + 1) / 2) - math.lgamma(v / 2) - 0.5 * math.log(v * math.pi)
        )
        t = (x - out) / scale
        return normalizer - torch.log(scale) - (v + 1) / 2 * torch.log1p(t**2 / v)

    def mean(self, out):
        return out

    def sample(self, out, generator):
        v = self.degrees_of_freedom
        normals = torch.randn(
            (*out.shape, v + 1),
            generator=generator,
            device=generator.device,
            dtype=out.dtype,
        )
        chi2 = (normals[..., 1:] ** 2).sum(-1)
        return out + self.scale() * normals[..., 0] / torch.sqrt(chi2 / v)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        self.log_scale.copy_(0.5 * torch.log(x_var.clamp(min=1e-6)))
        return x_mean


@pytest.fixture
def student_t():
    LIKELIHOODS.register(StudentTLikelihood)
    yield StudentTLikelihood
    del LIKELIHOODS[StudentTLikelihood.name]


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


def test_an_unknown_name_is_an_error_in_the_core():
    with pytest.raises(
        ValueError, match=r"Unknown likelihood 'student_t'.*\['bernoulli', 'categ"
    ):
        make_likelihood("student_t", 3, {})
    with pytest.raises(ValueError, match="Unknown latent family 'gamma'"):
        LATENTS.lookup("gamma")
    with pytest.raises(ValueError, match="Unknown network builder 'conv'"):
        build_vae(
            3,
            {"name": "conv"},
            LATENTS["gaussian"](2),
            make_likelihood("gaussian", 3, {}),
        )


def test_the_registry_refuses_a_taken_name_and_what_is_not_a_likelihood():
    class Impostor(StudentTLikelihood):
        name = "gaussian"

    with pytest.raises(ValueError, match="named 'gaussian' is registered already"):
        LIKELIHOODS.register(Impostor)
    with pytest.raises(TypeError, match="must subclass Likelihood"):
        LIKELIHOODS.register(nn.Linear)
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        LIKELIHOODS.register(type("Nameless", (StudentTLikelihood,), {"name": None}))
    assert sorted(LIKELIHOODS) == [
        "bernoulli",
        "categorical",
        "gaussian",
        "gaussian_full",
        "lognormal",
        "lognormal_full",
        "poisson",
    ]


def test_the_protocols_are_enforced():
    # A likelihood or a family that lacks a required method cannot be built.
    with pytest.raises(TypeError, match="abstract"):
        type("Partial", (Likelihood,), {"name": "partial"})(3)
    with pytest.raises(TypeError, match="abstract"):
        type("Partial", (LatentFamily,), {"name": "partial"})(3)
    for name, cls in LATENTS.items():
        family = cls(3)
        assert isinstance(family, LatentFamily) and family.name == name
        assert family.scoring in scoring.ESTIMATES
    for name, cls in LIKELIHOODS.items():
        assert issubclass(cls, Likelihood) and cls.name == name


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_a_registered_likelihood_needs_no_estimator_edit(
    student_t, digits, tmp_path, Estimator
):
    X = digits[0][:150]
    model = _fit(Estimator(2, likelihood="test_student_t", **FAST), X)
    assert type(model.module_.likelihood) is student_t
    assert np.isfinite(model.score_samples(X[:10])).all()
    assert model.sample(3).shape == (3, 64)
    assert not get_tags(model).input_tags.positive_only
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        restored.score_samples(X[:10]), model.score_samples(X[:10])
    )
    pytest.importorskip("safetensors")
    skvae.save(model, tmp_path / "model.safetensors")
    loaded = skvae.load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(loaded.transform(X[:10]), model.transform(X[:10]))
    # Its estimator parameter reaches it again before a continued fit.
    _fit(model.set_params(warm_start=True, min_variance=0.25), X)
    assert model.module_.likelihood.min_variance == 0.25


def test_laplace_scores_draw_from_the_prior_alone_when_not_log_concave(
    student_t, monkeypatch
):
    # One latent dimension, so that log p(x) can be integrated on a grid.
    rng = np.random.RandomState(0)
    z = rng.normal(size=(200, 1))
    X = z @ np.array([[1.0, 2.0, -1.0]]) + 0.5 * rng.normal(size=(200, 3))
    model = AutoencoderGMM(
        1, likelihood="test_student_t", n_mixture_components=2, **FAST
    )
    model = _fit(model.set_params(max_iter=20, n_importance_samples=4000), X)

    def fail(*args, **kwargs):
        raise AssertionError("the Laplace proposal assumes a log-concave likelihood")

    monkeypatch.setattr(scoring, "laplace_approximation", fail)
    scores = model.score_samples(X[:5])
    module = model._inference_module(torch.float64)
    grid = torch.linspace(-15, 15, 30_001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        x = torch.as_tensor(X[:5])
        log_joint = module.likelihood.log_prob(
            x[:, None, :], module.decode(grid)
        ) + module.latent.log_prior(grid)
        exact = torch.logsumexp(log_joint, dim=1) + math.log(grid[1, 0] - grid[0, 0])
    np.testing.assert_allclose(scores, exact.numpy(), atol=0.05)


def test_a_network_builder_is_one_function(monkeypatch):
    def linear(n_inputs, n_outputs, latent, *, activation):
        return (
            LinearPlusMLP(n_inputs, (), latent.n_encoder_outputs, activation),
            LinearPlusMLP(latent.n_components, (), n_outputs, activation),
        )

    monkeypatch.setitem(NETWORKS, "test_linear", linear)
    network = {"name": "test_linear", "activation": "identity"}
    model = build_vae(
        5, network, LATENTS["gaussian"](2), make_likelihood("gaussian", 5, {})
    )
    config = module_config(model)
    assert config["network"] == network
    rebuilt = build_module(config, module_arrays(model))
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(
            rebuilt.decode(rebuilt.encode(x)[0]), model.decode(model.encode(x)[0])
        )
