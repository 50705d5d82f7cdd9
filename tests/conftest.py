import os

import pytest
import torch

# Under pytest-xdist each worker gets one core: no oversubscription on the 2-core CI machine.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def lite0():
    """The pretrained EfficientNet-Lite0 in eval mode (loaded once per worker)."""
    from cnnlab import models

    return models.create("efficientnet_lite0", weights="imagenet").eval()
