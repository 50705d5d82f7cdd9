"""Tiny build options of every registered segmenter, so that each runs in milliseconds on the CPU."""

TINY = {
    "fcn32s": {"backbone_kwargs": {"width": 0.25}},
    "fcn16s": {"backbone_kwargs": {"width": 0.25}},
    "fcn8s": {"backbone_kwargs": {"width": 0.25}},
    "unet": {"base": 4, "depth": 2},
    "unet_lite0": {"backbone_weights": None, "backbone_kwargs": {"width": 0.25}, "decoder_channels": [16, 8, 8, 8, 4]},
    "segnet_basic": {"width": 8},
    "segnet": {"width": 0.0625},
    "deeplabv3": {"backbone_kwargs": {"width": 0.25}},
    "lraspp": {"backbone_kwargs": {"width": 0.25}, "inter_channels": 16},
}


def tiny(name, num_classes=5, **kw):
    from cnnlab import segment

    return segment.create(name, num_classes=num_classes, **{**TINY[name], **kw})


def hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())
