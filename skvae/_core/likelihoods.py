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

    ``out`` is the decoder's output, ``n_outputs`` values per row (one per
    column for most likelihoods; one per level for an integer-coded
    categorical column); ``x`` a row, or rows, of data, ``n_features`` columns.

    The primitive is :meth:`log_prob_elements`: log p(x|out) per column, shape
    (..., n_features), so that a caller can mask columns (missing values) or
    sum them over a subset. Its contract: the elements of a row add up to the
    row's log p(x|out), each column's element depends on that column's values
    only (and on ``out``), and a column whose likelihood covers several
    columns as one observation (a categorical group of one-hot columns) puts
    the group's log-probability in the group's first column and 0 in the
    others, so a mask must treat such a group as a whole. :meth:`log_prob`
    sums the elements; a likelihood may override it with a faster form that
    gives the same values.

    A subclass sets the class attributes below, implements the abstract
    methods, and is registered with ``LIKELIHOODS.register``. Its
    constructor takes ``n_features`` and then one keyword argument per name in
    ``hyperparameters`` (see :class:`~skvae._core.registry.Configurable`), and
    those that :meth:`parameters_from_data` gives, so that the model can be
    described in plain data and rebuilt (``skvae._core.state``).

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
    whole_rows : bool
        Whether :meth:`check_domain` needs whole rows of its columns (2-D
        arrays) rather than their values in any arrangement: a one-hot group
        checks that each row holds exactly one 1.
    maps_input : bool
        Whether :meth:`encoder_input` changes the columns (a log, a one-hot
        code), a map defined only on the domain: ``transform`` then checks the
        domain too.
    observes_rows : bool
        Whether :meth:`initialize` needs more of the training rows than their
        mean and variance; they are then shown to :meth:`observe` first.
    linearized_start : bool
        Whether the model may start at probabilistic PCA of the encoder's
        inputs, linearized: the likelihood then has one output per encoder
        input and offers :meth:`start_slope` and :meth:`set_start_variance`.
    min_variance : float
        The floor of the variances it learns; 0 where it learns none.
    n_features : int
        The number of data columns it describes.
    """

    name = None
    hyperparameters = ()
    linear_gaussian = False
    log_concave = False
    positive_only = False
    whole_rows = False
    maps_input = False
    observes_rows = False
    linearized_start = False
    min_variance = 0.0

    def __init__(self, n_features):
        super().__init__()
        self.n_features = n_features

    @property
    def n_outputs(self):
        """The decoder's width: one output per column unless said otherwise."""
        return self.n_features

    @property
    def n_encoder_inputs(self):
        """The width of :meth:`encoder_input`'s result."""
        return self.n_features

    @classmethod
    def parameters_from_data(cls, values, estimator_name):
        """Constructor arguments read from the training data (``values`` as
        :meth:`check_domain` takes them): the number of levels of an
        integer-coded categorical column. None by default. May raise the
        domain's ValueError for values it cannot read."""
        return {}

    @classmethod
    def check_domain(cls, values, estimator_name):
        """Raise a ValueError, in skvae's words, for data outside the domain.

        ``values`` is a list of arrays that hold between them every value of
        the likelihood's columns (a sparse matrix's stored values and, if it
        has implicit entries, a zero; whole rows, 2-D, where ``whole_rows``).
        ``estimator_name`` says where the data went, as the message names it
        (the estimator, and the columns where the likelihood covers some
        only). Called on the likelihood (a fitted one may check what its
        parameters allow, such as the levels seen at fit) before anything
        changes, by ``fit``, ``partial_fit`` and ``score_samples``. Any value
        is in the domain by default.
        """

    @classmethod
    def update_tags(cls, tags):
        """Set the scikit-learn tags that this likelihood implies."""
        tags.input_tags.positive_only = cls.positive_only

    def parts(self):
        """``(likelihood, columns)`` pairs: which likelihood describes which
        columns (by index). One pair, all columns, but for
        :class:`ColumnLikelihood`."""
        return [(self, list(range(self.n_features)))]

    def encoder_input(self, x):
        """What the encoder reads of the rows ``x``: the columns themselves by
        default; a likelihood whose values are better read on another scale
        or coding maps them (``maps_input``), to ``n_encoder_inputs`` values."""
        return x

    @abstractmethod
    def log_prob_elements(self, x, out):
        """log p(x|out) per column, (..., n_features): see the class docstring.
        ``out`` may carry leading draw dimensions."""

    def log_prob(self, x, out):
        """log p(x|out) per row: the sum of :meth:`log_prob_elements`."""
        return self.log_prob_elements(x, out).sum(-1)

    def log_prob_pairs(self, x, out):
        """log p(x_i | out_j) for every row i and decoder output j: (rows, outputs).

        This default broadcasts to a (rows, outputs, features) tensor; a
        likelihood whose log-density is a matrix product in x should override
        it, as exact scoring sizes its blocks for (rows, outputs) values.
        """
        return self.log_prob(x[:, None, :], out[None, :, :])

    def curvature(self, x, out):
        """Second derivative of log p(x|out) in each output: the diagonal of
        its Hessian, which is all of it where each output belongs to one
        independent column. Needed where ``log_concave`` is true."""
        raise NotImplementedError(f"{type(self).__name__} gives no curvature.")

    @abstractmethod
    def mean(self, out):
        """E[x|out]: what ``inverse_transform`` returns."""

    @abstractmethod
    def sample(self, out, generator):
        """A draw of x from p(x|out)."""

    def observe(self, x):
        """See a block of training rows (float32) before :meth:`initialize`,
        where ``observes_rows``; nothing by default."""

    def start_slope(self, out):
        """d out / d encoder input at the start ``out``, one per output: how
        each output moves with its encoder input, where ``linearized_start``."""
        raise NotImplementedError(f"{type(self).__name__} has no linearized start.")

    def set_start_variance(self, noise):
        """Set the learned variances from ``noise``, the variance per encoder
        input that probabilistic PCA leaves; nothing where none is learned."""

    @abstractmethod
    def initialize(self, x_mean, x_var):
        """Set the likelihood's own parameters from the data's mean and
        variance per feature, and return the decoder output whose mean is
        ``x_mean``: the decoder's bias that makes the untrained model predict
        the data mean."""


# The registered likelihoods, by name: the estimators' ``likelihood`` options.
LIKELIHOODS = Registry("likelihood", Likelihood)


def make_likelihood(name, n_features, parameters, arguments=None):
    """The likelihood ``name`` for ``n_features`` features; a ValueError for a
    name that is not registered.

    ``parameters`` maps estimator parameter names to values; the likelihood
    takes those it declares and ignores the rest. ``arguments`` are the
    constructor arguments read from the data (:meth:`Likelihood.parameters_from_data`).
    """
    cls = LIKELIHOODS.lookup(name)
    return cls(n_features, **cls.own_parameters(parameters), **(arguments or {}))


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
    # In a per-column model, whose other columns are not linear-Gaussian.
    linearized_start = True

    def __init__(self, n_features, min_variance=1e-6):
        super().__init__(n_features)
        self.min_variance = min_variance
        self.log_variance = nn.Parameter(torch.zeros(n_features))

    def variance(self):
        return self.min_variance + torch.exp(self.log_variance)

    def log_prob_elements(self, x, out):
        return -0.5 * self._terms(x, out)

    def log_prob(self, x, out):
        # Halved after the sum: one multiplication per row, not per value.
        return -0.5 * self._terms(x, out).sum(-1)

    def _terms(self, x, out):
        variance = self.variance()
        return _LOG_2PI + torch.log(variance) + (x - out) ** 2 / variance

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

    def start_slope(self, out):
        return torch.ones_like(out)

    def set_start_variance(self, noise):
        self.set_variance(noise)

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
        low, high = _value_range(values)
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


def _value_range(values):
    """The smallest and the largest value in ``values``, a list of arrays;
    (0, 0) when they hold none."""
    values = [v for v in values if v.size]
    if not values:
        return 0, 0
    return min(v.min() for v in values), max(v.max() for v in values)
