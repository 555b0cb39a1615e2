"""Resolve the ``device`` parameter into a :class:`torch.device`."""

import re
import warnings

import torch

_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def resolve_device(device):
    """Turn ``'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps'`` into a torch device.

    ``'auto'`` picks CUDA, then MPS, then the CPU. A device that was asked for
    by name but is not present is an error, never a silent fall-back.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "mps":
        if not _mps_available():
            raise ValueError(
                "device='mps' was requested but MPS is not available on this "
                "machine; use device='auto' or device='cpu'."
            )
        return torch.device("mps")
    match = _CUDA_INDEX.fullmatch(device)
    if device == "cuda" or match:
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on "
                "this machine; use device='auto' or device='cpu'."
            )
        if match and int(match.group(1)) >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist."
            )
        return torch.device(device)
    raise ValueError(
        f"device={device!r} is not understood; use 'auto', 'cpu', 'cuda', "
        "'cuda:N' or 'mps'."
    )


def available_device(device):
    """Return ``device`` if it exists here, else the CPU with a warning.

    Used when unpickling: a model trained on a GPU must still load on a
    machine without one.
    """
    if device.type == "cuda" and not (
        torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    ):
        warnings.warn(
            f"This model was fitted on {device}, which is not available here; "
            "it has been loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    if device.type == "mps" and not _mps_available():
        warnings.warn(
            "This model was fitted on MPS, which is not available here; "
            "it has been loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return device


def _mps_available():
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()
