"""Helpers of the analysis tests (a uniquely named module: conftest.py names collide across folders)."""

import torch
from torch.overrides import TorchFunctionMode


class MetaInit(TorchFunctionMode):
    """Builds a model with its parameters and buffers on the meta device (no memory, no init cost), while
    shape arithmetic the builder does with tensors (torchvision's RegNet) still runs on the CPU."""

    FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.full}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in self.FACTORIES:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)

