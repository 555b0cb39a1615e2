"""A trained model as plain data (numpy arrays and Python values), and back.

Estimators pickle, save and load their torch state through these functions,
so that what is stored holds no torch object: skops and the safe format
(``skvae.save``) can then store it, and loading it never unpickles torch
classes. A module is described by :func:`module_config` (what to build) and
:func:`module_arrays` (its weights and buffers), and rebuilt by
:func:`build_module`.
"""

import numpy as np
import torch

from .latents import LATENTS
from .likelihoods import LIKELIHOODS, ColumnLikelihood
from .missing import MISSINGNESS
from .networks import build_vae


def module_config(module):
    """What :func:`build_module` needs to build ``module`` again: plain data.

    ``{"n_features", "network", "latent", "likelihood"}``, the last three
    each ``{"name": ..., **its arguments}``; a :class:`ColumnLikelihood` is
    ``{"name": "columns", "parts": [{"name": ..., "columns": [...], **its
    arguments}, ...]}``; and ``"missingness"``, the name of the model of
    missing entries, where there is one.
    """
    missingness = {}
    if module.missingness is not None:
        missingness = {"missingness": _registered_name(MISSINGNESS, module.missingness)}
    return {
        "n_features": module.n_features,
        "network": _plain(module.network),
        "latent": {
            "name": _registered_name(LATENTS, module.latent),
            "n_components": module.latent.n_components,
            **module.latent.config(),
        },
        "likelihood": _likelihood_config(module.likelihood),
        **missingness,
    }


def module_arrays(module):
    """The module's parameters and buffers as numpy arrays, by state-dict name."""
    return {
        name: tensor.detach().cpu().numpy().copy()
        for name, tensor in module.state_dict().items()
    }


def build_module(config, arrays, device="cpu"):
    """The module that :func:`module_config` and :func:`module_arrays` describe.

    Building initializes weights at random before they are overwritten: torch's
    global generator is forked so that the caller's draws are not moved.
    """
    n_features = config["n_features"]
    latent = dict(config["latent"])
    missingness = config.get("missingness")
    if missingness is not None:
        missingness = MISSINGNESS.lookup(missingness)(n_features)
    with torch.random.fork_rng(devices=[]):
        module = build_vae(
            n_features,
            _network_config(config),
            LATENTS.lookup(latent.pop("name"))(**latent),
            _build_likelihood(config["likelihood"], n_features),
            missingness,
        )
    tensors = {name: torch.tensor(array) for name, array in arrays.items()}
    # Models saved before skvae kept the training mean that stands in for
    # missing entries keep the NaN that says it is unknown.
    tensors.setdefault("input_fill", module.input_fill)
    # Buffers whose shape is set after training (the mixture prior of a
    # DeterministicLatent) are replaced rather than copied into.
    for name, buffer in list(module.named_buffers()):
        if name in tensors and tensors[name].shape != buffer.shape:
            owner_name, _, leaf = name.rpartition(".")
            owner = module.get_submodule(owner_name)
            setattr(owner, leaf, torch.empty_like(tensors[name]))
    module.load_state_dict(tensors, strict=True)
    return module.to(device)


def to_numpy(obj):
    """``obj`` with every tensor in it (nested dicts, lists, tuples) as an array."""
    return map_leaves(obj, torch.Tensor, lambda t: t.detach().cpu().numpy().copy())


def to_torch(obj):
    """``obj`` with every numpy array in it as a CPU tensor (a copy)."""
    return map_leaves(obj, np.ndarray, lambda a: torch.tensor(a))


def map_leaves(obj, kind, function):
    """``obj`` with ``function`` applied to each value of type ``kind`` in it."""
    if isinstance(obj, kind):
        return function(obj)
    if isinstance(obj, dict):
        return {key: map_leaves(value, kind, function) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(map_leaves(value, kind, function) for value in obj)
    return obj


def _network_config(config):
    """The network part of a config, also from the layout of schema version 1:
    ``hidden_layer_sizes`` and ``activation`` at the top, and a decoder that
    mirrors the encoder."""
    if "network" in config:
        network = dict(config["network"])
    else:
        network = {
            "name": "linear_plus_mlp",
            "hidden_layer_sizes": config["hidden_layer_sizes"],
            "decoder_layer_sizes": config["hidden_layer_sizes"][::-1],
            "activation": config["activation"],
        }
    # JSON has no tuples: the sizes come back as lists.
    return {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in network.items()
    }


def _likelihood_config(likelihood):
    if isinstance(likelihood, ColumnLikelihood):
        return {
            "name": ColumnLikelihood.name,
            "parts": [
                {**_likelihood_config(part), "columns": list(columns)}
                for part, columns in likelihood.parts()
            ],
        }
    return {
        "name": _registered_name(LIKELIHOODS, likelihood),
        **likelihood.config(),
    }


def _build_likelihood(config, n_features):
    arguments = dict(config)
    name = arguments.pop("name")
    if name != ColumnLikelihood.name:
        return LIKELIHOODS.lookup(name)(n_features, **arguments)
    parts = []
    for part in arguments["parts"]:
        part = dict(part)
        columns = part.pop("columns")
        parts.append((_build_likelihood(part, len(columns)), columns))
    return ColumnLikelihood(n_features, parts)


def _plain(network):
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in network.items()
    }


def _registered_name(registry, part):
    # A model is rebuilt from the name alone: it must lead back to the class.
    if registry.get(part.name) is not type(part):
        raise TypeError(
            f"{type(part).__name__} is not registered as a {registry.kind} "
            f"(registered: {sorted(registry)})."
        )
    return part.name
