"""Seeded random programs for the differential fuzzer (tests/test_fuzz.py).

A program is a small expression DAG over one or two float64 inputs, built from a seed so that
it runs unchanged in pyad and in a reference framework (PyTorch). Every node knows its shape
and, while the program is built, its reference value: an operation is only used where its
derivatives are well defined at the chosen inputs (logs of values > 0.2, no ties in max or
maximum, no kinks of abs/relu/clip within 0.05, well-conditioned matrices), so that the two
frameworks must agree to rounding. Each node prints in a numpy-like form, so a failure shows
the program it came from: `build(seed)` rebuilds it exactly.

Only operations pyad has are used (each one's pyad function is looked up by name, so new
ones join as they land: see force_table()). The reference side of indexing and of the
array family's selections (flip, roll, tile, repeat, diagonal, pad, split, hstack, ...) is a
gather with the flat indices numpy itself computes for integer stand-ins of the operands, so
numpy's rules (advanced indices separated by a slice go first, ...) are the reference and
PyTorch's own semantics for them do not matter.

build(seed) makes a random program; build(seed, scalar=..., force=<op>) one that uses that
operation (at its root, or under a final reduction for a scalar program).
"""
import itertools

import numpy as np
import torch

import pyad as ad

F64 = torch.float64          # every reference tensor is float64 (no global default changed)

MAX_SIZE = 12          # elements of any node (keeps Jacobians and Hessians small)


class Node:
    """One operation of a program: op name, child nodes, parameters, shape and the reference
    value (a float64 torch tensor, or bool for conditions)."""
    __slots__ = ("op", "kids", "p", "shape", "value")

    def __init__(self, op, kids, p, value):
        self.op, self.kids, self.p, self.value = op, tuple(kids), p, value
        self.shape = tuple(value.shape)


# --------------------------------------------------------------------------- op registry
# name -> (pyad implementation, torch implementation, printer); implementations take the
# children's values then the node's parameters dict.
OPS = {}


def op(name, pyad_impl, torch_impl, fmt):
    OPS[name] = (pyad_impl, torch_impl, fmt)


def have(name, module=ad):
    return callable(getattr(module, name, None))


def _axis_text(axis):
    return "None" if axis is None else repr(axis)


def _arr_text(a):
    s = np.array2string(np.asarray(a), separator=",", threshold=20)
    s = s.replace("\n", "").replace(" ", "")
    tag = "" if (not isinstance(a, np.ndarray) or a.ndim < 1 or a.flags.c_contiguous) else "~nc"
    return s + tag


def _key_text(key):
    parts = []
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, slice):
            a = "" if k.start is None else str(k.start)
            b = "" if k.stop is None else str(k.stop)
            parts.append(f"{a}:{b}" + ("" if k.step in (None, 1) else f":{k.step}"))
        elif k is None:
            parts.append("None")
        elif k is Ellipsis:
            parts.append("...")
        elif isinstance(k, np.ndarray):
            parts.append(_arr_text(k))
        else:
            parts.append(repr(k))
    return ", ".join(parts)


def _torch_dims(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes))


# ----- leaves
op("input", None, None, lambda p: f"x{p['i']}")
op("const", None, None, lambda p: f"c{_arr_text(p['c']) if np.ndim(p['c']) == 0 else p['c'].shape}")


# ----- elementwise unary: name -> (torch function, domain kind)
#   domain kinds: None anywhere | "pos" > 0.2 | "nz" |x| > 0.05 | "small" |x| < 3.5
#   | "unit" |x| < 0.85 | "gt1" > 1.2 | "notint" not within 1e-6 of an integer
#   | "nothalf" not within 1e-6 of a half-integer | "nz3" |x| > 0.3
def _cbrt(t):
    return torch.sign(t) * torch.abs(t) ** (1.0 / 3.0)


UNARY = {
    "negative": (torch.neg, None), "exp": (torch.exp, "small"), "log": (torch.log, "pos"),
    "log1p": (torch.log1p, "pos"), "sqrt": (torch.sqrt, "pos"), "square": (torch.square, None),
    "abs": (torch.abs, "nz"), "sin": (torch.sin, None), "cos": (torch.cos, None),
    "tanh": (torch.tanh, None), "sigmoid": (torch.sigmoid, None), "relu": (torch.relu, "nz"),
    "softplus": (lambda t: torch.nn.functional.softplus(t, threshold=1000.0), "small"),
    # the math family (used where pyad has them)
    "reciprocal": (torch.reciprocal, "nz3"), "sinh": (torch.sinh, "small"),
    "cosh": (torch.cosh, "small"), "tan": (torch.tan, "unit"), "arcsin": (torch.asin, "unit"),
    "arccos": (torch.acos, "unit"), "arctan": (torch.atan, None),
    "arcsinh": (torch.asinh, None), "arccosh": (torch.acosh, "gt1"),
    "arctanh": (torch.atanh, "unit"), "exp2": (torch.exp2, "small"),
    "expm1": (torch.expm1, "small"), "log2": (torch.log2, "pos"), "log10": (torch.log10, "pos"),
    "cbrt": (_cbrt, "nz3"), "deg2rad": (torch.deg2rad, None), "rad2deg": (torch.rad2deg, None),
    "radians": (torch.deg2rad, None), "degrees": (torch.rad2deg, None),
    "sinc": (torch.sinc, "nz"), "fabs": (torch.abs, "nz"),
    "floor": (torch.floor, "notint"), "ceil": (torch.ceil, "notint"),
    "trunc": (torch.trunc, "notint"), "fix": (torch.trunc, "notint"),
    "rint": (torch.round, "nothalf"), "round": (torch.round, "nothalf"),
    "around": (torch.round, "nothalf"), "nan_to_num": (lambda t: t, None),
    "sign": (torch.sign, "nz"), "absolute": (torch.abs, "nz"),
    "stop_gradient": (lambda t: t.detach(), None),
}
UNARY = {k: v for k, v in UNARY.items() if have(k)}
for _name, (_tf, _) in UNARY.items():
    op(_name,
       (lambda name: lambda x, p: (getattr(np, name)(x) if p["via"] == "np" and hasattr(np, name)
                                   else getattr(ad, name)(x)))(_name),
       (lambda tf: lambda x, p: tf(x))(_tf),
       (lambda name: lambda p, x: f"{'np.' if p['via'] == 'np' else ''}{name}({x})")(_name))


def domain_ok(kind, v):
    if kind is None:
        return True
    a = v.abs()
    if kind == "pos":
        return bool(v.min() > 0.2)
    if kind == "nz":
        return bool(a.min() > 0.05)
    if kind == "nz3":
        return bool(a.min() > 0.3)
    if kind == "small":
        return bool(a.max() < 3.5)
    if kind == "unit":
        return bool(a.max() < 0.85)
    if kind == "gt1":
        return bool(v.min() > 1.2)
    if kind == "notint":
        return bool((v - torch.round(v)).abs().min() > 1e-6)
    if kind == "nothalf":
        return bool((v - torch.floor(v) - 0.5).abs().min() > 1e-6)
    raise ValueError(kind)


# ----- elementwise binary (broadcasting): name -> (torch function, check(a, b) or None)
def _apart(a, b):
    return bool((a - b).abs().min() > 1e-4)


def _mod_ok(a, b):
    if b.abs().min() <= 0.3:
        return False
    q = a / b
    return bool((q - torch.round(q)).abs().min() > 1e-4)


BINARY = {
    "add": (torch.add, None), "subtract": (torch.sub, None), "multiply": (torch.mul, None),
    "divide": (torch.div, lambda a, b: bool(b.abs().min() > 0.3)),
    "power": (torch.pow, lambda a, b: bool(a.min() > 0.2 and b.abs().max() < 3)),
    "maximum": (torch.maximum, _apart), "minimum": (torch.minimum, _apart),
    "fmax": (torch.fmax, _apart), "fmin": (torch.fmin, _apart),
    "logaddexp": (torch.logaddexp, None), "logaddexp2": (torch.logaddexp2, None),
    # away from the origin and from the branch cut (y = +-0, x < 0), where the value jumps by
    # 2 pi with the sign of a zero y (pyad's and numpy's einsum sum a -0.0 term to +0.0)
    "arctan2": (torch.atan2, lambda a, b: bool(torch.hypot(a, b).min() > 0.2
                                               and ((a.abs() > 0.05) | (b > 0)).all())),
    "hypot": (torch.hypot, lambda a, b: bool(torch.hypot(a, b).min() > 0.2)),
    "copysign": (torch.copysign, lambda a, b: bool(a.abs().min() > 0.05
                                                    and b.abs().min() > 0.05)),
    "mod": (torch.remainder, _mod_ok), "remainder": (torch.remainder, _mod_ok),
    "fmod": (torch.fmod, _mod_ok),
    "true_divide": (torch.div, lambda a, b: bool(b.abs().min() > 0.3)),
    "floor_divide": (lambda a, b: torch.floor(a / b), _mod_ok),     # (torch's has no
                                                                     # derivative at all)
}
BINARY = {k: v for k, v in BINARY.items() if have(k)}
_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "**",
              "true_divide": "/", "mod": "%", "remainder": "%"}


def _binary_pyad(name):
    def run(a, b, p):
        if p["via"] == "op":
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "/": lambda: a / b, "**": lambda: a ** b,
                    "%": lambda: a % b}[_OPERATORS[name]]()
        if p["via"] == "np":
            return getattr(np, name)(a, b)
        return getattr(ad, name)(a, b)
    return run


def _binary_fmt(name):
    def fmt(p, a, b):
        if p["via"] == "op":
            return f"({a} {_OPERATORS[name]} {b})"
        return f"{'np.' if p['via'] == 'np' else ''}{name}({a}, {b})"
    return fmt


for _name, (_tf, _) in BINARY.items():
    op(_name, _binary_pyad(_name), (lambda tf: lambda a, b, p: tf(a, b))(_tf), _binary_fmt(_name))


# ----- with a Python scalar
SCALAR = {
    "x+c": (lambda x, c: x + c, "({x} + {c})"), "c+x": (lambda x, c: c + x, "({c} + {x})"),
    "x-c": (lambda x, c: x - c, "({x} - {c})"), "c-x": (lambda x, c: c - x, "({c} - {x})"),
    "x*c": (lambda x, c: x * c, "({x} * {c})"), "c*x": (lambda x, c: c * x, "({c} * {x})"),
    "x/c": (lambda x, c: x / c, "({x} / {c})"), "c/x": (lambda x, c: c / x, "({c} / {x})"),
    "x**c": (lambda x, c: x ** c, "({x} ** {c})"), "c**x": (lambda x, c: c ** x, "({c} ** {x})"),
    "-x": (lambda x, c: -x, "(-{x})"),
}
for _name, (_f, _t) in SCALAR.items():
    op("scalar" + _name, (lambda f: lambda x, p: f(x, p["c"]))(_f),
       (lambda f: lambda x, p: f(x, p["c"]))(_f),
       (lambda t: lambda p, x: t.format(x=x, c=p["c"]))(_t))

op("maximum_c", lambda x, p: ad.maximum(x, p["c"]), lambda x, p: torch.clamp(x, min=p["c"]),
   lambda p, x: f"maximum({x}, {p['c']})")
op("minimum_c", lambda x, p: ad.minimum(x, p["c"]), lambda x, p: torch.clamp(x, max=p["c"]),
   lambda p, x: f"minimum({x}, {p['c']})")
op("clip", lambda x, p: (x.clip(p["lo"], p["hi"]) if p["via"] == "method" and
                         isinstance(x, ad.Tensor) else ad.clip(x, p["lo"], p["hi"])),
   lambda x, p: torch.clamp(x, *[None if b is None else torch.as_tensor(b, dtype=F64)
                                 for b in (p["lo"], p["hi"])]),
   lambda p, x: f"clip({x}, {_bound_text(p['lo'])}, {_bound_text(p['hi'])})")
op("sum_to", lambda x, p: ad.sum_to(x, p["shape"]), lambda x, p: x.sum_to_size(p["shape"]),
   lambda p, x: f"sum_to({x}, {p['shape']})")


def _bound_text(b):
    return _arr_text(b) if isinstance(b, np.ndarray) else repr(b)


# ----- reductions: name -> (torch function of (x, dims, keepdim, p), check(child value, dims, p))
def _gap_ok(v, dims):
    """Top two (and bottom two) values along dims apart: no ties for max/min."""
    if not dims:
        return True
    keep = [d for d in range(v.ndim) if d not in dims]
    w = v.permute(keep + list(dims)).reshape([v.shape[d] for d in keep] + [-1])
    if w.shape[-1] < 2:
        return True
    s = torch.sort(w, dim=-1).values
    return bool((s[..., 1:] - s[..., :-1]).min() > 1e-4)


def _t_prod(x, dims, keep, p):
    for d in sorted(dims, reverse=True):
        x = torch.prod(x, dim=d, keepdim=True)
    if not keep:
        x = x.reshape([n for i, n in enumerate(x.shape) if i not in dims])
    return x


def _t_average(x, dims, keep, p):
    w = p.get("weights")
    if w is None:
        return torch.mean(x, dim=dims, keepdim=keep)
    wt = torch.as_tensor(w).reshape([x.shape[d] if d == dims[0] else 1 for d in range(x.ndim)])
    return torch.sum(x * wt, dim=dims, keepdim=keep) / float(np.sum(w))


REDUCE = {
    "sum": (lambda x, d, k, p: torch.sum(x, dim=d, keepdim=k), None),
    "mean": (lambda x, d, k, p: torch.mean(x, dim=d, keepdim=k), None),
    "max": (lambda x, d, k, p: torch.amax(x, dim=d, keepdim=k), _gap_ok),
    "min": (lambda x, d, k, p: torch.amin(x, dim=d, keepdim=k), _gap_ok),
    "var": (lambda x, d, k, p: torch.var(x, dim=d, correction=p["ddof"], keepdim=k), None),
    "std": (lambda x, d, k, p: torch.std(x, dim=d, correction=p["ddof"], keepdim=k), None),
    "logsumexp": (lambda x, d, k, p: torch.logsumexp(x, dim=d, keepdim=k), None),
    "prod": (_t_prod, None),
    "ptp": (lambda x, d, k, p: torch.amax(x, dim=d, keepdim=k) - torch.amin(x, dim=d, keepdim=k),
            _gap_ok),
    "average": (_t_average, None),
}
REDUCE = {k: v for k, v in REDUCE.items() if have(k)}


def _reduce_kwargs(name, p):
    kw = {"axis": p["axis"]}
    if name != "average":
        kw["keepdims"] = p["keepdims"]
    elif p.get("weights") is not None:
        kw["weights"] = p["weights"]
    if name in ("var", "std"):
        kw["ddof"] = p["ddof"]
    return kw


def _reduce_pyad(name):
    def run(x, p):
        kw = _reduce_kwargs(name, p)
        if p["via"] == "np" and name not in ("logsumexp",):
            return getattr(np, name)(x, **kw)
        if p["via"] == "method" and isinstance(x, ad.Tensor) and hasattr(x, name) and name in (
                "sum", "mean", "max", "min", "var", "std", "prod"):
            return getattr(x, name)(**kw)
        return getattr(ad, name)(x, **kw)
    return run


def _reduce_fmt(name):
    def fmt(p, x):
        kw = _reduce_kwargs(name, p)
        args = ", ".join(f"{k}={_arr_text(v) if isinstance(v, np.ndarray) else _axis_text(v)}"
                         for k, v in kw.items())
        if p["via"] == "method" and name in ("sum", "mean", "max", "min", "var", "std", "prod"):
            return f"{x}.{name}({args})"
        np_ok = p["via"] == "np" and name != "logsumexp"
        return f"{'np.' if np_ok else ''}{name}({x}, {args})"
    return fmt


for _name, (_tf, _) in REDUCE.items():
    op(_name, _reduce_pyad(_name),
       (lambda tf: lambda x, p: tf(x, _torch_dims(p["axis"], x.ndim), p["keepdims"], p))(_tf),
       _reduce_fmt(_name))

op("softmax", lambda x, p: ad.softmax(x, axis=p["axis"]),
   lambda x, p: torch.softmax(x, dim=p["axis"]), lambda p, x: f"softmax({x}, axis={p['axis']})")
op("log_softmax", lambda x, p: ad.log_softmax(x, axis=p["axis"]),
   lambda x, p: torch.log_softmax(x, dim=p["axis"]),
   lambda p, x: f"log_softmax({x}, axis={p['axis']})")


# ----- products
def _matmul_pyad(a, b, p):
    via = p["via"]
    if via == "op":
        return a @ b
    if via == "np":
        return np.matmul(a, b)
    if via == "dot":
        return ad.dot(a, b)
    return ad.matmul(a, b)


op("matmul", _matmul_pyad, lambda a, b, p: torch.matmul(a, b),
   lambda p, a, b: (f"({a} @ {b})" if p["via"] == "op" else
                    f"{dict(np='np.matmul', dot='dot').get(p['via'], 'matmul')}({a}, {b})"))


# ----- shapes
def _transpose_pyad(x, p):
    via, axes = p["via"], p["axes"]
    if via == "T" and isinstance(x, ad.Tensor):
        return x.T
    if via == "np":
        return np.transpose(x, axes)
    if via == "swapaxes":
        return ad.swapaxes(x, *p["pair"])
    return ad.transpose(x, axes)


op("transpose", _transpose_pyad, lambda x, p: x.permute(p["axes"]),
   lambda p, x: (f"{x}.T" if p["via"] == "T" else
                 f"swapaxes({x}, {p['pair'][0]}, {p['pair'][1]})" if p["via"] == "swapaxes" else
                 f"{'np.' if p['via'] == 'np' else ''}transpose({x}, {p['axes']})"))
op("reshape", lambda x, p: (x.reshape(p["arg"]) if p["via"] == "method" and isinstance(x, ad.Tensor)
                            else np.reshape(x, p["arg"]) if p["via"] == "np"
                            else ad.reshape(x, p["arg"])),
   lambda x, p: x.reshape(p["shape"]),
   lambda p, x: (f"{x}.reshape({p['arg']})" if p["via"] == "method" else
                 f"{'np.' if p['via'] == 'np' else ''}reshape({x}, {p['arg']})"))
op("expand_dims", lambda x, p: ad.expand_dims(x, p["axis"]),
   lambda x, p: x.reshape(p["shape"]), lambda p, x: f"expand_dims({x}, {p['axis']})")
op("squeeze", lambda x, p: ad.squeeze(x, axis=p["axis"]),
   lambda x, p: x.reshape(p["shape"]), lambda p, x: f"squeeze({x}, axis={_axis_text(p['axis'])})")
op("broadcast_to", lambda x, p: (np.broadcast_to(x, p["shape"]) if p["via"] == "np"
                                 else ad.broadcast_to(x, p["shape"])),
   lambda x, p: torch.broadcast_to(x, p["shape"]),
   lambda p, x: f"{'np.' if p['via'] == 'np' else ''}broadcast_to({x}, {p['shape']})")
op("concatenate", lambda *xs: (np.concatenate(list(xs[:-1]), axis=xs[-1]["axis"])
                               if xs[-1]["via"] == "np" else
                               ad.concatenate(list(xs[:-1]), axis=xs[-1]["axis"])),
   lambda *xs: torch.cat(list(xs[:-1]), dim=xs[-1]["axis"]),
   lambda p, *xs: f"{'np.' if p['via'] == 'np' else ''}concatenate([{', '.join(xs)}], "
                  f"axis={p['axis']})")
op("stack", lambda *xs: ad.stack(list(xs[:-1]), axis=xs[-1]["axis"]),
   lambda *xs: torch.stack(list(xs[:-1]), dim=xs[-1]["axis"]),
   lambda p, *xs: f"stack([{', '.join(xs)}], axis={p['axis']})")


# ----- selection
def _cond_pyad(c, p):
    return ad.greater(c, p["t"]) if p["cmp"] == ">" else ad.less(c, p["t"])


op("compare", _cond_pyad,
   lambda c, p: (c > p["t"]) if p["cmp"] == ">" else (c < p["t"]),
   lambda p, c: f"({c} {p['cmp']} {p['t']})")
op("where", lambda c, a, b, p: ad.where(c, a, b), lambda c, a, b, p: torch.where(c, a, b),
   lambda p, c, a, b: f"where({c}, {a}, {b})")
op("where_c", lambda c, a, p: (ad.where(c, a, p["c"]) if p["side"] == "y" else
                               ad.where(c, p["c"], a)),
   lambda c, a, p: (torch.where(c, a, torch.tensor(p["c"], dtype=F64)) if p["side"] == "y" else
                    torch.where(c, torch.tensor(p["c"], dtype=F64), a)),
   lambda p, c, a: (f"where({c}, {a}, {p['c']})" if p["side"] == "y" else
                    f"where({c}, {p['c']}, {a})"))


def _flat_gather(x, p):
    flat = np.asarray(p["flat"])
    if flat.ndim == 0:
        return x.reshape(-1)[int(flat)]
    return x.reshape(-1)[torch.from_numpy(np.array(flat, order="C", copy=True))]


op("getitem", lambda x, p: (ad.getitem(x, p["key"]) if p["via"] == "fn" else x[p["key"]]),
   _flat_gather,
   lambda p, x: (f"getitem({x}, ({_key_text(p['key'])}))" if p["via"] == "fn"
                 else f"{x}[{_key_text(p['key'])}]"))
op("take", lambda x, p: ad.take(x, p["idx"], axis=p["axis"]), _flat_gather,
   lambda p, x: f"take({x}, {_arr_text(p['idx'])}, axis={_axis_text(p['axis'])})")


# ----- linear algebra (where pyad.linalg has them)
LA = getattr(ad, "linalg", None)


def _la(name):
    return LA is not None and have(name, LA)


def _det_reference(a):
    """det of the generator's 1x1 to 3x3 matrices by the Leibniz sum: a polynomial, whose
    torch derivatives of every order are exact (torch.linalg.det's second derivatives came
    out NaN on some, e.g. a broadcast scalar plus a constant: seeds 308763, 316313, 319293)."""
    n = a.shape[-1]
    total = 0
    for perm in itertools.permutations(range(n)):
        inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
        term = a[..., 0, perm[0]]
        for i in range(1, n):
            term = term * a[..., i, perm[i]]
        total = total + (-1) ** inversions * term
    return total


op("det", lambda a, p: LA.det(a), lambda a, p: _det_reference(a),
   lambda p, a: f"linalg.det({a})")
op("slogdet", lambda a, p: LA.slogdet(a)[1], lambda a, p: torch.log(torch.abs(_det_reference(a))),
   lambda p, a: f"linalg.slogdet({a})[1]")
op("inv", lambda a, p: LA.inv(a), lambda a, p: torch.linalg.inv(a), lambda p, a: f"linalg.inv({a})")
op("solve", lambda a, b, p: LA.solve(a, b), lambda a, b, p: torch.linalg.solve(a, b),
   lambda p, a, b: f"linalg.solve({a}, {b})")
op("cholesky", lambda a, p: LA.cholesky(a), lambda a, p: torch.linalg.cholesky(a),
   lambda p, a: f"linalg.cholesky({a})")
op("eigvalsh", lambda a, p: LA.eigvalsh(a), lambda a, p: torch.linalg.eigvalsh(a),
   lambda p, a: f"linalg.eigvalsh({a})")
op("svdvals", lambda a, p: LA.svdvals(a), lambda a, p: torch.linalg.svdvals(a),
   lambda p, a: f"linalg.svdvals({a})")
op("norm", lambda a, p: LA.norm(a), lambda a, p: torch.linalg.vector_norm(a.reshape(-1)),
   lambda p, a: f"linalg.norm({a})")
op("vector_norm", lambda a, p: LA.vector_norm(a, axis=p["axis"], ord=p["ord"]),
   lambda a, p: torch.linalg.vector_norm(a, ord=p["ord"], dim=p["axis"]),
   lambda p, a: f"linalg.vector_norm({a}, axis={p['axis']}, ord={p['ord']})")
op("matrix_power", lambda a, p: LA.matrix_power(a, p["n"]),
   lambda a, p: torch.linalg.matrix_power(a, p["n"]),
   lambda p, a: f"linalg.matrix_power({a}, {p['n']})")
op("multi_dot", lambda *xs: LA.multi_dot(list(xs[:-1])),
   lambda *xs: torch.linalg.multi_dot(list(xs[:-1])),
   lambda p, *xs: f"linalg.multi_dot([{', '.join(xs)}])")
op("pinv", lambda a, p: LA.pinv(a), lambda a, p: torch.linalg.pinv(a),
   lambda p, a: f"linalg.pinv({a})")
op("matrix_norm", lambda a, p: LA.matrix_norm(a, ord=p["ord"]),
   lambda a, p: torch.linalg.matrix_norm(a, ord=p["ord"]),
   lambda p, a: f"linalg.matrix_norm({a}, ord={p['ord']!r})")
op("matrix_transpose", lambda a, p: LA.matrix_transpose(a), lambda a, p: a.transpose(-1, -2),
   lambda p, a: f"linalg.matrix_transpose({a})")
op("cond", lambda a, p: LA.cond(a), lambda a, p: torch.linalg.cond(a),
   lambda p, a: f"linalg.cond({a})")
op("eigh", lambda a, p: (LA.eigh(a)[0] if p["part"] == 0 else LA.eigh(a)[1] ** 2),
   lambda a, p: (torch.linalg.eigh(a)[0] if p["part"] == 0 else torch.linalg.eigh(a)[1] ** 2),
   lambda p, a: f"linalg.eigh({a})[{p['part']}]" + ("" if p["part"] == 0 else " ** 2"))
op("svd", lambda a, p: (LA.svd(a, full_matrices=False)[p["part"]] ** p["pow"]),
   lambda a, p: (torch.linalg.svd(a, full_matrices=False)[p["part"]] ** p["pow"]),
   lambda p, a: f"linalg.svd({a}, full_matrices=False)[{p['part']}]"
                + ("" if p["pow"] == 1 else f" ** {p['pow']}"))
op("qr", lambda a, p: LA.qr(a)[p["part"]], lambda a, p: torch.linalg.qr(a)[p["part"]],
   lambda p, a: f"linalg.qr({a})[{p['part']}]")
op("lstsq", lambda a, b, p: LA.lstsq(a, b)[0], lambda a, b, p: torch.linalg.lstsq(a, b).solution,
   lambda p, a, b: f"linalg.lstsq({a}, {b})[0]")


# --------------------------------------------------------------------------- evaluation
def run_pyad(root, inputs):
    """The program on pyad: inputs are what the transform passes (Tensors or arrays)."""
    memo = {}

    def ev(n):
        key = id(n)
        if key in memo:
            return memo[key]
        if n.op == "input":
            v = inputs[n.p["i"]]
        elif n.op == "const":
            v = n.p["c"]
        else:
            v = OPS[n.op][0](*[ev(k) for k in n.kids], n.p)
        memo[key] = v
        return v
    return ev(root)


def run_torch(root, inputs):
    memo = {}

    def ev(n):
        key = id(n)
        if key in memo:
            return memo[key]
        if n.op == "input":
            v = inputs[n.p["i"]]
        elif n.op == "const":
            v = torch.as_tensor(np.array(n.p["c"]))
        else:
            v = OPS[n.op][1](*[ev(k) for k in n.kids], n.p)
        memo[key] = v
        return v
    return ev(root)


def text(root):
    """The program in a numpy-like form (shared nodes are printed where they are used)."""
    def pr(n):
        if n.op in ("input", "const"):
            return OPS[n.op][2](n.p)
        return OPS[n.op][2](n.p, *[pr(k) for k in n.kids])
    return pr(root)


def ops_used(root):
    seen, out, stack = set(), set(), [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        out.add(n.p["name"] if n.op == "call" else n.op)
        if n.op == "getitem" and "kind" in n.p:
            out.add("getitem:" + n.p["kind"])
        stack.extend(n.kids)
    return out


def nodes(root):
    seen, out, stack = set(), [], [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        out.append(n)
        stack.extend(n.kids)
    return out


# --------------------------------------------------------------------------- generation
class Reject(Exception):
    """A choice that does not fit here (domain, ties, shapes): the generator tries another."""


def _size(shape):
    return int(np.prod(shape)) if shape else 1


class Gen:
    def __init__(self, seed, inputs):
        self.rng = np.random.default_rng(seed)
        self.inputs = inputs                          # list of float64 numpy arrays
        self.leaves = [Node("input", (), {"i": i}, torch.tensor(np.array(x)))
                       for i, x in enumerate(inputs)]
        self.pool = list(self.leaves)                 # built nodes, reused for fan-out

    # -- helpers
    forced = None                # an op name the next maker offering it must pick

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def pick(self, names):
        """A random name, or the forced one where it is among them (once)."""
        if self.forced is not None and self.forced in names:
            name, self.forced = self.forced, None
            return name
        return self.choice(names)

    def node(self, name, kids, p):
        with torch.no_grad():
            value = OPS[name][1](*[k.value for k in kids], p)
        if value.dtype != torch.bool:
            if not bool(torch.isfinite(value).all()) or (value.numel() and
                                                         float(value.abs().max()) > 1e4):
                raise Reject(f"{name}: values out of range")
            if value.dtype != torch.float64:
                raise Reject(f"{name}: dtype {value.dtype}")
        n = Node(name, kids, p, value)
        if _size(n.shape) > MAX_SIZE and value.dtype != torch.bool:
            raise Reject("too big")
        if value.dtype != torch.bool:
            self.pool.append(n)
        return n

    def rand_shape(self, max_ndim=3, max_size=MAX_SIZE, min_ndim=0):
        for _ in range(20):
            nd = int(self.rng.integers(min_ndim, max_ndim + 1))
            shape = tuple(int(self.rng.choice([1, 2, 2, 3, 3, 4])) for _ in range(nd))
            if _size(shape) <= max_size:
                return shape
        return (2,)

    # -- the main entry: a node of exactly this shape
    def make(self, shape, depth):
        shape = tuple(shape)
        if depth <= 0 or self.rng.random() < 0.12:
            n = self.leaf(shape)
            assert n.shape == shape, ("leaf", n.shape, shape)
            return n
        makers = MAKERS
        weights = np.array([w for _, w in makers], dtype=float)
        for _ in range(12):
            maker = makers[int(self.rng.choice(len(makers), p=weights / weights.sum()))][0]
            try:
                n = maker(self, shape, depth)
            except Reject:
                continue
            if n is not None:
                assert n.shape == shape, (maker.__name__, n.shape, shape)
                return n
        return self.leaf(shape)

    def leaf(self, shape):
        r = self.rng.random()
        same = [n for n in self.pool if n.shape == shape]
        if same and r < 0.25:
            return self.choice(same)
        if r < 0.32:
            c = self.rng.uniform(-1.5, 1.5, shape) if shape else float(self.rng.uniform(-1.5, 1.5))
            return Node("const", (), {"c": np.array(c) if shape else c},
                        torch.tensor(np.array(c)))
        order = [self.leaves[int(i)] for i in self.rng.permutation(len(self.leaves))]
        for x in order:
            n = self.from_input(x, shape)
            if n is not None:
                return n
        x = order[0]
        n = _size(x.shape)
        flat = x if len(x.shape) == 1 else self.node(
            "reshape", (x,), {"shape": (n,), "arg": (-1,), "via": "fn"})
        if not shape:
            i = int(self.rng.integers(-n, n))
            return self.node("getitem", (flat,), {"key": i, "flat": np.array(i % n),
                                                  "via": "op"})
        idx = _index_array(self, n, shape)
        return self.node("getitem", (flat,), {"key": idx, "flat": np.where(idx < 0, idx + n, idx),
                                              "via": "op"})

    def from_input(self, x, shape):
        """x turned into this shape by one natural operation, or None."""
        xs = x.shape
        if xs == shape:
            return x
        if len(xs) == len(shape) >= 2 and sorted(xs) == sorted(shape):
            axes, used = [], set()
            for n in shape:
                a = next(i for i, m in enumerate(xs) if m == n and i not in used)
                used.add(a)
                axes.append(a)
            return self.node("transpose", (x,), {"axes": tuple(axes), "via": "fn"})
        if len(xs) <= len(shape) and all(a in (1, b) for a, b in zip(xs[::-1], shape[::-1])):
            return self.node("broadcast_to", (x,), {"shape": shape, "via": "fn"})
        if len(xs) == len(shape) and all(a <= b for a, b in zip(shape, xs)):
            key = []
            for n, m in zip(shape, xs):
                step = 2 if (n - 1) * 2 + 1 <= m and self.rng.random() < 0.3 else 1
                span = (n - 1) * step + 1
                start = int(self.rng.integers(0, m - span + 1))
                key.append(slice(start, start + span, None if step == 1 else step))
            key = tuple(key)
            flat = np.arange(_size(xs)).reshape(xs)[key]
            return self.node("getitem", (x,), {"key": key, "flat": flat, "via": "op"})
        if _size(xs) == _size(shape):
            return self.node("reshape", (x,), {"shape": shape, "arg": shape, "via": "fn"})
        return None


# --------------------------------------------------------------------------- makers
def _repair(g, kind, child):
    """Bring a child into an operation's domain with a few extra nodes (themselves ops)."""
    if kind == "pos":
        sq = g.node("scalarx**c", (child,), {"c": 2})
        return g.node("scalarx+c", (sq,), {"c": 0.3})
    if kind == "gt1":
        sq = g.node("scalarx**c", (child,), {"c": 2})
        return g.node("scalarx+c", (sq,), {"c": 1.25})
    if kind in ("unit", "small"):
        th = g.node("tanh", (child,), {"via": "fn"})
        return g.node("scalarx*c", (th,), {"c": 0.8 if kind == "unit" else 3.0})
    raise Reject(kind)


def make_unary(g, shape, depth):
    name = g.pick(sorted(UNARY))
    kind = UNARY[name][1]
    child = g.make(shape, depth - 1)
    if not domain_ok(kind, child.value):
        child = _repair(g, kind, child)
        if not domain_ok(kind, child.value):
            raise Reject(name)
    via = g.choice(["fn", "fn", "np"])
    return g.node(name, (child,), {"via": via})


def _reduced_shape(g, shape):
    """A shape that broadcasts to `shape` (some dims 1, maybe fewer leading dims)."""
    s = list(shape)
    for i in range(len(s)):
        if g.rng.random() < 0.35:
            s[i] = 1
    drop = int(g.rng.integers(0, len(s) + 1)) if g.rng.random() < 0.3 else 0
    return tuple(s[drop:])


def make_binary(g, shape, depth):
    name = g.pick(sorted(BINARY))
    check = BINARY[name][1]
    sa = shape if g.rng.random() < 0.6 else _reduced_shape(g, shape)
    sb = shape if sa != shape or g.rng.random() < 0.5 else _reduced_shape(g, shape)
    if g.rng.random() < 0.5:
        sa, sb = sb, sa
    a = g.make(sa, depth - 1)
    b = g.make(sb, depth - 1)
    if name == "power":
        if a.value.min() <= 0.2:
            a = _repair(g, "pos", a)
        if b.value.abs().max() >= 3:
            b = _repair(g, "small", b)
    if check is not None:
        av, bv = torch.broadcast_tensors(a.value, b.value)
        if not check(av, bv):
            raise Reject(name)
    vias = ["fn", "np"] + (["op", "op"] if name in _OPERATORS else [])
    if a.op == "const" and b.op == "const":
        raise Reject("two constants")
    via = g.choice(vias)
    if via == "op" and a.op == "const":
        via = "fn"
    return g.node(name, (a, b), {"via": via})


def make_scalar(g, shape, depth):
    kind = g.pick(["scalar" + k for k in sorted(SCALAR)] + ["maximum_c", "minimum_c", "clip",
                                                             "clip"])
    kind = {"maximum_c": "max", "minimum_c": "min"}.get(kind, kind).replace("scalar", "", 1)
    x = g.make(shape, depth - 1)
    v = x.value
    if kind in ("max", "min"):
        c = float(np.round(g.rng.uniform(-1, 1), 2))
        if (v - c).abs().min() <= 1e-3:
            raise Reject(kind)
        return g.node("maximum_c" if kind == "max" else "minimum_c", (x,), {"c": c})
    if kind == "clip":
        vals = np.sort(v.reshape(-1).numpy())
        lo = float(np.round(g.rng.uniform(vals[0] - 0.5, vals[-1]), 2))
        hi = float(np.round(g.rng.uniform(lo + 0.1, vals[-1] + 0.5), 2))
        if g.rng.random() < 0.2:
            lo = None
        elif g.rng.random() < 0.2:
            hi = None
        if g.rng.random() < 0.25 and shape:           # array bounds (maximum/minimum inside)
            lo = None if lo is None else np.round(lo + g.rng.uniform(
                -0.3, 0.3, _reduced_shape(g, shape)), 2)
            hi = None if hi is None else np.round(np.maximum(
                hi + g.rng.uniform(-0.3, 0.3, _reduced_shape(g, shape)),
                (lo if lo is not None else -np.inf) + 0.05), 2)
        for b in (lo, hi):
            if b is not None and (v - torch.as_tensor(b)).abs().min() <= 1e-3:
                raise Reject("clip")
        return g.node("clip", (x,), {"lo": lo, "hi": hi, "via": g.choice(["fn", "method"])})
    c = float(np.round(g.rng.uniform(0.3, 2.0), 2)) * g.choice([1, -1])
    if kind == "x**c":
        c = g.choice([2, 3, 2.0, -1, 0.5, 1.5, -0.5])
        if c in (-1, 0.5, 1.5, -0.5) and v.min() <= 0.2:
            x = _repair(g, "pos", x)
    elif kind == "c**x":
        c = g.choice([2.0, 0.5, 1.7])
        if v.abs().max() >= 3.5:
            x = _repair(g, "small", x)
    elif kind == "c/x" and v.abs().min() <= 0.3:
        raise Reject("c/x")
    if x.op == "const":
        raise Reject("constant")
    return g.node("scalar" + kind, (x,), {"c": c})


def make_reduce(g, shape, depth):
    name = g.pick(sorted(REDUCE))
    check = REDUCE[name][1]
    ones = [i for i, n in enumerate(shape) if n == 1]
    p = {"ddof": int(g.rng.integers(0, 2)), "via": g.choice(["fn", "fn", "np", "method"])}
    r = g.rng.random()
    if not shape and r < 0.5:                               # a full reduction
        child_shape = g.rand_shape(min_ndim=1)
        p.update(axis=None, keepdims=False)
    elif ones and r < 0.4:                                  # keepdims over some 1-axes
        count = int(g.rng.integers(1, len(ones) + 1))
        axes = sorted(set(int(a) for a in g.rng.choice(ones, size=count)))
        child_shape = tuple(int(g.rng.integers(2, 4)) if i in axes else n
                            for i, n in enumerate(shape))
        p.update(axis=_axis_form(g, axes, len(shape)), keepdims=True)
    else:
        k = 1 if len(shape) >= 2 or g.rng.random() < 0.6 else 2
        child = list(shape)
        axes = []
        for _ in range(k):
            pos = int(g.rng.integers(0, len(child) + 1))
            child.insert(pos, int(g.rng.integers(2, 4)))
            axes = [a + (a >= pos) for a in axes] + [pos]
        child_shape = tuple(child)
        p.update(axis=_axis_form(g, sorted(axes), len(child_shape)), keepdims=False)
    if _size(child_shape) > MAX_SIZE:
        raise Reject("too big")
    if name == "average":
        if p["keepdims"] or (p["axis"] is not None and not isinstance(p["axis"], int)):
            name = "mean"                               # average takes one axis, no keepdims
        elif p["axis"] is not None and g.rng.random() < 0.6:
            p["weights"] = np.round(g.rng.uniform(0.2, 1.0, child_shape[p["axis"]]), 2)
    x = g.make(child_shape, depth - 1)
    dims = _torch_dims(p["axis"], len(child_shape))
    if name in ("var", "std"):
        count = _size([child_shape[d] for d in dims])
        if count - p["ddof"] <= 0:
            raise Reject("ddof")
        if name == "std" and count < 2:
            raise Reject("std of one value")
    if name == "prod" and x.value.abs().min() < 0.2:
        raise Reject("prod of small values")
    if check is not None and not check(x.value, dims):
        raise Reject(name + " ties")
    if name == "std":
        # sqrt of the variance: keep the variance away from 0
        vv = torch.var(x.value, dim=dims, correction=p["ddof"], keepdim=True)
        if float(vv.min()) < 1e-3:
            raise Reject("std near 0")
    return g.node(name, (x,), p)


def _axis_form(g, axes, ndim):
    axes = [a - ndim if g.rng.random() < 0.3 else a for a in axes]
    if len(axes) == 1 and g.rng.random() < 0.7:
        return axes[0]
    return tuple(axes)


def make_softmax(g, shape, depth):
    if not shape:
        raise Reject("0-d")
    axis = int(g.rng.integers(-len(shape), len(shape)))
    x = g.make(shape, depth - 1)
    return g.node(g.pick(["softmax", "log_softmax"]), (x,), {"axis": axis})


def make_matmul(g, shape, depth):
    k = int(g.rng.integers(1, 5))
    via = g.choice(["fn", "op", "op", "np", "dot"])
    if len(shape) == 0:
        sa, sb = (k,), (k,)
    elif len(shape) == 1:
        sa, sb = ((shape[0], k), (k,)) if g.rng.random() < 0.5 else ((k,), (k, shape[0]))
    else:
        batch, (n, m) = shape[:-2], shape[-2:]
        ba = batch if g.rng.random() < 0.6 else _reduced_shape(g, batch)
        bb = batch if ba != batch else (batch if g.rng.random() < 0.3 else _reduced_shape(g, batch))
        sa, sb = ba + (n, k), bb + (k, m)
    if via == "dot" and (len(sa) > 2 or len(sb) > 2):
        via = "fn"
    if _size(sa) > MAX_SIZE or _size(sb) > MAX_SIZE:
        raise Reject("too big")
    a = g.make(sa, depth - 1)
    b = g.make(sb, depth - 1)
    if via == "op" and a.op == "const":
        via = "fn"
    if a.op == "const" and b.op == "const":
        raise Reject("two constants")
    return g.node("matmul", (a, b), {"via": via})


def make_transpose(g, shape, depth):
    nd = len(shape)
    if nd < 2:
        raise Reject("ndim")
    axes = tuple(int(a) for a in g.rng.permutation(nd))
    if axes == tuple(range(nd)):
        axes = tuple(reversed(range(nd)))
    child = [0] * nd
    for i, a in enumerate(axes):
        child[a] = shape[i]
    via = g.choice(["fn", "np", "T", "swapaxes"])
    p = {"axes": axes, "via": via}
    if via == "T":
        p["axes"] = tuple(reversed(range(nd)))
    elif via == "swapaxes":
        i, j = (int(v) for v in g.rng.choice(nd, 2, replace=False))
        ax = list(range(nd))
        ax[i], ax[j] = ax[j], ax[i]
        p.update(axes=tuple(ax), pair=(i, j))
    child = [0] * nd
    for i, a in enumerate(p["axes"]):
        child[a] = shape[i]
    x = g.make(tuple(child), depth - 1)
    if via == "T" and x.op == "const":
        p["via"] = "fn"
    return g.node("transpose", (x,), p)


def _factor(g, size):
    """A random shape of this many elements (1 to 3 dims)."""
    for _ in range(20):
        nd = int(g.rng.integers(1, 4))
        dims, rest = [], size
        for _ in range(nd - 1):
            divs = [d for d in range(1, rest + 1) if rest % d == 0]
            d = g.choice(divs)
            dims.append(d)
            rest //= d
        dims.append(rest)
        g.rng.shuffle(dims)
        return tuple(int(d) for d in dims)
    return (size,)


def make_reshape(g, shape, depth):
    child = _factor(g, _size(shape))
    if child == shape:
        raise Reject("same shape")
    arg = shape
    if shape and g.rng.random() < 0.3:
        i = int(g.rng.integers(len(shape)))
        arg = shape[:i] + (-1,) + shape[i + 1:]
    x = g.make(child, depth - 1)
    via = g.choice(["fn", "method", "np"])
    return g.node("reshape", (x,), {"shape": shape, "arg": arg, "via": via})


def make_expand_squeeze(g, shape, depth):
    ones = [i for i, n in enumerate(shape) if n == 1]
    if ones and g.rng.random() < 0.5:
        a = g.choice(ones)
        child = shape[:a] + shape[a + 1:]
        axis = a - len(shape) if g.rng.random() < 0.3 else a
        return g.node("expand_dims", (g.make(child, depth - 1),), {"axis": axis, "shape": shape})
    pos = int(g.rng.integers(0, len(shape) + 1))
    child = shape[:pos] + (1,) + shape[pos:]
    axis = pos if (ones or g.rng.random() < 0.6) else None
    return g.node("squeeze", (g.make(child, depth - 1),), {"axis": axis, "shape": shape})


def make_broadcast(g, shape, depth):
    if not shape:
        raise Reject("0-d")
    child = _reduced_shape(g, shape)
    if child == shape:
        raise Reject("same")
    if have("sum_to") and g.pick(["broadcast_to", "sum_to"]) == "sum_to":
        # its adjoint: a bigger array summed down to `shape` (which broadcasts to it)
        big = list(shape)
        for i in range(len(big)):
            if big[i] == 1 and g.rng.random() < 0.5:
                big[i] = int(g.rng.integers(2, 4))
        big = [int(g.rng.integers(1, 4))] * int(g.rng.integers(0, 2)) + big
        if tuple(big) == shape or _size(big) > MAX_SIZE:
            raise Reject("nothing to sum")
        return g.node("sum_to", (g.make(tuple(big), depth - 1),), {"shape": shape})
    return g.node("broadcast_to", (g.make(child, depth - 1),),
                  {"shape": shape, "via": g.choice(["fn", "np"])})


def make_concat(g, shape, depth):
    cands = [i for i, n in enumerate(shape) if n >= 2]
    if not cands:
        raise Reject("nothing to split")
    axis = g.choice(cands)
    n = shape[axis]
    if g.rng.random() < 0.4 and n <= 3:
        kids = [g.make(shape[:axis] + shape[axis + 1:], depth - 1) for _ in range(n)]
        ax = axis - len(shape) if g.rng.random() < 0.3 else axis
        return g.node("stack", kids, {"axis": ax})
    cuts = sorted(set(int(c) for c in g.rng.integers(1, n, size=int(g.rng.integers(1, 3)))))
    sizes = np.diff([0] + cuts + [n])
    kids = [g.make(shape[:axis] + (int(s),) + shape[axis + 1:], depth - 1) for s in sizes]
    ax = axis - len(shape) if g.rng.random() < 0.3 else axis
    return g.node("concatenate", kids, {"axis": ax, "via": g.choice(["fn", "np"])})


def make_where(g, shape, depth):
    sc = _reduced_shape(g, shape)
    c = g.make(sc, max(depth - 2, 0))
    vals = np.sort(c.value.reshape(-1).numpy())
    t = float(np.round(g.rng.uniform(vals[0], vals[-1] + 1e-9), 3))
    if (c.value - t).abs().min() <= 1e-4:
        raise Reject("threshold")
    cond = g.node("compare", (c,), {"t": t, "cmp": g.choice([">", "<"])})
    a = g.make(shape if g.rng.random() < 0.7 else _reduced_shape(g, shape), depth - 1)
    if g.rng.random() < 0.25:
        bshape = torch.broadcast_shapes(tuple(cond.shape), tuple(a.shape))
        if tuple(bshape) != shape:
            raise Reject("shape")
        return g.node("where_c", (cond, a), {"c": float(np.round(g.rng.uniform(-1, 1), 2)),
                                            "side": g.choice(["x", "y"])})
    b = g.make(shape if g.rng.random() < 0.7 else _reduced_shape(g, shape), depth - 1)
    if tuple(torch.broadcast_shapes(tuple(cond.shape), tuple(a.shape), tuple(b.shape))) != shape:
        raise Reject("shape")
    return g.node("where", (cond, a, b), {})


def _index_array(g, n, shape):
    """Integer indices in [-n, n) of a shape, sometimes a non-contiguous view."""
    idx = g.rng.integers(-n, n, shape)
    if idx.ndim == 2 and g.rng.random() < 0.4:
        idx = np.ascontiguousarray(idx.T).T                      # Fortran order
    elif idx.ndim >= 1 and g.rng.random() < 0.4:
        big = np.empty(shape[:-1] + (2 * shape[-1],), dtype=idx.dtype)
        big[..., ::2] = idx
        idx = big[..., ::2]                                       # a strided view
    return idx


def make_getitem(g, shape, depth):
    kind = g.pick(["getitem:" + k for k in ("basic", "basic", "int", "array", "array2", "adv_sep",
                                            "adv_adj", "mask", "take", "newaxis")])[8:]
    via = g.choice(["op", "op", "fn"])
    if kind == "basic":
        key, child = [], []
        for n in shape:
            step = g.choice([1, 1, 2, -1, -2])
            span = (n - 1) * abs(step) + 1
            size = span + int(g.rng.integers(0, 3))
            start = int(g.rng.integers(0, size - span + 1))
            if step > 0:
                sl = slice(start, start + span, step if step != 1 else None)
                if start == 0 and g.rng.random() < 0.3:
                    sl = slice(None, start + span, sl.step)
            else:
                first = start + span - 1
                stop = first - span                       # exclusive, may be -1
                sl = slice(first, stop if stop >= 0 else None, step)
            key.append(sl)
            child.append(size)
        if shape and g.rng.random() < 0.4:                 # an integer dropping a dim
            pos = int(g.rng.integers(0, len(shape) + 1))
            m = int(g.rng.integers(1, 4))
            key.insert(pos, int(g.rng.integers(-m, m)))
            child.insert(pos, m)
        if not key:
            m = int(g.rng.integers(1, 4))
            key, child = [int(g.rng.integers(-m, m))], [m]
        key = tuple(key)
        if (len(key) > 1 and isinstance(key[-1], slice) and key[-1] == slice(None)
                and g.rng.random() < 0.5):
            key = key[:-1] + (Ellipsis,)
    elif kind == "int":
        if not shape:
            raise Reject("needs dims")
        m = int(g.rng.integers(1, 4))
        pos = int(g.rng.integers(0, len(shape) + 1))
        key = (slice(None),) * pos + (int(g.rng.integers(-m, m)),)
        child = list(shape[:pos]) + [m] + list(shape[pos:])
    elif kind == "newaxis":
        ones = [i for i, n in enumerate(shape) if n == 1]
        if not ones:
            raise Reject("needs a 1")
        a = g.choice(ones)
        key = (slice(None),) * a + (None,)
        child = list(shape[:a]) + list(shape[a + 1:])
    elif kind in ("array", "array2", "take"):
        if not shape:
            raise Reject("needs dims")
        ax = int(g.rng.integers(0, len(shape)))
        nd_idx = 2 if kind == "array2" and ax + 1 < len(shape) else 1
        idx_shape = shape[ax:ax + nd_idx]
        m = int(g.rng.integers(1, 5))
        idx = _index_array(g, m, idx_shape)
        child = list(shape[:ax]) + [m] + list(shape[ax + nd_idx:])
        if kind == "take":
            if g.rng.random() < 0.3 and len(shape) == 1:
                cs = g.rand_shape(min_ndim=1)
                m = _size(cs)
                idx = _index_array(g, m, idx_shape)
                x = g.make(cs, depth - 1)
                flat = np.take(np.arange(m).reshape(cs), idx)
                return g.node("take", (x,), {"idx": idx, "axis": None, "flat": flat})
            x = g.make(tuple(child), depth - 1)
            flat = np.take(np.arange(_size(child)).reshape(child), idx, axis=ax)
            axis = ax - len(child) if g.rng.random() < 0.3 else ax
            return g.node("take", (x,), {"idx": idx, "axis": axis, "flat": flat})
        key = (slice(None),) * ax + (idx,)
        if not ax and g.rng.random() < 0.5:
            key = idx                                         # a bare index array
        elif ax and g.rng.random() < 0.3:
            key = (Ellipsis, idx) + (slice(None),) * (len(child) - ax - 1)   # idx: one axis
    elif kind == "adv_sep":
        # x[idx, :, j]: advanced indices separated by a slice go first (numpy's rule)
        if len(shape) < 2:
            raise Reject("needs 2 dims")
        bshape, mid = shape[:-1], shape[-1]
        m0, m2 = int(g.rng.integers(1, 4)), int(g.rng.integers(1, 4))
        i0 = _index_array(g, m0, bshape)
        r = g.rng.random()
        i2 = (int(g.rng.integers(-m2, m2)) if r < 0.5 else
              _index_array(g, m2, bshape) if r < 0.8 else _index_array(g, m2, bshape[-1:]))
        extra = int(g.rng.integers(0, 2))
        start = int(g.rng.integers(0, extra + 1))
        sl = slice(None) if not extra else slice(start, start + mid)
        key = (i0, sl, i2)
        child = [m0, mid + extra, m2]
    elif kind == "adv_adj":
        # x[:, i, j]: adjacent advanced indices stay in place
        if len(shape) < 1:
            raise Reject("needs dims")
        lead = int(g.rng.integers(0, len(shape)))
        bshape = shape[lead:lead + 1]
        rest = shape[lead + 1:]
        m1, m2 = int(g.rng.integers(1, 4)), int(g.rng.integers(1, 4))
        key = (slice(None),) * lead + (_index_array(g, m1, bshape), _index_array(g, m2, bshape))
        child = list(shape[:lead]) + [m1, m2] + list(rest)
    else:                                                     # mask
        if len(shape) != 1:
            raise Reject("mask gives 1-d")
        cs = g.rand_shape(min_ndim=1)
        if _size(cs) < shape[0]:
            raise Reject("too small")
        mask = np.zeros(_size(cs), bool)
        mask[g.rng.choice(_size(cs), shape[0], replace=False)] = True
        key = mask.reshape(cs)
        child = list(cs)
    child = tuple(child)
    if _size(child) > MAX_SIZE:
        raise Reject("too big")
    flat = np.arange(_size(child)).reshape(child)[key]
    if flat.shape != shape:
        raise Reject(f"shape {flat.shape} != {shape}")
    x = g.make(child, depth - 1)
    if x.op == "const":
        via = "fn"
    return g.node("getitem", (x,), {"key": key, "flat": flat, "via": via, "kind": kind})


def _well_conditioned(a, limit=30.0):
    s = torch.linalg.svdvals(a)
    return bool(s.min() > 0.15 and (s.max() / s.min()) < limit)


def _square(g, n, depth, batch=()):
    """A well-conditioned (batch of) n x n matrix node: a random one, or a + n I."""
    a = g.make(batch + (n, n), depth - 1)
    if not _well_conditioned(a.value):
        eye = np.eye(n) * (n + 1.0)
        c = Node("const", (), {"c": eye}, torch.tensor(eye))
        a = g.node("add", (a, c), {"via": "op"})
        if not _well_conditioned(a.value):
            raise Reject("conditioning")
    return a


def _symmetric(g, n, depth, spd=False):
    a = g.make((n, n), depth - 1)
    at = g.node("transpose", (a,), {"axes": (1, 0), "via": "fn"})
    if spd:
        s = g.node("matmul", (a, at), {"via": "op"})
        eye = np.eye(n) * 0.5
        c = Node("const", (), {"c": eye}, torch.tensor(eye))
        return g.node("add", (s, c), {"via": "op"})
    s = g.node("add", (a, at), {"via": "op"})
    return g.node("scalarx*c", (s,), {"c": 0.5})


LINALG_NAMES = ("det", "slogdet", "norm", "vector_norm", "eigvalsh", "svdvals", "solve", "inv",
                "cholesky", "matrix_power", "multi_dot", "pinv", "matrix_norm",
                "matrix_transpose", "cond", "eigh", "svd", "qr", "lstsq")


def make_linalg(g, shape, depth):
    options = []
    if shape == () or len(shape) == 1 and shape[0] <= 3:
        options += [n for n in ("det", "slogdet") if _la(n)]
    if shape == ():
        options += [n for n in ("norm", "vector_norm") if _la(n)]
    if len(shape) == 1:
        options += [n for n in ("eigvalsh", "svdvals", "vector_norm") if _la(n)]
    if len(shape) == 1 or len(shape) == 2:
        options += ["solve"] if _la("solve") else []
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] <= 3:
        options += [n for n in ("inv", "cholesky", "matrix_power") if _la(n)]
    if len(shape) == 2:
        options += [n for n in ("multi_dot", "pinv", "matrix_transpose", "qr") if _la(n)]
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] <= 3:
        options += ["eigh"] if _la("eigh") else []
    if shape == ():
        options += [n for n in ("matrix_norm", "cond") if _la(n)]
    if len(shape) in (1, 2):
        options += [n for n in ("svd", "lstsq") if _la(n)]
    if len(shape) == 1 and shape[0] <= 3:
        options += ["eigh"] if _la("eigh") else []
    if not options:
        raise Reject("no linalg op for this shape")
    name = g.pick(options)
    if name in ("det", "slogdet"):
        n = int(g.rng.integers(1, 4))
        a = _square(g, n, depth, batch=shape)
        if float(torch.linalg.det(a.value).abs().min()) < 0.05:
            raise Reject("det near 0")
        return g.node(name, (a,), {})
    if name == "norm":
        x = g.make(g.rand_shape(max_ndim=2, min_ndim=1), depth - 1)
        if float(x.value.abs().max()) < 0.1:
            raise Reject("norm near 0")
        return g.node("norm", (x,), {})
    if name == "vector_norm":
        ord_ = g.choice([2, 2, 1, 3])
        if shape == ():
            x = g.make((int(g.rng.integers(1, 6)),), depth - 1)
            axis = 0
        else:
            axis = int(g.rng.integers(0, len(shape) + 1))
            child = list(shape)
            child.insert(axis, int(g.rng.integers(2, 4)))
            if _size(child) > MAX_SIZE:
                raise Reject("too big")
            x = g.make(tuple(child), depth - 1)
        if ord_ != 2 and float(x.value.abs().min()) < 0.05:
            raise Reject("kink of |x|")
        if float(x.value.abs().amax(dim=axis).min()) < 0.1:
            raise Reject("norm near 0")
        return g.node("vector_norm", (x,), {"axis": axis, "ord": ord_})
    if name in ("eigvalsh",):
        n = shape[0]
        if n > 3:
            raise Reject("size")
        s = _symmetric(g, n, depth)
        w = torch.linalg.eigvalsh(s.value)
        if n > 1 and float((w[1:] - w[:-1]).min()) < 0.05:
            raise Reject("eigenvalues too close")
        return g.node(name, (s,), {})
    if name == "svdvals":
        k = shape[0]
        other = int(g.rng.integers(k, k + 2))
        ms = (k, other) if g.rng.random() < 0.5 else (other, k)
        if _size(ms) > MAX_SIZE:
            raise Reject("too big")
        a = g.make(ms, depth - 1)
        s = torch.linalg.svdvals(a.value)
        if float(s.min()) < 0.1 or (k > 1 and float((s[:-1] - s[1:]).min()) < 0.05):
            raise Reject("singular values too close")
        return g.node(name, (a,), {})
    if name == "solve":
        n = shape[0]
        if n > 3:
            raise Reject("size")
        a = _square(g, n, depth)
        b = g.make(shape, depth - 1)
        return g.node("solve", (a, b), {})
    if name == "inv":
        return g.node("inv", (_square(g, shape[0], depth),), {})
    if name == "cholesky":
        return g.node("cholesky", (_symmetric(g, shape[0], depth, spd=True),), {})
    if name == "matrix_power":
        a = g.make(shape, depth - 1)
        return g.node("matrix_power", (a,), {"n": g.choice([0, 1, 2, 3])})
    if name == "multi_dot":
        k1, k2 = int(g.rng.integers(1, 4)), int(g.rng.integers(1, 4))
        sizes = [shape[0], k1, k2, shape[1]]
        kids = [g.make((sizes[i], sizes[i + 1]), depth - 1) for i in range(3)]
        return g.node("multi_dot", kids, {})
    if name == "matrix_transpose":
        return g.node(name, (g.make(shape[::-1], depth - 1),), {})
    if name in ("matrix_norm", "cond"):
        ms = (int(g.rng.integers(1, 4)), int(g.rng.integers(1, 4)))
        if name == "cond":
            ms = (ms[0], ms[0])
        a = g.make(ms, depth - 1)
        s_ = torch.linalg.svdvals(a.value)
        ord_ = g.choice(["fro", "fro", "nuc", 2, -2]) if name == "matrix_norm" else None
        if float(s_.min()) < 0.1 or (len(s_) > 1 and float((s_[:-1] - s_[1:]).min()) < 0.05):
            raise Reject("singular values too close")
        return g.node(name, (a,), {"ord": ord_} if name == "matrix_norm" else {})
    if name == "eigh":
        n = shape[0]
        s_ = _symmetric(g, n, depth)
        w = torch.linalg.eigvalsh(s_.value)
        if n > 1 and float((w[1:] - w[:-1]).min()) < 0.05:
            raise Reject("eigenvalues too close")
        return g.node("eigh", (s_,), {"part": 0 if len(shape) == 1 else 1})
    if name == "svd":
        if len(shape) == 1:                                     # singular values
            k = shape[0]
            ms = (k, k + int(g.rng.integers(0, 2)))
            part, pw = 1, 1
        else:                                                   # U ** 2 (sign-free)
            m, k = shape
            if k > m:
                raise Reject("U is tall")
            ms, part, pw = (m, k), 0, 2
        if g.rng.random() < 0.5:
            ms = ms[::-1] if part == 1 else ms
        if _size(ms) > MAX_SIZE:
            raise Reject("too big")
        a = g.make(ms, depth - 1)
        s_ = torch.linalg.svdvals(a.value)
        if float(s_.min()) < 0.1 or (len(s_) > 1 and float((s_[:-1] - s_[1:]).min()) < 0.05):
            raise Reject("singular values too close")
        return g.node("svd", (a,), {"part": part, "pow": pw})
    if name == "qr":
        m, n = shape
        part = g.choice([0, 1])
        ms = (m, n) if part == 0 else (int(g.rng.integers(n, n + 2)), n)
        if part == 0 and n > m:
            raise Reject("Q of a wide matrix")
        if part == 1 and m != n:
            raise Reject("R is square for a tall matrix")
        a = g.make(ms, depth - 1)
        if float(torch.linalg.svdvals(a.value).min()) < 0.15:
            raise Reject("rank")
        return g.node("qr", (a,), {"part": part})
    if name == "lstsq":
        n = shape[0]
        m = n + int(g.rng.integers(0, 3))
        if m * n > MAX_SIZE:
            raise Reject("too big")
        a = g.make((m, n), depth - 1)
        if not _well_conditioned(a.value):
            raise Reject("conditioning")
        b = g.make((m,) + shape[1:], depth - 1)
        return g.node("lstsq", (a, b), {})
    if name == "pinv":
        m, n = shape[1], shape[0]                       # pinv(a) of a (m, n) is (n, m)
        a = g.make((m, n), depth - 1)
        s = torch.linalg.svdvals(a.value)
        if float(s.min()) < 0.2:
            raise Reject("rank")
        return g.node("pinv", (a,), {})
    raise Reject(name)


# ----- the array family: selections checked against numpy's own indices, products in torch
def _call_torch(*a):
    *kids, p = a
    if p.get("flat") is not None:
        flat = np.asarray(p["flat"])
        pool = torch.cat([k.reshape(-1) for k in kids] + [torch.zeros(1, dtype=F64)])
        if flat.ndim == 0:
            out = pool[int(flat)]
        else:
            out = pool[torch.from_numpy(np.array(flat, order="C", copy=True))]
        return p["post"](out) if p.get("post") else out
    return p["torch"](*kids)


op("call", lambda *a: a[-1]["pyad"](*a[:-1]), _call_torch,
   lambda p, *xs: p["fmt"].format(*xs))


def _flat_of(shapes, np_fn):
    """numpy's answer for integer stand-ins of the operands: each output element's position in
    the concatenated flattened operands, or one past the end where numpy puts a zero."""
    arrays, start = [], 1
    for s in shapes:
        n = _size(s)
        arrays.append(np.arange(start, start + n).reshape(s))
        start += n
    out = np.asarray(np_fn(*arrays)) - 1
    return np.where(out < 0, start - 1, out)


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def _call(g, name, kids, np_fn=None, args=(), kwargs=None, torch_fn=None, post=None,
          fmt=None, target=None, item=None):
    """A node calling ad.<name>(*kids, *args, **kwargs); its reference is numpy's selection
    (np_fn on stand-ins) or torch_fn."""
    kwargs = kwargs or {}
    fn = getattr(ad, name)
    listed = name in _LIST_FIRST

    def run(*xs):
        out = fn(list(xs), *args, **kwargs) if listed else fn(*xs, *args, **kwargs)
        return out if item is None else out[item]
    extra = "".join(f", {_arr_text(a) if isinstance(a, np.ndarray) else repr(a)}" for a in args)
    extra += "".join(f", {k}={_arr_text(v) if isinstance(v, np.ndarray) else repr(v)}"
                     for k, v in kwargs.items())
    if fmt is None:
        slots = ", ".join("{%d}" % i for i in range(len(kids)))
        fmt = f"{name}([{slots}]{extra})" if listed else f"{name}({slots}{extra})"
    p = {"name": name, "pyad": run, "fmt": fmt, "torch": torch_fn, "post": post,
         "flat": None if np_fn is None else _flat_of([k.shape for k in kids], np_fn)}
    n = g.node("call", kids, p)
    if target is not None and n.shape != tuple(target):
        raise Reject(f"{name}: shape {n.shape} != {target}")
    return n


_LIST_FIRST = {"hstack", "vstack", "dstack", "column_stack"}


ARRAY_NAMES = ("flip", "fliplr", "flipud", "roll", "rot90", "moveaxis", "tile", "repeat",
               "diagonal", "trace", "triu", "tril", "diag", "diagflat", "pad",
               "take_along_axis", "split", "array_split", "hstack", "vstack", "dstack",
               "column_stack", "append", "outer", "inner", "kron", "tensordot", "einsum",
               "cross", "sort", "cumsum", "cumprod", "atleast_3d", "atleast_2d", "ravel",
               "select")


def make_array(g, shape, depth):
    nd = len(shape)
    options = [n for n, ok in [
        ("flip", nd >= 1), ("fliplr", nd >= 2), ("flipud", nd >= 1), ("roll", nd >= 1),
        ("rot90", nd >= 2), ("moveaxis", nd >= 2), ("tile", nd >= 1), ("repeat", nd >= 1),
        ("diagonal", nd >= 1), ("trace", nd <= 2), ("triu", nd >= 2), ("tril", nd >= 2),
        ("diag", nd in (1, 2)), ("diagflat", nd == 2 and shape[0] == shape[1]),
        ("pad", nd >= 1), ("take_along_axis", nd >= 1), ("split", nd >= 1),
        ("array_split", nd >= 1), ("hstack", nd in (1, 2)), ("vstack", nd == 2),
        ("dstack", nd == 3), ("column_stack", nd == 2), ("append", nd >= 1),
        ("outer", nd == 2), ("inner", True), ("kron", nd >= 1), ("tensordot", True),
        ("einsum", nd <= 3), ("cross", nd >= 1 and shape[-1] == 3), ("sort", nd >= 1),
        ("cumsum", nd >= 1), ("cumprod", nd >= 1), ("atleast_3d", nd == 3),
        ("atleast_2d", nd == 2), ("ravel", nd == 1), ("select", True),
    ] if ok and have(n)]
    if not options:
        raise Reject("no array op")
    name = g.pick(options)
    rng = g.rng
    ri = lambda lo, hi: int(rng.integers(lo, hi))             # noqa: E731

    def sub(s):
        s = tuple(int(v) for v in s)
        if _size(s) > MAX_SIZE:
            raise Reject("too big")
        return g.make(s, depth - 1)

    if name in ("flip", "fliplr", "flipud"):
        x = sub(shape)
        if name != "flip":
            return _call(g, name, [x], getattr(np, name))
        some = tuple(sorted(set(int(a) for a in rng.choice(nd, ri(1, nd + 1)))))
        axis = g.choice([None, ri(-nd, nd), some])
        return _call(g, "flip", [x], lambda a: np.flip(a, axis), kwargs={"axis": axis})
    if name == "roll":
        x = sub(shape)
        r = rng.random()
        if r < 0.3:
            shift, axis = ri(-5, 6), None
        elif r < 0.8 or nd < 2:
            shift, axis = ri(-4, 5), ri(-nd, nd)
        else:
            axis = (0, nd - 1)
            shift = (ri(-3, 4), ri(-3, 4))
        return _call(g, "roll", [x], lambda a: np.roll(a, shift, axis), args=(shift,),
                     kwargs={"axis": axis})
    if name == "rot90":
        k = g.choice([1, 2, 3, -1])
        a, b = (int(v) for v in rng.choice(nd, 2, replace=False))
        child = list(shape)
        if k % 2:
            child[a], child[b] = child[b], child[a]
        x = sub(child)
        return _call(g, "rot90", [x], lambda m: np.rot90(m, k, (a, b)), args=(k,),
                     kwargs={"axes": (a, b)}, target=shape)
    if name == "moveaxis":
        src, dst = ri(-nd, nd), ri(-nd, nd)
        child = np.moveaxis(np.empty(shape), dst, src).shape
        x = sub(child)
        return _call(g, "moveaxis", [x], lambda m: np.moveaxis(m, src, dst), args=(src, dst),
                     target=shape)
    if name == "tile":
        reps = [g.choice(_divisors(d)) for d in shape]
        child = [d // r for d, r in zip(shape, reps)]
        if rng.random() < 0.3 and nd >= 2 and child[0] == 1:
            child = child[1:]                              # reps longer than the array's dims
        if tuple(child) == shape:
            raise Reject("no tiling")
        x = sub(child)
        reps_arg = tuple(reps) if rng.random() < 0.8 or nd > 1 else reps[0]
        return _call(g, "tile", [x], lambda m: np.tile(m, reps_arg), args=(reps_arg,),
                     target=shape)
    if name == "repeat":
        axis = ri(0, nd)
        d = shape[axis]
        if rng.random() < 0.5:
            r = g.choice(_divisors(d))
            child = list(shape)
            child[axis] = d // r
            reps = r
        else:
            m = ri(1, 4)
            reps = rng.multinomial(d, np.ones(m) / m)
            child = list(shape)
            child[axis] = m
        if nd == 1 and rng.random() < 0.3 and isinstance(reps, int):
            cs = _factor(g, child[0])
            x = sub(cs)
            return _call(g, "repeat", [x], lambda a: np.repeat(a, reps), args=(reps,),
                         target=shape)
        ax = axis - nd if rng.random() < 0.3 else axis
        x = sub(child)
        return _call(g, "repeat", [x], lambda a: np.repeat(a, reps, ax), args=(reps,),
                     kwargs={"axis": ax}, target=shape)
    if name == "diagonal":
        L, k = shape[-1], ri(-1, 2)
        rest = list(shape[:-1])
        n1, n2 = L + max(0, -k), L + max(0, k)
        a1 = ri(0, len(rest) + 1)
        child = rest[:a1] + [n1] + rest[a1:]
        a2 = ri(a1 + 1, len(child) + 1)
        child = child[:a2] + [n2] + child[a2:]
        ax1, ax2 = (a1, a2) if rng.random() < 0.7 else (a2, a1)
        if (ax1, ax2) == (a2, a1):
            k = -k
        x = sub(child)
        return _call(g, "diagonal", [x], lambda m: np.diagonal(m, k, ax1, ax2),
                     kwargs={"offset": k, "axis1": ax1, "axis2": ax2}, target=shape)
    if name == "trace":
        k, L = ri(-1, 2), ri(1, 4)
        n1, n2 = L + max(0, -k), L + max(0, k)
        child = list(shape)
        a1 = ri(0, nd + 1)
        child.insert(a1, n1)
        a2 = ri(a1 + 1, nd + 2)
        child.insert(a2, n2)
        x = sub(child)
        return _call(g, "trace", [x], lambda m: np.diagonal(m, k, a1, a2),
                     kwargs={"offset": k, "axis1": a1, "axis2": a2},
                     post=lambda t: t.sum(-1), target=shape)
    if name in ("triu", "tril"):
        k = ri(-1, 2)
        x = sub(shape)
        return _call(g, name, [x], lambda m: getattr(np, name)(m, k), kwargs={"k": k})
    if name == "diag":
        if nd == 2:
            if shape[0] != shape[1]:
                raise Reject("square")
            k = ri(-1, 2) if shape[0] > 1 else 0
            x = sub((shape[0] - abs(k),))
        else:
            k = ri(-1, 2)
            x = sub((shape[0] + max(0, -k), shape[0] + max(0, k)))
        return _call(g, "diag", [x], lambda m: np.diag(m, k), kwargs={"k": k}, target=shape)
    if name == "diagflat":
        k = ri(-1, 2) if shape[0] > 1 else 0
        x = sub(_factor(g, shape[0] - abs(k)))
        return _call(g, "diagflat", [x], lambda m: np.diagflat(m, k), kwargs={"k": k},
                     target=shape)
    if name == "pad":
        pw = []
        for d in shape:
            b = ri(0, min(2, d - 1) + 1) if d > 1 else 0
            a = ri(0, min(2, d - 1 - b) + 1) if d - 1 - b > 0 else 0
            pw.append((b, a))
        child = [d - b - a for d, (b, a) in zip(shape, pw)]
        if tuple(child) == shape:
            raise Reject("no padding")
        x = sub(child)
        pw = tuple(pw)
        return _call(g, "pad", [x], lambda m: np.pad(m, pw), args=(pw,), target=shape)
    if name == "take_along_axis":
        axis = ri(0, nd)
        m = ri(1, 4)
        child = list(shape)
        child[axis] = m
        idx = _index_array(g, m, shape)
        x = sub(child)
        return _call(g, "take_along_axis", [x], lambda a: np.take_along_axis(a, idx, axis),
                     args=(idx,), kwargs={"axis": axis}, target=shape)
    if name in ("split", "array_split"):
        axis = ri(0, nd)
        d = shape[axis]
        if name == "array_split" or rng.random() < 0.4:
            n = ri(2, 4)
            total = d * n if name == "split" else d * n + ri(0, n)
            child = list(shape)
            child[axis] = total
            pieces = np.array_split(np.arange(total), n) if name == "array_split" else None
            kk = (next((i for i, q in enumerate(pieces) if len(q) == d), None)
                  if pieces is not None else ri(0, n))
            if kk is None:
                raise Reject("no piece of that size")
            arg = n
        else:
            before, after = ri(0, 3), ri(0, 3)
            child = list(shape)
            child[axis] = before + d + after
            arg = [before, before + d]
            kk = 1
        x = sub(child)
        fn = getattr(np, name)
        return _call(g, name, [x], lambda a: fn(a, arg, axis)[kk], args=(arg,),
                     kwargs={"axis": axis}, fmt=f"{name}({{0}}, {arg!r}, axis={axis})[{kk}]",
                     target=shape, item=kk)
    if name in ("hstack", "vstack", "dstack", "column_stack", "append"):
        axis = {"hstack": 0 if nd == 1 else 1, "vstack": 0, "dstack": 2,
                "column_stack": 1, "append": ri(0, nd)}[name]
        d = shape[axis]
        cuts = sorted(set(int(c) for c in rng.integers(1, d, size=ri(1, 3)))) if d > 1 else []
        sizes = [int(s) for s in np.diff([0] + cuts + [d])]
        shapes = []
        for s in sizes:
            cs = list(shape)
            cs[axis] = s
            if name == "vstack" and s == 1 and rng.random() < 0.5:
                cs = [shape[1]]                             # a 1-D row
            elif name == "dstack" and s == 1 and rng.random() < 0.5:
                cs = list(shape[:2])
            elif name == "column_stack" and s == 1 and rng.random() < 0.5:
                cs = [shape[0]]                             # a 1-D column
            shapes.append(cs)
        if name == "append":
            if len(shapes) < 2:
                raise Reject("one piece")
            if len(sizes) > 2:
                raise Reject("append takes two")
            kids = [sub(s) for s in shapes]
            ax = axis if nd > 1 or rng.random() < 0.5 else None
            if ax is None and nd != 1:
                raise Reject("flat")
            return _call(g, "append", kids, lambda a, b: np.append(a, b, ax),
                         kwargs={"axis": ax}, target=shape)
        kids = [sub(s) for s in shapes]
        fn = getattr(np, name)
        return _call(g, name, kids, lambda *a: fn(list(a)), target=shape)
    if name == "outer":
        a, b = sub(_factor(g, shape[0])), sub(_factor(g, shape[1]))
        return _call(g, "outer", [a, b],
                     torch_fn=lambda x, y: torch.outer(x.reshape(-1), y.reshape(-1)),
                     target=shape)
    if name == "inner":
        k = ri(1, 4)
        split = ri(0, nd + 1)
        sa, sb = list(shape[:split]) + [k], list(shape[split:]) + [k]
        if rng.random() < 0.2 and nd == 0:
            sa, sb = [k], [k]
        return _call(g, "inner", [sub(sa), sub(sb)], torch_fn=torch.inner, target=shape)
    if name == "kron":
        da = [g.choice(_divisors(d)) for d in shape]
        db = [d // a for d, a in zip(shape, da)]
        # torch.kron views its inputs, which fails on a non-contiguous one (a transpose) and
        # on a "contiguous" one with an odd stride on a length-1 axis (seed 419140)
        def standard(t):
            return t.clone(memory_format=torch.contiguous_format)
        return _call(g, "kron", [sub(da), sub(db)], target=shape,
                     torch_fn=lambda a, b: torch.kron(standard(a), standard(b)))
    if name == "tensordot":
        k = ri(0, 3)
        c = [ri(1, 4) for _ in range(k)]
        split = ri(0, nd + 1)
        sa, sb = list(shape[:split]) + c, c + list(shape[split:])
        axes = k
        if k and rng.random() < 0.3:                        # the pair-of-lists form
            axes = (list(range(len(sa) - k, len(sa))), list(range(k)))
        return _call(g, "tensordot", [sub(sa), sub(sb)], args=(axes,),
                     torch_fn=lambda x, y: torch.tensordot(x, y, dims=axes), target=shape)
    if name == "einsum":
        templates = {0: ["i,i->", "ij,ij->", "ii->", "ij->", "i,ij,j->"],
                     1: ["ij,j->i", "ji,j->i", "ij->i", "ii->i", "i,i->i", "ijk,jk->i"],
                     2: ["ik,kj->ij", "ki,kj->ij", "ij->ji", "i,j->ij", "bij->ij", "ij,ij->ij"],
                     3: ["bik,bkj->bij", "ijk->kji", "ij,k->ijk"]}[nd]
        spec = g.choice(templates)
        ins, out = spec.split("->")
        sizes = dict(zip(out, shape))
        for ch in ins.replace(",", ""):
            sizes.setdefault(ch, ri(1, 4))
        kids = [sub([sizes[ch] for ch in term]) for term in ins.split(",")]
        return _einsum(g, spec, kids, shape)
    if name == "cross":
        sa = shape if rng.random() < 0.7 else _reduced_shape(g, shape[:-1]) + (3,)
        sb = shape if sa != shape or rng.random() < 0.5 else _reduced_shape(g, shape[:-1]) + (3,)
        return _call(g, "cross", [sub(sa), sub(sb)],
                     torch_fn=lambda x, y: torch.linalg.cross(*torch.broadcast_tensors(x, y),
                                                              dim=-1),
                     target=shape)
    if name == "sort":
        axis = ri(-nd, nd)
        x = sub(shape)
        if not _gap_ok(x.value, (axis % nd,)):
            raise Reject("ties")
        return _call(g, "sort", [x], torch_fn=lambda t: torch.sort(t, dim=axis).values,
                     kwargs={"axis": axis})
    if name in ("cumsum", "cumprod"):
        if nd == 1 and rng.random() < 0.3:
            child, axis = _factor(g, shape[0]), None
        else:
            child, axis = shape, ri(-nd, nd)
        x = sub(child)
        if name == "cumprod" and not (0.3 < float(x.value.abs().min()) and
                                      float(x.value.abs().max()) < 3):
            raise Reject("cumprod range")
        tf = getattr(torch, name)
        return _call(g, name, [x], kwargs={"axis": axis},
                     torch_fn=lambda t: tf(t.reshape(-1), 0) if axis is None else tf(t, axis),
                     target=shape)
    if name in ("atleast_2d", "atleast_3d"):
        if name == "atleast_3d" and shape[0] == 1 and shape[2] == 1:
            child = g.choice([(shape[1],), shape])
        elif name == "atleast_3d" and shape[2] == 1:
            child = shape[:2]
        elif name == "atleast_2d" and shape[0] == 1:
            child = g.choice([(shape[1],), shape])
        else:
            child = shape
        x = sub(child)
        return _call(g, name, [x], torch_fn=lambda t: t.reshape(shape), target=shape)
    if name == "ravel":
        x = sub(_factor(g, shape[0]))
        return _call(g, "ravel", [x], torch_fn=lambda t: t.reshape(-1), target=shape)
    if name == "select":
        k = ri(1, 3)
        conds, choices = [], []
        for _ in range(k):
            c = sub(_reduced_shape(g, shape))
            vals = np.sort(c.value.reshape(-1).numpy())
            t = float(np.round(rng.uniform(vals[0], vals[-1] + 1e-9), 3))
            if (c.value - t).abs().min() <= 1e-4:
                raise Reject("threshold")
            conds.append(g.node("compare", (c,), {"t": t, "cmp": g.choice([">", "<"])}))
            choices.append(sub(shape if rng.random() < 0.7 else _reduced_shape(g, shape)))
        default = float(np.round(rng.uniform(-1, 1), 2))
        p = {"k": k, "default": default}
        n = g.node("select", conds + choices, p)
        if n.shape != shape:
            raise Reject("shape")
        return n
    raise Reject(name)


def _einsum(g, spec, kids, shape):
    p = {"spec": spec}
    n = g.node("einsum", kids, p)
    if n.shape != tuple(shape):
        raise Reject("einsum shape")
    return n


op("einsum", lambda *a: ad.einsum(a[-1]["spec"], *a[:-1]),
   lambda *a: torch.einsum(a[-1]["spec"], *a[:-1]),
   lambda p, *xs: f"einsum({p['spec']!r}, {', '.join(xs)})")


def _select_torch(*a):
    *kids, p = a
    k = p["k"]
    out = torch.tensor(p["default"], dtype=F64)
    for c, v in reversed(list(zip(kids[:k], kids[k:]))):
        out = torch.where(c, v, out)
    return out


op("select", lambda *a: ad.select(list(a[:a[-1]["k"]]), list(a[a[-1]["k"]:-1]), a[-1]["default"]),
   _select_torch,
   lambda p, *xs: f"select([{', '.join(xs[:p['k']])}], [{', '.join(xs[p['k']:])}], {p['default']})")


# ----- losses (pyad.nn): one fused kernel with a fallback under batching
_NN = getattr(ad, "nn", None)
LOSS_NAMES = tuple(n for n in ("softmax_cross_entropy", "mse_loss",
                               "binary_cross_entropy_with_logits")
                   if _NN is not None and have(n, _NN))


def _loss_torch(name, red):
    F_ = torch.nn.functional
    if name == "softmax_cross_entropy":
        return lambda a, b=None, p=None: F_.cross_entropy(a, b, reduction=red)
    if name == "mse_loss":
        return lambda a, b: F_.mse_loss(a, b, reduction=red)
    return lambda a, b: F_.binary_cross_entropy_with_logits(a, b, reduction=red)


def make_loss(g, shape, depth):
    if not LOSS_NAMES or len(shape) > 2:
        raise Reject("no loss")
    name = g.pick(list(LOSS_NAMES))
    red = "none" if shape else g.choice(["mean", "sum"])
    fn = getattr(_NN, name)
    if name == "softmax_cross_entropy":
        if len(shape) > 1:
            raise Reject("per-sample losses are 1-d")
        n = shape[0] if shape else int(g.rng.integers(1, 4))
        c = int(g.rng.integers(2, 5))
        if n * c > MAX_SIZE:
            raise Reject("too big")
        logits = g.make((n, c), depth - 1)
        if g.rng.random() < 0.5:
            labels = g.rng.integers(0, c, n)
            lt = torch.from_numpy(labels)
            return g.node("call", [logits], {
                "name": name, "pyad": lambda a: fn(a, labels, reduction=red),
                "torch": lambda a: torch.nn.functional.cross_entropy(a, lt, reduction=red),
                "fmt": f"nn.{name}({{0}}, {_arr_text(labels)}, reduction={red!r})",
                "flat": None, "post": None})
        t = g.make((n, c), depth - 1)
        probs = g.node("softmax", (t,), {"axis": -1})
        return g.node("call", [logits, probs], {
            "name": name, "pyad": lambda a, b: fn(a, b, reduction=red),
            "torch": lambda a, b: torch.nn.functional.cross_entropy(a, b, reduction=red),
            "fmt": f"nn.{name}({{0}}, {{1}}, reduction={red!r})", "flat": None, "post": None})
    s = shape if shape else g.rand_shape(max_ndim=2, min_ndim=1)
    a = g.make(s, depth - 1)
    b = g.make(s, depth - 1)
    if name == "binary_cross_entropy_with_logits":
        b = g.node("sigmoid", (b,), {"via": "fn"})           # targets in (0, 1)
    tf = _loss_torch(name, red)
    return g.node("call", [a, b], {
        "name": name, "pyad": lambda x, y: fn(x, y, reduction=red), "torch": tf,
        "fmt": f"nn.{name}({{0}}, {{1}}, reduction={red!r})", "flat": None, "post": None})


# ----- custom primitives (numpy forward, rules in pyad ops): the batching fallback path
softclip = ad.custom_primitive(lambda x, scale=1.0: scale * np.tanh(x / scale))
softclip.defvjp(lambda g, ans, x, scale=1.0: g * (1.0 - (ans / scale) ** 2))
softclip.defjvp(lambda t, ans, x, scale=1.0: t * (1.0 - (ans / scale) ** 2))
mulexp = ad.custom_primitive(lambda a, b: a * np.exp(b))
mulexp.defvjp(lambda g, ans, a, b: g * ad.exp(b), lambda g, ans, a, b: g * ans)
mulexp.defjvp(lambda t, ans, a, b: t * ad.exp(b), lambda t, ans, a, b: t * ans)

op("softclip", lambda x, p: softclip(x, scale=p["scale"]),
   lambda x, p: p["scale"] * torch.tanh(x / p["scale"]),
   lambda p, x: f"softclip({x}, scale={p['scale']})")
op("mulexp", lambda a, b, p: mulexp(a, b), lambda a, b, p: a * torch.exp(b),
   lambda p, a, b: f"mulexp({a}, {b})")


def make_custom(g, shape, depth):
    name = g.pick(["softclip", "mulexp"])
    if name == "softclip":
        return g.node("softclip", (g.make(shape, depth - 1),),
                      {"scale": g.choice([1.0, 2.0, 0.5])})
    a = g.make(shape, depth - 1)
    b = g.make(shape, depth - 1)
    if float(b.value.abs().max()) > 3.5:
        b = _repair(g, "small", b)
    if a.op == "const" and b.op == "const":
        raise Reject("constants")
    return g.node("mulexp", (a, b), {})


MAKERS = [
    (make_unary, 4.0), (make_binary, 4.0), (make_scalar, 2.5), (make_reduce, 3.0),
    (make_softmax, 0.7), (make_matmul, 2.0), (make_transpose, 1.2), (make_reshape, 1.0),
    (make_expand_squeeze, 0.7), (make_broadcast, 0.8), (make_concat, 1.2),
    (make_where, 1.0), (make_getitem, 3.0),
]
if LA is not None:
    MAKERS.append((make_linalg, 1.2))
MAKERS.append((make_array, 3.0))
MAKERS += [(make_loss, 0.5), (make_custom, 0.5)]


# --------------------------------------------------------------------------- programs
LAYOUTS = ("C", "C", "C", "F", "strided", "reversed")


def _layout(x, layout):
    """The same values in a differently laid out (non-contiguous) array."""
    if layout == "F" and x.ndim >= 2:
        return np.asfortranarray(x)
    if layout == "strided" and x.ndim >= 1:
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],))
        big[..., 1::2] = x
        return big[..., 1::2]
    if layout == "reversed" and x.ndim >= 1:
        return np.ascontiguousarray(x[..., ::-1])[..., ::-1]
    return x


class Program:
    """A seeded program: root node, inputs (as laid out for pyad), whether it is scalar."""

    def __init__(self, seed, root, inputs, layouts, scalar, force=None):
        self.seed, self.root, self.inputs, self.layouts = seed, root, inputs, layouts
        self.scalar, self.force = scalar, force
        self.ops = ops_used(root)
        self.text = text(root)

    def describe(self):
        ins = ", ".join(f"x{i}{tuple(x.shape)}{'' if l == 'C' else ':' + l}"
                        for i, (x, l) in enumerate(zip(self.inputs, self.layouts)))
        return f"{self.how}: f({ins}) = {self.text}"

    def pyad(self, *xs):
        return run_pyad(self.root, xs)

    def torch(self, *xs):
        return run_torch(self.root, xs)


def _distinct_values(rng, shape):
    n = _size(shape)
    mags = rng.permutation(np.linspace(0.3, 1.6, n)) + rng.uniform(0, 0.01, n)
    vals = mags * rng.choice([-1.0, 1.0], n)
    return vals.reshape(shape)


GETITEM_KINDS = ("basic", "int", "array", "array2", "adv_sep", "adv_adj", "mask", "take",
                 "newaxis")


def force_table():
    """Every operation the generator can be made to use: name -> the maker that offers it."""
    t = {}
    t.update({n: make_unary for n in UNARY})
    t.update({n: make_binary for n in BINARY})
    t.update({n: make_reduce for n in REDUCE})
    t.update({"scalar" + k: make_scalar for k in SCALAR})
    t.update(maximum_c=make_scalar, minimum_c=make_scalar, clip=make_scalar,
             softmax=make_softmax, log_softmax=make_softmax, matmul=make_matmul,
             transpose=make_transpose, reshape=make_reshape, expand_dims=make_expand_squeeze,
             squeeze=make_expand_squeeze, broadcast_to=make_broadcast,
             concatenate=make_concat, stack=make_concat, where=make_where)
    if have("sum_to"):
        t["sum_to"] = make_broadcast
    t.update({"getitem:" + k: make_getitem for k in GETITEM_KINDS})
    t.update({n: make_linalg for n in LINALG_NAMES if _la(n)})
    t.update({n: make_array for n in ARRAY_NAMES if have(n)})
    t.update({n: make_loss for n in LOSS_NAMES})
    t.update(softclip=make_custom, mulexp=make_custom)
    return t


def _uses(ops, name):
    return name in ops or (name.startswith("getitem:") and name[8:] in ops)


def build(seed, scalar=None, depth=None, force=None, big=None):
    """The program of a seed; with force=<op name>, one whose root (or, for a scalar program,
    the node under a final reduction) is that operation; with big=<shape>, the first input
    has that shape (the operations themselves stay small)."""
    rng = np.random.default_rng(seed if force is None else [seed, *map(ord, force)])
    n_inputs = 1 if rng.random() < 0.45 else 2
    if scalar is None:
        scalar = rng.random() < 0.6
    maker = force_table()[force] if force is not None else None
    for attempt in range(50 if force is None else 1000):
        g = Gen([seed, attempt] if force is None else [seed, attempt, *map(ord, force)], [])
        shapes = [g.rand_shape(min_ndim=0 if i else 1) for i in range(n_inputs)]
        if big is not None:                # one large input: Jacobians and Hessians of
            shapes[0] = tuple(big)         # more than one batch of directions (CHUNK)
        xs = [_distinct_values(g.rng, s) for s in shapes]
        g.__init__([seed, attempt, 1] + ([] if force is None else list(map(ord, force))), xs)
        d = depth if depth is not None else int(g.rng.integers(2, 5))
        try:
            if force is None:
                out_shape = () if scalar else g.rand_shape(min_ndim=1, max_size=8)
                root = g.make(out_shape, d)
            else:
                g.forced = force
                root = maker(g, g.rand_shape(max_size=8), d)
                if root is None or not _uses(ops_used(root), force):
                    continue
                if scalar and root.shape != ():
                    root = _scalar_head(g, root)
        except Reject:
            continue
        used = {n.p["i"] for n in nodes(root) if n.op == "input"}
        if len(used) < n_inputs or root.op in ("input", "const"):
            continue
        layouts = [g.choice(LAYOUTS) for _ in xs]
        prog = Program(seed, root, [_layout(x, l) for x, l in zip(xs, layouts)], layouts,
                       scalar, force)
        given = [f"scalar={scalar!r}"] if (force or big) else []
        given += [f"depth={depth!r}"] if depth is not None else []
        given += [f"force={force!r}"] if force else []
        given += [f"big={tuple(big)!r}"] if big is not None else []
        prog.how = f"build({', '.join([str(seed)] + given)})"
        return prog
    raise RuntimeError(f"no program for seed {seed} (force={force})")


def _scalar_head(g, node):
    """A scalar function of a node: sum(node * c), sum(tanh(node)) or logsumexp(node)."""
    r = g.rng.random()
    full = {"axis": None, "keepdims": False, "ddof": 0, "via": "fn"}
    if r < 0.5:
        c = np.round(g.rng.uniform(-1.5, 1.5, node.shape), 2)
        cn = Node("const", (), {"c": c}, torch.tensor(c))
        return g.node("sum", (g.node("multiply", (node, cn), {"via": "op"}),), full)
    if r < 0.8:
        return g.node("sum", (g.node("tanh", (node,), {"via": "fn"}),), full)
    return g.node("logsumexp", (node,), full)
