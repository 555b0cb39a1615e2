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

    Missing values are NaN in x. :meth:`log_prob_observed` is log p(x|out)
    over the observed entries of each row, the elements of the others left
    out: how every model handles them, where ``supports_missing``.

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
    supports_missing : bool
        Whether :meth:`log_prob_observed` can leave missing entries out: its
        columns are independent given ``out``, so that the log-density of the
        observed ones is a sum of elements.
    missing_fill : float
        A value of x in the domain: it stands in for each missing entry before
        :meth:`log_prob_elements` and :meth:`encoder_input`, so that no NaN
        reaches the values or the gradients, and the entry is then left out.
    """

    name = None
    hyperparameters = ()
    linear_gaussian = False
    needs_covariance = False
    log_concave = False
    positive_only = False
    whole_rows = False
    maps_input = False
    observes_rows = False
    linearized_start = False
    min_variance = 0.0
    supports_missing = True
    missing_fill = 0.0

    def __init__(self, n_features):
        super().__init__()
        self.n_features = n_features

    @property
    def n_outputs(self):
        """The decoder's width: one output per column unless said otherwise."""
        return self.n_features

    @property
    def expected_terms_width(self):
        """The width of :meth:`expected_terms`'s result."""
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

    def log_prob_observed(self, x, out, observed):
        """log p(x_observed|out) per row, where ``observed`` (a boolean tensor
        shaped as x) marks the entries that are not missing.

        The columns are independent given out, so this is
        :meth:`log_prob_elements` summed over the observed entries
        (:meth:`observed_elements`). The missing entries (NaN in x) are
        replaced first (:meth:`fill_missing`): masking a NaN afterwards would
        still send NaN through the gradients.
        """
        elements = self.log_prob_elements(self.fill_missing(x, observed), out)
        return (elements * self.observed_elements(observed)).sum(-1)

    def fill_missing(self, x, observed):
        """x with ``missing_fill`` at its missing entries."""
        return torch.where(observed, x, self.missing_fill)

    def observed_elements(self, observed):
        """Which elements of :meth:`log_prob_elements` count, given the mask
        of observed entries: the mask itself by default; a group of columns
        that is one observation counts only where all of it is observed."""
        return observed

    def observed_inputs(self, observed):
        """Which of :meth:`encoder_input`'s values are observed, given the
        mask of observed entries: the mask itself by default, one per encoder
        input."""
        return observed

    def observed_outputs(self, observed):
        """Which of the decoder's outputs an observed entry constrains: the
        mask itself by default, one per output."""
        return observed

    def missing_input(self, x_mean):
        """What the encoder reads in place of each input of a missing entry,
        from the training data's mean: that mean by default (the zero of
        centred data, as in MIWAE)."""
        return x_mean

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
        """Second derivative of log p(x|out) in each output: the diagonal of
        its Hessian, which is all of it where each output belongs to one
        independent column. Needed where ``log_concave`` is true."""
        raise NotImplementedError(f"{type(self).__name__} gives no curvature.")

    def gauss_newton(self, x, out, jacobian):
        """J^T (-H) J per row, H the Hessian of log p(x|out) in ``out`` and J
        (rows, outputs, codes) the decoder's Jacobian: the curvature in the
        code that the Laplace proposal needs. From :meth:`curvature` by
        default, for a diagonal H."""
        curvature = self.curvature(x, out)
        return (jacobian.mT * -curvature[:, None, :]) @ jacobian

    def gauss_newton_observed(self, x, out, jacobian, observed):
        """:meth:`gauss_newton` of the observed entries only: the outputs
        that no observed entry constrains (:meth:`observed_outputs`) add
        nothing."""
        curvature = self.curvature(self.fill_missing(x, observed), out)
        curvature = curvature * self.observed_outputs(observed)
        return (jacobian.mT * -curvature[:, None, :]) @ jacobian

    @abstractmethod
    def mean(self, out):
        """E[x|out]: what ``inverse_transform`` returns."""

    @abstractmethod
    def sample(self, out, generator):
        """A draw of x from p(x|out)."""

    def expected_terms(self, out):
        """What imputation averages over latent draws to estimate
        E[x_missing | x_observed]: the mean here, one term per column;
        :meth:`from_expected_terms` turns their average into values."""
        return self.mean(out)

    def from_expected_terms(self, terms):
        """The imputed values of the average of :meth:`expected_terms`."""
        return terms

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

    @torch.no_grad()
    def start_linearized_noise(self, noise, loading, covariance=None):
        """Start the noise of the linearized start, probabilistic PCA of the
        encoder inputs u = mean + loading z + noise, and return
        loading^T Psi^-1 (float64), Psi the covariance of that noise, which
        gives the start's posterior. ``noise`` is the variance per input that
        the components leave; ``covariance`` the inputs' covariance, given
        where ``needs_covariance`` and affordable. By default Psi is the
        diagonal ``noise`` (:meth:`set_start_variance`)."""
        self.set_start_variance(noise)
        return loading.double().T / noise.double()

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


def plan_likelihood(plan, n_features, parameters):
    """The likelihood of a per-column plan: a list of ``(name, columns,
    arguments)``, whose columns (indices) cover each of the ``n_features``
    columns once.

    One part that covers every column in order is that likelihood itself, as
    a single name builds it; any other plan is a :class:`ColumnLikelihood`.
    """
    if len(plan) == 1 and list(plan[0][1]) == list(range(n_features)):
        name, _, arguments = plan[0]
        return make_likelihood(name, n_features, parameters, arguments)
    return ColumnLikelihood(
        n_features,
        [
            (make_likelihood(name, len(columns), parameters, arguments), columns)
            for name, columns, arguments in plan
        ],
    )


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

    With a linear decoder the model contains every Gaussian: it starts at the
    data's covariance, the components' part W W^T plus the rest as Sigma, and
    the latent code is then free to model what no covariance can. Tabular
    features that are nearly linear functions of each other (a radius, its
    perimeter and its area) give a full covariance tiny variances across them,
    which no diagonal one can.

    Parametrized as a chain of regressions, each feature on the features after
    it: Sigma^-1 = P P^T with P = L diag(variance)^-1/2, L unit lower
    triangular (minus the regression coefficients) and ``variance`` each
    feature's variance given the features after it, ``min_variance +
    exp(log_variance)``, floored as the diagonal likelihood's is. The
    log-density is then a matrix product.
    """

    name = "gaussian_full"
    hyperparameters = ("min_variance",)
    linear_gaussian = True
    needs_covariance = True
    log_concave = True
    # The log-density of the observed entries is that of the sub-covariance,
    # not a sum of elements; the estimators refuse NaN in its columns, and
    # likelihood='auto' chooses the diagonal 'gaussian' for such columns.
    supports_missing = False
    # What the refusal of missing values suggests instead.
    diagonal_name = "gaussian"
    # Within a per-column plan it starts at what the components leave of its
    # columns' covariance (start_linearized_noise).
    linearized_start = True

    def __init__(self, n_features, min_variance=1e-6):
        super().__init__(n_features)
        self.min_variance = min_variance
        self.coefficients = nn.Parameter(torch.zeros(n_features, n_features))
        self.log_variance = nn.Parameter(torch.zeros(n_features))
        self.register_buffer(
            "_strictly_lower", torch.tril(torch.ones(n_features, n_features), -1)
        )

    def conditional_variance(self):
        """Each feature's variance given the features after it."""
        return self.min_variance + torch.exp(self.log_variance)

    def _factor(self):
        """P, and log det P."""
        variance = self.conditional_variance()
        unit = self.coefficients * self._strictly_lower + torch.eye(
            self.n_features, dtype=variance.dtype, device=variance.device
        )
        return unit * torch.rsqrt(variance), -0.5 * torch.log(variance).sum()

    def log_prob_elements(self, x, out):
        """log p(x_j | x_j+1, ..., x_n, out) for each column j, which add up
        to log p(x|out): the columns are not independent given ``out``, so a
        column's element depends on the columns after it, not on its own
        value alone."""
        factor, _ = self._factor()
        whitened = (x - out) @ factor
        return -0.5 * (_LOG_2PI + torch.log(self.conditional_variance()) + whitened**2)

    def log_prob(self, x, out):
        factor, log_det = self._factor()
        whitened = (x - out) @ factor
        return log_det - 0.5 * (x.shape[-1] * _LOG_2PI + (whitened**2).sum(-1))

    def log_prob_observed(self, x, out, observed):
        # Only within a per-column plan whose other columns have missing
        # entries: every entry of this one's is observed.
        _check_all_observed(observed, self.name)
        return self.log_prob(x, out)

    def gauss_newton_observed(self, x, out, jacobian, observed):
        _check_all_observed(observed, self.name)
        return self.gauss_newton(x, out, jacobian)

    def log_prob_pairs(self, x, out):
        factor, log_det = self._factor()
        centre = out.mean(0)
        a, b = (x - centre) @ factor, (out - centre) @ factor
        squared = (a**2).sum(-1)[:, None] - 2 * a @ b.T + (b**2).sum(-1)
        return log_det - 0.5 * (x.shape[-1] * _LOG_2PI + squared)

    def variance(self):
        """Each feature's variance, the diagonal of Sigma: at least its
        conditional variance, so at least ``min_variance``."""
        factor, _ = self._factor()
        eye = torch.eye(self.n_features, dtype=factor.dtype, device=factor.device)
        inverse = torch.linalg.solve_triangular(factor, eye, upper=False)
        # Sigma = P^-T P^-1: its diagonal, the squared columns of P^-1.
        return (inverse**2).sum(0)

    def gauss_newton(self, x, out, jacobian):
        """J^T Sigma^-1 J = (P^T J)^T (P^T J): the Hessian is -Sigma^-1."""
        factor, _ = self._factor()
        whitened = factor.T.to(jacobian.dtype) @ jacobian
        return whitened.mT @ whitened

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

    def start_slope(self, out):
        return torch.ones_like(out)

    def set_start_variance(self, noise):
        self.set_variance(noise)

    @torch.no_grad()
    def set_variance(self, variance):
        """A diagonal covariance: each feature's variance (a scalar or one per
        feature), at least twice the floor."""
        self.coefficients.zero_()
        self._set_conditional_variance(variance)

    def _set_conditional_variance(self, variance):
        excess = torch.clamp(variance - self.min_variance, min=self.min_variance)
        self.log_variance.copy_(torch.log(excess).expand_as(self.log_variance))

    @torch.no_grad()
    def set_covariance(self, covariance):
        """Sigma itself (symmetric positive definite), in float64."""
        precision = torch.linalg.inv(covariance)
        factor = torch.linalg.cholesky((precision + precision.T) / 2)
        diagonal = torch.diagonal(factor)
        self.coefficients.copy_(factor / diagonal)
        self._set_conditional_variance(1 / diagonal**2)

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
        residual = self._start_residual(covariance, weight)
        self.set_covariance(residual)
        return torch.linalg.solve(residual, weight).T

    @torch.no_grad()
    def start_linearized_noise(self, noise, loading, covariance=None):
        """Within a per-column plan (or of log x): Psi is what the components
        leave of the encoder inputs' ``covariance``, and Sigma that residual
        in the outputs' units, each output moving with its input by
        :meth:`start_slope` (1 for x itself, the input's scale for log x)."""
        if covariance is None:
            return super().start_linearized_noise(noise, loading)
        loading = loading.double()
        residual = self._start_residual(covariance, loading)
        slope = self.start_slope(loading.new_zeros(self.n_outputs)).double()
        self.set_covariance(slope[:, None] * residual * slope)
        return torch.linalg.solve(residual, loading).T

    def _start_residual(self, covariance, weight):
        """What the components ``weight`` leave of ``covariance`` (float64),
        its eigenvalues floored at a millionth of the mean variance (and twice
        ``min_variance``)."""
        covariance = covariance.double()
        residual = covariance - weight @ weight.T
        eigenvalues, eigenvectors = torch.linalg.eigh((residual + residual.T) / 2)
        floor = max(
            1e-6 * float(torch.diagonal(covariance).mean()), 2 * self.min_variance
        )
        return (eigenvectors * eigenvalues.clamp(min=floor)) @ eigenvectors.T


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


# The least spread by which _StandardizedInput divides an input: a
# near-constant column is not blown up into huge encoder inputs by the values
# it did not take in training.
_MIN_INPUT_SCALE = 0.1


class _StandardizedInput:
    """What the encoder reads of columns that a likelihood maps: their map
    (``_raw_input``: a log, a one-hot code), standardized by the training
    data's statistics (buffers set at :meth:`initialize`), so that every
    column reaches the first layer, and the start at probabilistic PCA of the
    encoder inputs, on one scale.

    On auto-mpg, raw log values (weight near 8, with a spread of 0.3) left a
    per-column model with one of its two latent components nearly unused,
    0.9 nats per row below the same model with standardized inputs.
    """

    def _register_input_scale(self, n_inputs):
        self.register_buffer("input_location", torch.zeros(n_inputs))
        self.register_buffer("input_scale", torch.ones(n_inputs))

    def _set_input_scale(self, location, spread):
        self.input_location.copy_(location)
        self.input_scale.copy_(spread.clamp(min=_MIN_INPUT_SCALE))

    def encoder_input(self, x):
        return (self._raw_input(x) - self.input_location) / self.input_scale

    def missing_input(self, x_mean):
        # The inputs at the training location, which standardizing makes 0.
        return x_mean.new_zeros(self.n_encoder_inputs)


@LIKELIHOODS.register
class PoissonLikelihood(_StandardizedInput, Likelihood):
    """x ~ Poisson(exp(decoder(z))) per feature: counts, non-negative integers.

    The decoder gives log-rates, in which the log-probability is concave. The
    encoder reads log(1 + x), standardized, so that large counts do not swamp
    its first layer.
    """

    name = "poisson"
    log_concave = True
    positive_only = True
    maps_input = True
    linearized_start = True

    def __init__(self, n_features):
        super().__init__(n_features)
        self._register_input_scale(n_features)

    @classmethod
    def check_domain(cls, values, estimator_name):
        seen = _not_natural(values)
        if seen is not None:
            low, high = _value_range(values)
            raise ValueError(
                f"Values that are not counts in data passed to {estimator_name}: "
                f"likelihood={cls.name!r} needs non-negative integers, but X has "
                f"the value {seen:g} (values in [{low:g}, {high:g}]). Give "
                f"{cls.name!r} the count columns only, and measurements another "
                "likelihood ('gaussian', or 'lognormal' for positive values)."
            )

    def log_prob_elements(self, x, out):
        return x * out - torch.exp(out) - torch.lgamma(x + 1)

    def log_prob(self, x, out):
        # A contraction, as BernoulliLikelihood's: x is never expanded to the
        # shape of out.
        return (
            torch.einsum("...j,...j->...", x, out)
            - torch.exp(out).sum(-1)
            - torch.lgamma(x + 1).sum(-1)
        )

    def log_prob_pairs(self, x, out):
        return x @ out.T - torch.exp(out).sum(-1) - torch.lgamma(x + 1).sum(-1)[:, None]

    def curvature(self, x, out):
        return -torch.exp(out)

    def mean(self, out):
        return torch.exp(out)

    def sample(self, out, generator):
        return torch.poisson(torch.exp(out), generator=generator)

    def _raw_input(self, x):
        return torch.log1p(x)

    def start_slope(self, out):
        # log x moves (1 + x) / x times as fast as log(1 + x) near the mean;
        # at most 10 times, for columns of rare counts.
        rate = torch.exp(out)
        return self.input_scale * torch.clamp((1 + rate) / rate, max=10.0)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        # log(1 + x) has about the spread sd(x) / (1 + mean(x)).
        self._set_input_scale(torch.log1p(x_mean), x_var.sqrt() / (1 + x_mean))
        # A column of zeros gets a rate of 1e-6, not log(0).
        return torch.log(x_mean.clamp(min=1e-6))


class _LogScale(_StandardizedInput):
    """A Gaussian likelihood of log x, for positive values: the Gaussian
    base's log-density of log x less log x (the Jacobian), its draws
    exponentiated, and its encoder reading log x, standardized. Shared by
    ``'lognormal'`` (a variance per column) and ``'lognormal_full'`` (one
    covariance across the columns), which put it before their Gaussian base.
    """

    # A linear decoder makes log x, not x, linear-Gaussian: the start at
    # probabilistic PCA, which is of x, does not apply.
    linear_gaussian = False
    positive_only = True
    maps_input = True
    # log 1 = 0: a missing entry's stand-in, in the domain.
    missing_fill = 1.0

    def __init__(self, n_features, min_variance=1e-6):
        super().__init__(n_features, min_variance)
        self._register_input_scale(n_features)

    @classmethod
    def check_domain(cls, values, estimator_name):
        low, high = _value_range(values)
        if low <= 0:
            raise ValueError(
                f"Values that are not positive in data passed to {estimator_name}: "
                f"likelihood={cls.name!r} needs every value of X greater than 0, "
                f"but X has values in [{low:g}, {high:g}]. Use "
                "likelihood='gaussian' for values that can be 0 or negative, or "
                "'poisson' for counts."
            )

    def log_prob_elements(self, x, out):
        log_x = torch.log(x)
        return super().log_prob_elements(log_x, out) - log_x

    def log_prob(self, x, out):
        log_x = torch.log(x)
        return super().log_prob(log_x, out) - log_x.sum(-1)

    def log_prob_pairs(self, x, out):
        log_x = torch.log(x)
        return super().log_prob_pairs(log_x, out) - log_x.sum(-1)[:, None]

    def mean(self, out):
        # variance() is each column's variance of log x (the diagonal of a
        # full covariance): the mean of each column's lognormal marginal.
        return torch.exp(out + self.variance() / 2)

    def sample(self, out, generator):
        return torch.exp(super().sample(out, generator))

    def _raw_input(self, x):
        return torch.log(x)

    def start_slope(self, out):
        # The output is the mean of log x, the input log x standardized.
        return self.input_scale.expand_as(out)

    def set_start_variance(self, noise):
        self.set_variance(noise * self.input_scale**2)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        # The lognormal with the data's mean and variance: its mean is exactly
        # the data's, which the maximum-likelihood fit of log x would not give.
        log_var = torch.log1p(x_var / x_mean**2)
        log_mean = torch.log(x_mean) - log_var / 2
        self._set_input_scale(log_mean, log_var.sqrt())
        return super().initialize(log_mean, log_var)


@LIKELIHOODS.register
class LogNormalLikelihood(_LogScale, GaussianLikelihood):
    """log x ~ N(decoder(z), variance) per feature: positive values, x > 0.

    Positive measurements (weights, prices, durations, concentrations) tend to
    be skewed, with a spread that grows with their size: noise that
    multiplies rather than adds, which is what a lognormal says. It is the
    Gaussian likelihood of log x, less log x (the Jacobian), so it keeps what
    the Gaussian one does well: a learned variance per column with the floor
    ``min_variance`` (here of log x, so a relative floor), log-densities of
    all pairs as a matrix product, concavity in the decoder's output, and a
    start in closed form. Its scores are those of a Gaussian model of log x
    (what users do by hand with ``np.log``) less the sum of log x, so the two
    compare directly. A gamma likelihood, the other usual choice, has lighter
    tails but needs a learned shape parameter inside ``lgamma`` and no closed
    form for its start. The encoder reads log x, standardized.
    """

    name = "lognormal"
    # The Gaussian's forms are of log x: the pairs of the observed entries
    # take the general sum, and the self-masking model, which is of x, has no
    # closed form here.
    log_prob_pairs_observed = Likelihood.log_prob_pairs_observed
    log_expected_sigmoid = Likelihood.log_expected_sigmoid
    sigmoid_tilted_mean = Likelihood.sigmoid_tilted_mean


@LIKELIHOODS.register
class FullLogNormalLikelihood(_LogScale, FullGaussianLikelihood):
    """log x ~ N(decoder(z), Sigma), one full covariance of log x learned:
    positive values, x > 0, that vary together.

    ``'gaussian_full'`` of log x less log x, as ``'lognormal'`` is
    ``'gaussian'`` of log x. Positive measurements of one object (a car's
    displacement, horsepower and weight; a cell's size and its contents) are
    skewed and nearly proportional to each other, which a covariance of
    their logs models and per-column variances cannot. It starts at what the
    components of the linearized start leave of the covariance of log x. On
    auto-mpg's five positive measurements a per-column model scored -25.45
    nats per held-out row with it, -25.95 with ``'lognormal'`` (three seeds,
    ``benchmarks/bench_mixed_columns.py``). As ``'gaussian_full'``, it takes
    no missing values.
    """

    name = "lognormal_full"
    diagonal_name = "lognormal"


@LIKELIHOODS.register
class CategoricalLikelihood(_StandardizedInput, Likelihood):
    """One categorical variable: softmax(decoder(z)) gives its levels'
    probabilities, the decoder's outputs being their logits.

    On several columns it reads them as the one-hot code of one variable
    (``n_levels`` None: as many levels as columns, exactly one 1 per row); on
    one column, as integer codes 0, 1, ..., ``n_levels - 1``, with one decoder
    output per level, ``n_levels`` read from the training data (the largest
    code plus one). The mean of an integer code is no level:
    :meth:`mean` gives the most probable level there, and the probabilities of
    the levels for a one-hot group. The encoder reads the levels one-hot,
    standardized.
    """

    name = "categorical"
    log_concave = True
    positive_only = True
    whole_rows = True
    maps_input = True
    linearized_start = True

    def __init__(self, n_features, n_levels=None):
        super().__init__(n_features)
        if (n_levels is None) == (n_features == 1):
            raise ValueError(
                "A categorical likelihood on one column reads integer codes and "
                "needs n_levels; on several, a one-hot group, it takes none: got "
                f"n_features={n_features}, n_levels={n_levels!r}."
            )
        self.codes = n_levels is not None
        self.n_levels = n_levels if self.codes else n_features
        # Only integer codes need more than the mean to start.
        self.observes_rows = self.codes
        self._register_input_scale(self.n_levels)

    @property
    def n_outputs(self):
        return self.n_levels

    @property
    def expected_terms_width(self):
        return self.n_levels

    @property
    def n_encoder_inputs(self):
        return self.n_levels

    def config(self):
        return {"n_levels": self.n_levels if self.codes else None}

    @classmethod
    def parameters_from_data(cls, values, estimator_name):
        if _n_columns(values) != 1:
            return {}
        _check_codes(values, estimator_name)
        return {"n_levels": int(_value_range(values)[1]) + 1}

    def check_domain(self, values, estimator_name):
        if self.codes:
            _check_codes(values, estimator_name, self.n_levels)
            return
        for start, row in _not_one_hot(values):
            raise ValueError(
                f"Rows that are not one-hot in data passed to {estimator_name}: "
                f"likelihood={self.name!r} on {self.n_features} columns reads them "
                "as the one-hot code of one variable (exactly one 1 in each row, "
                f"the rest 0), but row {start} is {row.tolist()}. Give it the "
                "one-hot columns of one variable only, or one integer-coded "
                "column."
            )

    def log_prob_elements(self, x, out):
        if self.codes:
            return self._code_log_prob(x, F.log_softmax(out, -1))
        # The group's log-probability in its first column, 0 in the others.
        return F.pad(self.log_prob(x, out)[..., None], (0, self.n_features - 1))

    def log_prob(self, x, out):
        log_probabilities = F.log_softmax(out, -1)
        if self.codes:
            return self._code_log_prob(x, log_probabilities)[..., 0]
        return torch.einsum("...j,...j->...", x, log_probabilities)

    def observed_elements(self, observed):
        if self.codes:
            return observed
        # A one-hot group is one observation: observed only where all of it is.
        return observed.all(-1, keepdim=True).expand_as(observed)

    def observed_inputs(self, observed):
        if self.codes:
            return observed.expand(*observed.shape[:-1], self.n_levels)
        return self.observed_elements(observed)

    observed_outputs = observed_inputs

    def _code_log_prob(self, x, log_probabilities):
        shape = torch.broadcast_shapes(x.shape[:-1], log_probabilities.shape[:-1])
        return log_probabilities.expand(*shape, self.n_levels).gather(
            -1, x.long().expand(*shape, 1)
        )

    def log_prob_pairs(self, x, out):
        log_probabilities = F.log_softmax(out, -1)
        if self.codes:
            return log_probabilities[:, x[:, 0].long()].T
        return x @ log_probabilities.T

    def curvature(self, x, out):
        # The Hessian in the logits is diag(p) - p p^T; the Laplace proposal
        # takes its diagonal, and the prior's precision keeps the proposal's
        # positive definite where the logits' common shift leaves it singular.
        probability = torch.softmax(out, -1)
        return -probability * (1 - probability)

    def start_slope(self, out):
        # The encoder reads the level one-hot, standardized; the decoder gives
        # logits, and log p moves 1 / p times as fast as p (at most 100 times,
        # for rare levels).
        return self.input_scale / torch.softmax(out, -1).clamp(min=0.01)

    def mean(self, out):
        if self.codes:
            return out.argmax(-1, keepdim=True).to(out.dtype)
        return torch.softmax(out, -1)

    def expected_terms(self, out):
        # An average of codes is no level: imputation averages the levels'
        # probabilities, and fills in the most probable level of the average.
        return torch.softmax(out, -1)

    def from_expected_terms(self, terms):
        if self.codes:
            return terms.argmax(-1, keepdim=True).to(terms.dtype)
        return terms

    def sample(self, out, generator):
        probability = torch.softmax(out, -1)
        level = torch.multinomial(
            probability.reshape(-1, self.n_levels), 1, generator=generator
        ).reshape(*probability.shape[:-1], 1)
        if self.codes:
            return level.to(out.dtype)
        return F.one_hot(level[..., 0], self.n_levels).to(out.dtype)

    def _raw_input(self, x):
        if self.codes:
            return F.one_hot(x[..., 0].long(), self.n_levels).to(x.dtype)
        return x

    def observe(self, x):
        x = x[~torch.isnan(x[:, 0])]  # missing codes count for no level
        counts = torch.bincount(x[:, 0].long(), minlength=self.n_levels)
        self._counts = counts + getattr(self, "_counts", 0)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        if self.codes:
            counts = self.__dict__.pop("_counts").to(x_mean)
            frequencies = counts / counts.sum()
        else:
            frequencies = x_mean
        self._set_input_scale(frequencies, torch.sqrt(frequencies * (1 - frequencies)))
        # A level unseen in training gets a probability of about 1e-6.
        return torch.log(frequencies.clamp(min=1e-6))


class ColumnLikelihood(Likelihood):
    """Likelihoods of disjoint groups of columns: one model of a mixed table.

    ``parts`` is a list of ``(likelihood, columns)``, each likelihood built
    for ``len(columns)`` columns, the columns (indices) covering each of the
    ``n_features`` columns once. The decoder's outputs are the parts'
    outputs one after the other, as are the encoder's inputs; log-densities
    add up over parts; means and draws go back to the columns' places.

    Built from a per-column plan (:func:`plan_likelihood`), never by name:
    it is not in :data:`LIKELIHOODS`, and ``skvae._core.state`` describes it
    as its parts. Its parts check their own columns' domain (see
    :meth:`parts`). Log-concave when all its parts are. Never
    linear-Gaussian, even when all its parts are Gaussian (a plan of one
    Gaussian part over every column builds the Gaussian likelihood itself);
    it starts at probabilistic PCA of its encoder inputs, linearized, when
    every part can (``linearized_start``).
    """

    name = "columns"

    def __init__(self, n_features, parts):
        super().__init__(n_features)
        self.likelihoods = nn.ModuleList([likelihood for likelihood, _ in parts])
        self.columns = [[int(c) for c in columns] for _, columns in parts]
        order = [c for columns in self.columns for c in columns]
        if sorted(order) != list(range(n_features)):
            raise ValueError(
                f"The parts' columns {self.columns} do not cover each of the "
                f"{n_features} columns once."
            )
        # Where the parts' columns, one after the other, go back to.
        self.register_buffer("_order", torch.argsort(torch.tensor(order)), False)
        self._column_slices = []
        for i, columns in enumerate(self.columns):
            self.register_buffer(f"_columns_{i}", torch.tensor(columns), False)
            contiguous = columns == list(range(columns[0], columns[-1] + 1))
            self._column_slices.append(
                slice(columns[0], columns[-1] + 1) if contiguous else None
            )
        bounds = np.cumsum([0] + [likelihood.n_outputs for likelihood, _ in parts])
        self._output_slices = [
            slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        bounds = np.cumsum([0] + [p.n_encoder_inputs for p, _ in parts])
        self._input_slices = [
            slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        self.log_concave = all(p.log_concave for p in self.likelihoods)
        self.maps_input = any(p.maps_input for p in self.likelihoods)
        self.observes_rows = any(p.observes_rows for p in self.likelihoods)
        self.linearized_start = all(p.linearized_start for p in self.likelihoods)
        self.needs_covariance = any(p.needs_covariance for p in self.likelihoods)

    @property
    def min_variance(self):
        return max(p.min_variance for p in self.likelihoods)

    @property
    def n_outputs(self):
        return sum(p.n_outputs for p in self.likelihoods)

    @property
    def expected_terms_width(self):
        return sum(p.expected_terms_width for p in self.likelihoods)

    @property
    def n_encoder_inputs(self):
        return sum(p.n_encoder_inputs for p in self.likelihoods)

    def parts(self):
        return list(zip(self.likelihoods, self.columns, strict=True))

    def configure(self, parameters):
        for likelihood in self.likelihoods:
            likelihood.configure(parameters)

    def _columns_of(self, i, x):
        if self._column_slices[i] is not None:
            return x[..., self._column_slices[i]]
        return x.index_select(-1, getattr(self, f"_columns_{i}"))

    def _split(self, x, out):
        """Each part's columns of ``x`` and outputs of ``out``."""
        for i, likelihood in enumerate(self.likelihoods):
            yield likelihood, self._columns_of(i, x), out[..., self._output_slices[i]]

    def _by_columns(self, method, x, *args):
        """Each part's ``method`` of its own columns of ``x``, in the parts'
        order."""
        return [
            getattr(p, method)(self._columns_of(i, x), *args)
            for i, p in enumerate(self.likelihoods)
        ]

    def _by_outputs(self, method, out, *args):
        """Each part's ``method`` of its own decoder outputs, in the parts'
        order."""
        return [
            getattr(p, method)(out[..., self._output_slices[i]], *args)
            for i, p in enumerate(self.likelihoods)
        ]

    def _in_place(self, pieces):
        """The parts' columns, one after the other, put back in column order."""
        return torch.cat(pieces, -1).index_select(-1, self._order)

    def log_prob_elements(self, x, out):
        return self._in_place(
            [p.log_prob_elements(x_p, out_p) for p, x_p, out_p in self._split(x, out)]
        )

    def log_prob(self, x, out):
        return sum(p.log_prob(x_p, out_p) for p, x_p, out_p in self._split(x, out))

    def log_prob_observed(self, x, out, observed):
        return sum(
            p.log_prob_observed(x_p, out_p, self._columns_of(i, observed))
            for i, (p, x_p, out_p) in enumerate(self._split(x, out))
        )

    def fill_missing(self, x, observed):
        return self._in_place(
            [
                p.fill_missing(self._columns_of(i, x), self._columns_of(i, observed))
                for i, p in enumerate(self.likelihoods)
            ]
        )

    def observed_elements(self, observed):
        return self._in_place(self._by_columns("observed_elements", observed))

    def observed_inputs(self, observed):
        # In the parts' order, as the encoder's inputs are.
        return torch.cat(self._by_columns("observed_inputs", observed), -1)

    def observed_outputs(self, observed):
        return torch.cat(self._by_columns("observed_outputs", observed), -1)

    def missing_input(self, x_mean):
        return torch.cat(self._by_columns("missing_input", x_mean))

    def gauss_newton_observed(self, x, out, jacobian, observed):
        return sum(
            p.gauss_newton_observed(
                x_p,
                out_p,
                jacobian[..., self._output_slices[i], :],
                self._columns_of(i, observed),
            )
            for i, (p, x_p, out_p) in enumerate(self._split(x, out))
        )

    def log_prob_pairs(self, x, out):
        return sum(
            p.log_prob_pairs(x_p, out_p) for p, x_p, out_p in self._split(x, out)
        )

    def curvature(self, x, out):
        return torch.cat(
            [p.curvature(x_p, out_p) for p, x_p, out_p in self._split(x, out)], -1
        )

    def gauss_newton(self, x, out, jacobian):
        # The parts are independent given the code: their terms add up.
        return sum(
            p.gauss_newton(x_p, out_p, jacobian[..., self._output_slices[i], :])
            for i, (p, x_p, out_p) in enumerate(self._split(x, out))
        )

    def mean(self, out):
        return self._in_place(self._by_outputs("mean", out))

    def expected_terms(self, out):
        # In the parts' order: from_expected_terms splits them again.
        return torch.cat(self._by_outputs("expected_terms", out), -1)

    def from_expected_terms(self, terms):
        widths = [p.expected_terms_width for p in self.likelihoods]
        pieces = torch.split(terms, widths, -1)
        parts = zip(self.likelihoods, pieces, strict=True)
        return self._in_place([p.from_expected_terms(t) for p, t in parts])

    def sample(self, out, generator):
        return self._in_place(self._by_outputs("sample", out, generator))

    def encoder_input(self, x):
        return torch.cat(self._by_columns("encoder_input", x), -1)

    def start_slope(self, out):
        return torch.cat(self._by_outputs("start_slope", out), -1)

    def set_start_variance(self, noise):
        for i, likelihood in enumerate(self.likelihoods):
            likelihood.set_start_variance(noise[self._input_slices[i]])

    @torch.no_grad()
    def start_linearized_noise(self, noise, loading, covariance=None):
        # Psi is block diagonal: each part starts from its own inputs' block.
        weighted = []
        for i, likelihood in enumerate(self.likelihoods):
            inputs = self._input_slices[i]
            block = None if covariance is None else covariance[inputs, inputs]
            weighted.append(
                likelihood.start_linearized_noise(noise[inputs], loading[inputs], block)
            )
        return torch.cat(weighted, -1)

    def observe(self, x):
        for i, likelihood in enumerate(self.likelihoods):
            if likelihood.observes_rows:
                likelihood.observe(self._columns_of(i, x))

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        return torch.cat(
            [
                p.initialize(self._columns_of(i, x_mean), self._columns_of(i, x_var))
                for i, p in enumerate(self.likelihoods)
            ]
        )


def _value_range(values):
    """The smallest and the largest value in ``values``, a list of arrays;
    (0, 0) when they hold none."""
    values = [v for v in values if v.size]
    if not values:
        return 0, 0
    # fmin and fmax skip missing values (NaN), and copy nothing.
    return (
        min(np.fmin.reduce(v, axis=None) for v in values),
        max(np.fmax.reduce(v, axis=None) for v in values),
    )


def _not_natural(values):
    """A value in ``values`` that is not a non-negative integer, or None."""
    for v in values:
        bad = ((v < 0) | (v != np.floor(v))) & ~np.isnan(v)
        if bad.any():
            return v[bad].flat[0]
    return None


def _n_columns(values):
    return values[0].shape[1] if values and values[0].ndim == 2 else None


def _check_codes(values, estimator_name, n_levels=None):
    """Refuse values that are not integer codes (below ``n_levels`` if given)."""
    seen = _not_natural(values)
    if seen is not None:
        raise ValueError(
            "Values that are not category codes in data passed to "
            f"{estimator_name}: likelihood='categorical' on one column reads "
            f"it as integer codes 0, 1, ..., C-1, but X has the value {seen:g}. "
            "Encode the categories as codes (for example with "
            "sklearn.preprocessing.OrdinalEncoder), or give the likelihood the "
            "one-hot columns of the variable."
        )
    _, high = _value_range(values)
    if n_levels is not None and high >= n_levels:
        raise ValueError(
            "Category codes unseen in training in data passed to "
            f"{estimator_name}: the categorical likelihood was fitted with "
            f"{n_levels} levels (codes 0 to {n_levels - 1}), but X has the code "
            f"{high:g}. A level that training did not see has no probability: "
            "refit on data that includes it, or declare every level (a pandas "
            "category column keeps its unused categories under "
            "likelihood='auto')."
        )


def _not_one_hot(values):
    """``(row, values)`` of the rows of ``values`` (2-D arrays, in row order)
    that are not one-hot; a row with a missing entry (NaN) is a missing
    observation, and not checked."""
    start = 0
    for v in values:
        bad = ((v != 0) & (v != 1)).any(axis=1) | (v.sum(axis=1) != 1)
        bad &= ~np.isnan(v).any(axis=1)
        for i in np.flatnonzero(bad)[:1]:
            yield start + int(i), v[i]
        start += v.shape[0]


def _probit_kappa(slope, variance):
    return torch.rsqrt(1 + math.pi / 8 * slope**2 * variance)


def _check_all_observed(observed, name):
    if not bool(observed.all()):
        raise ValueError(
            f"likelihood={name!r} cannot leave missing values out of its "
            "density: use likelihood='gaussian' for columns with missing values."
        )
