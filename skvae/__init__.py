"""Variational autoencoders for scikit-learn users, on a PyTorch core."""

from ._autoencoder_gmm import AutoencoderGMM
from ._bernoulli import BernoulliVAE
from ._gaussian import GaussianVAE
from ._imputer import VAEImputer
from ._persistence import load, save

__version__ = "0.1.0.dev0"

__all__ = [
    "AutoencoderGMM",
    "BernoulliVAE",
    "GaussianVAE",
    "VAEImputer",
    "load",
    "save",
]
