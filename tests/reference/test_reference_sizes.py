"""Output-size functions against the shapes torch produces, exhaustively on small ranges."""

import itertools
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from cnnlab import reference as ref


def _torch_len(n, k, s, d, padding):
    x = torch.zeros(1, 1, 1, n)
    w = torch.zeros(1, 1, 1, k)
    if isinstance(padding, tuple):  # (before, after)
        return F.conv2d(F.pad(x, padding), w, stride=s, dilation=(1, d)).shape[-1]
    return F.conv2d(x, w, stride=s, padding=(0, padding) if isinstance(padding, int) else padding,
                    dilation=(1, d)).shape[-1]


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_conv_output_size_explicit_and_modes_match_torch():
    checked = 0
    for n, k, s, d in itertools.product(range(1, 10), range(1, 5), range(1, 4), range(1, 4)):
        extent = d * (k - 1) + 1
        for p in range(0, 3):
            if n + 2 * p < extent:
                with pytest.raises(ValueError):
                    ref.conv_output_size(n, k, padding=p, stride=s, dilation=d)
                continue
            assert ref.conv_output_size(n, k, padding=p, stride=s, dilation=d) == _torch_len(n, k, s, d, p)
            checked += 1
        assert ref.conv_output_size(n, k, padding="full", stride=s, dilation=d) == \
            _torch_len(n, k, s, d, d * (k - 1))
        if n >= extent:
            assert ref.conv_output_size(n, k, padding="valid", stride=s, dilation=d) == _torch_len(n, k, s, d, 0)
        same = ref.conv_output_size(n, k, padding="same", stride=s, dilation=d)
        assert same == -(-n // s)
        if s == 1:  # torch only has padding="same" for stride 1; ours pads the same way
            assert same == _torch_len(n, k, 1, d, "same")
            before, after = ref.same_padding(n, k, dilation=d)
            x = torch.arange(float(n)).reshape(1, 1, 1, n)
            w = torch.rand(1, 1, 1, k)
            theirs = F.conv2d(x, w, padding="same", dilation=(1, d))
            ours = F.conv2d(F.pad(x, (before, after)), w, dilation=(1, d))
            torch.testing.assert_close(ours, theirs)  # same split: more padding after than before
        else:
            assert same == _torch_len(n, k, s, d, ref.same_padding(n, k, stride=s, dilation=d))
    assert checked > 500


def test_transposed_output_size_matches_torch_and_inverts_the_conv():
    for n, k, s, d, p in itertools.product(range(1, 7), range(1, 4), range(1, 4), range(1, 3), range(0, 3)):
        for op in range(max(s, d)):
            out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            if out < 1:
                with pytest.raises(ValueError):
                    ref.conv_transpose_output_size(n, k, padding=p, stride=s, dilation=d, output_padding=op)
                continue
            y = F.conv_transpose2d(torch.zeros(1, 1, 1, n), torch.zeros(1, 1, 1, k), stride=(1, s), padding=(0, p),
                                   output_padding=(0, op), dilation=(1, d))
            assert ref.conv_transpose_output_size(n, k, padding=p, stride=s, dilation=d, output_padding=op) == \
                y.shape[-1]
        # the shape identity: the transposed conv gives back the conv's input size
        if n + 2 * p >= d * (k - 1) + 1:
            m = ref.conv_output_size(n, k, padding=p, stride=s, dilation=d)
            op = ref.transpose_output_padding(n, k, padding=p, stride=s, dilation=d)
            assert ref.conv_transpose_output_size(m, k, padding=p, stride=s, dilation=d, output_padding=op) == n


def test_pool_output_size_matches_torch():
    for n, k, s, p, d, ceil in itertools.product(range(1, 10), range(1, 5), range(1, 4), range(0, 3), range(1, 3),
                                                 (False, True)):
        if 2 * p > k or n + 2 * p < d * (k - 1) + 1:
            with pytest.raises(ValueError):
                ref.pool_output_size(n, k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
            continue
        y = F.max_pool2d(torch.zeros(1, 1, 1, n), (1, k), stride=(1, s), padding=(0, p), dilation=(1, d),
                         ceil_mode=ceil)
        assert ref.pool_output_size(n, k, stride=s, padding=p, dilation=d, ceil_mode=ceil) == y.shape[-1]


@pytest.mark.parametrize("bad, message", [
    (dict(n=0, k=3), "input size must be a positive integer"),
    (dict(n=5, k=3, stride=0), "stride must be a positive integer"),
    (dict(n=5, k=3, padding="half"), "padding must be one of"),
    (dict(n=5, k=3, padding=-1), "padding must be a non-negative integer"),
])
def test_conv_output_size_rejects_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        ref.conv_output_size(**bad)


def test_resolve_padding_forms():
    assert ref.resolve_padding("same", (3, 2), input_size=(5, 5), stride=(2, 2)) == ((1, 1), (0, 1))
    assert ref.resolve_padding(2, (3, 3)) == ((2, 2), (2, 2))
    assert ref.resolve_padding((1, 0), (3, 3)) == ((1, 1), (0, 0))
    assert ref.resolve_padding(((0, 1), (2, 3)), (3, 3)) == ((0, 1), (2, 3))
    assert ref.resolve_padding("full", (3, 2), dilation=(2, 1)) == ((4, 4), (1, 1))


def test_the_reference_engine_imports_no_torch():
    # the size arithmetic it shares with cnnlab.analysis lives in the pure-Python cnnlab._sizes
    code = "import sys, cnnlab.reference; assert 'torch' not in sys.modules, 'cnnlab.reference imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_float_sizes_with_integral_values_and_numpy_integers_are_accepted():
    import numpy as np

    assert ref.conv_output_size(5.0, np.int64(3), stride=np.int32(2)) == 2
    with pytest.raises(ValueError, match="kernel size must be a positive integer, got 2.5"):
        ref.conv_output_size(5, 2.5)
