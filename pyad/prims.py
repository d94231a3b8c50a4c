"""The primitive table: one row per primitive, its kernel and its VJP rules, in pyad ops.

Rules have the signature rule(g, ans, *inputs, *params) -> cotangent of that input (or None
for zero). They use pyad ops only, never numpy, so they are differentiable themselves (grad of
grad) and run unchanged on every backend. A rule that is a single primitive applied to the
cotangent, the output and inputs is written call("name", G, ANS, X(0), ...): the sweep runs
those without a Python frame. Conventions at kinks follow autograd/JAX/PyTorch:
relu'(0) = abs'(0) = 0 and ties in max/min/maximum/minimum split the gradient evenly.
"""
import math

from pyad._tape import (COTANGENT as G, INPUT, OUTPUT as ANS, Primitive, VjpCall, apply1,
                         apply2)
from pyad.backend.cpu import FALLBACKS, KERNELS
from pyad import ops as o

PRIMITIVES = {}
_CALLS = []


def X(i):
    """Pick input i of the primitive for a call() rule."""
    return INPUT + i


def call(name, *picks, params=None):
    """The rule `name(*picks, *params)`; params default to the forward primitive's own."""
    rule = VjpCall(name, *picks, params=params)
    _CALLS.append(rule)
    return rule


IDENTITY = call(None, G)


def defprim(name, *vjps, nondiff=False, variadic=False, elementwise_kernel=False):
    """Add a row. vjps: one rule per input (None: not differentiable in that input)."""
    prim = Primitive(name, KERNELS[name], None if nondiff else vjps,
                     fallback=FALLBACKS.get(name), variadic=variadic,
                     contiguous_floats=elementwise_kernel)
    PRIMITIVES[name] = prim
    return prim


def _kernel_prim(name, *vjps):
    return defprim(name, *vjps, elementwise_kernel=True)


# ------------------------------------------------------------------- elementwise unary
exp = _kernel_prim("exp", lambda g, ans, x: g * ans)
log = _kernel_prim("log", lambda g, ans, x: g / x)
log1p = _kernel_prim("log1p", lambda g, ans, x: g / (x + 1.0))
sqrt = _kernel_prim("sqrt", call("sqrt_backward", G, ANS))
square = _kernel_prim("square", lambda g, ans, x: (g * x) * 2.0)
abs = _kernel_prim("abs", call("abs_backward", G, X(0)))
sin = _kernel_prim("sin", lambda g, ans, x: g * o.cos(x))
cos = _kernel_prim("cos", lambda g, ans, x: -(g * o.sin(x)))
tanh = _kernel_prim("tanh", call("tanh_backward", G, ANS))
sigmoid = _kernel_prim("sigmoid", call("sigmoid_backward", G, ANS))
relu = _kernel_prim("relu", call("relu_backward", G, X(0)))
softplus = _kernel_prim("softplus", call("softplus_backward", G, X(0)))
negative = _kernel_prim("negative", call("negative", G))

# ------------------------------------------------------------------- with a Python scalar c
add_scalar = _kernel_prim("add_scalar", IDENTITY)
mul_scalar = _kernel_prim("mul_scalar", call("mul_scalar", G))
rsub_scalar = _kernel_prim("rsub_scalar", call("negative", G, params=()))
rdiv_scalar = _kernel_prim("rdiv_scalar", lambda g, ans, x, c: -(g * ans) / x)
pow_scalar = _kernel_prim(
    "pow_scalar",
    lambda g, ans, x, c: o.zeros_like(g) if c == 0 else g * (o.power(x, c - 1.0) * c))
rpow_scalar = _kernel_prim(
    "rpow_scalar", lambda g, ans, x, c: g * ans * math.log(c))
clip = _kernel_prim("clip", call("clip_backward", G, X(0)))

# ------------------------------------------------------------------- binary, broadcasting
add = _kernel_prim("add", lambda g, ans, x, y: o.sum_to(g, x.shape),
                   lambda g, ans, x, y: o.sum_to(g, y.shape))
subtract = _kernel_prim("subtract", lambda g, ans, x, y: o.sum_to(g, x.shape),
                        lambda g, ans, x, y: o.sum_to(-g, y.shape))
multiply = _kernel_prim("multiply", lambda g, ans, x, y: o.sum_to(g * y, x.shape),
                        lambda g, ans, x, y: o.sum_to(g * x, y.shape))
divide = _kernel_prim("divide", lambda g, ans, x, y: o.sum_to(g / y, x.shape),
                      lambda g, ans, x, y: o.sum_to(-(g * ans) / y, y.shape))


def _tie_weight(x, y):
    """1 where x wins, 1/2 at ties, 0 where y wins (a constant, like the mask it is)."""
    return o.where(o.greater(x, y), 1.0, o.where(o.equal(x, y), 0.5, 0.0)).astype(x.dtype)


maximum = _kernel_prim(
    "maximum",
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(x, y), x.shape),
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(y, x), y.shape))
minimum = _kernel_prim(
    "minimum",
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(y, x), x.shape),
    lambda g, ans, x, y: o.sum_to(g * _tie_weight(x, y), y.shape))


def _power_dy(g, ans, x, y):
    positive = o.greater(x, 0.0)
    safe_log = o.log(o.where(positive, x, 1.0))
    return o.sum_to(o.where(positive, g * ans * safe_log, 0.0), y.shape)


power = _kernel_prim("power", lambda g, ans, x, y: o.sum_to(g * (y * o.power(x, y - 1.0)), x.shape),
                     _power_dy)

# ------------------------------------------------------------------- fused backward ops
# One C++ pass each in the first-order sweep; their own rules make them twice differentiable.
tanh_backward = _kernel_prim(
    "tanh_backward", call("tanh_backward", G, X(1)),
    lambda c, ans, g, y: c * g * y * -2.0)
sigmoid_backward = _kernel_prim(
    "sigmoid_backward", call("sigmoid_backward", G, X(1)),
    lambda c, ans, g, y: c * g * (1.0 - 2.0 * y))
relu_backward = _kernel_prim(
    "relu_backward", call("relu_backward", G, X(1)), None)
abs_backward = _kernel_prim(
    "abs_backward", call("abs_backward", G, X(1)), None)
softplus_backward = _kernel_prim(
    "softplus_backward", call("softplus_backward", G, X(1)),
    lambda c, ans, g, x: apply2(sigmoid_backward, c * g, o.sigmoid(x)))
clip_backward = _kernel_prim(
    "clip_backward", call("clip_backward", G, X(1)),
    None)
sqrt_backward = _kernel_prim(
    "sqrt_backward", call("sqrt_backward", G, X(1)),
    lambda c, ans, g, y: -(c * ans) / y)

# ------------------------------------------------------------------- reductions
def _expand_reduced(g, x, axes, keepdims):
    """Reshape a reduced cotangent so it broadcasts against x again."""
    if keepdims:
        return g
    return o.reshape(g, [1 if i in axes else n for i, n in enumerate(x.shape)])


def _extremum_vjp(g, ans, x, axes, keepdims):
    ans_k = _expand_reduced(ans, x, axes, keepdims)
    hit = o.equal(x, ans_k).astype(x.dtype)
    share = hit / o.sum(hit, axis=axes, keepdims=True)
    return _expand_reduced(g, x, axes, keepdims) * share


sum = _kernel_prim("sum", lambda g, ans, x, axes, keepdims:
              o.broadcast_to(_expand_reduced(g, x, axes, keepdims), x.shape))
max = _kernel_prim("max", _extremum_vjp)
min = _kernel_prim("min", _extremum_vjp)
sum_to = _kernel_prim("sum_to", lambda g, ans, x, shape: o.broadcast_to(g, x.shape))
logsumexp = _kernel_prim(
    "logsumexp",
    lambda g, ans, x, axis, keepdims: o.expand_dims(g, axis) * o.exp(x - o.expand_dims(ans, axis))
    if not keepdims else g * o.exp(x - ans))
softmax = _kernel_prim(
    "softmax", call("softmax_backward", G, ANS))
log_softmax = _kernel_prim(
    "log_softmax", call("log_softmax_backward", G, ANS))
# softmax_backward(g, y) = y * (g - sum(g*y)): symmetric in g (J = diag(y) - y y^T)
softmax_backward = _kernel_prim(
    "softmax_backward",
    call("softmax_backward", G, X(1)),
    lambda c, ans, g, y, axis: c * (g - o.sum(g * y, axis=axis, keepdims=True))
    - g * o.sum(c * y, axis=axis, keepdims=True))
# log_softmax_backward(g, y) = g - exp(y) * sum(g)
log_softmax_backward = _kernel_prim(
    "log_softmax_backward",
    lambda c, ans, g, y, axis: c - o.sum(c * o.exp(y), axis=axis, keepdims=True),
    lambda c, ans, g, y, axis: -(c * o.exp(y)) * o.sum(g, axis=axis, keepdims=True))

# ------------------------------------------------------------------- linear algebra
def _matmul_da(g, ans, a, b):
    return o.sum_to(o.matmul(g, o.swapaxes(b, -1, -2)), a.shape)


def _matmul_db(g, ans, a, b):
    return o.sum_to(o.matmul(o.swapaxes(a, -1, -2), g), b.shape)


matmul = defprim("matmul", _matmul_da, _matmul_db)

# ------------------------------------------------------------------- shape and indexing
reshape = defprim("reshape", lambda g, ans, x, shape: o.reshape(g, x.shape))
transpose = defprim("transpose", lambda g, ans, x, axes: o.transpose(g, _inverse(axes, x.ndim)))
broadcast_to = defprim("broadcast_to", lambda g, ans, x, shape: o.sum_to(g, x.shape))
getitem = defprim("getitem", lambda g, ans, x, key: apply1(scatter_add, g, (x.shape, key)))
scatter_add = defprim("scatter_add", lambda c, ans, g, shape, key: apply1(getitem, c, (key,)))
astype = defprim("astype", lambda g, ans, x, dtype: o.astype(g, x.dtype))


def _inverse(axes, ndim):
    if axes is None:
        return None
    inv = [0] * ndim
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


def _concatenate_vjp(k, g, ans, *args_then_axis):
    *args, axis = args_then_axis
    start = 0
    for a in args[:k]:
        start += a.shape[axis]
    index = [slice(None)] * g.ndim
    index[axis] = slice(start, start + args[k].shape[axis])
    return g[tuple(index)]


concatenate = defprim("concatenate", _concatenate_vjp, variadic=True)
where = defprim("where", None,
                lambda g, ans, c, x, y: o.sum_to(o.where(c, g, 0.0), x.shape),
                lambda g, ans, c, x, y: o.sum_to(o.where(c, 0.0, g), y.shape))

# ------------------------------------------------------------------- not differentiable
sign = defprim("sign", nondiff=True)
less = defprim("less", nondiff=True)
less_equal = defprim("less_equal", nondiff=True)
greater = defprim("greater", nondiff=True)
greater_equal = defprim("greater_equal", nondiff=True)
equal = defprim("equal", nondiff=True)
not_equal = defprim("not_equal", nondiff=True)

for _rule in _CALLS:
    _rule.resolve(PRIMITIVES)
