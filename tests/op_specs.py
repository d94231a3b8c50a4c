"""One spec per primitive: how to reach it through the public API, its numpy reference, input
shapes and input domain. tests/test_primitives.py generates every check from SPECS.

A case's `fn` receives pyad Tensors (one per shape) and calls the public API; `ref` receives
numpy arrays of the same dtype and returns numpy's answer. Domains keep inputs where the
function is smooth (away from kinks, ties and poles) and on a 2**-8 grid, so the float32
inputs are exactly the float64 ones. `grad=False` marks forward-only cases (non-differentiable
primitives, integer inputs, large shapes that exercise the threaded kernels).
"""
import numpy as np

import pyad as ad
from pyad import backend

P = ad.PRIMITIVES
FLOATS = (np.float64, np.float32)
COMPLEX = (np.complex128, np.complex64)


# ----------------------------------------------------------------------------- domains
def _grid(a):
    return np.round(np.asarray(a, dtype=np.float64) * 256.0) / 256.0


def _signs(rng, shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _spaced(rng, shape, offset):
    """Values k/2 + offset (+ jitter up to 0.05): 'even' and 'odd' never come within 0.15."""
    k = rng.integers(-4, 5, size=shape)
    return _grid(k * 0.5 + offset + rng.uniform(-0.05, 0.05, size=shape))


def _distinct(rng, shape):
    """All entries at least 0.15 apart (no ties for max/min, even after a step)."""
    n = int(np.prod(shape, dtype=np.int64))
    vals = (rng.permutation(n) - n / 2.0) * 0.25 + rng.uniform(0, 0.1, size=n)
    return _grid(vals.reshape(shape) / max(1.0, n / 16.0) if n > 64 else vals.reshape(shape))


DOMAINS = {
    "real": lambda rng, s: _grid(rng.uniform(-2.0, 2.0, s)),
    "positive": lambda rng, s: _grid(rng.uniform(0.5, 2.0, s)),
    "unit": lambda rng, s: _grid(rng.uniform(-0.9, 0.9, s)),
    "prob": lambda rng, s: _grid(rng.uniform(0.1, 0.9, s)),
    # |x| >= 0.25: relu, abs, sign, 1/x stay smooth
    "nokink": lambda rng, s: _grid(_signs(rng, s) * rng.uniform(0.25, 2.0, s)),
    # away from the clip bounds -0.5 and 0.5
    "clipsafe": lambda rng, s: _grid(_signs(rng, s) * np.where(
        rng.random(s) < 0.5, rng.uniform(0.05, 0.4, s), rng.uniform(0.6, 2.0, s))),
    "even": lambda rng, s: _spaced(rng, s, 0.0),
    "odd": lambda rng, s: _spaced(rng, s, 0.25),
    "distinct": _distinct,
    # 30 <= |x| <= 50: far tails (overflow, log(0)), for forward-only cases
    "large": lambda rng, s: _grid(_signs(rng, s) * rng.uniform(30.0, 50.0, s)),
    # class labels 0..4 (cast to integers by the case)
    "labels": lambda rng, s: rng.integers(0, 5, s).astype(np.float64),
}


class Case:
    """One way to call a primitive, with its reference and inputs."""

    def __init__(self, prim, fn, ref, shapes, domain="real", label=None, grad=True,
                 order2=True, dtypes=FLOATS):
        self.prim = prim
        self.fn = fn
        self.ref = ref
        self.shapes = [tuple(s) for s in shapes]
        doms = (domain,) * len(self.shapes) if isinstance(domain, str) else tuple(domain)
        assert len(doms) == len(self.shapes) and all(d in DOMAINS for d in doms), (prim, domain)
        self.domains = doms
        self.label = label or ",".join("x".join(map(str, s)) or "0d" for s in self.shapes)
        self.grad = grad
        self.order2 = order2
        self.dtypes = tuple(dtypes)
        self.id = f"{prim}[{self.label}]"

    def inputs(self, dtype=np.float64, seed=0):
        """Fresh float64 inputs (seeded per case), cast to dtype; for a complex dtype, both
        parts drawn from the domain."""
        rng = np.random.default_rng([seed, sum(map(ord, self.id))])
        if np.dtype(dtype).kind == "c":
            return [(np.asarray(DOMAINS[d](rng, s)) + 1j * np.asarray(DOMAINS[d](rng, s)))
                    .astype(dtype) for d, s in zip(self.domains, self.shapes)]
        return [np.asarray(DOMAINS[d](rng, s)).astype(dtype)
                for d, s in zip(self.domains, self.shapes)]

    @property
    def complex(self):
        """A case of complex inputs (its derivative checks run in complex128)."""
        return np.dtype(self.dtypes[0]).kind == "c"

    def __repr__(self):
        return self.id


SPECS = {}


def spec(prim, *cases):
    assert prim not in SPECS, prim
    SPECS[prim] = list(cases)
    ids = [c.id for c in cases]
    assert len(set(ids)) == len(ids), f"duplicate case labels for {prim}: {ids}"


def C(prim, fn, ref, shapes, **kw):
    return Case(prim, fn, ref, shapes, **kw)


def _tensor(a):
    return a if isinstance(a, ad.Tensor) else ad.tensor(a)


def traced(case):
    """case.fn as a function of arrays or Tensors (arrays of any backend are wrapped as
    Tensors), named after the case."""
    def f(*args):
        return case.fn(*[a if isinstance(a, ad.Tensor) else ad.tensor(a) for a in args])
    f.__qualname__ = f.__name__ = case.id
    return f


def const(a, x):
    """A numpy constant of a case, next to x: moved to x's backend when x is a Tensor there
    (pyad never mixes backends; tests/test_array_api.py runs the cases on other arrays), a
    itself beside numpy."""
    return backend.to_backend(a, x.data) if isinstance(x, ad.Tensor) else a


def direct(name, params=()):
    """Call a primitive by name through pyad.bind (for primitives only rules use)."""
    prim = P[name]
    return lambda *args: ad.bind(prim, *[_tensor(a) for a in args], params=params)


# ----------------------------------------------------------------------------- numpy refs
def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def np_softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def np_log_softmax(x, axis):
    return x - np_logsumexp(x, axis=axis, keepdims=True)


def np_sum_to(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and x.shape[lead + i] != 1)
    return np.sum(x, axis=axes).reshape(shape) if axes else x


def np_scatter_add(g, shape, key):
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, key, g)
    return out


# ----------------------------------------------------------------------------- elementwise unary
UNARY_SHAPES = [((3, 4), "3x4"), ((), "0d"), ((0, 3), "empty"), ((2, 3, 5), "2x3x5"),
                ((37,), "37-simd-tail")]
UNARY = {
    # name: (public call, numpy reference, domain)
    "exp": (ad.exp, np.exp, "real"),
    "log": (ad.log, np.log, "positive"),
    "log1p": (ad.log1p, np.log1p, "unit"),
    "sqrt": (ad.sqrt, np.sqrt, "positive"),
    "square": (ad.square, np.square, "real"),
    "abs": (ad.abs, np.abs, "nokink"),
    "sin": (ad.sin, np.sin, "real"),
    "cos": (ad.cos, np.cos, "real"),
    "tanh": (ad.tanh, np.tanh, "real"),
    "sigmoid": (ad.sigmoid, np_sigmoid, "real"),
    "relu": (ad.relu, lambda x: np.maximum(x, 0), "nokink"),
    "softplus": (ad.softplus, lambda x: np.logaddexp(x.dtype.type(0), x), "real"),
    "negative": (lambda x: -x, np.negative, "real"),
}
for _name, (_f, _r, _d) in UNARY.items():
    spec(_name,
         *[C(_name, _f, _r, [s], domain=_d, label=lab) for s, lab in UNARY_SHAPES],
         C(_name, lambda x, f=_f: f(x.T), lambda x, r=_r: r(x.T), [(4, 3)], domain=_d,
           label="transposed"),
         C(_name, lambda x, f=_f: f(x[:, ::2]), lambda x, r=_r: r(x[:, ::2]), [(3, 8)],
           domain=_d, label="strided"),
         C(_name, _f, _r, [(190, 181)], domain=_d, label="34k-threaded", grad=False))

# integer inputs take the numpy fallbacks (forward only, numpy's dtype)
SPECS["abs"].append(C("abs", ad.abs, np.abs, [(3, 4)], label="int64", grad=False,
                      dtypes=(np.int64,)))
SPECS["negative"].append(C("negative", ad.negative, np.negative, [(3, 4)], label="int64",
                           grad=False, dtypes=(np.int64,)))
for _name in ("exp", "sqrt", "tanh", "sigmoid", "relu", "softplus"):
    SPECS[_name].append(C(_name, UNARY[_name][0], UNARY[_name][1], [(3, 4)], domain="positive",
                          label="int64", grad=False, dtypes=(np.int64,)))
SPECS["square"].append(C("square", ad.square, np.square, [(3, 4)], label="int64",
                         grad=False, dtypes=(np.int64,)))

# ----------------------------------------------------------------------------- array-scalar
_S = [(3, 4)]
spec("add_scalar",
     C("add_scalar", lambda x: x + 2.5, lambda x: x + 2.5, _S, label="x+2.5"),
     C("add_scalar", lambda x: 2.5 + x, lambda x: 2.5 + x, _S, label="2.5+x"),
     C("add_scalar", lambda x: ad.subtract(x, 1.5), lambda x: x - 1.5, _S, label="x-1.5"),
     C("add_scalar", lambda x: x + 2, lambda x: x + 2, [()], label="0d+int"),
     C("add_scalar", lambda x: x.T + 1.0, lambda x: x.T + 1.0, [(4, 3)], label="transposed"),
     C("add_scalar", lambda x: x + 2, lambda x: x + 2, _S, label="int64", grad=False,
       dtypes=(np.int64,)))
spec("mul_scalar",
     C("mul_scalar", lambda x: x * 3.0, lambda x: x * 3.0, _S, label="x*3"),
     C("mul_scalar", lambda x: -0.5 * x, lambda x: -0.5 * x, _S, label="-0.5*x"),
     C("mul_scalar", lambda x: x / 4.0, lambda x: x / 4.0, _S, label="x/4"),
     C("mul_scalar", lambda x: x * 2, lambda x: x * 2, [()], label="0d*int"),
     C("mul_scalar", lambda x: x[:, ::2] * 1.5, lambda x: x[:, ::2] * 1.5, [(3, 8)],
       label="strided"))
spec("rsub_scalar",
     C("rsub_scalar", lambda x: 2.0 - x, lambda x: 2.0 - x, _S, label="2-x"),
     C("rsub_scalar", lambda x: ad.subtract(1.5, x), lambda x: 1.5 - x, [()], label="0d"),
     C("rsub_scalar", lambda x: 2.0 - x.T, lambda x: 2.0 - x.T, [(4, 3)], label="transposed"))
spec("rdiv_scalar",
     C("rdiv_scalar", lambda x: 2.0 / x, lambda x: 2.0 / x, _S, domain="nokink", label="2/x"),
     C("rdiv_scalar", lambda x: ad.divide(-1.0, x), lambda x: -1.0 / x, [()],
       domain="nokink", label="0d"),
     C("rdiv_scalar", lambda x: 1.0 / x[:, ::2], lambda x: 1.0 / x[:, ::2], [(3, 8)],
       domain="nokink", label="strided"))
spec("pow_scalar",
     C("pow_scalar", lambda x: x ** 3.0, lambda x: x ** 3.0, _S, label="x**3.0"),
     C("pow_scalar", lambda x: x ** 2, lambda x: x ** 2, _S, label="x**2int"),
     C("pow_scalar", lambda x: x ** 0.5, lambda x: x ** 0.5, _S, domain="positive",
       label="x**0.5"),
     C("pow_scalar", lambda x: ad.power(x, -1.5), lambda x: x ** -1.5, _S, domain="positive",
       label="x**-1.5"),
     C("pow_scalar", lambda x: x ** 0.0, lambda x: x ** 0.0, _S, label="x**0"),
     C("pow_scalar", lambda x: x.T ** 2.0, lambda x: x.T ** 2.0, [(4, 3)], label="transposed"),
     C("pow_scalar", lambda x: x ** 2.0, lambda x: x ** 2.0, [()], label="0d"))
spec("rpow_scalar",
     C("rpow_scalar", lambda x: 2.0 ** x, lambda x: 2.0 ** x, _S, label="2**x"),
     C("rpow_scalar", lambda x: ad.power(0.5, x), lambda x: 0.5 ** x, [()], label="0d"),
     C("rpow_scalar", lambda x: 3.0 ** x[:, ::2], lambda x: 3.0 ** x[:, ::2], [(3, 8)],
       label="strided"))
spec("clip",
     C("clip", lambda x: ad.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), _S,
       domain="clipsafe", label="both"),
     C("clip", lambda x: ad.clip(x, None, 0.5), lambda x: np.clip(x, None, 0.5), _S,
       domain="clipsafe", label="upper"),
     C("clip", lambda x: ad.clip(x, -0.5, None), lambda x: np.clip(x, -0.5, None), [(2, 3, 4)],
       domain="clipsafe", label="lower-3d"),
     C("clip", lambda x: ad.clip(x.T, -0.5, 0.5), lambda x: np.clip(x.T, -0.5, 0.5), [(4, 3)],
       domain="clipsafe", label="transposed"),
     C("clip", lambda x: ad.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), [()],
       domain="clipsafe", label="0d"))

# ----------------------------------------------------------------------------- binary, broadcasting
PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
         ((), (3,)), ((2, 3), ()), ((), ()), ((0, 4), (4,))]
BINARY = {
    "add": (ad.add, np.add, ("real", "real")),
    "subtract": (ad.subtract, np.subtract, ("real", "real")),
    "multiply": (ad.multiply, np.multiply, ("real", "real")),
    "divide": (ad.divide, np.divide, ("real", "nokink")),
    "maximum": (ad.maximum, np.maximum, ("even", "odd")),
    "minimum": (ad.minimum, np.minimum, ("even", "odd")),
    "power": (ad.power, np.power, ("positive", "real")),
}
_OPERATORS = {"add": lambda x, y: x + y, "subtract": lambda x, y: x - y,
              "multiply": lambda x, y: x * y, "divide": lambda x, y: x / y,
              "power": lambda x, y: x ** y}
for _name, (_f, _r, _d) in BINARY.items():
    cases = [C(_name, _f, _r, [sx, sy], domain=_d) for sx, sy in PAIRS]
    cases += [
        C(_name, lambda x, y, f=_f: f(x.T, y), lambda x, y, r=_r: r(x.T, y), [(4, 3), (4,)],
          domain=_d, label="transposed,4"),
        C(_name, lambda x, y, f=_f: f(x[:, ::2], y[::-1]), lambda x, y, r=_r: r(x[:, ::2], y[::-1]),
          [(3, 8), (4,)], domain=_d, label="strided,reversed"),
        C(_name, _f, _r, [(2, 1, 4), (3, 1)], domain=_d, label="2x1x4,3x1"),
        C(_name, _f, _r, [(130, 260), (260,)], domain=_d, label="34k-threaded", grad=False),
    ]
    if _name in _OPERATORS:
        cases.append(C(_name, _OPERATORS[_name], _OPERATORS[_name], [(3, 4), (4,)], domain=_d,
                       label="operator"))
    spec(_name, *cases)
SPECS["add"].append(C("add", ad.add, np.add, [(3, 4), (4,)], label="int64", grad=False,
                      dtypes=(np.int64,)))
SPECS["multiply"].append(C("multiply", lambda x: x * x, lambda x: x * x, [(3, 4)],
                           label="same-tensor-twice"))
SPECS["add"].append(C("add", lambda x: ad.add(x, x[::-1]), lambda x: x + x[::-1], [(4, 3)],
                      label="x+x[::-1]"))
SPECS["maximum"].append(C("maximum", lambda x: ad.maximum(x, 0.125), lambda x: np.maximum(x, 0.125),
                          [(3, 4)], domain="even", label="x,scalar"))
SPECS["minimum"].append(C("minimum", lambda x: ad.minimum(0.125, x), lambda x: np.minimum(0.125, x),
                          [(3, 4)], domain="even", label="scalar,x"))

# ----------------------------------------------------------------------------- fused backward ops
SAME = [(3, 4)]
_FUSED = {
    # name: (numpy formula, domain of the saved input, params)
    "tanh_backward": (lambda g, y: g * (1 - y * y), "unit", ()),
    "sigmoid_backward": (lambda g, y: g * y * (1 - y), "prob", ()),
    "relu_backward": (lambda g, x: np.where(x > 0, g, 0).astype(g.dtype), "nokink", ()),
    "abs_backward": (lambda g, x: g * np.sign(x), "nokink", ()),
    "softplus_backward": (lambda g, x: g * np_sigmoid(x), "real", ()),
    "sqrt_backward": (lambda g, y: g * 0.5 / y, "positive", ()),
    "clip_backward": (lambda g, x: np.where((x >= -0.5) & (x <= 0.5), g, 0).astype(g.dtype),
                      "clipsafe", (-0.5, 0.5)),
}
_FORWARD_OF = {"tanh_backward": ad.tanh, "sigmoid_backward": ad.sigmoid, "relu_backward": ad.relu,
               "abs_backward": ad.abs, "softplus_backward": ad.softplus, "sqrt_backward": ad.sqrt,
               "clip_backward": lambda x: ad.clip(x, -0.5, 0.5)}
_FORWARD_DOMAIN = {"tanh_backward": "real", "sigmoid_backward": "real", "sqrt_backward": "positive"}
for _name, (_r, _d, _p) in _FUSED.items():
    fwd = _FORWARD_OF[_name]
    spec(_name,
         C(_name, direct(_name, _p), _r, [(3, 4), (3, 4)], domain=("real", _d), label="direct"),
         C(_name, direct(_name, _p), _r, [(), ()], domain=("real", _d), label="direct-0d"),
         C(_name, direct(_name, _p), _r, [(37,), (37,)], domain=("real", _d),
           label="direct-simd-tail"),
         C(_name, direct(_name, _p), _r, [(0, 2), (0, 2)], domain=("real", _d),
           label="direct-empty"),
         C(_name, direct(_name, _p), _r, [(190, 181), (190, 181)], domain=("real", _d),
           label="direct-34k-threaded", grad=False),
         # as the rule of its forward op: grad(sum(w * f(x))) = <name>(w, saved)
         C(_name, lambda x, f=fwd: ad.grad(lambda z: ad.sum(f(z) * ad.sin(z)))(x),
           lambda x, n=_name: _ref_grad_sum_f_sin(n, x), SAME,
           domain=_FORWARD_DOMAIN.get(_name, _d), label="grad-of-forward"))


def _ref_grad_sum_f_sin(name, x):
    """d/dx sum(f(x) * sin(x)) = f'(x) sin(x) + f(x) cos(x), in numpy."""
    f, df = {
        "tanh_backward": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
        "sigmoid_backward": (np_sigmoid, lambda x: np_sigmoid(x) * (1 - np_sigmoid(x))),
        "relu_backward": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(x.dtype)),
        "abs_backward": (np.abs, np.sign),
        "softplus_backward": (lambda x: np.logaddexp(x.dtype.type(0), x), np_sigmoid),
        "sqrt_backward": (np.sqrt, lambda x: 0.5 / np.sqrt(x)),
        "clip_backward": (lambda x: np.clip(x, -0.5, 0.5),
                          lambda x: ((x >= -0.5) & (x <= 0.5)).astype(x.dtype)),
    }[name]
    return df(x) * np.sin(x) + f(x) * np.cos(x)


def _np_tanh_backward_tangent(g, y, dg, dy):
    return dg * (1 - y * y) - 2 * g * y * dy


def _ref_hvp_tanh_sin(x, v):
    """H v of sum(tanh(x) sin(x)): diagonal, f'' = t'' sin + 2 t' cos - t sin."""
    t = np.tanh(x)
    dt = 1 - t * t
    return (-2 * t * dt * np.sin(x) + 2 * dt * np.cos(x) - t * np.sin(x)) * v


_TBT = ("real", "unit", "real", "real")
spec("tanh_backward_tangent",
     C("tanh_backward_tangent", direct("tanh_backward_tangent", ()), _np_tanh_backward_tangent,
       [(3, 4)] * 4, domain=_TBT, label="direct"),
     C("tanh_backward_tangent", direct("tanh_backward_tangent", ()), _np_tanh_backward_tangent,
       [()] * 4, domain=_TBT, label="direct-0d"),
     C("tanh_backward_tangent", direct("tanh_backward_tangent", ()), _np_tanh_backward_tangent,
       [(37,)] * 4, domain=_TBT, label="direct-simd-tail"),
     C("tanh_backward_tangent", direct("tanh_backward_tangent", ()), _np_tanh_backward_tangent,
       [(0, 2)] * 4, domain=_TBT, label="direct-empty"),
     C("tanh_backward_tangent", direct("tanh_backward_tangent", ()), _np_tanh_backward_tangent,
       [(600, 500)] * 4, domain=_TBT, label="direct-300k-threaded", grad=False),
     # as the tangent of tanh's rule in a forward-over-reverse HVP
     C("tanh_backward_tangent",
       lambda x, v: ad.hvp(lambda z: ad.sum(ad.tanh(z) * ad.sin(z)), (x,), (v,)),
       _ref_hvp_tanh_sin, [(3, 4), (3, 4)], label="hvp-of-tanh"))


# softmax_backward(g, y) = y * (g - sum(g * y)); log_softmax_backward(g, y) = g - exp(y) sum(g)
def _np_softmax_backward(axis):
    return lambda g, y: y * (g - np.sum(g * y, axis=axis, keepdims=True))


def _np_log_softmax_backward(axis):
    return lambda g, y: g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)


spec("softmax_backward",
     *[C("softmax_backward", direct("softmax_backward", (ax,)), _np_softmax_backward(ax),
         [(2, 3, 4), (2, 3, 4)], domain=("real", "prob"), label=f"direct-axis{ax}")
       for ax in (0, 1, 2)],
     C("softmax_backward", direct("softmax_backward", (0,)), _np_softmax_backward(0),
       [(5,), (5,)], domain=("real", "prob"), label="direct-1d"),
     C("softmax_backward",
       lambda x: ad.grad(lambda z: ad.sum(ad.softmax(z, axis=1) * ad.sin(z)))(x),
       lambda x: _ref_grad_softmax_sin(x, 1), [(3, 4)], label="grad-of-softmax"))
spec("log_softmax_backward",
     *[C("log_softmax_backward", direct("log_softmax_backward", (ax,)),
         _np_log_softmax_backward(ax), [(2, 3, 4), (2, 3, 4)], domain=("real", "real"),
         label=f"direct-axis{ax}") for ax in (0, 1, 2)],
     C("log_softmax_backward", lambda x: ad.grad(
         lambda z: ad.sum(ad.log_softmax(z, axis=0) * ad.sin(z)))(x),
       lambda x: _ref_grad_log_softmax_sin(x, 0), [(3, 4)], label="grad-of-log_softmax"))


def _ref_grad_softmax_sin(x, axis):
    y = np_softmax(x, axis)
    return _np_softmax_backward(axis)(np.sin(x), y) + y * np.cos(x)


def _ref_grad_log_softmax_sin(x, axis):
    y = np_log_softmax(x, axis)
    return _np_log_softmax_backward(axis)(np.sin(x), y) + y * np.cos(x)


# ----------------------------------------------------------------------------- reductions
_X3 = [(2, 3, 4)]
_AXES = [(None, False), (None, True), (0, False), (1, True), (-1, False), (-1, True),
         ((0, 2), False), ((0, 2), True), ((2, 0, 1), False)]


def _reduction_cases(name, f, r, domain):
    cases = [C(name, lambda x, a=a, k=k: f(x, axis=a, keepdims=k),
               lambda x, a=a, k=k: r(x, axis=a, keepdims=k), _X3, domain=domain,
               label=f"axis={a},keepdims={k}") for a, k in _AXES]
    cases += [
        C(name, lambda x: f(x), lambda x: r(x), [()], domain=domain, label="0d"),
        C(name, lambda x: f(x, axis=0), lambda x: r(x, axis=0), [(7,)], domain=domain,
          label="1d"),
        C(name, lambda x: f(x.T, axis=1), lambda x: r(x.T, axis=1), [(4, 3)], domain=domain,
          label="transposed,axis=1"),
        C(name, lambda x: f(x[:, ::2], axis=0, keepdims=True),
          lambda x: r(x[:, ::2], axis=0, keepdims=True), [(3, 8)], domain=domain,
          label="strided,axis=0"),
        C(name, lambda x: f(x, axis=0), lambda x: r(x, axis=0), [(2, 0)], domain=domain,
          label="empty-output"),
        C(name, lambda x: f(x, axis=1), lambda x: r(x, axis=1), [(190, 181)], domain=domain,
          label="34k-threaded", grad=False),
    ]
    return cases


spec("sum", *_reduction_cases("sum", ad.sum, np.sum, "real"),
     C("sum", lambda x: ad.sum(x, axis=0), lambda x: np.sum(x, axis=0), [(0, 3)],
       label="empty-input,axis=0"),
     C("sum", lambda x: ad.sum(x), lambda x: np.sum(x), [(0, 3)], label="empty-input,all"),
     C("sum", lambda x: ad.sum(x, axis=()), lambda x: np.sum(x, axis=()), [(3, 4)],
       label="axis=()"),
     C("sum", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), [(3, 4)], label="method"),
     C("sum", lambda x: ad.mean(x, axis=1), lambda x: np.mean(x, axis=1), [(3, 4)],
       label="via-mean"),
     C("sum", lambda x: ad.var(x, axis=0, ddof=1), lambda x: np.var(x, axis=0, ddof=1),
       [(3, 4)], label="via-var"),
     C("sum", lambda x: ad.sum(x, axis=0), lambda x: np.sum(x, axis=0), [(3, 4)],
       label="int64", grad=False, dtypes=(np.int64,)))
spec("max", *_reduction_cases("max", ad.max, np.max, "distinct"),
     C("max", lambda x: ad.max(x, axis=0), lambda x: np.max(x, axis=0), [(3, 4)],
       label="int64", grad=False, dtypes=(np.int64,)))
spec("min", *_reduction_cases("min", ad.min, np.min, "distinct"))
spec("sum_to",
     *[C("sum_to", lambda x, s=s: ad.sum_to(x, s), lambda x, s=s: np_sum_to(x, s), [xs],
         label=f"{xs}->{s}")
       for xs, s in [((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((2, 3, 4), (3, 1)),
                     ((3, 4), ()), ((2, 3, 4), (2, 1, 4))]],
     C("sum_to", lambda x: ad.sum_to(x.T, (3,)), lambda x: np_sum_to(x.T, (3,)), [(3, 4)],
       label="transposed"))


spec("logsumexp", *_reduction_cases("logsumexp", ad.logsumexp, np_logsumexp, "real")[:-2],
     C("logsumexp", lambda x: ad.logsumexp(x, axis=1), lambda x: np_logsumexp(x, axis=1),
       [(190, 181)], label="34k-threaded", grad=False),
     C("logsumexp", lambda x: ad.logsumexp(x + 800.0, axis=0),
       lambda x: np_logsumexp(x + 800.0, axis=0), [(3, 4)], label="large-values-stable",
       dtypes=(np.float64,)))
_SM_AXES = [((2, 3, 4), -1), ((2, 3, 4), 0), ((2, 3, 4), 1), ((5,), 0)]
spec("softmax",
     *[C("softmax", lambda x, a=a: ad.softmax(x, axis=a), lambda x, a=a: np_softmax(x, a), [s],
         label=f"{s},axis={a}") for s, a in _SM_AXES],
     C("softmax", lambda x: ad.softmax(x.T, axis=0), lambda x: np_softmax(x.T, 0), [(4, 3)],
       label="transposed"),
     C("softmax", lambda x: ad.softmax(x, axis=1), lambda x: np_softmax(x, 1), [(3, 1)],
       label="axis-of-size-1"),
     C("softmax", lambda x: ad.softmax(x, axis=-1), lambda x: np_softmax(x, -1), [(0, 3)],
       label="empty"),
     C("softmax", lambda x: ad.softmax(x + 800.0), lambda x: np_softmax(x + 800.0, -1),
       [(3, 4)], label="large-values-stable", dtypes=(np.float64,)),
     C("softmax", lambda x: ad.softmax(x, axis=1), lambda x: np_softmax(x, 1), [(190, 181)],
       label="34k-threaded", grad=False))
spec("log_softmax",
     *[C("log_softmax", lambda x, a=a: ad.log_softmax(x, axis=a),
         lambda x, a=a: np_log_softmax(x, a), [s], label=f"{s},axis={a}") for s, a in _SM_AXES],
     C("log_softmax", lambda x: ad.log_softmax(x, axis=-1), lambda x: np_log_softmax(x, -1),
       [(0, 3)], label="empty"),
     C("log_softmax", lambda x: ad.log_softmax(x[:, ::2], axis=0),
       lambda x: np_log_softmax(x[:, ::2], 0), [(3, 8)], label="strided"),
     C("log_softmax", lambda x: ad.log_softmax(x, axis=1), lambda x: np_log_softmax(x, 1),
       [(190, 181)], label="34k-threaded", grad=False))

# ----------------------------------------------------------------------------- linear algebra
spec("matmul",
     *[C("matmul", ad.matmul, np.matmul, [a, b]) for a, b in [
         ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
         ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2)), ((2, 1, 3, 4), (3, 4, 2)),
         ((2, 0), (0, 3)), ((0, 3), (3, 2)), ((1, 1), (1, 1))]],
     C("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 5)], label="operator"),
     C("matmul", lambda a, b: ad.matmul(a.T, b), lambda a, b: a.T @ b, [(4, 3), (4, 5)],
       label="transposed-a"),
     C("matmul", lambda a, b: ad.matmul(a, b.T), lambda a, b: a @ b.T, [(3, 4), (5, 4)],
       label="transposed-b"),
     C("matmul", lambda a, b: ad.matmul(a[:, ::2], b[::2]), lambda a, b: a[:, ::2] @ b[::2],
       [(3, 8), (8, 5)], label="strided"),
     C("matmul", ad.matmul, np.matmul, [(70, 65), (65, 66)], label="70x65@65x66"))


def _matmul_sum(a, b, c, d):
    return ad.bind(P["matmul_sum"], a, b, c, d)


def _np_matmul_sum(a, b, c, d):
    return a @ b + c @ d


spec("matmul_sum",
     C("matmul_sum", _matmul_sum, _np_matmul_sum, [(3, 4), (4, 5), (3, 2), (2, 5)]),
     C("matmul_sum", lambda a, b, c, d: _matmul_sum(a.T, b, c, d.T),
       lambda a, b, c, d: a.T @ b + c @ d.T, [(4, 3), (4, 5), (3, 2), (5, 2)],
       label="transposed"),
     C("matmul_sum", _matmul_sum, _np_matmul_sum, [(2, 3, 4), (4, 5), (3, 2), (2, 2, 5)],
       label="batched"),
     C("matmul_sum", _matmul_sum, _np_matmul_sum, [(3, 0), (0, 5), (3, 2), (2, 5)],
       label="empty-inner"),
     C("matmul_sum", _matmul_sum, _np_matmul_sum, [(130, 129), (129, 131), (130, 3), (3, 131)],
       label="threaded", grad=False))

# ----------------------------------------------------------------------------- shape and indexing
spec("reshape",
     C("reshape", lambda x: ad.reshape(x, (6, 4)), lambda x: x.reshape(6, 4), _X3, label="6x4"),
     C("reshape", lambda x: x.reshape(-1), lambda x: x.reshape(-1), _X3, label="-1"),
     C("reshape", lambda x: ad.reshape(x.T, (2, 6)), lambda x: x.T.reshape(2, 6), [(3, 4)],
       label="transposed"),
     C("reshape", lambda x: ad.reshape(x, (1, 1)), lambda x: x.reshape(1, 1), [()],
       label="0d->1x1"),
     C("reshape", lambda x: ad.reshape(x, ()), lambda x: x.reshape(()), [(1, 1)],
       label="1x1->0d"),
     C("reshape", lambda x: ad.expand_dims(x, (0, 2)), lambda x: np.expand_dims(x, (0, 2)),
       [(3, 4)], label="expand_dims"),
     C("reshape", lambda x: ad.squeeze(x, 1), lambda x: np.squeeze(x, 1), [(3, 1, 4)],
       label="squeeze"),
     C("reshape", lambda x: ad.reshape(x, (4, 0)), lambda x: x.reshape(4, 0), [(0, 2, 2)],
       label="empty"))
spec("transpose",
     C("transpose", lambda x: x.T, lambda x: x.T, [(3, 4)], label="T"),
     C("transpose", lambda x: ad.transpose(x), lambda x: np.transpose(x), _X3, label="reverse"),
     C("transpose", lambda x: ad.transpose(x, (1, 0, 2)), lambda x: np.transpose(x, (1, 0, 2)),
       _X3, label="1,0,2"),
     C("transpose", lambda x: ad.transpose(x, (-1, 0, 1)), lambda x: np.transpose(x, (2, 0, 1)),
       _X3, label="-1,0,1"),
     C("transpose", lambda x: ad.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1), _X3,
       label="swapaxes"),
     C("transpose", lambda x: x.T.T * 1.0, lambda x: x * 1.0, [(3, 4)], label="T.T"))
spec("broadcast_to",
     *[C("broadcast_to", lambda x, s=s: ad.broadcast_to(x, s),
         lambda x, s=s: np.broadcast_to(x, s), [xs], label=f"{xs}->{s}")
       for xs, s in [((3, 1), (2, 3, 4)), ((4,), (3, 4)), ((), (2, 3)), ((1, 4), (0, 4))]],
     C("broadcast_to", lambda x: ad.broadcast_to(x.T, (2, 4, 3)),
       lambda x: np.broadcast_to(x.T, (2, 4, 3)), [(3, 4)], label="transposed"),
     # stride-0 views flowing into kernels
     C("broadcast_to", lambda x: ad.tanh(ad.broadcast_to(x, (3, 4))),
       lambda x: np.tanh(np.broadcast_to(x, (3, 4))), [(4,)], label="into-tanh"),
     C("broadcast_to", lambda x: ad.max(ad.broadcast_to(x, (2, 3, 4)) * 1.0, axis=1),
       lambda x: np.max(np.broadcast_to(x, (2, 3, 4)), axis=1), [(3, 1)], domain="distinct",
       label="into-max"),
     C("broadcast_to", lambda a, b: ad.matmul(ad.broadcast_to(a, (2, 3, 4)), b),
       lambda a, b: np.matmul(np.broadcast_to(a, (2, 3, 4)), b), [(3, 4), (4, 2)],
       label="into-matmul"))

_IDX = np.array([0, 2, 2])
_IDX2 = np.array([[0, 1], [2, 2]])
_MASK = np.array([[True, False, True, True], [False, False, True, False],
                  [True, True, False, False]])
_KEYS = [
    ((1,), "int"),
    ((-1, slice(1, 3)), "-1,1:3"),
    ((slice(None, None, -1), slice(None, None, 2)), "reversed,step2"),
    ((_IDX,), "[0,2,2]-repeated"),
    ((np.array([-1, 0, -1]),), "[-1,0,-1]-negative"),
    ((slice(None), np.array([-1, 1, -1], dtype=np.int32)), ":,int32-negative"),
    ((slice(None), [1, 1, 3]), ":,[1,1,3]"),
    ((_IDX2,), "2d-index-array"),
    ((np.array([0, 1, 1]), np.array([2, 2, 0])), "pair-of-arrays"),
    ((_MASK,), "bool-mask"),
    ((Ellipsis, None, slice(None, None, 2)), "...,None,::2"),
    ((slice(3, 3),), "empty-slice"),
]
spec("getitem",
     *[C("getitem", lambda x, k=k: x[k if len(k) > 1 else k[0]],
         lambda x, k=k: x[k if len(k) > 1 else k[0]], [(3, 4)], label=lab) for k, lab in _KEYS],
     C("getitem", lambda x: ad.take(x, [3, 0, 3], axis=1), lambda x: np.take(x, [3, 0, 3], axis=1),
       [(3, 4)], label="take"),
     C("getitem", lambda x: x.T[[1, 1]], lambda x: x.T[[1, 1]], [(3, 4)], label="transposed"),
     C("getitem", lambda x: x[1:, [0, 0]], lambda x: x[1:, [0, 0]], [(3, 4, 2)], label="3d"))

_SHAPE = (5, 3)
_SCATTER = np.array([0, 4, 4, 1])


def _getitem_vjp(key, shape):
    """g -> scatter_add(g) as the VJP of x -> x[key], through the public ad.vjp."""
    x0 = ad.zeros(shape)
    return lambda g: ad.vjp(lambda x: x[key], x0)[1](g)[0]


spec("scatter_add",
     C("scatter_add", direct("scatter_add", (_SHAPE, _SCATTER)),
       lambda g: np_scatter_add(g, _SHAPE, _SCATTER), [(4, 3)], label="direct-repeated"),
     C("scatter_add", direct("scatter_add", (_SHAPE, (slice(None), np.array([2, 2, 0])))),
       lambda g: np_scatter_add(g, _SHAPE, (slice(None), np.array([2, 2, 0]))), [(5, 3)],
       label="direct-axis1"),
     C("scatter_add", direct("scatter_add", (_SHAPE, (slice(1, None, 2),))),
       lambda g: np_scatter_add(g, _SHAPE, (slice(1, None, 2),)), [(2, 3)],
       label="direct-basic-slice"),
     C("scatter_add", _getitem_vjp(_SCATTER, _SHAPE),
       lambda g: np_scatter_add(g, _SHAPE, _SCATTER), [(4, 3)], label="vjp-of-getitem"),
     C("scatter_add", _getitem_vjp(_MASK, (3, 4)),
       lambda g: np_scatter_add(g, (3, 4), _MASK), [(int(_MASK.sum()),)], label="vjp-bool-mask"),
     C("scatter_add", lambda x: ad.grad(lambda z: ad.sum(z[_SCATTER] ** 2.0))(x),
       lambda x: np_scatter_add(2.0 * x[_SCATTER], _SHAPE, _SCATTER), [_SHAPE],
       label="grad-of-sum-square-getitem"))

spec("astype",
     # inputs are on a 2**-8 grid, so the cast is exact and finite differences stay exact
     C("astype", lambda x: ad.astype(x, np.float32), lambda x: x.astype(np.float32), [(3, 4)],
       label="to-f32"),
     C("astype", lambda x: ad.astype(ad.astype(x, np.float32), np.float64) * 1.0,
       lambda x: x.astype(np.float32).astype(np.float64) * 1.0, [(3, 4)], label="f32-round-trip",
       dtypes=(np.float64,)),
     C("astype", lambda x: ad.add(x, const(np.ones(4, np.float32), x)),
       lambda x: x + np.ones(4, np.float32), [(3, 4)], label="promotion"),
     C("astype", lambda x: x.astype(np.float32), lambda x: x.astype(np.float32), [()],
       label="method-0d"))


def _cat(*arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


spec("concatenate",
     C("concatenate", lambda a, b: ad.concatenate([a, b]), lambda a, b: _cat(a, b),
       [(2, 3), (4, 3)], label="axis0"),
     C("concatenate", lambda a, b: ad.concatenate([a, b], axis=1), lambda a, b: _cat(a, b, axis=1),
       [(2, 3), (2, 1)], label="axis1"),
     C("concatenate", lambda a, b, c: ad.concatenate((a, b, c), axis=-1),
       lambda a, b, c: _cat(a, b, c, axis=-1), [(2, 2, 1), (2, 2, 3), (2, 2, 2)],
       label="three,axis-1"),
     C("concatenate", lambda a, b: ad.concatenate([a.T, b]), lambda a, b: _cat(a.T, b),
       [(3, 2), (1, 3)], label="transposed"),
     C("concatenate", lambda a, b: ad.concatenate([a, b]), lambda a, b: _cat(a, b),
       [(0, 3), (2, 3)], label="with-empty"),
     C("concatenate", lambda a, b: ad.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1),
       [(2, 3), (2, 3)], label="stack"))

_COND = np.array([[True, False, True, False], [False, False, True, True],
                  [True, True, True, False]])
spec("where",
     C("where", lambda x, y: ad.where(const(_COND, x), x, y), lambda x, y: np.where(_COND, x, y),
       [(3, 4), (3, 4)], label="same-shape"),
     C("where", lambda x, y: ad.where(const(_COND, x), x, y), lambda x, y: np.where(_COND, x, y),
       [(3, 4), (4,)], label="3x4,4"),
     C("where", lambda x, y: ad.where(const(_COND[:, :1], x), x, y),
       lambda x, y: np.where(_COND[:, :1], x, y), [(1, 4), ()], label="cond3x1,1x4,0d"),
     C("where", lambda x: ad.where(const(_COND, x), x, 0.0),
       lambda x: np.where(_COND, x, 0.0).astype(x.dtype),
       [(3, 4)], label="x,0.0"),
     C("where", lambda x, y: ad.where(x > 0, x, y), lambda x, y: np.where(x > 0, x, y),
       [(3, 4), (3, 4)], domain=("nokink", "real"), label="tensor-cond"),
     C("where", lambda x, y: ad.where(True, x, y), lambda x, y: np.where(True, x, y),
       [(), ()], label="0d"),
     C("where", lambda x, y: ad.where(const(_COND.T, x), x.T, y),
       lambda x, y: np.where(_COND.T, x.T, y),
       [(3, 4), (4, 3)], label="transposed"))

# ----------------------------------------------------------------------------- not differentiable
_ND = dict(grad=False, dtypes=FLOATS + (np.int64,))
spec("sign",
     C("sign", ad.sign, np.sign, [(3, 4)], **_ND),
     C("sign", lambda x: ad.sign(x * 0.0), lambda x: np.sign(x * 0.0), [(3,)], label="zeros",
       **_ND),
     C("sign", ad.sign, np.sign, [()], **_ND))
_CMP = {"less": (ad.less, np.less, lambda x, y: x < y),
        "less_equal": (ad.less_equal, np.less_equal, lambda x, y: x <= y),
        "greater": (ad.greater, np.greater, lambda x, y: x > y),
        "greater_equal": (ad.greater_equal, np.greater_equal, lambda x, y: x >= y),
        "equal": (ad.equal, np.equal, lambda x, y: x == y),
        "not_equal": (ad.not_equal, np.not_equal, lambda x, y: x != y)}
for _name, (_f, _r, _op) in _CMP.items():
    spec(_name,
         C(_name, _f, _r, [(3, 4), (3, 4)], domain="even", label="ties", **_ND),
         C(_name, _f, _r, [(3, 4), (4,)], domain="even", label="broadcast", **_ND),
         C(_name, _f, _r, [(), (2, 3)], domain="even", label="0d", **_ND),
         C(_name, _f, _r, [(), ()], domain="even", label="both-0d", **_ND),
         C(_name, _op, _op, [(3, 4), (3, 4)], domain="even", label="operator", **_ND),
         C(_name, lambda x, op=_op: op(x, 0.5), lambda x, op=_op: op(x, 0.5), [(3, 4)],
           domain="even",
           label="scalar", **_ND))


# ----------------------------------------------------------------------------- cross-entropy
_CE_LABELS = np.array([2, 0, 3, 3, 1])


def _np_ce(z):
    return np_logsumexp(z, axis=1) - z[np.arange(len(z)), _CE_LABELS]


def _np_ce_backward(g, z):
    return g[:, None] * (np_softmax(z, 1) - np.eye(z.shape[1], dtype=z.dtype)[_CE_LABELS])


spec("softmax_cross_entropy",
     C("softmax_cross_entropy",
       lambda z: ad.losses.softmax_cross_entropy(z, _CE_LABELS, reduction="none"),
       _np_ce, [(5, 4)], label="labels-none"),
     C("softmax_cross_entropy",
       lambda z: ad.losses.softmax_cross_entropy(z, _CE_LABELS.reshape(5, 1)[:, 0]),
       lambda z: np.mean(_np_ce(z)), [(5, 4)], label="labels-mean"),
     C("softmax_cross_entropy", direct("softmax_cross_entropy", (_CE_LABELS,)), _np_ce,
       [(5, 4)], label="direct"))
spec("softmax_cross_entropy_backward",
     C("softmax_cross_entropy_backward", direct("softmax_cross_entropy_backward", (_CE_LABELS,)),
       _np_ce_backward, [(5,), (5, 4)], label="direct"),
     C("softmax_cross_entropy_backward",
       lambda z: ad.grad(lambda w: ad.sum(ad.losses.softmax_cross_entropy(
           w, _CE_LABELS, reduction="none") * ad.sin(w[:, 0])))(z),
       lambda z: _np_ce_backward(np.sin(z[:, 0]), z)
       + np.eye(4, dtype=z.dtype)[0] * (_np_ce(z) * np.cos(z[:, 0]))[:, None],
       [(5, 4)], label="grad-of-loss"))


# the op families' specs (numpy breadth), one file each
import specs_math  # noqa: E402,F401
import specs_array  # noqa: E402,F401
import specs_linalg  # noqa: E402,F401
import specs_distributed  # noqa: E402,F401
import specs_special  # noqa: E402,F401
import specs_scipy  # noqa: E402,F401
import specs_complex  # noqa: E402,F401
import specs_fft  # noqa: E402,F401
import specs_activations  # noqa: E402,F401
import specs_layers  # noqa: E402,F401
