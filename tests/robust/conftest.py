"""Shared fixtures of the robustness tests: a tiny CNN trained for a second on scikit-learn's 8x8 digits."""

import pytest
import torch
import torch.nn.functional as F
from robust_nets import TinyNet


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
