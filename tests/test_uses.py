"""The uses our users named: pipelines, model selection, features for a classifier."""

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skvae import GaussianVAE


def test_pipeline_with_a_scaler(digits):
    X, _ = digits
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "vae",
                GaussianVAE(3, hidden_layer_sizes=(16,), max_iter=3, random_state=0),
            ),
        ]
    ).fit(X[:200])
    assert pipe.transform(X[:10]).shape == (10, 3)
    assert np.isfinite(pipe.score(X[200:260]))
    # The pipeline's score is the VAE's score of the scaled data.
    assert pipe.score(X[:20]) == pipe["vae"].score(pipe["scale"].transform(X[:20]))
    samples = pipe["scale"].inverse_transform(pipe["vae"].sample(4))
    assert samples.shape == (4, 64)


def test_grid_search_finds_the_true_latent_size(make_linear_gaussian):
    # Data with a 3-dimensional latent: too few components explain it badly,
    # more than needed add nothing (they stay unused), so held-out
    # log-likelihood picks at least 3 and the model says it uses 3. With a
    # diagonal noise (factor analysis): a full covariance would explain the
    # linear structure without any component.
    X, _, _ = make_linear_gaussian(600, n_features=10, n_latent=3, noise=0.3, seed=1)
    search = GridSearchCV(
        GaussianVAE(
            likelihood="gaussian",
            hidden_layer_sizes=(),
            learning_rate=3e-2,
            max_iter=40,
            n_importance_samples=20,
            random_state=0,
        ),
        {"n_components": [1, 2, 3, 6]},
        cv=3,
    ).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] < scores[2] - 1.0
    assert abs(scores[3] - scores[2]) < 0.05
    assert search.best_params_["n_components"] in (3, 6)
    assert search.best_estimator_.n_active_components_ == 3


def test_vae_features_feed_a_classifier(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    classifier = make_pipeline(
        MinMaxScaler(),
        GaussianVAE(
            16,
            likelihood="bernoulli",
            hidden_layer_sizes=(64,),
            learning_rate=1e-2,
            batch_size=64,
            max_iter=40,
            random_state=0,
        ),
        LogisticRegression(max_iter=1000),
    ).fit(X_train, y_train)
    accuracy = classifier.score(X_test, y_test)
    # Ten classes: chance is 0.1; 16 PCA components reach about 0.93.
    assert accuracy > 0.85
    pca = make_pipeline(PCA(16), LogisticRegression(max_iter=1000))
    assert accuracy > pca.fit(X_train, y_train).score(X_test, y_test) - 0.1
