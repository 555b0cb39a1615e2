"""What a fit reports after each epoch: log records, and scikit-learn callbacks.

``verbose`` turns on one record per epoch on the logger ``"skvae"``: epoch k of
the epochs this call may train, the training loss, the validation score when
there is one, and the seconds the epoch took. ``verbose=0`` emits nothing.

Callbacks set with ``set_callbacks`` (scikit-learn's callback API, in
scikit-learn 1.9 and later) see the fit as one task with one subtask per epoch,
so that :class:`sklearn.callback.ProgressBar` shows a bar, nested inside a
``GridSearchCV`` or ``Pipeline`` one. A callback's request to stop is not
honoured (nor is it by scikit-learn's own ``LogisticRegression`` yet): the
stopping rule is ``tol`` and ``n_iter_no_change``.

The training loop calls the reporter once per epoch and knows nothing else
about it (``skvae._core.training.train``'s ``on_epoch_end``).
"""

import copy
import logging
import sys
import time
from contextlib import contextmanager

logger = logging.getLogger("skvae")


def epoch_reporter(estimator, X, max_epochs, module, device):
    """The ``on_epoch_end(epoch, loss, validation_score)`` of one training run.

    Returns None when nothing listens: ``verbose=0`` and no callbacks.
    """
    context = None
    if getattr(estimator, "_skl_callbacks", None):
        context = estimator._callback_fit_ctx
    if not estimator.verbose and context is None:
        return None
    return _EpochReporter(estimator, X, max_epochs, module, device, context)


class _EpochReporter:
    def __init__(self, estimator, X, max_epochs, module, device, context):
        self.estimator = estimator
        self.X = X
        self.max_epochs = max_epochs
        self.module = module
        self.device = device
        self.context = context
        self.name = type(estimator).__name__
        if context is not None:
            context.call_on_fit_task_begin(estimator=estimator, X=X)
        self.last_time = time.perf_counter()

    def __call__(self, epoch, loss, validation_score=None):
        now = time.perf_counter()
        seconds, self.last_time = now - self.last_time, now
        if self.estimator.verbose:
            self._log(epoch, loss, validation_score, seconds)
        if self.context is not None:
            self._call_callbacks()

    def _log(self, epoch, loss, validation_score, seconds):
        message = "%s: epoch %d/%d, loss %.6f"
        arguments = [self.name, epoch, self.max_epochs, loss]
        if validation_score is not None:
            message += ", validation score %.6f"
            arguments.append(validation_score)
        message += ", %.2f s"
        arguments.append(seconds)
        # The numbers also travel as attributes of the record, for handlers
        # that collect them rather than print them.
        extra = dict(
            epoch=epoch,
            max_epochs=self.max_epochs,
            loss=loss,
            validation_score=validation_score,
            seconds=seconds,
        )
        with _visible(logger):
            logger.info(message, *arguments, extra=extra)

    def _call_callbacks(self):
        epoch = self.context.subcontext(task_name="epoch")
        epoch.call_on_fit_task_begin(estimator=self.estimator, X=self.X)
        epoch.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            # Evaluated only if a callback asks for a fitted estimator.
            reconstruction_attributes=lambda: {
                "module_": copy.deepcopy(self.module).eval(),
                "device_": self.device,
            },
        )

    def finish(self):
        """End the fit's task, once the estimator holds its fitted attributes."""
        if self.context is not None:
            self.context.call_on_fit_task_end(
                estimator=self.estimator, X=self.X, reconstruction_attributes={}
            )


@contextmanager
def _visible(logger):
    """Make the record visible when logging is not configured.

    ``verbose`` asks for output, but an unconfigured ``logging`` drops INFO
    records. Where the logger's level is not set, it is INFO for the call;
    where no handler would receive the record, a plain one on stdout (where
    scikit-learn's ``verbose`` prints) does. A configured application keeps
    control: its levels and handlers are used as they are.
    """
    set_level = logger.level == logging.NOTSET
    handler = None
    if set_level:
        logger.setLevel(logging.INFO)
    if not logger.hasHandlers():
        handler = logging.StreamHandler(sys.stdout)
        logger.addHandler(handler)
    try:
        yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        if set_level:
            logger.setLevel(logging.NOTSET)
