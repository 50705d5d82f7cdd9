"""Optimiser parameter groups (``TrainConfig.lr_multipliers``) and precise BN (``bn_recalibrate``) in ``fit``:
each group's rate at every step against torch optimisers and schedulers built by hand, frozen parameters,
validation, resume."""

from __future__ import annotations

import copy
import json
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F
from _train_helpers import cfg as base_cfg
from _train_helpers import tiny_data
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from cnnlab import models, train
from cnnlab.train import TrainConfig


def cfg(**kw):
    return base_cfg(**{"batch_size": 16, **kw})


@contextmanager
def record_steps():
    """Every optimiser step taken inside the block: (the optimiser, {parameter id: lr of its group})."""
    seen: list[tuple[torch.optim.Optimizer, dict[int, float]]] = []

    def hook(opt, args, kwargs):
        seen.append((opt, {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}))

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


# the groups of lenet5 under MULTS: features.0 (longest prefix, 2.0), features.3/6 (0.1), classifier (unmatched, 1.0)
MULTS = {"features": 0.1, "features.0": 2.0}


def _oracle_groups(net, lr):
    named = dict(net.named_parameters())
    first = [p for n, p in named.items() if n.startswith("features.0.")]
    rest = [p for n, p in named.items() if n.startswith("features.") and not n.startswith("features.0.")]
    head = [p for n, p in named.items() if n.startswith("classifier.")]
    return [{"params": first, "lr": lr * 2.0}, {"params": rest, "lr": lr * 0.1}, {"params": head, "lr": lr}]


def _oracle_scheduler(opt, schedule, c, total, per_epoch):
    if schedule == "none":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    if schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=c.step_epochs * per_epoch, gamma=c.step_gamma)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total,
                                               pct_start=c.warmup_fraction, cycle_momentum=False)


@pytest.mark.parametrize("schedule", ["none", "step", "cosine", "onecycle"])
def test_each_group_gets_its_rate_at_every_step_like_torch(schedule):
    d = tiny_data(64)
    c = cfg(epochs=3, schedule=schedule, lr_multipliers=MULTS, momentum=0.9, step_epochs=1, step_gamma=0.5,
            warmup_fraction=0.3)
    per_epoch, total = 4, 12
    net = models.create("lenet5")
    ref = copy.deepcopy(net)
    with record_steps() as seen:
        hist = train.fit(net, d, None, c)
    assert len(seen) == total and len({id(o) for o, _ in seen}) == 1

    # the oracle: torch's SGD over hand-made groups, torch's scheduler, the same batches
    opt = torch.optim.SGD(_oracle_groups(ref, c.lr), lr=c.lr, momentum=0.9)
    sched = _oracle_scheduler(opt, schedule, c, total, per_epoch)
    ref_names = {id(p): n for n, p in ref.named_parameters()}
    fit_names = {id(p): n for n, p in net.named_parameters()}
    end_of_epoch_head_lr = []
    for step in range(total):
        want = {ref_names[id(p)]: g["lr"] for g in opt.param_groups for p in g["params"]}
        got = {fit_names[i]: lr for i, lr in seen[step][1].items()}
        assert set(got) == set(want) == set(fit_names.values())
        for name, lr in want.items():
            assert got[name] == pytest.approx(lr, rel=1e-9, abs=1e-15), (step, name)
        epoch, s = divmod(step, per_epoch)
        idx = train.epoch_order(len(d), c.seed, epoch)[s * c.batch_size:(s + 1) * c.batch_size]
        loss = F.cross_entropy(ref(d.images[idx].float() / 255), d.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if s == per_epoch - 1:
            end_of_epoch_head_lr.append(opt.param_groups[2]["lr"])
    # three rates really were used: the groups differ (except where the schedule is at 0)
    assert len({round(lr, 12) for lr in seen[1][1].values()}) == 3
    for (k, a), b in zip(net.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    # History.lr is the rate of multiplier 1 at each epoch's end (after the run's last step OneCycleLR goes on
    # extrapolating its cosine where lr_factor stays at the final rate: compare the epochs before)
    assert [r.lr for r in hist.rows[:-1]] == pytest.approx(end_of_epoch_head_lr[:-1], rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_frozen_parameters_are_not_optimised_and_do_not_change(optimizer):
    d = tiny_data(32)
    net = models.create("lenet5")
    for p in net.features.parameters():
        p.requires_grad_(False)
    before = copy.deepcopy(net.state_dict())
    with record_steps() as seen:
        train.fit(net, d, None, cfg(epochs=2, optimizer=optimizer, weight_decay=0.1,
                                    lr_multipliers={"features": 0.5}))
    trainable = {id(p) for p in net.classifier.parameters()}
    assert seen and all(set(lrs) == trainable for _, lrs in seen)
    opt = seen[0][0]
    assert sum(len(g["params"]) for g in opt.param_groups) == len(trainable) and len(opt.param_groups) == 1
    after = net.state_dict()
    for k in before:
        assert torch.equal(before[k], after[k]) == k.startswith("features."), k

    for p in net.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        train.fit(net, d, None, cfg())


def test_lr_groups_longest_prefix_on_dot_boundaries():
    net = nn.ModuleDict({"features": nn.Linear(2, 2), "features2": nn.Linear(2, 2),
                         "head": nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))})
    by_name = {id(p): n for n, p in net.named_parameters()}

    def rates(mults):
        return {by_name[id(p)]: g["lr"] for g in train.lr_groups(net, TrainConfig(lr=1.0, lr_multipliers=mults))
                for p in g["params"]}

    def per_module(**lrs):
        return {f"{m}.{w}": lr for m, lr in lrs.items() for w in ("weight", "bias")}

    assert rates({"features": 0.1}) == per_module(features=0.1, features2=1.0, **{"head.0": 1.0, "head.1": 1.0})
    assert rates({"": 0.5, "head": 2.0, "head.1": 0.0}) == per_module(features=0.5, features2=0.5,
                                                                       **{"head.0": 2.0, "head.1": 0.0})
    want = per_module(features=1.0, features2=1.0, **{"head.0": 1.0, "head.1": 1.0}) | {"head.0.weight": 3.0}
    assert rates({"head.0.weight": 3.0}) == want  # a whole parameter name is a key too
    groups = train.lr_groups(net, TrainConfig(lr=1.0, lr_multipliers={"head.0.weight": 3.0}))
    assert [g["lr"] for g in groups] == [1.0, 3.0] and len(groups[1]["params"]) == 1  # in order of appearance
    with pytest.raises(ValueError, match="key 'feature' matches no parameter"):
        train.lr_groups(net, TrainConfig(lr_multipliers={"feature": 0.1}))
    with pytest.raises(ValueError, match="pass the model"):
        train.build_optimizer(net.parameters(), TrainConfig(lr_multipliers={"head": 0.1}))
    plain = train.build_optimizer(net.parameters(), TrainConfig(lr=0.3))  # unchanged without multipliers
    assert len(plain.param_groups) == 1 and plain.param_groups[0]["lr"] == 0.3


def test_lr_multipliers_validate_and_round_trip_json():
    c = TrainConfig(lr_multipliers={"features": 0.1, "": 1, "fc": 0.0}, bn_recalibrate=256)
    assert TrainConfig.from_json(json.loads(json.dumps(c.to_json()))) == c
    assert TrainConfig.from_json({k: v for k, v in c.to_json().items() if k != "lr_multipliers"}).lr_multipliers == {}
    d = c.replace(lr=0.1)
    d.lr_multipliers["features"] = 0.5
    assert c.lr_multipliers["features"] == 0.1  # replace() copies the dict
    for bad, message in [(["features"], "must be a dict"), ({1: 0.1}, "keys must be module-name prefixes"),
                         ({"fc": -0.1}, r"lr_multipliers\['fc'\] must be a number >= 0, got -0.1"),
                         ({"fc": "0.1"}, "must be a number"), ({"fc": True}, "must be a number"),
                         ({"fc": float("nan")}, "must be a number")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(lr_multipliers=bad)
    with pytest.raises(ValueError, match="bn_recalibrate must be a non-negative integer"):
        TrainConfig(bn_recalibrate=-1)


def test_precise_bn_before_validation():
    d, val = tiny_data(64), tiny_data(32, seed=1)
    c = cfg(epochs=2, bn_recalibrate=48)
    torch.manual_seed(3)
    net = models.create("resnet_small", widths=(4, 8, 8))
    hist = train.fit(net, d, val, c)
    # the running statistics are those of the first 48 training images under the final weights
    again = copy.deepcopy(net)
    assert train.recalibrate_bn(again, d.images[:48], batch_size=c.batch_size) > 0
    for (k, a), b in zip(net.state_dict().items(), again.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=k)
    assert hist.rows[-1].val_acc == pytest.approx(train.evaluate(net, val).accuracy)
    # without it the running statistics are momentum averages over training, not the final weights' statistics
    plain = models.create("resnet_small", widths=(4, 8, 8))
    plain.load_state_dict(net.state_dict())
    train.fit(plain, d, val, c.replace(bn_recalibrate=0, epochs=1))
    calibrated = copy.deepcopy(plain)
    train.recalibrate_bn(calibrated, d.images[:48], batch_size=c.batch_size)
    assert not torch.allclose(plain.bn1.running_var, calibrated.bn1.running_var, rtol=1e-3)


class _Boom(RuntimeError):
    pass


def test_resume_with_groups_frozen_blocks_and_precise_bn_is_bit_identical(tmp_path):
    d, val = tiny_data(128), tiny_data(32, seed=1)
    c = cfg(epochs=2, batch_size=16, schedule="onecycle", optimizer="adamw", lr=1e-2, weight_decay=1e-3,
            hflip=True, checkpoint_every=3, bn_recalibrate=40, lr_multipliers={"": 0.1, "fc": 1.0, "layer3": 0.5})

    def build():
        net = models.create("resnet_small", widths=(4, 8, 8))
        for p in net.layer1.parameters():
            p.requires_grad_(False)
        return net

    torch.manual_seed(1)
    full = build()
    start = copy.deepcopy(full.state_dict())
    train.fit(full, d, val, c.replace(out_dir=str(tmp_path / "a")))

    calls = {"n": 0}

    def crash_at_step_13(model, images, labels):  # dies in epoch 2 (8 steps per epoch), after step 11
        calls["n"] += 1
        if calls["n"] == 13:
            raise _Boom
        return images

    part = build()
    part.load_state_dict(start)
    with pytest.raises(_Boom):
        train.fit(part, d, val, c.replace(out_dir=str(tmp_path / "b")), perturb=crash_at_step_13)
    assert train.latest_state_dir(tmp_path / "b").name == "step-00000011"
    again = build()  # fresh weights: all comes from the checkpoint
    hist = train.fit(again, d, val, c.replace(out_dir=str(tmp_path / "b")), resume=True)
    assert [r.epoch for r in hist.rows] == [1, 2] and hist.steps == 16
    for (k, a), b in zip(full.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    for k, v in start.items():
        if k.startswith("layer1.") and not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(full.state_dict()[k], v), k
    saved = models.read_checkpoint_meta(tmp_path / "b")["extra"]["train"]
    assert TrainConfig.from_json(saved).lr_multipliers == c.lr_multipliers


def test_no_decay_bias_norm_groups_match_a_hand_written_update():
    """With no_decay_bias_norm, weights decay and biases / BN scales do not; one SGD step equals the update
    written by hand (p - lr * (grad + wd * p) for matrices, p - lr * grad for 1-d parameters)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    c = TrainConfig(lr=0.1, weight_decay=0.5, lr_multipliers={"3": 2.0}, no_decay_bias_norm=True)
    groups = train.lr_groups(net, c)
    by = {(g["lr"], g["weight_decay"]): sorted(id(p) for p in g["params"]) for g in groups}
    assert set(by) == {(0.1, 0.5), (0.1, 0.0), (0.2, 0.5), (0.2, 0.0)}
    assert by[(0.1, 0.0)] == sorted(id(p) for p in (net[0].bias, net[1].weight, net[1].bias))
    ref = copy.deepcopy(net)
    x, y = torch.rand(5, 1, 8, 8), torch.randint(0, 3, (5,))
    torch.nn.functional.cross_entropy(ref(x), y).backward()
    opt = torch.optim.SGD(groups)
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    for (name, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        lr = 0.2 if name.startswith("3.") else 0.1
        wd = 0.5 if q.dim() > 1 else 0.0
        torch.testing.assert_close(p.detach(), q.detach() - lr * (q.grad + wd * q.detach()), msg=name)
    assert "weight_decay" not in train.lr_groups(net, TrainConfig(lr=0.1))[0]  # off: the optimizer's default
