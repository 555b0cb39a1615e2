"""Input that scikit-learn's validation would coerce silently: refused here.

``check_array`` turns a masked array into its data (the mask is lost; a
missing value is a NaN),
datetime64 and timedelta64 into numbers whose scale depends on the unit, and
strings of digits into floats. None of these is what the user meant by "data
to model", so each gets a clear error before validation.
"""

from numbers import Integral

import numpy as np
import scipy.sparse as sp


def with_numeric_categories(X):
    """X, with each pandas category column whose categories are numbers of a
    nullable dtype (``Int64``, ``Float64``) as float64, NaN where a value is
    missing. numpy reads such a column as objects with ``pd.NA`` in them,
    which scikit-learn's validation cannot turn into numbers (pandas raised
    its own TypeError); a column of other categories is left as it is.
    Anything but a DataFrame is returned as it is."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or isinstance(dtypes, np.dtype):
        return X
    import pandas as pd

    columns = [
        name
        for name, dtype in dtypes.items()
        if isinstance(dtype, pd.CategoricalDtype)
        and pd.api.types.is_extension_array_dtype(dtype.categories.dtype)
        and pd.api.types.is_numeric_dtype(dtype.categories.dtype)
    ]
    if not columns:
        return X
    X = X.copy(deep=False)
    for name in columns:
        X[name] = X[name].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return X


def check_input_kind(X, estimator_name):
    """Raise a ValueError for masked, date or time, and string input."""
    if np.ma.isMaskedArray(X):
        n_masked = int(np.ma.count_masked(X))
        if n_masked:
            raise ValueError(
                f"X is a masked array with {n_masked} masked entries, which "
                f"{estimator_name} does not read as missing: a missing value "
                "is a NaN. Pass X.filled(np.nan)."
            )
        return
    if sp.issparse(X):
        _check_dtype(X.dtype, "X", estimator_name)
        return
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None and not isinstance(dtypes, np.dtype):  # a DataFrame
        for name, dtype in dtypes.items():
            _check_column(X[name], dtype, f"column {name!r}", estimator_name)
        return
    if isinstance(X, np.ndarray) or hasattr(X, "__array__"):
        array = X if isinstance(X, np.ndarray) else None
    else:
        array = None
    if array is None and isinstance(X, list | tuple):
        try:
            array = np.asarray(X)
        except ValueError:  # ragged: scikit-learn's own error follows
            return
    if array is not None:
        _check_dtype(array.dtype, "X", estimator_name)
        if array.dtype == object:
            _check_objects(array.ravel(), "X", estimator_name)


def _check_column(column, dtype, what, estimator_name):
    categories = getattr(dtype, "categories", None)
    if categories is not None:  # a categorical column
        dtype = categories.dtype
        if any(isinstance(c, str | bytes) for c in categories):
            raise _category_strings_error(what, column.name, categories, estimator_name)
    if getattr(dtype, "kind", "O") in "OSUa" and not isinstance(dtype, np.dtype):
        raise _strings_error(what, estimator_name)  # pandas' string dtypes
    _check_dtype(
        np.dtype(dtype) if isinstance(dtype, np.dtype) else dtype, what, estimator_name
    )
    if getattr(dtype, "kind", None) == "O":
        _check_objects(
            np.asarray(column if categories is None else categories),
            what,
            estimator_name,
        )


def _check_dtype(dtype, what, estimator_name):
    kind = getattr(dtype, "kind", None)
    if kind in ("M", "m"):
        raise ValueError(
            f"{what} holds {'dates' if kind == 'M' else 'time spans'} "
            f"({dtype}), which {estimator_name} would read as numbers whose "
            "scale depends on the unit. Convert them to numbers yourself (for "
            "example seconds since a reference date)."
        )
    if kind in ("U", "S", "a"):
        raise _strings_error(what, estimator_name)


def _check_objects(values, what, estimator_name):
    for value in values:
        if isinstance(value, str | bytes):
            raise _strings_error(what, estimator_name)
        if isinstance(value, np.datetime64 | np.timedelta64):
            _check_dtype(value.dtype, what, estimator_name)


def _strings_error(what, estimator_name):
    return ValueError(
        f"{what} holds strings, which {estimator_name} does not parse: it "
        "models numbers. Convert numeric strings with astype(float) yourself, "
        "and encode categories (for example with "
        "sklearn.preprocessing.OneHotEncoder)."
    )


def _category_strings_error(what, name, categories, estimator_name):
    shown = list(categories[:5]) + (["..."] if len(categories) > 5 else [])
    return ValueError(
        f"{what} holds strings, the categories {shown}, which {estimator_name} "
        "does not parse: it models numbers. Rename the categories to their "
        f"codes, X[{name!r}] = X[{name!r}].cat.rename_categories("
        f"range({len(categories)})), which keeps their order (and "
        "likelihood='auto' then models the column as categorical), or encode "
        "the column (for example with sklearn.preprocessing.OneHotEncoder)."
    )


def checked_layer_sizes(sizes, name):
    """The layer sizes given as parameter ``name``, as a tuple of ints; a
    ValueError for anything but a flat sequence of positive integers (or one
    integer)."""
    given = sizes
    if isinstance(sizes, Integral) and not isinstance(sizes, bool | np.bool_):
        sizes = [sizes]
    try:
        sizes = list(sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(
        isinstance(s, Integral) and not isinstance(s, bool | np.bool_) and s >= 1
        for s in sizes
    ):
        raise ValueError(
            f"{name} must be a flat sequence of positive integers, "
            f"such as (256, 128), got {given!r}."
        )
    return tuple(int(s) for s in sizes)
