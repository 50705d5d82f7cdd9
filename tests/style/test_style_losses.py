"""The style-transfer losses against slow loops and Gatys et al.'s formulas; their gradients against finite
differences (float64); activation smoothing; colour spaces."""

import pytest
import torch

from cnnlab import style


def slow_gram(f):
    n, c, h, w = f.shape
    g = torch.zeros(n, c, c, dtype=f.dtype)
    for b in range(n):
        for i in range(c):
            for j in range(c):
                s = 0.0
                for y in range(h):
                    for x in range(w):
                        s += f[b, i, y, x] * f[b, j, y, x]
                g[b, i, j] = s
    return g


@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (2, 4, 3, 3), (1, 1, 1, 7)])
def test_gram_matrix_equals_a_slow_loop(shape):
    f = torch.randn(shape, dtype=torch.float64)
    c, h, w = shape[1:]
    torch.testing.assert_close(style.gram_matrix(f), slow_gram(f) / (c * h * w))


def test_style_loss_is_gatys_per_layer_loss():
    """E_l = 1 / (4 N^2 M^2) sum_ij (G_ij - A_ij)^2 on the raw Gram matrices (Gatys et al. 2016, eq. 4)."""
    x, s = torch.randn(1, 3, 4, 5, dtype=torch.float64), torch.randn(1, 3, 6, 2, dtype=torch.float64)
    n_ch = 3
    m_x, m_s = 20, 12  # the style image may have another size: each Gram is normalised by its own M
    g, a = slow_gram(x)[0] / m_x, slow_gram(s)[0] / m_s  # per-position correlations
    expected = ((g * m_x - a * m_x) ** 2).sum() / (4 * n_ch**2 * m_x**2)
    got = style.style_loss(style.gram_matrix(x), style.gram_matrix(s)[0])
    torch.testing.assert_close(got, expected)


def test_content_and_tv_losses_equal_their_definitions():
    f, p = torch.randn(2, 3, 4, 5, dtype=torch.float64), torch.randn(1, 3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(style.content_loss(f, p), ((f - p) ** 2).sum() / f.numel())
    img = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    dy = sum(float(img[0, c, y + 1, x] - img[0, c, y, x]) ** 2 for c in range(3) for y in range(3) for x in range(5))
    dx = sum(float(img[0, c, y, x + 1] - img[0, c, y, x]) ** 2 for c in range(3) for y in range(4) for x in range(4))
    assert abs(float(style.tv_loss(img)) - (dy / 45 + dx / 48)) < 1e-12


def test_loss_gradients_equal_finite_differences():
    torch.manual_seed(0)
    f = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    a = style.gram_matrix(torch.randn(1, 2, 4, 2, dtype=torch.float64))[0]
    p = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(style.gram_matrix, (f,))
    assert torch.autograd.gradcheck(lambda t: style.style_loss(style.gram_matrix(t), a), (f,))
    assert torch.autograd.gradcheck(lambda t: style.content_loss(t, p), (f,))
    assert torch.autograd.gradcheck(style.tv_loss, (f,))
    assert torch.autograd.gradcheck(lambda t: style.smooth(t, temperature=2.0), (f,))


def test_smoothing_is_a_softmax_over_the_whole_layer_scaled_to_mean_one():
    f = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    s = style.smooth(f)
    torch.testing.assert_close(s.sum((1, 2, 3)), torch.full((2,), 48.0, dtype=torch.float64))
    torch.testing.assert_close(s[0], torch.softmax(f[0].flatten(), 0).view(3, 4, 4) * 48)
    torch.testing.assert_close(style.smooth(f + 7.0), s)  # softmax ignores a constant shift
    # flatter than the plain normalised activations: higher entropy (the point of the smoothing)
    relu = torch.relu(f[0]).flatten()
    p_plain, p_soft = relu / relu.sum(), s[0].flatten() / 48

    def entropy(p):
        return float(-(p * p.clamp_min(1e-30).log()).sum())

    assert entropy(p_soft) > entropy(p_plain)


def test_yiq_round_trip_and_grey_has_no_chroma():
    img = torch.rand(2, 3, 5, 4)
    torch.testing.assert_close(style.yiq_to_rgb(style.rgb_to_yiq(img)), img, atol=1e-5, rtol=0)
    grey = torch.rand(1, 5, 4).expand(3, 5, 4)
    yiq = style.rgb_to_yiq(grey)
    torch.testing.assert_close(yiq[0], grey[0], atol=1e-6, rtol=0)
    assert yiq[1:].abs().max() < 1e-6
    y = style.luminance(img)
    torch.testing.assert_close(y[:, 0], 0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2])


@pytest.mark.parametrize("call, message", [
    (lambda: style.gram_matrix(torch.rand(3, 4, 4)), r"Tensor\[N, C, H, W\], got shape \(3, 4, 4\)"),
    (lambda: style.style_loss(torch.rand(1, 3, 3), torch.rand(4, 4)), "does not match"),
    (lambda: style.content_loss(torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 3)), "does not match"),
    (lambda: style.rgb_to_yiq(torch.rand(4, 5, 5)), "must be RGB"),
])
def test_bad_inputs_are_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as e:
        call()
    assert "\n" not in str(e.value)
