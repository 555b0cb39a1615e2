"""Adam for the training loop: torch's fused update, called directly.

``torch.optim.Adam(fused=True)`` runs one kernel per step, but reaches it
through the generic optimizer's machinery (step hooks, profiler records,
parameter grouping, and the guards that keep ``torch.compile`` away), which on
the small networks of tabular data cost about as much as the kernel itself:
on a 64-column table's fold fits a tenth of each step. The first step also
imports ``torch._dynamo``, about a second in every new process (each worker
of a parallel grid search). :class:`FusedAdam` makes the same calls to the
same kernel: its parameters are bit for bit those of
``torch.optim.Adam(params, lr, fused=True)``, and its ``state_dict`` is in that
optimizer's format, so that either loads the other's.

:func:`adam` gives a :class:`FusedAdam` where the fused kernel runs for the
parameters' device and dtype, and ``torch.optim.Adam`` elsewhere.
"""

import torch

_BETAS = (0.9, 0.999)
_EPS = 1e-8
# The param_groups entry of torch.optim.Adam(params, lr, fused=True)'s
# state_dict, less lr and params.
_GROUP = {
    "betas": _BETAS,
    "eps": _EPS,
    "weight_decay": 0,
    "amsgrad": False,
    "maximize": False,
    "foreach": None,
    "capturable": False,
    "differentiable": False,
    "fused": True,
    "decoupled_weight_decay": False,
}


def adam(parameters, learning_rate, state=None):
    """An Adam optimizer over ``parameters`` at ``learning_rate``, continuing
    ``state`` (a ``state_dict`` of either kind) if given. The learning rate is
    ``learning_rate`` whatever the state says: continuing a fit at a new rate
    trains at the new rate."""
    parameters = list(parameters)
    if _fused_kernel_runs(parameters):
        optimizer = FusedAdam(parameters, learning_rate)
    else:
        try:
            optimizer = torch.optim.Adam(parameters, lr=learning_rate, fused=True)
        except (RuntimeError, TypeError, ValueError):
            optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    if state is not None:
        optimizer.load_state_dict(state)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
    return optimizer


def _fused_kernel_runs(parameters):
    """Whether ``torch._fused_adam_`` runs for these parameters: one device
    and one floating dtype, on which a trial update of a one-element tensor
    succeeds (CPU from torch 2.4, CUDA)."""
    if not parameters or not hasattr(torch, "_fused_adam_"):
        return False
    first = parameters[0]
    if not first.dtype.is_floating_point or any(
        p.device != first.device or p.dtype != first.dtype for p in parameters
    ):
        return False
    trial = [torch.zeros(1, device=first.device, dtype=first.dtype) for _ in range(4)]
    step = torch.zeros((), device=first.device, dtype=torch.float32)
    try:
        _fused_update([trial[0]], [trial[1]], [trial[2]], [trial[3]], [step], 1e-3)
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return True


def _fused_update(params, grads, exp_avgs, exp_avg_sqs, steps, lr):
    """One Adam step, in place: what torch.optim.Adam(fused=True) calls."""
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        [],
        steps,
        amsgrad=False,
        lr=lr,
        beta1=_BETAS[0],
        beta2=_BETAS[1],
        weight_decay=0.0,
        eps=_EPS,
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


class FusedAdam:
    """Adam (torch's defaults: betas 0.9 and 0.999, eps 1e-8, no weight decay)
    over parameters of one device and dtype, by torch's fused kernel.

    The interface the training loop uses: ``zero_grad``, ``step``,
    ``state_dict``, ``load_state_dict`` and ``param_groups`` (one group,
    whose ``"lr"`` may be changed between steps). As in torch, a parameter
    gets its moments at its first step with a gradient.
    """

    def __init__(self, parameters, lr):
        self.parameters = list(parameters)
        self.param_groups = [{"lr": lr, **_GROUP}]
        # Per parameter: (step, exp_avg, exp_avg_sq), or None before its
        # first step.
        self.state = [None] * len(self.parameters)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.zero_()

    def step(self):
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for i, p in enumerate(self.parameters):
            if p.grad is None:
                continue
            if self.state[i] is None:
                self.state[i] = (
                    torch.zeros((), dtype=torch.float32, device=p.device),
                    torch.zeros_like(p, memory_format=torch.preserve_format),
                    torch.zeros_like(p, memory_format=torch.preserve_format),
                )
            step, exp_avg, exp_avg_sq = self.state[i]
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(exp_avg)
            exp_avg_sqs.append(exp_avg_sq)
            steps.append(step)
        if params:
            with torch.no_grad():
                _fused_update(
                    params,
                    grads,
                    exp_avgs,
                    exp_avg_sqs,
                    steps,
                    self.param_groups[0]["lr"],
                )

    def state_dict(self):
        """In torch.optim.Adam's format: the tensors themselves, not copies."""
        state = {
            i: {"step": s[0], "exp_avg": s[1], "exp_avg_sq": s[2]}
            for i, s in enumerate(self.state)
            if s is not None
        }
        group = {**self.param_groups[0], "params": list(range(len(self.parameters)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict):
        """Continue from a state in torch.optim.Adam's format (copied onto the
        parameters' device and dtype, as torch does); its learning rate too."""
        groups = state_dict["param_groups"]
        indices = [i for group in groups for i in group["params"]]
        if len(groups) != 1 or indices != list(range(len(self.parameters))):
            raise ValueError(
                "The optimizer state does not match the model's parameters: "
                f"{len(indices)} saved in {len(groups)} group(s), "
                f"{len(self.parameters)} in the model."
            )
        group = groups[0]
        betas, eps = tuple(group.get("betas", _BETAS)), group.get("eps", _EPS)
        if (
            group.get("amsgrad")
            or group.get("weight_decay")
            or group.get("maximize")
            or betas != _BETAS
            or eps != _EPS
        ):
            raise ValueError(
                "The optimizer state is of an Adam with other settings than "
                f"this one runs (betas {_BETAS}, eps {_EPS}, no amsgrad, weight "
                "decay or maximize)."
            )
        states = [None] * len(self.parameters)
        for key, saved in state_dict["state"].items():
            p = self.parameters[int(key)]
            states[int(key)] = (
                torch.as_tensor(saved["step"], dtype=torch.float32)
                .reshape(())
                .to(p.device, copy=True),
                saved["exp_avg"].to(p.device, p.dtype, copy=True),
                saved["exp_avg_sq"].to(p.device, p.dtype, copy=True),
            )
        self.state = states
        self.param_groups = [{"lr": group["lr"], **_GROUP}]
