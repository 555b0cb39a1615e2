"""The one place where skvae imports scikit-learn's private helpers.

They are private API, so pyproject.toml pins the scikit-learn minimum that has
them all; if a future release moves one, only this module changes.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "check_is_fitted",
    "validate_data",
]
