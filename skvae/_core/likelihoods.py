"""Observation models p(x|z): what the decoder's output means.

Each model offers ``log_prob(x, out)`` (summed over features, one value per
row), ``mean(out)``, ``sample(out, generator)`` and ``initialize(x_mean, x_var)``,
which sets the model's own parameters from data statistics and returns the
decoder bias that makes the untrained model predict the data mean.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

_LOG_2PI = math.log(2.0 * math.pi)


class GaussianLikelihood(nn.Module):
    """x ~ N(decoder(z), diag(variance)), one learned variance per feature.

    ``variance = min_variance + exp(log_variance)``: the floor keeps a constant
    feature from sending the density to infinity.
    """

    # With a linear decoder this is probabilistic PCA or factor analysis, so
    # the model may start at probabilistic PCA (VAE.linear_start).
    linear_gaussian = True

    def __init__(self, n_features, min_variance):
        super().__init__()
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
        """Second derivative of log p(x|out) in each output (the Hessian is
        diagonal: features are independent given out)."""
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


class BernoulliLikelihood(nn.Module):
    """x ~ Bernoulli(sigmoid(decoder(z))) per feature; grey levels in [0, 1] too."""

    linear_gaussian = False

    def log_prob(self, x, out):
        # sum_j x_j out_j - softplus(out_j): the contraction never expands x
        # to the shape of out (K draws of every row when scoring), which made
        # binary_cross_entropy_with_logits take twice as long.
        return torch.einsum("...j,...j->...", x, out) - F.softplus(out).sum(-1)

    def log_prob_pairs(self, x, out):
        """log p(x_i | out_j) for every row i and decoder output j."""
        return x @ out.T - F.softplus(out).sum(-1)

    def curvature(self, x, out):
        """Second derivative of log p(x|out) in each output."""
        probability = torch.sigmoid(out)
        return -probability * (1 - probability)

    def mean(self, out):
        return torch.sigmoid(out)

    def sample(self, out, generator):
        return torch.bernoulli(torch.sigmoid(out), generator=generator)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        return torch.logit(x_mean.clamp(1e-3, 1 - 1e-3))


def make_likelihood(name, n_features, min_variance):
    if name == "gaussian":
        return GaussianLikelihood(n_features, min_variance)
    return BernoulliLikelihood()
