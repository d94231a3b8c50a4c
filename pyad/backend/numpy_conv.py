"""CPU forward kernels of the convolution and pooling rows, by row name.

A convolution runs in C++ (pyad._C, csrc/conv.cpp): per image and block of output rows,
im2col then one GEMM per group on pyad's BLAS, the unfolded block staying in cache, images
split between pyad's threads, each calling BLAS single-threaded; a 3x3 stride-1 one with at
least 16 channels in and out (and its input gradient) as Winograd F(2x2, 3x3) instead, 16
GEMMs over blocks of 2x2 output tiles with 2.25x fewer multiply-adds
(pyad._C.set_winograd(False) turns that off). Its two transposes,
conv_transpose2d (the VJP in the input) and conv2d_weight (the VJP in the weight), are the
same GEMMs the other way round, with col2im. Pooling is one C++ pass over each plane;
adaptive average pooling two small products with averaging matrices.

Row params (see pyad/ops/convolution.py): stride (sh, sw), padding ((top, bottom), (left,
right)), dilation (dh, dw), groups; pooling rows take their window the same way.
"""
import numpy as np

from pyad import _C
from pyad.backend._blas import gemm_pointers
from pyad.backend.windows import adaptive_rows, geometry, pool_geometry

_C.set_blas(*gemm_pointers())       # the convolutions' GEMM: the BLAS pyad's products use


def conv2d(x, w, stride, padding, dilation, groups):
    geom = geometry(x.shape[2:], w.shape[2:], stride, padding, dilation)
    y = np.empty((x.shape[0], w.shape[0], geom[8], geom[9]), dtype=x.dtype)
    _C.conv2d_forward(x, w, y, geom, groups)
    return y


def conv_transpose2d(y, w, stride, padding, dilation, groups, in_hw):
    """The transpose of conv2d(., w) in its input, applied to y: an (N, C, H, W) array."""
    geom = geometry(in_hw, w.shape[2:], stride, padding, dilation, y.shape[2:])
    x = np.empty((y.shape[0], w.shape[1] * groups) + tuple(in_hw), dtype=y.dtype)
    _C.conv2d_input_grad(y, w, x, geom, groups)
    return x


def conv2d_weight(x, y, stride, padding, dilation, groups, kernel_hw):
    """The transpose of conv2d(x, .) in its weight, applied to y: an (O, C/groups, kh, kw)
    array."""
    geom = geometry(x.shape[2:], kernel_hw, stride, padding, dilation, y.shape[2:])
    dw = np.empty((y.shape[1], x.shape[1] // groups) + tuple(kernel_hw), dtype=x.dtype)
    _C.conv2d_weight_grad(x, y, dw, geom, groups)
    return dw


def _pool_geometry(x, kernel_hw, stride, padding, dilation, ceil_mode):
    return pool_geometry(x.shape[2:], kernel_hw, stride, padding, dilation, ceil_mode)


def max_pool2d(x, kernel_hw, stride, padding, dilation, ceil_mode):
    return _C.max_pool2d(x, _pool_geometry(x, kernel_hw, stride, padding, dilation, ceil_mode))


def max_pool2d_backward(g, x, kernel_hw, stride, padding, dilation, ceil_mode):
    return _C.max_pool2d_backward(
        g, x, _pool_geometry(x, kernel_hw, stride, padding, dilation, ceil_mode))


def max_pool2d_select(t, x, kernel_hw, stride, padding, dilation, ceil_mode):
    return _C.max_pool2d_select(
        t, x, _pool_geometry(x, kernel_hw, stride, padding, dilation, ceil_mode))


def avg_pool2d(x, kernel_hw, stride, padding, ceil_mode, count_include_pad, divisor):
    geom = _pool_geometry(x, kernel_hw, stride, padding, (1, 1), ceil_mode)
    return _C.avg_pool2d(x, geom, count_include_pad, divisor or 0)


def avg_pool2d_backward(g, kernel_hw, stride, padding, ceil_mode, count_include_pad, divisor,
                        in_hw):
    geom = pool_geometry(in_hw, kernel_hw, stride, padding, (1, 1), ceil_mode)
    return _C.avg_pool2d_backward(g, geom, in_hw[0], in_hw[1], count_include_pad, divisor or 0)


def _averaging(n, out, dtype):
    return np.array(adaptive_rows(n, out), dtype=dtype)


def adaptive_avg_pool2d(x, out_hw):
    """A_h x A_w^T per plane, A the (out, n) averaging matrices of the windows."""
    ah = _averaging(x.shape[2], out_hw[0], x.dtype)
    aw = _averaging(x.shape[3], out_hw[1], x.dtype)
    return np.matmul(np.matmul(ah, x), aw.T)


def adaptive_avg_pool2d_backward(g, in_hw):
    ah = _averaging(in_hw[0], g.shape[2], g.dtype)
    aw = _averaging(in_hw[1], g.shape[3], g.dtype)
    return np.matmul(np.matmul(ah.T, g), aw)


KERNELS = dict(
    conv2d=conv2d, conv_transpose2d=conv_transpose2d, conv2d_weight=conv2d_weight,
    max_pool2d=max_pool2d, max_pool2d_backward=max_pool2d_backward,
    max_pool2d_select=max_pool2d_select, avg_pool2d=avg_pool2d,
    avg_pool2d_backward=avg_pool2d_backward, adaptive_avg_pool2d=adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward=adaptive_avg_pool2d_backward,
)
