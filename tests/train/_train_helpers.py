"""Data and configs shared by the training tests: random uint8 images and a CPU TrainConfig that writes nothing."""

import torch

from cnnlab import data
from cnnlab.train import TrainConfig


def tiny_data(n=96, c=1, size=28, k=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, k, (n,), generator=g)
    return data.ImageTensors(images, labels, [f"c{i}" for i in range(k)], "random")


def cfg(**kw):
    base = dict(epochs=1, batch_size=32, lr=0.05, schedule="none", device="cpu", progress=False,
                tensorboard=False, weight_decay=0.0)
    base.update(kw)
    return TrainConfig(**base)
