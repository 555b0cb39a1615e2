"""The training objective, and the ELBO that validation and scoring share.

All values are in nats, one per row: reconstruction log-likelihoods are summed
over features (over the observed ones where some are missing), and the caller
averages over the batch.
"""

import math

import torch

from .missing import observed_entries
from .noise import draw_blocks


def training_loss(model, x, beta, generator, observed=None, n_draws=1):
    """Negative beta-ELBO averaged over the batch, and its parts.

    ``observed`` marks the entries of x that are not missing (None: all are).
    With ``n_draws`` above 1 the loss is the negative importance-weighted
    bound instead (:func:`importance_weighted_loss`). Returns ``(loss,
    reconstruction, kl)``, the last two as per-row means detached from the
    graph, for logging.
    """
    posterior = model.encode(x, observed)
    if n_draws > 1:
        return importance_weighted_loss(
            model, x, posterior, generator, observed, n_draws
        )
    z, score_state = model.latent.training_sample(posterior, generator)
    reconstruction = model.observation_log_prob(x, model.decode(z), observed)
    kl = model.latent.kl(posterior, z)
    loss = (beta * kl - reconstruction).mean()
    if score_state is not None:
        # A latent whose samples carry no gradient adds its score-function term.
        loss = loss + model.latent.score_function_loss(reconstruction, score_state)
    return loss, reconstruction.detach().mean(), kl.detach().mean()


def importance_weighted_loss(model, x, posterior, generator, observed, n_draws):
    """Minus the importance-weighted bound (IWAE, Burda et al., 2016; MIWAE
    where entries are missing, Mattei and Frellsen, 2019), averaged over the
    batch, with ``n_draws`` reparameterized draws from q(z|x) per row.

    The parts logged are the reconstruction averaged over the draws and the
    KL term in closed form, as for the ELBO; the loss is no longer their
    difference, but at least that tight.
    """
    z_mean = posterior[0]
    noise = model.latent.noise(n_draws * x.shape[0], generator, z_mean.dtype)
    z = model.latent.sample(posterior, noise.reshape(n_draws, *z_mean.shape))
    reconstruction = model.observation_log_prob(x, model.decode(z), observed)
    log_weights = (
        reconstruction
        + model.latent.log_prior(z)
        - model.latent.log_posterior(z, posterior)
    )
    bound = torch.logsumexp(log_weights, dim=0) - math.log(n_draws)
    kl = model.latent.kl(posterior, z)
    return -bound.mean(), reconstruction.detach().mean(), kl.detach().mean()


def elbo(model, x, noise, beta=1.0):
    """The evidence lower bound per row, with the KL term in closed form
    where the latent family has one (else estimated at the same draw).

    ``noise`` has shape (1, rows, n_components), or is a
    :class:`~skvae._core.noise.RowDraws` of one draw. Missing entries (NaN)
    of x are left out: the bound is on the observed ones.
    """
    observed = observed_entries(x)
    posterior = model.encode(x, observed)
    _, first = next(iter(draw_blocks(noise)))
    z = model.latent.sample(posterior, first[0])
    reconstruction = model.observation_log_prob(x, model.decode(z), observed)
    return reconstruction - beta * model.latent.kl(posterior, z)
