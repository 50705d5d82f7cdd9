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

from cnnlab.explain._api import ImageExplanation, explain_images
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
from cnnlab.explain._deepdream import DeepDreamConfig, deepdream, deepdream_layer
from cnnlab.explain._embed import Embedding, embed, penultimate_features, project
from cnnlab.explain._features import (
    TopPatches,
    feature_maps,
    first_conv,
    kernel_grid,
    receptive_field,
    top_patches,
)
from cnnlab.explain._gradient import deconvnet, guided_backprop, input_gradient, saliency
from cnnlab.explain._maximize import MaximizeConfig, maximize
from cnnlab.explain._occlusion import occlusion
from cnnlab.explain._plot import heatmap, image_grid, overlay
from cnnlab.explain._relu import ModifiedReLU
from cnnlab.explain._sanity import SanityResult, cascading_randomization, parameter_layers, rank, spearman

__all__ = [
    "DeepDreamConfig",
    "Embedding",
    "ImageExplanation",
    "METHODS",
    "MaximizeConfig",
    "ModifiedReLU",
    "SanityResult",
    "TopPatches",
    "cam",
    "cascading_randomization",
    "deconvnet",
    "deepdream",
    "deepdream_layer",
    "embed",
    "explain",
    "explain_images",
    "feature_maps",
    "first_conv",
    "gradcam",
    "guided_backprop",
    "guided_gradcam",
    "heatmap",
    "image_grid",
    "input_gradient",
    "kernel_grid",
    "layer_gradients",
    "maximize",
    "model_state",
    "names",
    "normalize_maps",
    "occlusion",
    "overlay",
    "parameter_layers",
    "penultimate_features",
    "project",
    "rank",
    "receptive_field",
    "register_method",
    "resolve_layer",
    "resolve_target",
    "saliency",
    "spearman",
    "target_scores",
    "top_patches",
    "upsample",
]
