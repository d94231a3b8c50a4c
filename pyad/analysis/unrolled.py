"""Unrolled differentiation: SGD/momentum written in pyad ops, with gradient checkpointing."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

from pyad import backend
from pyad.ops import core as ops
from pyad.engine._tape import Tensor, wrap
from pyad.ops.custom import custom_primitive
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.linalg.vectors import ravel_pytree
from pyad.transforms.core import grad, jvp, vjp
from pyad._typing import ArrayLike, PyTree

__all__ = ["checkpoint", "sgd_step", "unroll_sgd"]


# ------------------------------------------------------------------------------ backends
# Arrays stay on the backend of the arrays given (numpy, or any Array API library's): with
# numpy alone (like is None) every conversion below is the original np.asarray.
def _like(leaves):
    """The first array of another backend than numpy among leaves (Tensors read through
    .data), or None when there is none."""
    for x in leaves:
        data = x.data if isinstance(x, Tensor) else x
        if backend.is_foreign(data):
            return data
    return None


def _as_array(x, like, dtype=None, op="unrolled"):
    """Array x (or a number or list) as an array: numpy's np.asarray when like is None, else
    on like's backend (an array of another backend raises TypeError)."""
    if like is None:
        return np.asarray(x, dtype=dtype)
    return backend.asarray(x, dtype, like=like, op=op)


# ------------------------------------------------------------------------------ checkpoint
class _Segment:
    """What one call of a checkpointed function needs to recompute itself: the function, the
    input structure, and (after the forward) the unravel of its output."""

    def __init__(self, fn, in_td):
        self.fn, self.in_td = fn, in_td
        self.unravel = None
        self.cache_key = self.cache_value = None

    def flat_fn(self, *leaves):
        """fn on flat input leaves, returning its output as one flat Tensor: a primitive has a
        single output."""
        out_leaves, out_td = tree_flatten(self.fn(*tree_unflatten(self.in_td, list(leaves))))
        like = _like(out_leaves)
        flat, self.unravel = ravel_pytree(tree_unflatten(out_td, [
            x if isinstance(x, Tensor) else wrap(_as_array(x, like, op="checkpoint"))
            for x in out_leaves]))
        return flat

    def forward(self, *arrays):
        # fresh, unwatched inputs: no enclosing tape records the inside of the segment (the
        # backward pass recomputes it); not no_grad(), which would also stop the grad() calls
        # that fn may make itself
        out = self.flat_fn(*[wrap(a) for a in arrays])
        return backend.as_array(out.data)

    def cotangents(self, g, inputs):
        """All inputs' cotangents for output cotangent g, computed once per g (the sweep asks
        the primitive's rules one input at a time). The recomputation runs ad.vjp of fn on the
        input Tensors themselves, so an enclosing transform records it (grad of grad)."""
        if self.cache_key is not g:
            _, pullback = vjp(self.flat_fn, *inputs)
            self.cache_value = pullback(g)
            self.cache_key = g
        return self.cache_value

    def tangent(self, dots, inputs):
        """The output tangent for the inputs' tangents (None: zero), by ad.jvp of fn on the
        input Tensors (differentiable again by an enclosing transform)."""
        tans = [ops.zeros_like(x) if d is None else ops.astype(d, x.dtype)
                for d, x in zip(dots, inputs)]
        return jvp(self.flat_fn, tuple(inputs), tuple(tans))[1]


def checkpoint(fn: Callable[..., PyTree]) -> Callable[..., PyTree]:
    """fn with rematerialisation (jax.checkpoint / torch.utils.checkpoint): the forward pass
    runs fn without recording its inside, keeping only its inputs and output; the backward
    pass re-runs fn under ad.vjp and returns the cotangents; forward mode runs ad.jvp of fn.

    fn takes pytrees of float arrays (every differentiable quantity must be an argument: what
    fn captures from an enclosing scope gets no derivative through the checkpoint) and returns
    a pytree of arrays: numpy's or one Array API library's (such as CuPy's), where the
    recomputation runs too (numbers join them; arrays of two backends raise TypeError). The
    rules run ad.vjp / ad.jvp of fn on the Tensors they receive, so an enclosing transform
    records them: derivatives of any order work (grad of grad, hessian, hvp in every mode).
    Only the first-order backward pass saves memory: a second-order transform keeps the
    recomputation of every segment it differentiates.

    Parameters
    ----------
    fn : callable
        ``fn(*args) -> pytree of arrays``, written in pyad ops; every differentiable input
        must be an argument.

    Returns
    -------
    callable
        The checkpointed function, with fn's arguments and results (Tensors).

    Examples
    --------
    >>> block = ad.unrolled.checkpoint(lambda w, x: ad.tanh(x @ w))
    >>> g = ad.grad(lambda w: ad.sum(block(w, np.ones((1, 2)))))(np.eye(2))
    >>> np.allclose(g, ad.grad(lambda w: ad.sum(ad.tanh(np.ones((1, 2)) @ w)))(np.eye(2)))
    True
    """
    def checkpointed(*args):
        leaves, in_td = tree_flatten(tuple(args))
        seg = _Segment(fn, in_td)
        prim = custom_primitive(seg.forward, name=f"checkpoint_{getattr(fn, '__name__', 'fn')}")

        def rule(k):
            def vjp_k(g, ans, *inputs):
                return ops.astype(seg.cotangents(g, inputs)[k], inputs[k].dtype)
            return vjp_k
        prim.defvjp(*[rule(k) for k in range(len(leaves))])

        def jvp_all(dots, ans, *inputs_then_kwargs):
            # all tangents at once: one jvp of fn rather than one per input
            return seg.tangent(list(dots), inputs_then_kwargs[:-1])
        prim.prim.jvp = jvp_all
        like = _like(leaves)
        flat = prim(*[x if isinstance(x, Tensor) else _as_array(x, like, op="checkpoint")
                      for x in leaves])
        return seg.unravel(flat)
    checkpointed.__wrapped__ = fn
    return checkpointed


# ------------------------------------------------------------------------------ SGD unroll
def _tmap(fn, *trees):
    leaves = [tree_flatten(t)[0] for t in trees]
    td = tree_flatten(trees[0])[1]
    return tree_unflatten(td, [fn(*xs) for xs in zip(*leaves)])


def sgd_step(train_loss: Callable[[PyTree], Any], w: PyTree, v: PyTree, lr: ArrayLike,
             momentum: ArrayLike = 0.0, weight_decay: ArrayLike = 0.0) -> Tuple[PyTree, PyTree]:
    """One SGD step in pyad ops, torch.optim.SGD's arithmetic (dampening 0).

    d = grad L(w) + wd w;  v = mu v + d;  w = w - lr v. Written in pyad ops, so the step
    is differentiable in w, v and the hyperparameters.

    Parameters
    ----------
    train_loss : callable
        ``train_loss(w) -> scalar``.
    w : pytree
        The parameters.
    v : pytree
        The momentum buffer, shaped like w (zeros to start).
    lr : float, 0-d array or Tensor
        The learning rate.
    momentum : float, 0-d array or Tensor, default 0
        The momentum mu.
    weight_decay : float, 0-d array or Tensor, default 0
        The L2 weight decay wd.

    Returns
    -------
    (w, v)
        The new parameters and momentum buffer.

    Examples
    --------
    >>> w, v = ad.unrolled.sgd_step(lambda w: 0.5 * ad.sum(w ** 2), np.array([1.0, 2.0]),
    ...                             np.zeros(2), 0.1)
    >>> w, v
    (array([0.9, 1.8]), array([1., 2.]))
    """
    g = grad(train_loss)(w)
    if _like(tree_flatten(w)[0]) is None:
        d = _tmap(lambda gi, wi: gi + weight_decay * wi, g, w)
        v = _tmap(lambda vi, di: momentum * vi + di, v, d)
        w = _tmap(lambda wi, vi: wi - lr * vi, w, v)
        return w, v
    d = _tmap(lambda gi, wi: _add(gi, _mul(weight_decay, wi)), g, w)
    v = _tmap(lambda vi, di: _add(_mul(momentum, vi), di), v, d)
    w = _tmap(lambda wi, vi: _sub(wi, _mul(lr, vi)), w, v)
    return w, v


def _lhs(a, b):
    """a, as the left operand of a binary operator with b: a Tensor when a is a plain array
    of another backend than numpy and b a Tensor (array-api-strict's operators raise on a
    Tensor operand instead of returning NotImplemented, so Tensor's reflected one never
    runs); else a itself. numpy arrays defer to Tensor by themselves: sgd_step uses the
    plain operators for them."""
    if isinstance(b, Tensor) and not isinstance(a, Tensor) and backend.is_foreign(a):
        return wrap(a)
    return a


def _add(a, b):
    return _lhs(a, b) + b


def _sub(a, b):
    return _lhs(a, b) - b


def _mul(a, b):
    return _lhs(a, b) * b


def _steps(train_loss, w, v, lrs, momentum, weight_decay):
    """One SGD step per entry of lrs (the learning rate of that step)."""
    for lr in lrs:
        w, v = sgd_step(train_loss, w, v, lr, momentum, weight_decay)
    return w, v


def unroll_sgd(train_loss: Callable[[PyTree], Any], w0: PyTree, lr: ArrayLike, steps: int,
               momentum: ArrayLike = 0.0, weight_decay: ArrayLike = 0.0,
               checkpoint_every: Optional[int] = None) -> PyTree:
    """w_T after `steps` steps of SGD (with momentum and L2 weight decay) on train_loss from
    w0, as a differentiable function of w0, lr, momentum and weight_decay:

        hyper = ad.grad(lambda lr: val_loss(unroll_sgd(train_loss, w0, lr, 50)))(0.1)

    lr may be a scalar or a schedule of shape (steps,). w0 may be a pytree, of numpy arrays
    or of one Array API library's (such as CuPy): the unroll runs there and w_T comes back
    there (numbers join it; lr, momentum and weight_decay arrays must live there too). With
    checkpoint_every=k only every k-th state (w, v) is kept: each k-step segment is a
    checkpoint() that is recomputed in the backward pass, so memory grows like steps/k + k
    instead of steps (at the price of one more forward pass); the hypergradient is the same.
    Second derivatives (e.g. ad.hessian w.r.t. lr and weight_decay) work with and without
    checkpointing and agree; with checkpointing they keep every segment's recomputation, so
    the memory saving is a first-order one.

    Parameters
    ----------
    train_loss : callable
        ``train_loss(w) -> scalar``, in pyad ops.
    w0 : pytree
        The initial parameters.
    lr : float, array_like or Tensor
        A scalar learning rate or a schedule of shape (steps,).
    steps : int
        The number of SGD steps.
    momentum, weight_decay : float, 0-d array or Tensor, default 0
        As for :func:`sgd_step`.
    checkpoint_every : int, optional
        Keep only every k-th state and recompute the segments in the backward pass.

    Returns
    -------
    pytree
        w after ``steps`` steps, structured like w0.

    Raises
    ------
    ValueError
        For a schedule of the wrong shape or ``checkpoint_every < 1``.
    TypeError
        When the arrays given live on two backends or devices.

    Examples
    --------
    On L(w) = w^2 / 2 each step multiplies w by 1 - lr, so w_3 = (1 - lr)^3 w0 and
    d w_3 / d lr = -3 (1 - lr)^2 w0:

    >>> loss = lambda w: 0.5 * ad.sum(w ** 2)
    >>> ad.unrolled.unroll_sgd(loss, np.array([1.0]), 0.1, steps=3)
    array([0.729])
    >>> hyper = ad.grad(lambda lr: ad.sum(ad.unrolled.unroll_sgd(loss, np.array([1.0]), lr, 3)))
    >>> round(float(hyper(0.1)), 6)
    -2.43
    """
    steps = int(steps)
    # the backend of the arrays given (None: numpy only); numbers join it
    like = _like(tree_flatten(w0)[0] + [lr, momentum, weight_decay])
    lr_arr = lr.data if isinstance(lr, Tensor) else _as_array(lr, like, op="unroll_sgd")
    lr_shape = tuple(lr_arr.shape)
    schedule = len(lr_shape) == 1
    if schedule and lr_shape[0] != steps:
        raise ValueError(f"unroll_sgd: a learning-rate schedule must have shape ({steps},), "
                         f"got {lr_shape}")
    if len(lr_shape) > 1:
        raise ValueError(f"unroll_sgd: lr must be a scalar or a 1-d schedule, got shape "
                         f"{lr_shape}")
    if like is None:
        v0 = _tmap(lambda wi: ops.zeros_like(wi) if isinstance(wi, Tensor)
                   else np.zeros_like(np.asarray(wi, dtype=float)), w0)
    else:       # float64 buffers, as numpy's np.asarray(wi, dtype=float) gives
        v0 = _tmap(lambda wi: ops.zeros_like(wi) if isinstance(wi, Tensor)
                   else backend.zeros(tuple(_as_array(wi, like, op="unroll_sgd").shape),
                                      np.float64, like=like), w0)
    if checkpoint_every is None or checkpoint_every >= steps:
        lrs = [lr[t] for t in range(steps)] if schedule else [lr] * steps
        w, _ = _steps(train_loss, w0, v0, lrs, momentum, weight_decay)
        return w
    k = int(checkpoint_every)
    if k < 1:
        raise ValueError(f"unroll_sgd: checkpoint_every must be >= 1, got {checkpoint_every}")

    def segment(w, v, lrs, mu, wd):
        # lrs: this segment's learning rates (1-d; a scalar lr is broadcast to one)
        return _steps(train_loss, w, v, [lrs[t] for t in range(lrs.shape[0])], mu, wd)
    seg = checkpoint(segment)
    w, v = w0, v0
    to_float = (lambda x: x if isinstance(x, Tensor)
                else _as_array(x, like, dtype=np.float64, op="unroll_sgd"))
    mu, wd = to_float(momentum), to_float(weight_decay)
    lr_t = to_float(lr)
    for start in range(0, steps, k):
        n = min(k, steps - start)
        lrs = lr_t[start:start + n] if schedule else ops.broadcast_to(lr_t, (n,))
        w, v = seg(w, v, lrs, mu, wd)
    return w
