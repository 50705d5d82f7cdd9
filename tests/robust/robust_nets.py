"""A tiny CNN for the robustness tests (a uniquely named module: test files import it, not conftest)."""

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
