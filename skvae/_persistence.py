"""A file format that loads without running code: safetensors with a JSON header.

One ``.safetensors`` file holds every array of a fitted estimator (weights,
buffers, the optimizer's moments, numeric fitted attributes) as safetensors
tensors, and everything else as one JSON document in the file's metadata, under
the key ``"skvae"``::

    {"format": "skvae", "schema_version": 2,
     "versions": {"skvae": ..., "torch": ..., "scikit-learn": ..., "numpy": ...},
     "estimator": "GaussianVAE",
     "params": {...}, "attributes": {...}, "module": {...}, "optimizer": {...}}

Loading parses the JSON and reads the tensors: no pickle, no import named by the
file. A value the JSON cannot hold as such is an object with one key starting
with ``$``: ``{"$array": name}`` (a tensor of the file), ``{"$tuple": [...]}``,
``{"$dict": [[key, value], ...]}`` (keys other than strings),
``{"$float": "inf"}``, ``{"$scalar": [dtype, value]}`` (a numpy scalar),
``{"$strings": [...]}`` (an array of str),
``{"$device": "cuda:0"}``, ``{"$random_state": {...}}`` and
``{"$estimator": name, "state": {...}}`` for the few scikit-learn estimators
skvae keeps as fitted attributes.

Schema versions: 1, the first; 2 describes the networks as one part of the
module, ``"network": {"name": ..., **its arguments}``, with the decoder's layers
of their own (``decoder_layer_sizes``), where version 1 had
``hidden_layer_sizes`` and ``activation`` at the top of the module and a
decoder that mirrors the encoder; 3 adds the module's ``input_fill`` (the
training mean that the encoder reads in place of a missing value) and, where
the model has one, ``"missingness"``, the name of its model of missing
entries. Every version is read: a model from a file of version 1 or 2 does not
know its training mean, and refuses data with missing values.
"""

import json
import math
from numbers import Integral, Real

import numpy as np
import sklearn
import torch
from sklearn.base import BaseEstimator
from sklearn.mixture import GaussianMixture

from ._core.state import build_module, module_arrays, module_config, to_torch
from ._device import available_device

SCHEMA_VERSION = 3
_METADATA_KEY = "skvae"
# scikit-learn estimators that skvae keeps as fitted attributes, by the name
# the file gives them: the only classes a file can make skvae build.
_SKLEARN_ESTIMATORS = {"GaussianMixture": GaussianMixture}
# Attributes that describe a fit in progress, or objects the user attached
# (callbacks): not part of a fitted model.
_NOT_SAVED = (
    "_callback_fit_ctx",
    "_skl_callbacks",
    "_skl_callbacks_to_teardown",
    "_parent_callback_ctx",
)


def save(estimator, path):
    """Save a fitted skvae estimator to a file that loads without pickle.

    The file is a ``safetensors`` file: the weights, the optimizer's state and
    the numeric fitted attributes are its tensors; the parameters, the other
    fitted attributes, the versions of skvae, torch and scikit-learn that wrote
    it and the format's schema version are a JSON document in its metadata.
    :func:`load` reads it back without unpickling anything, on any machine:
    a model saved on a GPU loads on a CPU-only one.

    Parameters
    ----------
    estimator : GaussianVAE, BernoulliVAE or AutoencoderGMM
        A fitted estimator. To store a pipeline that holds one, use skops.
    path : str or path-like
        Where to write; ``.safetensors`` is the usual suffix.

    See Also
    --------
    load : Read the file back.

    Notes
    -----
    Callbacks set with ``set_callbacks`` are not saved. The optimizer's state
    and the random state are, so that ``partial_fit`` on the loaded model
    continues exactly as it would have on the saved one.

    Examples
    --------
    >>> import skvae
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data / 16
    >>> vae = skvae.GaussianVAE(2, hidden_layer_sizes=(8,), max_iter=2,
    ...                         random_state=0).fit(X)  # doctest: +SKIP
    >>> skvae.save(vae, "vae.safetensors")  # doctest: +SKIP
    >>> skvae.load("vae.safetensors").transform(X[:2]).shape  # doctest: +SKIP
    (2, 2)
    """
    from safetensors.numpy import save_file

    if type(estimator) not in _estimator_classes().values():
        raise TypeError(
            f"skvae.save stores GaussianVAE, BernoulliVAE and AutoencoderGMM, "
            f"got {type(estimator).__name__}. Store pipelines and other "
            "estimators with skops.io.dump."
        )
    if not hasattr(estimator, "module_"):
        raise ValueError(
            f"This {type(estimator).__name__} is not fitted yet: fit it before "
            "saving it (parameters alone are stored by clone or get_params)."
        )
    arrays = {}
    attributes = {
        name: value
        for name, value in vars(estimator).items()
        if name not in estimator.get_params(deep=False)
        and name not in ("module_", "_optimizer_state", *_NOT_SAVED)
    }
    document = {
        "format": "skvae",
        "schema_version": SCHEMA_VERSION,
        "versions": _versions(),
        "estimator": type(estimator).__name__,
        "params": _encode(estimator.get_params(deep=False), "params", arrays),
        "attributes": _encode(attributes, "attributes", arrays),
        "module": module_config(estimator.module_),
        "optimizer": _encode(estimator._optimizer_state, "optimizer", arrays),
    }
    for name, array in module_arrays(estimator.module_).items():
        arrays[f"module.{name}"] = array
    save_file(
        # np.ascontiguousarray would turn 0-d arrays (Adam's step) into 1-d.
        {name: np.array(array, order="C") for name, array in arrays.items()},
        str(path),
        metadata={_METADATA_KEY: json.dumps(document, allow_nan=False)},
    )


def load(path):
    """Load an estimator that :func:`save` wrote, without unpickling anything.

    The model goes to the device it was fitted on where that device exists,
    and otherwise to the CPU, with a ``UserWarning``.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`, by this version of skvae or an
        earlier one.

    Returns
    -------
    estimator : GaussianVAE, BernoulliVAE or AutoencoderGMM
        The fitted estimator, with every fitted attribute it was saved with.

    See Also
    --------
    save : Write the file.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as file:
        metadata = file.metadata() or {}
        if _METADATA_KEY not in metadata:
            raise ValueError(
                f"{path} is a safetensors file but not one that skvae.save "
                "wrote: it has no skvae metadata."
            )
        arrays = {name: file.get_tensor(name) for name in file.keys()}
    document = json.loads(metadata[_METADATA_KEY])
    version = document.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(
            f"{path} was written with schema version {version!r} by skvae "
            f"{document.get('versions', {}).get('skvae')}; this skvae "
            f"({_versions()['skvae']}) reads versions up to {SCHEMA_VERSION}. "
            "Upgrade skvae to load it."
        )
    estimators = _estimator_classes()
    if document["estimator"] not in estimators:
        raise ValueError(f"Unknown estimator {document['estimator']!r} in {path}.")
    estimator = estimators[document["estimator"]](**_decode(document["params"], arrays))
    attributes = _decode(document["attributes"], arrays)
    device = available_device(attributes["device_"])
    module_state = {
        name.removeprefix("module."): array
        for name, array in arrays.items()
        if name.startswith("module.")
    }
    estimator.__dict__.update(attributes)
    estimator.device_ = device
    estimator.module_ = build_module(document["module"], module_state, device)
    estimator._optimizer_state = to_torch(_decode(document["optimizer"], arrays))
    return estimator


def _estimator_classes():
    # Imported here: the estimators' modules import this package's others.
    from ._autoencoder_gmm import AutoencoderGMM
    from ._bernoulli import BernoulliVAE
    from ._gaussian import GaussianVAE

    return {cls.__name__: cls for cls in (GaussianVAE, BernoulliVAE, AutoencoderGMM)}


def _versions():
    from . import __version__

    return {
        "skvae": __version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }


def _encode(value, path, arrays):
    """``value`` as JSON-ready data; its arrays go into ``arrays`` by name."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic) and value.dtype != object:
        # A numpy scalar keeps its type: {"$scalar": [dtype, value]}.
        return {"$scalar": [value.dtype.str, _encode(value.item(), path, arrays)]}
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        value = float(value)
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            if not all(isinstance(item, str) for item in value.flat):
                raise TypeError(f"{path}: only arrays of str can be saved as objects.")
            return {"$strings": value.tolist()}
        arrays[path] = value
        return {"$array": path}
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    if isinstance(value, np.random.RandomState):
        _, keys, position, has_gauss, cached = value.get_state()
        return {
            "$random_state": _encode(
                {
                    "keys": keys,
                    "position": position,
                    "has_gauss": has_gauss,
                    "cached_gaussian": cached,
                },
                path,
                arrays,
            )
        }
    if isinstance(value, tuple):
        return {
            "$tuple": [_encode(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]
        }
    if isinstance(value, list):
        return [_encode(v, f"{path}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, f"{path}.{k}", arrays) for k, v in value.items()}
        return {
            "$dict": [
                [_encode(k, path, arrays), _encode(v, f"{path}.{k}", arrays)]
                for k, v in value.items()
            ]
        }
    if isinstance(value, BaseEstimator) and type(value) in _SKLEARN_ESTIMATORS.values():
        state = {k: v for k, v in vars(value).items() if k not in _NOT_SAVED}
        return {
            "$estimator": type(value).__name__,
            "state": _encode(state, path, arrays),
        }
    raise TypeError(
        f"skvae.save cannot store {path} of type {type(value).__name__}; "
        "use pickle or skops for this estimator."
    )


def _decode(value, arrays):
    """The inverse of :func:`_encode`: builds only the types listed there."""
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)).startswith("$"):
        ((tag, content),) = value.items()
        if tag == "$array":
            return np.array(arrays[content])  # a writeable copy
        if tag == "$float":
            return float(content)
        if tag == "$scalar":
            dtype, item = content
            return np.dtype(dtype).type(_decode(item, arrays))
        if tag == "$strings":
            return np.array(content, dtype=object)
        if tag == "$device":
            return torch.device(content)
        if tag == "$tuple":
            return tuple(_decode(v, arrays) for v in content)
        if tag == "$dict":
            return {_decode(k, arrays): _decode(v, arrays) for k, v in content}
        if tag == "$random_state":
            state = _decode(content, arrays)
            random_state = np.random.RandomState()
            random_state.set_state(
                (
                    "MT19937",
                    state["keys"],
                    state["position"],
                    state["has_gauss"],
                    state["cached_gaussian"],
                )
            )
            return random_state
        raise ValueError(f"Unknown tag {tag!r} in an skvae file.")
    if set(value) == {"$estimator", "state"}:
        if value["$estimator"] not in _SKLEARN_ESTIMATORS:
            raise ValueError(
                f"Unknown estimator {value['$estimator']!r} in an skvae file."
            )
        cls = _SKLEARN_ESTIMATORS[value["$estimator"]]
        estimator = cls.__new__(cls)
        estimator.__dict__.update(_decode(value["state"], arrays))
        return estimator
    return {k: _decode(v, arrays) for k, v in value.items()}
