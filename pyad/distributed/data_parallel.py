"""Data-parallel training: the same parameters on every rank, gradients averaged in flat buckets."""
from __future__ import annotations

import os
import sys
import weakref
from typing import Any, Dict, Optional, Union

import numpy as np

from pyad import backend
from pyad.engine import _tape
from pyad.engine._tape import Tensor, host_step, wrap
from pyad.engine.pytree import tree_flatten
from pyad.distributed.comm import _mpi, agree, communicator

__all__ = ["broadcast_parameters", "DistributedOptimizer", "save", "load"]

BUCKET_BYTES = 25 << 20     # PyTorch DDP's default bucket_cap_mb


def _tensors(params, op, buffers=False):
    """The Tensors (or arrays) of a module (with buffers: its buffers too), a list or any
    pytree of them."""
    if hasattr(params, "parameters") and callable(params.parameters):
        module = params
        params = list(module.parameters())
        if buffers and hasattr(module, "buffers") and callable(module.buffers):
            params += list(module.buffers())
    leaves, _ = tree_flatten(params)
    for i, p in enumerate(leaves):
        data = p.data if isinstance(p, Tensor) else p
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            raise TypeError(f"dist.{op}: leaf {i} is a {type(p).__name__}; pass a module, "
                            f"Tensors or arrays")
    return leaves


def _pack_into(flat, grads, scale):
    """flat[part] = h * scale for each (h, part) of grads (host arrays): those already in
    their place (backward() wrote them there) scaled in place, those that are C-contiguous,
    of the bucket's dtype and the part's size, and not other memory of the bucket in one C++
    pass (backend.pack_scaled), the rest by numpy's multiply (casts, strides, and its error
    for a wrong size)."""
    arrays, starts = [], []
    for h, part in grads:
        if h.base is flat and _in_place(h, flat, part):
            if scale != 1.0:
                np.multiply(h, scale, out=h)
        elif (h.dtype == flat.dtype and h.size == part.stop - part.start
                and h.flags.c_contiguous and h.base is not flat):
            arrays.append(h)
            starts.append(part.start)
        else:
            np.multiply(h.reshape(-1), scale, out=flat[part])
    if arrays:
        backend.pack_scaled(flat, arrays, starts, scale)


def _in_place(h, flat, part):
    """Whether h is flat[part] itself, in order."""
    return (h.dtype == flat.dtype and h.size == part.stop - part.start and h.flags.c_contiguous
            and h.__array_interface__["data"][0]
            == flat.__array_interface__["data"][0] + part.start * flat.itemsize)


def _buckets(arrays, limit):
    """Indices of arrays grouped by dtype and device, in order, each group cut into runs of
    at most `limit` bytes (an array larger than that is a bucket of its own)."""
    groups = {}
    for i, a in enumerate(arrays):
        groups.setdefault((a.dtype, backend.device_of(a)), []).append(i)
    out = []
    for idx in groups.values():
        run, size = [], 0
        for i in idx:
            nbytes = arrays[i].size * arrays[i].dtype.itemsize
            if run and size + nbytes > limit:
                out.append(run)
                run, size = [], 0
            run.append(i)
            size += nbytes
        out.append(run)
    return out


def _pack(arrays, dtype, extra=0):
    """One flat host buffer holding the arrays' values one after another (+ extra slots)."""
    flat = np.empty(sum(a.size for a in arrays) + extra, dtype=dtype)
    start = 0
    for a in arrays:
        flat[start:start + a.size] = backend.to_host(a).ravel()
        start += a.size
    return flat


def broadcast_parameters(params: Any, root: int = 0) -> Any:
    """Copy rank ``root``'s parameter values into every rank's parameters, in place.

    Call it once after building the model, before training: ranks that initialised their
    parameters differently (other seeds) then start from the same point. One Bcast per
    dtype (the values packed into a flat buffer). Given a module, its buffers (BatchNorm's
    running statistics) are broadcast too, as PyTorch's DistributedDataParallel does.

    Parameters
    ----------
    params : module, list of Tensor, or pytree of Tensors or arrays
        ``model`` (its ``parameters()`` and ``buffers()``), ``model.parameters()``, or a
        pytree; numpy and GPU arrays are written in place.
    root : int, default 0
        The rank whose values are kept.

    Returns
    -------
    params
        The same object, now equal on every rank.

    Raises
    ------
    RuntimeError
        Before ``dist.init()``.
    ValueError
        On every rank, when the ranks' parameter shapes differ.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> model = ad.nn.Sequential(ad.nn.Linear(3, 2))
    >>> dist.broadcast_parameters(model) is model
    True
    """
    comm = communicator("dist.broadcast_parameters")
    leaves = _tensors(params, "broadcast_parameters", buffers=True)
    arrays = [p.data if isinstance(p, Tensor) else p for p in leaves]
    for bucket in _buckets(arrays, 1 << 62):
        group = [arrays[i] for i in bucket]
        flat = _pack(group, group[0].dtype)
        agree("broadcast_parameters", comm, flat, root)
        comm.Bcast(flat, root=root)
        _unpack_into(flat, group)
    return params


def _unpack_into(flat, arrays):
    start = 0
    for a in arrays:
        part = flat[start:start + a.size].reshape(a.shape)
        if backend.is_foreign(a):
            a[...] = backend.to_backend(part, a)
        else:
            np.copyto(a, part)
        start += a.size


class DistributedOptimizer:
    """Wrap an optimizer so that its ``step()`` first averages the gradients over the ranks.

    Every rank holds the same parameters (start them equal with
    :func:`broadcast_parameters`) and computes the gradient of its own batch's loss; the
    step replaces each ``.grad`` by the mean over the ranks, then runs the wrapped
    optimizer's update. With equal per-rank batches that is the gradient of the loss over
    the combined batch, so N ranks with batch B train exactly as one process with batch N*B.

    Gradients are packed into flat buckets of about ``bucket_mb`` megabytes (per dtype and
    device) and each bucket is one ``Allreduce``, as PyTorch's DDP does: a few calls per
    step, not one per tensor. After ``zero_grad()``, ``backward()`` writes the gradients of
    matrix products (the weights of ``Linear`` layers) straight into their place in the
    bucket, as DDP's ``gradient_as_bucket_view`` does, so the step averages them where they
    are, with no copy into the bucket; the ``.grad`` it handed out then holds the mean after
    ``step()`` (the others are copied in on the way). A parameter whose gradient is None on
    every rank is skipped
    as the wrapped optimizer skips it; one that has a gradient on some ranks counts as zero
    on the others. Everything else (``lr``, ``zero_grad()``, ``state_dict()``, schedules)
    is the wrapped optimizer's. Under :func:`pyad.compile` the whole step is replayed.

    Parameters
    ----------
    optimizer : pyad.optim.Optimizer
        The optimizer over the model's parameters.
    bucket_mb : float, default 25
        The bucket size in megabytes.
    overlap : bool, default False
        Start a bucket's averaging (``Iallreduce``) as soon as ``backward()`` has finished
        its gradients, while the sweep still computes the layers below, as DDP does;
        ``step()`` then waits for them. Every rank must call ``backward()`` and ``step()``
        alike (with no other collective in between), and a gradient changed between the
        two is averaged as ``backward()`` left it. Off by default: here (MPICH over shared
        memory, 2 cores) it measured no faster; see the README's "Beyond one machine".

    Raises
    ------
    RuntimeError
        Before ``dist.init()``.
    ValueError
        On every rank at the first step, when the ranks' parameter shapes differ.

    Examples
    --------
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = dist.DistributedOptimizer(ad.optim.SGD([w], lr=0.1))
    >>> opt.zero_grad()
    >>> ad.sum(w * w).backward()
    >>> opt.step()                 # one rank: the mean is its own gradient
    >>> w
    tensor([0.8, 1.6], requires_grad=True)
    """

    def __init__(self, optimizer: Any, bucket_mb: float = 25.0, overlap: bool = False) -> None:
        if not hasattr(optimizer, "_step") or not hasattr(optimizer, "params"):
            raise TypeError(f"DistributedOptimizer: wrap a pyad optimizer (ad.optim.Adam(...)), "
                            f"got {type(optimizer).__name__}")
        if not bucket_mb > 0:
            raise ValueError(f"DistributedOptimizer: bucket_mb must be > 0, got {bucket_mb}")
        self.optimizer = optimizer
        self.comm = communicator("dist.DistributedOptimizer")
        self.bucket_bytes = int(bucket_mb * (1 << 20))
        # buckets in reverse parameter order (the last layers' gradients are finished first)
        arrays = [p.data for p in reversed(optimizer.params)]
        order = list(range(len(arrays) - 1, -1, -1))
        self.buckets = [[order[i] for i in b] for b in _buckets(arrays, self.bucket_bytes)]
        # parameter index -> (bucket, its slice of the bucket's buffer, its flag's position)
        self._where = {}
        for b, bucket in enumerate(self.buckets):
            start = 0
            size = sum(optimizer.params[i].data.size for i in bucket)
            for k, i in enumerate(bucket):
                n = optimizer.params[i].data.size
                self._where[i] = (b, slice(start, start + n), size + k)
                start += n
        self._scale = 1.0 / self.comm.Get_size()
        self._layout = [[(i,) + self._where[i][1:] for i in bucket] for bucket in self.buckets]
        self._agreed = [False] * len(self.buckets)
        self._spare = [None] * len(self.buckets)
        self.overlap = bool(overlap)
        self._index = {id(p): i for i, p in enumerate(optimizer.params)}
        self._new_round()
        if self.overlap:
            _OVERLAPPING[id(self)] = self
            _install_hook()

    def __getattr__(self, name):        # hyperparameters, state, params: the wrapped ones
        if name == "optimizer":
            raise AttributeError(name)
        return getattr(self.optimizer, name)

    @property
    def lr(self) -> float:
        """The wrapped optimizer's learning rate (settable)."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def zero_grad(self) -> None:
        """The wrapped optimizer's ``zero_grad()``: every ``.grad`` back to None.

        Examples
        --------
        >>> import pyad.distributed as dist
        >>> dist.init()
        >>> w = ad.tensor([1.0], requires_grad=True)
        >>> opt = dist.DistributedOptimizer(ad.optim.SGD([w], lr=0.1))
        >>> ad.sum(w * w).backward()
        >>> opt.zero_grad()
        >>> w.grad is None
        True
        """
        self.optimizer.zero_grad()
        if not self.overlap:        # (overlap averages during backward, from copies)
            self._give_destinations()

    def _give_destinations(self):
        """Let the next backward() write each gradient into its place in this round's bucket
        buffers (see pyad.engine set_grad_destination): a buffer no one else holds again."""
        params = self.optimizer.params
        for b, layout in enumerate(self._layout):
            if any(type(params[i].data) is not np.ndarray for i, _, _ in layout):
                continue        # device arrays: packed into the host buffer at the step
            for i, _, _ in layout:      # last round's unused places let go of the buffer
                _tape.set_grad_destination(params[i], None)
            self._flats[b] = None       # (this round's reference would count as a holder)
            flat = self._flats[b] = self._buffer(b, params[layout[0][0]].data.dtype)
            for i, part, _ in layout:
                _tape.set_grad_destination(params[i], flat[part].reshape(params[i].data.shape))

    def average_gradients(self) -> None:
        """Replace every parameter's ``.grad`` by its mean over the ranks (what step() does
        before updating; call it yourself to clip or inspect the averaged gradients).

        Examples
        --------
        >>> import pyad.distributed as dist
        >>> dist.init()
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = dist.DistributedOptimizer(ad.optim.SGD([w], lr=0.1))
        >>> ad.sum(w * w).backward()
        >>> opt.average_gradients()         # one rank: its own gradient
        >>> w.grad
        tensor([2., 4.])
        """
        host_step(self._average)

    def step(self) -> None:
        """Average the gradients over the ranks, then update (the wrapped step).

        Examples
        --------
        >>> import pyad.distributed as dist
        >>> dist.init()
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = dist.DistributedOptimizer(ad.optim.Adam([w], lr=0.1))
        >>> ad.sum(w * w).backward()
        >>> opt.step()
        >>> w
        tensor([0.9, 1.9], requires_grad=True)
        """
        host_step(self._step)

    def _step(self):
        self._average()
        self.optimizer._step()

    # ------------------------------------------------------------------ the buckets
    def _new_round(self):
        """Empty buffers for the next backward's gradients."""
        self._flats = [None] * len(self.buckets)
        self._packed = [set() for _ in self.buckets]
        self._requests = []             # Iallreduce requests started, in bucket order
        self._next = 0                  # the next bucket to start (all ranks: same order)

    def _pack(self, i, g):
        """Parameter i's gradient (an array; None: zeros) into its bucket, divided by the
        number of ranks on the way (one pass), with its have-a-gradient flag."""
        b, part, flag = self._where[i]
        flat = self._flats[b]
        if flat is None:
            flat = self._flats[b] = self._buffer(b, self.optimizer.params[i].data.dtype)
        if g is None:
            flat[part] = 0
            flat[flag] = 0
        else:
            _pack_into(flat, [(g if type(g) is np.ndarray else backend.to_host(g), part)],
                       self._scale)
            flat[flag] = 1
        self._packed[b].add(i)

    def _buffer(self, b, dtype):
        """Bucket b's flat buffer: the last step's again when nothing but this optimizer
        holds it any more (the .grad views it handed out are gone: zero_grad() dropped
        them), else a new one, so that a .grad kept by the caller is never written over.
        Reusing it saved ~60 us a step here (a new 2.7 MB block each step is slower to
        fill and to reduce than the one the last step left in cache)."""
        spare = self._spare[b]
        if spare is not None and sys.getrefcount(spare) == 3:   # the list, `spare`, the call
            return spare
        size = sum(self.optimizer.params[j].data.size for j in self.buckets[b])
        spare = self._spare[b] = np.empty(size + len(self.buckets[b]), dtype)
        return spare

    def _start(self, b):
        """Start bucket b's Iallreduce (buckets start in order on every rank)."""
        if not self._agreed[b]:         # the layout is checked once: it never changes
            agree("DistributedOptimizer.step", self.comm, self._flats[b])
            self._agreed[b] = True
        MPI = _mpi()
        if self.overlap:
            self._requests.append(self.comm.Iallreduce(MPI.IN_PLACE, self._flats[b],
                                                       op=MPI.SUM))
        else:
            self.comm.Allreduce(MPI.IN_PLACE, self._flats[b], op=MPI.SUM)
        self._next = b + 1

    def _ready(self, i, leaf, g):
        """backward() finished parameter i's gradient: pack it; start the buckets now full."""
        b = self._where[i][0]
        if b < self._next:              # a second backward() before step(): a new round
            _mpi().Request.Waitall(self._requests)
            self._new_round()
        if leaf.grad is not None:       # backward() will add to it: average the sum
            g = backend.to_host(leaf.grad.data) + backend.to_host(g)
        self._pack(i, g)
        while (self._next < len(self.buckets)
               and len(self._packed[self._next]) == len(self.buckets[self._next])):
            self._start(self._next)
        if self._requests:              # MPI progresses inside MPI calls: give it one
            _mpi().Request.Testall(self._requests)

    def _average(self):
        params = self.optimizer.params
        scale = self._scale
        for b in range(self._next, len(self.buckets)):      # what backward() did not start
            packed = self._packed[b]
            if packed:                  # overlap: some came from backward() already
                for i in self.buckets[b]:
                    if i not in packed:
                        g = params[i].grad
                        self._pack(i, None if g is None else g.data)
            else:                       # the whole bucket now: the lean loop
                flat = self._flats[b]       # given to backward() by zero_grad(), or new
                if flat is None:
                    flat = self._flats[b] = self._buffer(b, params[self.buckets[b][0]].data.dtype)
                grads = []
                for i, part, flag in self._layout[b]:
                    g = params[i].grad
                    if g is None:
                        flat[part] = 0
                        flat[flag] = 0
                    else:
                        h = g.data
                        grads.append((h if type(h) is np.ndarray else backend.to_host(h), part))
                        flat[flag] = 1
                _pack_into(flat, grads, scale)      # one C++ pass for the bucket
            self._start(b)
        if self._requests:
            _mpi().Request.Waitall(self._requests)
        for b, layout in enumerate(self._layout):
            flat = self._flats[b]
            device = params[layout[0][0]].data
            foreign = type(device) is not np.ndarray and backend.is_foreign(device)
            for i, part, flag in layout:
                if flat[flag]:
                    p = params[i]
                    g = flat[part].reshape(p.data.shape)
                    p.grad = wrap(backend.to_backend(g, device) if foreign else g)
        self._new_round()

    def state_dict(self) -> Dict[str, Any]:
        """The wrapped optimizer's state dict (the same on every rank).

        Returns
        -------
        dict
            As ``Optimizer.state_dict()``: save it from one rank (:func:`save`).

        Examples
        --------
        >>> import pyad.distributed as dist
        >>> dist.init()
        >>> w = ad.tensor([1.0], requires_grad=True)
        >>> dist.DistributedOptimizer(ad.optim.SGD([w], lr=0.1)).state_dict()["type"]
        'SGD'
        """
        return self.optimizer.state_dict()

    def load_state_dict(self, sd: Dict[str, Any]) -> DistributedOptimizer:
        """Restore the wrapped optimizer's state (on every rank, from one checkpoint).

        Parameters
        ----------
        sd : dict
            A state dict from :meth:`state_dict`.

        Returns
        -------
        DistributedOptimizer
            self.

        Examples
        --------
        >>> import pyad.distributed as dist
        >>> dist.init()
        >>> w = ad.tensor([1.0], requires_grad=True)
        >>> opt = dist.DistributedOptimizer(ad.optim.SGD([w], lr=0.1))
        >>> opt.load_state_dict(opt.state_dict()) is opt
        True
        """
        self.optimizer.load_state_dict(sd)
        return self

    def __repr__(self):
        return (f"DistributedOptimizer({type(self.optimizer).__name__}, "
                f"{len(self.buckets)} bucket(s) of <= {self.bucket_bytes / 2**20:g} MB, "
                f"{self.comm.Get_size()} rank(s))")


# the optimizers built with overlap=True, and the engine hook that hands them finished
# gradients during backward() (one hook for all of them)
_OVERLAPPING = weakref.WeakValueDictionary()


def _on_grad_ready(leaf, g):
    for opt in list(_OVERLAPPING.values()):
        i = opt._index.get(id(leaf))
        if i is not None and opt.optimizer.params[i] is leaf:
            opt._ready(i, leaf, g)


def _install_hook():
    if _tape.set_grad_ready_hook(_on_grad_ready) not in (None, _on_grad_ready):
        raise RuntimeError("DistributedOptimizer(overlap=True): another gradient hook is set")


def save(path: Union[str, os.PathLike], obj: Any, root: int = 0) -> None:
    """Write a checkpoint from rank ``root`` only (the ranks hold the same state), then wait
    until it is on disk, so that every rank can :func:`load` it right after.

    Parameters
    ----------
    path : str or path-like
        Where ``ad.save`` writes (a file system every rank can read).
    obj : pytree
        What to save (model and optimizer state dicts, the epoch, the batch RNG, ...).
    root : int, default 0
        The rank that writes.

    Raises
    ------
    OSError
        On every rank, when rank ``root`` could not write (its error on ``root`` itself).

    Examples
    --------
    >>> import os, tempfile
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> dist.save(path, {"step": 3, "w": np.ones(2)})
    >>> dist.load(path)["step"]
    3
    """
    comm = communicator("dist.save")
    error = None
    if comm.Get_rank() == root:
        from pyad.train.serialize import save as _save
        try:
            _save(path, obj)
        except Exception as e:          # every rank learns that the write failed
            error = e
    failed = comm.bcast(None if error is None else repr(error), root=root)
    if error is not None:
        raise error
    if failed is not None:
        raise OSError(f"dist.save: rank {root} could not write {os.fspath(path)!r}: {failed}")


def load(path: Union[str, os.PathLike], device: Optional[str] = None) -> Any:
    """Read a checkpoint written by :func:`save`, on every rank (``ad.load``).

    Parameters
    ----------
    path : str or path-like
        The checkpoint (on a file system every rank reads).
    device : str, optional
        Where its arrays go (as ``ad.load``).

    Returns
    -------
    pytree
        What :func:`save` wrote.

    Examples
    --------
    >>> import os, tempfile
    >>> import pyad.distributed as dist
    >>> dist.init()
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> dist.save(path, {"w": np.arange(2.0)})
    >>> dist.load(path)["w"]
    array([0., 1.])
    """
    from pyad.train.serialize import load as _load
    return _load(path, device=device)
