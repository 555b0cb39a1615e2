"""The training objective, and the ELBO that validation and scoring share.

All values are in nats, one per row: reconstruction log-likelihoods are summed
over features, and the caller averages over the batch.
"""

from .noise import draw_blocks


def training_loss(model, x, beta, generator):
    """Negative beta-ELBO averaged over the batch, and its parts.

    Returns ``(loss, reconstruction, kl)``, the last two as per-row means
    detached from the graph, for logging.
    """
    posterior = model.encode(x)
    z, score_state = model.latent.training_sample(posterior, generator)
    reconstruction = model.likelihood.log_prob(x, model.decode(z))
    kl = model.latent.kl(posterior, z)
    loss = (beta * kl - reconstruction).mean()
    if score_state is not None:
        # A latent whose samples carry no gradient adds its score-function term.
        loss = loss + model.latent.score_function_loss(reconstruction, score_state)
    return loss, reconstruction.detach().mean(), kl.detach().mean()


def elbo(model, x, noise, beta=1.0):
    """The evidence lower bound per row, with the KL term in closed form
    where the latent family has one (else estimated at the same draw).

    ``noise`` has shape (1, rows, n_components), or is a
    :class:`~skvae._core.noise.RowDraws` of one draw.
    """
    posterior = model.encode(x)
    _, first = next(iter(draw_blocks(noise)))
    z = model.latent.sample(posterior, first[0])
    reconstruction = model.likelihood.log_prob(x, model.decode(z))
    return reconstruction - beta * model.latent.kl(posterior, z)
