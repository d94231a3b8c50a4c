"""Losses with PyTorch's reductions; softmax cross-entropy is one fused C++ primitive."""
import numpy as np

from pyad import ops
from pyad._tape import Tensor, bind

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


def _labels(name, labels, logits):
    """Integer class labels as an int64 array of logits.shape[:-1], checked for range."""
    lab = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if lab.shape != logits.shape[:-1]:
        raise ValueError(f"pyad.{name}: labels of shape {lab.shape} do not match logits of "
                         f"shape {logits.shape} (expected {logits.shape[:-1]})")
    n_classes = logits.shape[-1]
    if lab.size and (lab.min() < 0 or lab.max() >= n_classes):
        bad = lab.min() if lab.min() < 0 else lab.max()
        raise IndexError(f"pyad.{name}: label {bad} is out of range for {n_classes} classes "
                         f"(labels must lie in [0, {n_classes}))")
    return lab.astype(np.int64, copy=False)


def softmax_cross_entropy(logits, labels, reduction="mean"):
    """Cross-entropy of softmax(logits) (classes on the last axis) against integer labels
    (shape logits.shape[:-1]) or probability / one-hot targets (logits' shape).

    Integer labels take one fused, numerically stable C++ pass forward and one backward
    (finite for logits of +-1e4 in float64 and +-80 in float32)."""
    from pyad import prims
    z = ops._t(logits)
    if z.data.dtype.kind != "f":
        z = ops.astype(z, np.float64)
    if z.ndim == 0:
        raise ValueError("pyad.softmax_cross_entropy: logits need a class axis (ndim >= 1)")
    target = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if target.dtype.kind in "iub" and target.shape != z.shape:
        lab = _labels("softmax_cross_entropy", target, z)
        flat = ops.reshape(z, (-1, z.shape[-1]))
        per = bind(prims.softmax_cross_entropy, flat, params=(lab.reshape(-1),))
        per = ops.reshape(per, z.shape[:-1])
    else:
        if target.shape != z.shape:
            raise ValueError(f"pyad.softmax_cross_entropy: targets of shape {target.shape} "
                             f"must be integer labels of shape {z.shape[:-1]} or "
                             f"probabilities of the logits' shape {z.shape}")
        per = -ops.sum(ops.multiply(labels, ops.log_softmax(z, axis=-1)), axis=-1)
    return _reduce("softmax_cross_entropy", per, reduction)


def mse_loss(prediction, target, reduction="mean"):
    """Squared error (prediction - target)^2, averaged over all elements by default."""
    p, t = ops._t(prediction), ops._t(target)
    if p.shape != t.shape:
        raise ValueError(f"pyad.mse_loss: prediction of shape {p.shape} and target of shape "
                         f"{t.shape} differ")
    return _reduce("mse_loss", ops.square(p - t), reduction)


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """-t log sigmoid(x) - (1-t) log(1 - sigmoid(x)) = softplus(x) - t x, stable for any x."""
    x, t = ops._t(logits), ops._t(targets)
    if x.shape != t.shape:
        raise ValueError(f"pyad.binary_cross_entropy_with_logits: logits of shape {x.shape} "
                         f"and targets of shape {t.shape} differ")
    return _reduce("binary_cross_entropy_with_logits", ops.softplus(x) - t * x, reduction)


class SoftmaxCrossEntropy:
    """softmax_cross_entropy with its labels bound, as a function of the logits alone, with
    the closed-form Hessian at the logits that ad.gnvp uses: H u = (p*u - p <p, u>) / N."""

    def __init__(self, labels, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError("SoftmaxCrossEntropy: reduction must be 'mean' or 'sum'")
        self.labels, self.reduction = labels, reduction

    def __call__(self, logits):
        return softmax_cross_entropy(logits, self.labels, self.reduction)

    def output_hessian_vp(self, logits, u):
        z = ops._t(logits)
        p = ops.softmax(z, axis=-1)
        hu = p * u - p * ops.sum(p * u, axis=-1, keepdims=True)
        n = int(np.prod(z.shape[:-1])) if self.reduction == "mean" else 1
        return hu * (1.0 / n)


class MSE:
    """mse_loss with its target bound; closed-form Hessian H u = 2 u / M (M elements)."""

    def __init__(self, target, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError("MSE: reduction must be 'mean' or 'sum'")
        self.target, self.reduction = target, reduction

    def __call__(self, prediction):
        return mse_loss(prediction, self.target, self.reduction)

    def output_hessian_vp(self, prediction, u):
        m = ops._t(prediction).size if self.reduction == "mean" else 1
        return ops._t(u) * (2.0 / m)
