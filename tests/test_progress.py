"""Progress: verbose reports through logging, and scikit-learn's callbacks."""

import logging
import re
import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skvae import AutoencoderGMM, BernoulliVAE, GaussianVAE

FAST = dict(
    hidden_layer_sizes=(8,),
    max_iter=3,
    n_importance_samples=2,
    device="cpu",
    random_state=0,
    early_stopping=False,
)
# An epoch's line: estimator, epoch k of n, loss, optional validation score, time.
LINE = re.compile(
    r"(GaussianVAE|BernoulliVAE|AutoencoderGMM): epoch (\d+)/(\d+), "
    r"loss -?\d+\.\d{6}(, validation score -?\d+\.\d{6})?, \d+\.\d\d s"
)


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


def test_verbose_zero_emits_nothing(digits, caplog, capsys):
    caplog.set_level(logging.DEBUG, logger="skvae")
    _fit(GaussianVAE(2, **FAST), digits[0][:100])
    assert not caplog.records
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("Estimator", [GaussianVAE, BernoulliVAE, AutoencoderGMM])
def test_verbose_logs_each_epoch_on_the_skvae_logger(digits, caplog, Estimator):
    caplog.set_level(logging.INFO, logger="skvae")
    model = _fit(Estimator(2, verbose=1, **FAST), digits[0][:100])
    records = [r for r in caplog.records if r.name == "skvae"]
    assert len(records) == model.n_iter_ == 3
    for k, record in enumerate(records, start=1):
        match = LINE.fullmatch(record.getMessage())
        assert match, record.getMessage()
        assert match.group(1) == Estimator.__name__
        assert (int(match.group(2)), int(match.group(3))) == (k, 3)
        assert match.group(4) is None
        # The numbers travel with the record, for handlers that collect them.
        assert (record.epoch, record.max_epochs) == (k, 3)
        assert record.loss == model.loss_curve_[k - 1]
        assert record.validation_score is None and record.seconds >= 0


def test_verbose_reports_the_validation_score(digits, caplog):
    caplog.set_level(logging.INFO, logger="skvae")
    model = _fit(
        GaussianVAE(2, verbose=1, **{**FAST, "early_stopping": True}), digits[0][:100]
    )
    scores = [r.validation_score for r in caplog.records if r.name == "skvae"]
    assert scores == model.validation_scores_
    assert all("validation score" in r.getMessage() for r in caplog.records)


def test_verbose_prints_when_logging_is_not_configured(digits, capsys, monkeypatch):
    # No handler above the logger: as in a script that never configures logging
    # (pytest's own capture handler sits on the root logger).
    logger = logging.getLogger("skvae")
    monkeypatch.setattr(logger, "propagate", False)
    _fit(GaussianVAE(2, verbose=1, **FAST), digits[0][:100])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(LINE.fullmatch(line) for line in lines)
    # Nothing is left behind on the logger.
    assert not logger.handlers and logger.level == logging.NOTSET


def test_partial_fit_reports_its_one_epoch(digits, caplog):
    caplog.set_level(logging.INFO, logger="skvae")
    GaussianVAE(2, verbose=1, **FAST).partial_fit(digits[0][:100])
    (record,) = caplog.records
    assert (record.epoch, record.max_epochs) == (1, 1)


class Recorder:
    """A scikit-learn fit callback that records the tasks it sees."""

    def __init__(self):
        self.events = []
        self.codes = []

    def setup(self, estimator, context):
        self.events.append("setup")

    def teardown(self, estimator, context):
        self.events.append("teardown")

    def on_fit_task_begin(self, estimator, context, *, X=None):
        self.events.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, *, X=None, fitted_estimator=None):
        self.events.append(("end", context.task_name))
        if context.task_name == "epoch":
            # The model as it is after this epoch, ready to transform.
            self.codes.append(fitted_estimator.transform(X[:5]))


def test_callbacks_see_one_task_per_epoch(digits):
    pytest.importorskip("sklearn.callback")
    X = digits[0][:100]
    recorder = Recorder()
    model = _fit(GaussianVAE(2, **FAST).set_callbacks(recorder), X)
    epochs = [("begin", "epoch"), ("end", "epoch")] * model.n_iter_
    assert recorder.events == [
        "setup",
        ("begin", "fit"),
        *epochs,
        ("end", "fit"),
        "teardown",
    ]
    # The last epoch's model is the fitted one; the first differs from it.
    np.testing.assert_allclose(recorder.codes[-1], model.transform(X[:5]), atol=1e-6)
    assert not np.allclose(recorder.codes[0], recorder.codes[-1])
    # Callbacks are torn down after a failed fit too, and the model is unchanged.
    recorder.events.clear()
    with pytest.raises(ValueError):
        model.partial_fit(X[:, :10])
    assert recorder.events[0] == "setup" and recorder.events[-1] == "teardown"
    np.testing.assert_allclose(recorder.codes[-1], model.transform(X[:5]), atol=1e-6)


def test_progress_bar_inside_a_grid_search(digits):
    callback = pytest.importorskip("sklearn.callback")
    pytest.importorskip("rich")
    search = GridSearchCV(
        GaussianVAE(**FAST), {"n_components": [1, 2]}, cv=2
    ).set_callbacks(callback.ProgressBar(max_propagation_depth=None))
    _fit(search, digits[0][:100])
    assert search.best_params_["n_components"] in (1, 2)
