"""Layers: Module (parameters found from attributes), Linear, Sequential, Embedding, MLP."""
from collections import OrderedDict

import numpy as np

from pyad import init as _init
from pyad import ops
from pyad._tape import Tensor
from pyad.losses import (binary_cross_entropy_with_logits, mse_loss,  # noqa: F401
                         softmax_cross_entropy)

__all__ = ["Module", "Linear", "Sequential", "Embedding", "Tanh", "ReLU", "Sigmoid",
           "Softplus", "MLP", "softmax_cross_entropy", "mse_loss",
           "binary_cross_entropy_with_logits"]


class Module:
    """Base class: Tensors with requires_grad and sub-Modules assigned as attributes are
    registered in assignment order, so parameters() and state_dict() need no bookkeeping."""

    def __init__(self):
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

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix=""):
        for name, p in self._params.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def state_dict(self):
        """name -> a copy of the parameter's array, in registration order."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state, strict=True):
        """Copy arrays into the parameters (in place, so optimizers keep working)."""
        own = OrderedDict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for name, p in own.items():
            if name not in state:
                continue
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                raise ValueError(f"load_state_dict for {type(self).__name__}: '{name}' has shape "
                                 f"{value.shape} in the state but {p.data.shape} in the model")
            p.data[...] = value
        return self

    def __repr__(self):
        children = "".join(f"\n  ({k}): " + repr(m).replace("\n", "\n  ")
                           for k, m in self._modules.items())
        return f"{type(self).__name__}({self.extra_repr()}{children}{chr(10) if children else ''})"

    def extra_repr(self):
        return ""


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class Linear(Module):
    """y = x W + b, W of shape (in_features, out_features) (so x @ W needs no transpose)."""

    def __init__(self, in_features, out_features, bias=True, init="he", seed=None,
                 dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        w = _init.initializer(init)((in_features, out_features), _rng(seed), dtype)
        self.weight = Tensor(w, requires_grad=True)
        self.bias = Tensor(np.zeros(out_features, dtype=dtype), requires_grad=True) if bias else None

    def forward(self, x):
        x = ops._t(x)
        if x.dtype != self.weight.dtype:
            x = ops.astype(x, self.weight.dtype)     # the parameters set the dtype
        y = ops.matmul(x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: integer ids of any shape -> vectors of size dim."""

    def __init__(self, num_embeddings, embedding_dim, seed=None, dtype=np.float32):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        w = _rng(seed).standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        self.weight = Tensor(w, requires_grad=True)

    def forward(self, ids):
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: ids must lie in [0, {self.num_embeddings}), got "
                             f"values in [{ids.min()}, {ids.max()}]")
        flat = ops.getitem(self.weight, ids.reshape(-1))
        return ops.reshape(flat, ids.shape + (self.embedding_dim,))

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Sequential(Module):
    """Modules applied in order."""

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            setattr(self, str(i), layer)
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)


def _activation(name, fn):
    cls = type(name, (Module,), {"forward": lambda self, x: fn(x),
                                 "__doc__": f"The {name} activation as a module."})
    return cls


Tanh = _activation("Tanh", ops.tanh)
ReLU = _activation("ReLU", ops.relu)
Sigmoid = _activation("Sigmoid", ops.sigmoid)
Softplus = _activation("Softplus", ops.softplus)
_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "softplus": Softplus}
_DEFAULT_INIT = {"relu": "he", "tanh": "xavier", "sigmoid": "xavier", "softplus": "he"}


def MLP(sizes, activation="relu", seed=None, dtype=np.float32, init=None):
    """Linear layers of the given sizes with an activation between them (none after the last).
    init defaults to He for relu/softplus and Xavier/Glorot for tanh/sigmoid."""
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
