"""Observation models p(x|z): what the decoder's output means.

A likelihood is one class, a subclass of :class:`Likelihood` registered in
:data:`LIKELIHOODS` under its ``name``: the estimators' ``likelihood`` parameter
accepts every registered name, and nothing else in skvae names a likelihood.
"""

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .registry import Configurable, Registry

_LOG_2PI = math.log(2.0 * math.pi)


class Likelihood(Configurable, nn.Module, ABC):
    """The interface of an observation model p(x|z); subclass it to add one.

    ``out`` is the decoder's output, one value per feature; ``x`` a row, or
    rows, of data. The primitive is :meth:`log_prob_elements`, one
    log-density per data column; :meth:`log_prob` sums it over features (one
    value per row), and :meth:`log_prob_observed` sums it over the observed
    entries only, which is how every model handles missing values.

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
        :meth:`set_variance`.
    log_concave : bool
        Whether log p(x|out) is concave in ``out``, so that the Laplace
        proposal of ``AutoencoderGMM``'s scores (which needs :meth:`curvature`)
        may use it. Otherwise those scores draw from the prior alone.
    positive_only : bool
        Whether the data must be non-negative: scikit-learn's
        ``input_tags.positive_only`` tag.
    missing_fill : float
        A value of x whose log-density is finite: it stands in for each
        missing entry before :meth:`log_prob_elements`, so that no NaN reaches
        the values or the gradients, and the entry is then left out of the sum.
    """

    name = None
    hyperparameters = ()
    linear_gaussian = False
    log_concave = False
    positive_only = False
    missing_fill = 0.0

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
    def log_prob_elements(self, x, out):
        """log p(x_j|out_j) for each data column j: shape (..., n_features),
        ``out`` with optional leading draw dimensions."""

    def log_prob(self, x, out):
        """log p(x|out) per row: :meth:`log_prob_elements` summed over features.

        A likelihood may override it with a faster sum, equal to that one.
        """
        return self.log_prob_elements(x, out).sum(-1)

    def log_prob_observed(self, x, out, observed):
        """log p(x_observed|out) per row, where ``observed`` (a boolean tensor
        shaped as x) marks the entries that are not missing.

        Features are independent given out, so this is the per-column
        log-density summed over the observed entries. The missing entries
        (NaN in x) are replaced by ``missing_fill`` first: masking a NaN
        afterwards would still send NaN through the gradients.
        """
        x = torch.where(observed, x, self.missing_fill)
        return (self.log_prob_elements(x, out) * observed).sum(-1)

    def log_prob_pairs(self, x, out):
        """log p(x_i | out_j) for every row i and decoder output j: (rows, outputs).

        This default broadcasts to a (rows, outputs, features) tensor; a
        likelihood whose log-density is a matrix product in x should override
        it, as exact scoring sizes its blocks for (rows, outputs) values.
        """
        return self.log_prob(x[:, None, :], out[None, :, :])

    def log_prob_pairs_observed(self, x, out, observed):
        """:meth:`log_prob_pairs` over the observed entries of each row only."""
        return self.log_prob_observed(
            x[:, None, :], out[None, :, :], observed[:, None, :]
        )

    def log_expected_sigmoid(self, out, slope, intercept):
        """log E[sigmoid(intercept + slope * x)] per entry, x ~ p(x|out): the
        log-probability that the self-masking model
        (``skvae._core.missing.SelfMasking``) hides an entry, its value
        integrated out. A likelihood that gives it (and
        :meth:`sigmoid_tilted_mean`) supports ``missingness='self_masking'``."""
        raise NotImplementedError(
            f"likelihood={self.name!r} does not support missingness='self_masking'."
        )

    def sigmoid_tilted_mean(self, out, slope, intercept):
        """E[x sigmoid(intercept + slope * x)] / E[sigmoid(intercept + slope * x)]
        per entry, x ~ p(x|out): the mean of a value given that the
        self-masking model hid it."""
        raise NotImplementedError(
            f"likelihood={self.name!r} does not support missingness='self_masking'."
        )

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

    def log_prob_elements(self, x, out):
        variance = self.variance()
        return -0.5 * (_LOG_2PI + torch.log(variance) + (x - out) ** 2 / variance)

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

    def log_prob_pairs_observed(self, x, out, observed):
        """The same over each row's observed entries: still matrix products,
        the mask weighing each feature's terms."""
        scale = self.variance().sqrt()
        centre = out.mean(0)
        weights = observed.to(out.dtype)
        x = torch.where(observed, (x - centre) / scale, 0.0)
        out = (out - centre) / scale
        squared = (x**2).sum(-1)[:, None] - 2 * x @ out.T + weights @ (out**2).T
        constant = weights @ (_LOG_2PI + 2 * torch.log(scale))
        return -0.5 * (squared + constant[:, None])

    def log_expected_sigmoid(self, out, slope, intercept):
        return F.logsigmoid(self._probit_argument(out, slope, intercept))

    def sigmoid_tilted_mean(self, out, slope, intercept):
        # For x ~ N(mu, v), E[x f(x)] = mu E[f] + v d/dmu E[f] (Stein's
        # lemma), so the tilted mean is mu + v d/dmu log E[f], here of the
        # approximation that log_expected_sigmoid makes.
        variance = self.variance()
        kappa = _probit_kappa(slope, variance)
        t = self._probit_argument(out, slope, intercept)
        return out + variance * slope * kappa * torch.sigmoid(-t)

    def _probit_argument(self, out, slope, intercept):
        # MacKay (1992): E[sigmoid(a)] for a ~ N(m, s2) is close to
        # sigmoid(m / sqrt(1 + pi s2 / 8)), within 0.02.
        return (intercept + slope * out) * _probit_kappa(slope, self.variance())

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
        # fmin and fmax skip missing values (NaN), and copy nothing.
        values = [v for v in values if v.size]
        low = np.fmin.reduce([np.fmin.reduce(v, axis=None) for v in values] or [0])
        high = np.fmax.reduce([np.fmax.reduce(v, axis=None) for v in values] or [0])
        if low < 0 or high > 1:
            problem = "Negative values" if low < 0 else "Values greater than 1"
            raise ValueError(
                f"{problem} in data passed to {estimator_name}: "
                f"likelihood={cls.name!r} needs every value of X in [0, 1], but X "
                f"has values in [{low:g}, {high:g}]. Scale X into [0, 1] (for "
                "example with sklearn.preprocessing.MinMaxScaler), or use "
                "likelihood='gaussian'."
            )

    def log_prob_elements(self, x, out):
        return x * out - F.softplus(out)

    def log_prob(self, x, out):
        # sum_j x_j out_j - softplus(out_j): the contraction never expands x
        # to the shape of out (K draws of every row when scoring), which made
        # binary_cross_entropy_with_logits take twice as long.
        return torch.einsum("...j,...j->...", x, out) - F.softplus(out).sum(-1)

    def log_prob_pairs(self, x, out):
        return x @ out.T - F.softplus(out).sum(-1)

    def log_prob_pairs_observed(self, x, out, observed):
        x = torch.where(observed, x, 0.0)
        return x @ out.T - observed.to(out.dtype) @ F.softplus(out).T

    def curvature(self, x, out):
        probability = torch.sigmoid(out)
        return -probability * (1 - probability)

    def log_expected_sigmoid(self, out, slope, intercept):
        # Exact: x is 1 with probability sigmoid(out), else 0.
        return torch.logaddexp(
            F.logsigmoid(out) + F.logsigmoid(intercept + slope),
            F.logsigmoid(-out) + F.logsigmoid(intercept),
        )

    def sigmoid_tilted_mean(self, out, slope, intercept):
        return torch.exp(
            F.logsigmoid(out)
            + F.logsigmoid(intercept + slope)
            - self.log_expected_sigmoid(out, slope, intercept)
        )

    def mean(self, out):
        return torch.sigmoid(out)

    def sample(self, out, generator):
        return torch.bernoulli(torch.sigmoid(out), generator=generator)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        return torch.logit(x_mean.clamp(1e-3, 1 - 1e-3))


def _probit_kappa(slope, variance):
    return torch.rsqrt(1 + math.pi / 8 * slope**2 * variance)
