"""Loss names reach the training engine: TrainConfig(loss=NAME) resolves through cnnlab.losses."""

import math

import pytest
import torch

from cnnlab import data, experiments, losses, models, train


def test_engine_resolves_registry_names_with_class_counts():
    x, y = torch.randn(12, 4), torch.randint(0, 4, (12,))
    counts = [300, 30, 3, 1]
    fn = train.resolve_loss("class_balanced_focal", class_counts=counts)
    torch.testing.assert_close(fn(x, y), losses.class_balanced_focal_loss(x, y, samples_per_class=counts))
    torch.testing.assert_close(train.resolve_loss("focal")(x, y), losses.focal_loss(x, y))
    with pytest.raises(ValueError, match="label_smoothing applies to the 'ce' loss only"):
        train.resolve_loss("focal", 0.1)
    with pytest.raises(ValueError, match="unknown loss 'focl'; did you mean focal"):
        train.resolve_loss("focl")


def test_fit_trains_with_a_class_balanced_loss_by_name():
    d = experiments.make_imbalanced(data.digits("train"), [60, 30, 15, 8, 4, 4, 4, 4, 4, 4], seed=0)
    net = models.create("resnet_small", in_channels=1, num_classes=10, widths=(4, 8, 8))
    cfg = train.TrainConfig(epochs=2, batch_size=32, optimizer="adamw", lr=1e-2, schedule="none",
                            loss="class_balanced_focal", device="cpu", progress=False, tensorboard=False)
    hist = train.fit(net, d, None, cfg)
    assert len(hist.rows) == 2
    first, last = hist.rows[0].train_loss, hist.rows[-1].train_loss
    assert math.isfinite(first) and last < first
