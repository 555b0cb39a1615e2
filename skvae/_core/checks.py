"""Checks on a trained model: finite weights, finite outputs."""

import math

import torch

from .missing import observed_entries


def check_trained(model, x):
    """Raise if training left ``model`` unusable.

    The training loop sees each batch's loss before its step, so a step that
    sends the weights to inf or NaN goes unnoticed when it is the last one:
    check the weights, then the reconstruction of the rows ``x`` at their
    posterior mean, which needs no random draws.
    """
    for name, tensor in model.state_dict().items():
        # input_fill is NaN by design in a model loaded from a file that
        # predates it (VAE.missing_fill_known), and training does not set it.
        if name == "input_fill":
            continue
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            _diverged(f"the weights ({name}) are not finite after the last step")
    model.eval()
    observed = observed_entries(x)
    with torch.no_grad():
        z = model.latent.mean(model.encode(x, observed))
        loss = -model.observation_log_prob(x, model.decode(z), observed).mean().item()
    if not math.isfinite(loss):
        _diverged(f"the reconstruction loss is {loss} after the last step")


def _diverged(what):
    raise ValueError(
        f"Training diverged: {what}. Scale the features (for example with "
        "StandardScaler) or lower learning_rate."
    )
