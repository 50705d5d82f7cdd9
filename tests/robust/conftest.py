"""Shared fixtures of the robustness tests: a tiny CNN trained for a second on scikit-learn's 8x8 digits."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn


class TinyNet(nn.Module):
    """conv 1->8 (in-place ReLU) -> conv 8->16 stride 2 (functional ReLU) -> ReLU6 -> linear; dropout and
    batch norm so that train and eval modes differ."""

    def __init__(self, in_channels: int = 1, size: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.act6 = nn.ReLU6()
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(16 * ((size + 1) // 2) ** 2, classes)

    def forward(self, x):
        x = self.act(self.bn(self.conv1(x - 0.5)))
        x = self.act6(F.relu(self.conv2(x)))
        return self.fc(self.drop(x.flatten(1)))


@pytest.fixture(scope="session")
def digits_data():
    from cnnlab import data

    tr, te = data.digits("train"), data.digits("test")
    return tr.floats(), tr.labels, te.floats(), te.labels


@pytest.fixture(scope="session")
def digits_net(digits_data):
    """TinyNet trained on the digits (about 93% test accuracy), in eval mode."""
    x, y, _, _ = digits_data
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = TinyNet()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(50):
        idx = torch.randint(0, len(y), (128,), generator=g)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()
