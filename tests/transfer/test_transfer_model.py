"""Head replacement, the input adapter and its checkpoint, freezing, frozen BN statistics, parameter groups."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms.v2 import functional as TF

from cnnlab import models, train, transfer
from cnnlab.transfer import FrozenStatsBatchNorm2d


@pytest.fixture
def small_source(tmp_path):
    torch.manual_seed(1)
    net = models.create("resnet_small", in_channels=1, num_classes=10, widths=(8, 16, 32))
    net(torch.rand(4, 1, 28, 28))  # move BN running statistics off their defaults
    return models.save_checkpoint(tmp_path / "src", net.eval()), net.eval()


def test_new_head_keeps_every_other_weight(small_source):
    path, src = small_source
    m = transfer.transfer_model(path, num_classes=3, classes=["a", "b", "c"])
    assert transfer.head_name(m) == "fc" and m.fc.out_features == 3
    s_src, s_new = src.state_dict(), m.state_dict()
    assert set(s_src) == set(s_new)
    for k, v in s_src.items():
        if not k.startswith("fc."):
            assert torch.equal(v, s_new[k]), k
    assert not torch.equal(s_src["fc.weight"][:3], s_new["fc.weight"])
    assert m.cnnlab.classes == ["a", "b", "c"] and m.training


def test_input_adapter_equals_resize_then_repeat_channels(lite0_tiny):
    adapted, plain = lite0_tiny
    x = torch.rand(2, 1, 28, 28)
    # the reference: torchvision's resize, channel repeat, then the unadapted network
    ref = plain(TF.resize(x, [40, 40], interpolation=TF.InterpolationMode.BILINEAR, antialias=False).repeat(1, 3, 1, 1))
    torch.testing.assert_close(adapted(x), ref, rtol=1e-4, atol=1e-5)
    assert adapted.cnnlab.input_size == (1, 28, 28)
    assert adapted.cnnlab.kwargs["input_adapter"] == {"in_channels": 1, "size": [40, 40], "interpolation": "bilinear"}
    with pytest.raises(ValueError, match="1-channel images"):
        adapted(torch.rand(2, 3, 28, 28))


@pytest.fixture(scope="module")
def lite0_tiny():
    """The real ImageNet EfficientNet-Lite0 adapted to 28x28 grey images at 40x40, and the unadapted one."""
    src = models.create("efficientnet_lite0", weights="imagenet").eval()
    adapted = transfer.transfer_model(src, num_classes=5, in_channels=1, input_size=(28, 28), resize=40).eval()
    plain = copy.deepcopy(src)
    plain._fc = adapted._fc
    return adapted, plain


def test_adapted_model_round_trips_through_a_checkpoint(lite0_tiny, tmp_path):
    adapted, _ = lite0_tiny
    models.save_checkpoint(tmp_path / "ck", adapted)
    back = models.load_checkpoint(tmp_path / "ck")
    assert isinstance(back.normalize, transfer.InputAdapter) and back.normalize.size == (40, 40)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(back(x), adapted(x))
    # predict() prepares any image to the card's (1, 28, 28)
    top = models.predict(back, [torch.rand(3, 50, 60)], topk=2)[0]
    assert len(top) == 2 and 0 <= top[0].index < 5


def test_linear_mode_trains_only_the_head_and_keeps_bn_statistics(small_source):
    path, _ = small_source
    m = transfer.transfer_model(path, num_classes=4)
    before = copy.deepcopy(m.state_dict())
    counts = transfer.freeze(m, "linear")
    assert counts["trainable"] == m.fc.weight.numel() + m.fc.bias.numel()
    _one_sgd_step(m, train.lr_groups(m, train.TrainConfig(lr=0.5, lr_multipliers={"": 0.1, "fc": 1.0})))
    after = m.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc.weight", "fc.bias"}


def test_freeze_n_freezes_stem_and_first_blocks_only(small_source):
    path, _ = small_source
    m = transfer.transfer_model(path, num_classes=4)
    stem, blocks = transfer.backbone_blocks(m)
    assert stem == ["conv1", "bn1"] and blocks[:2] == ["layer1.0", "layer1.1"] and len(blocks) == 9
    transfer.freeze(m, "freeze:2")
    assert isinstance(m.bn1, FrozenStatsBatchNorm2d) and isinstance(m.layer1[1].bn2, FrozenStatsBatchNorm2d)
    assert type(m.layer1[2].bn1) is nn.BatchNorm2d
    before = copy.deepcopy(m.state_dict())
    _one_sgd_step(m, train.lr_groups(m, train.TrainConfig(lr=0.5)))
    after = m.state_dict()
    frozen = [k for k in before if k.startswith(("conv1.", "bn1.", "layer1.0.", "layer1.1."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # weights and running stats
    assert not torch.equal(before["layer1.2.conv1.weight"], after["layer1.2.conv1.weight"])
    assert not torch.equal(before["layer1.2.bn1.running_mean"], after["layer1.2.bn1.running_mean"])
    with pytest.raises(ValueError, match="more blocks than the model has"):
        transfer.freeze(m, "freeze:10")


def test_param_groups_give_the_backbone_a_smaller_learning_rate(small_source):
    path, _ = small_source
    m = transfer.transfer_model(path, num_classes=4)
    transfer.freeze(m, "finetune")
    groups = train.lr_groups(m, train.TrainConfig(lr=0.1, lr_multipliers={"": 0.01, "fc": 1.0}))
    ref = copy.deepcopy(m)
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 4, (8,))
    F.cross_entropy(ref(x), y).backward()  # the reference update: p - lr_group * grad, by autograd
    _one_sgd_step(m, groups, x, y)
    for (name, p), (_, q) in zip(m.named_parameters(), ref.named_parameters()):
        lr = 0.1 if name.startswith("fc.") else 0.001
        torch.testing.assert_close(p.detach(), q.detach() - lr * q.grad, msg=name)


def _one_sgd_step(m, groups, x=None, y=None):
    x = torch.rand(8, 1, 28, 28) if x is None else x
    y = torch.randint(0, m.fc.out_features, (8,)) if y is None else y
    opt = torch.optim.SGD(groups)
    m.train()
    F.cross_entropy(m(x), y).backward()
    opt.step()


def test_frozen_stats_batchnorm_uses_running_statistics_in_train_mode():
    bn = nn.BatchNorm2d(3)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    holder = nn.Sequential(bn)
    assert transfer.freeze_bn_stats(holder) == 1
    frozen = holder[0].train()
    assert not frozen.training and set(frozen.state_dict()) == set(bn.state_dict())
    x = torch.randn(4, 3, 5, 5)
    ref = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)
    torch.testing.assert_close(frozen(x), ref)
    assert torch.equal(frozen.running_mean, bn.running_mean)


@pytest.mark.parametrize("name", ["lenet5", "vgg_small", "googlenet_small", "alexnet_small",
                                  "efficientnet_lite0_small"])
def test_every_small_family_transfers(name):
    src = models.create(name, in_channels=1, num_classes=10)
    m = transfer.transfer_model(src, num_classes=3, in_channels=3, input_size=(32, 32), resize=28)
    stem, blocks = transfer.backbone_blocks(m)
    assert blocks and transfer.head_name(m) not in stem + blocks
    transfer.freeze(m, "freeze:1")
    out = m(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3)
    out.sum().backward()
    assert m.get_submodule(transfer.head_name(m)).weight.grad is not None


@pytest.mark.parametrize("bad, message", [
    ({"mode": "freeze:x"}, "mode must be"),
    ({"mode": "probe"}, "mode must be"),
    ({"resize": 2}, "resize must be"),
    ({"lr": 0.0}, "lr must be a number > 0"),
    ({"subset": 0}, "subset must be"),
    ({"backbone_lr_mult": -0.1}, "backbone_lr_mult must be a number >= 0"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of"),
    ({"warmup_steps": -1}, "warmup_steps must be a non-negative integer"),
    ({"bn_recalibrate": -1}, "bn_recalibrate must be a non-negative integer"),
    ({"kept_head_lr_scale": 0.0}, "kept_head_lr_scale must be a number > 0"),
    ({"keep_head": "yes"}, "keep_head must be None, True or False"),
])
def test_bad_config_raises(bad, message):
    with pytest.raises(ValueError, match=message):
        transfer.TransferConfig(**bad)


def test_bad_transfer_model_arguments(small_source):
    path, _ = small_source
    with pytest.raises(ValueError, match="num_classes must be"):
        transfer.transfer_model(path, num_classes=0)
    with pytest.raises(ValueError, match="2 class names"):
        transfer.transfer_model(path, num_classes=3, classes=["a", "b"])
    with pytest.raises(FileNotFoundError, match="no such checkpoint directory"):  # a path, not a model name
        transfer.transfer_model(path.parent / "nothing", num_classes=3)


def test_recalibrate_bn_sets_running_stats_to_the_data_statistics():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, momentum=0.01), nn.ReLU(), nn.Conv2d(4, 2, 3),
                        FrozenStatsBatchNorm2d(2))
    frozen_before = net[4].running_mean.clone()
    images = torch.rand(10, 1, 9, 9)
    net.eval()
    assert transfer.recalibrate_bn(net, images, batch_size=10) == 1
    z = net[0](images)  # the reference: the statistics of the BN input over the whole set
    torch.testing.assert_close(net[1].running_mean, z.mean((0, 2, 3)))
    torch.testing.assert_close(net[1].running_var, z.var((0, 2, 3), unbiased=True))
    assert net[1].momentum == 0.01 and not net.training
    assert torch.equal(net[4].running_mean, frozen_before)  # frozen statistics stay


def test_transfer_from_an_imported_torchvision_checkpoint_keeps_its_backbone(tmp_path):
    """`cnnlab import` then `cnnlab transfer --from RUN`: the architecture is rebuilt from the card's source."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=10).eval()
    torch.save(net.state_dict(), tmp_path / "w.pth")
    run = models.save_checkpoint(tmp_path / "run", models.import_weights("mobilenet_v3_small", tmp_path / "w.pth"))
    m = transfer.transfer_model(run, num_classes=3, classes=["a", "b", "c"], in_channels=1, input_size=(28, 28),
                                resize=64)
    assert m.cnnlab.source == "torchvision" and m.cnnlab.num_classes == 3
    src = net.state_dict()
    got = {k.removeprefix("net."): v for k, v in m.state_dict().items() if k.startswith("net.")}
    head = "classifier.3."
    assert all(torch.equal(got[k], v) for k, v in src.items() if not k.startswith(head))
    assert got[head + "weight"].shape == (3, 1024)
    assert m.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 3)
