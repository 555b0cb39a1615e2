"""AutoencoderGMM: a deterministic autoencoder made generative by a mixture."""

import sys
from numbers import Real

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from ._base import _MAX_SEED, BaseVAE
from ._sklearn_compat import Interval, IntInterval, StrOptions


class AutoencoderGMM(BaseVAE):
    """Deterministic autoencoder with a Gaussian mixture fitted on its codes.

    An encoder maps each row to a code in ``n_components`` dimensions and a
    decoder maps the code back to the distribution p(x|z) chosen by
    ``likelihood``. Both are multilayer perceptrons trained together, with
    Adam, to maximise the reconstruction log-likelihood: there is no noise on
    the code and no KL term. A plain autoencoder cannot generate, since its
    codes fill an irregular region of the latent space; after training, a
    :class:`~sklearn.mixture.GaussianMixture` fitted on the codes of the
    training data becomes the prior p(z), and the model is the generative
    model z ~ mixture, x ~ p(x|decoder(z)).

    ``transform`` gives codes, ``inverse_transform`` decodes them, ``sample``
    decodes codes drawn from the mixture, and ``score`` estimates the
    log-likelihood of that generative model in nats, on the same scale as
    :class:`GaussianVAE`'s, so that
    :class:`~sklearn.model_selection.GridSearchCV` can compare latent sizes,
    numbers of mixture components, or model families.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space (of the codes).

    hidden_layer_sizes : array-like of int, default=(256, 128)
        Widths of the encoder's hidden layers, and in reverse those of the
        decoder unless ``decoder_layer_sizes`` is given. An empty tuple gives a
        linear map.

    decoder_layer_sizes : array-like of int or None, default=None
        Widths of the decoder's hidden layers, from the latent side; None uses
        ``hidden_layer_sizes`` in reverse. An empty tuple gives a linear map.

    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation between hidden layers, as in
        :class:`~sklearn.neural_network.MLPClassifier`.

    likelihood : {'gaussian', 'gaussian_full', 'bernoulli', 'poisson', \
            'categorical', 'lognormal', 'lognormal_full', 'auto'} or list of \
            (str, columns) tuples, default='auto'
        The observation model p(x|z). ``'gaussian'``: the decoder gives the
        mean, and each feature has a learned variance of at least
        ``min_variance``; suits real-valued, standardized data.
        ``'gaussian_full'``: the same with one learned covariance matrix
        across the features, for tables whose features are nearly linear
        functions of each other (it costs n_features**2 per row). ``'bernoulli'``:
        the decoder gives logits; X must lie in [0, 1] (binary data or grey
        levels, such as pixel intensities scaled by
        :class:`~sklearn.preprocessing.MinMaxScaler`). ``'poisson'``: counts
        (non-negative integers); the decoder gives log-rates.
        ``'categorical'``: one categorical variable, as its one-hot columns or
        as one column of integer codes 0 to C-1 (a pandas category column of
        strings is read by its codes); the decoder gives a logit per level.
        ``'lognormal'``: positive values, log X Gaussian with a learned
        variance; ``'lognormal_full'``: with one covariance of log X. A list
        of ``(likelihood, columns)`` pairs gives each group of columns its own
        likelihood, as
        :class:`~sklearn.compose.ColumnTransformer` gives each its transformer:
        columns by index or, for a pandas DataFrame, by name, every column in
        exactly one pair (a categorical pair covers one variable).
        ``'auto'`` reads a DataFrame's dtypes: bool columns are Bernoulli,
        category columns categorical, integer columns without negative values
        Poisson, the others Gaussian; a numpy array is Gaussian throughout.
        Its Gaussian columns share one full covariance (``'gaussian_full'``)
        where they are at most 100 and the rows more than twice as many, and
        are ``'gaussian'`` otherwise. The plan used is ``likelihoods_``; see
        the user guide on mixed tables.

    min_variance : float, default=1e-6
        Floor of each feature's variance under ``likelihood='gaussian'``
        (of each feature's variance given the others under
        ``'gaussian_full'``), so that a constant feature cannot send the
        density to infinity. In the
        units of X squared; under ``'lognormal'``, the floor of the variance of
        log X. Ignored by the other likelihoods.

    missingness : {'ignorable', 'self_masking'}, default='ignorable'
        How missing values (NaN in X) came about. ``'ignorable'``: they are
        missing at random (whether a value is missing may depend on the
        values observed, not on the missing one), and the model trains on
        and scores the observed entries only. ``'self_masking'``: whether a
        value is missing depends on the value itself (large incomes go
        unreported, readings below a detection limit are left out), modelled
        as a logistic function of each feature's own value (the self-masking
        model of not-MIWAE); ``score_samples`` then includes the
        log-probability of which entries are missing. See the user guide's
        page on missing values.

    n_mixture_components : int, default=10
        Number of Gaussians in the mixture fitted on the codes (the
        ``n_components`` of :class:`~sklearn.mixture.GaussianMixture`, renamed
        because ``n_components`` is the latent size here). Every call of
        ``fit`` or ``partial_fit`` needs at least this many training rows, and
        at least 2.

    mixture_covariance_type : {'full', 'tied', 'diag', 'spherical'}, \
            default='full'
        Covariance of each mixture component, as ``covariance_type`` of
        :class:`~sklearn.mixture.GaussianMixture`. Codes are correlated and
        the latent space is small, so ``'full'`` is the default.

    mixture_reg_covar : float, default=1e-6
        Added to the diagonal of each component's covariance, as ``reg_covar``
        of :class:`~sklearn.mixture.GaussianMixture`, in the units of the codes
        squared. Unlike there it must be positive: codes can collapse onto a
        lower-dimensional set, and the prior must keep a density.

    n_importance_samples : int, default=100
        Number of importance samples behind ``score_samples`` (see Notes).
        More give a less noisy estimate that lies closer to log p(x).

    batch_size : int or 'auto', default='auto'
        Rows per optimizer step; ``'auto'`` is 64 rows, more for large data
        (a thousandth of the training rows, at most 512), never more than the
        training rows.

    learning_rate : float, default=1e-3
        Adam's step size.

    max_iter : int, default=200
        Maximum number of epochs (passes over the data) of ``fit``.

    tol : float, default=1e-4
        Improvement, in nats per sample, that counts as progress for stopping.

    early_stopping : bool or 'auto', default='auto'
        Whether to hold out ``validation_fraction`` of the data and stop when
        its reconstruction log-likelihood stops improving, then restore the
        best weights (the untrained model's among them). Otherwise training
        stops when the training loss stops improving. ``'auto'`` holds out data
        whenever at least 5 rows would be held out. The choice made is
        ``early_stopping_``. The mixture is fitted on the codes of the rows
        trained on.
        On fewer than 1,000 rows, fewer than 100 per column, and without
        ``warm_start``, ``'auto'`` then trains that model on, on all rows,
        for half the number of epochs that the held-out rows chose: their
        tenth is data the model would otherwise never see. ``True`` keeps
        the model trained on the other rows.

    validation_fraction : float, default=0.1
        Fraction of the data held out when early stopping is on.

    n_iter_no_change : int or 'auto', default='auto'
        Number of epochs without an improvement of at least ``tol`` after
        which training stops. ``'auto'`` waits 20 epochs, and while no epoch has
        improved on the starting model, at least 200 optimizer steps (on
        small data an epoch is a few steps).

    warm_start : bool, default=False
        Whether ``fit`` continues training the previous networks. The mixture
        is fitted afresh either way.

    device : str, default='auto'
        Where torch computes: ``'auto'`` (CUDA, then MPS, else the CPU),
        ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or ``'mps'``.

    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the validation split, the mixture and
        the draws of ``score_samples``. The mixture gets an int drawn from it
        (``mixture_.random_state``). An int gives the same fitted model, bit
        for bit, on the same CPU.

    verbose : int, default=0
        Whether to report each epoch (epoch k of ``max_iter``, training loss,
        validation score with ``early_stopping``, seconds) as an INFO record
        of the logger ``"skvae"``, printed on stdout where logging is not
        configured. 0 reports nothing. Progress bars come from
        ``set_callbacks`` (scikit-learn 1.9 and later).

    Attributes
    ----------
    mixture_ : sklearn.mixture.GaussianMixture
        The prior p(z): the mixture fitted on the codes of the training rows
        of the last ``fit`` or ``partial_fit``. Its parameters are also held,
        in float32, by ``module_.latent``, which ``score_samples`` and
        ``sample`` use.

    module_ : torch.nn.Module
        The trained model; ``module_.encoder`` and ``module_.decoder`` are the
        networks, ``module_.likelihood`` holds the learned variances.

    device_ : torch.device
        The device the model lives on (``device`` resolved).

    likelihoods_ : list of (str, list of int)
        The likelihood of each group of columns, by column index:
        ``likelihood`` resolved at fit (``'auto'`` read, column names looked
        up). One pair covering every column for a single likelihood.

    n_iter_ : int
        Number of epochs trained, over all calls.

    n_steps_ : int
        Number of optimizer steps taken, over all calls.

    loss_curve_ : list of float
        Training loss (negative reconstruction log-likelihood, nats per sample)
        after each epoch.

    reconstruction_curve_ : list of float
        The reconstruction part of the training loss after each epoch: the
        log-likelihood of the rows under the decoder, in nats per sample,
        averaged over the epoch's batches.

    kl_curve_ : list of float
        The KL part of the training loss after each epoch, before any weight,
        in nats per sample, averaged over the epoch's batches; 0 where the
        objective has no KL term.

    validation_scores_ : list of float or None
        With ``early_stopping``, the reconstruction log-likelihood of the
        validation rows (nats per sample) after each epoch of the last
        ``fit``; otherwise None.

    best_validation_score_ : float or None
        The best of ``validation_scores_``, whose weights were kept (or,
        where ``early_stopping='auto'`` went on training on all rows, whose
        epoch count set how long).

    early_stopping_ : bool
        Whether the last ``fit`` held out rows to stop on (``early_stopping``
        resolved).

    component_activity_ : ndarray of shape (n_components,)
        Activity of each latent component (Burda et al., 2016): the variance
        over the training rows of its posterior mean. A component is used
        when its activity exceeds 0.01.

    n_active_components_ : int
        Number of latent components whose activity exceeds 0.01: fewer than
        ``n_components`` means some are unused (posterior collapse).

    kl_per_component_ : ndarray of shape (n_components,) or None
        KL term of each latent component averaged over the training rows, in
        nats; None where the objective has no KL term.

    n_threads_ : int
        CPU threads the last fit trained with: one, or all it may use if they
        measured faster (see the user guide's performance page).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``. Defined only when X has feature
        names that are all strings.

    See Also
    --------
    GaussianVAE : Variational autoencoder with a Gaussian latent space.
    BernoulliVAE : Variational autoencoder with binary latent codes.
    sklearn.mixture.GaussianMixture : The prior fitted on the codes.

    Notes
    -----
    ``score_samples`` estimates log p(x) = log E_{z ~ mixture} p(x|decoder(z))
    by importance sampling, in nats per row summed over features, as
    :class:`GaussianVAE`'s importance-weighted bound is, so the two are
    comparable on the same data. Of the K = ``n_importance_samples`` draws,
    three quarters come from a Laplace approximation of the posterior
    p(z|x): a Gaussian N(m, P^-1). Its precision P is the Gauss-Newton
    curvature of -log p(x|decoder(z)) at the encoder's code c plus each
    mixture component's precision weighted by its responsibility for c; its
    centre m is reached from c by two steps m += P^-1 grad log p(x, m), each
    kept only if it raises p(x, m) (the code maximises the reconstruction
    alone and ignores the prior). The other quarter come from the mixture's
    components, in proportion to their weights: they reach the modes that
    p(z|x) has under other components when the likelihood is weak, and
    bound the weights. Each draw z_k is weighted against the average psi of
    all K proposals (deterministic multiple importance sampling), and the
    estimate is log (1/K) sum_k p(x|z_k) p(z_k) / psi(z_k). The average
    inside the log is an unbiased estimate of p(x), so the estimate
    converges to log p(x) as K grows and lies below it on average. With
    K = 1 (or K < 4) every draw comes from the Laplace approximation, which
    is exact for a linear decoder, Gaussian likelihood and one mixture
    component. A row's draws are a function of its values and of a seed
    fixed at fit time, so its score does not depend on the other rows.

    ``sample`` returns an ndarray of generated rows, as the other skvae
    estimators do; the mixture components the codes were drawn from are not
    returned. To have them, draw the codes yourself and decode them:
    ``Z, labels = model.mixture_.sample(n)`` then
    ``model.inverse_transform(Z)``.

    ``partial_fit`` trains one epoch on its chunk, then fits the mixture
    afresh on the codes of that chunk. The codes of earlier chunks came from
    an encoder that has moved since, so a mixture that kept them would
    describe codes the model no longer produces; like the stochastic
    gradient steps themselves, this asks for chunks that represent the data
    (shuffled rows, not sorted by class). A mixture over the whole stream
    comes from a last ``partial_fit`` call on a representative chunk.

    Training runs in float32. ``transform``, ``inverse_transform`` and
    ``score_samples`` compute in the dtype of their input.

    References
    ----------
    Ghosh, P., Sajjadi, M. S. M., Vergari, A., Black, M. and Schölkopf, B.
    (2020). From Variational to Deterministic Autoencoders. ICLR.

    Burda, Y., Grosse, R. and Salakhutdinov, R. (2016). Importance Weighted
    Autoencoders. ICLR.

    Wu, Y., Burda, Y., Salakhutdinov, R. and Grosse, R. (2017). On the
    Quantitative Analysis of Decoder-Based Generative Models. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import AutoencoderGMM
    >>> X, _ = load_digits(return_X_y=True)
    >>> model = AutoencoderGMM(n_components=4, hidden_layer_sizes=(32,),
    ...                        likelihood="bernoulli", n_mixture_components=5,
    ...                        max_iter=5, random_state=0).fit(X / 16)
    >>> model.transform(X[:3] / 16).shape
    (3, 4)
    >>> model.mixture_.means_.shape
    (5, 4)
    >>> model.sample(2).shape
    (2, 64)
    """

    _latent_family = "deterministic"

    _parameter_constraints: dict = {
        **BaseVAE._parameter_constraints,
        "n_mixture_components": [IntInterval(1, None, closed="left")],
        "mixture_covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        # The prior is held in float32 by the module.
        "mixture_reg_covar": [Interval(Real, 1e-30, 1e30, closed="both")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(256, 128),
        decoder_layer_sizes=None,
        activation="relu",
        likelihood="auto",
        min_variance=1e-6,
        missingness="ignorable",
        n_mixture_components=10,
        mixture_covariance_type="full",
        mixture_reg_covar=1e-6,
        n_importance_samples=100,
        batch_size="auto",
        learning_rate=1e-3,
        max_iter=200,
        tol=1e-4,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change="auto",
        warm_start=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            n_components,
            hidden_layer_sizes=hidden_layer_sizes,
            decoder_layer_sizes=decoder_layer_sizes,
            activation=activation,
            likelihood=likelihood,
            min_variance=min_variance,
            n_importance_samples=n_importance_samples,
            batch_size=batch_size,
            learning_rate=learning_rate,
            max_iter=max_iter,
            tol=tol,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            device=device,
            random_state=random_state,
            verbose=verbose,
            missingness=missingness,
        )
        self.n_mixture_components = n_mixture_components
        self.mixture_covariance_type = mixture_covariance_type
        self.mixture_reg_covar = mixture_reg_covar

    def _check_training_rows(self, n_train, n_samples):
        n_required = max(2, self.n_mixture_components)
        if n_train >= n_required:
            return
        held_out = ""
        if n_train < n_samples:
            held_out = (
                f" (early_stopping=True holds out {n_samples - n_train} of the "
                f"{n_samples} rows as validation_fraction="
                f"{self.validation_fraction}; the mixture is fitted on the "
                "rest)"
            )
        raise ValueError(
            f"{type(self).__name__} fits a Gaussian mixture on the codes of "
            f"its training rows: with n_mixture_components="
            f"{self.n_mixture_components} it needs at least {n_required} "
            f"rows, got n_samples={n_train}{held_out}. Pass more rows or lower "
            "n_mixture_components."
        )

    # Streamed data: the mixture is fitted on the codes of as many evenly spaced
    # training rows as an eighth of the memory budget holds.
    _streamed_rows_kept = sys.maxsize

    def _after_training(self, X):
        codes = self._encode_rows(X)
        if not np.isfinite(codes).all():
            # GaussianMixture's own message would then blame reg_covar.
            raise ValueError(
                "Training diverged: the codes of the training rows are not "
                "finite. Scale the features (for example with StandardScaler) "
                "or lower learning_rate."
            )
        mixture = GaussianMixture(
            n_components=self.n_mixture_components,
            covariance_type=self.mixture_covariance_type,
            reg_covar=self.mixture_reg_covar,
            random_state=int(self._random_state.randint(_MAX_SEED)),
        )
        # EM on codes is many tiny matrix operations, started by k-means on
        # OpenMP threads. Right after training, torch's OpenMP threads still
        # spin and multithreaded BLAS waits on them: on 2 cores, 10 components
        # on 200 codes took 3 s, 0.09 s with one BLAS thread; so one thread of
        # each.
        try:
            with threadpool_limits(limits=1):
                mixture.fit(codes.astype(np.float64, copy=False))
            self.module_.latent.set_prior(
                *map(
                    torch.from_numpy,
                    (mixture.weights_, mixture.means_, _full_covariances(mixture)),
                )
            )
        except (ValueError, torch.linalg.LinAlgError) as error:
            raise ValueError(
                "Fitting the Gaussian mixture on the codes of the training rows "
                f"failed: a component's covariance is singular ({error}). "
                f"Increase mixture_reg_covar (now {self.mixture_reg_covar}), "
                f"lower n_mixture_components (now {self.n_mixture_components}) "
                "or use a simpler mixture_covariance_type."
            ) from error
        self.mixture_ = mixture

    def partial_fit(self, X, y=None):
        """Train for one epoch over X, then refit the mixture on X's codes.

        Use it to train on data that arrives in chunks; early stopping does not
        apply. The mixture describes the codes of the last chunk, so chunks
        should represent the data (see Notes).

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask array} of shape (n_samples, n_features)
            One chunk of training data, of at least ``n_mixture_components``
            rows, streamed as in :meth:`fit` if it exceeds the memory budget
            (the mixture then describes the codes of evenly spaced rows).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return super().partial_fit(X, y)

    def score_samples(self, X):
        """Importance-sampled estimate of each row's log-likelihood, in nats.

        The log-likelihood of the generative model z ~ ``mixture_``,
        x ~ p(x|decoder(z)), estimated with ``n_importance_samples`` draws
        from a Laplace approximation of p(z|x) found from the row's code and
        from the mixture (see Notes). A row's draws depend on its values and
        on a seed fixed at fit time, not on the other rows.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask array} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        log_likelihood : ndarray or Dask array of shape (n_samples,)
            Per-row log-likelihood estimates, in the dtype of X; a Dask
            array, computed block by block, for a Dask array X.
        """
        return super().score_samples(X)


def _full_covariances(mixture):
    """The mixture's covariances as full matrices, whatever its covariance type."""
    n_mixture_components, n_components = mixture.means_.shape
    covariances = mixture.covariances_
    if mixture.covariance_type == "tied":
        return np.repeat(covariances[None], n_mixture_components, axis=0)
    if mixture.covariance_type == "diag":
        return covariances[:, :, None] * np.eye(n_components)
    if mixture.covariance_type == "spherical":
        return covariances[:, None, None] * np.eye(n_components)
    return covariances
