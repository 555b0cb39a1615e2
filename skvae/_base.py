"""The estimator that every skvae model shares.

A concrete estimator names its latent family (``_latent_family``) and supplies
its docstring; everything a scikit-learn user touches lives here: parameters,
validation, ``fit`` / ``partial_fit``, ``transform``, ``inverse_transform``,
``sample``, ``score``, tags and pickling. The torch work is delegated to
``skvae._core``.
"""

import copy
import math
import sys
import threading
import warnings
import weakref
from abc import abstractmethod
from contextlib import contextmanager
from functools import partial
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
from sklearn.utils.extmath import randomized_svd
from sklearn.utils.random import sample_without_replacement

from ._budget import (
    budget_bytes,
    decoder_width,
    exceeds_budget,
    fitting,
    keepable_rows,
    rows_plan,
    score_plan,
    stream_plan,
)
from ._columns import (
    AUTO,
    LikelihoodNames,
    column_kinds,
    columns_text,
    named_likelihoods,
    resolve_plan,
)
from ._core.checks import check_trained
from ._core.latents import LATENTS
from ._core.likelihoods import LIKELIHOODS, Likelihood, plan_likelihood
from ._core.missing import MISSINGNESS, observed_entries
from ._core.networks import ACTIVATIONS, Decoder, Encoder, build_vae
from ._core.noise import RowDraws, row_uniforms
from ._core.optim import adam
from ._core.scoring import conditional_mean, conditional_sample, log_likelihood
from ._core.state import build_module, module_arrays, module_config, to_numpy, to_torch
from ._core.threads import fastest_thread_count, fit_threads, torch_threads
from ._core.training import TrainingSettings, evaluate, train
from ._data import (
    FeatureStatistics,
    InMemoryData,
    Rows,
    RowSubset,
    missing_counts,
    tensor_rows,
)
from ._device import available_device, resolve_device
from ._input import (
    check_input_kind,
    check_same_categories,
    checked_layer_sizes,
    string_category_columns,
    with_numeric_categories,
)
from ._progress import epoch_reporter
from ._sklearn_compat import (
    CallbackSupportMixin,
    Interval,
    IntInterval,
    InvalidParameterError,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._stream import (
    ChunkedArray,
    StreamedData,
    blockwise,
    first_rows,
    in_memory,
    input_kind,
    is_dask_array,
    streams,
)

FLOAT_DTYPES = (np.float64, np.float32)
_MAX_SEED = np.iinfo(np.int32).max
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
# early_stopping="auto" holds out rows only when at least this many would be
# held out: fewer make the validation objective too noisy to stop on.
_MIN_VALIDATION_ROWS = 5
# Above this many features, a randomized SVD of a sample of rows finds the
# principal components that start a linear-Gaussian model, instead of the
# eigendecomposition of the full covariance.
_MAX_EIGH_FEATURES = 1000
# Fits shorter than this many optimizer steps train on one thread without
# timing the alternatives: timing would cost more than it could save.
_MIN_STEPS_TO_TIME_THREADS = 200
# Rows that estimate the per-component diagnostics, and the activity above
# which a component counts as used (Burda et al., 2016).
_MAX_DIAGNOSTIC_ROWS = 10_000
# With early stopping, validation scores (and fit keeps) a moving average of
# the weights, each step weighing 0.05: with a mixture prior and a fixed latent
# size, 3 seeds each, it lifted held-out scores on 4 of 5 panel data sets
# (diabetes -8.93 -> -8.68, auto-mpg -5.24 -> -5.09 nats per row), and was
# 0.02 below on wine. A weight of 0.01 helped less and trained longer.
_EMA = 0.05
# Under early_stopping='auto', a fit of fewer rows than this trains on, on
# all of them, after the held-out rows have chosen its epochs. A new fit for
# those epochs on all rows (before _REFIT_EPOCH_FRACTION), at a fixed latent size,
# 2-3 seeds each: breast cancer -5.51 -> -5.19, wine -14.06 -> -13.78,
# Boston -8.62 -> -8.13, diabetes (10 codes) -8.61 -> -8.53, auto-mpg
# -5.11 -> -5.06 nats per row, iris -2.44 -> -2.45 (panel splits). Larger
# sets gain less for the doubled time: moons -1.162 -> -1.150, swiss roll
# -2.855 -> -2.824, circles no change.
_MAX_REFIT_ROWS = 1000
# ... and fewer rows than this many per column: what the held-out tenth costs
# is set by rows per column (a full covariance has d(d+1)/2 parameters). The
# sets above have 10-31 rows per column, and 600-900 rows of digits (12 per
# column) gained 0.7-1.1 nats; 600-900 rows of 2-3 columns (200-450 per
# column: moons, circles, S-curve, swiss roll) moved by -0.13 to +0.07, for
# twice the time (their grid searches 52-71 s without this bound, 34-40 s
# with it, the same sizes chosen and the same scores).
_MAX_REFIT_ROWS_PER_COLUMN = 100
# That second run continues the early-stopped model (its moving-average
# weights and the optimizer's state) for this fraction of the epochs early
# stopping chose, and returns its own moving average. Against a new fit on
# all rows for all those epochs, at a fixed latent size, seeds 0-1: Boston
# -8.06 -> -7.56, 838 rows of digits -61.24 -> -60.30, auto-mpg -4.95 ->
# -4.84, diabetes -9.08 -> -9.13, breast cancer -5.19 -> -5.20, wine and iris
# the same, in about 25% less time. A fraction of 1 overfits breast cancer
# (-5.57); 0.25 gains less on Boston and digits.
_REFIT_EPOCH_FRACTION = 0.5
# n_iter_no_change='auto' waits this many epochs without progress, and while
# no epoch has beaten the start on the held-out rows, this many optimizer
# steps too. On a few hundred rows an epoch is 4-5 steps, and the first steps
# from the start (probabilistic PCA and its prior) can score lower on the
# held-out rows for 20 epochs before they score higher. Of 12 fits of 10
# codes to diabetes' 3-fold training rows (seeds 0-3), 2 kept the start after
# 20 epochs (-11.46 and -9.89 on their folds' other rows); given 200 steps
# they trained on to epochs 116 and 139 (-10.66, -8.53), and the grid search
# of the density panel chose 10 codes instead of 8 (-9.15 -> -8.34 nats per
# row held out). Fits that beat the start within 20 epochs, and fits of
# 10 or more steps an epoch (about 640 rows), do not change: no other panel
# set's search moved (seeds 0-1). A floor of 200 steps on every fit's patience was
# tried too: grid-searched size, seeds 0-2, it lifted diabetes, auto-mpg, iris
# and Boston (0.1-0.3 nats per row) and lowered wine and breast cancer (0.16,
# 0.2), for up to twice the time of small fits.
_PATIENCE_EPOCHS = 20
_START_PATIENCE_STEPS = 200
_ACTIVITY_THRESHOLD = 0.01
# A column whose standard deviation is below this fraction of its mean's size
# is refused: float32 rounds each value by up to 6e-8 of it, so that its
# variation would be mostly rounding (at 1e-6, 3% of the spread).
_FLOAT32_RESOLUTION = 1e-6
# ... unless it is below this fraction, where it is float64's rounding (a
# constant column that a scaler left as -0.0709 plus or minus 2e-16).
_FLOAT64_NOISE = 1e-12
# Rows per batch of transform and inverse_transform, if the budget allows.
_MAX_BATCH = 1024
# The per-row methods, by the name of the step that _blockwise maps.
_PER_ROW_METHODS = {
    "_encode_rows": "transform",
    "_score": "score_samples",
    "_decode": "inverse_transform",
}
# Dask computes blocks in several threads at once; their torch calls contend
# (each already runs on the thread count fit measured): a transform of
# 100,000 x 784 rows took 1.8 s on 2 threads against 1.25 s on one. So the
# blocks of a process take turns in torch, and read and check their values
# concurrently.
_BLOCK_LOCK = threading.Lock()
# The float64 copies of fitted modules, by module: see _inference_module.
_CAST_MODULES = weakref.WeakKeyDictionary()


class BaseVAE(
    CallbackSupportMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Shared machinery of the skvae estimators; not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [IntInterval(1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "decoder_layer_sizes": ["array-like", None],
        "activation": [StrOptions(set(ACTIVATIONS))],
        # A live view of the table, not a copy: a likelihood registered after
        # import is accepted too. A list gives (likelihood, columns) pairs.
        "likelihood": [StrOptions(LikelihoodNames()), list],
        # Within what float32 holds, with room: the variance is computed in
        # float32 during training.
        "min_variance": [Interval(Real, 1e-30, 1e30, closed="both")],
        "n_importance_samples": [IntInterval(1, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            IntInterval(1, None, closed="left"),
        ],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [IntInterval(1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [
            IntInterval(1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "warm_start": ["boolean"],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "missingness": [StrOptions({"ignorable", *MISSINGNESS})],
    }

    @abstractmethod
    def __init__(
        self,
        n_components,
        *,
        hidden_layer_sizes,
        decoder_layer_sizes,
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
        missingness,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.decoder_layer_sizes = decoder_layer_sizes
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
        self.missingness = missingness

    # --- What a concrete estimator provides ------------------------------------

    # The name of its latent family in skvae._core.latents.LATENTS.
    _latent_family = None

    def _kl_schedule(self):
        """``(beta, kl_warmup_steps)``: the KL weight and its warm-up. The
        plain ELBO unless the estimator weighs the KL term (:class:`BaseBetaVAE`)."""
        return 1.0, 0

    def _check_training_rows(self, n_train, n_samples):
        """Refuse, before training, too few rows to train on."""

    def _after_training(self, X):
        """Called with the training data once the networks are trained (with
        evenly spaced training rows, ``_streamed_rows_kept`` of them at most,
        when the data are streamed)."""

    # How many evenly spaced training rows a streamed fit keeps in memory for
    # the diagnostics and _after_training (the budget may allow fewer).
    _streamed_rows_kept = _MAX_DIAGNOSTIC_ROWS

    def _score_plan(self, module, itemsize):
        """``(rows per batch, draws per block)`` of ``score_samples``."""
        return score_plan(module, itemsize, self.n_importance_samples)

    def _training_draws(self):
        """Draws per row of the bound that training maximizes: 1, the ELBO."""
        return 1

    def _validation_draws(self, settings):
        """Draws per held-out row of the objective early stopping watches:
        the training objective's."""
        return settings.n_draws

    # --- Fitting ------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the model on X for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask array} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
            Data whose float32 copy would exceed the memory budget
            (scikit-learn's ``working_memory``) are streamed from where they
            lie, a memory-mapped file, an h5py or zarr dataset, a Dask array
            (see :ref:`scaling`).
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
        X : {array-like, sparse matrix, Dask array} of shape (n_samples, n_features)
            One chunk of training data, streamed as in :meth:`fit` if it
            exceeds the memory budget.
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

    def _fit(self, X, incremental, epochs=None, continuing=False):
        """fit and partial_fit, as a chain of steps: validate -> prepare the
        module (new, or a copy of the fitted one) -> split (training data in
        memory, or streamed) -> initialize -> optimizer -> settings (batches,
        epochs, KL schedule, seeds) -> train -> record -> diagnose, and on
        small data the same chain again on all rows (see ``_refits``).

        ``epochs`` and ``continuing``: that second run, which holds nothing
        out and continues the first run's model and optimizer for a part of
        the epochs that its held-out rows chose."""
        given = X
        resume = (continuing or incremental or self.warm_start) and hasattr(
            self, "module_"
        )
        X, network, plan, likelihood, missing = self._validate_for_fit(
            X, reset=not resume
        )
        device = resolve_device(self.device)
        module, optimizer_state = self._prepare_module(
            network, plan, likelihood, device
        )
        data = self._split(X, incremental, hold_out=epochs is None)
        self._check_training_rows(data.n_train, X.shape[0])
        if isinstance(data, InMemoryData):
            missing = missing_counts(data.X, _block_rows(data.X))
        if resume and not continuing and isinstance(data, InMemoryData):
            # A fit that continues has no start, whose statistics check the
            # data (_initialize): one pass over its rows checks them here.
            plan = _statistics_plan(
                data.n_train, self.n_features_in_, False, missing=bool(missing.any())
            )
            _check_float32_range(data.statistics(plan), type(self).__name__)
        # A stream counts its training rows' missing values in its first pass
        # (in _initialize); until then, those of all its rows stand in.
        settings = self._training_settings(
            data.n_train, incremental, missing=bool(missing.any()), epochs=epochs
        )
        # The thread count is chosen before the start: on a busy machine the
        # start (PCA, the prior's mixture) is as slow on many threads as the
        # training is.
        n_threads = self._thread_count(module, data, settings)
        with fit_threads(n_threads):
            if not resume:
                self._initialize(
                    module, data, device, settings.batch_size, missing, X.shape[0]
                )
            optimizer = adam(module.parameters(), self.learning_rate, optimizer_state)
            history, reporter = self._train(
                module, optimizer, data, settings, report=epochs is None
            )
        validated = self.early_stopping_
        self._record(module, optimizer, device, history, n_threads, validated)
        refit = epochs is None and self._refits(data, incremental, resume, history)
        if not refit:
            with torch_threads(self.n_threads_):
                self._diagnose(data.kept_rows, settings.batch_size)
                self._after_training(data.kept_rows)
        if reporter is not None:
            reporter.finish()
        if epochs is None and not incremental and not history.stopped_early:
            self._warn_not_converged(validated, settings.n_iter_no_change)
        if refit:
            chosen = self.validation_scores_, self.best_validation_score_
            epochs = max(1, math.ceil(_REFIT_EPOCH_FRACTION * history.best_epoch))
            self._fit(given, incremental=False, epochs=epochs, continuing=True)
            self.early_stopping_ = True
            self.validation_scores_, self.best_validation_score_ = chosen

    def _refits(self, data, incremental, resume, history):
        """Whether this fit continues on all rows, for half the epochs that
        early stopping chose (``_REFIT_EPOCH_FRACTION``): under
        ``early_stopping='auto'``, for a first fit in memory, without
        ``warm_start`` (whose calls continue one training), of fewer than
        ``_MAX_REFIT_ROWS`` rows, and of fewer than
        ``_MAX_REFIT_ROWS_PER_COLUMN`` per column, whose training improved
        on the start. There the held-out tenth is data the model misses, and
        a second run costs seconds."""
        if not (
            self.early_stopping == "auto"
            and self.early_stopping_
            and not (incremental or resume or self.warm_start)
            and isinstance(data, InMemoryData)
            and history.best_epoch > 0
        ):
            return False
        n_rows = data.n_train + data.validation_rows.shape[0]
        return n_rows < min(
            _MAX_REFIT_ROWS, _MAX_REFIT_ROWS_PER_COLUMN * self.n_features_in_
        )

    def _validate_for_fit(self, X, reset):
        """X validated, the networks the parameters ask for, the per-column
        plan of likelihoods (names and columns), for a new model its
        likelihood, and the count of missing values (NaN) in each column of
        X: refused before anything changes.

        X comes back as an array in memory, or as a
        :class:`~skvae._stream.ChunkedArray` when its float32 copy would
        exceed the memory budget: a memory-mapped, sliceable or Dask array
        then has its shape and dtype checked now, its values as they are read
        (all of them in the pass that counts their missing values, now; their
        likelihood's domain in the first pass, before training).

        Continuing a fit (``reset=False``) keeps the fitted likelihood: the
        plan is compared with it, and X checked against it, levels seen at
        fit included. ``'auto'`` is resolved at the first fit only.
        """
        kind = input_kind(X)
        if kind == "dask":
            _check_known_shape(X, type(self).__name__, "fit", range(X.ndim))
        # Dtypes are read before validation turns X into numbers (a stream
        # has no dtypes per column: it is never a DataFrame).
        kinds = None
        categories = ()
        if streams(X, kind):
            X = self._chunked(X, kind, reset)
        else:
            X = in_memory(X, kind)
            if not reset:
                self._check_categories(X)
            check_input_kind(X, type(self).__name__)
            categories = string_category_columns(X)
            if reset and self.likelihood == AUTO:
                kinds = column_kinds(X)
            X = validate_data(
                self,
                with_numeric_categories(X),
                accept_sparse="csr",
                dtype=FLOAT_DTYPES,
                ensure_all_finite="allow-nan",
                reset=reset,
            )
        network = self._network()
        self._training_draws()  # refuses parameters that the bound cannot take
        missing = _missing_counts(X)
        if not reset:
            fitted = self.module_.likelihood
            plan = _plan_of(fitted)
            if self.likelihood != AUTO:
                plan = _names_and_columns(
                    self._resolve_plan(kinds, X.shape[0], missing)
                )
            if plan == _plan_of(fitted):
                X = self._checked_values(X, fitted)
                self._check_missing_supported(fitted, missing, fitted=True)
            return _beyond_budget(X), network, plan, None, missing
        _check_no_empty_column(missing, X.shape[0], X.shape[0])
        plan = self._resolve_plan(kinds, X.shape[0], missing)
        _check_categories_modelled(
            plan, categories, getattr(self, "feature_names_in_", None)
        )
        self._string_categories_ = categories
        likelihood = self._new_likelihood(X, plan)
        X = self._checked_values(X, likelihood)
        self._check_missing_supported(likelihood, missing)
        if self.missingness != "ignorable":
            _check_self_masking(likelihood, self.missingness)
        return _beyond_budget(X), network, _plan_of(likelihood), likelihood, missing

    def _checked_values(self, X, likelihood):
        """X checked against ``likelihood``'s domain: now for an array in
        memory, as each chunk is read for a chunked one."""
        if isinstance(X, ChunkedArray):
            return X.also_checked(
                partial(_checked_domain, estimator=self, likelihood=likelihood)
            )
        self._check_domain(X, likelihood)
        return X

    def _resolve_plan(self, kinds, n_samples, missing):
        # 'auto' keeps one variance per column where the full covariance
        # cannot go: in columns with missing values, and, under a model of
        # missingness, which integrates its logistic column by column, in all.
        missing_columns = np.flatnonzero(missing).tolist()
        if self.missingness != "ignorable":
            missing_columns = range(self.n_features_in_)
        return resolve_plan(
            self.likelihood,
            self.n_features_in_,
            getattr(self, "feature_names_in_", None),
            kinds,
            n_samples,
            missing_columns=set(missing_columns),
        )

    def _new_likelihood(self, X, plan):
        """The likelihood of ``plan`` for X, its arguments read from X (the
        levels of an integer-coded column); X is checked against it after."""
        plan = [
            (
                name,
                columns,
                {
                    **self._parameters_from_data(X, name, columns, plan),
                    **arguments,
                },
            )
            for name, columns, arguments in plan
        ]
        return plan_likelihood(plan, self.n_features_in_, self.get_params(deep=False))

    def _parameters_from_data(self, X, name, columns, plan):
        """What likelihood ``name`` reads of its ``columns`` of X to be built.

        A chunked X is read for it, in one pass, only by a likelihood that
        reads anything (the levels of integer codes), and only the distinct
        values (rows, where it needs whole rows) of each chunk are kept: all
        that levels depend on.
        """
        likelihood = LIKELIHOODS[name]
        owner = self._data_owner(columns, plan)
        if not isinstance(X, ChunkedArray):
            values = self._domain_values(X, columns, likelihood, plan)
            return likelihood.parameters_from_data(values, owner)
        reads = likelihood.parameters_from_data.__func__
        if reads is Likelihood.parameters_from_data.__func__:
            return {}
        read_rows = stream_plan(X.shape[1], X.dtype.itemsize).read_rows
        chunks = X.chunk_ranges(read_rows, read_rows)
        values = [
            np.unique(v, axis=0)
            for _, rows in X.in_order(chunks, read_rows)
            for v in self._domain_values(rows, columns, likelihood, plan)
        ]
        return likelihood.parameters_from_data(values, owner)

    def _validated(self, X, reset):
        if not reset:
            self._check_categories(X)
        check_input_kind(X, type(self).__name__)
        return validate_data(
            self,
            with_numeric_categories(X),
            accept_sparse="csr",
            dtype=FLOAT_DTYPES,
            ensure_all_finite="allow-nan",
            reset=reset,
        )

    def _check_categories(self, X):
        """Refuse category columns of strings other than those of the fit
        (whose codes the model reads)."""
        check_same_categories(
            X, getattr(self, "_string_categories_", ()), type(self).__name__
        )

    def _chunked(self, X, kind, reset):
        """X as a :class:`~skvae._stream.ChunkedArray`: its shape, dtype and
        feature names validated on its first row, its values by scikit-learn's
        ``check_array`` as each chunk is read (a likelihood's domain is added
        with ``ChunkedArray.also_checked``)."""
        head = self._validated(first_rows(X, kind), reset)
        return ChunkedArray(X, head.dtype, [partial(_checked_rows, estimator=self)])

    def _check_missing_supported(self, likelihood, missing, fitted=False):
        """Refuse missing values (NaN; ``missing`` counts them per column) in
        the columns of a likelihood that cannot leave them out
        (``Likelihood.supports_missing``), before anything changes."""
        for part, columns in likelihood.parts():
            n_missing = int(missing[columns].sum())
            if part.supports_missing or not n_missing:
                continue
            names = getattr(self, "feature_names_in_", None)
            where = (
                ""
                if len(columns) == likelihood.n_features
                else (f" in the columns {columns_text(columns, names)}")
            )
            diagonal = getattr(part, "diagonal_name", "gaussian")
            fix = (
                f"Fit the model again with likelihood={diagonal!r} (one variance "
                "per column, which leaves missing entries out)"
                if fitted
                else f"Use likelihood={diagonal!r} (one variance per column, which "
                "leaves missing entries out)"
                + (
                    ", or likelihood='auto', which chooses it for columns with "
                    "missing values"
                    if diagonal == "gaussian"
                    else ""
                )
            )
            raise ValueError(
                f"X has {n_missing} missing value(s) (NaN){where}, which "
                f"likelihood={part.name!r} cannot model: its one full noise "
                "covariance ties every column to the others, and skvae does not "
                f"yet integrate the missing ones out of it. {fix}; or fill in the "
                "missing values first (with skvae.VAEImputer, for example)."
            )

    def _network(self):
        """The networks' description, as ``skvae._core.networks.build_vae``
        takes it."""
        encoder = checked_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        decoder = encoder[::-1]
        if self.decoder_layer_sizes is not None:
            decoder = checked_layer_sizes(
                self.decoder_layer_sizes, "decoder_layer_sizes"
            )
        return {
            "name": "linear_plus_mlp",
            "hidden_layer_sizes": encoder,
            "decoder_layer_sizes": decoder,
            "activation": self.activation,
        }

    def _prepare_module(self, network, plan, likelihood, device):
        """The module to train, on ``device`` and given the current parameters,
        and the optimizer state to continue from (None for a new module):
        a new one with ``likelihood``, or, where it is None, a copy of the
        fitted one, whose architecture must be that of ``network`` and
        ``plan``."""
        if likelihood is None:
            module, optimizer_state = self._continued_module(network, plan)
        else:
            module, optimizer_state = self._new_module(network, likelihood), None
        module.to(device)
        parameters = self.get_params(deep=False)
        module.latent.configure(parameters)
        module.likelihood.configure(parameters)
        return module, optimizer_state

    def _new_module(self, network, likelihood):
        """A new, untrained module, and the bookkeeping of a first fit."""
        self._random_state = check_random_state(self.random_state)
        self._eval_seed = int(self._random_state.randint(_MAX_SEED))
        parameters = self.get_params(deep=False)
        # Seed torch's global generator only inside this block, so that the
        # weights depend on random_state alone and the caller's RNG is untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self._random_state.randint(_MAX_SEED)))
            latent = LATENTS.lookup(self._latent_family)
            module = build_vae(
                self.n_features_in_,
                network,
                latent(self.n_components, **latent.own_parameters(parameters)),
                likelihood,
                None
                if self.missingness == "ignorable"
                else MISSINGNESS.lookup(self.missingness)(self.n_features_in_),
            )
        self.n_iter_ = 0
        self.n_steps_ = 0
        self.loss_curve_ = []
        self.reconstruction_curve_ = []
        self.kl_curve_ = []
        return module

    def _continued_module(self, network, plan):
        """Copies of the fitted module and optimizer state, to train on: a
        failure then leaves the fitted model untouched (Adam's load_state_dict
        keeps the tensors it is given)."""
        fitted = _architecture(self.module_)
        if fitted != (self.n_components, network, plan, self.missingness):
            raise ValueError(
                "warm_start and partial_fit continue training the fitted "
                f"networks, built with {_architecture_text(*fitted)}; the "
                "parameters now ask for a different architecture. Set them "
                "back, or set warm_start=False to train a new model."
            )
        return copy.deepcopy(self.module_), copy.deepcopy(self._optimizer_state)

    def _initialize(self, module, data, device, batch_size, missing, n_samples):
        """Start the model from statistics of the training rows: the untrained
        model predicts the data's mean and variance, or, where the latent
        family and the likelihood allow it, is probabilistic PCA of them.

        The networks' linear parts then start at the maximum-likelihood
        probabilistic PCA with ``n_components`` components (the nonlinear
        parts start at zero), so that training starts from PCA's likelihood
        rather than from noise (``benchmarks/bench_density_panel.py``);
        binary codes start as the signs of those components
        (``BernoulliLatent.start_loading``). A likelihood that is not
        linear-Gaussian but can start linearized (counts, positive values,
        categories, per-column plans of them) starts
        at probabilistic PCA of its encoder inputs instead
        (``benchmarks/bench_mixed_columns.py``). All the statistics come from
        one pass over the rows (the first pass of a stream).

        Where the training rows have missing entries (``missing`` counts them
        per column: for a stream, those of all its rows, until its first pass
        has counted the training rows'), the statistics are those of the
        observed entries (covariances over the rows where both features are
        observed), and every feature starts with
        probabilistic PCA's isotropic noise variance rather than what the
        components leave of its own: that gives well-explained features tiny
        variances, which an encoder that sees only part of each row cannot
        live up to. With half of breast cancer's entries missing (imputation
        by ``VAEImputer``'s model), the per-feature start imputed with a mean
        squared error of 0.69, the isotropic one 0.31, a start without PCA
        (the decoder predicting the mean) 0.32; on digits 0.029 against 0.032
        without PCA; and a linear model with a hidden feature correlated with
        an observed one learned nothing without PCA's start (its imputations'
        error 1.6, against 1.1 from PCA's). A likelihood that starts
        linearized starts at the data's mean there: its encoder inputs are
        not defined at a missing entry.
        """
        likelihood = module.likelihood
        streamed = isinstance(data, StreamedData)
        if not streamed:
            _check_no_empty_column(missing, data.n_train, n_samples)
        linear_gaussian = likelihood.linear_gaussian
        linear = data.n_train >= 2 and module.supports_linear_start()
        # Probabilistic PCA of what the encoder reads, to be linearized, for a
        # likelihood that is not linear-Gaussian.
        encoded = linear and not linear_gaussian
        observe = None
        if likelihood.observes_rows:
            observe = partial(_observe, likelihood=likelihood, device=device)
        statistics = data.statistics(
            _statistics_plan(
                data.n_train,
                self.n_features_in_,
                linear and not encoded,
                data.statistics_budget,
                missing=bool(missing.any()),
            ),
            observe=observe,
        )
        if streamed:
            # The first pass counted the missing values of the training rows.
            missing = statistics.missing
            _check_no_empty_column(missing, data.n_train, n_samples)
        _check_float32_range(statistics, type(self).__name__)
        any_missing = bool(missing.any())
        moments = [
            torch.as_tensor(s, dtype=torch.float32, device=device)
            for s in (statistics.mean, statistics.variance)
        ]
        module.initialize(*moments)
        _check_finite_start(module, statistics, type(self).__name__)
        if module.missingness is not None:
            rate = torch.as_tensor(missing / data.n_train, dtype=torch.float32)
            module.missingness.initialize(rate.to(device), *moments)
        linear = linear and (linear_gaussian or not any_missing)
        if linear and encoded:
            # The encoder's inputs depend on what initialize set (a category's
            # frequencies scale its one-hot code): their statistics are read
            # after it, of the kept rows (evenly spaced ones of a stream; all
            # of them in memory).
            statistics = _encoder_input_statistics(data.kept_rows, likelihood, device)
        if linear:
            start = _principal_components(
                statistics,
                self.n_components,
                likelihood.min_variance,
                likelihood.needs_covariance,
                any_missing,
            )
            start, covariance = start[:5], (start[5:] or [None])[0]
            start = [
                torch.as_tensor(a, dtype=torch.float32, device=device) for a in start
            ]
            module.linear_start(
                *start,
                covariance=None
                if covariance is None
                else torch.as_tensor(covariance, dtype=torch.float64, device=device),
            )
            if any_missing:
                likelihood.set_variance(start[3])
        _check_finite_start(module, statistics, type(self).__name__)
        self._initialize_prior(module, data.kept_rows, batch_size)

    def _initialize_prior(self, module, X, batch_size):
        """Start the latent family's prior from the codes of the started
        model (read ``batch_size`` rows at a time), where the family learns
        its prior. ``X`` holds the training rows, or evenly spaced ones of a
        stream."""

    def _training_settings(self, n_train, incremental, missing, epochs=None):
        """Batch size, epochs, KL schedule, seeds and bound of one training
        run; ``missing``: whether the training rows have missing entries;
        ``epochs``: a run on all rows for that many epochs, which returns the
        weights' moving average as a run with early stopping does (the
        first fit's warm-up, where unfinished, goes on from its step)."""
        batch_size = self.batch_size
        if batch_size == "auto":
            # 64 rows: on the density panel, 64 beat 200 on 6 of 7 data sets
            # (more steps per epoch on small data); large data gets larger
            # batches, so that an epoch takes at most about a thousand steps.
            batch_size = min(int(np.clip(n_train // 1000, 64, 512)), n_train)
        max_epochs = 1 if incremental else self.max_iter
        if epochs is not None:
            max_epochs = epochs
        beta, warmup_steps = self._kl_schedule()
        if not incremental:
            # The warm-up never takes more than half of what this fit trains, so
            # that the model returned is trained at the KL weight asked for.
            steps = max_epochs * -(-n_train // batch_size)
            warmup_steps = min(warmup_steps, self.n_steps_ + steps // 2)
        patience, start_patience = self.n_iter_no_change, 0
        if patience == "auto":
            patience, start_patience = _PATIENCE_EPOCHS, _START_PATIENCE_STEPS
        permutation_seed, noise_seed = self._random_state.randint(_MAX_SEED, size=2)
        return TrainingSettings(
            batch_size=batch_size,
            max_epochs=max_epochs,
            tol=self.tol,
            beta=beta,
            warmup_steps=warmup_steps,
            start_step=self.n_steps_,
            permutation_seed=int(permutation_seed),
            noise_seed=int(noise_seed),
            ema=_EMA,
            n_iter_no_change=patience,
            start_patience_steps=start_patience,
            n_draws=self._training_draws(),
            missing=missing,
            return_average=epochs is not None,
        )

    def _thread_count(self, module, data, settings):
        """1, or the caller's torch thread count where a fit long enough to
        repay the timing measures it faster (``_core/threads.py``)."""
        n_steps = settings.max_epochs * -(-data.n_train // settings.batch_size)
        if n_steps < _MIN_STEPS_TO_TIME_THREADS:
            return 1
        device = next(module.parameters()).device
        return fastest_thread_count(
            module,
            data.head(settings.batch_size, device),
            torch.get_num_threads(),
            settings.n_draws,
        )

    def _train(self, module, optimizer, data, settings, report=True):
        """The minibatch loop over the training data, validated on its held-out
        rows if any: ``(history, progress reporter)``."""
        device = next(module.parameters()).device
        reporter = None
        if report:
            reporter = epoch_reporter(self, data.X, settings.max_epochs, module, device)
        history = train(
            module,
            optimizer,
            data.training(device),
            settings,
            validation_data=data.validation(device),
            validation_noise=lambda x: self._score_noise(
                module, x, self._validation_draws(settings)
            ),
            on_epoch_end=reporter,
        )
        check_trained(module, data.head(settings.batch_size, device))
        return history, reporter

    def _record(self, module, optimizer, device, history, n_threads, validated):
        """The fitted attributes of a finished training run."""
        self.module_ = module
        self.device_ = device
        self.n_threads_ = n_threads
        self._optimizer_state = _map_tensors(optimizer.state_dict(), _to_cpu)
        n_before = len(self.loss_curve_)
        self.n_iter_ += history.n_epochs
        self.n_steps_ = history.n_steps
        self.loss_curve_ = self.loss_curve_ + history.loss_curve
        # A model fitted before the loss's parts were kept (a file of schema
        # version 1) has no record of them for its earlier epochs.
        unknown = [math.nan] * n_before
        self.reconstruction_curve_ = (
            getattr(self, "reconstruction_curve_", unknown)
            + history.reconstruction_curve
        )
        self.kl_curve_ = getattr(self, "kl_curve_", unknown) + history.kl_curve
        self.validation_scores_ = history.validation_scores if validated else None
        self.best_validation_score_ = history.best_validation_score

    def _warn_not_converged(self, validated, patience):
        monitored = "validation objective" if validated else "loss"
        _warn_at_caller(
            f"{type(self).__name__}: maximum iterations ({self.max_iter}) "
            f"reached and the {monitored} "
            f"was still improving by more than tol={self.tol} within the last "
            f"{patience} epochs (n_iter_no_change={self.n_iter_no_change!r}). "
            "Increase "
            "max_iter, or loosen tol.",
            ConvergenceWarning,
        )

    def _diagnose(self, X, batch_size):
        """Per-component diagnostics of the fitted posterior, so that unused
        latent components (posterior collapse) are never silent.

        ``component_activity_`` is the activity of Burda et al. (2016): the
        variance over the training rows of each component's posterior mean;
        a component is active above 0.01. ``kl_per_component_`` is the KL term
        of each component averaged over the training rows (None for a latent
        family without one). Both are computed on at most
        ``_MAX_DIAGNOSTIC_ROWS`` evenly spaced training rows.
        """
        module = self.module_.eval()
        rows = _spaced_rows(X, _MAX_DIAGNOSTIC_ROWS, batch_size, self.device_)
        posterior_means, kls = [], []

        def encode(x):
            posterior = module.encode(x, observed_entries(x))
            posterior_means.append(module.latent.mean(posterior).double().cpu())
            kl = module.latent.kl_per_component(posterior)
            if kl is not None:
                kls.append(kl.double().cpu())
            return x[:, :0]

        evaluate(encode, rows, batch_size)
        means = torch.cat(posterior_means)
        self.component_activity_ = means.var(0, correction=0).numpy()
        self.n_active_components_ = int(
            np.sum(self.component_activity_ > _ACTIVITY_THRESHOLD)
        )
        self.kl_per_component_ = torch.cat(kls).mean(0).numpy() if kls else None

    def _split(self, X, incremental, hold_out=True):
        """The training data, in memory or streamed, and the rows that early
        stopping holds out.

        Streamed data hold out the same rows as data in memory, unless they
        would exceed an eighth of the memory budget: then as many rows as fit
        there, drawn at random (85,000 rows of 784 float32 features under the
        default budget), since they are kept in memory for the whole fit.
        """
        n_samples = X.shape[0]
        n_val = int(np.ceil(self.validation_fraction * n_samples))
        early_stopping = self.early_stopping
        if early_stopping == "auto":
            early_stopping = n_val >= _MIN_VALIDATION_ROWS and n_samples - n_val >= 1
        self.early_stopping_ = bool(early_stopping) and not incremental and hold_out
        streamed = isinstance(X, ChunkedArray)
        if not self.early_stopping_:
            if streamed:
                return StreamedData(X, None, self._streamed_rows_kept)
            return InMemoryData(X, None)
        if n_samples - n_val < 1:
            raise ValueError(
                f"early_stopping=True holds out validation_fraction="
                f"{self.validation_fraction} of the {n_samples} samples, which "
                "leaves none to train on. Pass more samples, lower "
                "validation_fraction, or set early_stopping=False."
            )
        if streamed:
            n_held = min(n_val, keepable_rows(X.shape[1], X.dtype.itemsize))
            if n_held < n_val:
                held_out = sample_without_replacement(
                    n_samples, n_held, random_state=self._random_state
                )
            else:
                held_out = self._random_state.permutation(n_samples)[:n_val]
            return StreamedData(X, np.sort(held_out), self._streamed_rows_kept)
        order = self._random_state.permutation(n_samples)
        train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
        if sp.issparse(X):
            return InMemoryData(X[train], X[val])
        # Dense rows are read through their index, block by block: indexing
        # copied a float64 memmap whole before the float32 copy training makes.
        block = _block_rows(X)
        return InMemoryData(RowSubset(X, train, block), RowSubset(X, val, block))

    def _check_domain(self, X, likelihood, encoding=False):
        """Each part of ``likelihood`` checks the values of its columns of X;
        with ``encoding``, only the parts whose encoder input needs it."""
        parts = likelihood.parts()
        plan = [(part.name, columns, {}) for part, columns in parts]
        for part, columns in parts:
            if not encoding or part.maps_input:
                part.check_domain(
                    self._domain_values(X, columns, part, plan),
                    self._data_owner(columns, plan),
                )

    def _domain_values(self, X, columns, likelihood, plan):
        """The values of X's ``columns`` as ``likelihood.check_domain`` takes
        them: X itself where one likelihood covers every column; a sparse
        matrix's stored values, and a zero for its implicit entries, unless
        the likelihood needs whole rows."""
        if len(plan) > 1:
            X = X[:, columns]
        if not sp.issparse(X):
            return [X]
        if likelihood.whole_rows:
            return [X.toarray()]
        values = [X.data]
        if X.nnz < X.shape[0] * X.shape[1]:
            values.append(np.zeros(1, dtype=X.dtype))
        return values

    def _data_owner(self, columns, plan):
        """Where data went, as a domain error names it: the estimator, and
        the columns where a likelihood covers some only."""
        name = type(self).__name__
        if len(plan) == 1:
            return name
        names = getattr(self, "feature_names_in_", None)
        return f"{name} (columns {columns_text(columns, names)})"

    # --- Using a fitted model ----------------------------------------------------

    def transform(self, X):
        """Encode X: the mean of the posterior q(z|x) for each row.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask array} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray or Dask array of shape (n_samples, n_components)
            Latent codes, in the dtype of X (float32 or float64); a Dask
            array, computed block by block, for a Dask array X.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._blockwise(X, "_encode_rows", self._n_features_out)
        X = self._validate_fitted(X, self.module_.likelihood, encoding=True)
        return self._encode_rows(X)

    def _encode_rows(self, X):
        """The posterior mean of each row of validated X, given its observed
        entries."""

        def encode(module, x):
            return module.latent.mean(module.encode(x, observed_entries(x)))

        return self._map_rows(X, encode)

    def inverse_transform(self, X):
        """Decode latent codes into the input space: the mean of p(x|z).

        Parameters
        ----------
        X : {array-like, Dask array} of shape (n_samples, n_components)
            Latent codes, such as those ``transform`` returns. Named X, as
            scikit-learn names the argument of every ``inverse_transform``.

        Returns
        -------
        X_original : ndarray or Dask array of shape (n_samples, n_features)
            The decoder's mean for each code, in the dtype of the codes; a
            Dask array, computed block by block, for a Dask array X.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            self._check_code_width(X.shape[1])
            return self._blockwise(X, "_decode", self.n_features_in_, codes=True)
        X = check_array(X, dtype=FLOAT_DTYPES, input_name="X")
        self._check_code_width(X.shape[1])
        return self._decode(X)

    def _check_code_width(self, n_columns):
        if n_columns != self._n_features_out:
            raise ValueError(
                f"X has {n_columns} columns, but this {type(self).__name__} has "
                f"{self._n_features_out} latent components: inverse_transform "
                "takes codes such as those transform returns."
            )

    def _decode(self, X):
        return self._map_rows(
            X, lambda module, z: module.likelihood.mean(module.decode(z))
        )

    def score_samples(self, X):
        """Log-likelihood estimate of each row under the model, in nats.

        With ``n_importance_samples=1`` it is the evidence lower bound (ELBO);
        with more, the importance-weighted bound, which is tighter and
        approaches log p(x) as the number grows. A row's random draws are a
        function of its values (the same numbers as float32 or float64, and
        -0.0 or 0.0, give the same draws) and of a seed fixed at fit time, so
        its score does not depend on the other rows in the call beyond the
        rounding of matrix products (about 1e-12 relative in float64), and
        the draws of different rows are independent, so the error of
        ``score`` averages out over rows. The result is a finite number or
        -inf (rows so far from the data that the model gives them no
        density), never NaN. Rows, draws and features are processed in blocks
        sized by scikit-learn's ``working_memory``.

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
        check_is_fitted(self)
        if is_dask_array(X):
            return self._blockwise(X, "_score", None)
        return self._score(self._validate_fitted(X, self.module_.likelihood))

    def _score(self, X):
        n_draws = self.n_importance_samples
        dtype = self._compute_dtype(X.dtype)
        module = self._inference_module(dtype)
        batch_size, block_size = self._score_plan(module, dtype.itemsize)

        def scores(module, x):
            draws = self._row_draws(module, x, n_draws, block_size)
            estimate = log_likelihood(module, x, draws, budget_bytes() // 2)
            return _nan_to_minus_inf(estimate)

        return self._map_rows(X, scores, batch_size=batch_size)

    def _impute(self, X, n_draws, seed=None):
        """Validated X (NaN where missing) with its missing entries filled:
        E[x_missing | x_observed] by ``n_draws`` importance draws per row
        (keyed on the row, as the draws of ``score_samples``), or with a
        ``seed`` a draw from p(x_missing | x_observed). :class:`VAEImputer`'s
        work."""
        self._check_domain(X, self.module_.likelihood)
        dtype = self._compute_dtype(X.dtype)
        module = self._inference_module(dtype)
        batch_size, block_size = score_plan(module, dtype.itemsize, n_draws)
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device_).manual_seed(seed)

        def impute(module, x):
            draws = self._row_draws(module, x, n_draws, block_size)
            if generator is None:
                return conditional_mean(module, x, draws, budget_bytes() // 2)
            return conditional_sample(module, x, draws, generator, budget_bytes() // 2)

        return self._map_rows(X, impute, batch_size=batch_size)

    def _row_draws(self, module, x, n_draws, block_size):
        """``n_draws`` latent draws for each row of ``x``, keyed on the row's
        values and the fitted seed: the same row gets the same draws in
        ``score_samples`` and in imputation, whatever its batch."""
        return RowDraws(
            x,
            self._eval_seed,
            n_draws,
            module.latent.n_components,
            module.latent.noise_from_uniform,
            block_size,
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
        n_samples = _checked_n_samples(n_samples, self.n_features_in_)
        if not isinstance(noise, bool | np.bool_):
            raise InvalidParameterError(f"noise must be True or False, got {noise!r}.")
        rng = check_random_state(
            self.random_state if random_state is None else random_state
        )
        module = self._inference_module(self._compute_dtype(np.float64))
        generator = torch.Generator(device=self.device_)
        generator.manual_seed(int(rng.randint(_MAX_SEED)))
        dtype = next(module.parameters()).dtype
        # Decoded in blocks that the memory budget sets; a call that fits in
        # one block draws exactly as one pass would.
        width = decoder_width(module) + self.n_features_in_
        block = fitting(2 * dtype.itemsize * width)
        X = np.empty((n_samples, self.n_features_in_), dtype=np.float64)
        with torch.no_grad(), torch_threads(self._n_threads()):
            for start in range(0, n_samples, block):
                stop = min(start + block, n_samples)
                z = module.latent.prior_sample(stop - start, generator, dtype)
                out = module.decode(z)
                rows = (
                    module.likelihood.sample(out, generator)
                    if noise
                    else (module.likelihood.mean(out))
                )
                X[start:stop] = rows.cpu().numpy()
        return X

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
        ``likelihood='bernoulli'``, each likelihood's mean in its columns
        under per-column likelihoods.

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
    def likelihoods_(self):
        """``[(name, columns), ...]``: the likelihood that describes each group
        of columns (by index), ``likelihood`` resolved at fit."""
        if "module_" not in vars(self):
            raise AttributeError(
                f"This {type(self).__name__} is not fitted yet: likelihoods_ is "
                "set by fit."
            )
        return _plan_of(self.module_.likelihood)

    @property
    def _n_features_out(self):
        return self.module_.latent.n_components

    def _validate_fitted(self, X, likelihood=None, encoding=False):
        """X validated for a fitted estimator (and in ``likelihood``'s domain,
        if given; with ``encoding``, only where the encoder's input needs it):
        an array in memory, or a :class:`~skvae._stream.ChunkedArray` for a
        memory-mapped or sliceable array beyond the memory budget, whose
        values are checked as they are read."""
        check_is_fitted(self)
        kind = input_kind(X)
        if streams(X, kind):
            X = self._chunked(X, kind, reset=False)
            X = X.also_checked(partial(_checked_missing, estimator=self))
            if likelihood is None:
                return X
            return X.also_checked(
                partial(
                    _checked_domain,
                    estimator=self,
                    likelihood=likelihood,
                    encoding=encoding,
                )
            )
        X = self._validated(in_memory(X, kind), reset=False)
        self._check_missing(X)
        if likelihood is not None:
            self._check_domain(X, likelihood, encoding=encoding)
        return X

    def _check_missing(self, X):
        """Refuse missing values (NaN) in validated X that the fitted model
        cannot leave out."""
        missing = missing_counts(X, _block_rows(X))
        if not missing.any():
            return
        self._check_missing_supported(self.module_.likelihood, missing, fitted=True)
        if not self.module_.missing_fill_known():
            raise ValueError(
                f"X has missing values (NaN), but this {type(self).__name__} was "
                "saved by an skvae that did not keep the training mean its "
                "encoder reads in their place. Fit it again to use it on data "
                "with missing values."
            )

    def _blockwise(self, X, method, n_columns, codes=False):
        """``method`` (the name of ``_encode_rows``, ``_score`` or ``_decode``)
        over the blocks of the Dask array X, lazily.

        What needs no values is checked now: that the estimator is fitted, the
        number of columns, the dtype, feature names; the values of each block
        when it is computed, with the errors that in-memory data get. The
        blocks are computed by a copy of the estimator as it is now, so that
        refitting it does not change a result not yet computed.
        """
        check_is_fitted(self)
        _check_known_shape(X, type(self).__name__, _PER_ROW_METHODS[method], [1])
        if not codes:
            self._validated(np.zeros((1, X.shape[1]), dtype=X.dtype), reset=False)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        function = partial(_on_block, copy.deepcopy(self), method, codes)
        return blockwise(X, function, n_columns, dtype)

    def _compute_dtype(self, dtype):
        # float64 input is computed in float64 with a copy of the float32
        # weights, so that the batch a row is in changes its result only by
        # float64 rounding (BLAS sums in an order that depends on the number
        # of rows: about 1e-13 in a score with the default network, against
        # 1e-6 relative in float32). MPS has no float64.
        if dtype == np.float64 and self.device_.type != "mps":
            return torch.float64
        return torch.float32

    def _inference_module(self, dtype):
        """The fitted module in ``dtype``, in eval mode.

        The float64 copy is made once and kept, in a cache outside the
        estimator (so that it is never pickled and never changes ``vars``),
        for as long as the module and every one of its tensors are the same
        objects at the same version: fit, partial_fit, unpickling, a new
        mixture or any in-place change of a weight drops it. Copying on every
        call cost 5 of the 7 ms of a 5-row transform.
        """
        module = self.module_
        if dtype == torch.float32:
            return module.eval()
        key = (dtype, [(t, t._version) for t in _tensors(module)])
        cached = _CAST_MODULES.get(module)
        if cached is None or not _same_key(cached[0], key):
            cached = (key, copy.deepcopy(module).to(dtype).eval())
            _CAST_MODULES[module] = cached
        return cached[1]

    def _map_rows(self, X, function, batch_size=None):
        """``function(module, batch)`` over the rows of X; numpy out in X's dtype.

        ``batch_size`` defaults to what the memory budget allows for one pass
        through the networks, at most 1024 rows. A
        :class:`~skvae._stream.ChunkedArray` is read in chunks of whole
        batches, so that each row is in the batch it would be in memory.
        """
        dtype = self._compute_dtype(X.dtype)
        module = self._inference_module(dtype)
        if batch_size is None:
            batch_size = min(_MAX_BATCH, rows_plan(module, dtype.itemsize, X.shape[1]))
        if isinstance(X, ChunkedArray):
            return self._map_chunks(X, function, batch_size)
        rows = Rows(X, self.device_, _NUMPY_DTYPES[dtype])
        with torch_threads(self._n_threads()):
            out = evaluate(lambda x: function(module, x), rows, batch_size)
        return out.numpy().astype(X.dtype, copy=False)

    def _map_chunks(self, X, function, batch_size):
        plan = stream_plan(X.shape[1], X.dtype.itemsize)
        chunk = max(1, plan.chunk_rows // batch_size) * batch_size
        chunks = X.chunk_ranges(chunk, max(chunk, plan.window_rows))
        out = None
        for (start, stop), rows in X.in_order(chunks, plan.read_rows):
            result = self._map_rows(rows, function, batch_size)
            if out is None:
                out = np.empty((X.shape[0], *result.shape[1:]), dtype=result.dtype)
            out[start:stop] = result
        return out

    def _n_threads(self):
        """The thread count the last fit measured as the faster, within the
        caller's limit (threadpoolctl, OMP_NUM_THREADS, torch.set_num_threads)."""
        return max(1, min(getattr(self, "n_threads_", 1), torch.get_num_threads()))

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
        # NaN is a missing value: left out of the likelihood, integrated out.
        tags.input_tags.allow_nan = True
        # Per-column likelihoods: the data must be non-negative where any
        # part's must. 'auto' and values fit will refuse set nothing.
        positive_only = False
        for likelihood in named_likelihoods(self.likelihood):
            likelihood.update_tags(tags)
            positive_only |= tags.input_tags.positive_only
        tags.input_tags.positive_only = positive_only
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


class BaseBetaVAE(BaseVAE):
    """Shared base of the VAEs whose objective weighs a KL term by ``beta``."""

    _parameter_constraints: dict = {
        **BaseVAE._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup_steps": [IntInterval(0, None, closed="left")],
    }

    def _kl_schedule(self):
        return self.beta, self.kl_warmup_steps


def _architecture(module):
    """What warm_start and partial_fit require to be unchanged: the latent
    size, the networks, the likelihoods' plan and the missingness model."""
    missingness = "ignorable" if module.missingness is None else module.missingness.name
    return (
        module.latent.n_components,
        module.network,
        _plan_of(module.likelihood),
        missingness,
    )


def _architecture_text(n_components, network, plan, missingness):
    described = ", ".join(
        f"{name}={value!r}" for name, value in network.items() if name != "name"
    )
    likelihood = plan[0][0] if len(plan) == 1 else plan
    return (
        f"n_components={n_components}, {described}, likelihood={likelihood!r}, "
        f"missingness={missingness!r}"
    )


def _check_self_masking(likelihood, missingness):
    # Both methods are needed: the bound integrates over the missing values,
    # and imputation takes their mean given that they are missing.
    base, cls = Likelihood, type(likelihood)
    if cls.log_expected_sigmoid is base.log_expected_sigmoid or (
        cls.sigmoid_tilted_mean is base.sigmoid_tilted_mean
    ):
        plan = _plan_of(likelihood)
        if len(plan) > 1:
            # A per-column plan: say which parts it is in the user's terms.
            which = "the plan " + ", ".join(
                f"({name!r}, {columns})" for name, columns in plan
            )
        else:
            which = f"likelihood={likelihood.name!r}"
        raise ValueError(
            f"missingness={missingness!r} needs a likelihood that integrates "
            f"its logistic model over a missing value; {which} does not. Use "
            "likelihood='gaussian' or 'bernoulli' for all columns, or "
            "missingness='ignorable'."
        )


def _plan_of(likelihood):
    """``[(name, columns), ...]``: which likelihood describes which columns."""
    return [(part.name, list(columns)) for part, columns in likelihood.parts()]


def _names_and_columns(plan):
    return [(name, list(columns)) for name, columns, _ in plan]


def _encoder_input_statistics(X, likelihood, device):
    """The :class:`~skvae._data.FeatureStatistics` of the encoder's inputs
    for the rows of X (``Likelihood.encoder_input``), computed block by block,
    never for all rows at once."""
    n_samples = X.shape[0]
    plan = _statistics_plan(n_samples, likelihood.n_encoder_inputs, True)
    statistics = FeatureStatistics(n_samples, **plan)
    for start in range(0, n_samples, statistics.block_size):
        rows = tensor_rows(X[start : start + statistics.block_size], device)
        with torch.no_grad():
            inputs = likelihood.encoder_input(rows)
        statistics.update(inputs.double().cpu().numpy())
    return statistics.finish()


def _observe(rows, likelihood, device):
    """Show ``rows`` to a likelihood that needs more of the training rows than
    their mean and variance to start (``Likelihood.observe``)."""
    with torch.no_grad():
        likelihood.observe(tensor_rows(rows, device))


def _beyond_budget(X):
    """X validated in memory, read in chunks by fit when its float32 copy
    would exceed the memory budget."""
    if not isinstance(X, ChunkedArray) and exceeds_budget(X):
        return ChunkedArray(X, X.dtype)
    return X


def _warn_at_caller(message, category):
    """Warn with the location of the first frame outside skvae and
    scikit-learn: the user's line that called fit, not ours."""
    frame, stacklevel = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in (
        "skvae",
        "sklearn",
    ):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(message, category, stacklevel=stacklevel)


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


def _statistics_plan(n_samples, n_features, linear, budget=None, missing=False):
    """What :class:`~skvae._data.FeatureStatistics` computes to start a
    model: the mean and variance, in blocks of rows whose two float64 copies
    fit in ``budget`` (default: the memory budget), of the observed entries
    with ``missing``; for a linear start, the scatter matrix (with
    ``missing``, pairwise over the rows where both features are observed)
    or, above ``_MAX_EIGH_FEATURES`` features, evenly spaced rows that fit
    it."""
    plan = {"block_size": fitting(16 * n_features, budget)}
    if missing:
        plan["missing"] = True
    if linear and n_features <= _MAX_EIGH_FEATURES:
        plan["covariance"] = True
    elif linear:
        max_rows = max(fitting(16 * n_features, budget), min(n_samples, 100))
        plan["sample_step"] = -(-n_samples // max_rows)
    return plan


def _principal_components(
    statistics, n_components, min_variance, with_covariance=False, missing=False
):
    """``mean, components, variances, noise_variance`` of probabilistic PCA.

    ``components`` holds the leading principal directions of X (rows) and
    ``variances`` the variances along them: at most ``n_components``, and only
    those whose variance stands above the Marchenko-Pastur edge of the noise,
    noise_variance * (1 + sqrt(n_features / n_samples))**2, the largest
    variance that sampling alone gives isotropic noise. A direction below it is
    indistinguishable from noise: its component starts unused rather than
    weakly active, which it would otherwise stay (on data with 2 true latent
    dimensions, 4 components started at plain probabilistic PCA ended with
    activities 0.97, 0.96, 0.10 and 0.05). ``noise_variance`` is the mean
    variance of the other directions, or a tenth of the smallest variance when
    none is left (so that the model stays the full Gaussian); at least a
    thousandth of the mean variance and twice ``min_variance``.

    With ``missing`` entries (NaN), each covariance is that of the rows where
    both features are observed (pairwise deletion: unbiased when values are
    missing at random), and the edge counts each feature's observed entries.
    """
    n_samples, n_features = statistics.shape
    k = min(n_components, n_features)
    dof = max(n_samples - 1, 1)
    if statistics.sample is None:
        if missing:
            mean, covariance, n_samples = statistics.pairwise
        else:
            # The covariance, from the scatter accumulated block by block.
            mean = statistics.sum / n_samples
            scatter = statistics.scatter - n_samples * np.outer(mean, mean)
            covariance = scatter / dof
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        variances = np.clip(eigenvalues[::-1][:k], 0.0, None)
        components = eigenvectors[:, ::-1][:, :k].T
        smallest = max(eigenvalues[0], 0.0)
        total = np.clip(eigenvalues, 0.0, None).sum()
        feature_variances = np.clip(np.diagonal(covariance), 0.0, None)
    else:
        # Many features: a randomized SVD of evenly spaced rows that fit the
        # memory budget; a missing entry counts as its feature's mean, and
        # the sums are scaled up by the share of entries observed.
        sample = statistics.sample
        mean = np.nanmean(sample, axis=0) if missing else sample.mean(axis=0)
        centred = sample - mean
        dof = max(sample.shape[0] - 1, 1)
        if missing:
            observed = ~np.isnan(centred)
            centred[~observed] = 0.0
            dof *= observed.mean()
            n_samples *= observed.mean()
        _, singular_values, components = randomized_svd(centred, k, random_state=0)
        variances = singular_values**2 / dof
        smallest = 0.0
        total = (centred**2).sum() / dof
        feature_variances = (centred**2).sum(axis=0) / dof
        # A covariance of so many features is neither cheap nor well estimated.
        covariance = None
    edge = (1 + np.sqrt(n_features / n_samples)) ** 2
    kept = k
    while True:
        if kept < n_features:
            noise = (total - variances[:kept].sum()) / (n_features - kept)
        else:
            noise = 0.1 * smallest
        noise = max(noise, 1e-3 * total / n_features, 2 * min_variance)
        above = int(np.sum(variances[:kept] > noise * edge))
        if above == kept:
            break
        kept = above
    return (
        mean,
        components[:kept].copy(),
        variances[:kept].copy(),
        np.float64(noise),
        feature_variances,
        *([covariance] if with_covariance else []),
    )


def _checked_n_samples(n_samples, n_features):
    if isinstance(n_samples, bool | np.bool_) or not isinstance(n_samples, Integral):
        raise InvalidParameterError(
            f"n_samples must be a positive integer, got {n_samples!r}."
        )
    if n_samples < 1:
        raise InvalidParameterError(
            f"n_samples must be a positive integer, got {n_samples!r}."
        )
    # The result must be addressable; memory runs out long before, with
    # numpy's MemoryError naming the size.
    largest = np.iinfo(np.intp).max // (8 * n_features)
    if n_samples > largest:
        raise InvalidParameterError(
            f"n_samples={n_samples} rows of {n_features} float64 features do not "
            f"fit in one array: at most {largest} can be returned. Call sample "
            "several times with fewer rows."
        )
    return int(n_samples)


def _tensors(module):
    return [*module.parameters(), *module.buffers()]


def _same_key(a, b):
    return (
        a[0] == b[0]
        and len(a[1]) == len(b[1])
        and all(
            ta is tb and va == vb for (ta, va), (tb, vb) in zip(a[1], b[1], strict=True)
        )
    )


def _nan_to_minus_inf(log_likelihood):
    # Scores are a finite number or -inf, never NaN. The known causes of NaN
    # are fixed where they arise; this catches rows so extreme that the
    # networks themselves overflow (inf - inf inside a layer).
    return torch.where(torch.isnan(log_likelihood), -math.inf, log_likelihood)


def _check_known_shape(X, estimator_name, method, axes):
    """Refuse a Dask array whose length along ``axes`` is unknown (the
    chunk sizes of a result of boolean indexing, for example)."""
    if X.ndim < 2 or not any(np.isnan(X.shape[axis]) for axis in axes):
        return
    needs = "its number of rows and columns" if len(axes) > 1 else "its columns"
    raise ValueError(
        f"X is a Dask array of unknown shape {X.shape}: "
        f"{estimator_name}.{method} needs {needs}. Call X.compute_chunk_sizes() "
        "first."
    )


def _spaced_rows(X, max_rows, block_size, device):
    """At most ``max_rows`` evenly spaced rows of X, as float32 batches on
    ``device`` (a :class:`~skvae._data.Rows`), never copying X whole."""
    step = -(-X.shape[0] // max_rows)
    if sp.issparse(X):
        return Rows(X[::step], device, np.float32)
    return Rows(
        RowSubset(X, np.arange(0, X.shape[0], step), block_size), device, np.float32
    )


def _checked_rows(rows, estimator):
    """Rows read from a chunked array, checked as ``validate_data`` checks
    data in memory: the same errors, in the same words."""
    return check_array(
        rows,
        accept_sparse="csr",
        dtype=FLOAT_DTYPES,
        ensure_all_finite="allow-nan",
        input_name="X",
        estimator=estimator,
    )


def _checked_domain(rows, estimator, likelihood, encoding=False):
    estimator._check_domain(rows, likelihood, encoding=encoding)
    return rows


def _checked_missing(rows, estimator):
    estimator._check_missing(rows)
    return rows


def _on_block(estimator, method, codes, block):
    """``estimator.<method>`` of one block of a Dask array, checked first."""
    if codes:
        block = check_array(block, dtype=FLOAT_DTYPES, input_name="X")
    else:
        block = _checked_rows(block, estimator)
        estimator._check_missing(block)
        estimator._check_domain(
            block, estimator.module_.likelihood, encoding=method == "_encode_rows"
        )
    with _BLOCK_LOCK:
        return getattr(estimator, method)(block)


def _missing_counts(X):
    """The missing values (NaN) in each column of validated X; a
    :class:`~skvae._stream.ChunkedArray` is counted in one pass over its
    chunks, each checked as it is read, never copied whole."""
    if isinstance(X, ChunkedArray):
        return X.missing_counts()
    return missing_counts(X, _block_rows(X))


def _listed(columns):
    """Column indices for a message: the first ten, then an ellipsis."""
    return ", ".join(map(str, columns[:10])) + (", ..." if columns.size > 10 else "")


def _check_float32_range(statistics, name):
    """Refuse training rows that their float32 copy, in which the model
    trains, cannot hold: values beyond float32's largest, or columns whose
    spread is below its rounding at their size (a column of 1e9 plus noise of
    standard deviation 1 is constant in float32, whose neighbouring values
    there lie 64 apart). ``statistics``: the float64 ``max_abs``, ``mean``
    and ``variance`` of each column."""
    largest = float(np.finfo(np.float32).max)
    beyond = np.flatnonzero(statistics.max_abs > largest)
    if beyond.size:
        raise ValueError(
            f"{name} trains in float32, whose largest value is {largest:.3g}, "
            f"but column(s) {_listed(beyond)} of X reach "
            f"{statistics.max_abs[beyond].max():.3g}. Scale the features (for "
            "example with sklearn.preprocessing.StandardScaler) before fitting."
        )
    with np.errstate(invalid="ignore"):
        spread = np.sqrt(np.asarray(statistics.variance, dtype=np.float64))
        size = np.abs(np.asarray(statistics.mean, dtype=np.float64))
        # A spread at float64's own rounding is no variation: such a column
        # is constant, as float32 makes it.
        real = spread > _FLOAT64_NOISE * size
        lost = np.flatnonzero(real & (spread < _FLOAT32_RESOLUTION * size))
    if lost.size:
        j = lost[0]
        raise ValueError(
            f"Column(s) {_listed(lost)} of X vary by less than a millionth of "
            f"their size (column {j}: mean {statistics.mean[j]:.8g}, standard "
            f"deviation {spread[j]:.3g}): in float32, in which {name} trains, "
            "that variation is lost to rounding. Subtract each column's mean "
            "first (for example with sklearn.preprocessing.StandardScaler)."
        )


def _check_finite_start(module, statistics, name):
    """Refuse a started model with a parameter beyond float32's range: the
    moments of columns of very large or very small values (a variance of
    1e40, or of 1e-60) leave it before training could begin."""
    tensors = [*module.parameters(), *module.buffers()]
    if all(bool(torch.isfinite(t).all()) for t in tensors):
        return
    worst = int(np.argmax(statistics.max_abs))
    raise ValueError(
        f"{name} could not start its model of X in float32, in which it "
        "trains: the means and variances of X's columns lie beyond float32's "
        "range (about 1e-38 to 3e38) or their ratios do (the largest value, "
        f"{statistics.max_abs[worst]:.3g}, is in column {worst}). Rescale the "
        "columns to values near 1 (for example divide each by its typical "
        "size) before fitting."
    )


def _check_categories_modelled(plan, categories, feature_names):
    """Refuse a plan that gives a category column of strings (read by its
    codes) a likelihood other than ``'categorical'``: its codes are labels,
    not measurements."""
    string_columns = {j for j, _ in categories}
    for name, columns, _ in plan:
        given = sorted(string_columns.intersection(columns))
        if name == "categorical" or not given:
            continue
        j = given[0]
        column = feature_names[j] if feature_names is not None else j
        raise ValueError(
            f"Column {column!r} is a category column of strings, which skvae "
            f"reads by its codes, but the likelihood plan gives it {name!r}, "
            "which would model the codes as measurements. Use "
            "likelihood='auto', which models it as 'categorical', or give it "
            f"('categorical', [{column!r}])."
        )


def _check_no_empty_column(missing, n_train, n_samples):
    """Refuse training rows in which a column has no observed value: nothing
    could be learned of it, not even its mean."""
    empty = np.flatnonzero(missing == n_train)
    if not empty.size:
        return
    held_out = ""
    if n_train < n_samples:
        held_out = (
            f" (of the {n_train} training rows left once early_stopping held "
            f"out {n_samples - n_train} for validation)"
        )
    raise ValueError(
        f"{empty.size} column(s) of X have no observed value: every entry is "
        f"missing (NaN){held_out}, in column(s) {_listed(empty)}. Nothing can be "
        "learned of such a column: drop it (skvae.VAEImputer does, unless "
        "keep_empty_features=True)."
    )


def _block_rows(X):
    """Rows of X per block of the statistics and the split: two float64
    copies of a block fit in the memory budget."""
    return fitting(16 * X.shape[1])


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
