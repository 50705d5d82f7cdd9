"""Style: neural style transfer, texture synthesis and the shape-vs-texture bias of CNNs, offline with cnnlab's
pretrained EfficientNet-Lite networks.

Example:
    >>> from cnnlab import data, style
    >>> img = style.transfer(data.sample_image("chelsea"), data.sample_image("brick"), size=64, steps=5)
    >>> img.shape
    torch.Size([3, 43, 64])
"""

from cnnlab.style._color import combine_luminance, luminance, match_colors, match_luminance, rgb_to_yiq, yiq_to_rgb
from cnnlab.style._losses import content_loss, gram_matrix, smooth, style_loss, tv_loss
from cnnlab.style._metrics import content_ssim, style_distance
from cnnlab.style._shape_bias import (
    CATEGORIES,
    IMAGENET_INDICES,
    Decision,
    ShapeBiasResult,
    Stimuli,
    category_probabilities,
    decisions_from_probabilities,
    find_stimuli,
    paper_results,
    parse_stimulus,
    plot_shape_bias,
    shape_bias,
    shape_bias_from_decisions,
)
from cnnlab.style._transfer import (
    DIVERGED,
    INITS,
    StyleProgress,
    StyleResult,
    TransferConfig,
    as_rgb,
    cue_conflict,
    default_layers,
    stylize,
    texture,
    transfer,
)

__all__ = [
    "CATEGORIES",
    "DIVERGED",
    "INITS",
    "Decision",
    "IMAGENET_INDICES",
    "ShapeBiasResult",
    "Stimuli",
    "category_probabilities",
    "content_ssim",
    "cue_conflict",
    "decisions_from_probabilities",
    "find_stimuli",
    "paper_results",
    "parse_stimulus",
    "plot_shape_bias",
    "shape_bias",
    "shape_bias_from_decisions",
    "style_distance",
    "StyleProgress",
    "StyleResult",
    "TransferConfig",
    "as_rgb",
    "combine_luminance",
    "content_loss",
    "default_layers",
    "gram_matrix",
    "luminance",
    "match_colors",
    "match_luminance",
    "rgb_to_yiq",
    "smooth",
    "style_loss",
    "stylize",
    "texture",
    "transfer",
    "tv_loss",
    "yiq_to_rgb",
]
