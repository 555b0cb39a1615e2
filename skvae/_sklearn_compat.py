"""The one place where skvae imports scikit-learn's private helpers.

They are private API, so pyproject.toml pins the scikit-learn minimum that has
them all; if a future release moves one, only this module changes.
"""

from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    MissingValues,
    StrOptions,
)
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)


class IntInterval(Interval):
    """An ``Interval`` of integers that refuses booleans.

    bool is an Integral, so scikit-learn's Interval(Integral, ...) takes
    ``batch_size=True`` for 1; here it is an error.
    """

    def __init__(self, left, right, *, closed):
        super().__init__(Integral, left, right, closed=closed)

    def is_satisfied_by(self, val):
        return not isinstance(val, bool | np.bool_) and super().is_satisfied_by(val)


try:
    # The callback API (set_callbacks, ProgressBar), from scikit-learn 1.9.
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # pragma: no cover - scikit-learn < 1.9

    class CallbackSupportMixin:
        """Without scikit-learn's callback API: no ``set_callbacks``.

        skvae's progress then reaches users through ``verbose`` and the
        ``"skvae"`` logger only.
        """


__all__ = [
    "CallbackSupportMixin",
    "HasMethods",
    "IntInterval",
    "Interval",
    "InvalidParameterError",
    "MissingValues",
    "StrOptions",
    "_check_feature_names_in",
    "_fit_context",
    "check_is_fitted",
    "validate_data",
]
