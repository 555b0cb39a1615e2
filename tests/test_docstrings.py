"""The estimators' docstrings: shared parameters in the same words, and every
parameter documented, in the signature's order, with its true default."""

import ast
import inspect
import re

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc
from sklearn.utils._testing import assert_docstring_consistency

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

ESTIMATORS = [GaussianVAE, BernoulliVAE, AutoencoderGMM]

# Parameters of all three estimators that mean the same thing in each: type,
# default and description must be the same, word for word. To change one, change
# it in the three files (CONTRIBUTING.md).
SAME_IN_ALL = [
    "hidden_layer_sizes",
    "decoder_layer_sizes",
    "activation",
    "likelihood",
    "min_variance",
    "batch_size",
    "learning_rate",
    "max_iter",
    "tol",
    "validation_fraction",
    "n_iter_no_change",
    "device",
    "verbose",
    "missingness",
]

# Parameters of all three whose documentation rightly differs, and why.
DIFFERENT = {
    "n_components": (
        "a number of dimensions for GaussianVAE and AutoencoderGMM, of bits for "
        "BernoulliVAE; the defaults differ (2, 8, 2)"
    ),
    "n_importance_samples": (
        "each estimator scores differently: the importance-weighted bound "
        "(GaussianVAE), exact enumeration up to 16 bits (BernoulliVAE), a Laplace "
        "importance sampler (AutoencoderGMM)"
    ),
    "early_stopping": (
        "AutoencoderGMM watches the reconstruction log-likelihood, not the "
        "beta-ELBO, and fits its mixture on the rows trained on"
    ),
    "random_state": (
        "AutoencoderGMM has no training noise and seeds its mixture; the VAEs' "
        "texts are checked against each other below"
    ),
    "warm_start": (
        "each says what a continued fit does with its own parameters: "
        "BernoulliVAE's gradient_estimator and temperature, AutoencoderGMM's "
        "mixture"
    ),
}

# The two VAEs share these texts (AutoencoderGMM's differ, see DIFFERENT).
SAME_IN_VAES = ["early_stopping", "random_state"]
# Shared by the two VAEs only, in words that differ on purpose: each names what
# a strong KL term does to its own latent (a regular space, fair coins) and
# what collapses (latent dimensions, bits).
DIFFERENT_IN_VAES = ["beta", "kl_warmup_steps"]

# Fitted attributes that mean the same thing in all three. module_,
# loss_curve_ and validation_scores_ differ: each describes its own networks
# and objective.
SAME_ATTRIBUTES = [
    "device_",
    "likelihoods_",
    "n_iter_",
    "n_steps_",
    "reconstruction_curve_",
    "kl_curve_",
    "best_validation_score_",
    "n_features_in_",
    "feature_names_in_",
    "early_stopping_",
    "component_activity_",
    "n_active_components_",
    "kl_per_component_",
    "n_threads_",
]


def _init_parameters(estimator):
    return list(inspect.signature(estimator).parameters)


def test_every_shared_parameter_is_checked_or_excused():
    # A parameter added to all three estimators must join SAME_IN_ALL or, with
    # a reason, DIFFERENT.
    shared = set.intersection(*(set(_init_parameters(e)) for e in ESTIMATORS))
    assert shared == set(SAME_IN_ALL) | set(DIFFERENT)
    assert not set(SAME_IN_ALL) & set(DIFFERENT)
    vaes = set(_init_parameters(GaussianVAE)) & set(_init_parameters(BernoulliVAE))
    assert vaes - shared == set(DIFFERENT_IN_VAES)


def test_shared_parameters_have_the_same_description():
    assert_docstring_consistency(ESTIMATORS, include_params=SAME_IN_ALL)


def test_the_two_vaes_describe_early_stopping_and_seeds_alike():
    assert_docstring_consistency(
        [GaussianVAE, BernoulliVAE], include_params=SAME_IN_VAES
    )


def test_shared_attributes_have_the_same_description():
    assert_docstring_consistency(ESTIMATORS, include_attrs=SAME_ATTRIBUTES)


_DEFAULT = re.compile(r",\s*default\s*=\s*(?P<value>.+)$")


def _documented_default(type_text):
    """The value after ``default=`` in a numpydoc type line, or None."""
    match = _DEFAULT.search(type_text)
    if match is None:
        return None
    return ast.literal_eval(match["value"].strip())


def _check_parameters(documented, signature, where, require_default):
    names = [p.name for p in documented]
    expected = [
        name
        for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert names == expected, (
        f"{where}: the docstring documents {names}, the signature has {expected} "
        "(same names, same order)"
    )
    for parameter in documented:
        default = signature.parameters[parameter.name].default
        has_default = default is not inspect.Parameter.empty
        if "default=" not in parameter.type:
            # scikit-learn documents an unused y as "y : Ignored".
            assert not (require_default and has_default), (
                f"{where}: {parameter.name} has default {default!r} in the "
                f"signature, but its type line {parameter.type!r} gives none"
            )
            continue
        documented_default = _documented_default(parameter.type)
        assert has_default, f"{where}: {parameter.name} documents a default it lacks"
        assert (documented_default, type(documented_default)) == (
            default,
            type(default),
        ), (
            f"{where}: {parameter.name} is documented with "
            f"default={documented_default!r}, but the signature has {default!r}"
        )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_every_init_parameter_is_documented_with_its_default(estimator):
    _check_parameters(
        ClassDoc(estimator)["Parameters"],
        inspect.signature(estimator),
        estimator.__name__,
        require_default=True,
    )


def _public_methods(estimator):
    """Public methods written in skvae (not those inherited from scikit-learn)."""
    for name, method in inspect.getmembers(estimator, inspect.isfunction):
        if not name.startswith("_") and method.__module__.startswith("skvae."):
            yield name, method


@pytest.mark.parametrize(
    "estimator, name",
    [(e, name) for e in ESTIMATORS for name, _ in _public_methods(e)],
    ids=lambda x: x if isinstance(x, str) else x.__name__,
)
def test_every_method_parameter_is_documented_with_its_default(estimator, name):
    method = getattr(estimator, name)
    _check_parameters(
        FunctionDoc(method)["Parameters"],
        inspect.signature(method),
        f"{estimator.__name__}.{name}",
        require_default=False,
    )
