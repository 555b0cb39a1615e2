"""Latent families: the prior p(z), the posterior q(z|x) and how to sample it.

A family turns the encoder's output into a posterior, and knows how to draw from
it as a function of *noise* drawn separately. Keeping the noise separate lets
the caller make a row's draws from that row alone, so that a row's score never
depends on the other rows of the call.

Every family offers::

    n_encoder_outputs              width of the encoder's last layer
    posterior(h)                   encoder output -> posterior parameters (a tuple)
    mean(posterior)                what ``transform`` returns
    noise(n, generator, dtype)     (n, n_components) base noise, for training
    noise_from_uniform(u)          the same base noise made from uniforms in (0, 1),
                                   for scoring (see ``noise.row_uniforms``)
    sample(posterior, noise)       z; noise may carry leading sample dimensions
    training_sample(posterior, generator)
                                   z for one training step, and the extra state a
                                   score-function estimator needs (None if not)
    log_posterior(z, posterior)    log q(z|x), summed over components
    log_prior(z)                   log p(z), summed over components
    kl(posterior)                  KL(q(z|x) || p(z)) per row, in closed form
    prior_sample(n, generator, dtype)
"""

import math

import torch
from torch import nn

_LOG_2PI = math.log(2.0 * math.pi)


class GaussianLatent(nn.Module):
    """Prior N(0, I); posterior N(z_mean, diag(exp(z_logvar))).

    Trained with the reparameterization trick z = z_mean + exp(z_logvar / 2) * eps.
    """

    def __init__(self, n_components):
        super().__init__()
        self.n_components = n_components
        self.n_encoder_outputs = 2 * n_components

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
        return -0.5 * (
            _LOG_2PI + z_logvar + (z - z_mean) ** 2 * torch.exp(-z_logvar)
        ).sum(-1)

    def log_prior(self, z):
        return -0.5 * (_LOG_2PI + z**2).sum(-1)

    def kl(self, posterior):
        z_mean, z_logvar = posterior
        return 0.5 * (torch.exp(z_logvar) + z_mean**2 - 1.0 - z_logvar).sum(-1)

    def prior_sample(self, n, generator, dtype=torch.float32):
        return self.noise(n, generator, dtype)
