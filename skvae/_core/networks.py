"""Encoder and decoder builders, and the modules that export them."""

import copy

import torch
from torch import nn

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
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


class VAE(nn.Module):
    """Encoder -> latent family -> decoder -> likelihood, as one module.

    The decoder mirrors the encoder's hidden layers. Which latent family and
    which likelihood are plugged in is the estimator's choice.
    """

    def __init__(self, n_features, hidden_layer_sizes, activation, latent, likelihood):
        super().__init__()
        # Kept so that the module can be described in plain data and rebuilt
        # (skvae._core.state), which is how estimators pickle and save.
        self.n_features = n_features
        self.hidden_layer_sizes = tuple(hidden_layer_sizes)
        self.activation = activation
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

    @torch.no_grad()
    def initialize(self, x_mean, x_var):
        """Make the untrained model predict the data mean and variance."""
        self.decoder[-1].bias.copy_(self.likelihood.initialize(x_mean, x_var))


class Encoder(nn.Module):
    """x -> the posterior's mean, as ``transform`` computes it: a module to export.

    Holds copies of the trained encoder and of the latent family, whose
    ``mean`` says what the encoder's output means (the first half of it for a
    Gaussian posterior, the sigmoid of logits for bits, the code itself for a
    deterministic latent).
    """

    def __init__(self, model):
        super().__init__()
        self.network = copy.deepcopy(model.encoder)
        self.latent = copy.deepcopy(model.latent)

    def forward(self, x):
        return self.latent.mean(self.latent.posterior(self.network(x)))


class Decoder(nn.Module):
    """z -> the likelihood's mean, as ``inverse_transform`` computes it."""

    def __init__(self, model):
        super().__init__()
        self.network = copy.deepcopy(model.decoder)
        self.likelihood = copy.deepcopy(model.likelihood)

    def forward(self, z):
        return self.likelihood.mean(self.network(z))
