"""Gradient checking: compare pyad's reverse-mode derivatives with finite differences.

    from pyad.testing import check_grads
    check_grads(lambda x, y: ad.sum(ad.tanh(x) * y), [x, y], order=2)

The directional derivative <u, J v> (random direction v, random output cotangent u) is
estimated by central differences in float64 with one Richardson extrapolation (steps h and
h/2, error O(h^4)) and compared with <J^T u, v> from `pyad.vjp`. Directions, cotangents and
steps are dyadic (multiples of 1/8, powers of two), so perturbed inputs are exact and float32
round trips of dyadic inputs stay exact. Order 2 differentiates x -> <J(x)^T u, w> again.
"""
import numpy as np

__all__ = ["check_vjp", "check_grads"]

_MODES = ("rev",)


def _name(f):
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)


def _dyadic(rng, shape):
    """Nonzero random entries, multiples of 1/8 (exact in float32 and float64)."""
    n = rng.standard_normal(shape)
    return np.where(n < 0, -1.0, 1.0) * (1.0 + np.round(np.abs(n) * 8.0)) / 8.0


def _as_float64(a, what):
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what}: expected a float array, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)


def _step(x, h0):
    """h0 scaled to the input's magnitude, rounded to a power of two."""
    scale = float(np.sqrt(np.mean(x * x))) if x.size else 1.0
    if not np.isfinite(scale) or scale < 1e-8:
        scale = 1.0
    return float(2.0 ** np.round(np.log2(h0 * scale)))


def check_vjp(f, args, *, rtol=1e-6, atol=None, seed=0, h=1e-3, order=1, _label=None):
    """Check pyad's VJP of f at args (one argument at a time) against central differences.

    f maps float64 arrays (positional args) to one array or Tensor. For each argument k a
    random direction v_k and one random output cotangent u are drawn (seeded), and
    |fd - ad| <= atol + rtol * max(|fd|, |ad|) is required with fd the Richardson-extrapolated
    central difference of x -> <u, f(x)> along v_k and ad = <(J^T u)_k, v_k>. atol=None
    estimates the rounding noise of the differences. Raises AssertionError naming the
    function, argument, mode, order, relative error and tolerance.
    """
    import pyad
    label = _label or _name(f)
    xs = [_as_float64(a, f"check_vjp({label})") for a in args]
    rng = np.random.default_rng(seed)
    out, vjp_fn = pyad.vjp(f, *xs)
    out = _as_float64(out, f"check_vjp({label}): output")
    u = _dyadic(rng, out.shape)
    cts = vjp_fn(u)
    for k, x in enumerate(xs):
        v = _dyadic(rng, x.shape)
        ct = _as_float64(cts[k], "cotangent")
        if ct.shape != x.shape:
            raise AssertionError(
                f"check_vjp: {label}, argument {k}, mode rev, order {order}: cotangent has "
                f"shape {ct.shape} but the argument has shape {x.shape}")
        ad = float(np.vdot(ct, v))
        step = _step(x, h)
        noise = [0.0]

        def F(t):
            shifted = list(xs)
            shifted[k] = x + t * v
            y = _as_float64(f(*shifted), "output")
            noise[0] = max(noise[0], float(np.sum(np.abs(u * y))))
            return float(np.vdot(u, y))

        d1 = (F(step) - F(-step)) / (2 * step)
        d2 = (F(step / 2) - F(-step / 2)) / step
        fd = (4.0 * d2 - d1) / 3.0
        floor = 64 * np.finfo(np.float64).eps * noise[0] / step if atol is None else atol
        err = abs(fd - ad)
        tol = floor + rtol * max(abs(fd), abs(ad))
        if not err <= tol:          # also catches NaN
            rel = err / max(abs(fd), abs(ad), 1e-300)
            raise AssertionError(
                f"check_vjp: {label}, argument {k}, mode rev, order {order}: reverse-mode "
                f"<J^T u, v> = {ad!r} but finite differences give {fd!r} (relative error "
                f"{rel:.3g}, absolute error {err:.3g}; tolerance rtol={rtol:g} plus atol "
                f"{floor:.3g})")


def check_grads(f, args, order=1, modes=("rev",), *, rtol=1e-6, atol=None, seed=0):
    """Check derivatives of f up to `order` (1 or 2) in the given modes (only "rev" exists).

    Order 2 checks the VJP of the VJP: x -> sum_k <(J(x)^T u)_k, w_k> is differentiated by
    reverse mode (through every VJP rule) and compared with central differences of the
    first-order VJP.
    """
    if isinstance(modes, str):
        modes = (modes,)
    for m in modes:
        if m not in _MODES:
            raise ValueError(f"check_grads: unknown mode {m!r}; pyad supports {_MODES}")
    if order not in (1, 2):
        raise ValueError(f"check_grads: order must be 1 or 2, got {order!r}")
    label = _name(f)
    check_vjp(f, args, rtol=rtol, atol=atol, seed=seed, _label=label)
    if order == 2:
        import pyad
        xs = [_as_float64(a, f"check_grads({label})") for a in args]
        rng = np.random.default_rng(seed + 1)
        u = _dyadic(rng, np.shape(_as_float64(f(*xs), "output")))
        ws = [_dyadic(rng, x.shape) for x in xs]

        def vjp_dot(*ys):
            _, fn = pyad.vjp(f, *ys)
            total = None
            for ct, w in zip(fn(u), ws):
                term = pyad.sum(pyad.multiply(ct, w))
                total = term if total is None else pyad.add(total, term)
            return total

        check_vjp(vjp_dot, xs, rtol=rtol, atol=atol, seed=seed + 2, order=2,
                  _label=f"VJP of {label}")
