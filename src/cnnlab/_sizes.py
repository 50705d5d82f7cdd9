"""Output-size arithmetic of convolution and pooling, one spatial axis at a time: the one implementation behind
the size helpers of :mod:`cnnlab.analysis` and :mod:`cnnlab.reference`.

Pure Python (no torch, no NumPy), so that the NumPy reference engine stays free of torch and the analysis
package does not depend on the teaching one; each package keeps its own signatures as thin wrappers.

With input size ``n``, kernel size ``k``, dilation ``d`` (effective extent ``d * (k - 1) + 1``), stride ``s``
and padding ``before + after``::

    out = floor((n + before + after - d * (k - 1) - 1) / s) + 1

which with symmetric padding ``p`` and ``d = 1`` is the notes' ``(W - F + 2P) / S + 1``.
"""

from __future__ import annotations

from cnnlab._checks import check_int  # noqa: F401 (re-exported for the size helpers)


def conv_output_size(n: int, k: int, stride: int = 1, before: int = 0, after: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution padded with ``before`` and ``after`` points."""
    n, k = check_int("input size", n, 1), check_int("kernel size", k, 1)
    s, d = check_int("stride", stride, 1), check_int("dilation", dilation, 1)
    before, after = check_int("padding", before, 0), check_int("padding", after, 0)
    span = n + before + after - d * (k - 1)
    if span < 1:
        raise ValueError(f"kernel extent {d * (k - 1) + 1} is larger than the padded input {n + before + after}")
    return (span - 1) // s + 1


def pool_output_size(n: int, k: int, stride: int | None = None, padding: int = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length of max/average pooling (``stride`` defaults to ``k``, as in torch). With ``ceil_mode`` the
    division rounds up, but the last window must start inside the input or the left padding (torch's rule)."""
    n, k = check_int("input size", n, 1), check_int("kernel size", k, 1)
    s = k if stride is None else check_int("stride", stride, 1)
    p, d = check_int("padding", padding, 0), check_int("dilation", dilation, 1)
    if 2 * p > k:
        raise ValueError(f"padding must be at most half the kernel size {k}, got {p}")
    out = conv_output_size(n, k, s, p, p, d)
    if ceil_mode:
        out = -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1
        if (out - 1) * s >= n + p:  # the last window would start in the right padding only
            out -= 1
    return out


def conv_transpose_output_size(n: int, k: int, stride: int = 1, before: int = 0, after: int = 0, dilation: int = 1,
                               output_padding: int = 0) -> int:
    """Output length of a transposed convolution: the input length of the convolution it transposes,
    ``(n - 1) * s - before - after + d * (k - 1) + output_padding + 1``; ``output_padding`` (smaller than
    ``max(s, d)``) picks one of the ``s`` input lengths that a strided convolution maps to the same output."""
    n, k = check_int("input size", n, 1), check_int("kernel size", k, 1)
    s, d = check_int("stride", stride, 1), check_int("dilation", dilation, 1)
    before, after = check_int("padding", before, 0), check_int("padding", after, 0)
    op = check_int("output_padding", output_padding, 0)
    if op >= max(s, d):
        raise ValueError(f"output_padding must be smaller than stride or dilation, got {op}")
    out = (n - 1) * s - before - after + d * (k - 1) + op + 1
    if out < 1:
        raise ValueError(f"transposed convolution output size would be {out}")
    return out


def same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow "SAME" padding, ``(before, after)``: the output is ``ceil(n / stride)`` long and the odd
    point goes after (as TensorFlow and torch's ``padding="same"`` split it)."""
    n, k = check_int("input size", n, 1), check_int("kernel size", k, 1)
    s, d = check_int("stride", stride, 1), check_int("dilation", dilation, 1)
    out = -(-n // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2
