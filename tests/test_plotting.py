"""skvae.plotting: each function draws what it says, and refuses bad arguments."""

import importlib
import sys
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

import skvae  # noqa: E402
from skvae import GaussianVAE  # noqa: E402
from skvae._base import BaseVAE  # noqa: E402
from skvae.plotting import (  # noqa: E402
    plot_interpolation,
    plot_latent_space,
    plot_loss_curve,
    plot_reconstructions,
    plot_samples,
)

TINY = dict(hidden_layer_sizes=(16,), max_iter=2, n_importance_samples=2, device="cpu")


@pytest.fixture(scope="module")
def small_digits(digits):
    """200 of the digits in [0, 1] (conftest.py), and their labels."""
    X, y = digits
    return X[:200], y[:200]


@pytest.fixture(scope="module")
def vae(small_digits):
    X, _ = small_digits
    return GaussianVAE(
        2, likelihood="bernoulli", random_state=0, early_stopping=False, **TINY
    ).fit(X)


@pytest.fixture(scope="module")
def vae_3d(small_digits):
    X, _ = small_digits
    return GaussianVAE(
        3, early_stopping=True, n_iter_no_change=1, random_state=0, **TINY
    ).fit(X)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _images(axes):
    return sum(len(ax.get_images()) for ax in np.ravel(axes))


def test_importing_without_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.delitem(sys.modules, "skvae.plotting")
    with pytest.raises(ImportError, match=r"pip install skvae\[plot\]"):
        importlib.import_module("skvae.plotting")


def test_plot_samples_draws_a_grid(vae):
    fig, axes = plot_samples(vae, n_samples=10, n_cols=4)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert axes.shape == (3, 4)
    assert _images(axes) == 10
    assert [ax.get_visible() for ax in axes.ravel()] == [True] * 10 + [False] * 2
    # An 8 x 8 digit, on one colour scale for the grid.
    image = axes[0, 0].get_images()[0]
    assert image.get_array().shape == (8, 8)
    assert len({im.get_clim() for ax in axes.ravel() for im in ax.get_images()}) == 1


def test_plot_samples_is_reproducible_and_takes_noise(vae):
    _, first = plot_samples(vae, n_samples=2, random_state=3)
    _, again = plot_samples(vae, n_samples=2, random_state=3)
    _, noisy = plot_samples(vae, n_samples=2, random_state=3, noise=True)
    pixels = [ax[0, 0].get_images()[0].get_array() for ax in (first, again, noisy)]
    np.testing.assert_array_equal(pixels[0], pixels[1])
    # Bernoulli draws are 0 or 1; the decoder's mean is not.
    assert set(np.unique(pixels[2])) <= {0.0, 1.0}
    assert not set(np.unique(pixels[0])) <= {0.0, 1.0}


def test_plot_samples_through_a_pipeline(small_digits):
    X, _ = small_digits
    pipeline = make_pipeline(
        MinMaxScaler(), GaussianVAE(2, likelihood="bernoulli", random_state=0, **TINY)
    ).fit(X * 16)
    fig, axes = plot_samples(pipeline, n_samples=4)
    # The scaler's inverse_transform maps the samples back to 0..16.
    assert _images(axes) == 4
    assert axes[0, 0].get_images()[0].get_array().max() > 1.5


def test_plot_samples_into_a_given_figure(vae):
    fig = plt.figure()
    left, right = fig.subfigures(1, 2)
    out, axes = plot_samples(vae, n_samples=4, fig=right)
    assert out is right
    assert len(right.axes) == 4 and not left.axes


def test_plot_reconstructions_puts_originals_above(vae, small_digits):
    X, _ = small_digits
    fig, axes = plot_reconstructions(vae, X, n_images=5)
    assert axes.shape == (2, 5)
    assert _images(axes) == 10
    np.testing.assert_allclose(
        axes[0, 2].get_images()[0].get_array(), X[2].reshape(8, 8)
    )
    expected = vae.inverse_transform(vae.transform(X[3:4]))[0].reshape(8, 8)
    np.testing.assert_allclose(axes[1, 3].get_images()[0].get_array(), expected)
    assert axes[0, 0].get_ylabel() == "original"


def test_plot_reconstructions_shows_all_rows_when_fewer(vae, small_digits):
    X, _ = small_digits
    _, axes = plot_reconstructions(vae, X[:3])
    assert axes.shape == (2, 3)


def test_data_frames_and_sparse_rows_keep_their_type(small_digits):
    pd = pytest.importorskip("pandas")
    sparse = pytest.importorskip("scipy.sparse")
    X, y = small_digits
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(X.shape[1])])
    vae = GaussianVAE(2, likelihood="bernoulli", random_state=0, **TINY).fit(frame)
    with warnings.catch_warnings():
        # A warning here would mean that feature names were lost on the way.
        warnings.simplefilter("error", UserWarning)
        _, axes = plot_reconstructions(vae, frame, n_images=3)
        plot_latent_space(vae, frame, y)
        plot_interpolation(vae, frame.iloc[0], frame.iloc[1].to_numpy(), n_steps=3)
    np.testing.assert_allclose(
        axes[0, 1].get_images()[0].get_array(), X[1].reshape(8, 8)
    )
    plain = GaussianVAE(2, likelihood="bernoulli", random_state=0, **TINY).fit(X)
    _, axes = plot_reconstructions(plain, sparse.csr_matrix(X), n_images=3)
    np.testing.assert_allclose(
        axes[0, 2].get_images()[0].get_array(), X[2].reshape(8, 8)
    )


def test_plot_latent_space_colours_by_label(vae, small_digits):
    X, y = small_digits
    fig, ax = plot_latent_space(vae, X, y)
    assert len(ax.collections) == len(np.unique(y))
    assert len(ax.get_legend().get_texts()) == 10
    n_points = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_points == len(X)


def test_plot_latent_space_without_labels_and_with_numbers(vae, small_digits):
    X, _ = small_digits
    fig, ax = plot_latent_space(vae, X)
    assert len(ax.collections) == 1 and ax.get_legend() is None
    fig, ax = plot_latent_space(vae, X, X.sum(axis=1))
    assert len(ax.collections) == 1
    assert len(fig.axes) == 2  # the axes and its colour bar


def test_plot_latent_space_picks_two_of_more_dimensions(vae_3d, small_digits):
    X, y = small_digits
    _, given = plt.subplots()
    fig, ax = plot_latent_space(vae_3d, X, y, components=(2, 0), ax=given)
    assert ax is given
    Z = vae_3d.transform(X)
    offsets = np.vstack([c.get_offsets() for c in ax.collections])
    np.testing.assert_allclose(
        np.sort(offsets[:, 0]), np.sort(Z[:, 2]), rtol=1e-6, atol=1e-6
    )
    assert ax.get_xlabel() == "latent dimension 2"


@pytest.mark.parametrize("components", [(0, 0), (0, 3), (0,), (0.5, 1)])
def test_plot_latent_space_rejects_bad_components(vae_3d, small_digits, components):
    X, _ = small_digits
    with pytest.raises(ValueError, match="components must be two different"):
        plot_latent_space(vae_3d, X, components=components)


def test_plot_latent_space_needs_two_dimensions(small_digits):
    X, _ = small_digits
    one = GaussianVAE(1, random_state=0, **TINY).fit(X)
    with pytest.raises(ValueError, match="at least 2 latent dimensions"):
        plot_latent_space(one, X)


def test_plot_latent_space_rejects_labels_of_the_wrong_length(vae, small_digits):
    X, y = small_digits
    with pytest.raises(ValueError, match="one value per row of X"):
        plot_latent_space(vae, X, y[:-1])


def test_plot_interpolation_decodes_the_segment(vae, small_digits):
    X, _ = small_digits
    fig, axes = plot_interpolation(vae, X[0], X[1:2], n_steps=6)
    assert axes.shape == (6,)
    assert _images(axes) == 6
    codes = vae.transform(X[:2])
    ends = vae.inverse_transform(codes)
    np.testing.assert_allclose(
        axes[0].get_images()[0].get_array(), ends[0].reshape(8, 8)
    )
    np.testing.assert_allclose(
        axes[-1].get_images()[0].get_array(), ends[1].reshape(8, 8)
    )
    middle = vae.inverse_transform(codes.mean(axis=0, keepdims=True))
    _, axes = plot_interpolation(vae, X[0], X[1], n_steps=3)
    np.testing.assert_allclose(
        axes[1].get_images()[0].get_array(), middle.reshape(8, 8), rtol=1e-6
    )


def test_plot_interpolation_rejects_bad_arguments(vae, small_digits):
    X, _ = small_digits
    with pytest.raises(ValueError, match="n_steps must be at least 2"):
        plot_interpolation(vae, X[0], X[1], n_steps=1)
    with pytest.raises(ValueError, match="x_start must be one row"):
        plot_interpolation(vae, X[:2], X[1])
    with pytest.raises(ValueError, match="same number of features"):
        plot_interpolation(vae, X[0], X[1, :10])


def test_plot_loss_curve_training_only(vae):
    fig, ax = plot_loss_curve(vae)
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), vae.loss_curve_)
    assert ax.get_legend() is None


def test_plot_loss_curve_with_validation(vae_3d):
    fig, ax = plot_loss_curve(vae_3d)
    training, validation = ax.get_lines()
    np.testing.assert_allclose(
        validation.get_ydata(), -np.array(vae_3d.validation_scores_)
    )
    assert validation.get_xdata()[-1] == len(vae_3d.loss_curve_)
    assert ax.get_legend() is not None


def test_plot_loss_curve_needs_a_fitted_estimator():
    with pytest.raises(ValueError, match="loss_curve_"):
        plot_loss_curve(GaussianVAE())


def test_image_shape_is_checked(vae, small_digits):
    X, _ = small_digits
    with pytest.raises(ValueError, match="image_shape must be"):
        plot_samples(vae, n_samples=2, image_shape=(4, 4))
    _, axes = plot_samples(vae, n_samples=2, image_shape=(4, 16))
    assert axes[0, 0].get_images()[0].get_array().shape == (4, 16)
    with pytest.raises(ValueError, match="not a square number"):
        plot_reconstructions(vae, X[:, :63])


@pytest.mark.parametrize("n_samples", [0, -1, 2.5, True])
def test_plot_samples_rejects_bad_counts(vae, n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        plot_samples(vae, n_samples=n_samples)


def test_plot_samples_needs_a_generator(small_digits):
    X, _ = small_digits
    with pytest.raises(TypeError, match="needs an estimator with a sample method"):
        plot_samples(MinMaxScaler().fit(X))


@pytest.mark.parametrize(
    "name",
    [
        name
        for name in skvae.__all__
        # The models; VAEImputer is no generator, and draws nothing.
        if isinstance(getattr(skvae, name), type)
        and issubclass(getattr(skvae, name), BaseVAE)
    ],
)
def test_every_estimator_can_be_drawn(name, small_digits):
    X, y = small_digits
    estimator = getattr(skvae, name)(
        2, likelihood="bernoulli", random_state=0, **TINY
    ).fit(X)
    assert _images(plot_samples(estimator, n_samples=4)[1]) == 4
    assert _images(plot_reconstructions(estimator, X, n_images=3)[1]) == 6
    assert len(plot_latent_space(estimator, X, y)[1].collections) == 10
    assert _images(plot_interpolation(estimator, X[0], X[1], n_steps=4)[1]) == 4
    assert len(plot_loss_curve(estimator)[1].get_lines()) >= 1
