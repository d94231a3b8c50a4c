"""Optimizers with torch.optim's arithmetic and defaults, each update one fused in-place pass
on the parameter's backend (C++ on the CPU)."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, Optional, Sequence

import numpy as np

from pyad import backend
from pyad.backend import optimizer_step_scalars, optimizer_update, optimizer_update_many
from pyad.engine._tape import Tensor, host_step, register_graph_step

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


def _own_buffer(p):
    """Give p data the fused kernels can update in place: a transposed, strided, read-only,
    misaligned or byte-swapped array is replaced, once, by a writeable C-contiguous copy of
    the same values (like torch's .contiguous()), so the update shows through the Tensor
    p (an alias of its former array no longer follows it)."""
    a = p.data
    if not isinstance(a, np.ndarray):
        return          # other backends' updates write through the array's own indexing
    f = a.flags
    if not (f.c_contiguous and f.writeable and f.aligned and a.dtype.isnative):
        p.data = np.array(a, dtype=a.dtype.newbyteorder("="), order="C", copy=True)


def _host_copy(a):
    """A numpy copy of array a, whatever its backend (one copy: to_host copies already)."""
    return np.array(a) if isinstance(a, np.ndarray) else backend.to_host(a)


def _state_buffer(v, like):
    """A saved state buffer (an array of any backend or device, or array_like) as a new
    C-contiguous array of like's dtype on like's backend and device: the state lives with
    its parameter, wherever the state dict was made or loaded."""
    dtype = backend.dtype_of(like)
    v = v.data if isinstance(v, Tensor) else v
    if backend.is_foreign(v):
        if backend.is_foreign(like) and type(v) is type(like) \
                and backend.device_of(v) == backend.device_of(like):
            return backend.astype(v, dtype)          # already there: a copy in like's dtype
        v = backend.to_host(v)                        # an explicit copy through the host
    return backend.to_backend(np.array(v, dtype=dtype, order="C"), like)


def clear_grads(params):
    """Set every tensor's .grad to None (zero_grad's work; one replayed step under ad.compile)."""
    for p in params:
        p.grad = None


class _ClearGraphStep:
    """zero_grad under ad.compile's CUDA graph (see _tape.register_graph_step): no kernels;
    at each launch the .grads are cleared, and a later hand-out in the program may assign."""

    def __init__(self, params):
        self.params = params

    def check(self, ctx):
        ctx.setdefault("cleared", set()).update(id(p) for p in self.params)
        grads = ctx.get("grads")
        for p in self.params if grads else ():
            grads.pop(id(p), None)
        return True

    def apply(self):
        clear_grads(self.params)

    def undo(self):
        pass        # the plain replay clears them again


register_graph_step(clear_grads, _ClearGraphStep)


class _UpdateGraphStep:
    """Optimizer.step under ad.compile's CUDA graph (see _tape.register_graph_step): the
    captured update kernels are the step's work while the hyperparameters, each parameter's
    array, its gradient's array and its state are the captured ones; each launch counts one
    step per updated parameter.

    Where the kernel's numbers change with the step count (Adam's bias corrections, see
    backend.optimizer_step_scalars), the captured kernels read them from a device array,
    a row per updated parameter (one array per dtype), which each launch first refreshes
    with one copy from the host (prepare)."""

    def __init__(self, opt):
        self.opt, self.hyper = opt, opt.hyperparameters()
        self.entries = [(p, None if p.grad is None else p.grad.data, p.data, state,
                         tuple(state.get(k) for k in opt._buffers()))
                        for p, state in zip(opt.params, opt.state)]
        # id(parameter array) -> (its dtype's table, its row); a table: [the device array
        # (made at its first row's kernel), the rows' states, the host rows to write or None]
        self.rows, tables = {}, {}
        self.scalars = None
        updated = [(data, state) for _, g, data, state, _ in self.entries if g is not None]
        if updated:
            self.scalars = optimizer_step_scalars(opt._kernel, updated[0][0])
        for data, state in updated if self.scalars else ():
            table = tables.setdefault(data.dtype, [None, [], None])
            self.rows[id(data)] = (table, len(table[1]))
            table[1].append(state)
        self.tables = list(tables.values())
        opt._capture_form = self

    def scalars_of(self, data, hyper):
        """Under the capture: the device row from which parameter array data's kernel reads
        its step's numbers, which are `hyper`'s (written before the capture's launch); None
        for a kernel without such numbers."""
        if self.scalars is None or id(data) not in self.rows:
            return None
        table, row = self.rows[id(data)]
        values = self.scalars(data.dtype, *hyper)
        if table[0] is None:        # empty: no kernel, nothing the capture records
            table[0] = backend.empty_outside_graph((len(table[1]), len(values)), data.dtype,
                                                   like=data)
            table[2] = np.zeros(table[0].shape, data.dtype)
        table[2][row] = values
        return table[0][row]

    def prepare(self):
        """Before each launch: each row's numbers for the step the launch makes (at the
        capture's own launch, those its kernels were given)."""
        self.opt._capture_form = None
        for table in self.tables:
            device, states, pending = table
            if device is None:
                continue
            if pending is None:
                numbers = {}
                for state in states:
                    step = state["step"] + 1
                    if step not in numbers:
                        numbers[step] = self.scalars(device.dtype, *self.opt._kernel_hyper(step))
                pending = np.array([numbers[state["step"] + 1] for state in states],
                                   device.dtype)
            backend.set_from_host(device, pending)
            table[2] = None

    def check(self, ctx):
        opt = self.opt
        if opt.hyperparameters() != self.hyper:
            return False
        grads, cleared = ctx.get("grads", {}), ctx.get("cleared", ())
        for (p, g, data, state, buffers), now in zip(self.entries, opt.state):
            if id(p) in grads:
                grad = grads[id(p)]
            else:
                grad = None if id(p) in cleared or p.grad is None else p.grad.data
            if grad is not g or p.data is not data or now is not state or any(
                    state.get(k) is not b for k, b in zip(opt._buffers(), buffers)):
                return False
        return True

    def apply(self):
        for _, g, _, state, _ in self.entries:
            if g is not None:
                state["step"] += 1

    def undo(self):
        self.opt._capture_form = None
        for _, g, _, state, _ in self.entries:
            if g is not None:
                state["step"] -= 1


class Optimizer:
    """Base class of the optimizers: the parameter list, zero_grad(), step() and
    state_dict() round trips.

    A subclass names its update rule (``_kernel``, the backend's fused pass, with the state
    buffers it takes, ``_kernel_states``, and its numbers, ``_kernel_hyper``) or overrides
    ``_update`` with its own, and names its state buffers. The learning rate ``lr`` may be
    changed at any time (schedules do).

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to update in place: ``model.parameters()`` (Tensors with
        ``requires_grad=True``).
    lr : float
        The learning rate, >= 0.

    Raises
    ------
    ValueError
        For an empty parameter list or a hyperparameter out of range (the message gives
        the valid range).
    TypeError
        When a parameter is not a Tensor with ``requires_grad=True``.

    Examples
    --------
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = ad.optim.SGD([w], lr=0.1)          # any subclass: SGD, Adam, ...
    >>> opt.zero_grad()
    >>> ad.sum(w * w).backward()                 # gradient 2 w
    >>> opt.step()
    >>> w
    tensor([0.8, 1.6], requires_grad=True)
    """
    _state_names = ()
    _kernel = None          # the backends' fused update (optimizer_update) _update calls
    _kernel_states = ()     # the state buffers it takes, in its order (None where absent)
    # whether the update's kernels are the same at every step (CUDA graphs): each class says
    # so for itself, a subclass does not inherit it
    _graph_safe = False
    _capture_form = None    # the _UpdateGraphStep whose CUDA graph this step is captured into

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{type(self).__name__}: parameter {i} is a "
                                f"{type(p).__name__}{'' if not isinstance(p, Tensor) else ' without requires_grad'}; "
                                f"pass model.parameters() (Tensors with requires_grad=True)")
            _own_buffer(p)
        self.lr = _check("learning rate", lr, 0.0)     # 0 is allowed, as in torch.optim
        self.state = [{} for _ in self.params]
        self._owned = [p.data for p in self.params]    # arrays _own_buffer has passed

    @property
    def lr(self) -> float:
        """The learning rate (settable; >= 0, checked)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        # 0 is a valid rate (warm-up schedules start there, annealing ends there); < 0 is not
        self._lr = _check("learning rate", value, 0.0)

    def zero_grad(self) -> None:
        """Reset every parameter's ``.grad`` to None (``backward()`` accumulates into it).

        Examples
        --------
        >>> w = ad.tensor([1.0], requires_grad=True)
        >>> opt = ad.optim.SGD([w], lr=0.1)
        >>> ad.sum(w * w).backward()
        >>> opt.zero_grad()
        >>> w.grad is None
        True
        """
        host_step(clear_grads, self.params)     # ad.compile replays it as one step

    def step(self) -> None:
        """Update every parameter that has a gradient, in place (one fused kernel each).

        Parameters whose ``.grad`` is None are skipped; state buffers (momentum, moments)
        are created on a parameter's first step.

        Raises
        ------
        ValueError
            When a gradient's shape differs from its parameter's.

        Examples
        --------
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = ad.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.zero_grad()
        ...     ad.sum(w * w).backward()
        ...     opt.step()
        >>> w
        tensor([0.46, 0.92], requires_grad=True)
        """
        host_step(self._step)      # ad.compile replays the whole update as one step

    def _step(self):
        if self._step_all():
            return
        owned = self._owned
        for i, (p, state) in enumerate(zip(self.params, self.state)):
            grad = p.grad
            if grad is None:
                continue
            g = grad.data if type(grad) is Tensor else grad
            data = p.data
            if type(data) is np.ndarray:
                g = np.asarray(g, dtype=data.dtype, order="C")
            else:
                g = backend.asarray(g, backend.dtype_of(data), like=data,
                                    op=f"{type(self).__name__}.step")
            if g.shape != data.shape:
                raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for a "
                                 f"parameter of shape {data.shape}")
            if owned[i] is not data:        # a new array: checked once (flags cost ~0.3 us)
                _own_buffer(p)
                owned[i] = p.data
            if not state:
                state.update({name: backend.zeros(p.data.shape, p.data.dtype, p.data)
                              for name in self._buffers()})
                state["step"] = 0
            state["step"] += 1
            self._update(p.data, g, state)

    def _step_all(self):
        """The step as one call of the backend's update over all parameters (per-parameter
        calls cost ~1 us each through Python, a fifth of a small MLP's step), when every
        parameter has a gradient, its array is the one _own_buffer passed and its state
        exists with the others' step count; False, nothing changed, otherwise (the first
        step, a parameter without a gradient, a gradient the kernel would convert: those go
        parameter by parameter, with the same arithmetic)."""
        if self._kernel is None or type(self)._update is not Optimizer._update or \
                self._capture_form is not None:
            return False        # a subclass's own rule; a capture's kernels, one by one
        many = optimizer_update_many(self._kernel, self._owned[0])
        first = self.state[0]
        if many is None or "step" not in first:
            return False
        step = first["step"]
        grads = []
        for p, data, state in zip(self.params, self._owned, self.state):
            g = p.grad
            if g is None or p.data is not data or state.get("step") != step:
                return False
            grads.append(g.data if type(g) is Tensor else g)
        states = [[state.get(k) for state in self.state] if k in first else None
                  for k in self._kernel_states]
        if not many(self._owned, grads, *states, *self._kernel_hyper(step + 1)):
            return False
        for state in self.state:
            state["step"] = step + 1
        return True

    def _update(self, p, g, state):
        """One parameter's update: the fused kernel `_kernel` of p's backend on p, g, the
        state buffers `_kernel_states` names and the numbers ``_kernel_hyper(step)`` gives
        (the kernel's arguments after the arrays), which a class naming a kernel defines."""
        if self._kernel is None:
            raise NotImplementedError(f"{type(self).__name__}: an optimizer names its update "
                                      f"kernel (_kernel) or overrides _update")
        hyper = self._kernel_hyper(state["step"])
        kernel = optimizer_update(self._kernel, p)
        states = [state.get(k) for k in self._kernel_states]
        form = self._capture_form
        scalars = None if form is None else form.scalars_of(p, hyper)
        if scalars is None:
            kernel(p, g, *states, *hyper)
        else:       # under a CUDA graph's capture: the step's numbers from device memory
            kernel(p, g, *states, *hyper, scalars=scalars)

    def _buffers(self):
        return self._state_names

    def _graph_step(self):
        """This step as a CUDA-graph step (see _UpdateGraphStep), or None: for a subclass
        that has not said its own update is safe (it may read more than its
        hyperparameters), or a parameter whose state the step would create (its buffers must
        not be the graph's)."""
        if not type(self).__dict__.get("_graph_safe", False):
            return None
        for p, state in zip(self.params, self.state):
            if p.grad is not None and state.get("step", 0) < 1:
                return None
        return _UpdateGraphStep(self)

    def hyperparameters(self) -> Dict[str, Any]:
        """The optimizer's hyperparameters by name (what :meth:`state_dict` stores).

        Returns
        -------
        dict
            Name -> value, e.g. lr, momentum, betas.

        Examples
        --------
        >>> w = ad.tensor([1.0], requires_grad=True)
        >>> ad.optim.Adam([w], lr=0.1).hyperparameters()
        {'lr': 0.1, 'betas': [0.9, 0.999], 'eps': 1e-08, 'weight_decay': 0.0, 'amsgrad': False}
        """
        return {"lr": self.lr}

    def state_dict(self) -> Dict[str, Any]:
        """Nested dict of hyperparameters and per-parameter state (arrays copied to the host
        as numpy, whatever device the parameters live on): what ad.save writes.

        Returns
        -------
        dict
            ``{"type": class name, "hyper": hyperparameters(), "state": {"0": {buffer name:
            array, "step": int}, ...}}``, per parameter in order.

        See Also
        --------
        load_state_dict, pyad.save

        Examples
        --------
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = ad.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> ad.sum(w * w).backward()
        >>> opt.step()
        >>> opt.state_dict()["state"]
        {'0': {'momentum_buffer': array([2., 4.]), 'step': 1}}
        """
        return {"type": type(self).__name__, "hyper": self.hyperparameters(),
                "state": {str(i): {k: (_host_copy(v) if hasattr(v, "shape") else v)
                                   for k, v in s.items()} for i, s in enumerate(self.state)}}

    def load_state_dict(self, sd: Dict[str, Any]) -> Optimizer:
        """Restore hyperparameters and state saved by :meth:`state_dict` (resume training).

        The state buffers are copied onto each parameter's backend and device, in its dtype,
        whatever device the state dict's arrays live on (``ad.load(path, device=...)``).

        Parameters
        ----------
        sd : dict
            A state dict of an optimizer of the same class over the same parameter shapes.

        Returns
        -------
        Optimizer
            self.

        Raises
        ------
        ValueError
            When the class, the number of parameters or a buffer's shape differs.

        Examples
        --------
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = ad.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> ad.sum(w * w).backward()
        >>> opt.step()
        >>> resumed = ad.optim.SGD([w], lr=0.5).load_state_dict(opt.state_dict())
        >>> resumed.lr, resumed.momentum
        (0.1, 0.9)
        """
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
            self.state[i] = {k: (_state_buffer(v, p.data) if k != "step" else int(v))
                             for k, v in s.items()}
            for k, v in self.state[i].items():
                if k != "step" and v.shape != p.data.shape:
                    raise ValueError(f"load_state_dict: state '{k}' of parameter {i} has shape "
                                     f"{v.shape}, the parameter {p.data.shape}")
        return self


register_graph_step(Optimizer._step, lambda opt: opt._graph_step())


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, torch.optim.SGD's arithmetic.

    d = g + wd p; with momentum b = mu b + (1 - dampening) d (b = d on the first step) and
    d = b (or d + mu b with Nesterov); then p -= lr d.

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to update in place: ``model.parameters()`` (Tensors with
        ``requires_grad=True``).
    lr : float
        The learning rate.
    momentum : float, default 0
        The momentum factor mu.
    dampening : float, default 0
        Dampening of the momentum, in [0, 1].
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening = 0).
    weight_decay : float, default 0
        L2 penalty wd added to the gradient.

    Raises
    ------
    ValueError
        For an empty parameter list or a hyperparameter out of range (the message gives
        the valid range).
    TypeError
        When a parameter is not a Tensor with ``requires_grad=True``.

    Examples
    --------
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = ad.optim.SGD([w], lr=0.1)
    >>> ad.sum(w * w).backward()
    >>> opt.step()
    >>> w
    tensor([0.8, 1.6], requires_grad=True)
    """

    _graph_safe = True
    _kernel, _kernel_states = "sgd", ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = _check("momentum", momentum, 0.0)
        self.dampening = _check("dampening", dampening, 0.0, 1.0, high_open=False)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")

    def _buffers(self):
        return ("momentum_buffer",) if self.momentum > 0 else ()

    def hyperparameters(self) -> Dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "dampening": self.dampening,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay}

    def _kernel_hyper(self, step):
        return (self.lr, self.momentum, self.dampening, self.nesterov, self.weight_decay,
                step == 1)


class RMSprop(Optimizer):
    """RMSprop, torch.optim.RMSprop's arithmetic and defaults.

    v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps) (centered: v minus the
    squared running mean of g; with momentum the step goes through a momentum buffer).

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to update in place: ``model.parameters()`` (Tensors with
        ``requires_grad=True``).
    lr : float, default 0.01
        The learning rate.
    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    momentum : float, default 0
        Momentum factor.
    centered : bool, default False
        Normalise by the estimated variance of the gradient instead of its second moment.

    Raises
    ------
    ValueError
        For an empty parameter list or a hyperparameter out of range (the message gives
        the valid range).
    TypeError
        When a parameter is not a Tensor with ``requires_grad=True``.

    Examples
    --------
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = ad.optim.RMSprop([w], lr=0.01)
    >>> ad.sum(w * w).backward()
    >>> opt.step()                                  # first step: lr / sqrt(1 - alpha)
    >>> w
    tensor([0.9, 1.9], requires_grad=True)
    """

    _graph_safe = True
    _kernel, _kernel_states = "rmsprop", ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False) -> None:
        super().__init__(params, lr)
        self.alpha = _check("alpha", alpha, 0.0, 1.0)
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.momentum = _check("momentum", momentum, 0.0)
        self.centered = bool(centered)

    def _buffers(self):
        return (("square_avg",) + (("grad_avg",) if self.centered else ())
                + (("momentum_buffer",) if self.momentum > 0 else ()))

    def hyperparameters(self) -> Dict[str, Any]:
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps,
                "weight_decay": self.weight_decay, "momentum": self.momentum,
                "centered": self.centered}

    def _kernel_hyper(self, step):
        return self.lr, self.alpha, self.eps, self.weight_decay, self.momentum


class Adam(Optimizer):
    """Adam, torch.optim.Adam's arithmetic and defaults.

    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, and with bias corrections
    p -= lr m_hat / (sqrt(v_hat) + eps). weight_decay adds wd * p to the gradient (L2; see
    :class:`AdamW` for the decoupled kind), amsgrad keeps the running max of v.

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to update in place: ``model.parameters()`` (Tensors with
        ``requires_grad=True``).
    lr : float, default 1e-3
        The learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moments, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0
        L2 penalty added to the gradient.
    amsgrad : bool, default False
        Use the running maximum of the second moment (AMSGrad).

    Raises
    ------
    ValueError
        For an empty parameter list or a hyperparameter out of range (the message gives
        the valid range).
    TypeError
        When a parameter is not a Tensor with ``requires_grad=True``.

    Examples
    --------
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = ad.optim.Adam([w], lr=0.1)
    >>> ad.sum(w * w).backward()
    >>> opt.step()                                  # the first step moves each by ~lr
    >>> w
    tensor([0.9, 1.9], requires_grad=True)
    """
    _decoupled = False
    _graph_safe = True      # its bias corrections: from device memory in a graph
    _kernel, _kernel_states = "adam", ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"invalid betas: {betas!r}; give two numbers in [0, 1)")
        self.betas = (_check("beta1", betas[0], 0.0, 1.0), _check("beta2", betas[1], 0.0, 1.0))
        self.eps = _check("eps", eps, 0.0)
        self.weight_decay = _check("weight_decay", weight_decay, 0.0)
        self.amsgrad = bool(amsgrad)

    def _buffers(self):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())

    def hyperparameters(self) -> Dict[str, Any]:
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "amsgrad": self.amsgrad}

    def _kernel_hyper(self, step):
        return (self.lr, self.betas[0], self.betas[1], self.eps, self.weight_decay,
                float(step), self._decoupled)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay, torch.optim.AdamW's arithmetic and defaults.

    Before the Adam step the parameters shrink, p *= 1 - lr wd, instead of wd p being added
    to the gradient.

    Parameters
    ----------
    params : iterable of Tensor
        The parameters to update in place: ``model.parameters()`` (Tensors with
        ``requires_grad=True``).
    lr : float, default 1e-3
        The learning rate.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default 1e-8
        Added to the denominator.
    weight_decay : float, default 0.01
        The decoupled decay rate wd.
    amsgrad : bool, default False
        Use the running maximum of the second moment.

    Raises
    ------
    ValueError
        For an empty parameter list or a hyperparameter out of range (the message gives
        the valid range).
    TypeError
        When a parameter is not a Tensor with ``requires_grad=True``.

    Examples
    --------
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = ad.optim.AdamW([w], lr=0.1)
    >>> ad.sum(w * w).backward()
    >>> opt.step()                                  # (1 - 0.1 * 0.01) w - 0.1
    >>> w
    tensor([0.899, 1.898], requires_grad=True)
    """
    _decoupled = True
    _graph_safe = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


# ----------------------------------------------------------------------- learning-rate schedules
class LambdaLR:
    """A learning-rate schedule: lr = base_lr * factor(epoch).

    The base rate is the optimizer's lr when the schedule is made; the factor for epoch 0
    applies at once. Call :meth:`step` once per epoch (or per step). The other schedules
    are LambdaLRs with a given factor.

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is set.
    factor : callable
        ``factor(epoch: int) -> float``.

    Examples
    --------
    >>> w = ad.tensor([1.0], requires_grad=True)
    >>> opt = ad.optim.SGD([w], lr=1.0)
    >>> schedule = ad.optim.LambdaLR(opt, lambda epoch: 1.0 / (1 + epoch))
    >>> [schedule.step() for _ in range(3)]
    [0.5, 0.3333333333333333, 0.25]
    >>> opt.lr
    0.25
    """

    def __init__(self, optimizer: Optimizer, factor: Callable[[int], float]) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.factor = factor
        self.epoch = 0
        self.optimizer.lr = self._rate(0)

    def _rate(self, epoch):
        return self.base_lr * self.factor(epoch)

    def step(self) -> float:
        """Advance one epoch and set the optimizer's lr.

        Returns
        -------
        float
            The new learning rate.

        Examples
        --------
        >>> opt = ad.optim.SGD([ad.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> ad.optim.StepLR(opt, step_size=1, gamma=0.5).step()
        0.5
        """
        self.epoch += 1
        self.optimizer.lr = self._rate(self.epoch)
        return self.optimizer.lr

    def state_dict(self) -> Dict[str, Any]:
        """The schedule's position, for checkpoints.

        Returns
        -------
        dict
            ``{"epoch": int, "base_lr": float}``.

        Examples
        --------
        >>> opt = ad.optim.SGD([ad.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = ad.optim.StepLR(opt, step_size=10)
        >>> _ = schedule.step()
        >>> schedule.state_dict()
        {'epoch': 1, 'base_lr': 1.0}
        """
        return {"epoch": self.epoch, "base_lr": self.base_lr}

    def load_state_dict(self, sd: Dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: restore the epoch and set the optimizer's lr.

        Parameters
        ----------
        sd : dict
            ``{"epoch": int, "base_lr": float}``.

        Examples
        --------
        >>> opt = ad.optim.SGD([ad.tensor([1.0], requires_grad=True)], lr=1.0)
        >>> schedule = ad.optim.StepLR(opt, step_size=2, gamma=0.5)
        >>> schedule.load_state_dict({"epoch": 4, "base_lr": 1.0})
        >>> opt.lr
        0.25
        """
        self.epoch, self.base_lr = int(sd["epoch"]), float(sd["base_lr"])
        self.optimizer.lr = self._rate(self.epoch)


class StepLR(LambdaLR):
    """Step decay, torch's StepLR: lr = base_lr * gamma ** (epoch // step_size).

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is set.
    step_size : int
        Epochs between decays, >= 1.
    gamma : float, default 0.1
        The decay factor.

    Raises
    ------
    ValueError
        When ``step_size < 1``.

    Examples
    --------
    >>> opt = ad.optim.SGD([ad.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = ad.optim.StepLR(opt, step_size=2, gamma=0.5)
    >>> [schedule.step() for _ in range(4)]
    [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if int(step_size) < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        super().__init__(optimizer, lambda e: gamma ** (e // int(step_size)))


class CosineAnnealingLR(LambdaLR):
    """Cosine annealing, torch's CosineAnnealingLR in closed form.

    lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, held at eta_min
    after T_max.

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is set.
    T_max : int
        Epochs from base_lr down to eta_min, >= 1.
    eta_min : float, default 0
        The final learning rate.

    Raises
    ------
    ValueError
        When ``T_max < 1``.

    Examples
    --------
    >>> opt = ad.optim.SGD([ad.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = ad.optim.CosineAnnealingLR(opt, T_max=4)
    >>> [round(schedule.step(), 4) for _ in range(5)]
    [0.8536, 0.5, 0.1464, 0.0, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if int(T_max) < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, _check("eta_min", eta_min, 0.0)

        def factor(e):      # the cosine's weight on base_lr (the rest goes to eta_min)
            return (1 + math.cos(math.pi * min(e, T_max) / T_max)) / 2
        super().__init__(optimizer, factor)

    def _rate(self, epoch):
        # torch's closed form, kept apart from base_lr so that a base of 0 works too
        w = self.factor(epoch)
        return self.eta_min + (self.base_lr - self.eta_min) * w


class LinearWarmup(LambdaLR):
    """Linear warm-up, torch's LinearLR: the factor rises from start_factor to 1.

    The factor rises linearly over warmup_steps, then stays at 1, or follows ``then``
    (another factor function, counted from the end of the warm-up).

    Parameters
    ----------
    optimizer : Optimizer
        Whose ``lr`` is set.
    warmup_steps : int
        Length of the warm-up, >= 1.
    start_factor : float, default 0.1
        The factor at epoch 0.
    then : callable, optional
        ``then(epochs_after_warmup) -> factor``; default: 1.

    Raises
    ------
    ValueError
        When ``warmup_steps < 1``.

    Examples
    --------
    >>> opt = ad.optim.SGD([ad.tensor([1.0], requires_grad=True)], lr=1.0)
    >>> schedule = ad.optim.LinearWarmup(opt, warmup_steps=4, start_factor=0.25)
    >>> opt.lr, [schedule.step() for _ in range(5)]
    (0.25, [0.4375, 0.625, 0.8125, 1.0, 1.0])
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, start_factor: float = 0.1,
                 then: Optional[Callable[[int], float]] = None) -> None:
        if int(warmup_steps) < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be >= 1, got {warmup_steps}")
        after = then or (lambda e: 1.0)

        def factor(e):
            if e < warmup_steps:
                return start_factor + (1 - start_factor) * e / warmup_steps
            return after(e - warmup_steps)
        super().__init__(optimizer, factor)


from pyad.train.hessian_free import HessianFree  # noqa: E402  (it builds on ad.gnvp / ad.hvp)
