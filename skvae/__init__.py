"""Variational autoencoders for scikit-learn users, on a PyTorch core."""

from ._gaussian import GaussianVAE

__version__ = "0.1.0.dev0"

__all__ = ["GaussianVAE"]
