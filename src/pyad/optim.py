"""Optimizers with torch.optim's arithmetic and defaults, each update one fused C++ pass."""
import math

import numpy as np

from pyad import _C
from pyad._tape import Tensor

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "HessianFree", "StepLR",
           "CosineAnnealingLR", "LinearWarmup", "LambdaLR"]


def _check(name, value, low, high=math.inf, low_open=False, high_open=True):
    """A finite hyperparameter inside [low, high) (or the given open/closed ends)."""
    v = float(value)
    ok = math.isfinite(v) and (v > low if low_open else v >= low) and (
        v < high if high_open else v <= high)
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"invalid {name}: {value!r}; it must be a finite number in "
                         f"{lo}{low}, {high}{hi}")
    return v


class Optimizer:
    """Base class: the parameter list, zero_grad(), step() and state_dict() round trips."""
    _state_names = ()

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: parameter {i} is a "
                                f"{type(p).__name__}{'' if not isinstance(p, Tensor) else ' without requires_grad'}; "
                                f"pass model.parameters() (Tensors with requires_grad=True)")
            if not p.data.flags.c_contiguous or not p.data.flags.writeable:
                raise ValueError(f"{type(self).__name__}: parameter {i} must be a writeable "
                                 f"C-contiguous array (it is updated in place)")
        self.lr = _check("learning rate", lr, 0.0, low_open=True)
        self.state = [{} for _ in self.params]

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        # schedules may anneal to exactly 0; the constructor insists on lr > 0
        self._lr = _check("learning rate", value, 0.0)

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = np.asarray(p.grad.data if isinstance(p.grad, Tensor) else p.grad,
                           dtype=p.data.dtype, order="C")
            if g.shape != p.data.shape:
                raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for a "
                                 f"parameter of shape {p.data.shape}")
            if not state:
                state.update({name: np.zeros_like(p.data) for name in self._buffers()})
                state["step"] = 0
            state["step"] += 1
            self._update(p.data, g, state)

    def _buffers(self):
        return self._state_names

    def hyperparameters(self):
        return {"lr": self.lr}

    def state_dict(self):
        """Nested dict of hyperparameters and per-parameter state (arrays copied): what
        ad.save writes."""
        return {"type": type(self).__name__, "hyper": self.hyperparameters(),
                "state": {str(i): {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                   for k, v in s.items()} for i, s in enumerate(self.state)}}

    def load_state_dict(self, sd):
        if sd.get("type") != type(self).__name__:
            raise ValueError(f"load_state_dict: state of a {sd.get('type')} optimizer given to "
                             f"{type(self).__name__}")
        states = sd["state"]
        if len(states) != len(self.params):
            raise ValueError(f"load_state_dict: state for {len(states)} parameters, optimizer "
                             f"has {len(self.params)}")
        for k, v in sd["hyper"].items():
            setattr(self, k, v)
        for i, p in enumerate(self.params):
            s = states[str(i)]
            self.state[i] = {k: (np.array(v, dtype=p.data.dtype) if k != "step" else int(v))
                             for k, v in s.items()}
            for k, v in self.state[i].items():
                if k != "step" and v.shape != p.data.shape:
                    raise ValueError(f"load_state_dict: state '{k}' of parameter {i} has shape "
                                     f"{v.shape}, the parameter {p.data.shape}")
        return self


class SGD(Optimizer):
    """torch.optim.SGD: p -= lr * d, d = g + wd p, with (Nesterov) momentum buffers."""

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _check("momentum", momentum, 0.0)
        self.dampening = _check("dampening", dampening, 0.0, 1.0, high_open=False)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")

    def _buffers(self):
        return ("momentum_buffer",) if self.momentum > 0 else ()

    def hyperparameters(self):
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def _update(self, p, g, state):
        _C.sgd_update(p, g, state.get("momentum_buffer"), self.lr, self.momentum,
                      self.dampening, self.nesterov, self.weight_decay, state["step"] == 1)


class RMSprop(Optimizer):
    """torch.optim.RMSprop (defaults lr=0.01, alpha=0.99, eps=1e-8)."""

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, lr)
        self.alpha = _check("alpha", alpha, 0.0, 1.0)
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.momentum = _check("momentum", momentum, 0.0)
        self.centered = bool(centered)

    def _buffers(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("momentum_buffer",) if self.momentum > 0 else ()))

    def hyperparameters(self):
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps,
                "weight_decay": self.weight_decay, "momentum": self.momentum,
                "centered": self.centered}

    def _update(self, p, g, state):
        _C.rmsprop_update(p, g, state["square_avg"], state.get("grad_avg"),
                          state.get("momentum_buffer"), self.lr, self.alpha, self.eps,
                          self.weight_decay, self.momentum)


class Adam(Optimizer):
    """torch.optim.Adam (defaults lr=1e-3, betas=(0.9, 0.999), eps=1e-8); weight_decay adds
    wd * p to the gradient (L2), amsgrad keeps the running max of v."""
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"invalid betas: {betas!r}; give two numbers in [0, 1)")
        self.betas = (_check("beta1", betas[0], 0.0, 1.0), _check("beta2", betas[1], 0.0, 1.0))
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.amsgrad = bool(amsgrad)

    def _buffers(self):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def hyperparameters(self):
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad}

    def _update(self, p, g, state):
        _C.adam_update(p, g, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
                       self.lr, self.betas[0], self.betas[1], self.eps, self.weight_decay,
                       float(state["step"]), self._decoupled)


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay p *= 1 - lr * wd (default 0.01)."""
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# ----------------------------------------------------------------------- learning-rate schedules
class LambdaLR:
    """lr = base_lr * factor(epoch); call step() once per epoch (or per step)."""

    def __init__(self, optimizer, factor):
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.factor = factor
        self.epoch = 0
        self.optimizer.lr = self.base_lr * factor(0)

    def step(self):
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.factor(self.epoch)
        return self.optimizer.lr

    def state_dict(self):
        return {"epoch": self.epoch, "base_lr": self.base_lr}

    def load_state_dict(self, sd):
        self.epoch, self.base_lr = int(sd["epoch"]), float(sd["base_lr"])
        self.optimizer.lr = self.base_lr * self.factor(self.epoch)


class StepLR(LambdaLR):
    """torch's StepLR: lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        super().__init__(optimizer, lambda e: gamma ** (e // int(step_size)))


class CosineAnnealingLR(LambdaLR):
    """torch's CosineAnnealingLR (closed form): eta_min + (base - eta_min)(1 + cos(pi e/T))/2,
    held at eta_min after T_max."""

    def __init__(self, optimizer, T_max, eta_min=0.0):
        if int(T_max) < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        base = optimizer.lr
        floor = eta_min / base

        def factor(e):
            e = min(e, T_max)
            return floor + (1 - floor) * (1 + math.cos(math.pi * e / T_max)) / 2
        super().__init__(optimizer, factor)


class LinearWarmup(LambdaLR):
    """torch's LinearLR warm-up: the factor rises linearly from start_factor to 1 over
    warmup_steps, then stays at 1 (compose with another schedule via `then`)."""

    def __init__(self, optimizer, warmup_steps, start_factor=0.1, then=None):
        if int(warmup_steps) < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be >= 1, got {warmup_steps}")
        after = then or (lambda e: 1.0)

        def factor(e):
            if e < warmup_steps:
                return start_factor + (1 - start_factor) * e / warmup_steps
            return after(e - warmup_steps)
        super().__init__(optimizer, factor)


from pyad.hessian_free import HessianFree  # noqa: E402  (it builds on ad.gnvp / ad.hvp)
