"""
=================================================
Choosing the latent size by held-out likelihood
=================================================

How many latent dimensions does a data set need? A :class:`~skvae.GaussianVAE`
scores data by its log-likelihood, so :class:`~sklearn.model_selection.GridSearchCV`
with no scorer picks the ``n_components`` that explains held-out data best, the
way scikit-learn's :class:`~sklearn.decomposition.PCA` and
:class:`~sklearn.decomposition.FactorAnalysis` (also density models with a
``score`` method) pick theirs.

All three ``score`` methods give the same quantity, the mean log-likelihood per
sample in nats, so their curves can be drawn on one axis. For the comparison to
be apples to apples the three must model the same *continuous* data with a
Gaussian observation model: the VAE uses ``likelihood='gaussian'``, and the
data are scikit-learn's 8x8 digits made continuous and standardized, as
explained below. The VAE's score is a lower bound on its log-likelihood (the
importance-weighted bound with 100 draws), so its curve, if anything,
understates it.
"""

# %%
# Continuous data
# ---------------
# The digits' pixels are integers from 0 to 16. A density on such data can grow
# without bound by piling mass on the integers, so we *dequantize* them, the
# standard practice for density models: add uniform noise in [0, 1) to every
# pixel. Each model then works on standardized pixels; a
# :class:`~sklearn.pipeline.Pipeline` fits the scaler on the training folds
# only, and every model is scored in the same standardized units.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import GaussianVAE

X, _ = load_digits(return_X_y=True)
rng = np.random.RandomState(0)
X = X + rng.uniform(size=X.shape)

# %%
# One grid search per model
# -------------------------
# The same 3-fold split for every model, and the same latent sizes. The VAE
# trains on about 1,000 rows per fold, a small data set for a neural network:
# a higher learning rate than the default trains it well in seconds per fit,
# each stopping when its own held-out rows stop improving.
sizes = [1, 2, 4, 8, 16, 32]
cv = KFold(n_splits=3, shuffle=True, random_state=0)
models = {
    "GaussianVAE": GaussianVAE(
        hidden_layer_sizes=(128,),
        likelihood="gaussian",
        learning_rate=3e-3,
        random_state=0,
    ),
    "FactorAnalysis": FactorAnalysis(random_state=0),
    "PCA": PCA(),
}
searches = {}
for name, model in models.items():
    pipeline = make_pipeline(StandardScaler(), model)
    step = pipeline.steps[-1][0]
    search = GridSearchCV(pipeline, {f"{step}__n_components": sizes}, cv=cv)
    searches[name] = search.fit(X)
    best = search.best_params_[f"{step}__n_components"]
    print(
        f"{name:>14}: best n_components = {best:2d}, "
        f"held-out log-likelihood {search.best_score_:.1f} nats per digit"
    )

# %%
# The held-out log-likelihood against the latent size
# ---------------------------------------------------
# The linear models improve slowly as dimensions are added. The VAE explains
# held-out digits much better at every size up to 16, then levels off: past
# that point, more dimensions no longer help. When several sizes score within
# noise of the best (the shaded bands are one standard deviation over the
# folds), prefer the smallest of them.
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, search in searches.items():
    mean = search.cv_results_["mean_test_score"]
    std = search.cv_results_["std_test_score"]
    (line,) = ax.plot(sizes, mean, marker="o", label=name)
    ax.fill_between(sizes, mean - std, mean + std, color=line.get_color(), alpha=0.2)
ax.set_xscale("log", base=2)
ax.set_xticks(sizes, [str(size) for size in sizes])
ax.set_xlabel("latent size (n_components)")
ax.set_ylabel("held-out log-likelihood\n(nats per digit)")
ax.set_title("3-fold cross-validated score, standardized digits")
ax.legend(frameon=False)

plt.show()
