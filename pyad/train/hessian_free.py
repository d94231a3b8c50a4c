"""Hessian-free optimisation: damped Gauss-Newton/Newton steps by CG, Levenberg-Marquardt damping."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Tuple

import numpy as np

from pyad import backend
from pyad.engine._tape import Tensor
from pyad.transforms.products import gnvp, hvp_fn
from pyad.linalg.cg import cg
from pyad.linalg.vectors import vdot
from pyad.engine.pytree import tree_flatten, tree_unflatten
from pyad.transforms.core import value_and_grad
from pyad._typing import PyTree

__all__ = ["HessianFree"]

CURVATURES = ("gauss-newton", "hessian")


def _leaves(tree):
    """Leaves as arrays (Tensors read through .data; numbers and lists as numpy arrays, or
    on the backend of the tree's other arrays) and the structure."""
    leaves, td = tree_flatten(tree)
    arrays = [x.data if isinstance(x, Tensor) else x for x in leaves]
    like = next((a for a in arrays if type(a) is not np.ndarray and backend.is_foreign(a)),
                None)
    if like is None:
        return [np.asarray(a) for a in arrays], td
    # one backend: numbers join it, an array of another backend raises TypeError
    return [backend.asarray(a, like=like, op="HessianFree") for a in arrays], td


def _float(x):
    """A scalar (a Tensor, or a 0-d array of any backend) as a Python float."""
    x = _value(x)
    return float(x) if backend.is_foreign(x) else float(np.asarray(x))


class HessianFree:
    """Martens (2010) Hessian-free / truncated-Newton optimiser.

        hf = HessianFree(damping=1.0)                 # curvature="gauss-newton" (default)
        for it in range(20):
            params, info = hf.step(model, loss, params)

    model(params) -> z and loss(z) -> scalar (a loss object such as losses.MSE(target) or
    losses.SoftmaxCrossEntropy(labels) gives the Gauss-Newton product its closed-form output
    Hessian). params is a pytree (dict/list/tuple) of float arrays and a new pytree is
    returned; a list of Tensors is instead updated in place (and returned), like the other
    optimisers. The arrays may be numpy's or one Array API library's (such as CuPy's): every
    vector stays on their backend (only scalars reach the host) and the new parameters come
    back in their array type; arrays of two backends raise TypeError. Each step:
      1. solves (C + lambda I) d = -g by CG, C = J^T H_L J (ad.gnvp, positive semi-definite
         for convex losses) or the Hessian (ad.hvp_fn, curvature="hessian"), stopping at
         cg_max_iter iterations or relative residual cg_tol (CG may start from
         cg_warm_start * the previous direction, as Martens does with 0.95);
      2. rho = (f(w + d) - f(w)) / (q(d) - q(0)), q(d) = g^T d + 1/2 d^T C d the undamped
         quadratic model; rho < 1/4 -> lambda *= 3/2, rho > 3/4 -> lambda *= 2/3;
      3. takes d if it satisfies Armijo's condition f(w + a d) <= f(w) + 1e-2 a g^T d at a = 1;
         with backtrack=True tries a = 0.8, 0.64, ... (at most max_backtracks), otherwise
         (or when none is accepted) leaves the parameters unchanged.
    info holds loss, new_loss, rho, damping (for the next step), damping_used,
    cg_iterations, cg_residual, negative_curvature, predicted_reduction, actual_reduction,
    step_size, accepted.

    Parameters
    ----------
    damping : float, default 1.0
        The initial Levenberg-Marquardt damping lambda (>= 0), adapted every step.
    curvature : {"gauss-newton", "hessian"}, default "gauss-newton"
        The curvature matrix C ("gn", "gauss_newton" and "ggn" also name Gauss-Newton).
    cg_max_iter : int, default 50
        CG iterations per step, >= 1.
    cg_tol : float, default 1e-4
        CG's relative residual tolerance.
    backtrack : bool, default True
        Try shorter steps when the full one fails Armijo's condition.
    max_backtracks : int, default 20
        The most shortenings tried.
    cg_warm_start : float, default 0
        Start CG from this multiple (in [0, 1]) of the previous direction.
    min_damping : float, default 0
        A floor for the adapted damping.
    distributed : bool, default False
        Under ``mpiexec`` (after ``dist.init()``): the parameters are the same on every rank
        and each rank's loss is its share of the objective (e.g. its shard's loss summed and
        divided by the global sample count); the loss, gradient and curvature products are
        summed over the ranks, and every rank takes the same step.

    Raises
    ------
    ValueError
        For an unknown curvature or a hyperparameter out of range.

    Examples
    --------
    Linear least squares, where a Gauss-Newton step with little damping is exact:

    >>> X, y = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([1.0, 2.0, 2.0])
    >>> hf = ad.optim.HessianFree(damping=1e-3)
    >>> params = {"w": np.zeros(2)}
    >>> for _ in range(2):
    ...     params, info = hf.step(lambda p: X @ p["w"], ad.losses.MSE(y), params)
    >>> params["w"].round(4), info["accepted"]
    (array([1., 1.]), True)
    """

    def __init__(self, damping: float = 1.0, curvature: str = "gauss-newton",
                 cg_max_iter: int = 50, cg_tol: float = 1e-4, backtrack: bool = True,
                 max_backtracks: int = 20, cg_warm_start: float = 0.0,
                 min_damping: float = 0.0, distributed: bool = False) -> None:
        if curvature in ("gn", "gauss_newton", "ggn"):
            curvature = "gauss-newton"
        if curvature not in CURVATURES:
            raise ValueError(f"HessianFree: curvature must be one of {CURVATURES}, got "
                             f"{curvature!r}")
        for name, value in (("damping", damping), ("cg_tol", cg_tol),
                            ("min_damping", min_damping)):
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"HessianFree: {name} must be a finite number >= 0, got "
                                 f"{value!r}")
        if int(cg_max_iter) < 1:
            raise ValueError(f"HessianFree: cg_max_iter must be >= 1, got {cg_max_iter}")
        if not 0.0 <= float(cg_warm_start) <= 1.0:
            raise ValueError(f"HessianFree: cg_warm_start must be in [0, 1], got "
                             f"{cg_warm_start}")
        self.damping = float(damping)
        self.curvature = curvature
        self.cg_max_iter = int(cg_max_iter)
        self.cg_tol = float(cg_tol)
        self.backtrack = bool(backtrack)
        self.max_backtracks = int(max_backtracks)
        self.cg_warm_start = float(cg_warm_start)
        self.min_damping = float(min_damping)
        self.distributed = bool(distributed)
        self.steps = 0
        self._previous = None       # last CG solution (leaves), for warm starts

    def _curvature_product(self, model, loss, params, td):
        """v leaves -> C v leaves at params (C recorded once per step where possible)."""
        if self.curvature == "hessian":
            apply = hvp_fn(lambda p: loss(model(p)), params)
            product = lambda v: _leaves(apply(tree_unflatten(td, v)))[0]  # noqa: E731
        else:
            product = lambda v: _leaves(gnvp(model, loss, params,  # noqa: E731
                                             tree_unflatten(td, v)))[0]
        return self._summed(product)

    def _summed(self, fn):
        """fn's arrays summed over the MPI ranks when distributed (each rank passes its share
        of the objective), bitwise the same on every rank so that CG and the acceptance test
        take the same path everywhere."""
        if not self.distributed:
            return fn
        from pyad.distributed.comm import sum_over_ranks

        def summed(*args):
            out = fn(*args)
            many = isinstance(out, list)
            out = sum_over_ranks("HessianFree.step", out if many else [out])
            return out if many else out[0]
        return summed

    def step(self, model: Callable[[PyTree], Any], loss: Callable[[Any], Any],
             params: PyTree) -> Tuple[PyTree, Dict[str, Any]]:
        """One damped Newton-CG step; returns (new params, info).

        Parameters
        ----------
        model : callable
            ``model(params) -> z``.
        loss : callable
            ``loss(z) -> scalar``; a loss object with ``output_hessian_vp`` (such as
            ``losses.MSE(target)``) gives the Gauss-Newton product its closed form.
        params : pytree or list of Tensor
            The current parameters (float arrays); a list of Tensors is updated in place.

        Returns
        -------
        params : pytree
            The new parameters (the same list, updated, for a list of Tensors; unchanged
            when the step was rejected).
        info : dict
            loss, new_loss, rho, damping, damping_used, cg_iterations, cg_residual,
            negative_curvature, predicted_reduction, actual_reduction, step_size, accepted.

        Examples
        --------
        >>> X, y = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 2.0])
        >>> w = ad.tensor(np.zeros(2), requires_grad=True)
        >>> hf = ad.optim.HessianFree(damping=0.0)
        >>> _, info = hf.step(lambda p: X @ p[0], ad.losses.MSE(y), [w])   # in place
        >>> w, info["accepted"], info["loss"]
        (tensor([1., 1.], requires_grad=True), True, 2.5)
        """
        in_place = isinstance(params, list) and params and all(isinstance(p, Tensor)
                                                               for p in params)
        p_leaves, td = _leaves(params)
        p_tree = tree_unflatten(td, p_leaves)

        value = self._summed(lambda leaves: np.float64(_float(loss(model(tree_unflatten(
            td, leaves))))))

        def objective(leaves):
            return float(value(leaves))

        f0, g_tree = value_and_grad(lambda p: loss(model(p)))(p_tree)
        f0_g = self._summed(lambda: [np.float64(_float(f0))] + _leaves(g_tree)[0])()
        f0, g = float(f0_g[0]), f0_g[1:]
        curv = self._curvature_product(model, loss, p_tree, td)
        lam = self.damping

        def damped(v_tree):
            v = _leaves(v_tree)[0]
            return tree_unflatten(td, [cv + lam * vi for cv, vi in zip(curv(v), v)])

        x0 = None
        if self._previous is not None and self.cg_warm_start > 0 and len(self._previous) == len(g):
            x0 = tree_unflatten(td, [self.cg_warm_start * d for d in self._previous])
        d_tree, cg_info = cg(damped, tree_unflatten(td, [-gi for gi in g]), x0=x0,
                             tol=self.cg_tol, max_iter=self.cg_max_iter)
        d = _leaves(d_tree)[0]
        self._previous = d

        gd = float(vdot(g, d))
        predicted = gd + 0.5 * float(vdot(d, curv(d)))            # q(d) - q(0), undamped model
        f1 = objective([p + di for p, di in zip(p_leaves, d)])
        actual = f1 - f0
        rho = actual / predicted if predicted < 0 else -math.inf
        if not math.isfinite(f1):
            rho = -math.inf
        if rho < 0.25:
            self.damping = lam * 1.5
        elif rho > 0.75:
            self.damping = max(lam * (2.0 / 3.0), self.min_damping)

        # Armijo acceptance (with optional backtracking along d)
        alpha, f_new, accepted = 1.0, f1, False
        tries = self.max_backtracks if self.backtrack else 0
        for _ in range(tries + 1):
            if math.isfinite(f_new) and f_new <= f0 + 1e-2 * alpha * gd:
                accepted = True
                break
            alpha *= 0.8
            f_new = objective([p + alpha * di for p, di in zip(p_leaves, d)])
        if accepted:
            new_leaves = [p + alpha * di for p, di in zip(p_leaves, d)]
        else:
            new_leaves, alpha, f_new = p_leaves, 0.0, f0
        self.steps += 1
        info = {"loss": f0, "new_loss": f_new, "rho": rho, "damping": self.damping,
                "damping_used": lam, "cg_iterations": cg_info["iterations"],
                "cg_residual": cg_info["residual"],
                "negative_curvature": cg_info["negative_curvature"],
                "predicted_reduction": predicted, "actual_reduction": actual,
                "step_size": alpha, "accepted": accepted}
        if in_place:
            for p, new in zip(params, new_leaves):
                p.data[...] = new
            return params, info
        return tree_unflatten(td, [backend.as_array(x) for x in new_leaves]), info

    def state_dict(self) -> Dict[str, Any]:
        """Hyperparameters and the adapted damping (what ad.save writes).

        Returns
        -------
        dict
            ``{"type": "HessianFree", "damping": float, "steps": int, "hyper": {...}}``.

        Examples
        --------
        >>> ad.optim.HessianFree(damping=0.5).state_dict()["damping"]
        0.5
        """
        return {"type": "HessianFree", "damping": self.damping, "steps": self.steps,
                "hyper": {"curvature": self.curvature, "cg_max_iter": self.cg_max_iter,
                          "cg_tol": self.cg_tol, "backtrack": self.backtrack,
                          "max_backtracks": self.max_backtracks,
                          "cg_warm_start": self.cg_warm_start,
                          "min_damping": self.min_damping}}

    def load_state_dict(self, sd: Dict[str, Any]) -> HessianFree:
        """Restore the hyperparameters and the adapted damping saved by :meth:`state_dict`.

        Parameters
        ----------
        sd : dict
            A HessianFree state dict.

        Returns
        -------
        HessianFree
            self (the CG warm start is reset).

        Raises
        ------
        ValueError
            When ``sd`` is another optimizer's.

        Examples
        --------
        >>> saved = ad.optim.HessianFree(damping=0.5).state_dict()
        >>> hf = ad.optim.HessianFree().load_state_dict(saved)
        >>> hf.damping
        0.5
        """
        if sd.get("type") != "HessianFree":
            raise ValueError(f"load_state_dict: state of a {sd.get('type')} optimizer given to "
                             f"HessianFree")
        for k, v in sd["hyper"].items():
            setattr(self, k, v)
        self.damping, self.steps = float(sd["damping"]), int(sd["steps"])
        self._previous = None
        return self


def _value(x):
    return x.data if isinstance(x, Tensor) else x
