"""Observation models p(x|z): what the decoder's output means.

A likelihood is one class, a subclass of :class:`Likelihood` registered in
:data:`LIKELIHOODS` under its ``name``: the estimators' ``likelihood`` parameter
accepts every registered name, and nothing else in skvae names a likelihood.
"""

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Configurable, Registry

_LOG_2PI = math.log(2.0 * math.pi)


class Likelihood(Configurable, nn.Module, ABC):
    """The interface of an observation model p(x|z); subclass it to add one.

    ``out`` is the decoder's output, one value per feature; ``x`` a row, or
    rows, of data. Log-densities are summed over features: one value per row.

    A subclass sets the class attributes below, implements the abstract
    methods, and is registered with ``LIKELIHOODS.register``. Its
    constructor takes ``n_features`` and then one keyword argument per name in
    ``hyperparameters`` (see :class:`~skvae._core.registry.Configurable`), so
    that the model can be described in plain data and rebuilt
    (``skvae._core.state``).

    Attributes
    ----------
    name : str
        The value of the estimators' ``likelihood`` parameter that selects it.
    hyperparameters : tuple of str
        Estimator parameters it reads, by name: given to the constructor and,
        before every fit (``warm_start`` and ``partial_fit`` included), to
        ``configure``. A name the estimator lacks keeps the constructor's
        default.
    linear_gaussian : bool
        Whether a linear decoder makes the model linear-Gaussian (probabilistic
        PCA, factor analysis), so that it may start at probabilistic PCA
        (``VAE.linear_start``). Such a likelihood offers ``min_variance`` and
        :meth:`start_noise`.
    needs_covariance : bool
        Whether :meth:`start_noise` uses the data's full covariance matrix.
    log_concave : bool
        Whether log p(x|out) is concave in ``out``, so that the Laplace
        proposal of ``AutoencoderGMM``'s scores (which needs :meth:`curvature`)
        may use it. Otherwise those scores draw from the prior alone.
    positive_only : bool
        Whether the data must be non-negative: scikit-learn's
        ``input_tags.positive_only`` tag.
    """

    name = None
    hyperparameters = ()
    linear_gaussian = False
    needs_covariance = False
    log_concave = False
    positive_only = False

    def __init__(self, n_features):
        super().__init__()

    @classmethod
    def check_domain(cls, values, estimator_name):
        """Raise a ValueError, in skvae's words, for data outside the domain.

        ``values`` is a list of arrays that hold between them every value of X
        (a sparse matrix's stored values and, if it has implicit entries, a
        zero). Called before anything changes, by ``fit``, ``partial_fit`` and
        ``score_samples``. Any value is in the domain by default.
        """

    @classmethod
    def update_tags(cls, tags):
        """Set the scikit-learn tags that this likelihood implies."""
        tags.input_tags.positive_only = cls.positive_only

    @abstractmethod
    def log_prob(self, x, out):
        """log p(x|out) per row; ``out`` may carry leading draw dimensions."""

    def log_prob_pairs(self, x, out):
        """log p(x_i | out_j) for every row i and decoder output j: (rows, outputs).

        This default broadcasts to a (rows, outputs, features) tensor; a
        likelihood whose log-density is a matrix product in x should override
        it, as exact scoring sizes its blocks for (rows, outputs) values.
        """
        return self.log_prob(x[:, None, :], out[None, :, :])

    def curvature(self, x, out):
        """Second derivative of log p(x|out) in each output (features are
        independent given out, so the Hessian is diagonal). Needed where
        ``log_concave`` is true."""
        raise NotImplementedError(f"{type(self).__name__} gives no curvature.")

    @abstractmethod
    def mean(self, out):
        """E[x|out]: what ``inverse_transform`` returns."""

    @abstractmethod
    def sample(self, out, generator):
        """A draw of x from p(x|out)."""

    @abstractmethod
    def initialize(self, x_mean, x_var):
        """Set the likelihood's own parameters from the data's mean and
        variance per feature, and return the decoder output whose mean is
        ``x_mean``: the decoder's bias that makes the untrained model predict
        the data mean."""


# The registered likelihoods, by name: the estimators' ``likelihood`` options.
LIKELIHOODS = Registry("likelihood", Likelihood)


def make_likelihood(name, n_features, parameters):
    """The likelihood ``name`` for ``n_features`` features; a ValueError for a
    name that is not registered.

    ``parameters`` maps estimator parameter names to values; the likelihood
    takes those it declares and ignores the rest.
    """
    cls = LIKELIHOODS.lookup(name)
    return cls(n_features, **cls.own_parameters(parameters))


@LIKELIHOODS.register
class GaussianLikelihood(Likelihood):
    """x ~ N(decoder(z), diag(variance)), one learned variance per feature.

    ``variance = min_variance + exp(log_variance)``: the floor keeps a constant
    feature from sending the density to infinity.
    """

    name = "gaussian"
    hyperparameters = ("min_variance",)
    # With a linear decoder this is probabilistic PCA or factor analysis, so
    # the model may start at probabilistic PCA (VAE.linear_start).
    linear_gaussian = True
    log_concave = True

    def __init__(self, n_features, min_variance=1e-6):
        super().__init__(n_features)
        self.min_variance = min_variance
        self.log_variance = nn.Parameter(torch.zeros(n_features))

    def variance(self):
        return self.min_variance + torch.exp(self.log_variance)

    def log_prob(self, x, out):
        variance = self.variance()
        return -0.5 * (_LOG_2PI + torch.log(variance) + (x - out) ** 2 / variance).sum(
            -1
        )

    def log_prob_pairs(self, x, out):
        """log p(x_i | out_j) for every row i and decoder output j.

        A matrix product gives all (rows, outputs) pairs without a (rows,
        outputs, features) tensor. Centred on the outputs' mean, so that
        expanding the square does not cancel catastrophically when x and out
        are close and a variance tiny.
        """
        scale = self.variance().sqrt()
        centre = out.mean(0)
        x = (x - centre) / scale
        out = (out - centre) / scale
        squared = (x**2).sum(-1)[:, None] - 2 * x @ out.T + (out**2).sum(-1)
        return -0.5 * (squared + (_LOG_2PI + 2 * torch.log(scale)).sum())

    def curvature(self, x, out):
        return (-1 / self.variance()).expand_as(out)

    def mean(self, out):
        return out

    def sample(self, out, generator):
        noise = torch.randn(
            out.shape, generator=generator, device=generator.device, dtype=out.dtype
        )
        return out + torch.sqrt(self.variance()) * noise

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        # Start from the independent-Gaussian fit of the data, so that unscaled
        # features do not begin with a variance that is orders of magnitude off.
        excess = torch.clamp(x_var - self.min_variance, min=self.min_variance)
        self.log_variance.copy_(torch.log(excess))
        return x_mean

    @torch.no_grad()
    def set_variance(self, variance):
        """Each feature's variance (a scalar or one per feature), at least
        twice the floor."""
        excess = torch.clamp(variance - self.min_variance, min=self.min_variance)
        self.log_variance.copy_(torch.log(excess).expand_as(self.log_variance))

    @torch.no_grad()
    def start_noise(self, variances, weight, covariance=None):
        """Start the noise of the linear model x = mean + weight z + noise at
        the feature ``variances`` the components leave, and return
        weight^T Psi^-1 (float64), which gives that model's posterior."""
        self.set_variance(variances)
        return weight.double().T / variances.double()


@LIKELIHOODS.register
class FullGaussianLikelihood(Likelihood):
    """x ~ N(decoder(z), Sigma), with one full covariance matrix Sigma learned.

    Parametrized by its precision, Sigma^-1 = P P^T with P lower triangular
    and a positive diagonal, so that the log-density is a matrix product.
    With a linear decoder the model contains every Gaussian: it starts at the
    data's covariance, the components' part W W^T plus the rest as Sigma, and
    the latent code is then free to model what no covariance can. Tabular
    features that are nearly linear functions of each other (a radius, its
    perimeter and its area) give a full covariance tiny variances across them,
    which no diagonal one can. Each diagonal entry of P is at most
    ``min_variance ** -0.5``, so that the density stays bounded.
    """

    name = "gaussian_full"
    hyperparameters = ("min_variance",)
    linear_gaussian = True
    needs_covariance = True

    def __init__(self, n_features, min_variance=1e-6):
        super().__init__(n_features)
        self.min_variance = min_variance
        self.precision_tril = nn.Parameter(torch.zeros(n_features, n_features))
        self.log_precision_diag = nn.Parameter(torch.zeros(n_features))
        self.register_buffer(
            "_strictly_lower", torch.tril(torch.ones(n_features, n_features), -1)
        )

    def _factor(self):
        """P, and log det P."""
        log_diag = self.log_precision_diag.clamp(max=-0.5 * math.log(self.min_variance))
        factor = self.precision_tril * self._strictly_lower + torch.diag(
            torch.exp(log_diag)
        )
        return factor, log_diag.sum()

    def log_prob(self, x, out):
        factor, log_det = self._factor()
        whitened = (x - out) @ factor
        return log_det - 0.5 * (x.shape[-1] * _LOG_2PI + (whitened**2).sum(-1))

    def log_prob_pairs(self, x, out):
        factor, log_det = self._factor()
        centre = out.mean(0)
        a, b = (x - centre) @ factor, (out - centre) @ factor
        squared = (a**2).sum(-1)[:, None] - 2 * a @ b.T + (b**2).sum(-1)
        return log_det - 0.5 * (x.shape[-1] * _LOG_2PI + squared)

    def mean(self, out):
        return out

    def sample(self, out, generator):
        noise = torch.randn(
            out.shape, generator=generator, device=generator.device, dtype=out.dtype
        )
        # u P = noise has covariance P^-T P^-1 = Sigma.
        factor, _ = self._factor()
        return out + torch.linalg.solve_triangular(
            factor.to(out.dtype), noise, upper=False, left=False
        )

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        self.set_variance(x_var)
        return x_mean

    @torch.no_grad()
    def set_variance(self, variance):
        """A diagonal covariance: each feature's variance, at least
        ``min_variance``."""
        variance = torch.clamp(variance, min=self.min_variance)
        self.precision_tril.zero_()
        self.log_precision_diag.copy_(
            (-0.5 * torch.log(variance)).expand_as(self.log_precision_diag)
        )

    @torch.no_grad()
    def set_covariance(self, covariance):
        """Sigma itself (symmetric positive definite), in float64."""
        precision = torch.linalg.inv(covariance)
        factor = torch.linalg.cholesky((precision + precision.T) / 2)
        self.precision_tril.copy_(factor.to(self.precision_tril.dtype))
        self.log_precision_diag.copy_(torch.log(torch.diagonal(factor)))

    @torch.no_grad()
    def start_noise(self, variances, weight, covariance=None):
        """Start Sigma at what the components leave of the data's
        ``covariance``, or at ``variances`` without a covariance; return
        weight^T Sigma^-1 (float64).

        The residual's eigenvalues are floored at a millionth of the mean
        variance (and twice ``min_variance``): near-collinear features leave
        directions of tiny variance, which are what a full covariance is for.
        """
        weight = weight.double()
        if covariance is None:
            self.set_variance(variances)
            return weight.T / variances.double()
        covariance = covariance.double()
        residual = covariance - weight @ weight.T
        eigenvalues, eigenvectors = torch.linalg.eigh((residual + residual.T) / 2)
        floor = max(
            1e-6 * float(torch.diagonal(covariance).mean()), 2 * self.min_variance
        )
        residual = (eigenvectors * eigenvalues.clamp(min=floor)) @ eigenvectors.T
        self.set_covariance(residual)
        return torch.linalg.solve(residual, weight).T


@LIKELIHOODS.register
class BernoulliLikelihood(Likelihood):
    """x ~ Bernoulli(sigmoid(decoder(z))) per feature; grey levels in [0, 1] too."""

    name = "bernoulli"
    log_concave = True
    # Values above 1 are refused by check_domain; the tag makes scikit-learn's
    # checks shift their data to be non-negative.
    positive_only = True

    @classmethod
    def check_domain(cls, values, estimator_name):
        values = [v for v in values if v.size]
        if not values:
            return
        low = min(v.min() for v in values)
        high = max(v.max() for v in values)
        if low < 0 or high > 1:
            problem = "Negative values" if low < 0 else "Values greater than 1"
            raise ValueError(
                f"{problem} in data passed to {estimator_name}: "
                f"likelihood={cls.name!r} needs every value of X in [0, 1], but X "
                f"has values in [{low:g}, {high:g}]. Scale X into [0, 1] (for "
                "example with sklearn.preprocessing.MinMaxScaler), or use "
                "likelihood='gaussian'."
            )

    def log_prob(self, x, out):
        # sum_j x_j out_j - softplus(out_j): the contraction never expands x
        # to the shape of out (K draws of every row when scoring), which made
        # binary_cross_entropy_with_logits take twice as long.
        return torch.einsum("...j,...j->...", x, out) - F.softplus(out).sum(-1)

    def log_prob_pairs(self, x, out):
        return x @ out.T - F.softplus(out).sum(-1)

    def curvature(self, x, out):
        probability = torch.sigmoid(out)
        return -probability * (1 - probability)

    def mean(self, out):
        return torch.sigmoid(out)

    def sample(self, out, generator):
        return torch.bernoulli(torch.sigmoid(out), generator=generator)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        return torch.logit(x_mean.clamp(1e-3, 1 - 1e-3))
