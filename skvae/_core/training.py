"""The minibatch loop: batching, the optimizer, the KL warm-up, early stopping.

Training data is anything that supports ``len(data)`` and ``data[index]`` with
a CPU LongTensor or a slice, returning a float tensor on the model's device: a
tensor held in memory (the fast path: the permutation of an epoch is moved to
the tensor's device once, so that a batch on a GPU is a gather there), or a row
source that densifies one batch at a time. Data too large for memory come as a
stream: ``len(data)`` and ``data.shuffled_batches(batch_size, generator)``,
which serves one epoch's batches in an order drawn from ``generator``.
"""

import copy
import math
from dataclasses import dataclass, field

import torch

from .noise import n_draws
from .objectives import elbo, training_loss
from .scoring import importance_weighted_log_likelihood


@dataclass(frozen=True)
class TrainingSettings:
    """How :func:`train` trains: plain values, fixed for one call."""

    batch_size: int
    max_epochs: int
    tol: float
    n_iter_no_change: int
    # The KL weight, reached after warmup_steps optimizer steps counted from
    # the first call (start_step steps were taken before this one).
    beta: float = 1.0
    warmup_steps: int = 0
    start_step: int = 0
    # Seeds of the batch order (a CPU generator) and of the training noise (a
    # generator on the model's device).
    permutation_seed: int = 0
    noise_seed: int = 0
    # With validation data: the weight of each step's parameters in their
    # exponential moving average, which validation scores and fit returns.
    ema: float = 0.0
    # Without validation data: whether the moving average is returned too
    # (a run that trains on, on all rows, after validation chose the epochs).
    return_average: bool = False
    # Draws per row of the bound trained: 1 is the ELBO, more the
    # importance-weighted bound (the validation score is then that bound too).
    n_draws: int = 1
    # With validation data: while no epoch has beaten the start, training
    # stops only after this many steps too.
    start_patience_steps: int = 0
    # Whether the data has missing entries (NaN): decided once per fit, so
    # that no batch has to ask (on a GPU, asking waits for the device).
    missing: bool = False


@dataclass
class History:
    """What one call of :func:`train` did."""

    loss_curve: list = field(default_factory=list)
    # The loss's parts at each epoch, means over the rows: the reconstruction
    # log-likelihood and the KL term (unweighted), in nats per row.
    reconstruction_curve: list = field(default_factory=list)
    kl_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    n_epochs: int = 0
    n_steps: int = 0
    stopped_early: bool = False
    # With validation data: the score of the weights kept (the start's
    # included), in nats per row, and the epoch they are of (0: the start).
    best_validation_score: float = None
    best_epoch: int = 0


def beta_at(step, beta, warmup_steps):
    """KL weight at optimizer step ``step``: linear from 0 to ``beta``."""
    if step >= warmup_steps:
        return beta
    return beta * (step + 1) / warmup_steps


def train(
    model,
    optimizer,
    data,
    settings,
    *,
    validation_data=None,
    validation_noise=None,  # a function: rows -> their noise, as in elbo()
    on_epoch_end=None,  # called as on_epoch_end(epoch, loss, validation_score)
):
    """Train ``model`` for up to ``settings.max_epochs`` epochs over ``data``.

    Stopping follows scikit-learn's MLP: training stops when the monitored value
    (validation objective if ``validation_data`` is given, else the training
    loss) has not improved by ``tol`` for ``n_iter_no_change`` epochs. Epochs
    inside the KL warm-up never count, since their objective is not the final
    one. With validation data, the best weights are restored at the end;
    without, the moving average where ``settings.return_average`` asks.
    """
    device = next(model.parameters()).device
    generators = _Generators(
        permutation=torch.Generator().manual_seed(int(settings.permutation_seed)),
        noise=torch.Generator(device=device).manual_seed(int(settings.noise_seed)),
    )
    history = History(n_steps=settings.start_step)
    best = math.inf  # of the loss, or of minus the validation score
    best_state = None
    no_improvement = 0
    beta = settings.beta
    average = None
    if settings.ema and (validation_data is not None or settings.return_average):
        average = copy.deepcopy(model)
    validated = model if average is None else average
    if validation_data is not None:
        # The starting point competes too: a model that training cannot
        # improve on held-out data is returned as it started.
        best = -_validation_score(validated, validation_data, validation_noise, beta)
        best_state = copy.deepcopy(validated.state_dict())
    for epoch in range(settings.max_epochs):
        model.train()
        loss, reconstruction, kl = _run_epoch(
            model, optimizer, data, settings, generators, history, average
        )
        _check_finite("loss", loss, epoch)
        history.loss_curve.append(loss)
        history.reconstruction_curve.append(reconstruction)
        history.kl_curve.append(kl)
        history.n_epochs += 1
        monitored = loss
        if average is not None:
            # Statistics a family keeps (REINFORCE's baseline) are not averaged.
            for kept, current in zip(average.buffers(), model.buffers(), strict=True):
                kept.copy_(current)
        if validation_data is not None:
            score = _validation_score(
                validated, validation_data, validation_noise, beta
            )
            # Restoring the best weights would hide the divergence.
            _check_finite("validation score", score, epoch)
            history.validation_scores.append(score)
            monitored = -score
        if on_epoch_end is not None:
            scores = history.validation_scores
            on_epoch_end(epoch + 1, loss, scores[-1] if scores else None)
        if history.n_steps < settings.warmup_steps:
            continue
        no_improvement = no_improvement + 1 if monitored > best - settings.tol else 0
        if monitored < best:
            best = monitored
            history.best_epoch = epoch + 1
            if validation_data is not None:
                best_state = copy.deepcopy(validated.state_dict())
        if no_improvement > settings.n_iter_no_change and not (
            history.best_epoch == 0
            and history.n_steps - settings.start_step < settings.start_patience_steps
        ):
            history.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
        history.best_validation_score = -best
    elif average is not None:
        model.load_state_dict(average.state_dict())
    return history


@dataclass(frozen=True)
class _Generators:
    permutation: torch.Generator
    noise: torch.Generator


def _check_finite(name, value, epoch):
    if not math.isfinite(value):
        raise ValueError(
            f"Training diverged: the {name} is {value} at epoch {epoch + 1}. "
            "Scale the features (for example with StandardScaler) or lower "
            "learning_rate."
        )


def _validation_score(model, data, noise, beta):
    """Mean beta-ELBO of the validation rows, in nats per row, or the
    importance-weighted bound where ``noise`` makes more than one draw."""
    model.eval()

    def score(x):
        draws = noise(x)
        if n_draws(draws) > 1:
            return importance_weighted_log_likelihood(model, x, draws, every_row=False)
        return elbo(model, x, draws, beta)

    return evaluate(score, data).mean().item()


def _run_epoch(model, optimizer, data, settings, generators, history, average=None):
    """One pass over ``data``: the mean loss, reconstruction and KL per row.
    ``average``, if given, follows the parameters' moving average."""
    if average is not None:
        averaged = [p.data for p in average.parameters()]
        current = [p.data for p in model.parameters()]
    n_samples = len(data)
    totals = torch.zeros(3, device=generators.noise.device)
    for x in _shuffled_batches(data, settings.batch_size, generators.permutation):
        beta = beta_at(history.n_steps, settings.beta, settings.warmup_steps)
        observed = ~torch.isnan(x) if settings.missing else None
        loss, reconstruction, kl = training_loss(
            model, x, beta, generators.noise, observed, settings.n_draws
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if average is not None:
            torch._foreach_lerp_(averaged, current, settings.ema)
        history.n_steps += 1
        totals += torch.stack([loss.detach(), reconstruction, kl]) * x.shape[0]
    # Divided as Python floats: the loss curve is the float32 sum over
    # batches, divided in float64.
    loss, reconstruction, kl = (total / n_samples for total in totals.tolist())
    return loss, reconstruction, kl


def _shuffled_batches(data, batch_size, generator):
    """One epoch's batches of ``data``, in an order drawn from ``generator``."""
    if hasattr(data, "shuffled_batches"):
        yield from data.shuffled_batches(batch_size, generator)
        return
    order = torch.randperm(len(data), generator=generator)
    if isinstance(data, torch.Tensor):
        order = order.to(data.device)
    for start in range(0, len(data), batch_size):
        yield data[order[start : start + batch_size]]


@torch.no_grad()
def evaluate(function, data, batch_size=1024):
    """Apply ``function`` to ``data`` in batches; the result is on the CPU."""
    return torch.cat(
        [
            function(data[start : start + batch_size]).cpu()
            for start in range(0, len(data), batch_size)
        ]
    )
