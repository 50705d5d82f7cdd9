"""Explanations: what a CNN looks at and what it has learned.

Every attribution method is one call, ``method(model, inputs, target=None, **options) -> Tensor``, batched,
on the input's device, registered in ``METHODS`` (:func:`names`, :func:`explain`): saliency, deconvnet,
guided backprop, CAM, Grad-CAM, guided Grad-CAM, occlusion. Shared arguments are described in
``cnnlab.explain._core``.

Example:
    >>> from cnnlab import data, explain, models
    >>> net = models.create("efficientnet_lite0", weights="imagenet").eval()
    >>> x = models.preprocess(net, data.sample_image("chelsea"))[None]
    >>> maps = explain.gradcam(net, x)                      # Tensor[1, 1, 224, 224]
    >>> overlay = explain.overlay(x[0], maps[0])            # Tensor[3, 224, 224] in [0, 1]
"""

from cnnlab.explain._cam import cam, gradcam, guided_gradcam, layer_gradients
from cnnlab.explain._core import (
    METHODS,
    explain,
    model_state,
    names,
    normalize_maps,
    register_method,
    resolve_layer,
    resolve_target,
    target_scores,
    upsample,
)
from cnnlab.explain._gradient import deconvnet, guided_backprop, input_gradient, saliency
from cnnlab.explain._occlusion import occlusion
from cnnlab.explain._relu import ModifiedReLU

__all__ = [
    "METHODS",
    "ModifiedReLU",
    "cam",
    "deconvnet",
    "explain",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
    "input_gradient",
    "layer_gradients",
    "model_state",
    "names",
    "normalize_maps",
    "occlusion",
    "register_method",
    "resolve_layer",
    "resolve_target",
    "saliency",
    "target_scores",
    "upsample",
]
