"""Layers: Module (parameters found from attributes), Linear, Sequential, Embedding, MLP."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from pyad import backend
from pyad.train import init as _init
from pyad.train.optim import clear_grads
from pyad.ops import core as ops
from pyad.engine._tape import Tensor, host_step
from pyad._typing import ArrayLike, DTypeLike, Seed
from pyad.train.losses import (binary_cross_entropy_with_logits, mse_loss,  # noqa: F401
                         softmax_cross_entropy)

__all__ = ["Module", "Linear", "Sequential", "Embedding", "Tanh", "ReLU", "Sigmoid",
           "Softplus", "MLP", "softmax_cross_entropy", "mse_loss",
           "binary_cross_entropy_with_logits"]


class Module:
    """Base class of layers and models (like ``torch.nn.Module``).

    Tensors with ``requires_grad=True`` and sub-Modules assigned as attributes are
    registered in assignment order, so :meth:`parameters` and :meth:`state_dict` need no
    bookkeeping. A subclass calls ``super().__init__()`` first, then assigns its parameters
    and layers, and defines :meth:`forward`; calling the module calls ``forward``.

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
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning attributes")
        # re-assigning keeps a parameter's (or module's) place in the order, like PyTorch
        if isinstance(value, Tensor) and value.requires_grad:
            self._modules.pop(name, None)
            self._params[name] = value
        elif isinstance(value, Module):
            self._params.pop(name, None)
            self._modules[name] = value
        else:
            self._params.pop(name, None)
            self._modules.pop(name, None)
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
        """Move every parameter to `device` (``"cpu"``, ``"cuda"``, ``"cuda:N"``), in place:
        the same Tensor objects hold the moved arrays, so an optimizer made before keeps
        working (its state moves on its next step only if created after; make optimizers
        after moving, as in PyTorch). Gradients are cleared.

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
        return self

    def state_dict(self) -> Dict[str, np.ndarray]:
        """The parameters' values by name: what a checkpoint stores.

        Returns
        -------
        OrderedDict of str to numpy.ndarray
            name -> a host (numpy) copy of the parameter's array, in registration order,
            whatever device the parameters live on.

        See Also
        --------
        load_state_dict, pyad.save

        Examples
        --------
        >>> model = ad.nn.Linear(3, 2, seed=0)
        >>> {name: a.shape for name, a in model.state_dict().items()}
        {'weight': (3, 2), 'bias': (2,)}
        """
        return OrderedDict((name, _host_copy(p.data)) for name, p in self.named_parameters())

    def load_state_dict(self, state: Dict[str, ArrayLike], strict: bool = True) -> Module:
        """Copy arrays into the parameters (in place, so optimizers keep working).

        Each parameter keeps its backend, device and dtype: a state of numpy arrays loaded
        into a model on the GPU is copied there (and one of GPU arrays into a model on the
        CPU is copied to the host).

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
            When an array's shape differs from its parameter's (naming both).

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
        own = OrderedDict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for name, p in own.items():
            if name not in state:
                continue
            value = state[name]
            value = value.data if isinstance(value, Tensor) else value
            value = value if backend.is_foreign(value) else np.asarray(value)
            if tuple(value.shape) != tuple(p.data.shape):
                raise ValueError(f"load_state_dict for {type(self).__name__}: '{name}' has shape "
                                 f"{tuple(value.shape)} in the state but {tuple(p.data.shape)} "
                                 f"in the model")
            _assign(p, value)
        return self

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


def _host_copy(a):
    """A numpy copy of array a, whatever its backend."""
    return np.array(a) if isinstance(a, np.ndarray) else backend.to_host(a)


def _assign(p, value):
    """Write value (an array of any backend, p's shape) into parameter p in place, on p's
    backend and device and in p's dtype (an explicit copy across backends)."""
    if isinstance(p.data, np.ndarray) and isinstance(value, np.ndarray):
        p.data[...] = value
        return
    value = backend.to_backend(value, p.data)
    if backend.dtype_of(value) != backend.dtype_of(p.data):
        value = backend.astype(value, backend.dtype_of(p.data))
    try:
        p.data[...] = value
    except TypeError:       # an immutable array type (JAX's): a new array
        p.data = backend.copy(value)


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
