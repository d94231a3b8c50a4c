"""Array API kernels of the convolution and pooling rows (see backend/array_api.py): windows as
strided slices of a padded copy (one per kernel tap), products through the namespace's
matmul, and their transposes as slice-adds, so they run on any standard array (CuPy's too).
"""
from pyad.backend.namespaces import namespace_of as _ns
from pyad.backend.windows import adaptive_rows, geometry, pool_geometry


def _padded(like, shape, value, channels=None):
    """A `value`-filled (N, C, *shape) array of like's dtype and device (C like's, or
    `channels`)."""
    lead = (like.shape[0], like.shape[1] if channels is None else channels)
    return _ns(like).full(lead + tuple(shape), value, dtype=like.dtype, device=like.device)


def _place(x, hw, top_left, value):
    """x (N, C, H, W) placed at (top, left) of a `value`-filled (N, C, *hw) array."""
    top, left = top_left
    out = _padded(x, hw, value)
    out[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
    return out


def _taps(geom):
    """The (row slice, column slice) of every kernel tap into the padded input, and the
    padded size those slices need."""
    kh, kw, sh, sw, _, _, dh, dw, oh, ow = geom
    taps = [(slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
             slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)) for i in range(kh) for j in range(kw)]
    need = ((kh - 1) * dh + (oh - 1) * sh + 1, (kw - 1) * dw + (ow - 1) * sw + 1)
    return taps, need


def _padded_size(in_hw, pads, need):
    return tuple(max(n + a + b, m) for n, (a, b), m in zip(in_hw, pads, need))


def _crop(xpad, in_hw, top_left):
    top, left = top_left
    return xpad[:, :, top:top + in_hw[0], left:left + in_hw[1]]


def _columns(x, geom, pads, groups):
    """im2col: (N, groups, C/groups kh kw, OH OW)."""
    xp = _ns(x)
    n, c = x.shape[:2]
    taps, need = _taps(geom)
    xpad = _place(x, _padded_size(x.shape[2:], pads, need), (pads[0][0], pads[1][0]), 0.0)
    col = xp.stack([xpad[:, :, a, b] for a, b in taps], axis=2)
    return xp.reshape(col, (n, groups, (c // groups) * len(taps), geom[8] * geom[9]))


def _conv2d(x, w, stride, padding, dilation, groups):
    xp = _ns(x)
    o = w.shape[0]
    geom = geometry(x.shape[2:], w.shape[2:], stride, padding, dilation)
    col = _columns(x, geom, padding, groups)
    wg = xp.reshape(w, (groups, o // groups, col.shape[2]))
    y = xp.matmul(wg, col)
    return xp.reshape(y, (x.shape[0], o, geom[8], geom[9]))


def _conv_transpose2d(y, w, stride, padding, dilation, groups, in_hw):
    xp = _ns(y)
    n, o, oh, ow = y.shape
    cg = w.shape[1]
    geom = geometry(in_hw, w.shape[2:], stride, padding, dilation, (oh, ow))
    taps, need = _taps(geom)
    wg = xp.reshape(w, (groups, o // groups, cg * len(taps)))
    yg = xp.reshape(y, (n, groups, o // groups, oh * ow))
    col = xp.matmul(xp.permute_dims(wg, (0, 2, 1)), yg)        # (N, G, K, P)
    col = xp.reshape(col, (n, cg * groups, len(taps), oh, ow))
    top_left = (padding[0][0], padding[1][0])
    xpad = _padded(y, _padded_size(in_hw, padding, need), 0.0, cg * groups)
    for k, (a, b) in enumerate(taps):
        xpad[:, :, a, b] = xpad[:, :, a, b] + col[:, :, k, ...]
    return _crop(xpad, in_hw, top_left)


def _conv2d_weight(x, y, stride, padding, dilation, groups, kernel_hw):
    xp = _ns(x)
    n, o, oh, ow = y.shape
    geom = geometry(x.shape[2:], kernel_hw, stride, padding, dilation, (oh, ow))
    col = _columns(x, geom, padding, groups)                   # (N, G, K, P)
    k = col.shape[2]
    yg = xp.reshape(xp.permute_dims(xp.reshape(y, (n, groups, o // groups, oh * ow)),
                                    (1, 2, 0, 3)), (groups, o // groups, n * oh * ow))
    cg = xp.reshape(xp.permute_dims(col, (1, 0, 3, 2)), (groups, n * oh * ow, k))
    dw = xp.matmul(yg, cg)
    return xp.reshape(dw, (o, x.shape[1] // groups) + tuple(kernel_hw))


# ------------------------------------------------------------------- pooling
def _windows(x, geom, pad, value):
    """The padded input's windows stacked along a new axis 0: (kh kw, N, C, OH, OW)."""
    xp = _ns(x)
    taps, need = _taps(geom)
    size = tuple(max(n + 2 * p, m) for n, p, m in zip(x.shape[2:], pad, need))
    xpad = _place(x, size, pad, value)
    return xp.stack([xpad[:, :, a, b] for a, b in taps]), taps, size


def _max_pool2d(x, kernel_hw, stride, padding, dilation, ceil_mode):
    geom = pool_geometry(x.shape[2:], kernel_hw, stride, padding, dilation, ceil_mode)
    wins, _, _ = _windows(x, geom, padding, -float("inf"))
    return _ns(x).max(wins, axis=0)


def _argmax_masks(x, kernel_hw, stride, padding, dilation, ceil_mode):
    """Per tap, whether it holds its window's first maximum of x; and the tap slices."""
    xp = _ns(x)
    geom = pool_geometry(x.shape[2:], kernel_hw, stride, padding, dilation, ceil_mode)
    wins, taps, size = _windows(x, geom, padding, -float("inf"))
    first = xp.argmax(wins, axis=0)
    return [first == k for k in range(len(taps))], taps, size


def _max_pool2d_backward(g, x, kernel_hw, stride, padding, dilation, ceil_mode):
    xp = _ns(g)
    masks, taps, size = _argmax_masks(x, kernel_hw, stride, padding, dilation, ceil_mode)
    dx = _padded(g, size, 0.0)
    zero = xp.zeros_like(g)
    for m, (a, b) in zip(masks, taps):
        dx[:, :, a, b] = dx[:, :, a, b] + xp.where(m, g, zero)
    return _crop(dx, x.shape[2:], padding)


def _max_pool2d_select(t, x, kernel_hw, stride, padding, dilation, ceil_mode):
    xp = _ns(t)
    masks, taps, size = _argmax_masks(x, kernel_hw, stride, padding, dilation, ceil_mode)
    tpad = _place(t, size, padding, 0.0)
    out = None
    for m, (a, b) in zip(masks, taps):
        part = xp.where(m, tpad[:, :, a, b], xp.zeros_like(tpad[:, :, a, b]))
        out = part if out is None else out + part
    return out


def _divisors(xp, like, in_hw, geom, count_include_pad, divisor):
    """PyTorch's divisor of every window, an (OH, OW) array (see csrc/conv.cpp)."""
    kh, kw, sh, sw, ph, pw, _, _, oh, ow = geom
    if divisor:
        return float(divisor)
    rows = []
    for i in range(oh):
        hs, row = i * sh - ph, []
        he = min(hs + kh, in_hw[0] + ph)
        for j in range(ow):
            ws = j * sw - pw
            we = min(ws + kw, in_hw[1] + pw)
            if count_include_pad:
                row.append(float((he - hs) * (we - ws)))
            else:
                row.append(float((min(he, in_hw[0]) - max(hs, 0))
                                 * (min(we, in_hw[1]) - max(ws, 0))))
        rows.append(row)
    return xp.asarray(rows, dtype=like.dtype, device=like.device)


def _avg_pool2d(x, kernel_hw, stride, padding, ceil_mode, count_include_pad, divisor):
    xp = _ns(x)
    geom = pool_geometry(x.shape[2:], kernel_hw, stride, padding, (1, 1), ceil_mode)
    wins, _, _ = _windows(x, geom, padding, 0.0)
    return xp.sum(wins, axis=0) / _divisors(xp, x, x.shape[2:], geom, count_include_pad,
                                            divisor)


def _avg_pool2d_backward(g, kernel_hw, stride, padding, ceil_mode, count_include_pad, divisor,
                         in_hw):
    xp = _ns(g)
    geom = pool_geometry(in_hw, kernel_hw, stride, padding, (1, 1), ceil_mode)
    taps, need = _taps(geom)
    size = tuple(max(n + 2 * p, m) for n, p, m in zip(in_hw, padding, need))
    part = g / _divisors(xp, g, in_hw, geom, count_include_pad, divisor)
    dx = _padded(g, size, 0.0)
    for a, b in taps:
        dx[:, :, a, b] = dx[:, :, a, b] + part
    return _crop(dx, in_hw, padding)


def _averaging(like, n, out):
    return _ns(like).asarray(adaptive_rows(n, out), dtype=like.dtype, device=like.device)


def _adaptive_avg_pool2d(x, out_hw):
    xp = _ns(x)
    ah = _averaging(x, x.shape[2], out_hw[0])
    aw = _averaging(x, x.shape[3], out_hw[1])
    return xp.matmul(xp.matmul(ah, x), xp.permute_dims(aw, (1, 0)))


def _adaptive_avg_pool2d_backward(g, in_hw):
    xp = _ns(g)
    ah = _averaging(g, in_hw[0], g.shape[2])
    aw = _averaging(g, in_hw[1], g.shape[3])
    return xp.matmul(xp.matmul(xp.permute_dims(ah, (1, 0)), g), aw)


KERNELS = dict(
    conv2d=_conv2d, conv_transpose2d=_conv_transpose2d, conv2d_weight=_conv2d_weight,
    max_pool2d=_max_pool2d, max_pool2d_backward=_max_pool2d_backward,
    max_pool2d_select=_max_pool2d_select, avg_pool2d=_avg_pool2d,
    avg_pool2d_backward=_avg_pool2d_backward, adaptive_avg_pool2d=_adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward=_adaptive_avg_pool2d_backward,
)
