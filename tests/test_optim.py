"""The training loop's Adam: torch's fused update, without torch.optim's
per-step machinery, and the learning rate a continued fit trains at."""

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from skvae import GaussianVAE
from skvae._core.optim import FusedAdam, _fused_kernel_runs, adam


def _networks():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3)
    )
    # A layer that never gets a gradient: no state, as in torch.
    unused = torch.nn.Linear(2, 2)
    return net, unused


def _train(net, optimizer, n_steps, seed=1):
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(seed))
    for _ in range(n_steps):
        optimizer.zero_grad(set_to_none=True)
        net(x).pow(2).mean().backward()
        optimizer.step()


def _torch_fused(parameters, lr):
    try:
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        pytest.skip("this torch has no fused Adam for the CPU")


def test_it_is_torch_fused_adam_bit_for_bit_and_in_its_state_format():
    net, unused = _networks()
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    ua, ub = copy.deepcopy(unused), copy.deepcopy(unused)
    reference = _torch_fused([*a.parameters(), *ua.parameters()], 3e-3)
    ours = adam([*b.parameters(), *ub.parameters()], 3e-3)
    assert isinstance(ours, FusedAdam)
    _train(a, reference, 25)
    _train(b, ours, 25)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    expected, got = reference.state_dict(), ours.state_dict()
    assert got["param_groups"] == expected["param_groups"]
    assert sorted(got["state"]) == sorted(expected["state"]) == [0, 1, 2, 3]
    for i, saved in expected["state"].items():
        assert saved.keys() == got["state"][i].keys()
        for name, tensor in saved.items():
            assert torch.equal(tensor, got["state"][i][name])
            assert tensor.dtype == got["state"][i][name].dtype


@pytest.mark.parametrize("direction", ["torch to ours", "ours to torch"])
def test_each_continues_from_the_others_state_as_from_its_own(direction):
    net, _ = _networks()
    first = copy.deepcopy(net)
    start = (
        _torch_fused(first.parameters(), 1e-2)
        if direction == "torch to ours"
        else adam(first.parameters(), 1e-2)
    )
    _train(first, start, 10)
    state = copy.deepcopy(start.state_dict())
    continued, reference = copy.deepcopy(first), copy.deepcopy(first)
    other = (
        adam(continued.parameters(), 1e-2, state)
        if direction == "torch to ours"
        else _torch_fused(continued.parameters(), 1e-2)
    )
    if direction == "ours to torch":
        other.load_state_dict(state)
    # The reference continues the first optimizer itself.
    start_copy = (
        _torch_fused(reference.parameters(), 1e-2)
        if direction == "torch to ours"
        else adam(reference.parameters(), 1e-2)
    )
    start_copy.load_state_dict(state)
    _train(continued, other, 10, seed=2)
    _train(reference, start_copy, 10, seed=2)
    for p, q in zip(continued.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)
    # Without the state, the continuation differs: the test can fail.
    fresh = copy.deepcopy(first)
    _train(fresh, adam(fresh.parameters(), 1e-2), 10, seed=2)
    assert not torch.equal(next(fresh.parameters()), next(continued.parameters()))


def test_a_state_of_other_settings_or_parameters_is_refused():
    net, _ = _networks()
    reference = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=0.1)
    _train(net, reference, 2)
    with pytest.raises(ValueError, match="other settings"):
        FusedAdam(net.parameters(), 1e-3).load_state_dict(reference.state_dict())
    ours = adam(net.parameters(), 1e-3)
    _train(net, ours, 2)
    with pytest.raises(ValueError, match="does not match the model's parameters"):
        FusedAdam(list(net.parameters())[:2], 1e-3).load_state_dict(ours.state_dict())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_continued_fit_trains_at_the_learning_rate_it_is_given():
    # torch.optim's load_state_dict restores the saved learning rate: a
    # warm-started or partial fit at a new rate trained at the old one.
    X = np.random.RandomState(0).randn(200, 4)
    params = dict(n_components=2, early_stopping=False, random_state=0)
    model = GaussianVAE(max_iter=3, warm_start=True, **params).fit(X)
    before = copy.deepcopy(model)
    model.set_params(learning_rate=0.05, max_iter=1).fit(X)
    assert model._optimizer_state["param_groups"][0]["lr"] == 0.05
    old_rate = copy.deepcopy(before).set_params(max_iter=1).fit(X)
    assert not np.allclose(model.loss_curve_[-1], old_rate.loss_curve_[-1])
    model.set_params(learning_rate=0.02).partial_fit(X)
    assert model._optimizer_state["param_groups"][0]["lr"] == 0.02


def test_a_fit_does_not_import_torch_dynamo():
    # torch.optim's first step imports torch._dynamo: about a second of every
    # new process (each worker of a parallel search). A fresh interpreter
    # tells whether a fit still pays it.
    code = (
        "import sys, numpy as np, torch\n"
        "before = 'torch._dynamo' in sys.modules\n"
        "from skvae import GaussianVAE\n"
        "X = np.random.RandomState(0).randn(100, 3)\n"
        "GaussianVAE(n_components=1, max_iter=2, random_state=0).fit(X)\n"
        "print(before, 'torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = result.stdout.split()
    if before == "True":
        pytest.skip("this torch imports torch._dynamo on import")
    if not _fused_kernel_runs([torch.zeros(1)]):
        pytest.skip("no fused Adam for the CPU in this torch: torch.optim trains")
    assert after == "False"
