"""The torch core: networks, latent families, likelihoods, objectives, training.

Nothing here imports scikit-learn; the estimators in ``skvae`` validate their
input and hand this package float tensors.
"""
