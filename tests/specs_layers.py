"""Op specs of the layers' rows: convolutions, pooling, normalisation, dropout, pad, one_hot (see
tests/op_specs.py, which imports this file). References are written here in plain numpy, tap by
tap, independently of the kernels; tests/test_layers_functional.py also checks the public
functions against PyTorch."""
import numpy as np

import pyad as ad
from op_specs import C, direct, spec


# ----------------------------------------------------------------------------- references
def _pad4(x, pads, value=0.0):
    (t, b), (l, r) = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _out(n, k, s, pads, d):
    return (n + pads[0] + pads[1] - d * (k - 1) - 1) // s + 1


def _tap(i, j, oh, ow, stride, dilation):
    """The slices of a padded input that tap (i, j) of every output pixel reads."""
    (sh, sw), (dh, dw) = stride, dilation
    return (slice(None), slice(None), slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
            slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))


def ref_conv2d(x, w, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = _out(h, kh, stride[0], pads[0], dilation[0])
    ow = _out(wd, kw, stride[1], pads[1], dilation[1])
    xp = _pad4(x, pads)
    y = np.zeros((n, o, oh, ow), dtype=np.result_type(x, w))
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[_tap(i, j, oh, ow, stride, dilation)]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch,
                                                       w[g * og:(g + 1) * og, :, i, j])
    return y


def ref_conv_transpose2d(y, w, stride, pads, dilation, groups, in_hw):
    n, o, oh, ow = y.shape
    _, cg, kh, kw = w.shape
    (t, b), (l, r) = pads
    xp = np.zeros((n, cg * groups, in_hw[0] + t + b, in_hw[1] + l + r), dtype=y.dtype)
    og = o // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                idx = _tap(i, j, oh, ow, stride, dilation)
                idx = (idx[0], slice(g * cg, (g + 1) * cg)) + idx[2:]
                xp[idx] += np.einsum("nohw,oc->nchw", y[:, g * og:(g + 1) * og],
                                     w[g * og:(g + 1) * og, :, i, j])
    return xp[:, :, t:t + in_hw[0], l:l + in_hw[1]]


def ref_conv2d_weight(x, y, stride, pads, dilation, groups, kernel_hw):
    n, c, h, wd = x.shape
    o, oh, ow = y.shape[1:]
    cg, og = c // groups, o // groups
    xp = _pad4(x, pads)
    dw = np.zeros((o, cg) + tuple(kernel_hw), dtype=x.dtype)
    for g in range(groups):
        for i in range(kernel_hw[0]):
            for j in range(kernel_hw[1]):
                patch = xp[:, g * cg:(g + 1) * cg][_tap(i, j, oh, ow, stride, dilation)]
                dw[g * og:(g + 1) * og, :, i, j] = np.einsum(
                    "nchw,nohw->oc", patch, y[:, g * og:(g + 1) * og])
    return dw


def _pool_out(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _windows(x, kernel, stride, pad, dilation, ceil):
    """Per output pixel, the list of (row, col) input positions of its window (inside x)."""
    h, w = x.shape[2:]
    oh = _pool_out(h, kernel[0], stride[0], pad[0], dilation[0], ceil)
    ow = _pool_out(w, kernel[1], stride[1], pad[1], dilation[1], ceil)
    wins = {}
    for a in range(oh):
        for b in range(ow):
            wins[a, b] = [(a * stride[0] - pad[0] + i * dilation[0],
                           b * stride[1] - pad[1] + j * dilation[1])
                          for i in range(kernel[0]) for j in range(kernel[1])
                          if 0 <= a * stride[0] - pad[0] + i * dilation[0] < h
                          and 0 <= b * stride[1] - pad[1] + j * dilation[1] < w]
    return (oh, ow), wins


def _argmax_pos(plane, win):
    vals = [plane[p] for p in win]
    return win[int(np.argmax(vals))]


def ref_max_pool2d(x, kernel, stride, pad=(0, 0), dilation=(1, 1), ceil=False):
    (oh, ow), wins = _windows(x, kernel, stride, pad, dilation, ceil)
    y = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
    for (a, b), win in wins.items():
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                y[n, c, a, b] = max(x[n, c][p] for p in win)
    return y


def ref_max_pool2d_backward(g, x, kernel, stride, pad=(0, 0), dilation=(1, 1), ceil=False):
    _, wins = _windows(x, kernel, stride, pad, dilation, ceil)
    dx = np.zeros_like(x)
    for (a, b), win in wins.items():
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                dx[n, c][_argmax_pos(x[n, c], win)] += g[n, c, a, b]
    return dx


def ref_max_pool2d_select(t, x, kernel, stride, pad=(0, 0), dilation=(1, 1), ceil=False):
    (oh, ow), wins = _windows(x, kernel, stride, pad, dilation, ceil)
    y = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
    for (a, b), win in wins.items():
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                y[n, c, a, b] = t[n, c][_argmax_pos(x[n, c], win)]
    return y


def _avg_divisor(a, b, shape, kernel, stride, pad, include_pad, divisor):
    if divisor:
        return divisor
    h, w = shape
    hs, ws = a * stride[0] - pad[0], b * stride[1] - pad[1]
    he, we = min(hs + kernel[0], h + pad[0]), min(ws + kernel[1], w + pad[1])
    if include_pad:
        return (he - hs) * (we - ws)
    return (min(he, h) - max(hs, 0)) * (min(we, w) - max(ws, 0))


def ref_avg_pool2d(x, kernel, stride, pad=(0, 0), ceil=False, include_pad=True, divisor=None):
    (oh, ow), wins = _windows(x, kernel, stride, pad, (1, 1), ceil)
    y = np.zeros(x.shape[:2] + (oh, ow), dtype=x.dtype)
    for (a, b), win in wins.items():
        d = _avg_divisor(a, b, x.shape[2:], kernel, stride, pad, include_pad, divisor)
        for p in win:
            y[:, :, a, b] += x[:, :, p[0], p[1]]
        y[:, :, a, b] /= d
    return y


def ref_avg_pool2d_backward(g, kernel, stride, pad, ceil, include_pad, divisor, in_hw):
    like = np.zeros(g.shape[:2] + tuple(in_hw), dtype=g.dtype)
    _, wins = _windows(like, kernel, stride, pad, (1, 1), ceil)
    for (a, b), win in wins.items():
        d = _avg_divisor(a, b, in_hw, kernel, stride, pad, include_pad, divisor)
        for p in win:
            like[:, :, p[0], p[1]] += g[:, :, a, b] / d
    return like


def _adaptive(n, out):
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def ref_adaptive(x, out_hw):
    y = np.empty(x.shape[:2] + tuple(out_hw), dtype=x.dtype)
    for a, (h0, h1) in enumerate(_adaptive(x.shape[2], out_hw[0])):
        for b, (w0, w1) in enumerate(_adaptive(x.shape[3], out_hw[1])):
            y[:, :, a, b] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def ref_adaptive_backward(g, in_hw):
    dx = np.zeros(g.shape[:2] + tuple(in_hw), dtype=g.dtype)
    for a, (h0, h1) in enumerate(_adaptive(in_hw[0], g.shape[2])):
        for b, (w0, w1) in enumerate(_adaptive(in_hw[1], g.shape[3])):
            dx[:, :, h0:h1, w0:w1] += g[:, :, a, b][:, :, None, None] / ((h1 - h0) * (w1 - w0))
    return dx


def ref_normalize(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps)).astype(x.dtype)


def ref_norm_backward(g, xhat, x, axes, eps):
    var = x.var(axis=axes, keepdims=True)
    r = 1.0 / np.sqrt(var + eps)
    return (r * (g - g.mean(axis=axes, keepdims=True)
                 - xhat * (g * xhat).mean(axis=axes, keepdims=True))).astype(x.dtype)


def ref_dropout(x, p, seed):
    keep = np.random.default_rng(seed).random(x.shape) >= p
    return (x * (keep / (1.0 - p)).astype(x.dtype)).astype(x.dtype)


# ----------------------------------------------------------------------------- convolutions
_S1 = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
_STRIDED = ((2, 1), ((1, 1), (0, 2)), (1, 2), 1)
_GROUPED = ((1, 2), ((1, 0), (1, 1)), (2, 1), 2)

spec("conv2d",
     C("conv2d", ad.conv2d, ref_conv2d, [(2, 3, 5, 4), (4, 3, 2, 3)]),
     C("conv2d", lambda x, w: ad.conv2d(x, w, stride=2, padding=1),
       lambda x, w: ref_conv2d(x, w, (2, 2), ((1, 1), (1, 1))), [(2, 2, 6, 5), (3, 2, 3, 3)],
       label="stride2-pad1"),
     C("conv2d", lambda x, w: ad.conv2d(x, w, padding="same", dilation=(1, 2), groups=2),
       lambda x, w: ref_conv2d(x, w, (1, 1), ((0, 1), (2, 2)), (1, 2), 2),
       [(1, 4, 4, 5), (6, 2, 2, 3)], label="same-dilated-grouped"),
     C("conv2d", lambda x, w: ad.conv1d(x, w, stride=2, padding=1),
       lambda x, w: ref_conv2d(x[:, :, None], w[:, :, None], (1, 2), ((0, 0), (1, 1)))[:, :, 0],
       [(2, 3, 7), (2, 3, 3)], label="conv1d"),
     C("conv2d", lambda x, w: ad.conv2d(x, w), ref_conv2d, [(0, 2, 3, 3), (2, 2, 2, 2)],
       label="empty-batch", grad=False))
spec("conv_transpose2d",
     C("conv_transpose2d", direct("conv_transpose2d", _STRIDED + ((7, 5),)),
       lambda y, w: ref_conv_transpose2d(y, w, *_STRIDED, (7, 5)),
       [(2, 3, 4, 5), (3, 2, 2, 2)], label="row-strided"),
     C("conv_transpose2d", direct("conv_transpose2d", _GROUPED + ((4, 5),)),
       lambda y, w: ref_conv_transpose2d(y, w, *_GROUPED, (4, 5)),
       [(1, 4, 3, 3), (4, 1, 2, 2)], label="row-grouped"),
     C("conv_transpose2d",
       lambda y, w: ad.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1),
       lambda y, w: ref_conv_transpose2d(y, w, (2, 2), ((1, 1), (1, 1)), (1, 1), 1, (6, 6)),
       [(2, 2, 3, 3), (2, 3, 3, 3)], label="public-output-padding"))
spec("conv2d_weight",
     C("conv2d_weight", direct("conv2d_weight", _STRIDED + ((2, 2),)),
       lambda x, y: ref_conv2d_weight(x, y, *_STRIDED, (2, 2)),
       [(2, 2, 7, 5), (2, 3, 4, 5)], label="row-strided"),
     C("conv2d_weight", direct("conv2d_weight", _GROUPED + ((2, 2),)),
       lambda x, y: ref_conv2d_weight(x, y, *_GROUPED, (2, 2)),
       [(1, 2, 4, 5), (1, 4, 3, 3)], label="row-grouped"),
     C("conv2d_weight", direct("conv2d_weight", _S1 + ((3, 3),)),
       lambda x, y: ref_conv2d_weight(x, y, *_S1, (3, 3)),
       [(2, 3, 5, 5), (2, 2, 3, 3)], label="row-plain"))

# ----------------------------------------------------------------------------- pooling
_MAXP = ((3, 2), (2, 1), (1, 1), (1, 2), True)      # kernel, stride, pad, dilation, ceil
spec("max_pool2d",
     C("max_pool2d", lambda x: ad.max_pool2d(x, 2), lambda x: ref_max_pool2d(x, (2, 2), (2, 2)),
       [(2, 3, 4, 6)], domain="distinct"),
     C("max_pool2d", lambda x: ad.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
       lambda x: ref_max_pool2d(x, (3, 3), (2, 2), (1, 1), (1, 1), True), [(1, 2, 6, 5)],
       domain="distinct", label="overlap-pad-ceil"),
     C("max_pool2d", lambda x: ad.max_pool2d(x, (2, 3), stride=1, dilation=(2, 1)),
       lambda x: ref_max_pool2d(x, (2, 3), (1, 1), (0, 0), (2, 1)), [(2, 1, 5, 5)],
       domain="distinct", label="dilated"),
     C("max_pool2d", lambda x: ad.max_pool2d(x, 2),
       lambda x: ref_max_pool2d(x[None], (2, 2), (2, 2))[0], [(3, 4, 4)], domain="distinct",
       label="unbatched"))
spec("max_pool2d_backward",
     C("max_pool2d_backward", direct("max_pool2d_backward", _MAXP),
       lambda g, x: ref_max_pool2d_backward(g, x, *_MAXP), [(2, 2, 3, 6), (2, 2, 5, 6)],
       domain=("real", "distinct")))
spec("max_pool2d_select",
     C("max_pool2d_select", direct("max_pool2d_select", _MAXP),
       lambda t, x: ref_max_pool2d_select(t, x, *_MAXP), [(2, 2, 5, 6), (2, 2, 5, 6)],
       domain=("real", "distinct")))
_AVGP = ((3, 2), (2, 1), (1, 1), True, False, None)
spec("avg_pool2d",
     C("avg_pool2d", lambda x: ad.avg_pool2d(x, 2), lambda x: ref_avg_pool2d(x, (2, 2), (2, 2)),
       [(2, 3, 4, 6)]),
     C("avg_pool2d", lambda x: ad.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
       lambda x: ref_avg_pool2d(x, (3, 3), (2, 2), (1, 1), True), [(1, 2, 6, 5)],
       label="pad-ceil"),
     C("avg_pool2d", lambda x: ad.avg_pool2d(x, (3, 2), (2, 1), 1, count_include_pad=False),
       lambda x: ref_avg_pool2d(x, (3, 2), (2, 1), (1, 1), False, False), [(2, 1, 5, 4)],
       label="exclude-pad"),
     C("avg_pool2d", lambda x: ad.avg_pool2d(x, 2, divisor_override=3),
       lambda x: ref_avg_pool2d(x, (2, 2), (2, 2), divisor=3), [(1, 2, 4, 4)],
       label="divisor"))
spec("avg_pool2d_backward",
     C("avg_pool2d_backward", direct("avg_pool2d_backward", _AVGP + ((5, 6),)),
       lambda g: ref_avg_pool2d_backward(g, *_AVGP, (5, 6)), [(2, 2, 3, 7)]))
spec("adaptive_avg_pool2d",
     C("adaptive_avg_pool2d", lambda x: ad.adaptive_avg_pool2d(x, (3, 2)),
       lambda x: ref_adaptive(x, (3, 2)), [(2, 3, 7, 5)]),
     C("adaptive_avg_pool2d", lambda x: ad.adaptive_avg_pool2d(x, 1),
       lambda x: ref_adaptive(x, (1, 1)), [(2, 3, 4, 4)], label="global"))
spec("adaptive_avg_pool2d_backward",
     C("adaptive_avg_pool2d_backward", direct("adaptive_avg_pool2d_backward", ((7, 5),)),
       lambda g: ref_adaptive_backward(g, (7, 5)), [(2, 3, 3, 2)]))

# ----------------------------------------------------------------------------- normalisation
_BN_AXES = (0, 2, 3)
spec("batch_norm",
     C("batch_norm", lambda x: ad.batch_norm(x, None, None, training=True),
       lambda x: ref_normalize(x, _BN_AXES, 1e-5), [(3, 2, 2, 3)]),
     C("batch_norm", lambda x: ad.batch_norm(x, None, None, training=True, eps=0.1),
       lambda x: ref_normalize(x, (0,), 0.1), [(5, 3)], label="1d-eps"))
spec("layer_norm",
     C("layer_norm", lambda x: ad.layer_norm(x, 4), lambda x: ref_normalize(x, (1,), 1e-5),
       [(3, 4)]),
     C("layer_norm", lambda x: ad.layer_norm(x, (2, 3), eps=0.01),
       lambda x: ref_normalize(x, (1, 2), 0.01), [(2, 2, 3)], label="2-axes"))
spec("norm_backward",
     C("norm_backward", direct("norm_backward", ((0, 2), 1e-3)),
       lambda g, xh, x: ref_norm_backward(g, xh, x, (0, 2), 1e-3),
       [(3, 2, 2), (3, 2, 2), (3, 2, 2)], label="batch-layout"),
     C("norm_backward", direct("norm_backward", ((1,), 1e-5)),
       lambda g, xh, x: ref_norm_backward(g, xh, x, (1,), 1e-5),
       [(2, 5), (2, 5), (2, 5)], label="layer-layout"))
spec("dropout",
     C("dropout", lambda x: ad.dropout(x, 0.3, seed=7), lambda x: ref_dropout(x, 0.3, 7),
       [(4, 5)]),
     C("dropout", lambda x: ad.dropout(x, 0.5, seed=np.random.default_rng(1)),
       lambda x: ref_dropout(x, 0.5, 1), [(3, 2, 2)], label="generator"))

# ----------------------------------------------------------------------------- pad, one_hot
spec("pad",
     C("pad", lambda x: ad.pad(x, ((1, 2), (0, 3))), lambda x: np.pad(x, ((1, 2), (0, 3))),
       [(3, 4)]),
     C("pad", lambda x: ad.pad(x, 2, constant_values=1.5),
       lambda x: np.pad(x, 2, constant_values=1.5), [(2, 3, 1)], label="value"),
     C("pad", lambda x: ad.pad(x, ((1, 2),), "constant"),
       lambda x: np.pad(x, ((1, 2),), "constant"), [(0, 2)], label="empty"),
     C("pad", lambda x: np.pad(x, 1), lambda x: np.pad(x, 1), [(3,)], label="np-dispatch"),
     C("pad", lambda x: ad.pad(x, 1, constant_values=7),
       lambda x: np.pad(x, 1, constant_values=7), [(3, 4)], label="int64", grad=False,
       dtypes=(np.int64,)),
     C("pad", lambda x: ad.nn.functional.pad(x, (1, 0, 2, 1), value=-1.0),
       lambda x: np.pad(x, ((0, 0), (2, 1), (1, 0)), constant_values=-1.0), [(2, 3, 2)],
       label="torch-order"))
spec("one_hot",
     C("one_hot", lambda x: ad.one_hot(ad.astype(x, np.int64), 5),
       lambda x: np.eye(5, dtype=np.int64)[x.astype(np.int64)], [(2, 3)], domain="labels",
       grad=False))
