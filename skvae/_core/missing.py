"""Missing values: which entries are observed, and models of why the others
are not.

A missing entry is a NaN in the data. Every model leaves it out of its
likelihood (``Likelihood.log_prob_observed``) and shows its encoder the
training mean in its place (``VAE.encode``): the bound it trains and scores is
then on the observed entries only, which is exact when values are missing at
random (Little and Rubin's MAR, of which "completely at random", MCAR, is a
case). When whether a value is missing depends on the value itself (missing
not at random, MNAR), a missingness model p(s|x) joins the likelihood: here
the self-masking model of not-MIWAE (Ipsen, Mattei and Frellsen, 2021).
"""

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Registry


def observed_entries(x):
    """Which entries of ``x`` are observed (not NaN), or None where all are.

    None sends a model down the path of complete data, unchanged: data
    without NaN trains and scores exactly as it did before missing values
    were supported.
    """
    observed = ~torch.isnan(x)
    return None if bool(observed.all()) else observed


class Missingness(nn.Module):
    """The interface of a model p(s|x) of which entries are missing.

    ``s`` is the mask of missing entries. :meth:`log_prob` is log p(s|x) per
    row, with the missing values of x integrated out under the likelihood's
    p(x|out), so that it adds to the observed entries' log-likelihood:
    log p(x_observed, s | out).
    """

    name = None

    def __init__(self, n_features):
        super().__init__()

    def initialize(self, missing_rate, mean, variance):
        """Start from the fraction of each feature's entries that is missing,
        and the mean and variance of its observed ones."""

    def log_prob(self, x, out, observed, likelihood):
        """log p(s | x_observed, out) per row; ``observed`` None where every
        entry of x is observed."""
        raise NotImplementedError

    def log_prob_pairs(self, x, out, observed, likelihood):
        """The same for every row i and decoder output j: (rows, outputs)."""
        raise NotImplementedError

    def missing_mean(self, out, likelihood):
        """E[x | out, x is missing], per entry."""
        raise NotImplementedError

    def missing_sample(self, out, likelihood, generator):
        """A draw of each entry from p(x | out, x is missing)."""
        raise NotImplementedError


# The missingness models, by the name of the estimators' ``missingness``
# option; 'ignorable' (values missing at random) is the absence of one.
MISSINGNESS = Registry("missingness model", Missingness)


@MISSINGNESS.register
class SelfMasking(Missingness):
    """Self-masking: each value is missing with a probability that is a
    logistic function of that value alone (not-MIWAE's self-masking model).

    p(s_j = 1 | x_j) = sigmoid(intercept_j + slope_j * (x_j - centre_j) /
    scale_j), with the feature's training mean and standard deviation as
    centre and scale, so that the slope is in units of the feature's spread.
    A positive slope hides large values (incomes above some level go
    unreported), a negative one small values (readings below a detection
    limit). The expectation over a missing value, E[sigmoid(...)] under
    p(x_j|out_j), is the likelihood's (``Likelihood.log_expected_sigmoid``):
    exact for Bernoulli pixels, the probit approximation of MacKay (1992) for
    a Gaussian, which keeps the bound free of the draws of x that not-MIWAE
    makes.
    """

    name = "self_masking"

    def __init__(self, n_features):
        super().__init__(n_features)
        # Kept divided by _PARAMETER_SCALE: see there.
        self.raw_intercept = nn.Parameter(torch.zeros(n_features))
        self.raw_slope = nn.Parameter(torch.zeros(n_features))
        self.register_buffer("centre", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    @torch.no_grad()
    def initialize(self, missing_rate, mean, variance):
        # The rate of each feature, at slope 0: the start explains the mask as
        # missing at random, and training finds the dependence on the value.
        rate = missing_rate.clamp(1e-3, 1 - 1e-3)
        self.raw_intercept.copy_(torch.logit(rate) / _PARAMETER_SCALE)
        self.raw_slope.zero_()
        self.centre.copy_(mean)
        self.scale.copy_(torch.sqrt(variance).clamp(min=1e-12))

    def logistic(self):
        """``(slope, intercept)`` of the logit of p(missing | x) as a
        function of x itself: intercept + slope * x."""
        slope = _PARAMETER_SCALE * self.raw_slope / self.scale
        intercept = _PARAMETER_SCALE * self.raw_intercept - slope * self.centre
        return slope, intercept

    def log_prob(self, x, out, observed, likelihood):
        slope, intercept = self.logistic()
        if observed is None:
            return F.logsigmoid(-(intercept + slope * x)).sum(-1)
        seen = torch.where(observed, x, 0.0)
        log_seen = F.logsigmoid(-(intercept + slope * seen)) * observed
        log_missing = likelihood.log_expected_sigmoid(out, slope, intercept)
        return log_seen.sum(-1) + (log_missing * ~observed).sum(-1)

    def log_prob_pairs(self, x, out, observed, likelihood):
        slope, intercept = self.logistic()
        if observed is None:
            log_seen = F.logsigmoid(-(intercept + slope * x)).sum(-1)
            return log_seen[:, None].expand(-1, out.shape[0])
        seen = torch.where(observed, x, 0.0)
        log_seen = F.logsigmoid(-(intercept + slope * seen)) * observed
        log_missing = likelihood.log_expected_sigmoid(out, slope, intercept)
        return log_seen.sum(-1)[:, None] + (~observed).to(out.dtype) @ log_missing.T

    def missing_mean(self, out, likelihood):
        return likelihood.sigmoid_tilted_mean(out, *self.logistic())

    def missing_sample(self, out, likelihood, generator):
        # Rejection sampling: a draw from p(x|out) is kept with probability
        # p(missing | x), at most 1, which leaves p(x | out, missing).
        # Entries still refused after the last round keep their last draw.
        slope, intercept = self.logistic()
        x = likelihood.sample(out, generator)
        for _ in range(_REJECTION_ROUNDS):
            hidden = torch.sigmoid(intercept + slope * x)
            u = torch.rand(x.shape, generator=generator, device=generator.device)
            refused = u.to(x) >= hidden
            if not bool(refused.any()):
                break
            x = torch.where(refused, likelihood.sample(out, generator), x)
        return x


# SelfMasking's parameters are this many times the tensors that Adam trains.
# Adam moves each tensor by about learning_rate per step, and a hard threshold
# (every value above the mean missing) needs a slope of tens: with the slope
# trained as such, it was 0.8 after 800 steps at 1e-3, and the decoder sent
# the missing values far past the threshold instead (breast cancer, RMSE 9.8).
_PARAMETER_SCALE = 10.0
# Rounds of SelfMasking.missing_sample: an entry is accepted in each with the
# probability that the model hides it, E[sigmoid(...)], so 50 rounds leave an
# entry hidden with probability 0.1 unaccepted once in about 200.
_REJECTION_ROUNDS = 50
