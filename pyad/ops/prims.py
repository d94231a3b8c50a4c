"""The primitive table: one row per primitive, its kernel, its VJP rules and its JVP rule.

VJP rules: rule(g, ans, *inputs, *params) -> cotangent of that input (None for zero), one
per input (None: not differentiable in that input). A rule that is a single primitive applied
to the cotangent, the output and inputs is written call("name", G, ANS, X(0), ...): the sweep
runs those without a Python frame.

JVP rule: jvp(dots, ans, *inputs, *params) -> tangent of the output, where dots holds one
tangent per input (None for zero; at least one is set). DIAGONAL marks elementwise unary rows,
whose Jacobian is diagonal so the JVP is the VJP rule applied to the tangent; LINEAR marks rows
linear in their single input, whose JVP is the row itself applied to the tangent.

Rules use pyad ops only, never numpy, so they are differentiable themselves (any nesting of
grad and jvp) and run unchanged on every backend. Conventions at kinks follow
autograd/JAX/PyTorch: relu'(0) = abs'(0) = 0, and ties in max/min/maximum/minimum split the
gradient evenly.
"""
import math

from pyad import backend
from pyad.engine._tape import (COTANGENT as G, INPUT, OUTPUT as ANS, Primitive, VjpCall, apply1,
                               apply2, wrap)
from pyad.ops import core as o
from pyad.ops.lifts import (ALIGNED, ELEMENTWISE_ROW, LEADING, prefix_index, prefix_shape,
                            same_params, scatter_params, shift_axes, shift_first, sum_to_shape,
                            transpose_axes)

PRIMITIVES = {}
_CALLS = []
DIAGONAL, LINEAR = "diagonal", "linear"


def X(i):
    """Pick input i of the primitive for a call() rule."""
    return INPUT + i


def call(name, *picks, params=None):
    """The rule `name(*picks, *params)`; params default to the forward primitive's own."""
    rule = VjpCall(name, *picks, params=params)
    _CALLS.append(rule)
    return rule


IDENTITY = call(None, G)


# name -> how pyad.ops.batching lifts the row's rules over a batch of tangents, given by each
# row: defprim(..., lift=(kind, params shift)) (see pyad.ops.lifts); rows without one
# (softmax cross-entropy wants 2-D logits) loop over the batch
LIFTS = {}
# rows whose rules batching runs once per tangent of a batch (no lift): defprim(lift=LOOP)
LOOP = "loop"
LOOPED = {"softmax_cross_entropy", "softmax_cross_entropy_backward"}


def defprim(name, *vjps, jvp=None, nondiff=False, variadic=False, kernel=False, lift=None):
    """Add a row. kernel=True: the forward is a C++ kernel taking C-contiguous floats.
    lift: the batching rule (see LIFTS, pyad.ops.lifts); None: batching loops over the batch."""
    # the row's CPU kernel is its impl, the engine's numpy fast path; arrays of other
    # backends get the kernel of the same name there (backend.kernel_for)
    prim = Primitive(name, backend.CPU.kernels[name], None if nondiff else vjps,
                     fallback=backend.CPU.fallbacks.get(name), variadic=variadic,
                     contiguous_floats=kernel)
    if lift == LOOP:
        LOOPED.add(name)
    elif lift is not None:
        LIFTS[name] = lift
    if jvp == DIAGONAL:
        jvp = _diagonal_jvp(vjps[0])
    elif jvp == LINEAR:
        jvp = _linear_jvp(prim)
    prim.jvp = jvp
    prim.into = backend.CPU.into_kernels.get(name)
    PRIMITIVES[name] = prim
    return prim


def _diagonal_jvp(rule):
    if isinstance(rule, VjpCall):
        return lambda dots, ans, x, *params: rule.apply(dots[0], ans, (x,), params)
    return lambda dots, ans, x, *params: rule(dots[0], ans, x, *params)


def _linear_jvp(prim):
    return lambda dots, ans, x, *params: apply1(prim, dots[0], params)


def _kernel_prim(name, *vjps, jvp=None, lift=None):
    return defprim(name, *vjps, jvp=jvp, kernel=True, lift=lift)


def _unary(name, vjp):
    return _kernel_prim(name, vjp, jvp=DIAGONAL, lift=ELEMENTWISE_ROW)


def _tangent_sum(terms, ans):
    """Sum of the tangent terms that are present, broadcast to the output's shape."""
    total = None
    for t in terms:
        if t is not None:
            total = t if total is None else total + t
    if total is None or total.shape == ans.shape:
        return total
    return o.broadcast_to(total, ans.shape)


# ------------------------------------------------------------------- elementwise unary
exp = _unary("exp", lambda g, ans, x: g * ans)
log = _unary("log", lambda g, ans, x: g / x)
log1p = _unary("log1p", lambda g, ans, x: g / (x + 1.0))
sqrt = _unary("sqrt", call("sqrt_backward", G, ANS))
square = _unary("square", lambda g, ans, x: (g * x) * 2.0)
abs = _unary("abs", call("abs_backward", G, X(0)))
sin = _unary("sin", lambda g, ans, x: g * o.cos(x))
cos = _unary("cos", lambda g, ans, x: -(g * o.sin(x)))
tanh = _unary("tanh", call("tanh_backward", G, ANS))
sigmoid = _unary("sigmoid", call("sigmoid_backward", G, ANS))
# relu's backward reads its output (y > 0 exactly where x > 0, as torch's threshold_backward
# does): the input need not be kept, and ad.compile fuses a bias add into the relu after it
relu = _unary("relu", call("relu_backward", G, ANS))
softplus = _unary("softplus", call("softplus_backward", G, X(0)))
negative = _unary("negative", call("negative", G))

# ------------------------------------------------------------------- with a Python scalar c
add_scalar = _unary("add_scalar", IDENTITY)
mul_scalar = _unary("mul_scalar", call("mul_scalar", G))
rsub_scalar = _unary("rsub_scalar", call("negative", G, params=()))
rdiv_scalar = _unary("rdiv_scalar", lambda g, ans, x, c: -(g * ans) / x)


def _pow_scalar_vjp(g, ans, x, c):
    if c == 0:
        return o.zeros_like(g)
    if c == 2:                      # x ** 2, the common case: one step fewer, the same values
        return g * (x * 2.0)
    return g * (o.power(x, c - 1.0) * c)


pow_scalar = _unary("pow_scalar", _pow_scalar_vjp)
rpow_scalar = _unary("rpow_scalar", lambda g, ans, x, c: g * ans * math.log(c))
clip = _unary("clip", call("clip_backward", G, X(0)))

# ------------------------------------------------------------------- binary, broadcasting
def _unbroadcast_x(g, ans, x, y):
    return o.sum_to(g, x.shape)


def _unbroadcast_y(g, ans, x, y):
    return o.sum_to(g, y.shape)


# one op each, no data reads: deferrable (a bias's cotangent in forward-over-reverse)
_unbroadcast_x.deferrable = _unbroadcast_y.deferrable = True
add = _kernel_prim(
    "add", _unbroadcast_x, _unbroadcast_y, jvp=lambda dots, ans, x, y: _tangent_sum(dots, ans),
    lift=ELEMENTWISE_ROW)
subtract = _kernel_prim(
    "subtract", lambda g, ans, x, y: o.sum_to(g, x.shape),
    lambda g, ans, x, y: o.sum_to(-g, y.shape),
    jvp=lambda dots, ans, x, y: _tangent_sum(
        (dots[0], None if dots[1] is None else -dots[1]), ans),
    lift=ELEMENTWISE_ROW)
multiply = _kernel_prim(
    "multiply", lambda g, ans, x, y: o.sum_to(g * y, x.shape),
    lambda g, ans, x, y: o.sum_to(g * x, y.shape),
    jvp=lambda dots, ans, x, y: _tangent_sum(
        (None if dots[0] is None else dots[0] * y, None if dots[1] is None else x * dots[1]),
        ans),
    lift=ELEMENTWISE_ROW)
divide = _kernel_prim(
    "divide", lambda g, ans, x, y: o.sum_to(g / y, x.shape),
    lambda g, ans, x, y: o.sum_to(-(g * ans) / y, y.shape),
    jvp=lambda dots, ans, x, y: _tangent_sum(
        (None if dots[0] is None else dots[0] / y,
         None if dots[1] is None else -(ans * dots[1]) / y), ans),
    lift=ELEMENTWISE_ROW)


def _tie_weight(x, y):
    """1 where x wins, 1/2 at ties, 0 where y wins (a constant, like the mask it is)."""
    return o.where(o.greater(x, y), 1.0, o.where(o.equal(x, y), 0.5, 0.0)).astype(x.dtype)


def _select_jvp(first_wins):
    """maximum/minimum: the tangent of whichever input wins (the mean of both at ties)."""
    def jvp(dots, ans, x, y):
        w = _tie_weight(x, y) if first_wins else _tie_weight(y, x)
        return _tangent_sum((None if dots[0] is None else dots[0] * w,
                             None if dots[1] is None else dots[1] * (1.0 - w)), ans)
    return jvp


maximum = _kernel_prim(
    "maximum",
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(x, y), x.shape),
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(y, x), y.shape),
    jvp=_select_jvp(True),
    lift=ELEMENTWISE_ROW)
minimum = _kernel_prim(
    "minimum",
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(y, x), x.shape),
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(x, y), y.shape),
    jvp=_select_jvp(False),
    lift=ELEMENTWISE_ROW)


def _power_dx(g, ans, x, y):
    return g * (y * o.power(x, y - 1.0))


def _power_dy(g, ans, x, y):
    """d(x**y)/dy = x**y log x, taken as 0 where x <= 0 (as autograd does)."""
    positive = o.greater(x, 0.0)
    safe_log = o.log(o.where(positive, x, 1.0))
    return o.where(positive, g * ans * safe_log, 0.0)


power = _kernel_prim(
    "power",
    lambda g, ans, x, y: o.sum_to(_power_dx(g, ans, x, y), x.shape),
    lambda g, ans, x, y: o.sum_to(_power_dy(g, ans, x, y), y.shape),
    jvp=lambda dots, ans, x, y: _tangent_sum(
        (None if dots[0] is None else _power_dx(dots[0], ans, x, y),
         None if dots[1] is None else _power_dy(dots[1], ans, x, y)), ans),
    lift=ELEMENTWISE_ROW)

# ------------------------------------------------------------------- fused backward ops
# One C++ pass each in the first-order sweep; their own rules make them differentiable again.
# Each is linear in its first input g; the second input is the saved output or input.
def _tanh_tangent(g, y, dg, dy):
    """dg (1 - y^2) - 2 g y dy with g or dg possibly None (zero): the tangent of
    tanh_backward(g, y) along (dg, dy), or the part of tanh_backward_tangent linear in (g, dg)."""
    if g is None:
        return None if dg is None else apply2(tanh_backward, dg, y)
    if dg is None:
        return g * y * dy * -2.0
    return o.bind(tanh_backward_tangent, g, y, dg, dy)     # one fused pass


def _tanh_backward_jvp(dots, ans, g, y):
    dg, dy = dots
    if dy is None:
        return apply2(tanh_backward, dg, y)
    return _tangent_sum((_tanh_tangent(g, y, dg, dy),), ans)


tanh_backward = _kernel_prim(
    "tanh_backward", call("tanh_backward", G, X(1)),
    lambda c, ans, g, y: c * g * y * -2.0,
    jvp=_tanh_backward_jvp,
    lift=ELEMENTWISE_ROW)
# its tangent dg (1 - y^2) - 2 g y dy as one row (and one kernel pass)
tanh_backward_tangent = _kernel_prim(
    "tanh_backward_tangent",
    lambda c, ans, g, y, dg, dy: c * y * dy * -2.0,
    lambda c, ans, g, y, dg, dy: (c * (y * dg + g * dy)) * -2.0,
    call("tanh_backward", G, X(1)),
    lambda c, ans, g, y, dg, dy: c * g * y * -2.0,
    jvp=lambda dots, ans, g, y, dg, dy: _tangent_sum((
        _tanh_tangent(dots[0], y, dots[2], dy),     # linear in (g, dg) jointly: the row
        None if dots[1] is None else dots[1] * (y * dg + g * dy) * -2.0,
        None if dots[3] is None else dots[3] * g * y * -2.0), ans),
    lift=ELEMENTWISE_ROW)
sigmoid_backward = _kernel_prim(
    "sigmoid_backward", call("sigmoid_backward", G, X(1)),
    lambda c, ans, g, y: c * g * (1.0 - 2.0 * y),
    jvp=lambda dots, ans, g, y: _tangent_sum(
        (None if dots[0] is None else apply2(sigmoid_backward, dots[0], y),
         None if dots[1] is None else g * (1.0 - 2.0 * y) * dots[1]), ans),
    lift=ELEMENTWISE_ROW)
relu_backward = _kernel_prim(
    "relu_backward", call("relu_backward", G, X(1)), None,
    jvp=lambda dots, ans, g, x: None if dots[0] is None else apply2(relu_backward, dots[0], x),
    lift=ELEMENTWISE_ROW)
abs_backward = _kernel_prim(
    "abs_backward", call("abs_backward", G, X(1)), None,
    jvp=lambda dots, ans, g, x: None if dots[0] is None else apply2(abs_backward, dots[0], x),
    lift=ELEMENTWISE_ROW)
softplus_backward = _kernel_prim(
    "softplus_backward", call("softplus_backward", G, X(1)),
    lambda c, ans, g, x: apply2(sigmoid_backward, c * g, o.sigmoid(x)),
    jvp=lambda dots, ans, g, x: _tangent_sum(
        (None if dots[0] is None else apply2(softplus_backward, dots[0], x),
         None if dots[1] is None else apply2(sigmoid_backward, g * dots[1], o.sigmoid(x))),
        ans),
    lift=ELEMENTWISE_ROW)
clip_backward = _kernel_prim(
    "clip_backward", call("clip_backward", G, X(1)), None,
    jvp=lambda dots, ans, g, x, lo, hi: None if dots[0] is None
    else apply2(clip_backward, dots[0], x, (lo, hi)),
    lift=ELEMENTWISE_ROW)
sqrt_backward = _kernel_prim(
    "sqrt_backward", call("sqrt_backward", G, X(1)),
    lambda c, ans, g, y: -(c * ans) / y,
    jvp=lambda dots, ans, g, y: _tangent_sum(
        (None if dots[0] is None else apply2(sqrt_backward, dots[0], y),
         None if dots[1] is None else -(ans * dots[1]) / y), ans),
    lift=ELEMENTWISE_ROW)


# ------------------------------------------------------------------- reductions
def _expand_reduced(g, x, axes, keepdims):
    """Reshape a reduced cotangent so it broadcasts against x again (as it is when the
    reduced axes lead: a full sum's 0-d cotangent, say)."""
    if keepdims or all(a == i for i, a in enumerate(sorted(axes))):
        return g
    return o.reshape(g, [1 if i in axes else n for i, n in enumerate(x.shape)])


def _extremum_share(ans, x, axes, keepdims):
    """Which entries attain the max/min, each with its share of a tie."""
    hit = o.equal(x, _expand_reduced(ans, x, axes, keepdims)).astype(x.dtype)
    return hit / o.sum(hit, axis=axes, keepdims=True)


def _extremum_vjp(g, ans, x, axes, keepdims):
    return _expand_reduced(g, x, axes, keepdims) * _extremum_share(ans, x, axes, keepdims)


def _extremum_jvp(dots, ans, x, axes, keepdims):
    return o.sum(dots[0] * _extremum_share(ans, x, axes, keepdims), axis=axes,
                 keepdims=keepdims)


def _logsumexp_weights(ans, x, axis, keepdims):
    """softmax(x) along axis, from the saved logsumexp."""
    return o.exp(x - (ans if keepdims else o.expand_dims(ans, axis)))


sum = _kernel_prim(
    "sum", lambda g, ans, x, axes, keepdims:
    o.broadcast_to(_expand_reduced(g, x, axes, keepdims), x.shape), jvp=LINEAR,
    lift=(LEADING, shift_axes))
max = _kernel_prim("max", _extremum_vjp, jvp=_extremum_jvp, lift=(LEADING, shift_axes))
min = _kernel_prim("min", _extremum_vjp, jvp=_extremum_jvp, lift=(LEADING, shift_axes))
sum_to = _kernel_prim("sum_to", lambda g, ans, x, shape: o.broadcast_to(g, x.shape), jvp=LINEAR,
    lift=(LEADING, sum_to_shape))
sum_to.out_shape = lambda x, shape: shape
logsumexp = _kernel_prim(
    "logsumexp",
    lambda g, ans, x, axis, keepdims:
    (g if keepdims else o.expand_dims(g, axis)) * _logsumexp_weights(ans, x, axis, keepdims),
    jvp=lambda dots, ans, x, axis, keepdims: o.sum(
        dots[0] * _logsumexp_weights(ans, x, axis, keepdims), axis=axis, keepdims=keepdims),
    lift=(LEADING, shift_first))
# softmax's Jacobian diag(y) - y y^T is symmetric, so its VJP rule is its JVP rule too
softmax = _kernel_prim("softmax", call("softmax_backward", G, ANS), jvp=DIAGONAL,
                       lift=(LEADING, shift_first))
log_softmax = _kernel_prim(
    "log_softmax", call("log_softmax_backward", G, ANS),
    jvp=lambda dots, ans, x, axis: dots[0] - o.sum(o.exp(ans) * dots[0], axis=axis,
                                                    keepdims=True),
    lift=(LEADING, shift_first))


def _softmax_backward_dy(c, g, y, axis):
    """d/dy of y * (g - sum(g y)) applied to c (as a tangent or, transposed, a cotangent)."""
    return c * (g - o.sum(g * y, axis=axis, keepdims=True)) - g * o.sum(c * y, axis=axis,
                                                                      keepdims=True)


# softmax_backward(g, y) = y * (g - sum(g*y)): symmetric in g, so one rule serves g both ways
softmax_backward = _kernel_prim(
    "softmax_backward",
    call("softmax_backward", G, X(1)),
    lambda c, ans, g, y, axis: _softmax_backward_dy(c, g, y, axis),
    jvp=lambda dots, ans, g, y, axis: _tangent_sum(
        (None if dots[0] is None else apply2(softmax_backward, dots[0], y, (axis,)),
         None if dots[1] is None else
         dots[1] * (g - o.sum(g * y, axis=axis, keepdims=True))
         - y * o.sum(g * dots[1], axis=axis, keepdims=True)), ans),
    lift=(LEADING, shift_first))
# log_softmax_backward(g, y) = g - exp(y) * sum(g)
log_softmax_backward = _kernel_prim(
    "log_softmax_backward",
    lambda c, ans, g, y, axis: c - o.sum(c * o.exp(y), axis=axis, keepdims=True),
    lambda c, ans, g, y, axis: -(c * o.exp(y)) * o.sum(g, axis=axis, keepdims=True),
    jvp=lambda dots, ans, g, y, axis: _tangent_sum(
        (None if dots[0] is None else apply2(log_softmax_backward, dots[0], y, (axis,)),
         None if dots[1] is None else
         -(o.exp(y) * dots[1]) * o.sum(g, axis=axis, keepdims=True)), ans),
    lift=(LEADING, shift_first))


# ------------------------------------------------------------------- softmax cross-entropy
# softmax_cross_entropy(z, labels) = logsumexp(z) - z[label] per row of z (N, C); the labels
# (int64, (N,)) are a parameter. Its backward g[:, None] * (softmax(z) - onehot) is a row too.
def _ce_grad(z, labels):
    """softmax(z) - onehot(labels): the per-row gradient of the loss."""
    ones = wrap(backend.ones(z.shape[:1], z.dtype, z.data))
    return apply2(softmax_cross_entropy_backward, ones, z, (labels,))


softmax_cross_entropy = _kernel_prim(
    "softmax_cross_entropy", call("softmax_cross_entropy_backward", G, X(0)),
    jvp=lambda dots, ans, z, labels: o.sum(_ce_grad(z, labels) * dots[0], axis=-1))
softmax_cross_entropy_backward = _kernel_prim(
    "softmax_cross_entropy_backward",
    lambda c, ans, g, z, labels: o.sum(c * _ce_grad(z, labels), axis=-1),
    lambda c, ans, g, z, labels: apply2(softmax_backward, c * o.reshape(g, (-1, 1)),
                                        o.softmax(z, axis=-1), (1,)),
    jvp=lambda dots, ans, g, z, labels: _tangent_sum(
        (None if dots[0] is None else o.reshape(dots[0], (-1, 1)) * _ce_grad(z, labels),
         None if dots[1] is None else o.reshape(g, (-1, 1))
         * apply2(softmax_backward, dots[1], o.softmax(z, axis=-1), (1,))), ans))
softmax_cross_entropy_backward.strided_inputs = (0,)   # a mean's broadcast g, read in place


# ------------------------------------------------------------------- linear algebra
_T2 = ((1, 0),)


def _matmul_da(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:     # g @ b.T; the transposed view goes to BLAS as 'T'
        return apply2(matmul, g, apply1(transpose, b, _T2))
    return o.sum_to(o.matmul(g, o.swapaxes(b, -1, -2)), a.shape)


def _matmul_db(g, ans, a, b):
    if a.ndim == 2 and b.ndim == 2:
        return apply2(matmul, apply1(transpose, a, _T2), g)
    return o.sum_to(o.matmul(o.swapaxes(a, -1, -2), g), b.shape)


# pyad ops only, no reads of array data: a forward-over-reverse sweep may leave their final
# product uncomputed where only its tangent is needed (_tape._bind_deferred)
_matmul_da.deferrable = _matmul_db.deferrable = True


def _product_tangent(da, a, b, db):
    """Tangent of a @ b: da @ b + a @ db, as one fused matmul_sum when both are present."""
    if da is None:
        return None if db is None else apply2(matmul, a, db)
    if db is None:
        return apply2(matmul, da, b)
    return o.bind(matmul_sum, da, b, a, db)


def _matmul_out_shape(a, b):
    """The output shape of a 2-D product without computing it (None for batched ones)."""
    return (a.shape[0], b.shape[1]) if a.ndim == 2 and b.ndim == 2 else None


matmul = defprim(
    "matmul", _matmul_da, _matmul_db,
    jvp=lambda dots, ans, a, b: _tangent_sum(
        (_product_tangent(dots[0], a, b, dots[1]),), ans),
    lift=(ALIGNED, same_params))
matmul.out_shape = _matmul_out_shape
# a @ b + c @ d, the second product accumulated into the first by gemm: the tangent of a
# product (da @ b + a @ db) without a temporary or a separate add pass
matmul_sum = defprim(
    "matmul_sum",
    lambda g, ans, a, b, c, d: _matmul_da(g, ans, a, b),
    lambda g, ans, a, b, c, d: _matmul_db(g, ans, a, b),
    lambda g, ans, a, b, c, d: _matmul_da(g, ans, c, d),
    lambda g, ans, a, b, c, d: _matmul_db(g, ans, c, d),
    jvp=lambda dots, ans, a, b, c, d: _tangent_sum(
        (_product_tangent(dots[0], a, b, dots[1]), _product_tangent(dots[2], c, d, dots[3])),
        ans),
    lift=(ALIGNED, same_params))


# ------------------------------------------------------------------- shape and indexing
def _inverse(axes, ndim):
    if axes is None:
        return None
    inv = [0] * ndim
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


reshape = defprim("reshape", lambda g, ans, x, shape: o.reshape(g, x.shape), jvp=LINEAR,
                  lift=(LEADING, prefix_shape))
transpose = defprim("transpose", lambda g, ans, x, axes: o.transpose(g, _inverse(axes, x.ndim)),
                    jvp=LINEAR,
    lift=(LEADING, transpose_axes))
broadcast_to = defprim("broadcast_to", lambda g, ans, x, shape: o.sum_to(g, x.shape), jvp=LINEAR,
    lift=(ALIGNED, prefix_shape))
getitem = defprim("getitem", lambda g, ans, x, key: apply1(scatter_add, g, (x.shape, key)),
                  jvp=LINEAR,
    lift=(LEADING, prefix_index))
scatter_add = defprim("scatter_add", lambda c, ans, g, shape, key: apply1(getitem, c, (key,)),
                      jvp=LINEAR,
    lift=(LEADING, scatter_params))
def _astype_vjp(g, ans, x, dtype):
    """The cotangent cast back to x's dtype; a complex one of a real x keeps its real part
    (Re(ct * t) for a real tangent t: autograd's convention)."""
    if g.dtype.kind == "c" and x.dtype.kind != "c":
        g = o.real(g)
    return o.astype(g, x.dtype)


astype = defprim("astype", _astype_vjp, jvp=LINEAR, lift=ELEMENTWISE_ROW)


def _concatenate_vjp(k, g, ans, *args_then_axis):
    *args, axis = args_then_axis
    start = 0
    for a in args[:k]:
        start += a.shape[axis]
    index = [slice(None)] * g.ndim
    index[axis] = slice(start, start + args[k].shape[axis])
    return g[tuple(index)]


def _concatenate_jvp(dots, ans, *args_then_axis):
    *args, axis = args_then_axis
    parts = [o.zeros_like(a) if d is None else d for d, a in zip(dots, args)]
    return o.concatenate(parts, axis=axis)


def _concatenate_vjp_all(g, ans, *args_then_axis):
    """Every input's cotangent from one pass over the offsets: the sweep calls this once per
    record, so a concatenate of n inputs costs O(n), not O(n^2), to differentiate."""
    *args, axis = args_then_axis
    index = [slice(None)] * g.ndim
    cts, start = [], 0
    for a in args:
        stop = start + a.shape[axis]
        index[axis] = slice(start, stop)
        cts.append(g[tuple(index)])
        start = stop
    return cts


concatenate = defprim("concatenate", _concatenate_vjp, variadic=True, jvp=_concatenate_jvp,
                      lift=(LEADING, shift_first))
concatenate.vjp_all = _concatenate_vjp_all
where = defprim(
    "where", None,
    lambda g, ans, c, x, y: o.sum_to(o.where(c, g, 0.0), x.shape),
    lambda g, ans, c, x, y: o.sum_to(o.where(c, 0.0, g), y.shape),
    jvp=lambda dots, ans, c, x, y: o.broadcast_to(
        o.where(c, 0.0 if dots[1] is None else dots[1], 0.0 if dots[2] is None else dots[2]),
        ans.shape),
    lift=ELEMENTWISE_ROW)

# ------------------------------------------------------------------- not differentiable
sign = defprim("sign", nondiff=True)
less = defprim("less", nondiff=True)
less_equal = defprim("less_equal", nondiff=True)
greater = defprim("greater", nondiff=True)
greater_equal = defprim("greater_equal", nondiff=True)
equal = defprim("equal", nondiff=True)
not_equal = defprim("not_equal", nondiff=True)

# the rows of the op families (numpy breadth), each file with its public functions
from pyad.ops import array as _array, linalg as _linalg, math as _math  # noqa: E402,F401
from pyad.ops import special as _special  # noqa: E402,F401
from pyad.ops import complex as _complex  # noqa: E402,F401
from pyad.ops import fft as _fft  # noqa: E402,F401
from pyad.ops import activations as _activations  # noqa: E402,F401
# the layers' rows (PyTorch's torch.nn.functional breadth)
from pyad.ops import convolution as _convolution, pooling as _pooling  # noqa: E402,F401
from pyad.ops import normalization as _normalization  # noqa: E402,F401

for _rule in _CALLS:
    _rule.resolve(PRIMITIVES)
