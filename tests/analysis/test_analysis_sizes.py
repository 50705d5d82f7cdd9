"""Output-size helpers against what torch computes."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from cnnlab.analysis import (
    adaptive_pool_bins,
    conv_output_size,
    conv_transpose_output_size,
    padding_for_output,
    pool_output_size,
    same_padding,
)


def test_conv_output_size_matches_torch():
    x = {n: torch.zeros(1, 1, 1, n) for n in range(1, 20)}
    for n, k, s, p, d in itertools.product(range(1, 20), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)):
        if n + 2 * p < d * (k - 1) + 1:
            with pytest.raises(ValueError):
                conv_output_size(n, k, s, p, d)
            continue
        out = F.conv2d(x[n], torch.zeros(1, 1, 1, k), stride=(1, s), padding=(0, p), dilation=(1, d))
        assert conv_output_size(n, k, s, p, d) == out.shape[-1], (n, k, s, p, d)


def test_the_notes_formula():
    assert conv_output_size(227, 11, 4) == 55 == (227 - 11 + 0) // 4 + 1  # AlexNet conv1
    assert conv_output_size(32, 5) == 28  # LeNet C1


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_output_size_matches_torch(ceil_mode):
    for n, k, s, p, d in itertools.product(range(2, 18), (2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)):
        if p > k // 2 or n + 2 * p < d * (k - 1) + 1:
            continue
        out = F.max_pool2d(torch.zeros(1, 1, 1, n), (1, k), (1, s), (0, p), (1, d), ceil_mode=ceil_mode)
        assert pool_output_size(n, k, s, p, d, ceil_mode) == out.shape[-1], (n, k, s, p, d)
        if d == 1:
            avg = F.avg_pool2d(torch.zeros(1, 1, 1, n), (1, k), (1, s), (0, p), ceil_mode=ceil_mode)
            assert pool_output_size(n, k, s, p, 1, ceil_mode) == avg.shape[-1]


def test_conv_transpose_output_size_matches_torch():
    for n, k, s, p, op, d in itertools.product(range(1, 9), (1, 2, 3, 4), (1, 2, 3), (0, 1), (0, 1), (1, 2)):
        if op >= max(s, d):
            with pytest.raises(ValueError):
                conv_transpose_output_size(n, k, s, p, op, d)
            continue
        expected = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        if expected < 1:
            continue
        out = F.conv_transpose2d(torch.zeros(1, 1, 1, n), torch.zeros(1, 1, 1, k), stride=(1, s), padding=(0, p),
                                 output_padding=(0, op), dilation=(1, d))
        assert conv_transpose_output_size(n, k, s, p, op, d) == out.shape[-1]


def test_same_padding_gives_ceil_and_matches_the_model_helper():
    from cnnlab.models import same_padding as model_same_padding

    for n, k, s, d in itertools.product(range(1, 30), (1, 2, 3, 5), (1, 2, 3), (1, 2)):
        before, after = same_padding(n, k, s, d)
        assert after - before in (0, 1) and (before, after) == model_same_padding(n, k, s, d)
        out = F.conv2d(F.pad(torch.zeros(1, 1, 1, n), (before, after)), torch.zeros(1, 1, 1, k), stride=(1, s),
                       dilation=(1, d))
        assert out.shape[-1] == math.ceil(n / s)


def test_padding_for_output_and_adaptive_bins():
    assert padding_for_output(28, 28, 5) == 2 and padding_for_output(32, 28, 5) == 0
    with pytest.raises(ValueError, match="no symmetric padding"):
        padding_for_output(28, 40, 3)
    for n, o in itertools.product(range(1, 15), range(1, 8)):
        x = torch.arange(float(n)).view(1, 1, 1, n)
        got = F.adaptive_max_pool2d(x, (1, o)).flatten().tolist()
        assert [hi - 1 for _, hi in adaptive_pool_bins(n, o)] == got  # the max of a bin is its last index
        mins = -F.adaptive_max_pool2d(-x, (1, o)).flatten()
        assert [lo for lo, _ in adaptive_pool_bins(n, o)] == mins.tolist()


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_arguments_name_the_value(bad):
    with pytest.raises(ValueError, match="size must be"):
        conv_output_size(bad, 3)
