"""Losses with PyTorch's reductions; softmax cross-entropy is one fused C++ primitive."""
from __future__ import annotations

import numpy as np

from pyad import backend
from pyad.ops import core as ops
from pyad.engine._tape import Tensor, bind, derived
from pyad._typing import ArrayLike

__all__ = ["softmax_cross_entropy", "mse_loss", "binary_cross_entropy_with_logits",
           "SoftmaxCrossEntropy", "MSE"]

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(name, per_item, reduction):
    if reduction == "mean":
        return ops.mean(per_item)
    if reduction == "sum":
        return ops.sum(per_item)
    if reduction == "none":
        return per_item
    raise ValueError(f"pyad.{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_label_shape(name, shape, logits_shape):
    if tuple(shape) != tuple(logits_shape[:-1]):
        raise ValueError(f"pyad.{name}: labels of shape {tuple(shape)} do not match logits of "
                         f"shape {logits_shape} (expected {logits_shape[:-1]})")


def _labels(name, lab, logits_shape, check_range=True):
    """Integer class labels (a numpy array) as int64 of logits_shape[:-1], checked for range
    (check_range=False: left to the CPU's kernels, which check it themselves in one pass,
    except for uint64 labels, whose largest int64 would wrap to negative numbers)."""
    _check_label_shape(name, lab.shape, logits_shape)
    n_classes = logits_shape[-1]
    if (check_range or lab.dtype == np.uint64) and lab.size and (
            lab.min() < 0 or lab.max() >= n_classes):
        bad = lab.min() if lab.min() < 0 else lab.max()
        raise IndexError(f"pyad.{name}: label {bad} is out of range for {n_classes} classes "
                         f"(labels must lie in [0, {n_classes}))")
    return np.ascontiguousarray(lab, dtype=np.int64)     # the kernel reads a flat buffer


def _flat_labels(target, name, logits_shape, check_range=True):
    """Labels of any backend as the flat int64 host array a kernel takes, checked (see
    _labels; a derived step of a compiled program: it runs at every replay)."""
    return _labels(name, backend.to_host(target), logits_shape, check_range).reshape(-1)


def _device_labels(target, name, logits_shape):
    """Labels on the logits' device as the flat int64 array the kernel takes there, left
    there: a range check would copy them to the host, which waits for the device every step.
    The kernels make a row with a label out of range NaN instead (its loss and gradient)."""
    _check_label_shape(name, target.shape, logits_shape)
    if backend.dtype_of(target) != np.int64:
        target = backend.astype(target, np.int64)
    return backend.namespace(target).reshape(target, (-1,))


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike,
                          reduction: str = "mean") -> Tensor:
    """Cross-entropy of softmax(logits) against class labels or target probabilities.

    The classification loss: -log softmax(logits)[label] per item. Integer labels take
    one fused, numerically stable C++ pass forward and one backward (finite for logits of
    +-1e4 in float64 and +-80 in float32); the gradient is (softmax(logits) - onehot) / N.

    Parameters
    ----------
    logits : array_like or Tensor
        Unnormalised scores, classes on the last axis, shape (..., C).
    labels : array_like
        Integer class labels in [0, C) of shape ``logits.shape[:-1]``, or probability /
        one-hot targets of the logits' shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        Average or sum the per-item losses, or return them all.

    Returns
    -------
    Tensor
        A scalar, or the per-item losses of shape ``logits.shape[:-1]`` for "none".

    Raises
    ------
    ValueError
        For 0-d logits, labels of the wrong shape, or an unknown reduction.
    IndexError
        For a label outside [0, C).

    Examples
    --------
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> labels = np.array([0, 2])
    >>> ad.nn.softmax_cross_entropy(logits, labels)
    tensor(0.66907853)
    >>> ad.nn.softmax_cross_entropy(logits, labels, reduction="none")
    tensor([0.23954477, 1.09861229])
    >>> ad.nn.softmax_cross_entropy(logits, np.eye(3)[labels])      # one-hot targets
    tensor(0.66907853)
    >>> ad.grad(lambda z: ad.nn.softmax_cross_entropy(z, labels))(logits).round(4)
    array([[-0.1065,  0.0533,  0.0533],
           [ 0.1667,  0.1667, -0.3333]])
    """
    from pyad.ops import prims
    z = ops._t(logits)
    if z.dtype.kind != "f":
        z = ops.astype(z, np.float64)
    if z.ndim == 0:
        raise ValueError("pyad.softmax_cross_entropy: logits need a class axis (ndim >= 1)")
    target = labels.data if isinstance(labels, Tensor) else backend.as_array(labels)
    if backend.dtype_of(target).kind in "iub" and target.shape != z.shape:
        # integer labels are a kernel param: for numpy logits a flat int64 host array (the
        # CPU kernels check its range), an array on the logits' own device (see
        # _device_labels), or else a range-checked host array
        if (backend.is_foreign(target) and type(target) is type(z.data)
                and backend.device_of(target) == backend.device_of(z.data)):
            lab = derived(_device_labels, [target], ("softmax_cross_entropy", z.shape))
        else:
            lab = derived(_flat_labels, [target], ("softmax_cross_entropy", z.shape,
                                                   type(z.data) is not np.ndarray))
        if z.ndim == 2:         # (N, C) already: no reshapes to record and sweep
            per = bind(prims.softmax_cross_entropy, z, params=(lab,))
        else:
            flat = ops.reshape(z, (-1, z.shape[-1]))
            per = bind(prims.softmax_cross_entropy, flat, params=(lab,))
            per = ops.reshape(per, z.shape[:-1])
    else:
        if target.shape != z.shape:
            raise ValueError(f"pyad.softmax_cross_entropy: targets of shape {target.shape} "
                             f"must be integer labels of shape {z.shape[:-1]} or "
                             f"probabilities of the logits' shape {z.shape}")
        per = -ops.sum(ops.multiply(labels, ops.log_softmax(z, axis=-1)), axis=-1)
    return _reduce("softmax_cross_entropy", per, reduction)


def mse_loss(prediction: ArrayLike, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Squared error (prediction - target)^2, averaged over all elements by default.

    Parameters
    ----------
    prediction, target : array_like or Tensor
        Arrays of one shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        Average or sum the per-item losses, or return them all.

    Returns
    -------
    Tensor
        A scalar, or the elementwise squared errors for "none".

    Raises
    ------
    ValueError
        When the shapes differ (no broadcasting, to catch (N,) against (N, 1) mistakes),
        or for an unknown reduction.

    Examples
    --------
    >>> ad.nn.mse_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    tensor(2.5)
    >>> ad.nn.mse_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]), reduction="sum")
    tensor(5.)
    """
    p, t = ops._t(prediction), ops._t(target)
    if p.shape != t.shape:
        raise ValueError(f"pyad.mse_loss: prediction of shape {p.shape} and target of shape "
                         f"{t.shape} differ")
    return _reduce("mse_loss", ops.square(p - t), reduction)


def binary_cross_entropy_with_logits(logits: ArrayLike, targets: ArrayLike,
                                     reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed stably.

    -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)) = softplus(x) - t x, finite for any x.

    Parameters
    ----------
    logits : array_like or Tensor
        Unnormalised scores x.
    targets : array_like or Tensor
        Targets t (0/1 labels or probabilities) of the logits' shape.
    reduction : {"mean", "sum", "none"}, default "mean"
        Average or sum the per-item losses, or return them all.

    Returns
    -------
    Tensor
        A scalar, or the elementwise losses for "none".

    Raises
    ------
    ValueError
        When the shapes differ, or for an unknown reduction.

    Examples
    --------
    >>> ad.nn.binary_cross_entropy_with_logits(np.array([0.0, 100.0]), np.array([1.0, 1.0]),
    ...                                        reduction="none")
    tensor([0.69314718, 0.        ])
    """
    x, t = ops._t(logits), ops._t(targets)
    if x.shape != t.shape:
        raise ValueError(f"pyad.binary_cross_entropy_with_logits: logits of shape {x.shape} "
                         f"and targets of shape {t.shape} differ")
    return _reduce("binary_cross_entropy_with_logits", ops.softplus(x) - t * x, reduction)


class SoftmaxCrossEntropy:
    """softmax_cross_entropy with its labels bound, as a function of the logits alone.

    It has the closed-form Hessian at the logits that :func:`pyad.gnvp` (and
    ``optim.HessianFree``, ``curvature.gn_eigs``) use: H u = (p u - p <p, u>) / N with
    p = softmax(logits).

    Parameters
    ----------
    labels : array_like
        Integer labels (or targets), as for :func:`softmax_cross_entropy`.
    reduction : {"mean", "sum"}, default "mean"
        How the per-item losses are combined.

    Raises
    ------
    ValueError
        For a reduction other than "mean" or "sum".

    Examples
    --------
    >>> loss = ad.losses.SoftmaxCrossEntropy(np.array([0, 2]))
    >>> loss(np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    tensor(0.66907853)
    """

    def __init__(self, labels: ArrayLike, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError("SoftmaxCrossEntropy: reduction must be 'mean' or 'sum'")
        self.labels, self.reduction = labels, reduction

    def __call__(self, logits: ArrayLike) -> Tensor:
        return softmax_cross_entropy(logits, self.labels, self.reduction)

    def output_hessian_vp(self, logits: ArrayLike, u: ArrayLike) -> Tensor:
        """The Hessian of the loss at the logits times u, in closed form.

        Parameters
        ----------
        logits : array_like or Tensor
            Where the Hessian is taken, shape (..., C).
        u : array_like or Tensor
            A vector of the logits' shape.

        Returns
        -------
        Tensor
            H u = (p u - p <p, u>) / N, p = softmax(logits), N items ("mean") or 1 ("sum").

        Examples
        --------
        >>> loss = ad.losses.SoftmaxCrossEntropy(np.array([0, 2]))
        >>> loss.output_hessian_vp(np.zeros((2, 3)), np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
        tensor([[ 0.11111111, -0.05555556, -0.05555556],
                [ 0.        ,  0.        ,  0.        ]])
        """
        z = ops._t(logits)
        p = ops.softmax(z, axis=-1)
        hu = p * u - p * ops.sum(p * u, axis=-1, keepdims=True)
        n = int(np.prod(z.shape[:-1])) if self.reduction == "mean" else 1
        return hu * (1.0 / n)


class MSE:
    """mse_loss with its target bound, as a function of the prediction alone.

    It has the closed-form Hessian H u = 2 u / M (M elements, or 1 for "sum") that
    :func:`pyad.gnvp` uses.

    Parameters
    ----------
    target : array_like or Tensor
        The regression target.
    reduction : {"mean", "sum"}, default "mean"
        How the squared errors are combined.

    Raises
    ------
    ValueError
        For a reduction other than "mean" or "sum".

    Examples
    --------
    >>> loss = ad.losses.MSE(np.zeros(2))
    >>> loss(np.array([1.0, 2.0]))
    tensor(2.5)
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> ad.gnvp(lambda w: X @ w, loss, np.ones(2), np.ones(2))          # X^T (2/M) X v
    array([1., 4.])
    """

    def __init__(self, target: ArrayLike, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError("MSE: reduction must be 'mean' or 'sum'")
        self.target, self.reduction = target, reduction

    def __call__(self, prediction: ArrayLike) -> Tensor:
        return mse_loss(prediction, self.target, self.reduction)

    def output_hessian_vp(self, prediction: ArrayLike, u: ArrayLike) -> Tensor:
        """The Hessian of the loss at the prediction times u: 2 u / M.

        Parameters
        ----------
        prediction : array_like or Tensor
            Where the Hessian is taken (it is constant; only the size matters).
        u : array_like or Tensor
            A vector of the prediction's shape.

        Returns
        -------
        Tensor
            2 u / M, M the number of elements ("mean") or 1 ("sum").

        Examples
        --------
        >>> ad.losses.MSE(np.zeros(2)).output_hessian_vp(np.ones(2), np.array([1.0, 1.0]))
        tensor([1., 1.])
        """
        m = ops._t(prediction).size if self.reduction == "mean" else 1
        return ops._t(u) * (2.0 / m)
