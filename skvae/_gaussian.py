"""GaussianVAE: a variational autoencoder with a Gaussian latent space."""

import torch

from ._base import _MAX_SEED, BaseBetaVAE, _spaced_rows
from ._budget import fitting
from ._core.missing import observed_entries
from ._core.training import evaluate
from ._mixture import AUTO_PRIOR_COMPONENTS, candidate_sizes, select_mixture
from ._sklearn_compat import IntInterval, StrOptions


class GaussianVAE(BaseBetaVAE):
    """Variational autoencoder with a Gaussian latent space.

    The model draws a code z from N(0, I) in ``n_components`` dimensions and
    decodes it into the distribution p(x|z) chosen by ``likelihood``. An
    encoder learns the approximate posterior q(z|x) = N(z_mean, diag(exp(z_logvar))).
    Both are multilayer perceptrons trained together by maximising the evidence
    lower bound (ELBO) with Adam, using the reparameterization trick and the
    KL divergence in closed form.

    Use it as you would :class:`~sklearn.decomposition.PCA`: ``transform``
    gives codes (features), ``inverse_transform`` decodes them, ``sample``
    generates new rows and ``score`` is a log-likelihood, so that
    :class:`~sklearn.model_selection.GridSearchCV` can choose the latent size.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space.

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

    n_prior_components : int or 'auto', default='auto'
        Number of Gaussians in the prior p(z), a mixture learned with the
        networks. It starts as a mixture fitted on the codes of the started
        model; ``'auto'`` chooses the number of its components there, by
        BIC, from 1 to 32 (at most one per 10 training rows). 1 gives the
        standard normal prior N(0, I) of the classic VAE, with the KL term
        in closed form. A mixture lets the codes of separate clusters, or
        of a thin curved manifold, stay apart (see the user guide).

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

    beta : float, default=1.0
        Weight of the KL term, as in the beta-VAE. 1 trains the ELBO; larger
        values favour a more regular latent space over reconstruction.

    kl_warmup_steps : int, default=0
        Number of optimizer steps over which the KL weight grows linearly from
        0 to ``beta``, which helps against unused latent dimensions (posterior
        collapse). ``fit`` caps the warm-up at half of the steps it trains, so
        that the model it returns is trained at ``beta``; ``partial_fit``
        counts the steps over all its calls. Early stopping does not count
        epochs inside the warm-up.

    n_importance_samples : int, default=100
        Number of draws behind ``score_samples``: 1 gives the ELBO, more give
        the importance-weighted bound, which is tighter, with half of the
        draws from q(z|x) and half from a Laplace approximation of p(z|x)
        where the likelihood is log-concave in the decoder's output.

    n_importance_samples_fit : int, default=1
        Number of draws from q(z|x) per row in the bound that training
        maximizes: 1 trains the ELBO; more train the importance-weighted
        bound (IWAE; MIWAE on data with missing values), whose decoder
        explains the data better, at about that many times the decoder's
        cost per step. Early stopping then watches that bound. It needs
        ``beta=1`` and ``kl_warmup_steps=0``: the bound has no KL term to
        weigh.

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
        its objective stops improving, then restore the best weights (the
        untrained model's among them). Otherwise training stops when the
        training loss stops improving. ``'auto'`` holds out data whenever at
        least 5 rows would be held out, since on small data a model that
        trains until its training loss stops improving overfits. The choice
        made is ``early_stopping_``.
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
        Whether ``fit`` continues from the previous solution.

    device : str, default='auto'
        Where torch computes: ``'auto'`` (CUDA, then MPS, else the CPU),
        ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or ``'mps'``.

    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the training noise, the validation
        split and the draws of ``score_samples``. An int gives the same fitted
        model, bit for bit, on the same CPU.

    verbose : int, default=0
        Whether to report each epoch (epoch k of ``max_iter``, training loss,
        validation score with ``early_stopping``, seconds) as an INFO record
        of the logger ``"skvae"``, printed on stdout where logging is not
        configured. 0 reports nothing. Progress bars come from
        ``set_callbacks`` (scikit-learn 1.9 and later).

    Attributes
    ----------
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
        Training loss (negative beta-ELBO, or negative importance-weighted
        bound with ``n_importance_samples_fit`` above 1, nats per sample)
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
        With ``early_stopping``, the validation objective after each epoch of
        the last ``fit``, nats per sample: with ``beta=1`` an
        importance-weighted bound, the estimate of log p(x) that ``score``
        makes (10 draws per row, or ``n_importance_samples_fit`` where that
        is above 1), though training maximizes the ELBO; else the beta-ELBO.
        Otherwise None.

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

    n_prior_components_ : int
        Number of Gaussians in the prior (``n_prior_components`` resolved):
        1 is the standard normal.

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
    BernoulliVAE : Variational autoencoder with binary latent codes.
    AutoencoderGMM : Deterministic autoencoder with a Gaussian mixture on its codes.
    sklearn.decomposition.PCA : The linear model this generalizes.
    sklearn.decomposition.FactorAnalysis : Linear-Gaussian latent model.

    Notes
    -----
    With ``hidden_layer_sizes=()`` the encoder and the decoder are linear maps:
    with ``likelihood='gaussian'``, a model like probabilistic PCA.

    Training runs in float32. ``transform``, ``inverse_transform`` and
    ``score_samples`` compute in the dtype of their input: float64 input is
    computed with float64 copies of the weights (made once, kept until the
    weights change). A row's draws depend on its values alone; the other rows
    in the call change its result only through the rounding of matrix
    products, which BLAS orders differently for different numbers of rows: by
    about 1e-12 relative in float64, 1e-6 in float32.

    ``score_samples`` is a lower bound on log p(x) whose gap shrinks as
    ``n_importance_samples`` grows (Burda et al., 2016).

    Under a mixture prior the KL term has no closed form: training estimates
    it at each draw of z, and ``kl_per_component_`` is the divergence of each
    component's posterior from the prior's marginal in that component.

    References
    ----------
    Kingma, D. P. and Welling, M. (2014). Auto-Encoding Variational Bayes. ICLR.

    Burda, Y., Grosse, R. and Salakhutdinov, R. (2016). Importance Weighted
    Autoencoders. ICLR.

    Jiang, Z. et al. (2017). Variational Deep Embedding: An Unsupervised and
    Generative Approach to Clustering. IJCAI.

    Higgins, I. et al. (2017). beta-VAE: Learning Basic Visual Concepts with a
    Constrained Variational Framework. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> from skvae import GaussianVAE
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = GaussianVAE(n_components=4, hidden_layer_sizes=(32,),
    ...                   likelihood="bernoulli", max_iter=5,
    ...                   random_state=0)
    >>> model = make_pipeline(MinMaxScaler(), vae).fit(X)
    >>> model.transform(X[:3]).shape
    (3, 4)
    """

    _latent_family = "gaussian"

    _parameter_constraints: dict = {
        **BaseBetaVAE._parameter_constraints,
        "n_importance_samples_fit": [IntInterval(1, None, closed="left")],
        "n_prior_components": [
            StrOptions({"auto"}),
            IntInterval(1, None, closed="left"),
        ],
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
        n_prior_components="auto",
        missingness="ignorable",
        beta=1.0,
        kl_warmup_steps=0,
        n_importance_samples=100,
        n_importance_samples_fit=1,
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
        self.n_prior_components = n_prior_components
        self.beta = beta
        self.kl_warmup_steps = kl_warmup_steps
        self.n_importance_samples_fit = n_importance_samples_fit

    def _training_draws(self):
        if self.n_importance_samples_fit > 1 and (
            self.beta != 1 or self.kl_warmup_steps
        ):
            raise ValueError(
                f"n_importance_samples_fit={self.n_importance_samples_fit} "
                "trains the importance-weighted bound, which has no KL term to "
                f"weigh, but beta={self.beta} and kl_warmup_steps="
                f"{self.kl_warmup_steps}. Set beta=1 and kl_warmup_steps=0, or "
                "n_importance_samples_fit=1 to train the beta-ELBO."
            )
        return self.n_importance_samples_fit

    def _validation_draws(self, settings):
        # Early stopping watches what score reports, an importance-weighted
        # bound, where the KL weight is 1: the ELBO's best epoch is not the
        # bound's. Trained on the ELBO as before, but stopped and kept on a
        # 10-draw bound of the held-out rows, the density panel's grid-searched
        # scores rose on 8 of 11 sets (auto-mpg -5.27 -> -4.81, breast cancer
        # -5.59 -> -5.22, digits -57.63 -> -57.25, diabetes -8.34 -> -8.18
        # nats per row; the swiss roll -0.01, circles the same), for 0.8 to
        # 1.5 times the grid time (digits 76 -> 82 s, moons 42 -> 52 s).
        if settings.beta != 1 or settings.n_draws > 1:
            return settings.n_draws
        return _VALIDATION_DRAWS

    def _check_training_rows(self, n_train, n_samples):
        if self.n_prior_components == "auto" or n_train >= self.n_prior_components:
            return
        raise ValueError(
            f"{type(self).__name__} starts its mixture prior from the codes of "
            f"its training rows: n_prior_components={self.n_prior_components} "
            f"needs at least as many rows, got {n_train} to train on. Pass more "
            "rows, lower n_prior_components, or set it to 'auto'."
        )

    def _initialize_prior(self, module, X, batch_size):
        """The mixture prior, started at a mixture fitted on the codes of the
        started model, as in VaDE (Jiang et al., 2017): each component's
        variance is the codes' plus the posterior's, so that the prior starts
        near the codes' aggregate posterior. With one component the prior is
        the standard normal."""
        # EM holds about ten float64 values per row, code dimension and
        # mixture component at once: the budget bounds the rows it sees.
        max_rows = fitting(
            80 * (self.n_components + max(AUTO_PRIOR_COMPONENTS)),
            at_most=_MAX_PRIOR_ROWS,
        )
        sizes = candidate_sizes(self.n_prior_components, min(X.shape[0], max_rows))
        if sizes == [1]:
            self.n_prior_components_ = 1
            return
        device = next(module.parameters()).device
        rows = _spaced_rows(X, max_rows, batch_size, device)
        module.eval()
        posteriors = evaluate(
            lambda x: torch.cat(module.encode(x, observed_entries(x)), dim=-1),
            rows,
            batch_size,
        ).double()
        means, logvars = posteriors.chunk(2, dim=-1)
        mixture = select_mixture(
            means.numpy(),
            sizes,
            _PRIOR_REG_COVAR,
            int(self._random_state.randint(_MAX_SEED)),
        )
        self.n_prior_components_ = mixture.n_components
        if mixture.n_components == 1:
            return
        variances = mixture.covariances_ + logvars.exp().mean(0).numpy()
        module.latent.set_prior(
            *(
                torch.as_tensor(a, dtype=torch.float32, device=device)
                for a in (mixture.weights_, mixture.means_, variances)
            )
        )


# Codes that the mixture prior is started from, at most (evenly spaced rows),
# and the variance added to its components' (the codes are about unit scale).
_MAX_PRIOR_ROWS = 5000
# Draws per held-out row of the bound early stopping watches (beta=1).
_VALIDATION_DRAWS = 10
_PRIOR_REG_COVAR = 1e-3
