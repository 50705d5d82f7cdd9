"""Architecture analysis: per-layer shapes, parameters, memory, MACs/FLOPs and receptive fields that stay
right for branching networks (and the exact input box of any unit, ``receptive_boxes``), plus the output-size
arithmetic of convolution and pooling.

Example:
    >>> import torchvision
    >>> from cnnlab.analysis import summarize
    >>> s = summarize(torchvision.models.resnet50(), (3, 224, 224))
    >>> s.row("layer4").rf.size, s.total_params
    ((427, 427), 25557032)
"""

from cnnlab.analysis._boxes import receptive_boxes
from cnnlab.analysis._fields import ReceptiveField, covering, through_pad, through_transposed, through_window
from cnnlab.analysis._sizes import (
    adaptive_pool_bins,
    conv_output_size,
    conv_transpose_output_size,
    padding_for_output,
    pool_output_size,
    same_padding,
)
from cnnlab.analysis._summary import FORMATS, LayerRow, Summary, format_summary, summarize

__all__ = [
    "FORMATS",
    "LayerRow",
    "ReceptiveField",
    "Summary",
    "adaptive_pool_bins",
    "conv_output_size",
    "conv_transpose_output_size",
    "covering",
    "format_summary",
    "padding_for_output",
    "pool_output_size",
    "receptive_boxes",
    "same_padding",
    "summarize",
    "through_pad",
    "through_transposed",
    "through_window",
]
