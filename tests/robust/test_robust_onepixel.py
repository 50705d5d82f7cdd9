"""The batched one-pixel attack: against torchattacks' OnePixel at equal budget, against brute force, and
its vectorisation (one forward pass per generation)."""

import numpy as np
import pytest
import torch
import torchattacks
from robust_nets import TinyNet

from cnnlab import robust
from cnnlab.robust._onepixel import _apply


def test_success_rate_at_least_torchattacks_at_equal_budget(digits_net, digits_data):
    _, _, x, y = digits_data
    x, y = x[:96], y[:96]
    with torch.no_grad():
        right = digits_net(x).argmax(1) == y
    # torchattacks: popsize 10 over 3 bounds (row, col, grey) -> 3 * 3 = 9 candidates, 10 generations + init
    torch.manual_seed(0)
    np.random.seed(0)
    ref = torchattacks.OnePixel(digits_net, pixels=1, steps=10, popsize=10)(x, y)
    with torch.no_grad():
        ref_fooled = int(((digits_net(ref).argmax(1) != y) & right).sum())
    r = robust.run_attack("onepixel", digits_net, x, y, popsize=9, steps=10,
                          generator=torch.Generator().manual_seed(0))
    ours = int((r.success & right).sum())
    assert ours >= ref_fooled and ours >= 5
    assert (r.l0 <= 1).all()


def test_finds_what_brute_force_finds(digits_net, digits_data):
    # brute force: every pixel set to 0 and to 1 (the extremes are where one-pixel attacks live)
    _, _, x, y = digits_data
    x, y = x[:40], y[:40]
    with torch.no_grad():
        right = digits_net(x).argmax(1) == y
        cand = x[:, None].repeat(1, 128, 1, 1, 1).view(40, 128, 64)
        k = torch.arange(128)
        cand[:, k, k % 64] = (k // 64).float()
        exists = (digits_net(cand.view(-1, 1, 8, 8)).argmax(1).view(40, 128) != y[:, None]).any(1) & right
    r = robust.run_attack("onepixel", digits_net, x, y, popsize=60, steps=20,
                          generator=torch.Generator().manual_seed(1))
    found = r.success & right
    assert exists.sum() >= 3
    assert found[exists].float().mean() >= 0.8  # DE finds most of what exhaustive search finds
    assert (r.l0 <= 1).all()


def test_one_forward_per_generation_for_the_whole_batch():
    net = TinyNet().eval()
    calls = []
    h = net.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    try:
        robust.onepixel(net, torch.rand(5, 1, 8, 8), torch.arange(5), popsize=12, steps=4, target=torch.arange(5),
                        generator=torch.Generator().manual_seed(0))
    finally:
        h.remove()
    # initial population + at most 4 generations; each forward carries every live image's population
    assert 1 <= len(calls) <= 5 and calls[0] == 5 * 12
    assert all(c % 12 == 0 for c in calls)


def test_apply_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(2, 3, 6, 7, generator=g)
    cand = torch.rand(2, 4, 2, 5, generator=g) * torch.tensor([6 - 1e-3, 7 - 1e-3, 1, 1, 1])
    out = _apply(base, cand, torch.empty(8, 3, 42))
    for b in range(2):
        for p in range(4):
            ref = base[b].clone()
            for row in cand[b, p]:
                ref[:, int(row[0]), int(row[1])] = row[2:]
            assert torch.equal(out[b * 4 + p], ref)


def test_targeted_and_k_pixels(digits_net, digits_data):
    _, _, x, y = digits_data
    x, y = x[:16], y[:16]
    r = robust.run_attack("onepixel", digits_net, x, y, pixels=3, popsize=40, steps=10, target=0,
                          generator=torch.Generator().manual_seed(0))
    assert (r.l0 <= 3).all()
    assert torch.equal(r.success, r.adv_pred == 0)


def test_seeded_runs_repeat():
    net = TinyNet().eval()
    x, y = torch.rand(3, 1, 8, 8), torch.arange(3)
    a = robust.onepixel(net, x, y, popsize=10, steps=3, generator=torch.Generator().manual_seed(4))
    b = robust.onepixel(net, x, y, popsize=10, steps=3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_su_settings_are_the_papers():
    assert robust.SU_SETTINGS == {"popsize": 400, "steps": 100, "f": 0.5}


@pytest.mark.parametrize("kwargs, message", [({"pixels": 0}, "pixels must be"), ({"popsize": 2}, "popsize must be"),
                                             ({"f": 0.0}, "f must be in"), ({"strategy": "x"}, "strategy must be")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        robust.onepixel(TinyNet(), torch.rand(2, 1, 8, 8), torch.zeros(2).long(), **kwargs)
