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


def _string_categories(dtype):
    """Whether a pandas dtype is a category dtype whose categories are
    strings (or bytes)."""
    categories = getattr(dtype, "categories", None)
    return categories is not None and any(
        isinstance(c, str | bytes) for c in categories
    )


def string_category_columns(X):
    """``((index, categories), ...)``: X's category columns whose categories
    are strings, by position, each with its categories (a tuple, in the
    dtype's order); ``()`` for anything but such a DataFrame."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or isinstance(dtypes, np.dtype):
        return ()
    return tuple(
        (j, tuple(dtype.categories))
        for j, dtype in enumerate(dtypes)
        if _string_categories(dtype)
    )


def check_same_categories(X, fitted, estimator_name):
    """Refuse a category column of strings in X unless it was one at fit
    (``fitted``, from :func:`string_category_columns`) with the same
    categories in the same order: its codes, which the model reads, would
    mean other levels. A column given as numbers is read as the codes
    themselves (the likelihood then checks them against the levels)."""
    given = dict(string_category_columns(X))
    expected = dict(fitted)
    names = list(getattr(X, "columns", []))
    for j in sorted(given):
        if given[j] == expected.get(j):
            continue
        name = names[j] if j < len(names) else j
        if j not in expected:
            seen = "numbers at fit"
        else:
            seen = f"a category column with categories {_shown(expected[j])} at fit"
        now = f"categories {_shown(given[j])} now"
        raise ValueError(
            f"Column {name!r} was {seen}, and has {now}. {estimator_name} "
            "reads such a column by its category codes, which would then mean "
            "other levels. Give it the categories of the fit, in their order: "
            f"X[{name!r}] = pd.Categorical(X[{name!r}], categories=...)."
        )


def _shown(categories):
    return list(categories[:10]) + (["..."] if len(categories) > 10 else [])


def with_numeric_categories(X):
    """X, with each pandas category column whose categories are numbers of a
    nullable dtype (``Int64``, ``Float64``) as float64, NaN where a value is
    missing, and each one whose categories are strings as its category codes
    (0 to C-1, in the dtype's order), float64, NaN where missing. numpy reads
    such columns as objects (with ``pd.NA`` in them, or strings), which
    scikit-learn's validation cannot turn into numbers; a column of other
    categories is left as it is. Anything but a DataFrame is returned as it
    is."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or isinstance(dtypes, np.dtype):
        return X
    import pandas as pd

    nullable = [
        name
        for name, dtype in dtypes.items()
        if isinstance(dtype, pd.CategoricalDtype)
        and pd.api.types.is_extension_array_dtype(dtype.categories.dtype)
        and pd.api.types.is_numeric_dtype(dtype.categories.dtype)
    ]
    strings = [name for name, dtype in dtypes.items() if _string_categories(dtype)]
    if not nullable and not strings:
        return X
    X = X.copy(deep=False)
    for name in nullable:
        X[name] = X[name].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    for name in strings:
        codes = X[name].cat.codes.to_numpy().astype(np.float64)
        X[name] = np.where(codes < 0, np.nan, codes)
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
        if _string_categories(column.dtype):
            return  # read by their codes (with_numeric_categories)
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
