"""Latent families: the prior p(z), the posterior q(z|x) and how to sample it.

A family turns the encoder's output into a posterior, and knows how to draw from
it as a function of *noise* drawn separately. Keeping the noise separate lets
the caller make a row's draws from that row alone, so that a row's score never
depends on the other rows of the call.

A family is one class, a subclass of :class:`LatentFamily` registered in
:data:`LATENTS` under its ``name``; an estimator names the family it uses.
"""

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .registry import Configurable, Registry

_LOG_2PI = math.log(2.0 * math.pi)


class LatentFamily(Configurable, nn.Module, ABC):
    """The interface of a latent family; subclass it to add one.

    ``posterior`` is a tuple of tensors, the posterior's parameters for each
    row; ``noise`` the base noise a draw is made from, of shape
    (..., n_components) with optional leading draw dimensions. Log-densities
    are summed over components: one value per row (and draw).

    A subclass sets the class attributes below, implements the abstract
    methods (and the optional ones its attributes promise), and is registered
    with ``LATENTS.register``. Its constructor takes ``n_components`` and then
    one keyword argument per name in ``hyperparameters`` (see
    :class:`~skvae._core.registry.Configurable`).

    Attributes
    ----------
    name : str
        The name a saved model records for the family.
    hyperparameters : tuple of str
        Estimator parameters it reads, by name (BernoulliVAE's
        ``gradient_estimator``, for example).
    n_components : int
        Dimension of z.
    n_encoder_outputs : int
        Width of the encoder's last layer.
    scoring : str
        Which estimate of log p(x) ``score_samples`` reports, by its name in
        ``skvae._core.scoring.ESTIMATES``: ``'importance_weighted'`` (needs
        :meth:`log_posterior`), ``'exact'`` (needs ``codes``) or ``'laplace'``
        (needs a mixture prior, as :class:`DeterministicLatent`'s).
    supports_linear_start : bool
        Whether the model may start as a linear model of the data's leading
        principal directions (``VAE.linear_start``): each code component
        moves x along one direction, by :meth:`start_loading` per unit of the
        standardized code (z - ``code_center``) / ``code_scale``, and
        :meth:`linear_encoder_start` gives that model's posterior.
    code_center, code_scale : float
        The mean and standard deviation of a code component under the prior
        (0 and 1 for a standard normal code, 1/2 and 1/2 for a fair bit).
    laplace_proposal : bool
        Whether p(z|x) may be approximated by a Gaussian about its mode (z
        real-valued, the prior's curvature given by ``prior_precision``):
        the importance draws of ``score_samples`` then come half from it
        (``skvae._core.scoring.importance_weighted_draws``).
    """

    name = None
    scoring = "importance_weighted"
    supports_linear_start = False
    code_center = 0.0
    code_scale = 1.0
    laplace_proposal = False

    def __init__(self, n_components):
        super().__init__()
        self.n_components = n_components

    @abstractmethod
    def posterior(self, h):
        """The encoder's output -> the posterior's parameters (a tuple)."""

    @abstractmethod
    def mean(self, posterior):
        """What ``transform`` returns."""

    @abstractmethod
    def noise(self, n, generator, dtype=torch.float32):
        """(n, n_components) base noise, for training and for the prior."""

    @abstractmethod
    def noise_from_uniform(self, u):
        """The same base noise made from uniforms in (0, 1), for scoring (see
        ``noise.row_uniforms``)."""

    @abstractmethod
    def sample(self, posterior, noise):
        """z from the posterior and base noise."""

    @abstractmethod
    def training_sample(self, posterior, generator):
        """z for one training step, and the extra state that a score-function
        estimator needs (None if not)."""

    def score_function_loss(self, reconstruction, state):
        """Only where ``training_sample`` returns a state: the loss term
        through which the encoder learns."""
        raise NotImplementedError(f"{type(self).__name__} has no score function.")

    def log_posterior(self, z, posterior):
        """log q(z|x); needed by the importance-weighted bound."""
        raise NotImplementedError(f"{type(self).__name__} has no posterior density.")

    @abstractmethod
    def log_prior(self, z):
        """log p(z)."""

    @abstractmethod
    def kl(self, posterior, z=None):
        """KL(q(z|x) || p(z)) per row: in closed form where the family has
        one, else the single-draw estimate log q(z|x) - log p(z) at ``z``, the
        draw the reconstruction was computed at."""

    @abstractmethod
    def kl_per_component(self, posterior):
        """The same per row and component; None for a family without a KL
        term."""

    @abstractmethod
    def prior_sample(self, n, generator, dtype=torch.float32):
        """n draws of z from the prior."""

    def start_loading(self, variances, noise_variance):
        """How far one unit of the standardized code moves x along each leading
        principal direction at the start, from the ``variances`` along them
        and probabilistic PCA's ``noise_variance``: for a Gaussian code,
        probabilistic PCA's maximum-likelihood sqrt(variances -
        noise_variance)."""
        return torch.sqrt(torch.clamp(variances - noise_variance, min=0.0))

    def linear_encoder_start(self, loading, weighted, x_mean):
        """Encoder weight and bias of the posterior of the linear model x =
        ``x_mean`` + ``loading`` (z - code_center) / code_scale + noise, with
        ``weighted`` = loading^T Psi^-1 (float64), Psi the noise covariance;
        where ``supports_linear_start`` is true."""
        raise NotImplementedError(f"{type(self).__name__} has no linear start.")


def _linear_gaussian_posterior(loading, weighted, x_mean):
    """``mean_weight, mean_bias, logvar`` of the posterior of probabilistic PCA
    (or factor analysis) x = x_mean + loading z + noise, z ~ N(0, I):
    precision I + W^T Psi^-1 W, mean precision^-1 W^T Psi^-1 (x - x_mean),
    its variances on the diagonal. Components without loading keep the
    prior."""
    weight = loading.double()
    eye = torch.eye(weight.shape[1], dtype=weight.dtype, device=weight.device)
    precision = eye + weighted @ weight
    covariance = torch.linalg.inv(precision)
    mean_weight = (covariance @ weighted).to(x_mean)
    logvar = torch.log(torch.diagonal(covariance)).to(x_mean)
    return mean_weight, -mean_weight @ x_mean, logvar


# The registered latent families, by name.
LATENTS = Registry("latent family", LatentFamily)


@LATENTS.register
class GaussianLatent(LatentFamily):
    """Posterior N(z_mean, diag(exp(z_logvar))); prior N(0, I), or a learned
    mixture of Gaussians.

    Trained with the reparameterization trick z = z_mean + exp(z_logvar / 2) * eps.
    Under the standard normal prior the KL term is in closed form. A mixture
    prior sum_m w_m N(mu_m, diag(exp(logvar_m))), set by :meth:`set_prior` and
    trained with the networks (Dilokthanakul et al., 2016; Jiang et al.,
    2017), gives the codes room for data made of separate clusters or thin
    manifolds, which a single Gaussian prior blurs together: on the density
    panel it lifted held-out scores from -1.76 to -1.21 nats per row on
    ``make_moons`` and by 0.3 to 2 elsewhere. Its KL term is estimated at the
    draw z, as log q(z|x) - log p(z).
    """

    name = "gaussian"
    supports_linear_start = True
    laplace_proposal = True

    def __init__(self, n_components, n_prior_components=0):
        super().__init__(n_components)
        self.n_encoder_outputs = 2 * n_components
        if n_prior_components:
            self._add_prior(n_prior_components)

    @property
    def n_prior_components(self):
        """Components of the mixture prior; 0 for the standard normal."""
        prior = getattr(self, "prior_logits", None)
        return 0 if prior is None else prior.shape[0]

    def config(self):
        return {**super().config(), "n_prior_components": self.n_prior_components}

    def _add_prior(self, n_prior_components, device=None):
        shape = (n_prior_components, self.n_components)
        self.prior_logits = nn.Parameter(torch.zeros(n_prior_components, device=device))
        self.prior_means = nn.Parameter(torch.zeros(shape, device=device))
        self.prior_logvar = nn.Parameter(torch.zeros(shape, device=device))

    @torch.no_grad()
    def set_prior(self, weights, means, variances):
        """Make the prior the mixture sum_m weights[m] N(means[m],
        diag(variances[m])), trained with the networks from there; on the
        device of ``means``. New parameters: build the optimizer after."""
        self._add_prior(weights.shape[0], means.device)
        self.prior_logits.copy_(torch.log(weights))
        self.prior_means.copy_(means)
        self.prior_logvar.copy_(torch.log(variances))

    def posterior(self, h):
        z_mean, z_logvar = h.chunk(2, dim=-1)
        return z_mean, z_logvar

    def mean(self, posterior):
        return posterior[0]

    def noise(self, n, generator, dtype=torch.float32):
        return torch.randn(
            n,
            self.n_components,
            generator=generator,
            device=generator.device,
            dtype=dtype,
        )

    def noise_from_uniform(self, u):
        return torch.special.ndtri(u)

    def sample(self, posterior, noise):
        z_mean, z_logvar = posterior
        return z_mean + torch.exp(0.5 * z_logvar) * noise

    def training_sample(self, posterior, generator):
        z_mean = posterior[0]
        noise = self.noise(z_mean.shape[0], generator, z_mean.dtype)
        return self.sample(posterior, noise), None

    def log_posterior(self, z, posterior):
        z_mean, z_logvar = posterior
        return _diagonal_log_normal(z, z_mean, z_logvar)

    def log_prior(self, z):
        if not self.n_prior_components:
            return -0.5 * (_LOG_2PI + z**2).sum(-1)
        return torch.logsumexp(
            torch.log_softmax(self.prior_logits, 0)
            + _diagonal_log_normal(
                z[..., None, :], self.prior_means, self.prior_logvar
            ),
            dim=-1,
        )

    def prior_precision(self, z):
        """The prior's curvature at z, (..., n_components, n_components): the
        identity under N(0, I), sum_m r_m(z) diag(exp(-logvar_m)) under a
        mixture, r_m(z) component m's responsibility for z (exact for one
        component, positive definite whatever the mixture)."""
        n = self.n_components
        if not self.n_prior_components:
            eye = torch.eye(n, dtype=z.dtype, device=z.device)
            return eye.expand(*z.shape[:-1], n, n)
        log_densities = _diagonal_log_normal(
            z[..., None, :], self.prior_means, self.prior_logvar
        )
        responsibilities = torch.softmax(
            torch.log_softmax(self.prior_logits, 0) + log_densities, dim=-1
        )
        return torch.diag_embed(responsibilities @ torch.exp(-self.prior_logvar))

    def kl(self, posterior, z=None):
        if not self.n_prior_components:
            return self.kl_per_component(posterior).sum(-1)
        if z is None:
            raise ValueError("A mixture prior's KL term is estimated at a draw z.")
        return self.log_posterior(z, posterior) - self.log_prior(z)

    def kl_per_component(self, posterior):
        """KL(q(z_j|x) || p(z_j)) per row and component j, p(z_j) the prior's
        marginal: in closed form under the standard normal prior, by
        Gauss-Hermite quadrature under a mixture (whose components the KL
        term does not split into; these diagnose, they do not train)."""
        z_mean, z_logvar = posterior
        if not self.n_prior_components:
            return 0.5 * (torch.exp(z_logvar) + z_mean**2 - 1.0 - z_logvar)
        nodes, weights = (
            torch.as_tensor(a, dtype=z_mean.dtype, device=z_mean.device)
            for a in _HERMITE
        )
        # z at the nodes, per row and component: (rows, components, nodes).
        z = z_mean[..., None] + torch.exp(0.5 * z_logvar)[..., None] * nodes
        # log p(z_j) at each node, by mixture component: (M, rows, components,
        # nodes), then summed over the mixture.
        log_components = _log_normal(
            z[None],
            self.prior_means[:, None, :, None],
            self.prior_logvar[:, None, :, None],
        )
        log_weights = torch.log_softmax(self.prior_logits, 0)[:, None, None, None]
        log_marginal = torch.logsumexp(log_weights + log_components, dim=0)
        cross_entropy = -(log_marginal * weights).sum(-1)
        entropy = 0.5 * (_LOG_2PI + 1.0 + z_logvar)
        return cross_entropy - entropy

    def prior_sample(self, n, generator, dtype=torch.float32):
        if not self.n_prior_components:
            return self.noise(n, generator, dtype)
        components = torch.multinomial(
            torch.softmax(self.prior_logits.detach().double(), 0).to(generator.device),
            n,
            replacement=True,
            generator=generator,
        )
        noise = self.noise(n, generator, dtype)
        means = self.prior_means.to(dtype)[components]
        return means + torch.exp(0.5 * self.prior_logvar.to(dtype)[components]) * noise

    def linear_encoder_start(self, loading, weighted, x_mean):
        mean_weight, mean_bias, logvar = _linear_gaussian_posterior(
            loading, weighted, x_mean
        )
        weight = torch.cat([mean_weight, torch.zeros_like(mean_weight)])
        return weight, torch.cat([mean_bias, logvar])


def _log_normal(z, mean, logvar):
    """log N(z; mean, exp(logvar)), elementwise."""
    return -0.5 * _squared_terms(z, mean, logvar)


def _diagonal_log_normal(z, mean, logvar):
    """log N(z; mean, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * _squared_terms(z, mean, logvar).sum(-1)


def _squared_terms(z, mean, logvar):
    """log(2 pi) + logvar + (z - mean)**2 / exp(logvar), elementwise.

    Far from the training data a variance can underflow to 0: (z - mean)**2 *
    exp(-logvar) was then 0 * inf = NaN. Standardizing with a scale floored at
    the smallest normal number gives a finite number, or -inf, instead.
    """
    tiny = torch.finfo(logvar.dtype).tiny
    logvar = logvar.clamp(min=2 * math.log(tiny))
    standardized = (z - mean) * torch.exp(-0.5 * logvar)
    return _LOG_2PI + logvar + standardized**2


# Gauss-Hermite rule for E[f(z)], z ~ N(0, 1): nodes scaled by sqrt(2), weights
# by 1/sqrt(pi). 16 nodes integrate the KL diagnostics of a mixture prior to
# well under 0.01 nats.
_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(16)
_HERMITE = (_NODES * math.sqrt(2.0), _WEIGHTS / math.sqrt(math.pi))


@LATENTS.register
class DeterministicLatent(LatentFamily):
    """A deterministic code z = encoder(x) under a Gaussian-mixture prior.

    Training sees the code itself: no noise and no KL term, so the objective is
    the reconstruction log-likelihood of a plain autoencoder. The prior
    sum_m w_m N(mu_m, Sigma_m) is fitted by the caller on the codes after
    training and handed over with :meth:`set_prior`; it lives in buffers, so it
    moves and pickles with the module. A point mass has no density, hence no
    ``log_posterior``: ``skvae._core.scoring.laplace_log_likelihood``
    estimates log p(x).
    """

    name = "deterministic"
    scoring = "laplace"
    supports_linear_start = True
    laplace_proposal = True

    def __init__(self, n_components):
        super().__init__(n_components)
        self.n_encoder_outputs = n_components
        # Empty until set_prior.
        square = (0, n_components, n_components)
        self.register_buffer("prior_log_weights", torch.zeros(0))
        self.register_buffer("prior_means", torch.zeros(0, n_components))
        self.register_buffer("prior_scale_tril", torch.zeros(square))
        self.register_buffer("prior_inverse_scale_tril", torch.zeros(square))

    @property
    def n_mixture_components(self):
        return self.prior_log_weights.shape[0]

    @torch.no_grad()
    def set_prior(self, weights, means, covariances):
        """Make the prior sum_m weights[m] N(means[m], covariances[m])."""
        like = self.prior_means
        scale_tril = torch.linalg.cholesky(covariances.double())
        self.prior_log_weights = torch.log(weights).to(like)
        self.prior_means = means.to(like)
        # Row-major, as a model rebuilt from its arrays (pickle, skvae.load)
        # has them: LAPACK's factors are column-major, and einsum over another
        # layout sums in another order, which moved scores in the last bit.
        self.prior_scale_tril = scale_tril.to(like).contiguous()
        self.prior_inverse_scale_tril = (
            triangular_inverse(scale_tril).to(like).contiguous()
        )

    def posterior(self, h):
        return (h,)

    def mean(self, posterior):
        return posterior[0]

    def linear_encoder_start(self, loading, weighted, x_mean):
        """The code starts at the linear posterior mean (``VAE.linear_start``)."""
        return _linear_gaussian_posterior(loading, weighted, x_mean)[:2]

    # Standard normal, as GaussianLatent's: the draws of the Laplace scores
    # and prior_sample scale it.
    noise = GaussianLatent.noise
    noise_from_uniform = GaussianLatent.noise_from_uniform

    def sample(self, posterior, noise):
        # A point mass: every draw is the code.
        code = posterior[0]
        return code.expand(torch.broadcast_shapes(code.shape, noise.shape))

    def training_sample(self, posterior, generator):
        return posterior[0], None

    def log_prior(self, z):
        return torch.logsumexp(
            self.prior_log_weights + self.component_log_densities(z), dim=-1
        )

    def kl(self, posterior, z=None):
        return posterior[0].new_zeros(posterior[0].shape[:-1])

    def kl_per_component(self, posterior):
        # A point mass has no KL divergence from the prior: the objective has
        # no KL term, and there is none to report.
        return None

    def prior_sample(self, n, generator, dtype=torch.float32):
        components = torch.multinomial(
            self.prior_log_weights.exp(), n, replacement=True, generator=generator
        )
        return self.component_sample(components, self.noise(n, generator, dtype))

    def component_sample(self, components, noise):
        """mu_c + L_c noise, with L_c L_c^T = Sigma_c, for components c.

        ``components`` holds component indices and broadcasts against
        ``noise.shape[:-1]``.
        """
        scale_tril = self.prior_scale_tril[components]
        return self.prior_means[components] + (scale_tril @ noise[..., None])[..., 0]

    def systematic_components(self, n):
        """n component indices in proportion to the weights, as near as n allows.

        Systematic sampling without the random offset: component m gets
        round(n w_m) indices, give or take one.
        """
        cumulative = torch.cumsum(self.prior_log_weights.double().exp(), 0)
        positions = (torch.arange(n, device=cumulative.device) + 0.5) / n
        components = torch.searchsorted(cumulative, positions.to(cumulative))
        return components.clamp(max=cumulative.shape[0] - 1)

    def component_log_densities(self, z):
        """log N(z; mu_m, Sigma_m) for each component m: shape (..., M)."""
        whitened = torch.einsum(
            "mij,...mj->...mi",
            self.prior_inverse_scale_tril,
            z[..., None, :] - self.prior_means,
        )
        log_det = torch.diagonal(self.prior_scale_tril, dim1=-2, dim2=-1).log().sum(-1)
        return -log_det - 0.5 * (self.n_components * _LOG_2PI + (whitened**2).sum(-1))

    def prior_precision(self, z):
        """The prior's curvature at z: sum_m r_m(z) Sigma_m^-1.

        r_m(z) is component m's responsibility for z; exact for one component,
        and positive definite whatever the mixture.
        """
        responsibilities = torch.softmax(
            self.prior_log_weights + self.component_log_densities(z), dim=-1
        )
        inverse = self.prior_inverse_scale_tril
        return torch.einsum("...m,mki,mkj->...ij", responsibilities, inverse, inverse)


_LOG_2 = math.log(2.0)
# Width of the hidden layer of the score-function baseline's network.
_BASELINE_WIDTH = 64
# Weight of each new batch in the running statistics of the learning signal.
_SIGNAL_MOMENTUM = 0.1
# Floor of the learning signal's running standard deviation, in nats.
_MIN_SIGNAL_SCALE = 1e-3
# Longest code whose log-likelihood is computed exactly, by summing over all
# 2**n_components codes; longer codes get the importance-weighted bound.
EXACT_MAX_COMPONENTS = 16


# The start's logits are the linear model's log-odds times this: the exact
# ones are sure of most bits, whose relaxed samples then pass almost no
# gradient. Over seeds 0-2, 0.3 lifted the codes' accuracy as features on
# digits / 16 from 0.880 to 0.909 and the held-out score of 16 bits on the
# panel's digits from -66.4 to -65.5 nats per row; breast cancer and diabetes
# scored the same (within 0.1).
START_LOGIT_SCALE = 0.3


@LATENTS.register
class BernoulliLatent(LatentFamily):
    """Prior Bernoulli(1/2) per bit; posterior Bernoulli(sigmoid(logits)) per bit.

    A bit is not a differentiable function of the encoder's output, so
    ``training_sample`` follows one of three gradient estimators, named by the
    attribute ``gradient_estimator`` (the estimator may change it between fits):

    ``'reinforce'``
        The score-function estimator (Williams, 1992): the decoder sees hard
        bits, and the encoder's gradient is (log p(x|z) - b(x)) grad log q(z|x).
        The baseline is NVIL's (Mnih and Gregor, 2014): b(x) = m + s * net(q),
        with m and s a running mean and standard deviation of log p(x|z), and
        ``baseline`` a small network of the bit probabilities q, trained by least
        squares to predict the standardized rest. q is detached, so b depends on
        x alone and the estimator stays unbiased. ``score_function_loss`` adds
        both terms.
    ``'relaxed'``
        The binary concrete relaxation (Maddison et al., 2017; Jang et al.,
        2017): the decoder sees z = sigmoid((logits + L) / temperature), with L
        logistic noise. Low variance, biased by the relaxation.
    ``'straight_through'``
        Hard bits forward, the relaxed gradient backward.

    In every case the KL term is that of the discrete posterior, in closed form.

    The model starts with each bit the sign of one leading principal component
    (:meth:`start_loading`, :meth:`linear_encoder_start`). Started at the
    data's mean instead, the bits of a model whose likelihood has a full
    covariance all died on digits divided by 16 (features for a classifier
    0.41 accurate; 0.86 from this start); on the density panel this start
    lifted held-out scores of 4-bit models on breast cancer from -21.9 to
    -10.1 nats per row, auto-mpg from -9.7 to -6.6, diabetes from -12.2 to
    -10.1.
    """

    name = "bernoulli"
    hyperparameters = ("gradient_estimator", "temperature")
    supports_linear_start = True
    code_center = 0.5
    code_scale = 0.5

    def __init__(self, n_components, gradient_estimator="relaxed", temperature=1.0):
        super().__init__(n_components)
        self.n_encoder_outputs = n_components
        self.gradient_estimator = gradient_estimator
        self.temperature = temperature
        # Built for every estimator, so that a warm start may switch to reinforce.
        self.baseline = nn.Sequential(
            nn.Linear(n_components, _BASELINE_WIDTH),
            nn.Tanh(),
            nn.Linear(_BASELINE_WIDTH, 1),
        )
        nn.init.zeros_(self.baseline[-1].weight)
        nn.init.zeros_(self.baseline[-1].bias)
        self.register_buffer("signal_mean", torch.zeros(()))
        self.register_buffer("signal_variance", torch.ones(()))
        self.register_buffer("n_signal_updates", torch.zeros((), dtype=torch.long))

    @property
    def scoring(self):
        if self.n_components <= EXACT_MAX_COMPONENTS:
            return "exact"
        return "importance_weighted"

    def posterior(self, h):
        return (h,)

    def mean(self, posterior):
        return torch.sigmoid(posterior[0])

    def noise(self, n, generator, dtype=torch.float32):
        return torch.rand(
            n,
            self.n_components,
            generator=generator,
            device=generator.device,
            dtype=dtype,
        )

    def noise_from_uniform(self, u):
        return u

    def start_loading(self, variances, noise_variance):
        """A bit moves x by +-a along its principal direction: the least-squares
        a for a projection p of variance ``variances`` is E|p|, sqrt(2 /
        pi) times its standard deviation where p is Gaussian; the rest of the
        variance, (1 - 2 / pi) of it, is left to the noise."""
        return torch.sqrt(2 / math.pi * variances)

    def linear_encoder_start(self, loading, weighted, x_mean):
        """Logits of the posterior of each bit of x = x_mean + W (z - 1/2) +
        noise, W = loading / code_scale, the other bits at their mean: the
        log-odds W^T Psi^-1 (x - x_mean), tempered by
        :data:`START_LOGIT_SCALE`."""
        weight = (START_LOGIT_SCALE * weighted / self.code_scale).to(x_mean)
        return weight, -weight @ x_mean

    def sample(self, posterior, noise):
        logits = posterior[0]
        return (noise < torch.sigmoid(logits)).to(logits.dtype)

    def training_sample(self, posterior, generator):
        logits = posterior[0]
        u = self.noise(logits.shape[0], generator, logits.dtype)
        if self.gradient_estimator == "reinforce":
            z = self.sample(posterior, u)
            state = (self.log_posterior(z, posterior), torch.sigmoid(logits.detach()))
            return z, state
        logistic = torch.logit(u.clamp_min(torch.finfo(u.dtype).tiny))
        relaxed = torch.sigmoid((logits + logistic) / self.temperature)
        if self.gradient_estimator == "relaxed":
            return relaxed, None
        hard = (relaxed > 0.5).to(relaxed.dtype)
        # relaxed - relaxed.detach() is exactly 0, so the decoder sees exact bits.
        return hard + (relaxed - relaxed.detach()), None

    def score_function_loss(self, reconstruction, state):
        """A term worth 0 whose gradient is the score-function estimate.

        Its gradient is -(log p(x|z) - b(x)) grad log q(z|x) averaged over the
        batch, plus that of the baseline network's least-squares fit. Its value
        is 0, so that the loss reported stays the negative ELBO.
        """
        log_posterior, probabilities = state
        signal = reconstruction.detach()
        scale = self.signal_variance.sqrt().clamp_min(_MIN_SIGNAL_SCALE)
        predicted = self.baseline(probabilities).squeeze(-1)
        target = (signal - self.signal_mean) / scale
        advantage = (target - predicted.detach()) * scale
        surrogate = -(advantage * (log_posterior - log_posterior.detach())).mean()
        # No fit before the first statistics: the targets would be in raw nats.
        fit = ((target - predicted) ** 2).mean() * (self.n_signal_updates > 0)
        if self.training:
            # After its use, so that a row's baseline never depends on its own z.
            self._update_signal_statistics(signal)
        return surrogate + fit - fit.detach()

    @torch.no_grad()
    def _update_signal_statistics(self, signal):
        # A plain average over the first batches, then an exponential one.
        weight = torch.clamp(
            1.0 / (self.n_signal_updates + 1), min=_SIGNAL_MOMENTUM
        ).to(signal.dtype)
        self.signal_mean += weight * (signal.mean() - self.signal_mean)
        variance = ((signal - self.signal_mean) ** 2).mean()
        self.signal_variance += weight * (variance - self.signal_variance)
        self.n_signal_updates += 1

    def log_posterior(self, z, posterior):
        logits = posterior[0]
        return (z * F.logsigmoid(logits) + (1 - z) * F.logsigmoid(-logits)).sum(-1)

    def log_prior(self, z):
        return z.new_full(z.shape[:-1], -self.n_components * _LOG_2)

    def kl(self, posterior, z=None):
        return self.kl_per_component(posterior).sum(-1)

    def kl_per_component(self, posterior):
        logits = posterior[0]
        p = torch.sigmoid(logits)
        return p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits) + _LOG_2

    def prior_sample(self, n, generator, dtype=torch.float32):
        return (self.noise(n, generator, dtype) < 0.5).to(dtype)

    def codes(self, start, stop, dtype=torch.float32, device=None):
        """Codes number ``start`` to ``stop - 1`` of the 2**n_components, as bits."""
        numbers = torch.arange(start, stop, device=device)
        bits = torch.arange(self.n_components, device=device)
        return ((numbers[:, None] >> bits) & 1).to(dtype)


def triangular_inverse(lower):
    eye = torch.eye(lower.shape[-1], dtype=lower.dtype, device=lower.device)
    return torch.linalg.solve_triangular(lower, eye, upper=False)
