"""Derivative checking: pyad's forward and reverse modes against finite differences.

    from pyad.transforms.testing import check_grads
    check_grads(lambda x, y: ad.sum(ad.tanh(x) * y), [x, y], order=2)

The directional derivative <u, J v> (random direction v, random output cotangent u) is
estimated by central differences in float64 with one Richardson extrapolation (steps h and
h/2, error O(h^4)) and compared with <J^T u, v> from `pyad.vjp` and <u, J v> from `pyad.jvp`. Directions, cotangents and
steps are dyadic (multiples of 1/8, powers of two), so perturbed inputs are exact and float32
round trips of dyadic inputs stay exact. Order 2 differentiates x -> <J(x)^T u, w> again.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from pyad import backend
from pyad._typing import ArrayLike
from pyad.engine._tape import Tensor

__all__ = ["check_vjp", "check_jvp", "check_transpose", "check_grads"]

_MODES = ("fwd", "rev")


def _name(f):
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def _dyadic(rng, shape, complex_=False):
    """Nonzero random entries, multiples of 1/8 (exact in float32 and float64); complex ones
    (both parts so) for complex arrays."""
    n = rng.standard_normal(shape)
    out = np.where(n < 0, -1.0, 1.0) * (1.0 + np.round(np.abs(n) * 8.0)) / 8.0
    return out + 1j * _dyadic(rng, shape) if complex_ else out


def _direction(rng, x):
    """A dyadic direction (or cotangent) for array x: complex where x is complex."""
    return _dyadic(rng, np.shape(x), np.iscomplexobj(x))


def _pair(a, b):
    """The pairing of cotangents with tangents: Re(sum(a * b)), no conjugate (autograd's
    convention for complex numbers; the dot product for real arrays)."""
    return float(np.real(np.sum(np.asarray(a) * np.asarray(b))))


def _as_wide(a, what):
    """a as a host float64 array, or complex128 for complex a (device arrays are copied to
    the host explicitly)."""
    data = a.data if isinstance(a, Tensor) else a
    arr = backend.to_host(data) if backend.is_foreign(data) else np.asarray(a)
    if arr.dtype.kind not in "fiubc":
        raise TypeError(f"{what}: expected a float array, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.complex128 if arr.dtype.kind == "c" else np.float64)


def _step(x, h0):
    """h0 scaled to the input's magnitude, rounded to a power of two."""
    scale = float(np.sqrt(np.mean(np.abs(x) ** 2))) if x.size else 1.0
    if not np.isfinite(scale) or scale < 1e-8:
        scale = 1.0
    return float(2.0 ** np.round(np.log2(h0 * scale)))


def _device_of_args(args):
    """The first argument that lives on another backend than numpy (a GPU array), or None:
    the checks then run f and pyad's transforms there, on float64 copies of the host points
    and directions (the differences themselves are host arithmetic)."""
    for a in args:
        data = a.data if isinstance(a, Tensor) else a
        if backend.is_foreign(data):
            return data
    return None


def _mover(like):
    """Host array -> like's backend (identity without like)."""
    if like is None:
        return lambda a: a
    return lambda a: backend.to_backend(
        np.asarray(a, dtype=np.complex128 if np.iscomplexobj(a) else np.float64), like)


def _directional_fd(f, xs, k, v, u, h, dev=lambda a: a):
    """Richardson-extrapolated central difference of t -> <u, f(.., x_k + t v, ..)> at 0,
    and the rounding floor of that difference."""
    x = xs[k]
    step = _step(x, h)
    noise = [0.0]

    def F(t):
        shifted = list(xs)
        shifted[k] = x + t * v
        y = _as_wide(f(*[dev(s) for s in shifted]), "output")
        noise[0] = max(noise[0], float(np.sum(np.abs(u * y))))
        return _pair(u, y)

    d1 = (F(step) - F(-step)) / (2 * step)
    d2 = (F(step / 2) - F(-step / 2)) / step
    return (4.0 * d2 - d1) / 3.0, 64 * np.finfo(np.float64).eps * noise[0] / step


def _compare(label, k, mode, order, what, ad, fd, floor, rtol, atol):
    err = abs(fd - ad)
    tol = (floor if atol is None else atol) + rtol * max(abs(fd), abs(ad))
    if not err <= tol:          # also catches NaN
        rel = err / max(abs(fd), abs(ad), 1e-300)
        raise AssertionError(
            f"check_grads: {label}, argument {k}, mode {mode}, order {order}: {what} = {ad!r} "
            f"but finite differences give {fd!r} (relative error {rel:.3g}, absolute error "
            f"{err:.3g}; tolerance rtol={rtol:g} plus atol {tol - rtol * max(abs(fd), abs(ad)):.3g})")


def check_vjp(f: Callable[..., Any], args: Sequence[ArrayLike], *, rtol: float = 1e-6,
              atol: Optional[float] = None, seed: int = 0, h: float = 1e-3, order: int = 1,
              _label: Optional[str] = None, _like: Any = None) -> None:
    """Check pyad's VJP of f at args (one argument at a time) against central differences.

    For each argument k a random direction v_k and one random output cotangent u are drawn
    (seeded), and |fd - ad| <= atol + rtol * max(|fd|, |ad|) is required with fd the
    Richardson-extrapolated central difference of x -> <u, f(x)> along v_k and
    ad = <(J^T u)_k, v_k>.

    Parameters
    ----------
    f : callable
        Maps float64 arrays (positional arguments) to one array or Tensor.
    args : sequence of array_like
        The point; converted to float64.
    rtol : float, default 1e-6
        Relative tolerance.
    atol : float, optional
        Absolute tolerance; None estimates the rounding noise of the differences.
    seed : int, default 0
        Seed of the random directions and cotangents.
    h : float, default 1e-3
        Relative finite-difference step (scaled to each input, rounded to a power of two).
    order : int, default 1
        Only labels the error message (``check_grads`` passes 2 for its second-order checks).

    Raises
    ------
    AssertionError
        Naming the function, argument, mode, order, relative error and tolerance.
    TypeError
        When an argument or the output is not a float array.

    Examples
    --------
    >>> from pyad.transforms.testing import check_vjp
    >>> check_vjp(lambda x: ad.tanh(x) * x, [np.array([0.5, -1.0])])     # passes silently
    """
    import pyad
    label = _label or _name(f)
    like = _like if _like is not None else _device_of_args(args)
    dev = _mover(like)
    xs = [_as_wide(a, f"check_vjp({label})") for a in args]
    rng = np.random.default_rng(seed)
    out, vjp_fn = pyad.vjp(f, *[dev(x) for x in xs])
    out = _as_wide(out, f"check_vjp({label}): output")
    u = _direction(rng, out)
    cts = vjp_fn(dev(u))
    for k, x in enumerate(xs):
        v = _direction(rng, x)
        ct = _as_wide(cts[k], "cotangent")
        if ct.shape != x.shape:
            raise AssertionError(
                f"check_grads: {label}, argument {k}, mode rev, order {order}: cotangent has "
                f"shape {ct.shape} but the argument has shape {x.shape}")
        fd, floor = _directional_fd(f, xs, k, v, u, h, dev)
        _compare(label, k, "rev", order, "reverse-mode <J^T u, v>", _pair(ct, v), fd,
                 floor, rtol, atol)


def check_jvp(f: Callable[..., Any], args: Sequence[ArrayLike], *, rtol: float = 1e-6,
              atol: Optional[float] = None, seed: int = 0, h: float = 1e-3, order: int = 1,
              _label: Optional[str] = None, _like: Any = None) -> None:
    """Check pyad's JVP of f at args (one argument at a time) against central differences.

    <u, J v_k> from :func:`pyad.jvp` is compared with the difference of x -> <u, f(x)>
    along a random direction v_k, for each argument k.

    Parameters
    ----------
    f : callable
        Maps float64 arrays (positional arguments) to one array or Tensor.
    args : sequence of array_like
        The point; converted to float64.
    rtol, atol, seed, h, order
        As for :func:`check_vjp`.

    Raises
    ------
    AssertionError
        Naming the function, argument, mode, order, relative error and tolerance.
    TypeError
        When an argument or the output is not a float array.

    Examples
    --------
    >>> from pyad.transforms.testing import check_jvp
    >>> check_jvp(lambda x, y: x * ad.exp(y), [np.array([1.0, 2.0]), np.array([0.5, 0.0])])
    """
    import pyad
    label = _label or _name(f)
    like = _like if _like is not None else _device_of_args(args)
    dev = _mover(like)
    xs = [_as_wide(a, f"check_jvp({label})") for a in args]
    rng = np.random.default_rng(seed)
    out = _as_wide(f(*[dev(x) for x in xs]), f"check_jvp({label}): output")
    u = _direction(rng, out)
    for k, x in enumerate(xs):
        v = _direction(rng, x)
        tangents = [np.zeros_like(y) for y in xs]
        tangents[k] = v
        _, dout = pyad.jvp(f, tuple(dev(x) for x in xs), tuple(dev(t) for t in tangents))
        dout = _as_wide(dout, "tangent")
        if dout.shape != out.shape:
            raise AssertionError(
                f"check_grads: {label}, argument {k}, mode fwd, order {order}: tangent has "
                f"shape {dout.shape} but the output has shape {out.shape}")
        fd, floor = _directional_fd(f, xs, k, v, u, h, dev)
        _compare(label, k, "fwd", order, "forward-mode <u, J v>", _pair(u, dout), fd,
                 floor, rtol, atol)


def check_transpose(f: Callable[..., Any], args: Sequence[ArrayLike], *,
                    rtol: float = 1e-12, seed: int = 0, _like: Any = None) -> None:
    """Check the transpose identity <u, J v> = <J^T u, v> between pyad's JVP and VJP.

    Both sides are computed by pyad (no finite differences), so they must agree to
    rounding: a forward rule that is not the transpose of its reverse rule fails here.

    Parameters
    ----------
    f : callable
        Maps float64 arrays (positional arguments) to one array or Tensor.
    args : sequence of array_like
        The point; converted to float64.
    rtol : float, default 1e-12
        Tolerance relative to the size of the terms of <u, J v>.
    seed : int, default 0
        Seed of the random u and v.

    Raises
    ------
    AssertionError
        When the two sides differ, with both values and the relative error.

    Examples
    --------
    >>> from pyad.transforms.testing import check_transpose
    >>> check_transpose(lambda x: ad.softmax(x), [np.array([0.5, -1.0, 2.0])])
    """
    import pyad
    label = _name(f)
    dev = _mover(_like if _like is not None else _device_of_args(args))
    xs = [_as_wide(a, f"check_transpose({label})") for a in args]
    rng = np.random.default_rng(seed)
    out, vjp_fn = pyad.vjp(f, *[dev(x) for x in xs])
    u = _direction(rng, _as_wide(out, "output"))
    vs = [_direction(rng, x) for x in xs]
    _, jv = pyad.jvp(f, tuple(dev(x) for x in xs), tuple(dev(v) for v in vs))
    left = _pair(u, _as_wide(jv, "tangent"))
    right = sum(_pair(_as_wide(c, "cotangent"), v) for c, v in zip(vjp_fn(dev(u)), vs))
    scale = max(abs(left), abs(right),
                float(np.sum(np.abs(u) * np.abs(_as_wide(jv, "tangent")))))
    if not abs(left - right) <= rtol * scale:
        raise AssertionError(
            f"check_grads: {label}: transpose identity fails, <u, J v> = {left!r} but "
            f"<J^T u, v> = {right!r} (relative error {abs(left - right) / max(scale, 1e-300):.3g}"
            f", tolerance {rtol:g})")


_CHECKS = {"rev": check_vjp, "fwd": check_jvp}


def check_grads(f: Callable[..., Any], args: Sequence[ArrayLike], order: int = 2,
                modes: Union[str, Sequence[str]] = ("fwd", "rev"), *, rtol: float = 1e-6,
                atol: Optional[float] = None, seed: int = 0) -> None:
    """Check derivatives of f up to `order` against central differences in float64.

    Directional derivatives along random (seeded) directions are compared with pyad's, in
    every requested mode. With both modes the transpose identity <u, J v> = <J^T u, v> is
    checked too. Order 2 differentiates the first-order products again in every requested
    mode: x -> <J(x)^T u, w> (reverse-over-reverse, forward-over-reverse) and
    x -> <u, J(x) w> (reverse-over-forward, forward-over-forward), so every rule's own
    derivatives are exercised. Use it to test custom primitives and new rules.

    Parameters
    ----------
    f : callable
        Maps float64 arrays (positional arguments) to one array or Tensor, written in pyad
        ops (or custom primitives).
    args : sequence of array_like
        The point; converted to float64.
    order : {1, 2}, default 2
        The highest derivative order checked.
    modes : str or sequence of {"fwd", "rev"}, default ("fwd", "rev")
        Forward mode (:func:`pyad.jvp`), reverse mode (:func:`pyad.vjp`) or both.
    rtol : float, default 1e-6
        Relative tolerance.
    atol : float, optional
        Absolute tolerance; None estimates the rounding noise of the differences.
    seed : int, default 0
        Seed of the random directions.

    Raises
    ------
    AssertionError
        At the first mismatch, naming the function, argument, order, mode and relative
        error.
    ValueError
        For an unknown mode or an order other than 1 or 2.

    Examples
    --------
    >>> x, y = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    >>> ad.check_grads(lambda x, y: ad.sum(ad.tanh(x) * y), [x, y], order=2)   # passes

    A wrong rule is caught:

    >>> def sin_with_bug(x):
    ...     return np.sin(x)
    >>> sin_with_bug = ad.custom_primitive(sin_with_bug)
    >>> sin_with_bug = sin_with_bug.defvjp(lambda g, ans, x: g * ad.sin(x))    # should be cos
    >>> ad.check_grads(sin_with_bug, [x], order=1, modes="rev")
    Traceback (most recent call last):
    ...
    AssertionError: check_grads: sin_with_bug, argument 0, mode rev, order 1: ...
    """
    if isinstance(modes, str):
        modes = (modes,)
    for m in modes:
        if m not in _MODES:
            raise ValueError(f"check_grads: unknown mode {m!r}; pyad supports {_MODES}")
    if order not in (1, 2):
        raise ValueError(f"check_grads: order must be 1 or 2, got {order!r}")
    label = _name(f)
    like = _device_of_args(args)        # a GPU array: f and pyad's transforms run there
    dev = _mover(like)
    for m in modes:
        _CHECKS[m](f, args, rtol=rtol, atol=atol, seed=seed, _label=label, _like=like)
    if "fwd" in modes and "rev" in modes:
        check_transpose(f, args, seed=seed, _like=like)
    if order == 2:
        import pyad
        xs = [_as_wide(a, f"check_grads({label})") for a in args]
        rng = np.random.default_rng(seed + 1)
        u = _direction(rng, _as_wide(f(*[dev(x) for x in xs]), "output"))
        ws = [_direction(rng, x) for x in xs]
        u, ws = dev(u), [dev(w) for w in ws]

        def vjp_dot(*ys):
            _, fn = pyad.vjp(f, *ys)
            total = None
            for ct, w in zip(fn(u), ws):
                term = pyad.sum(pyad.multiply(ct, w))
                total = term if total is None else pyad.add(total, term)
            return total

        def jvp_dot(*ys):
            _, dout = pyad.jvp(f, ys, tuple(ws))
            return pyad.sum(pyad.multiply(dout, u))

        def vjp_dot_in_cotangent(*ys_then_u):
            # the VJP as a function of its cotangent too: reverse-over-reverse through u
            # (the JVP-by-double-VJP trick) needs the rules differentiable in g
            *ys, cot = ys_then_u
            _, fn = pyad.vjp(f, *ys)
            total = None
            for ct, w in zip(fn(cot), ws):
                term = pyad.sum(pyad.multiply(ct, w))
                total = term if total is None else pyad.add(total, term)
            return total

        firsts = [("VJP", "rev", vjp_dot)] + ([("JVP", "fwd", jvp_dot)] if "fwd" in modes else [])
        for inner_name, _inner, g in firsts:
            for m in modes:
                _CHECKS[m](g, xs, rtol=rtol, atol=atol, seed=seed + 2, order=2,
                           _label=f"{inner_name} of {label}", _like=like)
        for m in modes:
            _CHECKS[m](vjp_dot_in_cotangent, xs + [_as_wide(u, "cotangent")], rtol=rtol,
                       atol=atol, seed=seed + 3, order=2, _like=like,
                       _label=f"VJP of {label} in its cotangent (last argument)")
