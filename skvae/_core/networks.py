"""Encoder and decoder builders."""

import torch
from torch import nn

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}

# Each activation's derivative as a function of its input and its output, for
# :func:`jacobian`.
_DERIVATIVES = {
    nn.Identity: lambda inputs, outputs: torch.ones_like(outputs),
    nn.Sigmoid: lambda inputs, outputs: outputs * (1 - outputs),
    nn.Tanh: lambda inputs, outputs: 1 - outputs**2,
    nn.ReLU: lambda inputs, outputs: (inputs > 0).to(outputs.dtype),
}


def mlp(n_inputs, hidden_layer_sizes, n_outputs, activation):
    """A multilayer perceptron: Linear layers with ``activation`` between them.

    The last layer is linear: what its outputs mean (a posterior's parameters,
    a likelihood's mean or logits) is for the caller to say.
    """
    sizes = [n_inputs, *hidden_layer_sizes, n_outputs]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers[:-1])


def jacobian(network, z):
    """``network(z)`` and its Jacobian in z, of shape (rows, outputs, inputs).

    Forward-mode differentiation by hand, layer by layer, for the networks
    :func:`mlp` builds. torch.func's transforms would do it for any network,
    but they share process-global state: scored from several threads at once,
    they raised, returned wrong numbers or crashed the process.
    """
    out = z
    tangent = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device).expand(
        *z.shape, z.shape[-1]
    )  # d out / d z, (rows, width, inputs)
    for layer in network:
        inputs, out = out, layer(out)
        if isinstance(layer, nn.Linear):
            tangent = layer.weight @ tangent
        else:
            tangent = _DERIVATIVES[type(layer)](inputs, out)[..., None] * tangent
    return out, tangent


class VAE(nn.Module):
    """Encoder -> latent family -> decoder -> likelihood, as one module.

    The decoder mirrors the encoder's hidden layers. Which latent family and
    which likelihood are plugged in is the estimator's choice.
    """

    def __init__(self, n_features, hidden_layer_sizes, activation, latent, likelihood):
        super().__init__()
        self.encoder = mlp(
            n_features, hidden_layer_sizes, latent.n_encoder_outputs, activation
        )
        self.decoder = mlp(
            latent.n_components, hidden_layer_sizes[::-1], n_features, activation
        )
        self.latent = latent
        self.likelihood = likelihood

    def encode(self, x):
        return self.latent.posterior(self.encoder(x))

    def decode(self, z):
        return self.decoder(z)

    def decode_with_jacobian(self, z):
        """The decoder's output and its Jacobian in z: (rows, outputs, inputs)."""
        return jacobian(self.decoder, z)

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        """Make the untrained model predict the data mean and variance."""
        self.decoder[-1].bias.copy_(self.likelihood.initialize(x_mean, x_var))
