"""Gaussian mixtures fitted on latent codes, where a prior is learned from them."""

import numpy as np
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

# The numbers of components that ``n_prior_components='auto'`` chooses from by
# BIC, and the rows each component needs at least.
AUTO_PRIOR_COMPONENTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
ROWS_PER_COMPONENT = 10


def candidate_sizes(n_prior_components, n_rows):
    """The mixture sizes to compare: the one asked for, or for ``'auto'`` every
    size of :data:`AUTO_PRIOR_COMPONENTS` that ``n_rows`` codes can support."""
    if n_prior_components != "auto":
        return [n_prior_components]
    most = max(1, n_rows // ROWS_PER_COMPONENT)
    return [m for m in AUTO_PRIOR_COMPONENTS if m <= most]


def select_mixture(codes, sizes, reg_covar, random_state):
    """The diagonal Gaussian mixture of ``codes`` with the lowest BIC among
    ``sizes`` components (the only one if one size is given)."""
    codes = np.asarray(codes, dtype=np.float64)
    # No more components than distinct codes: k-means would warn of
    # duplicate points (a model whose start leaves every code alike, as one
    # without PCA's start can, has one).
    distinct = len(np.unique(codes, axis=0))
    sizes = [size for size in sizes if size <= distinct] or [1]
    best, best_bic = None, np.inf
    # EM on codes is many tiny matrix operations, and its k-means start runs
    # on OpenMP threads: with torch's threads spinning, or other processes on
    # the cores, threads wait on each other (see AutoencoderGMM). One thread
    # of each (BLAS and OpenMP) took a third of the time on a busy machine.
    with threadpool_limits(limits=1):
        for size in sizes:
            mixture = GaussianMixture(
                n_components=size,
                covariance_type="diag",
                reg_covar=reg_covar,
                random_state=random_state,
            ).fit(codes)
            bic = mixture.bic(codes) if len(sizes) > 1 else 0.0
            if bic < best_bic:
                best, best_bic = mixture, bic
    return best
