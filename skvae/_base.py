"""The estimator that every skvae model shares.

A concrete estimator supplies its latent family (``_make_latent``) and its
docstring; everything a scikit-learn user touches lives here: parameters,
validation, ``fit`` / ``partial_fit``, ``transform``, ``inverse_transform``,
``sample``, ``score``, tags and pickling. The torch work is delegated to
``skvae._core``.
"""

import copy
import warnings
from abc import abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._core.likelihoods import make_likelihood
from ._core.networks import ACTIVATIONS, VAE, Decoder, Encoder
from ._core.noise import row_uniforms
from ._core.objectives import log_likelihood
from ._core.state import build_module, module_arrays, module_config, to_numpy, to_torch
from ._core.training import evaluate, train
from ._data import Rows, training_rows
from ._device import available_device, resolve_device
from ._progress import epoch_reporter
from ._sklearn_compat import (
    CallbackSupportMixin,
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)

FLOAT_DTYPES = (np.float64, np.float32)
_MAX_SEED = np.iinfo(np.int32).max
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
# Rows x importance samples evaluated at once by score_samples.
_SCORE_CHUNK = 2**16


class BaseVAE(
    CallbackSupportMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Shared machinery of the skvae estimators; not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "likelihood": [StrOptions({"gaussian", "bernoulli"})],
        "min_variance": [Interval(Real, 0, None, closed="neither")],
        "n_importance_samples": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    @abstractmethod
    def __init__(
        self,
        n_components,
        *,
        hidden_layer_sizes,
        activation,
        likelihood,
        min_variance,
        n_importance_samples,
        batch_size,
        learning_rate,
        max_iter,
        tol,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
        warm_start,
        device,
        random_state,
        verbose,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.min_variance = min_variance
        self.n_importance_samples = n_importance_samples
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # --- What a concrete estimator provides ------------------------------------

    @abstractmethod
    def _make_latent(self):
        """The latent family (a module of ``skvae._core.latents``)."""

    def _kl_schedule(self):
        """``(beta, kl_warmup_steps)``: the KL weight and its warm-up."""
        return self.beta, self.kl_warmup_steps

    def _configure_latent(self, latent):
        """Give the latent family the parameters that may change between fits.

        Called before each training run, new or continued, so that
        ``warm_start`` and ``partial_fit`` train with the current parameters.
        """

    def _after_training(self, X):
        """Called with the training data once the networks are trained."""

    def _log_likelihood(self, module, x, noise):
        """Per-row log-likelihood estimate that ``score_samples`` reports."""
        return log_likelihood(module, x, noise)

    # --- Fitting ------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the model on X for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._start_callbacks(max_epochs=self.max_iter)
        with _restore_on_error(self):
            self._fit(X, incremental=False)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one epoch over X, continuing from the current state.

        Use it to train on data that arrives in chunks. Early stopping does not
        apply, and the KL warm-up runs for ``kl_warmup_steps`` optimizer steps
        counted over all calls.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One chunk of training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The updated estimator.
        """
        self._start_callbacks(max_epochs=1)
        with _restore_on_error(self):
            self._fit(X, incremental=True)
        return self

    def _start_callbacks(self, max_epochs):
        # Before _restore_on_error, so that a failed fit keeps the context and
        # scikit-learn's teardown of the callbacks still runs.
        if hasattr(self, "_init_callback_context"):
            self._init_callback_context(max_subtasks=max_epochs)

    def _fit(self, X, incremental):
        first_call = not ((incremental or self.warm_start) and hasattr(self, "module_"))
        X = validate_data(
            self, X, accept_sparse="csr", dtype=FLOAT_DTYPES, reset=first_call
        )
        self._check_domain(X)
        hidden_layer_sizes = self._checked_hidden_layer_sizes()
        device = resolve_device(self.device)
        architecture = (self.n_components, hidden_layer_sizes, self.activation,
                        self.likelihood)  # fmt: skip
        if first_call:
            self._random_state = check_random_state(self.random_state)
            self._eval_seed = int(self._random_state.randint(_MAX_SEED))
            module = self._build_module(hidden_layer_sizes)
            optimizer_state = None
            self.n_iter_ = 0
            self.n_steps_ = 0
            self.loss_curve_ = []
        else:
            if architecture != self._architecture:
                raise ValueError(
                    "warm_start and partial_fit continue training the fitted "
                    f"networks, built with {self._architecture_text()}; the "
                    "parameters now ask for a different architecture. Set them "
                    "back, or set warm_start=False to train a new model."
                )
            # Train copies, so that a failure leaves the fitted model untouched
            # (Adam's load_state_dict keeps the tensors it is given).
            module = copy.deepcopy(self.module_)
            optimizer_state = copy.deepcopy(self._optimizer_state)
        module.to(device)
        self._configure_latent(module.latent)

        X_train, X_val = self._split(X, incremental)
        if first_call:
            module.initialize(*(torch.as_tensor(s, dtype=torch.float32, device=device)
                                for s in _mean_variance(X_train)))  # fmt: skip
        optimizer = torch.optim.Adam(module.parameters(), lr=self.learning_rate)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)

        n_train = X_train.shape[0]
        batch_size = min(200, n_train) if self.batch_size == "auto" else self.batch_size
        max_epochs = 1 if incremental else self.max_iter
        beta, warmup_steps = self._kl_schedule()
        if not incremental:
            # The warm-up never takes more than half of what this fit trains, so
            # that the model returned is trained at the KL weight asked for.
            steps = max_epochs * -(-n_train // batch_size)
            warmup_steps = min(warmup_steps, self.n_steps_ + steps // 2)
        permutation_seed, noise_seed = self._random_state.randint(_MAX_SEED, size=2)
        validation = X_val is not None
        reporter = epoch_reporter(self, X_train, max_epochs, module, device)
        history = train(
            module,
            optimizer,
            training_rows(X_train, device),
            batch_size=batch_size,
            max_epochs=max_epochs,
            beta=beta,
            warmup_steps=warmup_steps,
            start_step=self.n_steps_,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            permutation_generator=torch.Generator().manual_seed(int(permutation_seed)),
            noise_generator=torch.Generator(device=device).manual_seed(int(noise_seed)),
            validation_data=training_rows(X_val, device) if validation else None,
            validation_noise=lambda x: self._score_noise(module, x, 1),
            on_epoch_end=reporter,
        )

        self.module_ = module
        self.device_ = device
        self._architecture = architecture
        self._optimizer_state = _map_tensors(optimizer.state_dict(), _to_cpu)
        self.n_iter_ += history.n_epochs
        self.n_steps_ = history.n_steps
        self.loss_curve_ = self.loss_curve_ + history.loss_curve
        self.validation_scores_ = history.validation_scores if validation else None
        self.best_validation_score_ = (
            max(history.validation_scores) if validation else None
        )
        self._after_training(X_train)
        if reporter is not None:
            reporter.finish()
        if not incremental and not history.stopped_early:
            warnings.warn(
                f"Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet. Increase max_iter, or loosen tol.",
                ConvergenceWarning,
                stacklevel=2,
            )

    def _checked_hidden_layer_sizes(self):
        sizes = np.ravel(self.hidden_layer_sizes)
        if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _build_module(self, hidden_layer_sizes):
        # Seed torch's global generator only inside this block, so that the
        # weights depend on random_state alone and the caller's RNG is untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self._random_state.randint(_MAX_SEED)))
            return VAE(
                self.n_features_in_,
                hidden_layer_sizes,
                self.activation,
                self._make_latent(),
                make_likelihood(
                    self.likelihood, self.n_features_in_, self.min_variance
                ),
            )

    def _split(self, X, incremental):
        if incremental or not self.early_stopping:
            return X, None
        n_samples = X.shape[0]
        n_val = int(np.ceil(self.validation_fraction * n_samples))
        if n_samples - n_val < 1:
            raise ValueError(
                f"early_stopping=True holds out validation_fraction="
                f"{self.validation_fraction} of the {n_samples} samples, which "
                "leaves none to train on. Pass more samples, lower "
                "validation_fraction, or set early_stopping=False."
            )
        order = self._random_state.permutation(n_samples)
        return X[np.sort(order[n_val:])], X[np.sort(order[:n_val])]

    def _architecture_text(self):
        n_components, hidden, activation, likelihood = self._architecture
        return (
            f"n_components={n_components}, hidden_layer_sizes={hidden}, "
            f"activation={activation!r}, likelihood={likelihood!r}"
        )

    def _check_domain(self, X):
        """The Bernoulli likelihood is defined for X in [0, 1] only."""
        if self.likelihood != "bernoulli":
            return
        values = X.data if sp.issparse(X) else X
        if not values.size:
            return
        low, high = values.min(), values.max()
        if low < 0 or high > 1:
            problem = "Negative values" if low < 0 else "Values greater than 1"
            raise ValueError(
                f"{problem} in data passed to {type(self).__name__}: "
                "likelihood='bernoulli' needs every value of X in [0, 1], but X "
                f"has values in [{low:g}, {high:g}]. Scale X into [0, 1] (for "
                "example with sklearn.preprocessing.MinMaxScaler), or use "
                "likelihood='gaussian'."
            )

    # --- Using a fitted model ----------------------------------------------------

    def transform(self, X):
        """Encode X: the mean of the posterior q(z|x) for each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Latent codes, in the dtype of X (float32 or float64).
        """
        X = self._validate_fitted(X)
        return self._map_rows(X, lambda module, x: module.latent.mean(module.encode(x)))

    def inverse_transform(self, Z):
        """Decode latent codes into the input space: the mean of p(x|z).

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)
            Latent codes, such as those ``transform`` returns.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The decoder's mean for each code, in the dtype of Z.
        """
        check_is_fitted(self)
        Z = check_array(Z, dtype=FLOAT_DTYPES, input_name="Z")
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"Z has {Z.shape[1]} columns, but this {type(self).__name__} has "
                f"{self._n_features_out} latent components: inverse_transform "
                "takes codes such as those transform returns."
            )
        return self._map_rows(
            Z, lambda module, z: module.likelihood.mean(module.decode(z))
        )

    def score_samples(self, X):
        """Log-likelihood estimate of each row under the model, in nats.

        With ``n_importance_samples=1`` it is the evidence lower bound (ELBO);
        with more, the importance-weighted bound, which is tighter and
        approaches log p(x) as the number grows. A row's random draws are a
        function of its values and of a seed fixed at fit time, so its score
        does not depend on the other rows in the call, and the draws of
        different rows are independent, so the error of ``score`` averages out
        over rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Per-row log-likelihood estimates, in the dtype of X.
        """
        X = self._validate_fitted(X)
        self._check_domain(X)
        n_draws = self.n_importance_samples
        return self._map_rows(
            X,
            lambda module, x: self._log_likelihood(
                module, x, self._score_noise(module, x, n_draws)
            ),
            batch_size=max(1, _SCORE_CHUNK // n_draws),
        )

    def score(self, X, y=None):
        """Mean log-likelihood estimate of the rows of X, in nats.

        Higher is better, so ``GridSearchCV`` without a scorer picks the model
        that explains held-out data best.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Mean of :meth:`score_samples` over the rows of X.
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1, random_state=None, *, noise=True):
        """Generate new rows from the model.

        Latent codes are drawn from the prior and decoded; with ``noise=True``
        each row is then drawn from p(x|z), otherwise the decoder's mean is
        returned (smoother pictures, not draws from the model).

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws; None uses the estimator's ``random_state``.
        noise : bool, default=True
            Whether to add the observation noise of p(x|z).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Generated rows, float64.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"n_samples must be a positive integer, got {n_samples!r}."
            )
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        module = self._inference_module(self._compute_dtype(np.float64))
        generator = torch.Generator(device=self.device_)
        generator.manual_seed(int(rng.randint(_MAX_SEED)))
        dtype = next(module.parameters()).dtype
        with torch.no_grad():
            z = module.latent.prior_sample(n_samples, generator, dtype)
            out = module.decode(z)
            X = module.likelihood.sample(out, generator) if noise else (
                module.likelihood.mean(out))  # fmt: skip
        return X.cpu().numpy().astype(np.float64)

    def encoder_module(self):
        """The encoder as a torch module whose ``forward`` is ``transform``.

        ``encoder_module()(x)`` gives, for a float32 tensor ``x`` of shape
        (n_samples, n_features), what ``transform`` gives for the same rows in
        float32: the posterior mean (:class:`GaussianVAE`), the probability of
        each bit (:class:`BernoulliVAE`) or the code (:class:`AutoencoderGMM`).
        Use it to serve the model without skvae or scikit-learn, or to export
        it with ``torch.onnx.export`` or ``torch.export.export``.

        Returns
        -------
        encoder : torch.nn.Module
            A copy on the CPU, in evaluation mode: changing it does not change
            the estimator.

        See Also
        --------
        decoder_module : The decoder, whose ``forward`` is ``inverse_transform``.
        """
        check_is_fitted(self)
        return Encoder(self.module_).cpu().eval()

    def decoder_module(self):
        """The decoder as a torch module whose ``forward`` is ``inverse_transform``.

        ``decoder_module()(z)`` gives, for a float32 tensor ``z`` of shape
        (n_samples, n_components), the mean of p(x|z): the decoder's output
        under ``likelihood='gaussian'``, its sigmoid under
        ``likelihood='bernoulli'``.

        Returns
        -------
        decoder : torch.nn.Module
            A copy on the CPU, in evaluation mode: changing it does not change
            the estimator.

        See Also
        --------
        encoder_module : The encoder, whose ``forward`` is ``transform``.
        """
        check_is_fitted(self)
        return Decoder(self.module_).cpu().eval()

    @property
    def _n_features_out(self):
        return self.module_.latent.n_components

    def _validate_fitted(self, X):
        check_is_fitted(self)
        return validate_data(
            self, X, accept_sparse="csr", dtype=FLOAT_DTYPES, reset=False
        )

    def _compute_dtype(self, dtype):
        # float64 input is computed in float64 with a copy of the float32
        # weights, so a row's result does not depend on the batch it is in
        # (float32 matrix products do, in the last bits). MPS has no float64.
        if dtype == np.float64 and self.device_.type != "mps":
            return torch.float64
        return torch.float32

    def _inference_module(self, dtype):
        module = self.module_
        if dtype != torch.float32:
            module = copy.deepcopy(module).to(dtype)
        return module.eval()

    def _map_rows(self, X, function, batch_size=1024):
        """``function(module, batch)`` over the rows of X; numpy out in X's dtype."""
        dtype = self._compute_dtype(X.dtype)
        module = self._inference_module(dtype)
        rows = Rows(X, self.device_, _NUMPY_DTYPES[dtype])
        out = evaluate(lambda x: function(module, x), rows, batch_size)
        return out.numpy().astype(X.dtype, copy=False)

    def _score_noise(self, module, x, n_draws):
        """Draws for scoring the rows ``x``: a function of each row and of the
        seed fixed at fit time, so a row's score ignores the other rows."""
        u = row_uniforms(x, self._eval_seed, n_draws, module.latent.n_components)
        noise = module.latent.noise_from_uniform(u)
        return noise.to(device=x.device, dtype=x.dtype)

    # --- scikit-learn plumbing -----------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = self.likelihood == "bernoulli"
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def __getstate__(self):
        # Plain data only (numpy arrays, Python values): skops can store it, and
        # a pickle written on a GPU machine loads on a CPU-only one.
        state = super().__getstate__()
        if "module_" in state:
            state = {
                **state,
                "module_": {
                    "config": module_config(self.module_),
                    "arrays": module_arrays(self.module_),
                },
                "device_": str(self.device_),
                "_optimizer_state": to_numpy(self._optimizer_state),
            }
        return state

    def __setstate__(self, state):
        if "module_" in state:
            device = available_device(torch.device(state["device_"]))
            module = state["module_"]
            if isinstance(module, torch.nn.Module):  # pickled by skvae 0.1.0.dev0
                module = module.to(device)
            else:
                module = build_module(module["config"], module["arrays"], device)
            state = {
                **state,
                "module_": module,
                "device_": device,
                "_optimizer_state": to_torch(state["_optimizer_state"]),
            }
        super().__setstate__(state)


@contextmanager
def _restore_on_error(estimator):
    """Put the estimator's attributes back if the block raises.

    Attributes are restored by reference: the block must not modify a fitted
    attribute in place (training works on copies), except the random state,
    whose position is restored here.
    """
    saved = dict(estimator.__dict__)
    rng = saved.get("_random_state")
    rng_state = rng.get_state() if rng is not None else None
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(saved)
        if rng is not None:
            rng.set_state(rng_state)
        raise


def _mean_variance(X):
    if sp.issparse(X):
        return mean_variance_axis(X, axis=0)
    return X.mean(axis=0), X.var(axis=0)


def _to_cpu(tensor):
    return tensor.detach().cpu().clone()


def _map_tensors(obj, function):
    if isinstance(obj, torch.Tensor):
        return function(obj)
    if isinstance(obj, dict):
        return {key: _map_tensors(value, function) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_map_tensors(value, function) for value in obj)
    return obj
