"""FGSM and PGD against torchattacks; the registry contract; model state restored, also on exceptions."""

import pytest
import torch
import torchattacks
from robust_nets import TinyNet
from torch import nn

from cnnlab import robust


def _batch(digits_data, n=64):
    _, _, x, y = digits_data
    return x[:n], y[:n]


@pytest.mark.parametrize("eps", [0.03, 0.1])
def test_fgsm_equals_torchattacks_exactly(digits_net, digits_data, eps):
    x, y = _batch(digits_data)
    ours = robust.fgsm(digits_net, x, y, eps=eps)
    ref = torchattacks.FGSM(digits_net, eps=eps)(x, y)
    assert torch.equal(ours, ref)


def test_targeted_fgsm_equals_torchattacks(digits_net, digits_data):
    x, y = _batch(digits_data)
    target = (y + 1) % 10
    ours = robust.fgsm(digits_net, x, y, eps=0.1, target=target)
    atk = torchattacks.FGSM(digits_net, eps=0.1)
    atk.set_mode_targeted_by_label(quiet=True)
    assert torch.equal(ours, atk(x, target))


def _acc(net, x, y):
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize("norm, eps, alpha, cls",
                         [("linf", 0.1, 0.02, torchattacks.PGD), ("l2", 1.0, 0.25, torchattacks.PGDL2)])
def test_pgd_matches_torchattacks_seeded_the_same(digits_net, digits_data, norm, eps, alpha, cls):
    x, y = _batch(digits_data, 128)
    torch.manual_seed(3)
    ours = robust.pgd(digits_net, x, y, eps=eps, alpha=alpha, steps=10, norm=norm)
    torch.manual_seed(3)
    ref = cls(digits_net, eps=eps, alpha=alpha, steps=10)(x, y)
    acc_ours, acc_ref = _acc(digits_net, ours, y), _acc(digits_net, ref, y)
    assert abs(acc_ours - acc_ref) <= 0.01
    assert acc_ours < _acc(digits_net, x, y) - 0.2  # the attack does something
    assert (ours - ref).abs().max() < 1e-5  # same random start, same steps: the same images up to rounding


def test_targeted_pgd_matches_torchattacks(digits_net, digits_data):
    x, y = _batch(digits_data)
    target = torch.full_like(y, 3)
    torch.manual_seed(1)
    ours = robust.pgd(digits_net, x, y, eps=0.2, alpha=0.03, steps=10, target=3)
    atk = torchattacks.PGD(digits_net, eps=0.2, alpha=0.03, steps=10)
    atk.set_mode_targeted_by_label(quiet=True)
    torch.manual_seed(1)
    ref = atk(x, target)
    hit = lambda a: float((digits_net(a).argmax(1) == 3).float().mean())  # noqa: E731
    with torch.no_grad():
        assert abs(hit(ours) - hit(ref)) <= 0.02 and hit(ours) > 0.5


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("l2", 0.8)])
def test_pgd_stays_in_the_ball_and_the_box(digits_net, digits_data, norm, eps):
    x, y = _batch(digits_data, 32)
    adv = robust.pgd(digits_net, x, y, eps=eps, steps=5, norm=norm, restarts=2)
    d = (adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert (size <= eps + 1e-5).all() and adv.min() >= 0 and adv.max() <= 1


def test_restarts_never_do_worse_than_their_first_run(digits_net, digits_data):
    x, y = _batch(digits_data, 128)
    g = torch.Generator().manual_seed(5)
    one = robust.pgd(digits_net, x, y, eps=0.06, steps=3, generator=g)
    g = torch.Generator().manual_seed(5)
    four = robust.pgd(digits_net, x, y, eps=0.06, steps=3, restarts=4, generator=g)
    fooled_one = digits_net(one).argmax(1) != y
    fooled_four = digits_net(four).argmax(1) != y
    assert (fooled_four | ~fooled_one).all()  # every image fooled by the first run stays fooled
    assert fooled_four.sum() >= fooled_one.sum()


def test_generator_makes_pgd_reproducible(digits_net, digits_data):
    x, y = _batch(digits_data, 16)
    a = robust.pgd(digits_net, x, y, eps=0.1, steps=2, generator=torch.Generator().manual_seed(7))
    b = robust.pgd(digits_net, x, y, eps=0.1, steps=2, generator=torch.Generator().manual_seed(7))
    c = robust.pgd(digits_net, x, y, eps=0.1, steps=2, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_pgd_with_zero_steps_and_no_start_is_the_identity(digits_net, digits_data):
    x, y = _batch(digits_data, 8)
    assert torch.equal(robust.pgd(digits_net, x, y, eps=0.1, steps=0, random_start=False), x)


OPTIONS = {"fgsm": {"eps": 0.1}, "pgd": {"eps": 0.1, "steps": 2}, "onepixel": {"popsize": 8, "steps": 2}}


def test_every_attack_has_test_options():
    assert set(robust.names()) == set(OPTIONS)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_registry_contract_and_state_restored(name):
    net = TinyNet()
    net.train()
    net.bn.eval()  # a mixed-mode model must come back mixed
    net.fc.weight.requires_grad_(False)
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    adv = robust.get(name)(net, x, y, **OPTIONS[name])
    assert adv.shape == x.shape and adv.dtype == x.dtype and torch.isfinite(adv).all()
    assert adv.min() >= 0 and adv.max() <= 1
    assert net.training and not net.bn.training and net.drop.training
    assert not net.fc.weight.requires_grad and net.conv1.weight.requires_grad
    assert all(p.grad is None for p in net.parameters())  # only the input gradient was computed
    assert not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in net.modules())
    r = robust.run_attack(name, net, x, y, **OPTIONS[name])
    assert r.success.dtype == torch.bool and r.success.shape == (6,)
    assert torch.equal(r.success, r.adv_pred != y) and net.training


class Boom(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = TinyNet()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("boom")
        return self.net(x)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_state_restored_when_the_model_raises(name):
    net = Boom().train()
    flags = [p.requires_grad for p in net.parameters()]
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    net.calls = 1  # the first forward inside the attack raises
    with pytest.raises(RuntimeError, match="boom"):
        robust.get(name)(net, x, y, **OPTIONS[name])
    assert net.training and all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.parameters()] == flags


def test_eval_mode_false_keeps_train_mode_during_the_attack():
    net = TinyNet().train()
    seen = []
    h = net.bn.register_forward_pre_hook(lambda m, i: seen.append(m.training))
    try:
        robust.fgsm(net, torch.rand(4, 1, 8, 8), torch.zeros(4).long(), eps=0.1, eval_mode=False)
        robust.fgsm(net, torch.rand(4, 1, 8, 8), torch.zeros(4).long(), eps=0.1)
    finally:
        h.remove()
    assert seen == [True, False]


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": 3.0}, "eps must be in [0, 1], got 3.0"),
    ({"eps": -0.1, "norm": "l2"}, "eps must be a number >= 0, got -0.1"),
    ({"eps": 0.1, "norm": "l3"}, "norm must be 'linf' or 'l2'"),
    ({"eps": 0.1, "steps": -1}, "steps must be"),
    ({"eps": 0.1, "restarts": 0}, "restarts must be"),
    ({"eps": 0.1, "target": torch.zeros(3).long()}, "target must be an integer Tensor"),
])
def test_bad_arguments_raise_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        robust.pgd(TinyNet(), torch.rand(4, 1, 8, 8), torch.zeros(4).long(), **kwargs)


def test_images_outside_the_unit_box_are_refused():
    with pytest.raises(ValueError, match=r"images must be pixels in \[0, 1\], got values in .*0\.\.255 pixels"):
        robust.fgsm(TinyNet(), torch.rand(2, 1, 8, 8) * 255, torch.zeros(2).long())
    with pytest.raises(ValueError, match="labels must be an integer"):
        robust.fgsm(TinyNet(), torch.rand(2, 1, 8, 8), torch.zeros(2))


def test_norms_against_a_loop():
    x = torch.rand(3, 3, 5, 5)
    adv = x.clone()
    adv[0, :, 1, 2] += 0.1
    adv[1, 0, 0, 0] -= 0.3
    adv[1, 2, 4, 4] += 0.2
    linf, l2, l0 = robust.perturbation_norms(x, adv)
    for i in range(3):
        d = adv[i] - x[i]
        assert linf[i] == pytest.approx(float(d.abs().max()), abs=1e-6)
        assert l2[i] == pytest.approx(float(d.pow(2).sum().sqrt()), abs=1e-6)
        assert int(l0[i]) == sum(bool((d[:, r, c].abs() > 1e-6).any()) for r in range(5) for c in range(5))
    assert l0.tolist() == [1, 2, 0]
