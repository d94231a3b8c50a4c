"""Window arithmetic shared by the convolution and pooling kernels of every backend: output
sizes (PyTorch's formulas, ceil_mode included), the C++ kernels' geometry tuple, and the
windows of adaptive average pooling."""


def out_size(n, k, s, pad, d):
    """Output length of a sweep of a k-tap window (dilation d, stride s) along an axis of n,
    with pad = (before, after): (n + before + after - d (k - 1) - 1) // s + 1."""
    return (n + pad[0] + pad[1] - d * (k - 1) - 1) // s + 1


def pool_out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooled length: padding p on both sides, rounded up with ceil_mode, but the
    last window must start inside the input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def geometry(in_hw, kernel_hw, stride, padding, dilation, out_hw=None):
    """(kh, kw, sh, sw, ph, pw, dh, dw, OH, OW): what the C++ window kernels take. padding is
    ((top, bottom), (left, right)); only the leading pads place the windows, the trailing ones
    only change the output size (out_hw, computed from them when not given)."""
    if out_hw is None:
        out_hw = tuple(out_size(n, k, s, p, d) for n, k, s, p, d in
                       zip(in_hw, kernel_hw, stride, padding, dilation))
    return (kernel_hw[0], kernel_hw[1], stride[0], stride[1], padding[0][0], padding[1][0],
            dilation[0], dilation[1], out_hw[0], out_hw[1])


def pool_geometry(in_hw, kernel_hw, stride, padding, dilation, ceil_mode):
    """geometry() of a pooling window with padding (p_h, p_w) on both sides."""
    out_hw = tuple(pool_out_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in
                   zip(in_hw, kernel_hw, stride, padding, dilation))
    return geometry(in_hw, kernel_hw, stride, ((padding[0], 0), (padding[1], 0)), dilation,
                    out_hw)


def adaptive_windows(n, out):
    """[start, end) of each of the out windows of adaptive pooling along an axis of n:
    floor(i n / out) to ceil((i + 1) n / out)."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def adaptive_rows(n, out):
    """The (out, n) averaging matrix of adaptive pooling as nested lists of floats."""
    rows = []
    for a, b in adaptive_windows(n, out):
        rows.append([1.0 / (b - a) if a <= j < b else 0.0 for j in range(n)])
    return rows


