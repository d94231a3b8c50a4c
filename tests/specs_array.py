"""Op specs of the array family (see tests/op_specs.py, which imports this file).

New rows get a spec(...) of their own; functions composed of existing rows add cases, labelled
with the function's name, under the key of their main underlying primitive (flip -> getitem,
tile -> broadcast_to, tensordot -> matmul, ...).
"""
import warnings

import numpy as np

import pyad as ad
from op_specs import C, DOMAINS, FLOATS, SPECS, _grid, const, direct, spec



def _with_zeros(rng, shape):
    """Real values with exact zeros at flat positions 1 and 3 (mod 7): slices of a prod or
    cumprod get none, one or two zeros (not all of them two, where every derivative of
    the product is 0 and finite differences only see their own truncation error)."""
    n = int(np.prod(shape, dtype=np.int64))
    keep = ~np.isin(np.arange(n) % 7, (1, 3))
    return _grid(rng.uniform(-2.0, 2.0, shape)) * keep.reshape(shape)


DOMAINS["zeros"] = _with_zeros

_I64 = dict(grad=False, dtypes=(np.int64,))
_ND = dict(grad=False, dtypes=FLOATS + (np.int64,))
_X3 = [(2, 3, 4)]
_AXES = [(None, False), (None, True), (0, False), (1, True), (-1, False), (-1, True),
         ((0, 2), False), ((0, 2), True), ((2, 0, 1), False)]


def _add(prim, *cases):
    SPECS[prim].extend(cases)


# ============================================================================ scans
def _np_scan(a, b, axis, reverse):
    a, b = np.moveaxis(a, axis, 0), np.moveaxis(b, axis, 0)
    h = np.zeros_like(b)
    order = range(len(b) - 1, -1, -1) if reverse else range(len(b))
    prev = None
    for i in order:
        h[i] = b[i] if prev is None else a[i] * h[prev] + b[i]
        prev = i
    return np.moveaxis(h, 0, axis)


def _scan_case(shape, axis, reverse, domain=("real", "real"), label=None):
    return C("linear_scan", direct("linear_scan", (axis, reverse)),
             lambda a, b: _np_scan(a, b, axis, reverse), [shape, shape], domain=domain,
             label=label or f"{shape},axis={axis},reverse={reverse}")


spec("linear_scan",
     _scan_case((5,), 0, False), _scan_case((5,), 0, True),
     _scan_case((3, 4), 0, False), _scan_case((3, 4), 1, True),
     _scan_case((2, 3, 4), 1, False),
     _scan_case((3, 4), 1, False, ("zeros", "real"), label="zeros-in-a"),
     _scan_case((4, 3), 0, True, ("zeros", "zeros"), label="zeros-in-both,reverse"),
     _scan_case((1, 3), 0, False, label="length-1"),
     _scan_case((0, 3), 0, False, label="empty"),
     C("linear_scan", lambda a, b: ad.bind(ad.PRIMITIVES["linear_scan"], a.T, b.T,
                                           params=(0, False)),
       lambda a, b: _np_scan(a.T, b.T, 0, False), [(4, 3), (4, 3)], label="transposed"))


def _cum_cases(name, f, r, extra_domain="real"):
    return [
        C(name, lambda x: f(x, axis=0), lambda x: r(x, axis=0), [(3, 4)], label="axis=0"),
        C(name, lambda x: f(x, axis=1), lambda x: r(x, axis=1), [(3, 4)], label="axis=1"),
        C(name, lambda x: f(x, axis=-2), lambda x: r(x, axis=-2), _X3, label="3d,axis=-2"),
        C(name, lambda x: f(x), lambda x: r(x), [(3, 4)], label="axis=None"),
        C(name, lambda x: f(x), lambda x: r(x), [()], label="0d,axis=None"),
        C(name, lambda x: f(x, axis=0), lambda x: r(x, axis=0), [(7,)], label="1d"),
        C(name, lambda x: f(x, axis=0), lambda x: r(x, axis=0), [(0, 3)], label="empty"),
        C(name, lambda x: f(x.T, axis=1), lambda x: r(x.T, axis=1), [(4, 3)],
          label="transposed"),
        C(name, lambda x: f(x[:, ::2], axis=1), lambda x: r(x[:, ::2], axis=1), [(3, 8)],
          label="strided"),
        C(name, lambda x: f(x, axis=1), lambda x: r(x, axis=1), [(3, 4)], label="int64",
          **_I64),
        C(name, lambda x: f(x, axis=0, dtype=np.float32),
          lambda x: r(x, axis=0, dtype=np.float32), [(3, 4)], label="dtype=float32",
          grad=False, dtypes=(np.float64, np.int64)),
        C(name, lambda x: np.__dict__[name](x, axis=1), lambda x: r(x, axis=1), [(3, 4)],
          label="np-dispatch"),
    ]


spec("cumsum", *_cum_cases("cumsum", ad.cumsum, np.cumsum),
     C("cumsum", lambda x: ad.cumsum(x > 0), lambda x: np.cumsum(x > 0), [(3, 4)],
       label="bool", grad=False, dtypes=(np.float64,)))
spec("cumprod", *_cum_cases("cumprod", ad.cumprod, np.cumprod),
     C("cumprod", lambda x: ad.cumprod(x, axis=1), lambda x: np.cumprod(x, axis=1), [(3, 5)],
       domain="zeros", label="zeros,axis=1"),
     C("cumprod", lambda x: ad.cumprod(x), lambda x: np.cumprod(x), [(3, 4)],
       domain="zeros", label="zeros,flat"),
     C("cumprod", lambda x: ad.cumprod(x, axis=0)[-1] + ad.cumprod(x, axis=1)[:, -1:],
       lambda x: np.cumprod(x, axis=0)[-1] + np.cumprod(x, axis=1)[:, -1:], [(3, 3)],
       domain="zeros", label="zeros,both-axes"))


# ============================================================================ prod
def _prod_cases():
    cases = [C("prod", lambda x, a=a, k=k: ad.prod(x, axis=a, keepdims=k),
               lambda x, a=a, k=k: np.prod(x, axis=a, keepdims=k), _X3,
               label=f"axis={a},keepdims={k}") for a, k in _AXES]
    cases += [
        C("prod", ad.prod, np.prod, [()], label="0d"),
        C("prod", lambda x: ad.prod(x, axis=0), lambda x: np.prod(x, axis=0), [(7,)],
          label="1d"),
        C("prod", lambda x: ad.prod(x.T, axis=1), lambda x: np.prod(x.T, axis=1), [(4, 3)],
          label="transposed"),
        C("prod", lambda x: ad.prod(x[:, ::2], axis=0, keepdims=True),
          lambda x: np.prod(x[:, ::2], axis=0, keepdims=True), [(3, 8)], label="strided"),
        C("prod", lambda x: ad.prod(x, axis=0), lambda x: np.prod(x, axis=0), [(2, 0)],
          label="empty-output"),
        C("prod", lambda x: ad.prod(x, axis=0), lambda x: np.prod(x, axis=0), [(0, 3)],
          label="empty-input"),
        C("prod", lambda x: ad.prod(x, axis=()), lambda x: np.prod(x, axis=()), [(3, 4)],
          label="axis=()"),
        C("prod", lambda x: ad.prod(x, axis=1), lambda x: np.prod(x, axis=1), [(4, 5)],
          domain="zeros", label="zeros,axis=1"),
        C("prod", lambda x: ad.prod(x), lambda x: np.prod(x), [(3,)], domain="zeros",
          label="zeros,all"),
        C("prod", lambda x: ad.prod(x, axis=(0, 2)), lambda x: np.prod(x, axis=(0, 2)), _X3,
          domain="zeros", label="zeros,axes=(0,2)"),
        C("prod", lambda x: ad.prod(x * const(np.array([1.0, 0.0, 1.0, 0.0], x.dtype), x),
                                    axis=1),
          lambda x: np.prod(x * np.array([1.0, 0.0, 1.0, 0.0], x.dtype), axis=1), [(3, 4)],
          label="two-zeros-per-row"),
        C("prod", lambda x: ad.prod(x, axis=1, initial=2.0),
          lambda x: np.prod(x, axis=1, initial=2.0), [(3, 4)], label="initial"),
        C("prod", lambda x: np.prod(x, axis=-1), lambda x: np.prod(x, axis=-1), [(3, 4)],
          label="np-dispatch"),
        C("prod", lambda x: ad.prod(x, axis=0), lambda x: np.prod(x, axis=0), [(3, 4)],
          label="int64", **_I64),
    ]
    return cases


spec("prod", *_prod_cases())

# std, average, ptp: compositions
_add("sqrt",
     *[C("sqrt", lambda x, a=a, k=k: ad.std(x, axis=a, keepdims=k),
         lambda x, a=a, k=k: np.std(x, axis=a, keepdims=k), _X3, label=f"std,axis={a},{k}")
       for a, k in [(None, False), (1, True), (-1, False), ((0, 2), False)]],
     C("sqrt", lambda x: ad.std(x, axis=0, ddof=1), lambda x: np.std(x, axis=0, ddof=1),
       [(3, 4)], label="std,ddof=1"),
     C("sqrt", lambda x: ad.std(x.T, axis=0), lambda x: np.std(x.T, axis=0), [(3, 4)],
       label="std,transposed"),
     C("sqrt", lambda x: np.std(x, axis=1), lambda x: np.std(x, axis=1), [(3, 4)],
       label="std,np-dispatch"),
     C("sqrt", ad.std, np.std, [()], label="std,0d", grad=False),
     C("sqrt", lambda x: ad.std(x, axis=1), lambda x: np.std(x, axis=1), [(3, 4)],
       label="std,int64", **_I64))
_W4 = np.array([1.0, 2.0, 0.5, 3.0])
_add("sum",
     C("sum", lambda x: ad.average(x, axis=1), lambda x: np.average(x, axis=1), [(3, 4)],
       label="average,no-weights"),
     C("sum", lambda x, w: ad.average(x, weights=w), lambda x, w: np.average(x, weights=w),
       [(3, 4), (3, 4)], domain=("real", "positive"), label="average,full-weights"),
     C("sum", lambda x, w: ad.average(x, axis=-1, weights=w, keepdims=True),
       lambda x, w: np.average(x, axis=-1, weights=w, keepdims=True), [(2, 3, 4), (4,)],
       domain=("real", "positive"), label="average,1d-weights,keepdims"),
     C("sum", lambda x, w: ad.average(x, axis=(2, 0), weights=w),
       lambda x, w: np.average(x, axis=(2, 0), weights=w), [(2, 3, 4), (4, 2)],
       domain=("real", "positive"), label="average,2d-weights,axes=(2,0)"),
     C("sum", lambda x: ad.average(x, axis=0, weights=const(_W4[:3].astype(x.dtype), x),
                                   returned=True)[1] * x[0],
       lambda x: np.average(x, axis=0, weights=_W4[:3].astype(x.dtype), returned=True)[1]
       * x[0],
       [(3, 4)], label="average,returned"),
     C("sum", lambda x: ad.average(x, axis=1, weights=const(_W4, x)),
       lambda x: np.average(x, axis=1, weights=_W4), [(3, 4)], label="average,int64",
       **_I64))
_add("max",
     C("max", lambda x: ad.ptp(x), lambda x: np.ptp(x), [(3, 4)], domain="distinct",
       label="ptp"),
     C("max", lambda x: ad.ptp(x, axis=-1, keepdims=True),
       lambda x: np.ptp(x, axis=-1, keepdims=True), _X3, domain="distinct",
       label="ptp,axis=-1,keepdims"),
     C("max", lambda x: np.ptp(x, axis=0), lambda x: np.ptp(x, axis=0), [(3, 4)],
       domain="distinct", label="ptp,np-dispatch"),
     C("max", lambda x: ad.ptp(x, axis=1), lambda x: np.ptp(x, axis=1), [(3, 4)],
       label="ptp,int64", **_I64))


# ============================================================================ einsum
def _einsum_case(subs, *shapes, label=None, **kw):
    return C("einsum", lambda *xs: ad.einsum(subs, *xs), lambda *xs: np.einsum(subs, *xs),
             list(shapes), label=label or subs, **kw)


spec("einsum",
     _einsum_case("ij,jk->ik", (3, 4), (4, 5)),
     _einsum_case("ij,jk", (3, 4), (4, 2), label="ij,jk-implicit"),
     _einsum_case("ij,kj", (3, 4), (2, 4), label="ij,kj-implicit-transposed"),
     _einsum_case("ij->ji", (3, 4)),
     _einsum_case("ij->", (3, 4)),
     _einsum_case("ii", (3, 3), label="trace"),
     _einsum_case("ii->i", (3, 3), label="diagonal"),
     _einsum_case("iij->ji", (3, 3, 2), label="partial-diagonal"),
     _einsum_case("iji->j", (3, 2, 3)),
     _einsum_case("i,i", (4,), (4,), label="dot"),
     _einsum_case("i,j->ij", (3,), (4,), label="outer"),
     _einsum_case("ij,k->ik", (3, 4), (2,), label="summed-in-one-operand"),
     _einsum_case("bij,bjk->bik", (2, 3, 4), (2, 4, 2), label="batched"),
     _einsum_case("...ij,...jk->...ik", (2, 3, 4), (4, 5), label="ellipsis-broadcast"),
     _einsum_case("...i,...i", (2, 3), (3,), label="ellipsis-implicit"),
     _einsum_case("i...->...", (3, 2, 2), label="ellipsis-out"),
     _einsum_case("ij,ij->ij", (1, 4), (3, 4), label="size-1-broadcast"),
     _einsum_case("ij,jk,kl->il", (2, 3), (3, 4), (4, 2), label="three-operands"),
     _einsum_case("Ab,bA", (2, 3), (3, 2), label="upper-case"),
     _einsum_case("ij,jk", (2, 0), (0, 3), label="empty-inner"),
     _einsum_case(",", (), (), label="0d"),
     _einsum_case("i,->i", (3,), (), label="vector-times-0d"),
     _einsum_case(" ij , jk -> ik ", (3, 4), (4, 2), label="spaces"),
     C("einsum", lambda x: ad.einsum("i,i", x, x), lambda x: np.einsum("i,i", x, x),
       [(4,)], label="same-operand-twice"),
     C("einsum", lambda x, y: ad.einsum(x, [0, 1], y, [1, 2], [0, 2]),
       lambda x, y: np.einsum(x, [0, 1], y, [1, 2], [0, 2]), [(3, 4), (4, 2)],
       label="sublist-explicit"),
     C("einsum", lambda x: ad.einsum(x, [1, 30, 0]), lambda x: np.einsum(x, [1, 30, 0]),
       [(2, 3, 4)], label="sublist-implicit"),
     C("einsum", lambda x, y: ad.einsum("ij,jk->ik", x.T, y[::2]),
       lambda x, y: np.einsum("ij,jk->ik", x.T, y[::2]), [(4, 3), (8, 2)],
       label="transposed,strided"),
     C("einsum", lambda x, y: np.einsum("ij,j->i", x, y),
       lambda x, y: np.einsum("ij,j->i", x, y), [(3, 4), (4,)], label="np-dispatch"),
     C("einsum", lambda x, y: ad.einsum("ij,jk", x, y), lambda x, y: np.einsum("ij,jk", x, y),
       [(70, 65), (65, 66)], label="large-blas"),
     C("einsum", lambda x, y: ad.einsum("ij,jk->ik", x, y),
       lambda x, y: np.einsum("ij,jk->ik", x, y), [(3, 4), (4, 5)], label="int64", **_I64),
     C("einsum", lambda x, y: ad.einsum("ij,j", x, y.astype(np.float32)),
       lambda x, y: np.einsum("ij,j", x, y.astype(np.float32)), [(3, 4), (4,)],
       label="mixed-dtypes", grad=False))

# tensordot, inner, dot on N-D: products through matmul
_add("matmul",
     C("matmul", lambda a, b: ad.tensordot(a, b), lambda a, b: np.tensordot(a, b),
       [(2, 3, 4), (3, 4, 2)], label="tensordot,axes=2"),
     C("matmul", lambda a, b: ad.tensordot(a, b, axes=1), lambda a, b: np.tensordot(a, b, 1),
       [(3, 4), (4, 2)], label="tensordot,axes=1"),
     C("matmul", lambda a, b: ad.tensordot(a, b, axes=0), lambda a, b: np.tensordot(a, b, 0),
       [(3,), (2, 2)], label="tensordot,axes=0"),
     C("matmul", lambda a, b: ad.tensordot(a, b, axes=([0, -1], [2, 0])),
       lambda a, b: np.tensordot(a, b, axes=([0, -1], [2, 0])), [(2, 3, 4), (4, 3, 2)],
       label="tensordot,pairs,negative"),
     C("matmul", lambda a, b: ad.tensordot(a, b, axes=(1, 0)),
       lambda a, b: np.tensordot(a, b, axes=(1, 0)), [(3, 4), (4,)],
       label="tensordot,int-pair"),
     C("matmul", lambda a, b: ad.tensordot(a.T, b, axes=1),
       lambda a, b: np.tensordot(a.T, b, axes=1), [(4, 3), (4, 2)],
       label="tensordot,transposed"),
     C("matmul", lambda a, b: ad.tensordot(a, b, axes=([1], [0])),
       lambda a, b: np.tensordot(a, b, axes=([1], [0])), [(3, 0), (0, 2)],
       label="tensordot,empty"),
     C("matmul", lambda a, b: np.tensordot(a, b, axes=1),
       lambda a, b: np.tensordot(a, b, axes=1), [(3, 4), (4, 2)],
       label="tensordot,np-dispatch"),
     C("matmul", lambda a, b: ad.tensordot(a, b, axes=1), lambda a, b: np.tensordot(a, b, 1),
       [(3, 4), (4, 2)], label="tensordot,int64", **_I64),
     C("matmul", ad.inner, np.inner, [(4,), (4,)], label="inner,1d"),
     C("matmul", ad.inner, np.inner, [(2, 3, 4), (5, 4)], label="inner,nd"),
     C("matmul", lambda a, b: ad.dot(a, b), lambda a, b: np.dot(a, b), [(2, 3, 4), (4, 5)],
       label="dot,3d@2d"),
     C("matmul", lambda a, b: ad.dot(a, b), lambda a, b: np.dot(a, b), [(3, 4), (2, 4, 5)],
       label="dot,2d@3d"),
     C("matmul", lambda a, b: ad.dot(a, b), lambda a, b: np.dot(a, b), [(2, 3, 4), (4,)],
       label="dot,3d@1d"),
     C("matmul", lambda a, b: ad.dot(a, b), lambda a, b: np.dot(a, b), [(4,), (2, 4, 3)],
       label="dot,1d@3d"),
     C("matmul", lambda a, b: np.dot(a, b), lambda a, b: np.dot(a, b), [(2, 2, 3), (2, 3, 2)],
       label="dot,3d@3d,np-dispatch"))
_add("multiply",
     C("multiply", ad.inner, np.inner, [(3, 4), ()], label="inner,scalar"),
     C("multiply", ad.outer, np.outer, [(3,), (4,)], label="outer"),
     C("multiply", ad.outer, np.outer, [(2, 2), ()], label="outer,flattens"),
     C("multiply", lambda a, b: np.outer(a, b), np.outer, [(3,), (2,)],
       label="outer,np-dispatch"),
     C("multiply", ad.kron, np.kron, [(2, 3), (2, 2)], label="kron"),
     C("multiply", ad.kron, np.kron, [(3,), (2, 2)], label="kron,1d-2d"),
     C("multiply", ad.kron, np.kron, [(2, 1, 2), (2, 3)], label="kron,3d"),
     C("multiply", ad.kron, np.kron, [(2, 3), (2, 2)], label="kron,int64", **_I64),
     C("multiply", ad.cross, np.cross, [(4, 3), (4, 3)], label="cross"),
     C("multiply", ad.cross, np.cross, [(3,), (2, 3)], label="cross,broadcast"),
     C("multiply", lambda a, b: ad.cross(a, b, axisa=0, axisb=1, axisc=0),
       lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0), [(3, 4), (4, 3)],
       label="cross,axes"),
     C("multiply", lambda a, b: ad.cross(a, b, axis=1), lambda a, b: np.cross(a, b, axis=1),
       [(2, 3, 4), (2, 3, 4)], label="cross,axis=1"),
     C("multiply", lambda a, b: _quiet(ad.cross, a, b), lambda a, b: a[:, 0] * b[:, 1]
       - a[:, 1] * b[:, 0], [(4, 2), (4, 2)], label="cross,2-vectors"),
     C("multiply", lambda a, b: _quiet(ad.cross, a, b), lambda a, b: _quiet(np.cross, a, b),
       [(4, 2), (4, 3)], label="cross,2-and-3-vectors"),
     C("multiply", ad.cross, np.cross, [(2, 3), (2, 3)], label="cross,int64", **_I64))


def _quiet(f, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return f(*args)


# ============================================================================ diagonals
spec("diagonal",
     C("diagonal", ad.diagonal, np.diagonal, [(3, 4)], label="3x4"),
     C("diagonal", lambda x: ad.diagonal(x, 1), lambda x: np.diagonal(x, 1), [(3, 4)],
       label="offset=1"),
     C("diagonal", lambda x: ad.diagonal(x, -2), lambda x: np.diagonal(x, -2), [(4, 3)],
       label="offset=-2"),
     C("diagonal", lambda x: ad.diagonal(x, -1, 2, 0), lambda x: np.diagonal(x, -1, 2, 0),
       _X3, label="3d,axis1=2,axis2=0"),
     C("diagonal", lambda x: ad.diagonal(x, 1, -1, -2), lambda x: np.diagonal(x, 1, -1, -2),
       _X3, label="3d,negative-axes"),
     C("diagonal", lambda x: ad.diagonal(x, 5), lambda x: np.diagonal(x, 5), [(3, 4)],
       label="offset-past-the-end"),
     C("diagonal", lambda x: ad.diagonal(x.T), lambda x: np.diagonal(x.T), [(3, 4)],
       label="transposed"),
     C("diagonal", lambda x: ad.diagonal(x[:, ::2]), lambda x: np.diagonal(x[:, ::2]),
       [(3, 8)], label="strided"),
     C("diagonal", ad.diagonal, np.diagonal, [(0, 3)], label="empty"),
     C("diagonal", ad.trace, np.trace, [(3, 3)], label="trace"),
     C("diagonal", lambda x: ad.trace(x, -1, 2, 1), lambda x: np.trace(x, -1, 2, 1), _X3,
       label="trace,3d,offset=-1"),
     C("diagonal", lambda x: np.trace(x), lambda x: np.trace(x), [(3, 4)],
       label="trace,np-dispatch"),
     C("diagonal", lambda x: ad.diag(x, 1), lambda x: np.diag(x, 1), [(3, 4)],
       label="diag,2d"),
     C("diagonal", lambda x: ad.diagonal(x), lambda x: np.diagonal(x), [(3, 4)],
       label="int64", **_I64),
     C("diagonal", ad.trace, np.trace, [(3, 4)], label="trace,int64", **_I64))
spec("diagonal_embed",
     C("diagonal_embed", ad.diag, np.diag, [(3,)], label="diag"),
     C("diagonal_embed", lambda v: ad.diag(v, 2), lambda v: np.diag(v, 2), [(3,)],
       label="diag,k=2"),
     C("diagonal_embed", lambda v: ad.diag(v, -1), lambda v: np.diag(v, -1), [(2,)],
       label="diag,k=-1"),
     C("diagonal_embed", ad.diag, np.diag, [(0,)], label="diag,empty"),
     C("diagonal_embed", lambda v: ad.diag(v[::-2]), lambda v: np.diag(v[::-2]), [(6,)],
       label="diag,strided"),
     C("diagonal_embed", lambda v: np.diag(v), np.diag, [(3,)], label="diag,np-dispatch"),
     C("diagonal_embed", ad.diagflat, np.diagflat, [(2, 2)], label="diagflat"),
     C("diagonal_embed", lambda v: ad.diagflat(v, -1), lambda v: np.diagflat(v, -1), [(3,)],
       label="diagflat,k=-1"),
     C("diagonal_embed", direct("diagonal_embed", ((2, 4, 3), -1, 2, 0)),
       lambda g: _np_embed(g, (2, 4, 3), -1, 2, 0), [(4, 2)], label="direct-3d"),
     C("diagonal_embed", ad.diag, np.diag, [(3,)], label="diag,int64", **_I64))


def _np_embed(g, shape, offset, axis1, axis2):
    out = np.zeros(shape, dtype=g.dtype)
    view = np.diagonal(out, offset, axis1, axis2)
    view.setflags(write=True)
    view[...] = g
    return out


_TRI_MASKED = dict(domain="real")
_add("where",
     C("where", ad.tril, np.tril, [(3, 4)], label="tril"),
     C("where", lambda x: ad.tril(x, -1), lambda x: np.tril(x, -1), _X3, label="tril,3d,k=-1"),
     C("where", lambda x: ad.tril(x, 1), lambda x: np.tril(x, 1), [(3,)], label="tril,1d"),
     C("where", ad.triu, np.triu, [(4, 3)], label="triu"),
     C("where", lambda x: ad.triu(x.T, 2), lambda x: np.triu(x.T, 2), [(3, 4)],
       label="triu,transposed,k=2"),
     C("where", lambda x: np.triu(x), lambda x: np.triu(x), [(3, 3)], label="triu,np-dispatch"),
     C("where", ad.tril, np.tril, [(3, 4)], label="tril,int64", **_I64),
     C("where", lambda x, y, d: ad.select([const(_SEL[0], x), const(_SEL[1], x)], [x, y], d),
       lambda x, y, d: np.select([_SEL[0], _SEL[1]], [x, y], d), [(3, 4), (4,), ()],
       label="select"),
     C("where", lambda x: ad.select([const(_SEL[0], x)], [x]),
       lambda x: np.select([_SEL[0]], [x]),
       [(3, 4)], label="select,default-0"),
     C("where", lambda x: ad.select([const(_SEL[0], x)], [x], 1),
       lambda x: np.select([_SEL[0]], [x], 1),
       [(3, 4)], label="select,int64", **_I64))
_SEL = (np.array([[True, False, False, True], [False, True, False, False],
                  [True, True, False, False]]),
        np.array([True, True, False, True]))


# ============================================================================ rearranging
_add("broadcast_to",
     C("broadcast_to", lambda x: ad.tile(x, 2), lambda x: np.tile(x, 2), [(3,)], label="tile"),
     C("broadcast_to", lambda x: ad.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)),
       [(3, 4)], label="tile,more-reps"),
     C("broadcast_to", lambda x: ad.tile(x, (2, 1)), lambda x: np.tile(x, (2, 1)), _X3,
       label="tile,fewer-reps"),
     C("broadcast_to", lambda x: ad.tile(x, 3), lambda x: np.tile(x, 3), [()],
       label="tile,0d"),
     C("broadcast_to", lambda x: ad.tile(x.T, (1, 2)), lambda x: np.tile(x.T, (1, 2)),
       [(3, 4)], label="tile,transposed"),
     C("broadcast_to", lambda x: ad.tile(x, (2, 3)), lambda x: np.tile(x, (2, 3)), [(0, 2)],
       label="tile,empty"),
     C("broadcast_to", lambda x: np.tile(x, (2, 2)), lambda x: np.tile(x, (2, 2)), [(2,)],
       label="tile,np-dispatch"),
     C("broadcast_to", lambda x: ad.tile(x, 2), lambda x: np.tile(x, 2), [(3, 4)],
       label="tile,int64", **_I64),
     C("broadcast_to", lambda x: ad.repeat(x, 3), lambda x: np.repeat(x, 3), [(2, 3)],
       label="repeat,flat"),
     C("broadcast_to", lambda x: ad.repeat(x, 2, axis=-1), lambda x: np.repeat(x, 2, axis=-1),
       _X3, label="repeat,axis=-1"),
     C("broadcast_to", lambda x: ad.repeat(x, [2], axis=0), lambda x: np.repeat(x, [2], 0),
       [(3, 4)], label="repeat,one-count-list"),
     C("broadcast_to", lambda x: ad.repeat(x, 2), lambda x: np.repeat(x, 2), [()],
       label="repeat,0d"),
     C("broadcast_to", lambda x: np.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1),
       [(3, 4)], label="repeat,np-dispatch"),
     C("broadcast_to", lambda x: ad.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, axis=0),
       [(3, 4)], label="repeat,int64", **_I64))


def _slicing_cases():
    reps = np.array([1, 0, 3, 2])
    return [
        C("getitem", lambda x: ad.repeat(x, reps, axis=1), lambda x: np.repeat(x, reps, 1),
          [(3, 4)], label="repeat,counts"),
        C("getitem", ad.flip, np.flip, [(3, 4)], label="flip"),
        C("getitem", lambda x: ad.flip(x, (0, -1)), lambda x: np.flip(x, (0, -1)), _X3,
          label="flip,axes=(0,-1)"),
        C("getitem", lambda x: ad.flip(x, 1), lambda x: np.flip(x, 1), [(3, 4)],
          label="flip,axis=1"),
        C("getitem", lambda x: ad.flip(x.T, 0), lambda x: np.flip(x.T, 0), [(3, 4)],
          label="flip,transposed"),
        C("getitem", lambda x: np.flip(x, 0), lambda x: np.flip(x, 0), [(0, 2)],
          label="flip,empty,np-dispatch"),
        C("getitem", ad.fliplr, np.fliplr, [(3, 4)], label="fliplr"),
        C("getitem", ad.flipud, np.flipud, [(3,)], label="flipud"),
        C("getitem", ad.flip, np.flip, [(3, 4)], label="flip,int64", **_I64),
        C("getitem", ad.rot90, np.rot90, [(3, 4)], label="rot90"),
        C("getitem", lambda x: ad.rot90(x, 2), lambda x: np.rot90(x, 2), [(3, 4)],
          label="rot90,k=2"),
        C("getitem", lambda x: ad.rot90(x, -1, (2, 0)), lambda x: np.rot90(x, -1, (2, 0)),
          _X3, label="rot90,k=-1,axes=(2,0)"),
        C("getitem", lambda x: np.rot90(x, 3), lambda x: np.rot90(x, 3), [(3, 4)],
          label="rot90,k=3,np-dispatch"),
        *[C("getitem", lambda x, m=m: ad.pad(x, ((2, 3), (4, 1)), mode=m),
            lambda x, m=m: np.pad(x, ((2, 3), (4, 1)), mode=m), [(3, 4)], label=f"pad,{m}")
          for m in ("edge", "reflect", "symmetric", "wrap")],
        C("getitem", lambda x: ad.pad(x, 7, mode="reflect"),
          lambda x: np.pad(x, 7, mode="reflect"), [(3,)], label="pad,reflect-wider"),
        C("getitem", lambda x: ad.pad(x, (1, 2), mode="edge"),
          lambda x: np.pad(x, (1, 2), mode="edge"), _X3, label="pad,edge,3d"),
        C("getitem", lambda x: np.pad(x, 1, mode="wrap"), lambda x: np.pad(x, 1, mode="wrap"),
          [(3, 4)], label="pad,wrap,np-dispatch"),
        C("getitem", lambda x: ad.pad(x, 2, mode="edge"), lambda x: np.pad(x, 2, mode="edge"),
          [(3, 4)], label="pad,edge,int64", **_I64),
        C("getitem", lambda x: _pieces(ad.split(x, 2, axis=1)),
          lambda x: _pieces(np.split(x, 2, axis=1)), [(3, 4)], label="split"),
        C("getitem", lambda x: _pieces(ad.split(x, [1, 3], axis=-1)),
          lambda x: _pieces(np.split(x, [1, 3], axis=-1)), _X3, label="split,indices"),
        C("getitem", lambda x: _pieces(ad.array_split(x, 3)),
          lambda x: _pieces(np.array_split(x, 3)), [(7,)], label="array_split"),
        C("getitem", lambda x: _pieces(ad.hsplit(x, 2)), lambda x: _pieces(np.hsplit(x, 2)),
          [(3, 4)], label="hsplit"),
        C("getitem", lambda x: _pieces(ad.vsplit(x, [1])), lambda x: _pieces(np.vsplit(x, [1])),
          [(3, 4)], label="vsplit"),
        C("getitem", lambda x: _pieces(ad.dsplit(x, 2)), lambda x: _pieces(np.dsplit(x, 2)),
          _X3, label="dsplit"),
        C("getitem", lambda x: _pieces(np.array_split(x, 2, axis=1)),
          lambda x: _pieces(np.array_split(x, 2, axis=1)), [(3, 5)],
          label="array_split,np-dispatch"),
        C("getitem", lambda x: _pieces(ad.split(x, 2)), lambda x: _pieces(np.split(x, 2)),
          [(4, 3)], label="split,int64", **_I64),
    ]


def _pieces(parts):
    """The pieces combined so each one's gradient differs: sum_k (k + 1) * piece_k, with
    the pieces of a split of equal shape (else the first piece alone)."""
    total = parts[0]
    for k, p in enumerate(parts[1:], start=2):
        if p.shape != total.shape:
            return total
        total = total + p * k
    return total


_add("getitem", *_slicing_cases())

_add("concatenate",
     C("concatenate", lambda x: ad.roll(x, 1), lambda x: np.roll(x, 1), [(3, 4)],
       label="roll,flat"),
     C("concatenate", lambda x: ad.roll(x, -5, axis=1), lambda x: np.roll(x, -5, axis=1),
       [(3, 4)], label="roll,axis=1,-5"),
     C("concatenate", lambda x: ad.roll(x, (1, 2), axis=(0, -1)),
       lambda x: np.roll(x, (1, 2), axis=(0, -1)), _X3, label="roll,two-axes"),
     C("concatenate", lambda x: ad.roll(x, (1, 1), axis=(1, 1)),
       lambda x: np.roll(x, (1, 1), axis=(1, 1)), [(3, 4)], label="roll,same-axis-twice"),
     C("concatenate", lambda x: np.roll(x.T, 2, axis=0), lambda x: np.roll(x.T, 2, axis=0),
       [(3, 4)], label="roll,transposed,np-dispatch"),
     C("concatenate", lambda x: ad.roll(x, 1), lambda x: np.roll(x, 1), [(3, 4)],
       label="roll,int64", **_I64),
     C("concatenate", lambda x: ad.pad(x, 2, constant_values=(1.5, -2.0)),
       lambda x: np.pad(x, 2, constant_values=(1.5, -2.0)), _X3, label="pad,constant-values"),
     C("concatenate", lambda a, b: ad.hstack([a, b]), lambda a, b: np.hstack([a, b]),
       [(3, 2), (3, 4)], label="hstack"),
     C("concatenate", lambda a, b: ad.hstack((a, b)), lambda a, b: np.hstack((a, b)),
       [(2,), ()], label="hstack,1d-0d"),
     C("concatenate", lambda a, b: ad.vstack([a, b]), lambda a, b: np.vstack([a, b]),
       [(4,), (2, 4)], label="vstack"),
     C("concatenate", lambda a, b: ad.row_stack([a, b]), lambda a, b: np.vstack([a, b]),
       [(4,), (4,)], label="row_stack"),
     C("concatenate", lambda a, b: ad.dstack([a, b]), lambda a, b: np.dstack([a, b]),
       [(3, 4), (3, 4)], label="dstack"),
     C("concatenate", lambda a, b: ad.dstack([a, b]), lambda a, b: np.dstack([a, b]),
       [(3,), (3,)], label="dstack,1d"),
     C("concatenate", lambda a, b: ad.column_stack([a, b]),
       lambda a, b: np.column_stack([a, b]), [(3,), (3, 2)], label="column_stack"),
     C("concatenate", lambda a, b: np.hstack([a.T, b]), lambda a, b: np.hstack([a.T, b]),
       [(2, 3), (3, 1)], label="hstack,transposed,np-dispatch"),
     C("concatenate", lambda a, b: ad.vstack([a, b], dtype=np.float32),
       lambda a, b: np.vstack([a, b], dtype=np.float32), [(4,), (4,)],
       label="vstack,dtype", grad=False),
     C("concatenate", lambda a, b: ad.vstack([a, b]), lambda a, b: np.vstack([a, b]),
       [(4,), (2, 4)], label="vstack,int64", **_I64),
     C("concatenate", ad.append, np.append, [(2, 3), (4,)], label="append"),
     C("concatenate", lambda a, b: ad.append(a, b, axis=0),
       lambda a, b: np.append(a, b, axis=0), [(2, 3), (1, 3)], label="append,axis=0"),
     C("concatenate", lambda a, b: np.append(a, b), lambda a, b: np.append(a, b), [(), (2,)],
       label="append,0d,np-dispatch"),
     C("concatenate", ad.append, np.append, [(2, 3), (4,)], label="append,int64", **_I64),
     C("concatenate", lambda a, b: ad.linspace(a, b, 5), lambda a, b: np.linspace(a, b, 5),
       [(), ()], label="linspace"),
     C("concatenate", lambda a, b: ad.linspace(a, b, 4, axis=-1),
       lambda a, b: np.linspace(a, b, 4, axis=-1), [(3,), (2, 1)],
       label="linspace,arrays,axis=-1"),
     C("concatenate", lambda a, b: np.linspace(a, b, 3), lambda a, b: np.linspace(a, b, 3),
       [(2,), ()], label="linspace,np-dispatch"),
     C("concatenate", lambda a, b: ad.linspace(a, b, 6, retstep=True)[1] * a,
       lambda a, b: np.linspace(a, b, 6, retstep=True)[1] * a, [(), ()],
       label="linspace,retstep"))
_add("multiply",
     C("multiply", lambda a, b: ad.linspace(a, b, 5, endpoint=False),
       lambda a, b: np.linspace(a, b, 5, endpoint=False), [(), (2,)],
       label="linspace,no-endpoint"),
     C("multiply", lambda a, b: ad.linspace(a, b, 1), lambda a, b: np.linspace(a, b, 1),
       [(), ()], label="linspace,num=1"),
     C("multiply", lambda a, b: ad.linspace(a, b, 0), lambda a, b: np.linspace(a, b, 0),
       [(), ()], label="linspace,num=0"),
     C("multiply", lambda a, b: ad.linspace(a, b + 4.0, 4, dtype=np.int64),
       lambda a, b: np.linspace(a, b + 4.0, 4, dtype=np.int64), [(), ()],
       label="linspace,int-dtype", grad=False))

_add("reshape",
     C("reshape", ad.ravel, np.ravel, [(3, 4)], label="ravel"),
     C("reshape", lambda x: ad.ravel(x.T), lambda x: np.ravel(x.T), [(3, 4)],
       label="ravel,transposed"),
     C("reshape", lambda x: np.ravel(x), np.ravel, [()], label="ravel,0d,np-dispatch"),
     C("reshape", ad.atleast_1d, np.atleast_1d, [()], label="atleast_1d"),
     C("reshape", ad.atleast_2d, np.atleast_2d, [(3,)], label="atleast_2d"),
     C("reshape", ad.atleast_2d, np.atleast_2d, [()], label="atleast_2d,0d"),
     C("reshape", ad.atleast_3d, np.atleast_3d, [(3,)], label="atleast_3d"),
     C("reshape", ad.atleast_3d, np.atleast_3d, [(3, 4)], label="atleast_3d,2d"),
     C("reshape", lambda a, b: ad.atleast_2d(a, b)[0] * ad.atleast_2d(a, b)[1],
       lambda a, b: np.atleast_2d(a, b)[0] * np.atleast_2d(a, b)[1], [(3,), (1, 3)],
       label="atleast_2d,several"),
     C("reshape", ad.ravel, np.ravel, [(3, 4)], label="ravel,int64", **_I64))
_add("transpose",
     C("transpose", lambda x: ad.ravel(x, order="F"), lambda x: np.ravel(x, order="F"),
       [(3, 4)], label="ravel,F"),
     C("transpose", lambda x: ad.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), _X3,
       label="moveaxis"),
     C("transpose", lambda x: ad.moveaxis(x, (0, 1), (2, 0)),
       lambda x: np.moveaxis(x, (0, 1), (2, 0)), _X3, label="moveaxis,several"),
     C("transpose", lambda x: np.moveaxis(x, -1, 0), lambda x: np.moveaxis(x, -1, 0), [(3, 4)],
       label="moveaxis,np-dispatch"),
     C("transpose", lambda x: ad.rollaxis(x, 2), lambda x: np.rollaxis(x, 2), _X3,
       label="rollaxis"),
     C("transpose", lambda x: ad.rollaxis(x, 0, 3), lambda x: np.rollaxis(x, 0, 3), _X3,
       label="rollaxis,start=3"),
     C("transpose", lambda x: ad.moveaxis(x, 0, 1), lambda x: np.moveaxis(x, 0, 1), [(3, 4)],
       label="moveaxis,int64", **_I64))


# ============================================================================ sorting
_IDX_REP = np.array([[0, 0, 3], [2, 1, 2], [3, 3, 3]])
spec("take_along_axis",
     C("take_along_axis", ad.sort, np.sort, [(3, 4)], domain="distinct", label="sort"),
     C("take_along_axis", lambda x: ad.sort(x, axis=0), lambda x: np.sort(x, axis=0), _X3,
       domain="distinct", label="sort,axis=0"),
     C("take_along_axis", lambda x: ad.sort(x, axis=None), lambda x: np.sort(x, axis=None),
       [(3, 4)], domain="distinct", label="sort,axis=None"),
     C("take_along_axis", lambda x: ad.sort(x, axis=None), lambda x: np.sort(x, axis=None),
       [()], domain="distinct", label="sort,0d"),
     C("take_along_axis", ad.sort, np.sort, [(0, 3)], domain="distinct", label="sort,empty"),
     C("take_along_axis", lambda x: ad.sort(x.T, axis=-2), lambda x: np.sort(x.T, axis=-2),
       [(3, 4)], domain="distinct", label="sort,transposed"),
     C("take_along_axis", lambda x: ad.sort(x[:, ::2], kind="stable"),
       lambda x: np.sort(x[:, ::2], kind="stable"), [(3, 8)], domain="distinct",
       label="sort,strided,stable"),
     C("take_along_axis", lambda x: np.sort(x, axis=1), lambda x: np.sort(x, axis=1), [(3, 5)],
       domain="distinct", label="sort,np-dispatch"),
     C("take_along_axis", ad.sort, np.sort, [(3, 4)], domain="even", label="sort,int64",
       **_I64),
     C("take_along_axis", lambda x: ad.partition(x, 2), lambda x: np.partition(x, 2), [(3, 6)],
       domain="distinct", label="partition"),
     C("take_along_axis", lambda x: ad.partition(x, (0, 3), axis=0),
       lambda x: np.partition(x, (0, 3), axis=0), [(5, 3)], domain="distinct",
       label="partition,kth-pair,axis=0"),
     C("take_along_axis", lambda x: np.partition(x, -1, axis=None),
       lambda x: np.partition(x, -1, axis=None), [(3, 4)], domain="distinct",
       label="partition,axis=None,np-dispatch"),
     C("take_along_axis", lambda x: ad.partition(x, 1), lambda x: np.partition(x, 1),
       [(3, 4)], domain="even", label="partition,int64", **_I64),
     C("take_along_axis", lambda x: ad.take_along_axis(x, _IDX_REP, axis=1),
       lambda x: np.take_along_axis(x, _IDX_REP, axis=1), [(3, 4)], label="repeated-indices"),
     C("take_along_axis", lambda x: ad.take_along_axis(x, _IDX_REP[:1] - 4, axis=1),
       lambda x: np.take_along_axis(x, _IDX_REP[:1] - 4, axis=1), [(3, 4)],
       label="negative,broadcast-indices"),
     C("take_along_axis", lambda x: ad.take_along_axis(x, _IDX_REP.T[:, :1], axis=0),
       lambda x: np.take_along_axis(x, _IDX_REP.T[:, :1], axis=0), [(4, 1)],
       label="broadcast-arr"),
     C("take_along_axis", lambda x: ad.take_along_axis(x, np.array([5, 0, 5]), axis=None),
       lambda x: np.take_along_axis(x, np.array([5, 0, 5]), axis=None), [(2, 3)],
       label="axis=None"),
     C("take_along_axis", lambda x: np.take_along_axis(x, _IDX_REP, axis=-1),
       lambda x: np.take_along_axis(x, _IDX_REP, axis=-1), [(3, 4)], label="np-dispatch"),
     C("take_along_axis", lambda x: ad.take_along_axis(x, _IDX_REP, 1),
       lambda x: np.take_along_axis(x, _IDX_REP, 1), [(3, 4)], label="int64", **_I64))


def _np_scatter_along(g, shape, idx, axis):
    out = np.zeros(shape, dtype=g.dtype)
    key = tuple(idx if d == axis else np.arange(n).reshape([-1 if e == d else 1
                                                            for e in range(len(shape))])
                for d, n in enumerate(shape))
    np.add.at(out, key, g)
    return out


_PERM = np.array([[2, 0, 1, 3], [3, 2, 1, 0], [0, 1, 2, 3]])
spec("scatter_add_along_axis",
     C("scatter_add_along_axis",
       direct("scatter_add_along_axis", ((3, 4), _IDX_REP, 1, False)),
       lambda g: _np_scatter_along(g, (3, 4), _IDX_REP, 1), [(3, 3)],
       label="direct-repeated"),
     C("scatter_add_along_axis", direct("scatter_add_along_axis", ((3, 4), _PERM, 1, True)),
       lambda g: _np_scatter_along(g, (3, 4), _PERM, 1), [(3, 4)], label="direct-unique"),
     C("scatter_add_along_axis",
       direct("scatter_add_along_axis", ((4, 3), _IDX_REP.T, 0, False)),
       lambda g: _np_scatter_along(g, (4, 3), _IDX_REP.T, 0), [(3, 3)], label="direct-axis0"),
     C("scatter_add_along_axis",
       lambda x: ad.grad(lambda z: ad.sum(ad.sort(z) ** 2.0))(x),
       lambda x: 2.0 * x, [(3, 4)], domain="distinct", label="grad-of-sort"))

# integer results: not differentiable
spec("argsort",
     C("argsort", ad.argsort, np.argsort, [(3, 4)], domain="distinct", **_ND),
     C("argsort", lambda x: ad.argsort(x, axis=0), lambda x: np.argsort(x, axis=0), _X3,
       domain="distinct", label="axis=0", **_ND),
     # float keys only: cast to int64, 12 "distinct" values tie, and the order of ties is
     # numpy's quicksort's own (other backends sort stably)
     C("argsort", lambda x: ad.argsort(x, axis=None), lambda x: np.argsort(x, axis=None),
       [(3, 4)], domain="distinct", label="axis=None", grad=False),
     C("argsort", lambda x: ad.argsort(x, kind="stable"), lambda x: np.argsort(x, kind="stable"),
       [(12,)], domain="even", label="ties,stable", **_ND),
     C("argsort", lambda x: np.argsort(x, stable=True), lambda x: np.argsort(x, stable=True),
       [(12,)], domain="even", label="np-dispatch,stable", **_ND))
spec("argpartition",
     C("argpartition", lambda x: ad.argpartition(x, 1), lambda x: np.argpartition(x, 1),
       [(3, 4)], domain="distinct", **_ND),
     C("argpartition", lambda x: np.argpartition(x, 2, axis=None),
       lambda x: np.argpartition(x, 2, axis=None), [(3, 4)], domain="distinct",
       label="axis=None,np-dispatch", grad=False))
for _name, _f, _r in (("argmax", ad.argmax, np.argmax), ("argmin", ad.argmin, np.argmin)):
    spec(_name,
         C(_name, _f, _r, [(3, 4)], domain="distinct", **_ND),
         C(_name, lambda x, f=_f: f(x, axis=1), lambda x, r=_r: r(x, axis=1), [(3, 4)],
           domain="distinct", label="axis=1", **_ND),
         C(_name, lambda x, f=_f: f(x, axis=-1, keepdims=True),
           lambda x, r=_r: r(x, axis=-1, keepdims=True), _X3, domain="distinct",
           label="axis=-1,keepdims", **_ND),
         C(_name, _f, _r, [()], label="0d", **_ND),
         C(_name, lambda x, f=_f: f(x, axis=0), lambda x, r=_r: r(x, axis=0), [(3, 4)],
           domain="even", label="ties", **_ND),
         C(_name, lambda x, r=_r: r(x, axis=0), lambda x, r=_r: r(x, axis=0), [(3, 4)],
           domain="distinct", label="np-dispatch", **_ND))
spec("nonzero",
     C("nonzero", lambda x: ad.nonzero(x)[0], lambda x: np.nonzero(x)[0], [(7,)],
       domain="zeros", **_ND),
     C("nonzero", lambda x: ad.nonzero(x)[1], lambda x: np.nonzero(x)[1], [(3, 4)],
       domain="zeros", label="2d,second", **_ND),
     C("nonzero", lambda x: np.nonzero(x)[0], lambda x: np.nonzero(x)[0], [(0, 3)],
       label="empty,np-dispatch", **_ND))

# diff and gradient: compositions of getitem, subtract and concatenate
SPECS["getitem"] += [
    C("getitem", lambda x: ad.diff(x), lambda x: np.diff(x), [(6,)], label="diff"),
    C("getitem", lambda x: ad.diff(x, n=2, axis=0), lambda x: np.diff(x, n=2, axis=0),
      [(5, 3)], label="diff,n=2,axis=0"),
    C("getitem", lambda x: np.diff(x.T, prepend=0.5), lambda x: np.diff(x.T, prepend=0.5),
      [(4, 3)], label="diff,transposed,prepend,np-dispatch",
      dtypes=(np.float64,)),     # a float prepend makes numpy's result float64
    C("getitem", lambda x: ad.gradient(x, 0.5), lambda x: np.gradient(x, 0.5), [(6,)],
      label="gradient"),
    C("getitem", lambda x: ad.gradient(x, axis=1, edge_order=2),
      lambda x: np.gradient(x, axis=1, edge_order=2), [(3, 5)], label="gradient,edge2"),
    C("getitem", lambda x: ad.stack(ad.gradient(x[:, ::2])),
      lambda x: np.stack(np.gradient(x[:, ::2])), [(4, 6)], label="gradient,all-axes,strided"),
]
