"""Layers: Module (parameters and buffers found from attributes), Linear, Sequential,
Embedding, MLP, and PyTorch's convolution, pooling, normalisation, dropout and activation
layers under PyTorch's names (their state dicts load from and into PyTorch's)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from pyad import backend
from pyad.train import init as _init
from pyad.train.optim import clear_grads
from pyad.ops import core as ops
from pyad.ops.activations import elu, gelu, leaky_relu, log_sigmoid, silu
from pyad.ops.array import pad as _pad
from pyad.ops.convolution import conv1d, conv2d, conv_transpose2d
from pyad.ops.normalization import batch_norm, dropout, layer_norm
from pyad.ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from pyad.engine._tape import Tensor, host_step
from pyad._typing import ArrayLike, DTypeLike, Seed
from pyad.train.losses import (binary_cross_entropy_with_logits, mse_loss,  # noqa: F401
                         softmax_cross_entropy)

__all__ = ["Module", "Linear", "Sequential", "Embedding", "Tanh", "ReLU", "Sigmoid",
           "Softplus", "MLP", "softmax_cross_entropy", "mse_loss",
           "binary_cross_entropy_with_logits",
           "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
           "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Flatten", "GELU", "SiLU",
           "LeakyReLU", "ELU", "LogSigmoid"]


class Module:
    """Base class of layers and models (like ``torch.nn.Module``).

    Tensors with ``requires_grad=True`` and sub-Modules assigned as attributes are
    registered in assignment order, so :meth:`parameters` and :meth:`state_dict` need no
    bookkeeping. A subclass calls ``super().__init__()`` first, then assigns its parameters
    and layers, and defines :meth:`forward`; calling the module calls ``forward``.

    State that is not trained but belongs to the model (BatchNorm's running statistics) is
    a *buffer*: :meth:`register_buffer` adds one, :meth:`named_buffers` lists them, and
    :meth:`state_dict` holds parameters and buffers in PyTorch's order (each module's own
    parameters, then its own buffers, then its sub-modules'), so a checkpoint
    (``ad.save(path, model.state_dict())``) restores both.

    **PyTorch state dicts.** pyad's layers use PyTorch's names, so a model built from the
    same layers has the same state-dict keys as PyTorch's. Only :class:`Linear` stores its
    weight the other way round, (in, out) rather than PyTorch's (out, in);
    :meth:`load_torch_state_dict` takes a ``torch_model.state_dict()`` (torch tensors or
    arrays; pyad never imports torch) and transposes those weights, and
    :meth:`torch_state_dict` gives numpy arrays in PyTorch's layouts, ready for
    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.

    Examples
    --------
    >>> class Affine(ad.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = ad.tensor([[1.0], [2.0]], requires_grad=True)
    ...         self.b = ad.tensor([0.5], requires_grad=True)
    ...     def forward(self, x):
    ...         return x @ self.w + self.b
    >>> model = Affine()
    >>> [name for name, _ in model.named_parameters()]
    ['w', 'b']
    >>> loss = ad.sum(model(np.array([[1.0, 1.0]])))
    >>> loss.backward()
    >>> model.w.grad
    tensor([[1.],
            [1.]])
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning attributes")
        # re-assigning keeps a parameter's (module's, buffer's) place in the order, like PyTorch
        if isinstance(value, Tensor) and value.requires_grad:
            self._modules.pop(name, None)
            self._buffers.pop(name, None)
            self._params[name] = value
        elif isinstance(value, Module):
            self._params.pop(name, None)
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif name in self._buffers:
            if value is not None and not _is_buffer_value(value):
                raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} "
                                f"to the buffer {name!r} (an array, a Tensor or None)")
            self._buffers[name] = value
        else:
            self._params.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in ("_params", "_buffers", "_modules"):
            self.__dict__.get(registry, {}).pop(name, None)
        self.__dict__.get("_non_persistent", set()).discard(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Optional[ArrayLike],
                        persistent: bool = True) -> None:
        """Add a buffer: an array that belongs to the module's state but is not trained.

        The buffer is an attribute (``self.name`` returns the very object given), is listed
        by :meth:`named_buffers`, moves with :meth:`to`, and (if persistent) is saved by
        :meth:`state_dict` and restored in place by :meth:`load_state_dict`. Assigning an
        array or Tensor to the attribute later replaces the buffer.

        Parameters
        ----------
        name : str
            The attribute's name (no dots).
        tensor : array or Tensor or None
            A numpy (or other backend's) array, or a Tensor without ``requires_grad``. None
            reserves the name without state (left out of the state dict), as in PyTorch.
        persistent : bool, default True
            Whether :meth:`state_dict` includes it.

        Raises
        ------
        AttributeError
            Before ``super().__init__()``.
        TypeError
            For a name that is not a string, a value that is not an array, Tensor or None,
            or a Tensor that requires grad (make it a parameter instead).
        KeyError
            For an empty or dotted name, or one that is already another attribute.

        Examples
        --------
        >>> class Counter(ad.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.register_buffer("count", np.zeros((), np.int64))
        ...     def forward(self, x):
        ...         self.count[...] += 1
        ...         return x
        >>> m = Counter()
        >>> _ = m(1.0), m(2.0)
        >>> m.count, dict(m.state_dict())
        (array(2), {'count': array(2)})
        >>> m.parameters()
        []
        """
        if "_params" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before registering buffers")
        if not isinstance(name, str):
            raise TypeError(f"register_buffer: the name must be a string, got "
                            f"{type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"register_buffer: invalid buffer name {name!r} (empty or dotted)")
        if name not in self._buffers and name in self.__dict__:
            raise KeyError(f"register_buffer: attribute {name!r} already exists in "
                           f"{type(self).__name__}")
        if tensor is not None and not _is_buffer_value(tensor):
            raise TypeError(f"register_buffer: {name!r} must be an array, a Tensor or None, "
                            f"got {type(tensor).__name__}")
        if isinstance(tensor, Tensor) and tensor.requires_grad:
            raise TypeError(f"register_buffer: {name!r} is a Tensor that requires grad; a "
                            f"buffer is not trained (assign it as a parameter, or detach it)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, tensor)

    def _set_buffer(self, name, value):
        """Replace the array of buffer `name` (to(), loading into an immutable array)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of the module; ``module(x)`` calls it. Subclasses define it.

        Parameters
        ----------
        *args, **kwargs
            The inputs (numpy arrays or Tensors for pyad's layers).

        Returns
        -------
        Tensor or pytree
            The output.

        Raises
        ------
        NotImplementedError
            When a subclass does not define it.

        Examples
        --------
        >>> ad.nn.ReLU().forward(np.array([-1.0, 2.0]))
        tensor([0., 2.])
        """
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[Tuple[str, Tensor]]:
        """(name, parameter) pairs of this module and its sub-modules, in registration order.

        Parameters
        ----------
        prefix : str, default ""
            Prepended to every name; sub-modules' parameters are named ``"child.name"``.

        Yields
        ------
        (str, Tensor)
            Each parameter with its dotted name.

        Examples
        --------
        >>> net = ad.nn.Sequential(ad.nn.Linear(2, 4, seed=0), ad.nn.Tanh(), ad.nn.Linear(4, 1))
        >>> [name for name, _ in net.named_parameters()]
        ['0.weight', '0.bias', '2.weight', '2.bias']
        """
        for name, p in self._params.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> List[Tensor]:
        """All parameters (Tensors with requires_grad) of this module and its sub-modules.

        Returns
        -------
        list of Tensor
            In registration order; pass it to an optimizer.

        Examples
        --------
        >>> model = ad.nn.Linear(3, 2, seed=0)
        >>> [p.shape for p in model.parameters()]
        [(3, 2), (2,)]
        >>> opt = ad.optim.SGD(model.parameters(), lr=0.1)
        """
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[Tuple[str, Any]]:
        """(name, buffer) pairs of this module and (with recurse) its sub-modules.

        Each module's own buffers in registration order, module by module (this one first,
        then its sub-modules depth first), as PyTorch lists them; buffers set to None are
        skipped, non-persistent ones included.

        Parameters
        ----------
        prefix : str, default ""
            Prepended to every name.
        recurse : bool, default True
            Include the sub-modules' buffers (named ``"child.name"``).

        Yields
        ------
        (str, array or Tensor)
            Each buffer (the object itself) with its dotted name.

        Examples
        --------
        >>> net = ad.nn.Sequential(ad.nn.Linear(2, 3), ad.nn.BatchNorm1d(3))
        >>> [name for name, _ in net.named_buffers()]
        ['1.running_mean', '1.running_var', '1.num_batches_tracked']
        """
        for name, b in self._buffers.items():
            if b is not None:
                yield prefix + name, b
        if recurse:
            for name, m in self._modules.items():
                yield from m.named_buffers(prefix + name + ".")

    def buffers(self) -> List[Any]:
        """All buffers of this module and its sub-modules (see :meth:`named_buffers`).

        Returns
        -------
        list of array or Tensor
            The buffer objects themselves, in :meth:`named_buffers` order.

        Examples
        --------
        >>> [b.shape for b in ad.nn.BatchNorm2d(4).buffers()]
        [(4,), (4,), ()]
        """
        return [b for _, b in self.named_buffers()]

    def modules(self) -> Iterator[Module]:
        """This module and all its sub-modules, depth first.

        Yields
        ------
        Module
            self first, then each sub-module's modules.

        Examples
        --------
        >>> net = ad.nn.MLP([4, 8, 3], seed=0)
        >>> [type(m).__name__ for m in net.modules()]
        ['Sequential', 'Linear', 'ReLU', 'Linear']
        """
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def named_modules(self, prefix: str = "") -> Iterator[Tuple[str, Module]]:
        """(name, module) pairs of this module and all its sub-modules, depth first.

        Parameters
        ----------
        prefix : str, default ""
            The name of this module (its sub-modules are named ``"prefix.child"``).

        Yields
        ------
        (str, Module)
            self (named ``prefix``, "" by default) first, then each sub-module.

        Examples
        --------
        >>> net = ad.nn.Sequential(ad.nn.Linear(2, 3), ad.nn.Sequential(ad.nn.ReLU()))
        >>> [(name, type(m).__name__) for name, m in net.named_modules()]
        [('', 'Sequential'), ('0', 'Linear'), ('1', 'Sequential'), ('1.0', 'ReLU')]
        """
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def train(self, mode: bool = True) -> Module:
        """Set the ``training`` flag of this module and its sub-modules.

        Layers that behave differently in training and evaluation read ``self.training``.

        Parameters
        ----------
        mode : bool, default True
            True for training, False for evaluation.

        Returns
        -------
        Module
            self.

        Examples
        --------
        >>> net = ad.nn.MLP([2, 3, 1], seed=0)
        >>> net.train(False)[0].training, net.train().training
        (False, True)
        """
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode: ``train(False)``.

        Returns
        -------
        Module
            self.

        Examples
        --------
        >>> ad.nn.Linear(2, 1).eval().training
        False
        """
        return self.train(False)

    def zero_grad(self) -> None:
        """Reset the ``.grad`` of every parameter to None (before the next ``backward()``).

        Examples
        --------
        >>> model = ad.nn.Linear(2, 1, seed=0)
        >>> ad.sum(model(np.ones((1, 2)))).backward()
        >>> model.bias.grad
        tensor([1.], dtype=float32)
        >>> model.zero_grad()
        >>> model.bias.grad is None
        True
        """
        host_step(clear_grads, list(self.parameters()))     # replayed as one step

    def to(self, device: str) -> Module:
        """Move every parameter and buffer to `device` (``"cpu"``, ``"cuda"``, ``"cuda:N"``),
        in place: the same Tensor objects hold the moved arrays, so an optimizer made before
        keeps working (its state moves on its next step only if created after; make
        optimizers after moving, as in PyTorch). Gradients are cleared. A buffer that is a
        bare array (not a Tensor) is replaced by the moved array.

        Parameters
        ----------
        device : str
            The target device.

        Returns
        -------
        Module
            self.

        Examples
        --------
        >>> model = ad.nn.Linear(2, 1, seed=0).to("cpu")
        >>> model.weight.device
        'cpu'
        """
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            p.grad = None
        for m in self.modules():
            for name, b in list(m._buffers.items()):
                if isinstance(b, Tensor):
                    b.data = backend.to_device(b.data, device)
                elif b is not None:
                    m._set_buffer(name, backend.to_device(b, device))
        return self

    def _state_entries(self, prefix=""):
        """(key, module, attribute, is_parameter) of everything state_dict holds, in
        PyTorch's order: own parameters, own persistent buffers, then each sub-module's."""
        for name in self._params:
            yield prefix + name, self, name, True
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                yield prefix + name, self, name, False
        for name, m in self._modules.items():
            yield from m._state_entries(prefix + name + ".")

    def state_dict(self) -> Dict[str, np.ndarray]:
        """The parameters' and buffers' values by name: what a checkpoint stores.

        Returns
        -------
        OrderedDict of str to numpy.ndarray
            name -> a host (numpy) copy of the parameter's or buffer's array, whatever device
            they live on. PyTorch's order: each module's own parameters (in registration
            order), then its own persistent buffers, then its sub-modules' entries.

        See Also
        --------
        load_state_dict, torch_state_dict, pyad.save

        Examples
        --------
        >>> model = ad.nn.Linear(3, 2, seed=0)
        >>> {name: a.shape for name, a in model.state_dict().items()}
        {'weight': (3, 2), 'bias': (2,)}
        >>> list(ad.nn.BatchNorm1d(3).state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
        """
        out = OrderedDict()
        for key, m, name, is_param in self._state_entries():
            value = m._params[name] if is_param else m._buffers[name]
            out[key] = _host_copy(value.data if isinstance(value, Tensor) else value)
        return out

    def load_state_dict(self, state: Dict[str, ArrayLike], strict: bool = True) -> Module:
        """Copy arrays into the parameters and buffers (in place, so optimizers keep working).

        Each parameter or buffer keeps its backend, device and dtype: a state of numpy arrays
        loaded into a model on the GPU is copied there (and one of GPU arrays into a model on
        the CPU is copied to the host).

        Parameters
        ----------
        state : dict of str to array_like
            name -> value, as made by :meth:`state_dict` (or read back by ``ad.load``, on
            any device).
        strict : bool, default True
            Require exactly the model's names; with False, missing and unexpected names are
            skipped.

        Returns
        -------
        Module
            self.

        Raises
        ------
        KeyError
            With ``strict=True``, naming the missing and unexpected keys.
        ValueError
            When an array's shape differs from its parameter's or buffer's (naming both).

        See Also
        --------
        load_torch_state_dict

        Examples
        --------
        >>> model = ad.nn.Linear(2, 1, seed=0)
        >>> state = model.state_dict()
        >>> state["bias"] = np.array([9.0])
        >>> model.load_state_dict(state).bias
        tensor([9.], dtype=float32, requires_grad=True)
        >>> model.load_state_dict({"weight": np.zeros((2, 1))})
        Traceback (most recent call last):
        ...
        KeyError: "load_state_dict for Linear: missing keys ['bias'], unexpected keys []"
        """
        own = OrderedDict((key, (m, name, is_param))
                          for key, m, name, is_param in self._state_entries())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for key, (m, name, is_param) in own.items():
            if key not in state:
                continue
            target = m._params[name] if is_param else m._buffers[name]
            value = state[key]
            value = value.data if isinstance(value, Tensor) else value
            value = value if backend.is_foreign(value) else np.asarray(value)
            shape = tuple((target.data if isinstance(target, Tensor) else target).shape)
            if tuple(value.shape) != shape:
                raise ValueError(f"load_state_dict for {type(self).__name__}: '{key}' has shape "
                                 f"{tuple(value.shape)} in the state but {shape} in the model")
            if isinstance(target, Tensor):
                _assign(target, value)
            else:
                new = _assigned(target, value)
                if new is not target:
                    m._set_buffer(name, new)
        return self

    def _linear_weight_keys(self):
        """The state-dict keys of the weights of pyad Linear layers (transposed vs torch)."""
        return {f"{name}.weight" if name else "weight": m for name, m in self.named_modules()
                if isinstance(m, Linear) and "weight" in m._params}

    def load_torch_state_dict(self, state: Dict[str, Any], strict: bool = True) -> Module:
        """Load a PyTorch ``state_dict()`` of the same architecture (in place).

        The values may be torch tensors (on any device: copied to the host with
        ``.detach().cpu().numpy()``; pyad does not import torch), numpy arrays or anything
        ``np.asarray`` takes. The weights of :class:`Linear` layers are transposed from
        PyTorch's (out, in) to pyad's (in, out); everything else (convolution weights,
        BatchNorm's buffers with ``num_batches_tracked``, ...) has PyTorch's layout and is
        loaded as by :meth:`load_state_dict`.

        Parameters
        ----------
        state : dict of str to torch.Tensor or array_like
            ``torch_model.state_dict()``.
        strict : bool, default True
            Require exactly the model's keys (see :meth:`load_state_dict`).

        Returns
        -------
        Module
            self.

        Raises
        ------
        KeyError
            With ``strict=True``, naming the missing and unexpected keys.
        ValueError
            When a value's shape does not fit (for a Linear weight, naming PyTorch's layout).

        See Also
        --------
        torch_state_dict, load_state_dict

        Examples
        --------
        >>> torch_like = {"weight": np.array([[1.0, 2.0, 3.0]]), "bias": np.array([0.5])}
        >>> layer = ad.nn.Linear(3, 1).load_torch_state_dict(torch_like)   # weight (out, in)
        >>> layer.weight.shape
        (3, 1)
        >>> layer(np.ones((1, 3)))
        tensor([[6.5]], dtype=float32, requires_grad=True)
        """
        linear = self._linear_weight_keys()
        converted = OrderedDict()
        for key, value in state.items():
            a = _from_torch(value)
            if key in linear:
                m = linear[key]
                expected = (m.out_features, m.in_features)
                if tuple(a.shape) != expected:
                    raise ValueError(f"load_torch_state_dict for {type(self).__name__}: '{key}' "
                                     f"has shape {tuple(a.shape)} in the state but "
                                     f"Linear({m.in_features}, {m.out_features}) expects "
                                     f"PyTorch's (out_features, in_features) = {expected}")
                a = a.T
            converted[key] = a
        return self.load_state_dict(converted, strict=strict)

    def torch_state_dict(self) -> Dict[str, np.ndarray]:
        """:meth:`state_dict` in PyTorch's layouts, for a PyTorch model of the same layers.

        The weights of :class:`Linear` layers are transposed to PyTorch's (out, in); keys and
        order are PyTorch's. PyTorch's ``load_state_dict`` wants tensors:
        ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.

        Returns
        -------
        OrderedDict of str to numpy.ndarray
            name -> a host copy (contiguous) in PyTorch's layout.

        See Also
        --------
        load_torch_state_dict

        Examples
        --------
        >>> net = ad.nn.Sequential(ad.nn.Linear(3, 2), ad.nn.BatchNorm1d(2))
        >>> {k: v.shape for k, v in net.torch_state_dict().items()}
        {'0.weight': (2, 3), '0.bias': (2,), '1.weight': (2,), '1.bias': (2,),
         '1.running_mean': (2,), '1.running_var': (2,), '1.num_batches_tracked': ()}
        """
        state = self.state_dict()
        for key in self._linear_weight_keys():
            if key in state:
                state[key] = np.ascontiguousarray(state[key].T)
        return state

    def __repr__(self):
        children = "".join(f"\n  ({k}): " + repr(m).replace("\n", "\n  ")
                           for k, m in self._modules.items())
        return f"{type(self).__name__}({self.extra_repr()}{children}{chr(10) if children else ''})"

    def extra_repr(self) -> str:
        """The text inside the parentheses of the module's repr; subclasses override it.

        Returns
        -------
        str
            Empty for the base class.

        Examples
        --------
        >>> ad.nn.Linear(3, 2).extra_repr()
        '3, 2, bias=True'
        """
        return ""


def _is_buffer_value(value):
    return isinstance(value, (Tensor, np.ndarray)) or backend.is_foreign(value)


def _from_torch(value):
    """A state-dict value as an array: a torch tensor copied to the host (without importing
    torch), a pyad Tensor's array, or np.asarray of anything else."""
    if isinstance(value, Tensor):
        return value.data if backend.is_foreign(value.data) else np.asarray(value.data)
    if backend.is_foreign(value):
        return value
    if hasattr(value, "numpy") and hasattr(value, "detach"):
        value = value.detach().cpu()
        try:
            return value.numpy()
        except TypeError:          # a dtype numpy lacks (bfloat16): go through float32
            return value.float().numpy()
    return np.asarray(value)


def _host_copy(a):
    """A numpy copy of array a, whatever its backend."""
    return np.array(a) if isinstance(a, np.ndarray) else backend.to_host(a)


def _assigned(target, value):
    """value (an array of any backend, target's shape) written into array target, on
    target's backend and device and in its dtype: target itself, or a new array when the
    array type is immutable (JAX's)."""
    if isinstance(target, np.ndarray) and isinstance(value, np.ndarray):
        target[...] = value
        return target
    value = backend.to_backend(value, target)
    if backend.dtype_of(value) != backend.dtype_of(target):
        value = backend.astype(value, backend.dtype_of(target))
    try:
        target[...] = value
    except TypeError:       # an immutable array type (JAX's): a new array
        return backend.copy(value)
    return target


def _assign(p, value):
    """Write value (an array of any backend, p's shape) into parameter p in place, on p's
    backend and device and in p's dtype (an explicit copy across backends)."""
    new = _assigned(p.data, value)
    if new is not p.data:
        p.data = new


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class Linear(Module):
    """A fully connected layer: y = x W + b.

    W has shape (in_features, out_features), so ``x @ W`` needs no transpose. Inputs are
    converted to the parameters' dtype.

    Parameters
    ----------
    in_features, out_features : int
        Input and output sizes.
    bias : bool, default True
        Whether to add the bias b (initialised to zeros).
    init : str or callable, default "he"
        The weight initialiser: a name of :func:`pyad.train.init.initializer` ("he", "xavier",
        "lecun", ...) or a function ``(shape, rng, dtype) -> array``.
    seed : int, numpy Generator or None
        Seeds the initialiser (a Generator is advanced, as :func:`MLP` does).
    dtype : numpy dtype, default float32
        The parameters' dtype.

    Raises
    ------
    ValueError
        For an unknown initialiser name.

    Examples
    --------
    >>> layer = ad.nn.Linear(3, 2, seed=0)
    >>> layer
    Linear(3, 2, bias=True)
    >>> layer.weight.shape, layer.bias
    ((3, 2), tensor([0., 0.], dtype=float32, requires_grad=True))
    >>> layer(np.ones((4, 3))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: Union[str, Callable[..., Any]] = "he", seed: Seed = None,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        w = _init.initializer(init)((in_features, out_features), _rng(seed), dtype)
        self.weight = Tensor(w, requires_grad=True)
        # the bias beside the weight (an initialiser may return another backend's array)
        b = backend.zeros((out_features,), dtype, like=w) if bias and backend.is_foreign(w) \
            else np.zeros(out_features, dtype=dtype)
        self.bias = Tensor(b, requires_grad=True) if bias else None

    def forward(self, x: ArrayLike) -> Tensor:
        """x @ weight + bias.

        Parameters
        ----------
        x : array_like or Tensor
            Input of shape (..., in_features); converted to the parameters' dtype.

        Returns
        -------
        Tensor
            Of shape (..., out_features).

        Examples
        --------
        >>> layer = ad.nn.Linear(2, 1, init=lambda shape, rng, dtype: np.ones(shape, dtype))
        >>> layer(np.array([[1.0, 2.0]]))
        tensor([[3.]], dtype=float32, requires_grad=True)
        """
        x = ops._t(x)
        if x.dtype != self.weight.dtype:
            x = ops.astype(x, self.weight.dtype)     # the parameters set the dtype
        y = ops.matmul(x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: integer ids of any shape -> vectors of size embedding_dim.

    The table ``weight`` (num_embeddings, embedding_dim) starts standard normal; the
    gradient of a lookup accumulates into the rows looked up.

    Parameters
    ----------
    num_embeddings : int
        The number of ids (rows).
    embedding_dim : int
        The vector size.
    seed : int, numpy Generator or None
        Seeds the initial table.
    dtype : numpy dtype, default float32
        The table's dtype.

    Examples
    --------
    >>> emb = ad.nn.Embedding(10, 3, seed=0)
    >>> emb
    Embedding(10, 3)
    >>> emb(np.array([[1, 2], [3, 4]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, seed: Seed = None,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        w = _rng(seed).standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        self.weight = Tensor(w, requires_grad=True)

    def forward(self, ids: ArrayLike) -> Tensor:
        """The rows of the table for the given ids.

        Parameters
        ----------
        ids : array_like of ints
            Ids in [0, num_embeddings), of any shape.

        Returns
        -------
        Tensor
            Of shape ``ids.shape + (embedding_dim,)``.

        Raises
        ------
        TypeError
            For non-integer ids.
        IndexError
            For ids out of range.

        Examples
        --------
        >>> emb = ad.nn.Embedding(4, 2, seed=0)
        >>> bool(np.all(emb([3]).numpy() == emb.weight.data[3]))
        True
        """
        # ids are an index param, read on the host on every backend (their range check reads
        # them too): ids of another backend are copied to the host, as labels are
        ids = backend.to_host(ids.data if isinstance(ids, Tensor) else ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: ids must lie in [0, {self.num_embeddings}), got "
                             f"values in [{ids.min()}, {ids.max()}]")
        flat = ops.getitem(self.weight, ids.reshape(-1))
        return ops.reshape(flat, ids.shape + (self.embedding_dim,))

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Sequential(Module):
    """Modules applied in order; indexable (``net[0]``) and sized (``len(net)``).

    Parameters
    ----------
    *layers : Module or callable
        The layers, applied first to last; their parameters are named "0.weight", ...

    Examples
    --------
    >>> net = ad.nn.Sequential(ad.nn.Linear(2, 4, seed=0), ad.nn.Tanh(), ad.nn.Linear(4, 1))
    >>> net
    Sequential(
      (0): Linear(2, 4, bias=True)
      (1): Tanh()
      (2): Linear(4, 1, bias=True)
    )
    >>> len(net), net[1]
    (3, Tanh())
    >>> net(np.ones((5, 2))).shape
    (5, 1)
    """

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        """x through every layer in turn.

        Parameters
        ----------
        x : array_like or Tensor
            The input of the first layer.

        Returns
        -------
        Tensor
            The output of the last layer.

        Examples
        --------
        >>> ad.nn.Sequential(ad.nn.ReLU(), ad.nn.Tanh()).forward(np.array([-1.0, 0.0]))
        tensor([0., 0.])
        """
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)


def _activation_doc(name, fn):
    """The docstring of an activation module, its example output computed with fn."""
    x = np.array([-1.0, 0.0, 2.0])
    out = np.round(fn(x).data, 4).tolist()
    return f"""The {name} activation as a module: ``{name}()(x)`` is ``ad.{fn.__name__}(x)``.

    For :class:`Sequential` models; it has no parameters.

    Examples
    --------
    >>> act = ad.nn.{name}()
    >>> act
    {name}()
    >>> np.round(act(np.array([-1.0, 0.0, 2.0])).numpy(), 4).tolist()
    {out}
    """


def _activation(name, fn):
    cls = type(name, (Module,), {"forward": lambda self, x: fn(x),
                                 "__doc__": _activation_doc(name, fn)})
    return cls


Tanh = _activation("Tanh", ops.tanh)
ReLU = _activation("ReLU", ops.relu)
Sigmoid = _activation("Sigmoid", ops.sigmoid)
Softplus = _activation("Softplus", ops.softplus)
_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "softplus": Softplus}
_DEFAULT_INIT = {"relu": "he", "tanh": "xavier", "sigmoid": "xavier", "softplus": "he"}


def MLP(sizes: Sequence[int], activation: str = "relu", seed: Seed = None,
        dtype: DTypeLike = np.float32,
        init: Optional[Union[str, Callable[..., Any]]] = None) -> Sequential:
    """A multilayer perceptron: Linear layers with an activation between them.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[64, 128, 10]``: ``len(sizes) - 1``
        Linear layers.
    activation : {"relu", "tanh", "sigmoid", "softplus"}, default "relu"
        The activation between layers (none after the last: it outputs logits).
    seed : int, numpy Generator or None
        Seeds all the weights (one Generator, advanced layer by layer).
    dtype : numpy dtype, default float32
        The parameters' dtype.
    init : str or callable, optional
        The weight initialiser (see :class:`Linear`); default He for relu/softplus and
        Xavier/Glorot for tanh/sigmoid.

    Returns
    -------
    Sequential
        The model.

    Raises
    ------
    ValueError
        For an unknown activation or fewer than two sizes.

    Examples
    --------
    >>> model = ad.nn.MLP([4, 8, 3], activation="tanh", seed=0)
    >>> model
    Sequential(
      (0): Linear(4, 8, bias=True)
      (1): Tanh()
      (2): Linear(8, 3, bias=True)
    )
    >>> model(np.zeros((5, 4))).shape
    (5, 3)
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got "
                         f"{activation!r}")
    if len(sizes) < 2:
        raise ValueError(f"MLP: need at least input and output sizes, got {sizes!r}")
    rng = _rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b, init=init or _DEFAULT_INIT[activation], seed=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return Sequential(*layers)


# ============================================================================ PyTorch's layers
def _ints(layer, what, value, n, minimum):
    """An int or a sequence of n ints as a tuple of n ints, each at least `minimum`."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        vals = (int(value),) * n
    else:
        try:
            vals = tuple(value)
        except TypeError:
            vals = ()
        if len(vals) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                     for v in vals):
            raise TypeError(f"{layer}: {what} must be an int or a tuple of {n} ints, got "
                            f"{value!r}")
        vals = tuple(int(v) for v in vals)
    if any(v < minimum for v in vals):
        raise ValueError(f"{layer}: {what} must be >= {minimum}, got {value!r}")
    return vals


def _positive_int(layer, what, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer}: {what} must be a positive int, got {value!r}")
    return int(value)


def _in_dtype(x, like):
    """x as a Tensor in the dtype of Tensor `like` (the parameters set the dtype, as in
    Linear); x unchanged when like is None."""
    x = ops._t(x)
    return x if like is None or x.dtype == like.dtype else ops.astype(x, like.dtype)


# torch's padding_mode -> numpy's (ad.pad) mode
_PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                  "circular": "wrap"}


class _ConvNd(Module):
    """What Conv1d, Conv2d and ConvTranspose2d share: arguments, parameters, padding modes."""

    _dims = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, output_padding, seed, dtype):
        super().__init__()
        name, n = type(self).__name__, self._dims
        in_channels = _positive_int(name, "in_channels", in_channels)
        out_channels = _positive_int(name, "out_channels", out_channels)
        groups = _positive_int(name, "groups", groups)
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of 'zeros', 'reflect', "
                             f"'replicate' or 'circular', got {padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported, got "
                             f"{padding_mode!r}")
        kernel = _ints(name, "kernel_size", kernel_size, n, 1)
        stride = _ints(name, "stride", stride, n, 1)
        dilation = _ints(name, "dilation", dilation, n, 1)
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                allowed = "" if self._transposed else "'valid', 'same', "
                raise ValueError(f"{name}: padding must be {allowed}an int or a tuple of {n} "
                                 f"ints, got {padding!r}")
            if padding == "same" and stride != (1,) * n:
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride {stride})")
            totals = [d * (k - 1) if padding == "same" else 0 for k, d in zip(kernel, dilation)]
            pads = tuple((t // 2, t - t // 2) for t in totals)   # the odd one after, as torch
        else:
            padding = _ints(name, "padding", padding, n, 0)
            pads = tuple((p, p) for p in padding)
        output_padding = _ints(name, "output_padding", output_padding, n, 0)
        if any(e >= max(s, d) for e, s, d in zip(output_padding, stride, dilation)):
            raise ValueError(f"{name}: output_padding {output_padding} must be smaller than "
                             f"either stride {stride} or dilation {dilation}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel, stride, padding
        self.dilation, self.output_padding = dilation, output_padding
        self.transposed, self.groups, self.padding_mode = self._transposed, groups, padding_mode
        self._pads = pads
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups)) + kernel
        # torch's default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # fan_in = weight.shape[1] * prod(kernel); the bias from the same bound
        fan_in = shape[1] * int(np.prod(kernel))
        bound = 1.0 / np.sqrt(fan_in)
        rng = _rng(seed)
        self.weight = Tensor(rng.uniform(-bound, bound, shape).astype(dtype), requires_grad=True)
        self.bias = Tensor(rng.uniform(-bound, bound, (out_channels,)).astype(dtype),
                           requires_grad=True) if bias else None

    def _prepare(self, input):
        """The input in the weight's dtype, checked, and padded when padding_mode is not
        'zeros'; and the padding left for the convolution itself."""
        name, n = type(self).__name__, self._dims
        x = _in_dtype(input, self.weight)
        if x.ndim not in (n + 1, n + 2):
            raise ValueError(f"{name}: expected {n + 1}D (unbatched) or {n + 2}D (batched) "
                             f"input, got {x.ndim}D input of shape {x.shape}")
        if self.padding_mode == "zeros":
            return x, self.padding
        sizes = x.shape[x.ndim - n:]
        for size, (before, after) in zip(sizes, self._pads):
            limit = size if self.padding_mode == "circular" else size - 1
            if max(before, after) > limit and self.padding_mode != "replicate":
                raise ValueError(f"{name}: padding {max(before, after)} is too large for "
                                 f"padding_mode={self.padding_mode!r} and an input of spatial "
                                 f"size {tuple(sizes)} (at most {limit})")
        widths = [(0, 0)] * (x.ndim - n) + list(self._pads)
        return _pad(x, widths, mode=_PADDING_MODES[self.padding_mode]), 0

    def extra_repr(self) -> str:
        n = self._dims
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


_CONV_PARAMS = """in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or tuple of ints
        The filters' size.
    stride : int or tuple of ints, default 1
        Steps of the window.
    padding : int, tuple of ints, "valid" or "same", default 0
        Added on both sides of each spatial axis; "same" keeps the size (stride 1 only; an
        odd total puts the extra one after, as PyTorch does).
    dilation : int or tuple of ints, default 1
        Spacing of the filter taps.
    groups : int, default 1
        Channels split into this many groups, each convolved with its own filters.
    bias : bool, default True
        Whether to add a learned bias per output channel.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}, default "zeros"
        What the padding holds: zeros, the input mirrored (without the edge), the edge
        repeated, or the input wrapped around. The non-zero modes pad first (``ad.pad`` with
        numpy's modes reflect / edge / wrap) and convolve without padding, as PyTorch does.
    seed : int, numpy Generator or None
        Seeds the initial weight and bias (a Generator is advanced).
    dtype : numpy dtype, default float32
        The parameters' dtype (inputs are converted to it)."""

_CONV_RAISES = """ValueError
        For channels not divisible by groups, an unknown padding_mode or padding string,
        padding="same" with a stride, or sizes below their minimum.
    TypeError
        For sizes that are not ints or tuples of ints."""


class Conv2d(_ConvNd):
    __doc__ = f"""A 2-D convolution layer (``torch.nn.Conv2d``): :func:`pyad.conv2d` with a
    learned weight (out_channels, in_channels / groups, kH, kW) and bias (out_channels,).

    Initialised as PyTorch does: weight and bias uniform in (-b, b), b = 1 / sqrt(fan_in),
    fan_in = in_channels / groups * kH * kW (``kaiming_uniform_`` with a = sqrt(5)). The
    parameters are named ``weight`` and ``bias``, so a PyTorch state dict loads unchanged.

    Parameters
    ----------
    {_CONV_PARAMS}

    Raises
    ------
    {_CONV_RAISES}

    Examples
    --------
    >>> conv = ad.nn.Conv2d(3, 8, 3, padding=1, seed=0)
    >>> conv
    Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> conv.weight.shape, conv.bias.shape
    ((8, 3, 3, 3), (8,))
    >>> conv(np.ones((2, 3, 5, 5))).shape
    (2, 8, 5, 5)
    >>> ad.nn.Conv2d(1, 1, 3, padding="same", padding_mode="reflect", bias=False)
    Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=False,
           padding_mode=reflect)
    """

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Union[int, Sequence[int]],
                 stride: Union[int, Sequence[int]] = 1,
                 padding: Union[int, Sequence[int], str] = 0,
                 dilation: Union[int, Sequence[int]] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", seed: Seed = None,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, seed, dtype)

    def forward(self, input: ArrayLike) -> Tensor:
        """The convolution of a batch of images (or of one image).

        Parameters
        ----------
        input : array_like or Tensor
            (N, in_channels, H, W), or (in_channels, H, W); converted to the weight's dtype.

        Returns
        -------
        Tensor
            (N, out_channels, OH, OW), OH = (H + 2 p - d (kH - 1) - 1) // s + 1 (no batch
            axis for an unbatched input).

        Raises
        ------
        ValueError
            For an input of another number of dimensions or channels, or a reflect or
            circular padding larger than the input.

        Examples
        --------
        >>> conv = ad.nn.Conv2d(1, 1, 2, bias=False)
        >>> _ = conv.load_state_dict({"weight": np.ones((1, 1, 2, 2))})
        >>> conv(np.arange(9.0).reshape(1, 3, 3))
        tensor([[[ 8., 12.],
                 [20., 24.]]], dtype=float32, requires_grad=True)
        """
        x, padding = self._prepare(input)
        return conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                      self.groups)


class Conv1d(_ConvNd):
    __doc__ = f"""A 1-D convolution layer (``torch.nn.Conv1d``): :func:`pyad.conv1d` with a
    learned weight (out_channels, in_channels / groups, K) and bias (out_channels,).

    Initialised as PyTorch does: weight and bias uniform in (-b, b), b = 1 / sqrt(fan_in),
    fan_in = in_channels / groups * K.

    Parameters
    ----------
    {_CONV_PARAMS}

    Raises
    ------
    {_CONV_RAISES}

    Examples
    --------
    >>> conv = ad.nn.Conv1d(2, 4, 3, stride=2, seed=0)
    >>> conv
    Conv1d(2, 4, kernel_size=(3,), stride=(2,))
    >>> conv(np.ones((5, 2, 9))).shape
    (5, 4, 4)
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Union[int, Sequence[int]],
                 stride: Union[int, Sequence[int]] = 1,
                 padding: Union[int, Sequence[int], str] = 0,
                 dilation: Union[int, Sequence[int]] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", seed: Seed = None,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, seed, dtype)

    def forward(self, input: ArrayLike) -> Tensor:
        """The convolution of a batch of signals (or of one signal).

        Parameters
        ----------
        input : array_like or Tensor
            (N, in_channels, L), or (in_channels, L); converted to the weight's dtype.

        Returns
        -------
        Tensor
            (N, out_channels, L_out), L_out = (L + 2 p - d (K - 1) - 1) // s + 1.

        Raises
        ------
        ValueError
            For an input of another number of dimensions or channels, or a reflect or
            circular padding larger than the input.

        Examples
        --------
        >>> conv = ad.nn.Conv1d(1, 1, 2, bias=False, padding=1, padding_mode="circular")
        >>> _ = conv.load_state_dict({"weight": np.array([[[1.0, 10.0]]])})
        >>> conv(np.array([[1.0, 2.0, 3.0]]))
        tensor([[13., 21., 32., 13.]], dtype=float32, requires_grad=True)
        """
        x, padding = self._prepare(input)
        if not isinstance(padding, str):
            padding = padding if isinstance(padding, int) else padding[0]
        return conv1d(x, self.weight, self.bias, self.stride[0], padding, self.dilation[0],
                      self.groups)


class ConvTranspose2d(_ConvNd):
    """A 2-D transposed convolution layer (``torch.nn.ConvTranspose2d``):
    :func:`pyad.conv_transpose2d` with a learned weight (in_channels, out_channels / groups,
    kH, kW), PyTorch's layout, and bias (out_channels,).

    It upsamples: the output has the size of the input of a Conv2d with the same arguments.
    Initialised as PyTorch does: weight and bias uniform in (-b, b), b = 1 / sqrt(fan_in),
    with PyTorch's fan_in for this weight, weight.shape[1] * kH * kW = out_channels / groups
    * kH * kW.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or (int, int)
        The filters' size.
    stride : int or (int, int), default 1
        The stride of the convolution this transposes.
    padding : int or (int, int), default 0
        Its padding (removed from the output's borders).
    output_padding : int or (int, int), default 0
        Extra rows/columns at the end of the output (smaller than stride or dilation).
    groups : int, default 1
        Channel groups.
    bias : bool, default True
        Whether to add a learned bias per output channel.
    dilation : int or (int, int), default 1
        Spacing of the filter taps.
    padding_mode : {"zeros"}, default "zeros"
        The only mode (as in PyTorch).
    seed : int, numpy Generator or None
        Seeds the initial weight and bias.
    dtype : numpy dtype, default float32
        The parameters' dtype (inputs are converted to it).

    Raises
    ------
    ValueError
        For channels not divisible by groups, another padding_mode, a string padding, an
        output_padding not below stride or dilation, or sizes below their minimum.
    TypeError
        For sizes that are not ints or pairs of ints.

    Examples
    --------
    >>> up = ad.nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1, seed=0)
    >>> up
    ConvTranspose2d(8, 3, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))
    >>> up.weight.shape
    (8, 3, 4, 4)
    >>> up(np.ones((1, 8, 5, 5))).shape
    (1, 3, 10, 10)
    """

    _dims = 2
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Union[int, Sequence[int]],
                 stride: Union[int, Sequence[int]] = 1, padding: Union[int, Sequence[int]] = 0,
                 output_padding: Union[int, Sequence[int]] = 0, groups: int = 1,
                 bias: bool = True, dilation: Union[int, Sequence[int]] = 1,
                 padding_mode: str = "zeros", seed: Seed = None,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, seed, dtype)

    def forward(self, input: ArrayLike,
                output_size: Optional[Sequence[int]] = None) -> Tensor:
        """The transposed convolution of a batch of images (or of one image).

        Parameters
        ----------
        input : array_like or Tensor
            (N, in_channels, H, W), or (in_channels, H, W); converted to the weight's dtype.
        output_size : sequence of int, optional
            The wanted output size, (OH, OW) or the whole output shape: picks the
            output_padding (instead of the layer's) among the sizes a strided convolution
            maps to the input's size, as in PyTorch.

        Returns
        -------
        Tensor
            (N, out_channels, OH, OW), OH = (H - 1) s - 2 p + d (kH - 1) + output_padding + 1.

        Raises
        ------
        ValueError
            For an input of another number of dimensions or channels, or an output_size
            that cannot be reached.

        Examples
        --------
        >>> up = ad.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1, seed=0)
        >>> up(np.ones((1, 1, 4, 4))).shape
        (1, 1, 7, 7)
        >>> up(np.ones((1, 1, 4, 4)), output_size=(8, 8)).shape
        (1, 1, 8, 8)
        """
        x, _ = self._prepare(input)
        extra = self.output_padding
        if output_size is not None:
            extra = self._output_padding(x, output_size)
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, extra,
                                self.groups, self.dilation)

    def _output_padding(self, x, output_size):
        name, n = type(self).__name__, self._dims
        size = tuple(int(s) for s in output_size)
        if len(size) == x.ndim:
            size = size[x.ndim - n:]
        if len(size) != n:
            raise ValueError(f"{name}: output_size must have {n} or {x.ndim} elements for an "
                             f"input of shape {x.shape}, got {tuple(output_size)}")
        extra = []
        for i in range(n):
            smallest = ((x.shape[x.ndim - n + i] - 1) * self.stride[i] - 2 * self.padding[i]
                        + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            largest = smallest + self.stride[i] - 1
            if not smallest <= size[i] <= largest:
                raise ValueError(f"{name}: requested an output size of {size}, but valid sizes "
                                 f"for an input of shape {x.shape} range from {smallest} to "
                                 f"{largest} along axis {i}")
            extra.append(size[i] - smallest)
        return tuple(extra)


# ----------------------------------------------------------------------------- pooling
class MaxPool2d(Module):
    """2-D max pooling as a layer (``torch.nn.MaxPool2d``): :func:`pyad.max_pool2d`.

    Parameters
    ----------
    kernel_size : int or (int, int)
        The window.
    stride : int or (int, int), optional
        The step; default the window size.
    padding : int or (int, int), default 0
        -inf added on both sides, at most half the window.
    dilation : int or (int, int), default 1
        Spacing of the window's taps.
    return_indices : bool, default False
        Also return each window's argmax as a flat index into its plane (int64), as
        PyTorch does.
    ceil_mode : bool, default False
        Round the output size up (a last, partial window).

    Raises
    ------
    ValueError, TypeError
        For sizes that are not positive ints or pairs of them.

    Examples
    --------
    >>> pool = ad.nn.MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(np.arange(16.0).reshape(1, 1, 4, 4))
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """

    def __init__(self, kernel_size: Union[int, Sequence[int]],
                 stride: Optional[Union[int, Sequence[int]]] = None,
                 padding: Union[int, Sequence[int]] = 0, dilation: Union[int, Sequence[int]] = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        _ints("MaxPool2d", "kernel_size", kernel_size, 2, 1)
        if stride is not None:
            _ints("MaxPool2d", "stride", stride, 2, 1)
        _ints("MaxPool2d", "padding", padding, 2, 0)
        _ints("MaxPool2d", "dilation", dilation, 2, 1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)

    def forward(self, input: ArrayLike) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Same as ``ad.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode,
        return_indices)`` with the layer's arguments."""
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling as a layer (``torch.nn.AvgPool2d``): :func:`pyad.avg_pool2d`.

    Parameters
    ----------
    kernel_size : int or (int, int)
        The window.
    stride : int or (int, int), optional
        The step; default the window size.
    padding : int or (int, int), default 0
        Zeros added on both sides, at most half the window.
    ceil_mode : bool, default False
        Round the output size up.
    count_include_pad : bool, default True
        Whether the padding zeros count in the divisor.
    divisor_override : int, optional
        Divide every window's sum by this instead.

    Raises
    ------
    ValueError, TypeError
        For sizes that are not positive ints or pairs of them, or a divisor_override that
        is not positive.

    Examples
    --------
    >>> pool = ad.nn.AvgPool2d(2, stride=1)
    >>> pool
    AvgPool2d(kernel_size=2, stride=1, padding=0)
    >>> pool(np.arange(9.0).reshape(1, 1, 3, 3))
    tensor([[[[2., 3.],
              [5., 6.]]]])
    """

    def __init__(self, kernel_size: Union[int, Sequence[int]],
                 stride: Optional[Union[int, Sequence[int]]] = None,
                 padding: Union[int, Sequence[int]] = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: Optional[int] = None) -> None:
        super().__init__()
        _ints("AvgPool2d", "kernel_size", kernel_size, 2, 1)
        if stride is not None:
            _ints("AvgPool2d", "stride", stride, 2, 1)
        _ints("AvgPool2d", "padding", padding, 2, 0)
        if divisor_override is not None:
            _positive_int("AvgPool2d", "divisor_override", divisor_override)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, bool(ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.avg_pool2d(input, kernel_size, stride, padding, ceil_mode,
        count_include_pad, divisor_override)`` with the layer's arguments."""
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """2-D adaptive average pooling as a layer (``torch.nn.AdaptiveAvgPool2d``):
    :func:`pyad.adaptive_avg_pool2d`, any input size to a fixed output size.

    Parameters
    ----------
    output_size : int or (int or None, int or None)
        (OH, OW); None keeps that axis' size; one int for both.

    Examples
    --------
    >>> pool = ad.nn.AdaptiveAvgPool2d((1, 1))
    >>> pool
    AdaptiveAvgPool2d(output_size=(1, 1))
    >>> pool(np.arange(8.0).reshape(2, 1, 2, 2)).shape
    (2, 1, 1, 1)
    """

    def __init__(self, output_size: Union[int, Sequence[Optional[int]]]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.adaptive_avg_pool2d(input, output_size)`` with the layer's size."""
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ----------------------------------------------------------------------------- normalisation
def _increment(module, name):
    """Add 1 to the integer buffer `name` in place."""
    buf = module._buffers[name]
    data = buf.data if isinstance(buf, Tensor) else buf
    try:
        data[...] = data + 1
    except TypeError:       # an immutable array type
        if isinstance(buf, Tensor):
            buf.data = data + 1
        else:
            module._set_buffer(name, data + 1)


def _track_batch(module, data, momentum):
    """BatchNorm's bookkeeping after a training batch of values `data`: count it in
    num_batches_tracked and move the running statistics toward the batch's, in place
    (running = (1 - f) running + f stat, the unbiased variance; f = momentum, or
    1 / num_batches_tracked for momentum=None), as PyTorch does."""
    count = module._buffers.get("num_batches_tracked")
    if count is not None:
        _increment(module, "num_batches_tracked")
        count = module._buffers["num_batches_tracked"]
    factor = momentum
    if momentum is None:
        factor = 0.0 if count is None else \
            1.0 / float(backend.to_host(count.data if isinstance(count, Tensor) else count))
    axes = (0,) + tuple(range(2, data.ndim))
    n = data.size // data.shape[1]
    xp = backend.namespace(data)
    stats = {"running_mean": xp.mean(data, axis=axes),
             "running_var": xp.var(data, axis=axes) * (n / (n - 1.0))}
    for name, value in stats.items():
        buf = module._buffers.get(name)
        if buf is None:
            continue
        target = buf.data if isinstance(buf, Tensor) else buf
        dtype = backend.dtype_of(target)
        written = _assigned(target, target * (1.0 - factor) + backend.astype(value, dtype) * factor)
        if written is not target:
            if isinstance(buf, Tensor):
                buf.data = written
            else:
                module._set_buffer(name, written)


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; subclasses set _ndims and _layout."""

    _ndims = ()
    _layout = ""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, dtype, bias):
        super().__init__()
        name = type(self).__name__
        n = _positive_int(name, "num_features", num_features)
        if momentum is not None and not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.num_features, self.eps, self.momentum = n, float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if affine:
            self.weight = Tensor(np.ones(n, dtype=dtype), requires_grad=True)
            self.bias = Tensor(np.zeros(n, dtype=dtype), requires_grad=True) if bias else None
        else:
            self.weight = self.bias = None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(n, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(n, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), dtype=np.int64)))
        else:
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(buffer, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, ``num_batches_tracked`` 0 (in place).

        Examples
        --------
        >>> bn = ad.nn.BatchNorm1d(2)
        >>> _ = bn(np.array([[1.0, 2.0], [3.0, 6.0]]))
        >>> bn.reset_running_stats()
        >>> bn.running_mean, bn.num_batches_tracked
        (tensor([0., 0.], dtype=float32), tensor(0))
        """
        if self.track_running_stats:
            n = self.num_features
            self.load_state_dict({"running_mean": np.zeros(n), "running_var": np.ones(n),
                                  "num_batches_tracked": np.zeros((), np.int64)}, strict=False)

    def forward(self, input: ArrayLike) -> Tensor:
        name = type(self).__name__
        x = ops._t(input)
        if x.ndim not in self._ndims:
            dims = " or ".join(f"{d}D" for d in self._ndims)
            raise ValueError(f"{name}: expected {dims} input {self._layout}, got {x.ndim}D "
                             f"input of shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels (axis 1), got "
                             f"input of shape {x.shape}")
        x = _in_dtype(x, self.weight if self.weight is not None else self.running_mean)
        if self.training or (self.running_mean is None and self.running_var is None):
            y = batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
            if self.training and self.track_running_stats:
                # a host step: ad.compile replays the bookkeeping with each call's batch
                host_step(_track_batch, self, x.data,
                          None if self.momentum is None else float(self.momentum))
            return y
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          False, 0.0, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


_BN_DOC = """Batch normalisation over {what} (``torch.nn.{name}``):
    :func:`pyad.batch_norm` with a learned per-channel scale and shift.

    In training mode (``model.train()``, the default) each channel is normalised with the
    batch's mean and biased variance, and the running statistics are updated in place:
    ``running = (1 - momentum) running + momentum batch_stat`` (the unbiased variance), and
    ``num_batches_tracked`` grows by one. In evaluation mode (``model.eval()``) the running
    statistics normalise. Without running statistics (``track_running_stats=False``) the
    batch's statistics are used in both modes.

    Parameters
    ----------
    num_features : int
        The number of channels C (axis 1 of the input).
    eps : float, default 1e-5
        Added to the variance.
    momentum : float or None, default 0.1
        The running statistics' update factor; None for a cumulative moving average (the
        factor 1 / num_batches_tracked).
    affine : bool, default True
        Learn ``weight`` (starting at ones) and ``bias`` (zeros), each of shape (C,).
    track_running_stats : bool, default True
        Keep the buffers ``running_mean`` (zeros), ``running_var`` (ones) and
        ``num_batches_tracked`` (an int64 scalar, 0).
    seed : int, numpy Generator or None
        Accepted for a signature like the other layers'; unused (the initial values are
        constants).
    dtype : numpy dtype, default float32
        The parameters' and running statistics' dtype (inputs are converted to it).
    bias : bool, default True
        (keyword only) With affine, whether to learn the shift ``bias`` too.

    Raises
    ------
    ValueError
        For a num_features that is not a positive int or a momentum outside [0, 1]; when
        called, for an input that is not {dims} or has another number of channels.

    Examples
    --------
    >>> bn = ad.nn.{name}(2)
    >>> bn
    {name}(2, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> x = {example}
    >>> print(np.round(bn(x).numpy().reshape(2, 2), 4))
    [[-1. -1.]
     [ 1.  1.]]
    >>> bn.running_mean, bn.num_batches_tracked
    (tensor([0.2, 2. ], dtype=float32), tensor(1))
    >>> bn.eval()(x).shape
    {shape}
    """


class BatchNorm1d(_BatchNorm):
    __doc__ = _BN_DOC.format(what="a batch of vectors or of sequences", name="BatchNorm1d",
                             dims="(N, C) or (N, C, L)",
                             example="np.array([[1.0, 10.0], [3.0, 30.0]])", shape="(2, 2)")
    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, seed: Seed = None,
                 dtype: DTypeLike = np.float32, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, bias)


class BatchNorm2d(_BatchNorm):
    __doc__ = _BN_DOC.format(what="a batch of images, per channel", name="BatchNorm2d",
                             dims="(N, C, H, W)",
                             example="np.array([[1.0, 10.0], [3.0, 30.0]]).reshape(2, 2, 1, 1)",
                             shape="(2, 2, 1, 1)")
    _ndims = (4,)
    _layout = "(N, C, H, W)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True, seed: Seed = None,
                 dtype: DTypeLike = np.float32, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype, bias)


_BatchNorm.forward.__doc__ = """Normalise the input (see the class); in training mode, also
        update the running statistics and ``num_batches_tracked``.

        Parameters
        ----------
        input : array_like or Tensor
            (N, C) or (N, C, L) for BatchNorm1d, (N, C, H, W) for BatchNorm2d; converted to
            the layer's dtype.

        Returns
        -------
        Tensor
            The normalised input, of its shape.

        Raises
        ------
        ValueError
            For an input of another number of dimensions or channels, or a single value per
            channel in training mode.

        Examples
        --------
        >>> bn = ad.nn.BatchNorm1d(3).eval()
        >>> bn(np.ones((4, 3))).shape
        (4, 3)
        """


class LayerNorm(Module):
    """Layer normalisation (``torch.nn.LayerNorm``): :func:`pyad.layer_norm` over the trailing
    ``normalized_shape`` axes of each sample, with a learned elementwise scale and shift.

    Parameters
    ----------
    normalized_shape : int or sequence of int
        The trailing shape normalised over.
    eps : float, default 1e-5
        Added to the variance.
    elementwise_affine : bool, default True
        Learn ``weight`` (ones, of shape normalized_shape) and ``bias`` (zeros).
    bias : bool, default True
        Whether the affine part has a bias.
    seed : int, numpy Generator or None
        Accepted for a signature like the other layers'; unused.
    dtype : numpy dtype, default float32
        The parameters' dtype (inputs are converted to it).

    Raises
    ------
    ValueError
        For a normalized_shape that is empty or not of positive ints.

    Examples
    --------
    >>> ln = ad.nn.LayerNorm(3)
    >>> ln
    LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> print(np.round(ln(np.array([[1.0, 2.0, 3.0]])).numpy(), 4))
    [[-1.2247  0.      1.2247]]
    """

    def __init__(self, normalized_shape: Union[int, Sequence[int]], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, seed: Seed = None,
                 dtype: DTypeLike = np.float32) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(normalized_shape)
        if not shape or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or a "
                             f"non-empty sequence of them, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        self.weight = Tensor(np.ones(self.normalized_shape, dtype=dtype), requires_grad=True) \
            if elementwise_affine else None
        self.bias = Tensor(np.zeros(self.normalized_shape, dtype=dtype), requires_grad=True) \
            if elementwise_affine and bias else None

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.layer_norm(input, normalized_shape, weight, bias, eps)`` with the
        layer's parameters (the input converted to their dtype)."""
        x = _in_dtype(input, self.weight if self.weight is not None else self.bias)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class Dropout(Module):
    """Dropout (``torch.nn.Dropout``): in training mode each entry is zeroed with probability
    p and the others scaled by 1 / (1 - p); in evaluation mode the identity.

    The layer owns a numpy Generator made from ``seed``; each training call draws its mask
    from it (advancing it), so a run with a seed is reproducible. The backward pass (and any
    higher derivative) uses the mask of the forward call (see :func:`pyad.dropout`).

    Parameters
    ----------
    p : float, default 0.5
        The probability of zeroing an entry, in [0, 1].
    inplace : bool, default False
        Accepted for PyTorch's signature; pyad never overwrites its input, so the result is
        the same either way.
    seed : int, numpy Generator or None
        Seeds the layer's generator (a Generator is used, and advanced, as it is).

    Raises
    ------
    ValueError
        For p outside [0, 1].

    Examples
    --------
    >>> drop = ad.nn.Dropout(0.5, seed=0)
    >>> drop
    Dropout(p=0.5, inplace=False)
    >>> drop(np.ones(6))
    tensor([2., 0., 0., 0., 2., 2.])
    >>> drop.eval()(np.ones(3))
    tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, seed: Seed = None) -> None:
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p, self.inplace = float(p), bool(inplace)
        self.generator = _rng(seed)

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.dropout(input, p, training, seed=generator)`` with the layer's p,
        mode and generator."""
        return dropout(input, self.p, self.training, seed=self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Flatten the axes start_dim..end_dim into one (``torch.nn.Flatten``): by default all
    but the batch axis, e.g. between convolutions and a :class:`Linear` layer.

    Parameters
    ----------
    start_dim : int, default 1
        The first axis flattened (negative counts from the end).
    end_dim : int, default -1
        The last axis flattened.

    Examples
    --------
    >>> flat = ad.nn.Flatten()
    >>> flat
    Flatten(start_dim=1, end_dim=-1)
    >>> flat(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    >>> ad.nn.Flatten(0, 1)(np.zeros((2, 3, 4))).shape
    (6, 4)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, input: ArrayLike) -> Tensor:
        """The input reshaped with the axes start_dim..end_dim merged.

        Parameters
        ----------
        input : array_like or Tensor
            Any array with at least one axis.

        Returns
        -------
        Tensor
            ``shape[:start] + (prod(shape[start:end + 1]),) + shape[end + 1:]``.

        Raises
        ------
        IndexError
            When start_dim or end_dim is not an axis of the input.
        ValueError
            When start_dim comes after end_dim.

        Examples
        --------
        >>> ad.nn.Flatten()(np.arange(6.0).reshape(1, 2, 3))
        tensor([[0., 1., 2., 3., 4., 5.]])
        """
        x = ops._t(input)
        nd = max(x.ndim, 1)
        dims = []
        for d in (self.start_dim, self.end_dim):
            if not -nd <= d < nd:
                raise IndexError(f"Flatten: dimension {d} is out of range for an input of "
                                 f"shape {x.shape} (expected in [{-nd}, {nd - 1}])")
            dims.append(d % nd)
        start, end = dims
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for an input of shape {x.shape}")
        shape = tuple(x.shape) or (1,)
        merged = int(np.prod(shape[start:end + 1]))
        return ops.reshape(x, shape[:start] + (merged,) + shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# ----------------------------------------------------------------------------- activations
class GELU(Module):
    """The GELU activation as a layer (``torch.nn.GELU``): :func:`pyad.gelu`.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        The exact x Phi(x), or its tanh approximation.

    Raises
    ------
    ValueError
        For another approximate.

    Examples
    --------
    >>> act = ad.nn.GELU()
    >>> act
    GELU(approximate='none')
    >>> np.round(act(np.array([-1.0, 0.0, 2.0])).numpy(), 4).tolist()
    [-0.1587, 0.0, 1.9545]
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.gelu(input, approximate)`` with the layer's approximate."""
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """The SiLU (swish) activation x sigmoid(x) as a layer (``torch.nn.SiLU``):
    :func:`pyad.silu`.

    Parameters
    ----------
    inplace : bool, default False
        Accepted for PyTorch's signature; pyad never overwrites its input.

    Examples
    --------
    >>> act = ad.nn.SiLU()
    >>> act
    SiLU()
    >>> np.round(act(np.array([-1.0, 0.0, 2.0])).numpy(), 4).tolist()
    [-0.2689, 0.0, 1.7616]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.silu(input)``."""
        return silu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """The leaky ReLU activation as a layer (``torch.nn.LeakyReLU``): :func:`pyad.leaky_relu`.

    Parameters
    ----------
    negative_slope : float, default 0.01
        The slope for negative inputs.
    inplace : bool, default False
        Accepted for PyTorch's signature; pyad never overwrites its input.

    Examples
    --------
    >>> act = ad.nn.LeakyReLU(0.2)
    >>> act
    LeakyReLU(negative_slope=0.2)
    >>> act(np.array([-1.0, 0.0, 2.0]))
    tensor([-0.2,  0. ,  2. ])
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, bool(inplace)

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.leaky_relu(input, negative_slope)`` with the layer's slope."""
        return leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                         else "")


class ELU(Module):
    """The ELU activation as a layer (``torch.nn.ELU``): :func:`pyad.elu`.

    Parameters
    ----------
    alpha : float, default 1.0
        alpha (exp(x) - 1) for negative inputs.
    inplace : bool, default False
        Accepted for PyTorch's signature; pyad never overwrites its input.

    Examples
    --------
    >>> act = ad.nn.ELU()
    >>> act
    ELU(alpha=1.0)
    >>> np.round(act(np.array([-1.0, 0.0, 2.0])).numpy(), 4).tolist()
    [-0.6321, 0.0, 2.0]
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, bool(inplace)

    def forward(self, input: ArrayLike) -> Tensor:
        """Same as ``ad.elu(input, alpha)`` with the layer's alpha."""
        return elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


LogSigmoid = _activation("LogSigmoid", log_sigmoid)
