"""What the estimators accept, what they refuse, and that a refusal changes nothing."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from skvae import GaussianVAE
from skvae._data import Rows

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=2,
    n_importance_samples=3,
    device="cpu",
    random_state=0,
)


@pytest.fixture
def X():
    return np.random.RandomState(0).uniform(size=(40, 5))


@pytest.fixture
def fitted(X):
    return GaussianVAE(2, **FAST).fit(X)


def _fitted_state(estimator):
    """Everything the estimator holds, in a form that == compares by value."""
    return _freeze(vars(estimator))


def _freeze(obj):
    if isinstance(obj, torch.nn.Module):
        return _freeze(obj.state_dict())
    if isinstance(obj, torch.Tensor):
        return ("tensor", obj.dtype, tuple(obj.shape), obj.cpu().numpy().tobytes())
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype, obj.shape, obj.tobytes())
    if isinstance(obj, np.random.RandomState):
        return _freeze(obj.get_state())
    if isinstance(obj, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in obj.items()))
    if isinstance(obj, list | tuple):
        return tuple(_freeze(v) for v in obj)
    return obj


BAD_INPUTS = {
    "inf": (lambda X: np.where(X > 0.9, np.inf, X), ValueError, "infinity"),
    "empty": (lambda X: X[:0], ValueError, "0 sample"),
    "no features": (lambda X: X[:, :0], ValueError, "0 feature"),
    "1-D": (lambda X: X[:, 0], ValueError, "Expected 2D array"),
    "strings": (lambda X: X.astype(str).astype(object) + "a", ValueError, "string"),
    "complex": (lambda X: X + 1j, ValueError, "Complex data not supported"),
}


# NaN is a missing value; a column with none observed gives nothing to fit.
BAD_TRAINING_INPUTS = {
    **BAD_INPUTS,
    "a column of NaN": (
        lambda X: np.where(np.arange(X.shape[1]) == 2, np.nan, X),
        ValueError,
        "no observed value",
    ),
}


@pytest.mark.parametrize(
    "name, method",
    [(name, "fit") for name in BAD_TRAINING_INPUTS]
    # A chunk of partial_fit may miss a column the model already knows.
    + [(name, "partial_fit") for name in BAD_INPUTS],
)
def test_bad_input_to_fit_leaves_a_fitted_estimator_as_it_was(fitted, X, name, method):
    make_bad, error, message = BAD_TRAINING_INPUTS[name]
    before = _fitted_state(fitted)
    with pytest.raises(error, match=message):
        getattr(fitted, method)(make_bad(X))
    assert _fitted_state(fitted) == before


@pytest.mark.parametrize("name", BAD_INPUTS)
@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_bad_input_to_a_fitted_estimator(fitted, X, name, method):
    make_bad, error, message = BAD_INPUTS[name]
    before = _fitted_state(fitted)
    with pytest.raises(error, match=message):
        getattr(fitted, method)(make_bad(X))
    assert _fitted_state(fitted) == before


@pytest.mark.parametrize("method", ["transform", "score_samples", "partial_fit"])
def test_wrong_number_of_features(fitted, X, method):
    before = _fitted_state(fitted)
    with pytest.raises(
        ValueError, match="X has 4 features, but GaussianVAE is expecting 5 features"
    ):
        getattr(fitted, method)(X[:, :4])
    assert _fitted_state(fitted) == before


def test_inverse_transform_checks_the_code_width(fitted):
    with pytest.raises(ValueError, match="X has 3 columns, but this GaussianVAE has 2"):
        fitted.inverse_transform(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fitted.inverse_transform(np.full((4, 2), np.nan))


def test_unfitted_estimator_says_so(X):
    from sklearn.exceptions import NotFittedError

    vae = GaussianVAE()
    for call in (vae.transform, vae.score_samples, vae.score, vae.inverse_transform):
        with pytest.raises(NotFittedError):
            call(X)
    with pytest.raises(NotFittedError):
        vae.sample(2)


def test_bernoulli_likelihood_refuses_values_outside_the_unit_interval(X):
    vae = GaussianVAE(likelihood="bernoulli", **FAST)
    with pytest.raises(ValueError, match=r"Values greater than 1.*MinMaxScaler"):
        vae.fit(X * 2)
    with pytest.raises(ValueError, match=r"Negative values.*\[-0.99"):
        vae.fit(X - 1)
    with pytest.raises(ValueError, match="Values greater than 1"):
        vae.fit(sp.csr_matrix(X * 2))
    vae.fit(X)
    before = _fitted_state(vae)
    with pytest.raises(ValueError, match="Values greater than 1"):
        vae.score_samples(X + 1)
    with pytest.raises(ValueError, match="Values greater than 1"):
        vae.partial_fit(X + 1)
    assert _fitted_state(vae) == before


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_components": 0}, "n_components"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"device": "tpu"}, "device='tpu' is not understood"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"batch_size": "big"}, "batch_size"),
    ],
)
def test_bad_parameters_are_named(X, params, message):
    with pytest.raises(ValueError, match=message):
        GaussianVAE(**params).fit(X)


def test_training_that_diverges_says_how_to_fix_it_and_changes_nothing(fitted, X):
    before = _fitted_state(fitted)
    fitted.set_params(learning_rate=1e30, warm_start=True)
    with pytest.raises(ValueError, match="diverged.*learning_rate"):
        fitted.fit(X * 1e30)
    fitted.set_params(learning_rate=1e-3, warm_start=False)
    assert _fitted_state(fitted) == before


def test_accepts_lists_pandas_fortran_and_read_only_memmaps(X, tmp_path):
    reference = GaussianVAE(2, **FAST).fit(X).transform(X)
    path = tmp_path / "X.npy"
    np.save(path, X)
    memmap = np.load(path, mmap_mode="r")
    for data in (X.tolist(), pd.DataFrame(X), np.asfortranarray(X), memmap):
        vae = GaussianVAE(2, **FAST).fit(data)
        assert np.array_equal(vae.transform(data), reference)


def test_feature_names_and_pandas_output(X):
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    vae = GaussianVAE(3, **FAST).set_output(transform="pandas").fit(frame)
    assert list(vae.feature_names_in_) == list(frame.columns)
    codes = vae.transform(frame)
    assert isinstance(codes, pd.DataFrame)
    assert list(codes.columns) == ["gaussianvae0", "gaussianvae1", "gaussianvae2"]
    assert list(vae.get_feature_names_out()) == list(codes.columns)


def test_dtype_in_is_dtype_out(X):
    vae = GaussianVAE(2, **FAST).fit(X.astype(np.float32))
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        assert vae.transform(Xd).dtype == dtype
        assert vae.score_samples(Xd).dtype == dtype
        assert vae.inverse_transform(vae.transform(Xd)).dtype == dtype
    assert vae.transform(X.astype(np.int64)).dtype == np.float64
    np.testing.assert_allclose(
        vae.transform(X.astype(np.float32)), vae.transform(X), rtol=1e-5, atol=1e-6
    )


def test_sparse_input_matches_dense_and_is_densified_batch_by_batch(X, monkeypatch):
    X = np.where(X > 0.5, X, 0.0)
    dense = GaussianVAE(2, batch_size=8, **FAST).fit(X)
    widest = []
    original = Rows.__getitem__

    def recording_getitem(self, index):
        batch = original(self, index)
        widest.append(batch.shape[0])
        return batch

    monkeypatch.setattr(Rows, "__getitem__", recording_getitem)
    sparse = GaussianVAE(2, batch_size=8, **FAST).fit(sp.csr_matrix(X))
    assert widest and max(widest) <= 8
    for a, b in zip(
        dense.module_.state_dict().values(),
        sparse.module_.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b)
    widest.clear()
    np.testing.assert_allclose(sparse.transform(sp.csc_matrix(X)), dense.transform(X))
    assert max(widest) <= 1024


SILENTLY_COERCED = {
    "masked": (lambda X: np.ma.masked_greater(X, 0.9), "masked array with"),
    "datetime": (lambda X: (X * 1e6).astype("datetime64[s]"), "dates"),
    "timedelta": (lambda X: (X * 1e6).astype("timedelta64[ms]"), "time spans"),
    "numeric strings": (lambda X: X.astype(str), "strings"),
    "numeric strings as objects": (lambda X: X.astype(str).astype(object), "strings"),
    # (A category column of strings is data: its codes are read.)
    "string column": (
        lambda X: pd.DataFrame(X).assign(c=np.array(["1"] * len(X), dtype=object)),
        "column 'c' holds strings",
    ),
    "datetime column": (
        lambda X: pd.DataFrame(X).assign(d=pd.Timestamp("2024-01-01")),
        "column 'd' holds dates",
    ),
}


@pytest.mark.parametrize("name", SILENTLY_COERCED)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform", "score_samples"])
def test_input_that_would_be_coerced_is_refused(fitted, X, name, method):
    make_bad, message = SILENTLY_COERCED[name]
    before = _fitted_state(fitted)
    with pytest.raises(ValueError, match=message):
        getattr(fitted, method)(make_bad(X))
    assert _fitted_state(fitted) == before


def test_masked_array_without_masked_entries_is_data(fitted, X):
    np.testing.assert_array_equal(
        fitted.transform(np.ma.masked_array(X)), fitted.transform(X)
    )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"batch_size": True}, "batch_size"),
        ({"max_iter": True}, "max_iter"),
        ({"hidden_layer_sizes": [[8], [4]]}, "flat sequence of positive integers"),
        ({"hidden_layer_sizes": (8, True)}, "flat sequence of positive integers"),
        ({"min_variance": 1e39}, "min_variance"),
        ({"min_variance": 1e-300}, "min_variance"),
    ],
)
def test_parameters_that_would_be_coerced_are_refused(X, params, message):
    with pytest.raises(ValueError, match=message):
        GaussianVAE(**{**FAST, **params}).fit(X)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((True,), {}, "n_samples must be a positive integer"),
        ((2.0,), {}, "n_samples must be a positive integer"),
        ((0,), {}, "n_samples must be a positive integer"),
        ((10**20,), {}, "do not fit in one array"),
        ((2,), {"noise": "False"}, "noise must be True or False"),
    ],
)
def test_sample_refuses_bad_arguments(fitted, args, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        fitted.sample(*args, **kwargs)


def test_min_variance_applies_to_continued_training(X):
    vae = GaussianVAE(2, **FAST).fit(X)
    vae.set_params(min_variance=0.5, warm_start=True).fit(X)
    assert vae.module_.likelihood.min_variance == 0.5
    assert (vae.module_.likelihood.variance() >= 0.5).all()
    vae.set_params(min_variance=2.0).partial_fit(X)
    assert (vae.module_.likelihood.variance() >= 2.0).all()
