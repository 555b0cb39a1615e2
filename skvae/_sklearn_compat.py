"""The one place where skvae imports scikit-learn's private helpers.

They are private API, so pyproject.toml pins the scikit-learn minimum that has
them all; if a future release moves one, only this module changes.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

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
    "Interval",
    "StrOptions",
    "_fit_context",
    "check_is_fitted",
    "validate_data",
]
