"""The ``likelihood`` parameter read as a plan: which likelihood describes which
columns of X.

A plan is a list of ``(name, columns, arguments)``: a registered likelihood's
name, the indices of the columns it covers, and constructor arguments read from
the columns' dtype (the levels of a pandas category column). The estimator
resolves it at fit and the core builds the likelihood from it
(:func:`skvae._core.likelihoods.plan_likelihood`).
"""

from collections.abc import Set
from numbers import Integral

import numpy as np

from ._core.likelihoods import LIKELIHOODS

AUTO = "auto"


class LikelihoodNames(Set):
    """The strings ``likelihood`` accepts: ``'auto'`` and every registered
    name, read from the table at each use, so that a likelihood registered
    after import is accepted too."""

    def __contains__(self, name):
        return name == AUTO or name in LIKELIHOODS

    def __iter__(self):
        return iter(sorted({AUTO, *LIKELIHOODS}))

    def __len__(self):
        return len(LIKELIHOODS) + (AUTO not in LIKELIHOODS)

    @classmethod
    def _from_iterable(cls, iterable):
        # The result of a set operation is a plain set, not a live view.
        return set(iterable)


def named_likelihoods(likelihood):
    """The likelihood classes the parameter names, where it names them: one
    for a name, one per valid pair for a list, none for ``'auto'`` (which
    only the data resolves) or a value that fit will refuse."""
    if isinstance(likelihood, str):
        return [LIKELIHOODS[likelihood]] if likelihood in LIKELIHOODS else []
    if not isinstance(likelihood, list):
        return []
    return [
        LIKELIHOODS[pair[0]]
        for pair in likelihood
        if isinstance(pair, tuple | list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and pair[0] in LIKELIHOODS
    ]


def column_kinds(X):
    """For ``likelihood='auto'``: each column's likelihood and arguments, read
    from the dtypes of a pandas DataFrame; None for any other X, which is
    Gaussian throughout.

    Read before X is validated, since validation turns it into numbers.
    bool columns are Bernoulli; category columns (of the integers 0 to C-1,
    or of strings, read by their codes) and object columns categorical
    (integer codes); integer columns Poisson where none is
    negative, and Gaussian otherwise, as float columns are.
    """
    if not hasattr(X, "dtypes") or not hasattr(X, "iloc"):
        return None
    import pandas as pd

    kinds = []
    for j, dtype in enumerate(X.dtypes):
        column = X.iloc[:, j]
        if pd.api.types.is_bool_dtype(dtype):
            kinds.append(("bernoulli", {}))
        elif isinstance(dtype, pd.CategoricalDtype):
            kinds.append(("categorical", _category_levels(X.columns[j], dtype)))
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            _check_object_codes(X.columns[j], column)
            kinds.append(("categorical", {}))
        elif pd.api.types.is_integer_dtype(dtype) and bool((column >= 0).all()):
            kinds.append(("poisson", {}))
        else:
            kinds.append(("gaussian", {}))
    return kinds


def _category_levels(name, dtype):
    categories = dtype.categories
    n_levels = len(categories)
    strings = any(isinstance(c, str | bytes) for c in categories)
    if n_levels and (
        strings
        or (
            dtype.categories.dtype.kind in "iu"
            and sorted(categories) == list(range(n_levels))
        )
    ):
        # Strings are read by their codes, 0 to C-1 (with_numeric_categories).
        return {"n_levels": n_levels}
    shown = list(categories[:5]) + (["..."] if n_levels > 5 else [])
    raise ValueError(
        f"Column {name!r} is a pandas category column with categories {shown}: "
        "likelihood='auto' reads a category column as the integer codes 0 to "
        "C-1 of a categorical variable, so its categories must be those "
        f"integers. Rename them, X[{name!r}] = "
        f"X[{name!r}].cat.rename_categories(range({n_levels})), which keeps the "
        "order of the levels, or encode the column with "
        "sklearn.preprocessing.OrdinalEncoder."
    )


def _check_object_codes(name, column):
    import pandas as pd

    for value in column:
        if pd.isna(value):  # a missing value, as NaN is
            continue
        if isinstance(value, bool | np.bool_) or not (
            isinstance(value, Integral | float | np.floating)
            and value >= 0
            and float(value).is_integer()
        ):
            raise ValueError(
                f"Column {name!r} has dtype {column.dtype} with the value "
                f"{value!r}: likelihood='auto' reads such a column as the "
                "integer codes of a categorical variable, and skvae reads "
                "numbers only. Encode it first, for example with "
                "sklearn.preprocessing.OrdinalEncoder, or pass it as a pandas "
                "category column whose categories are 0 to C-1."
            )


# ``'auto'`` gives real-valued columns one full covariance (``gaussian_full``)
# where they are at most this many: its n**2 terms per row then cost at most
# about a fifth of the default networks' (a diagonal one is kept beyond).
MAX_FULL_COVARIANCE_COLUMNS = 100


def resolve_plan(
    likelihood, n_features, feature_names, kinds, n_samples, missing_columns=()
):
    """The plan of the ``likelihood`` parameter for X's columns.

    ``feature_names`` are X's column names (``feature_names_in_``) or None;
    ``kinds`` what :func:`column_kinds` read of X, for ``'auto'``,
    ``n_samples`` its number of rows and ``missing_columns`` the indices of
    its columns with missing values (NaN).
    """
    if likelihood == AUTO:
        kinds = kinds or [("gaussian", {})] * n_features
        return [
            _full_where_affordable(part, n_samples, missing_columns)
            for part in _auto_plan(kinds)
        ]
    if isinstance(likelihood, str):
        return [(likelihood, list(range(n_features)), {})]
    return _pairs_plan(likelihood, n_features, feature_names)


def _auto_plan(kinds):
    """One part per categorical column; one part for each other likelihood,
    over all its columns; parts in the order of their first column."""
    plan, shared = [], {}
    for j, (name, arguments) in enumerate(kinds):
        if name == "categorical":
            plan.append((name, [j], arguments))
        elif name in shared:
            shared[name][1].append(j)
        else:
            shared[name] = (name, [j], arguments)
            plan.append(shared[name])
    return plan


def _full_where_affordable(part, n_samples, missing_columns=()):
    """A Gaussian part with one full covariance where it has at most
    :data:`MAX_FULL_COVARIANCE_COLUMNS` columns and more than twice as many
    rows (fewer would leave its covariance without full rank to start from);
    on the density panel the full covariance lifted breast cancer from -7.64
    to -5.63 nats per held-out row, auto-mpg from -5.29 to -5.09. Columns
    with missing values keep the diagonal one, which leaves them out of the
    density, where the full one cannot (``supports_missing``)."""
    name, columns, arguments = part
    if (
        name == "gaussian"
        and not set(columns) & set(missing_columns)
        and len(columns) <= MAX_FULL_COVARIANCE_COLUMNS
        and n_samples > 2 * len(columns)
    ):
        return ("gaussian_full", columns, arguments)
    return part


def _pairs_plan(pairs, n_features, feature_names):
    if not pairs:
        raise ValueError(
            "likelihood is an empty list: give a likelihood name, 'auto', or "
            "(likelihood, columns) pairs that cover every column, as in "
            "[('gaussian', [0, 1]), ('categorical', [2])]."
        )
    plan = []
    owner = {}  # column index -> the pair that covers it
    for i, pair in enumerate(pairs):
        name, columns = _checked_pair(i, pair)
        indices = _indices(i, columns, n_features, feature_names)
        for j in indices:
            if j in owner:
                raise ValueError(
                    f"Column {_label(j, feature_names)!r} is in likelihood[{owner[j]}] "
                    f"and in likelihood[{i}]: each column has one likelihood."
                )
            owner[j] = i
        plan.append((name, indices, {}))
    missing = [j for j in range(n_features) if j not in owner]
    if missing:
        labels = [_label(j, feature_names) for j in missing]
        raise ValueError(
            f"likelihood gives no likelihood for the columns {labels} "
            f"(X has {n_features} columns): every column needs one. Add a pair "
            f"for them, such as ('gaussian', {labels})."
        )
    return plan


def _checked_pair(i, pair):
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        raise ValueError(
            f"likelihood[{i}] is {pair!r}: each entry of a per-column likelihood "
            "is a pair (likelihood name, columns), as in ('gaussian', [0, 1]) "
            "or ('categorical', 'colour')."
        )
    name, columns = pair
    if name == AUTO:
        raise ValueError(
            f"likelihood[{i}] names 'auto', which chooses for the whole table: "
            "a pair names a registered likelihood."
        )
    if not isinstance(name, str) or name not in LIKELIHOODS:
        raise ValueError(
            f"likelihood[{i}] names the likelihood {name!r}, which is not "
            f"registered; the registered ones are {sorted(LIKELIHOODS)}."
        )
    return name, columns


def _indices(i, columns, n_features, feature_names):
    """Column indices of a pair's ``columns``: an index, a name, or a list of
    them, in the order given."""
    given = columns
    if isinstance(columns, str | Integral):
        columns = [columns]
    elif isinstance(columns, list | tuple | np.ndarray) or hasattr(columns, "tolist"):
        columns = list(columns)
    else:
        columns = []
    if not columns:
        raise ValueError(
            f"likelihood[{i}] gives the columns {given!r}: give a column index, "
            "a column name, or a non-empty list of them."
        )
    indices = []
    for column in columns:
        if isinstance(column, bool | np.bool_) or not isinstance(
            column, str | Integral
        ):
            raise ValueError(
                f"likelihood[{i}] gives the column {column!r}: a column is an "
                "integer index or, for a pandas DataFrame, a column name."
            )
        if isinstance(column, str):
            indices.append(_by_name(i, column, feature_names))
        elif not 0 <= column < n_features:
            raise ValueError(
                f"likelihood[{i}] gives the column index {column}, but X has "
                f"{n_features} columns (indices 0 to {n_features - 1})."
            )
        else:
            indices.append(int(column))
    if len(set(indices)) < len(indices):
        raise ValueError(
            f"likelihood[{i}] gives a column twice: {given!r}. Each column has "
            "one likelihood."
        )
    return indices


def _by_name(i, name, feature_names):
    if feature_names is None:
        raise ValueError(
            f"likelihood[{i}] gives the column {name!r} by name, but X has no "
            "column names: pass X as a pandas DataFrame with string column "
            "names, or give the columns by integer index."
        )
    positions = np.flatnonzero(np.asarray(feature_names) == name)
    if not positions.size:
        raise ValueError(
            f"likelihood[{i}] gives the column {name!r}, which X does not have; "
            f"its columns are {list(feature_names)}."
        )
    return int(positions[0])


def _label(j, feature_names):
    return j if feature_names is None else str(feature_names[j])


def columns_text(columns, feature_names):
    """The columns of a part, as an error message names them."""
    return str([_label(j, feature_names) for j in columns])
