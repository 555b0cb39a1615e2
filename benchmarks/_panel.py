"""The density panel's data sets, prepared by one protocol.

Each data set is split 70/30 (``random_state=0``); columns with at most 20
distinct values are dequantized (uniform noise as wide as the smallest gap
between their values, 1 for a constant column), so that a density on them is
finite; then every column is standardized on the training part.
"""

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_linnerud,
    load_wine,
    make_blobs,
    make_circles,
    make_classification,
    make_friedman1,
    make_friedman2,
    make_gaussian_quantiles,
    make_low_rank_matrix,
    make_moons,
    make_s_curve,
    make_swiss_roll,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

# The data sets of the issue first, then ours. Each loader returns X (float64).
LOADERS = {
    "digits": lambda: load_digits().data,
    "diabetes": lambda: load_diabetes().data,
    "moons": lambda: make_moons(2000, noise=0.05, random_state=0)[0],
    "breast_cancer": lambda: load_breast_cancer().data,
    "wine": lambda: load_wine().data,
    "swiss_roll": lambda: make_swiss_roll(2000, noise=0.5, random_state=0)[0],
    "autompg": lambda: _autompg(),
}

# Data sets that no default was chosen on: run them (``--held-out``) to check
# that the defaults generalize.
HELD_OUT = {
    "iris": lambda: load_iris().data,
    "boston": lambda: _boston(),
    "s_curve": lambda: make_s_curve(2000, noise=0.1, random_state=0)[0],
    "circles": lambda: make_circles(2000, noise=0.05, factor=0.5, random_state=0)[0],
    # Added later, after every default below was chosen: clusters, uniform
    # columns, and a table with exactly redundant columns.
    "blobs": lambda: make_blobs(2000, n_features=5, centers=4, random_state=0)[0],
    "friedman": lambda: make_friedman1(2000, n_features=6, random_state=0)[0],
    "classification": lambda: make_classification(
        2000, n_features=8, n_informative=4, random_state=0
    )[0],
    # Added after those: a table of 20 rows, a product of uniform columns
    # (with its target), one Gaussian, a Gaussian of low effective rank, and
    # mlxtend's three blobs.
    "linnerud": lambda: np.column_stack(load_linnerud(return_X_y=True)),
    "friedman2": lambda: np.column_stack(
        make_friedman2(1500, noise=0.1, random_state=0)
    ),
    "quantiles": lambda: make_gaussian_quantiles(
        n_samples=1500, n_features=3, random_state=0
    )[0],
    "low_rank": lambda: make_low_rank_matrix(
        1000, 20, effective_rank=4, tail_strength=0.1, random_state=0
    ),
    "three_blobs": lambda: _three_blobs(),
}


def _boston():
    from mlxtend.data import boston_housing_data

    X, y = boston_housing_data()
    return np.column_stack([X, y]).astype(np.float64)


def _three_blobs():
    from mlxtend.data import three_blobs_data

    return three_blobs_data()[0].astype(np.float64)


def _autompg():
    from mlxtend.data import autompg_data

    X, y = autompg_data()
    # Cylinders, displacement, horsepower, weight, acceleration, model year,
    # origin and miles per gallon; the last column of X (the car's name) is NaN.
    return np.column_stack([X[:, :7], y]).astype(np.float64)


def load_panel(name, seed=0):
    """``X_train, X_test``: data set ``name`` split, dequantized, standardized."""
    X = {**LOADERS, **HELD_OUT}[name]().astype(np.float64)
    X = dequantize(X, np.random.RandomState(seed))
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def dequantize(X, rng, max_levels=20):
    """Add uniform noise, as wide as the smallest gap between the values, to the
    columns with at most ``max_levels`` distinct values (width 1 if constant)."""
    X = X.copy()
    for j in range(X.shape[1]):
        levels = np.unique(X[:, j])
        if len(levels) > max_levels:
            continue
        width = np.diff(levels).min() if len(levels) > 1 else 1.0
        X[:, j] += rng.uniform(0.0, width, size=X.shape[0])
    return X
