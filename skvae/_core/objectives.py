"""The training objective and the log-likelihood estimates.

All values are in nats, one per row: reconstruction log-likelihoods are summed
over features, and the caller averages over the batch.
"""

import math

import torch

from .noise import draw_blocks, n_draws


def training_loss(model, x, beta, generator):
    """Negative beta-ELBO averaged over the batch, and its parts.

    Returns ``(loss, reconstruction, kl)``, the last two as per-row means
    detached from the graph, for logging.
    """
    posterior = model.encode(x)
    z, score_state = model.latent.training_sample(posterior, generator)
    reconstruction = model.likelihood.log_prob(x, model.decode(z))
    kl = model.latent.kl(posterior)
    loss = (beta * kl - reconstruction).mean()
    if score_state is not None:
        # A latent whose samples carry no gradient adds its score-function term.
        loss = loss + model.latent.score_function_loss(reconstruction, score_state)
    return loss, reconstruction.detach().mean(), kl.detach().mean()


def elbo(model, x, noise, beta=1.0):
    """The evidence lower bound per row, with the KL term in closed form.

    ``noise`` has shape (1, rows, n_components), or is a
    :class:`~skvae._core.noise.RowDraws` of one draw.
    """
    posterior = model.encode(x)
    _, first = next(iter(draw_blocks(noise)))
    z = model.latent.sample(posterior, first[0])
    reconstruction = model.likelihood.log_prob(x, model.decode(z))
    return reconstruction - beta * model.latent.kl(posterior)


def importance_weighted_log_likelihood(model, x, noise):
    """The importance-weighted bound on log p(x) per row (Burda et al., 2016).

    With K = ``noise.shape[0]`` draws z_k from q(z|x),
    log p(x) >= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x); the bound tightens
    as K grows. ``noise`` has shape (K, rows, n_components), or is a
    :class:`~skvae._core.noise.RowDraws` that makes the draws block by block.
    """
    posterior = model.encode(x)
    parts = []  # per block of draws: log sum_k of its weights, per row
    for _, block in draw_blocks(noise):
        z = model.latent.sample(posterior, block)  # (draws, rows, n_components)
        log_weights = (
            model.likelihood.log_prob(x, model.decode(z))
            + model.latent.log_prior(z)
            - model.latent.log_posterior(z, posterior)
        )
        parts.append(torch.logsumexp(log_weights, dim=0))
    return torch.logsumexp(torch.stack(parts), dim=0) - math.log(n_draws(noise))


def log_likelihood(model, x, noise):
    """What ``score_samples`` reports: the ELBO for one draw, else the IW bound."""
    if n_draws(noise) == 1:
        return elbo(model, x, noise)
    return importance_weighted_log_likelihood(model, x, noise)
