# The engine: Tensor, Primitive, per-thread tapes, bind() (run + record) and the reverse sweep.
#
# A tape is a Python list of records in execution order, one per primitive application whose
# inputs it tracks. The backward sweep walks that list in reverse: no recursion and no
# topological sort. Each tape numbers the tensors it tracks ("slots"); a tensor remembers its
# slot on up to one tape in two C fields and on any further (nested) tapes in a small dict.
# Tapes are named by an integer uid, never referenced from tensors, so tensors and tapes form
# no reference cycles.
cimport cython
cimport numpy as cnp
from cpython.object cimport PyObject, PyObject_Call
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport Py_INCREF

cdef extern from "Python.h":
    int PyObject_GC_IsTracked(object o)
    void PyObject_GC_UnTrack(object o)
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
import functools
import threading
import weakref
import numpy as np

from pyad import backend as _backend   # the seam: which backend an array lives on

cnp.import_array()

cdef extern from "Python.h":
    # on a borrowed pointer: Cython's Py_REFCNT(object) would count its own temporary too
    Py_ssize_t _refcount "Py_REFCNT"(PyObject* o)

cdef enum:
    UNTRACKED = -1      # the input is a constant for this tape
    RELEASED = -2       # the input came from a graph that backward() already freed

cdef long long NO_CEILING = 1LL << 62

cdef long long _next_uid = 1
cdef set _live_uids = set()     # tapes that may still be swept
cdef bint _debug_nans = False
cdef int _deferring = 0         # sweeps (any thread) now in a deferred-primal window
cdef object _ops = None         # the ops layer's functions, installed at import (Tensor methods)
cdef object _add = None         # gradient accumulation: a differentiable add
cdef Arith _ADD, _SUBTRACT, _MULTIPLY
cdef Primitive _NEGATIVE
cdef object _batched_jvp = None  # rules run on a batch of tangents (pyad.ops.batching)
cdef object _batched_vjp = None
cdef object _capture = None       # ad.compile's recorder while it records a program, else None
cdef unsigned long _capture_thread = 0    # the thread it records (other threads run eagerly)


def _install(ops_module, *, add, subtract, multiply, negative, batched_jvp, batched_vjp):
    """Called once by the ops layer, which owns the rows: the numpy-like module the Tensor
    methods dispatch to, the Arith dispatch of + - * (shared with its public functions;
    add's also accumulates gradients), the row of unary minus, and the batching
    interpreter's rule runners for batched traces and sweeps."""
    global _ops, _add, _ADD, _SUBTRACT, _MULTIPLY, _NEGATIVE, _batched_jvp, _batched_vjp
    _ops = ops_module
    _ADD, _SUBTRACT, _MULTIPLY, _NEGATIVE = add, subtract, multiply, negative
    _add = ops_module.add
    _batched_jvp, _batched_vjp = batched_jvp, batched_vjp


# ---------------------------------------------------------------------------- primitives
cdef class Primitive:
    """One row of the primitive table: a backend kernel and one VJP rule per input.

    impl(*arrays, *params) -> array computes the forward pass on backend arrays. vjps[k] is
    rule(g, ans, *args, *params) -> cotangent for input k (a Tensor, or None for zero), written
    in pyad ops so that it is itself differentiable; None marks input k non-differentiable.
    A variadic primitive (concatenate) has one rule taking the input's index first. Most
    users want :func:`pyad.custom_primitive`, which builds one from a numpy function.

    Parameters
    ----------
    name : str
        The name (in errors and reprs).
    impl : callable
        The forward kernel on arrays.
    vjps : sequence of callables or None, optional
        One VJP rule per input (None: not differentiable).
    jvp : callable, optional
        ``jvp(tangents, ans, *args, *params) -> output tangent``.
    fallback : callable, optional
        A kernel for inputs the main one does not take.
    variadic : bool, default False
        Takes any number of inputs (one rule, given the input's index).
    contiguous_floats : bool, default False
        The kernel needs C-contiguous float arrays (converted before the call).

    Examples
    --------
    >>> double = ad.Primitive("double", lambda x: 2.0 * x, [lambda g, ans, x: 2.0 * g])
    >>> double
    <pyad primitive double>
    >>> ad.grad(lambda x: ad.sum(ad.bind(double, x)))(np.array([1.0, 2.0]))
    array([2., 2.])
    """
    cdef readonly str name
    cdef public object impl
    cdef public object fallback
    cdef public tuple vjps
    cdef public object jvp
    cdef public bint differentiable
    cdef readonly bint variadic
    cdef readonly bint contiguous_floats
    cdef public tuple strided_inputs   # inputs (1-D) the kernel reads with any stride, uncopied
    cdef public object out_shape   # (*arrays, *params) -> output shape, or None: see _bind
    cdef public object vjp_all     # variadic rows: rule(g, ans, *inputs, *params) -> all the
                                   # inputs' cotangents at once (one call, not one per input)
    cdef public bint communicates  # a collective: every rank must run it, so no optimisation
                                   # may drop it as dead (ad.compile keeps it)
    cdef public bint complex_ok    # takes complex inputs: its kernel computes them and its
                                   # rules are right for them (autograd's convention); other
                                   # rows refuse complex arrays rather than guess
    cdef public object into        # into(dest, *arrays, *params) -> bool: the kernel writing
                                   # its output into the numpy array dest where it can (False
                                   # where it cannot); see set_grad_destination

    def __init__(self, str name, impl, vjps=None, *, jvp=None, fallback=None,
                 bint variadic=False, bint contiguous_floats=False):
        self.name = name
        self.impl = impl
        self.vjps = tuple(vjps) if vjps is not None else None
        self.jvp = jvp
        self.fallback = fallback
        self.differentiable = vjps is not None
        self.variadic = variadic
        self.contiguous_floats = contiguous_floats
        self.strided_inputs = ()
        self.out_shape = None
        self.vjp_all = None
        self.communicates = False
        self.complex_ok = False
        self.into = None

    def __repr__(self):
        return f"<pyad primitive {self.name}>"


# ---------------------------------------------------------------------------- records
@cython.no_gc
@cython.final
@cython.freelist(1024)
cdef class _Record:
    """One primitive application on a tape. Not tracked by Python's cycle collector: a
    record only points at older objects (tensors, the primitive), so it closes no cycle,
    and tracking millions of them made every collection walk the whole tape."""
    cdef Primitive prim          # None once backward() freed it
    cdef Py_ssize_t out_slot
    cdef Py_ssize_t nin          # the inputs' slots: in `few` (no allocation) up to 4 of them
    cdef Py_ssize_t few[4]
    cdef tuple many
    cdef Tensor out
    cdef tuple args
    cdef tuple params

    cdef inline Py_ssize_t in_slot(self, Py_ssize_t k):
        return self.few[k] if self.many is None else self.many[k]

    cdef object call_rule(self, Py_ssize_t k, g):
        """The VJP rule for input k: rule(g, ans, *inputs, *params)."""
        cdef Py_ssize_t n = len(self.args), p = len(self.params), i
        cdef Py_ssize_t first = 1 if self.prim.variadic else 0
        cdef tuple call = PyTuple_New(first + 2 + n + p)
        if first:
            _tuple_set(call, 0, k)
        _tuple_set(call, first, g)
        _tuple_set(call, first + 1, self.out)
        for i in range(n):
            _tuple_set(call, first + 2 + i, self.args[i])
        for i in range(p):
            _tuple_set(call, first + 2 + n + i, self.params[i])
        rule = self.prim.vjps[0] if first else self.prim.vjps[k]
        return PyObject_Call(rule, call, None)

    cdef object run_rule(self, Py_ssize_t k, g):
        rule = self.prim.vjps[0] if self.prim.variadic else self.prim.vjps[k]
        if type(rule) is VjpCall:
            return (<VjpCall>rule).run(g, self)
        return self.call_rule(k, g)


# what a VjpCall passes on: the cotangent, the primitive's output, or input i (INPUT + i)
COTANGENT, OUTPUT, INPUT = 0, 1, 2


@cython.final
cdef class VjpCall:
    """A VJP rule that is one primitive applied to (cotangent, output, inputs...) picks, e.g.
    tanh's rule tanh_backward(g, ans). The sweep runs it without a Python frame; rules that
    need more stay Python functions. prim=None is the identity rule (returns g)."""
    cdef readonly str name             # the primitive applied; None for the identity
    cdef readonly Primitive prim       # looked up by name once the table is complete
    cdef readonly tuple picks
    cdef readonly bint pass_params     # hand on the forward's params (axis, scalar, ...)
    cdef readonly tuple params

    def __init__(self, name, *picks, params=None):
        self.name = name
        self.picks = tuple(picks)
        self.pass_params = params is None
        self.params = () if params is None else tuple(params)

    def resolve(self, table):
        """Bind the primitive by name (rows may refer to rows defined after them)."""
        if self.name is not None:
            self.prim = table[self.name]

    cdef object run(self, g, _Record rec):
        if self.name is None:
            return g
        cdef Py_ssize_t n = len(self.picks), i, pick
        cdef tuple args = PyTuple_New(n)
        for i in range(n):
            pick = self.picks[i]
            if pick == 0:
                _tuple_set(args, i, g)
            elif pick == 1:
                _tuple_set(args, i, rec.out)
            else:
                _tuple_set(args, i, rec.args[pick - 2])
        return _bind(self.prim, args, rec.params if self.pass_params else self.params)

    def apply(self, g, ans, tuple inputs, tuple params):
        """The rule from Python: the same picks as the sweep makes."""
        if self.name is None:
            return g
        picked = []
        for pick in self.picks:
            picked.append(g if pick == 0 else ans if pick == 1 else inputs[pick - 2])
        return _bind(self.prim, tuple([_as_input(a) for a in picked]),
                     params if self.pass_params else self.params)

    def __repr__(self):
        names = {0: "g", 1: "ans"}
        picked = ", ".join(names.get(p, f"x{p - 2}") for p in self.picks)
        return f"VjpCall({self.name or 'identity'}({picked}))"


cdef inline tuple _untracked(tuple t):
    """The cycle collector stops scanning a tuple a record keeps: it holds tensors (not
    collected), numbers and other leaf values, so it cannot close a cycle, and on a long tape
    every collection would otherwise walk all of them."""
    if PyObject_GC_IsTracked(t):
        PyObject_GC_UnTrack(t)
    return t


cdef inline void _tuple_set(tuple t, Py_ssize_t i, object v):
    Py_INCREF(v)
    PyTuple_SET_ITEM(t, i, v)


# ---------------------------------------------------------------------------- per-thread state
cdef class _ThreadState:
    cdef list tapes            # tapes and forward traces recording now, outermost first;
                               # tapes[0] is the implicit backward() tape
    cdef long long frozen_below  # no_grad(): tapes older than this do not record (0: none)
    cdef list frozen_stack
    cdef list hidden           # (low, high) level windows hidden while rules run
    cdef long long ceiling     # the lowest hidden level (fast test: below it nothing hides)
    cdef int n_active          # explicit tapes/traces not hidden (fast path test)
    cdef bint defer            # a deferred-primal window is open (see _bind_deferred)
    cdef list pending          # [out, prim, args, params] of the output computed lazily

    def __init__(self):
        self.tapes = [Tape(_implicit=True)]
        self.defer = False
        self.pending = None
        self.frozen_below = 0
        self.frozen_stack = []
        self.hidden = []
        self.ceiling = NO_CEILING
        self.n_active = 0

    cdef inline bint is_hidden(self, long long level):
        if level < self.ceiling:
            return False
        for low, high in self.hidden:
            if low <= level < high:
                return True
        return False

    cdef void refresh(self):
        cdef Tape tape
        self.ceiling = NO_CEILING
        for low, high in self.hidden:
            if low < self.ceiling:
                self.ceiling = low
        self.n_active = 0
        for tape in self.tapes:
            if tape.level > 0 and not self.is_hidden(tape.level):
                self.n_active += 1

    cdef void hide_from(self, long long level, long long closed=0):
        """While a rule of a tape at `level` runs, that tape and the ones nested in it (levels
        level .. the uid at which it closed, or all existing now if it is open) do not see
        its ops; outer tapes do, and so do tapes made after it closed (a transform applied
        to a vjp function made earlier) or by the rule itself (a transform in a custom rule)."""
        self.hidden.append((level, closed if closed else _next_uid))
        self.refresh()

    cdef void unhide(self):
        self.hidden.pop()
        self.refresh()

    def __dealloc__(self):
        # the thread ended (threading.local dropped us): its id may be reused by a new thread
        global _cached_state
        if _cached_state == <PyObject*>self:
            _cached_state = NULL


# threading.local owns each thread's state; a one-entry cache (borrowed, keyed by thread id)
# skips the attribute lookup on the hot path
_local = threading.local()
cdef unsigned long _cached_ident = 0
cdef PyObject* _cached_state = NULL


cdef inline _ThreadState _state():
    global _cached_ident, _cached_state
    cdef unsigned long ident = PyThread_get_thread_ident()
    if ident == _cached_ident and _cached_state != NULL:
        return <_ThreadState>_cached_state
    st = getattr(_local, "state", None)
    if st is None:
        st = _ThreadState()
        _local.state = st
    _cached_ident = ident
    _cached_state = <PyObject*>st
    return <_ThreadState>st


class no_grad:
    """Context manager (and decorator): operations in it are not recorded for backward() or
    by tapes already open (evaluation, parameter updates). Functional transforms called
    inside (ad.grad, ad.jvp, a new ad.Tape) still differentiate what they trace.

    Use it for evaluation passes, so that tensors with ``requires_grad=True`` do not keep
    a graph alive.

    Examples
    --------
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> with ad.no_grad():
    ...     y = ad.sum(w * w)
    >>> y                                          # not tracked
    tensor(5.)
    >>> @ad.no_grad()
    ... def evaluate(w):
    ...     return ad.sum(w)
    >>> evaluate(w)
    tensor(3.)
    """
    def __enter__(self):
        # tapes that exist now stop recording; transforms started inside the block (ad.grad,
        # a new Tape) still work, as torch.func.grad does under torch.no_grad
        cdef _ThreadState st = _state()
        st.frozen_stack.append(st.frozen_below)
        st.frozen_below = _next_uid
        return self

    def __exit__(self, *exc):
        cdef _ThreadState st = _state()
        st.frozen_below = st.frozen_stack.pop()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with no_grad():
                return fn(*a, **k)
        return wrapper


class debug_nans:
    """Raise FloatingPointError at the first primitive whose output holds a NaN or Inf that
    its inputs did not. `ad.debug_nans()` turns the check on; use it as a `with` block to
    turn it on for that block only.

    Parameters
    ----------
    enabled : bool, default True
        Turn the check on (or off).

    Examples
    --------
    >>> with ad.debug_nans():
    ...     ad.log(ad.tensor([-1.0]))
    Traceback (most recent call last):
    ...
    FloatingPointError: ...
    """
    def __init__(self, bint enabled=True):
        global _debug_nans
        self._previous = _debug_nans
        _debug_nans = enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _debug_nans
        _debug_nans = self._previous
        return False


def grad_enabled():
    cdef _ThreadState st = _state()
    return st.frozen_below == 0


def debug_nans_enabled():
    """Whether ad.debug_nans() checks every primitive's output now."""
    return _debug_nans


# ---------------------------------------------------------------------------- Tensor
cdef inline Py_ssize_t _slot(Tensor t, Tape tape):
    if t._uid == tape.uid:
        return t._slot
    if t._more is not None:
        return t._more.get(tape.uid, UNTRACKED)
    return UNTRACKED


cdef inline void _set_slot(Tensor t, Tape tape, Py_ssize_t s):
    if t._uid == 0 or t._uid == tape.uid or t._uid not in _live_uids:
        t._uid = tape.uid
        t._slot = s
    else:
        if t._more is None:
            t._more = {}
        t._more[tape.uid] = s


cdef inline bint _is_float(cnp.ndarray a):
    cdef int tn = cnp.PyArray_TYPE(a)
    return tn == cnp.NPY_FLOAT64 or tn == cnp.NPY_FLOAT32


# Arrays of any backend: numpy's own calls where the array is numpy (the fast paths), the
# backend seam's otherwise.
cdef inline bint _floating(d):
    if type(d) is cnp.ndarray:
        return _is_float(<cnp.ndarray>d)
    return _backend.is_floating(d)


cdef inline bint _has_gradients(d):
    """A float or complex array: a dtype derivatives are taken in."""
    if type(d) is cnp.ndarray:
        return _is_float(<cnp.ndarray>d) or cnp.PyArray_ISCOMPLEX(<cnp.ndarray>d)
    return _backend.is_floating(d) or _backend.dtype_of(d).kind == "c"


cdef inline object _zeros_like(d):
    return np.zeros_like(d) if type(d) is cnp.ndarray else _backend.zeros_like(d)


cdef inline object _ones_like(d):
    return np.ones_like(d) if type(d) is cnp.ndarray else _backend.ones_like(d)


cdef inline bint _foreign(x):
    """An array of another backend than numpy (CuPy's, or one with an Array API namespace)."""
    return type(x) is not cnp.ndarray and _backend.is_foreign(x)


cdef object _array(x, dtype=None, like=None, str op="tensor"):
    """x as a new array (a copy) on x's own backend (numpy for numbers and lists), or, when
    `like` is a foreign array, on like's: numbers and lists move there, arrays of another
    backend or device raise (op names the caller), never converting implicitly."""
    if like is not None and _foreign(like):
        if _foreign(x) or isinstance(x, np.ndarray):
            _backend.same_backend(op, [like, x])
        else:
            return _backend.asarray(x, dtype, like)
    if _foreign(x):
        out = _backend.copy(x) if dtype is None else _backend.astype(x, dtype)
    else:
        out = np.array(x, dtype=dtype)
    if _capture is not None and _capturing():
        _capture.derived(_copy_as, [x], (dtype,), out)
    return out


def _copy_as(x, dtype):
    """A copy of x with dtype (None: x's), on x's backend: ad.tensor(x)'s step in a program."""
    if _foreign(x):
        return _backend.copy(x) if dtype is None else _backend.astype(x, dtype)
    return np.array(x, dtype=dtype)


@cython.no_gc
@cython.freelist(1024)
cdef class Tensor:
    """An array with autodiff tracking (numpy-backed on the CPU).

    ``t.data`` is the array. Operators (``+ - * / ** @``, unary ``-``, comparisons,
    indexing) and the numpy-style methods (``t.sum()``, ``t.reshape(...)``, ...) are
    differentiable pyad functions; plain numpy calls on Tensors (``np.tanh(t)``) dispatch to
    pyad too. Tensors are immutable: write into ``t.data`` for an untracked in-place change.
    Leaves made with ``requires_grad=True`` collect gradients in ``.grad`` when
    ``loss.backward()`` runs (PyTorch style); the functional transforms (``ad.grad``) and
    ``ad.Tape`` need no flag.

    Parameters
    ----------
    data : array_like or Tensor
        Copied into a new array (``np.array(data, dtype=dtype)``).
    dtype : numpy dtype, optional
        The dtype (default: numpy's choice).
    requires_grad : bool, default False
        Make it a leaf whose gradient ``backward()`` accumulates into ``.grad`` (float
        dtypes only).

    Raises
    ------
    TypeError
        With ``requires_grad=True`` on a non-float dtype.

    See Also
    --------
    pyad.tensor : the same, as a function.

    Examples
    --------
    >>> x = ad.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> x.shape, x.dtype, x.ndim, x.size
    ((3,), dtype('float64'), 1, 3)
    >>> y = (x ** 2).sum()
    >>> y
    tensor(14., requires_grad=True)
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    >>> np.tanh(ad.Tensor([0.0]))                  # numpy calls dispatch to pyad
    tensor([0.])
    """
    cdef public object data
    cdef object _grad
    cdef bint _requires_grad
    cdef bint _is_leaf
    cdef long long _uid
    cdef Py_ssize_t _slot
    cdef dict _more
    cdef object __weakref__

    __array_priority__ = 1000.0

    def __init__(self, data, dtype=None, requires_grad=False):
        if isinstance(data, Tensor):
            data = (<Tensor>data).data
        self.data = _array(data, dtype)
        self._is_leaf = True
        self.requires_grad = requires_grad

    property requires_grad:
        def __get__(self):
            return self._requires_grad

        def __set__(self, value):
            if value and not _has_gradients(self.data):
                raise TypeError(
                    f"only float32/float64 tensors can require gradients, got dtype "
                    f"{self.data.dtype}; convert with ad.tensor(x, dtype=np.float64)")
            if not value and not self._is_leaf:
                raise ValueError("requires_grad can only be turned off on a leaf tensor; "
                                 "use .detach() to get an untracked copy")
            self._requires_grad = bool(value)

    property is_leaf:
        def __get__(self):
            return self._is_leaf

    property grad:
        """The gradient backward() accumulated (a Tensor of this tensor's shape and dtype), or
        None. Assign None to clear it, or an array/Tensor of the same shape and dtype."""
        def __get__(self):
            return self._grad

        def __set__(self, value):
            if _capture is not None and _capturing():
                raise RuntimeError(
                    "ad.compile: assigning t.grad inside a compiled function would not be "
                    "replayed; clear gradients with optimizer.zero_grad() or model.zero_grad() "
                    "(replayed steps), or outside the compiled function")
            if value is None:
                self._grad = None
                return
            if not isinstance(value, (Tensor, np.ndarray)) and not _foreign(value):
                raise TypeError(
                    f"Tensor.grad must be None or an array/Tensor of shape {self.data.shape} and "
                    f"dtype {self.data.dtype}, got {type(value).__name__}; to clear it, assign "
                    f"None (optimizer.zero_grad() does)")
            arr = (<Tensor>value).data if isinstance(value, Tensor) else value
            if type(arr) is not np.ndarray or type(self.data) is not np.ndarray:
                _backend.same_backend("Tensor.grad", [self.data, arr])
            if arr.shape != self.data.shape or arr.dtype != self.data.dtype:
                raise ValueError(
                    f"Tensor.grad must have the tensor's shape {self.data.shape} and dtype "
                    f"{self.data.dtype}, got shape {arr.shape} and dtype {arr.dtype}")
            self._grad = value if isinstance(value, Tensor) else _wrap(arr)

    property shape:
        def __get__(self):
            return self.data.shape

    property dtype:
        """The element type as a numpy dtype, whatever backend holds the data (t.data.dtype
        is the backend's own)."""
        def __get__(self):
            d = self.data
            return d.dtype if type(d) is cnp.ndarray else _backend.dtype_of(d)

    property ndim:
        def __get__(self):
            return self.data.ndim

    property size:
        def __get__(self):
            return self.data.size

    property T:
        def __get__(self):
            return _ops.transpose(self)

    property device:
        """Where the data lives: ``"cpu"`` (numpy) or ``"cuda:N"`` (CuPy)."""
        def __get__(self):
            return "cpu" if type(self.data) is cnp.ndarray else _backend.device_of(self.data)

    def to(self, device):
        """This tensor on `device` (``"cpu"``, ``"cuda"``, ``"cuda:N"``): itself when it is
        already there, else a copy there, a new leaf that keeps ``requires_grad``.

        Parameters
        ----------
        device : str
            The target device.

        Returns
        -------
        Tensor
            self, or the copy.

        Raises
        ------
        TypeError
            For a tensor computed from tracked ones (move the inputs before computing).
        ValueError
            For an unknown device name.

        Examples
        --------
        >>> t = ad.tensor([1.0, 2.0])
        >>> t.to("cpu") is t
        True
        """
        if _backend.normalize_device(device) == self.device:
            return self
        if not self._is_leaf:
            raise TypeError(f"Tensor.to({device!r}): this tensor was computed from tracked "
                            f"ones on {self.device}; move the inputs (parameters, data) before "
                            f"computing, e.g. model.to({device!r})")
        cdef Tensor out = _wrap(_backend.to_device(self.data, device))
        out.requires_grad = self._requires_grad
        return out

    def cpu(self):
        """This tensor on the CPU (``t.to("cpu")``).

        Returns
        -------
        Tensor
            self when it is numpy-backed, else a copy on the host.

        Examples
        --------
        >>> t = ad.tensor([1.0])
        >>> t.cpu() is t
        True
        """
        return self.to("cpu")

    def numpy(self):
        """The data as a numpy array (not a copy; a host copy for other devices).

        Raises TypeError while a transform (ad.grad, ad.jvp, ...) differentiates this tensor: a
        numpy array carries no derivative, so use pyad functions, or t.detach() /
        ad.stop_gradient(t) when dropping the derivative is meant.

        Returns
        -------
        numpy.ndarray
            ``self.data`` itself (numpy-backed tensors), or its copy on the host.

        Raises
        ------
        TypeError
            Inside a transform that differentiates this tensor.

        Examples
        --------
        >>> ad.tensor([1.0, 2.0]).numpy()
        array([1., 2.])
        """
        _check_conversion(self, "t.numpy()")
        _check_capture("t.numpy()")
        return self.data if type(self.data) is cnp.ndarray else _backend.to_host(self.data)

    def item(self, *index):
        """One element as a Python number (numpy's ``ndarray.item``); works on tracked tensors.

        Parameters
        ----------
        *index : int
            None for a one-element tensor; else a flat index or one index per axis.

        Returns
        -------
        float, int or bool
            ``self.data.item(*index)``.

        Raises
        ------
        ValueError
            Without an index when the tensor has more than one element.

        Examples
        --------
        >>> ad.sum(ad.tensor([1.0, 2.0])).item()
        3.0
        >>> ad.tensor([[1.0, 2.0], [3.0, 4.0]]).item(1, 0)
        3.0
        """
        _check_capture("t.item()")
        return self.data.item(*index)

    def detach(self):
        """The same data, tracked by no tape: a constant for differentiation.

        Returns
        -------
        Tensor
            A new tensor sharing ``self.data`` (no copy), with no derivative.

        Examples
        --------
        >>> ad.grad(lambda x: ad.sum(x * x.detach()))(np.array([3.0]))     # d(x c)/dx = c
        array([3.])
        """
        return _wrap(self.data)

    def __array__(self, dtype=None, copy=None):
        _check_conversion(self, "np.asarray(t)")
        _check_capture("np.asarray(t)")
        if _foreign(self.data):
            raise TypeError(f"np.asarray(t): this tensor lives on {self.device} "
                            f"({_backend.describe(self.data)}); numpy cannot read it in place. "
                            f"Copy it to the host explicitly with t.numpy() (or t.cpu())")
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        if copy:
            return self.data.copy()
        return self.data

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        for i in range(len(self.data)):
            yield self[i]

    def __bool__(self):
        _check_capture("bool(t) (an `if` on a tensor's value)")
        return bool(self.data)

    def __float__(self):
        _check_capture("float(t)")
        return float(self.data)

    def __int__(self):
        _check_capture("int(t)")
        return int(self.data)

    def __index__(self):
        _check_capture("using a tensor as an index")
        return self.data.__index__()

    def __hash__(self):
        return id(self)

    def __repr__(self):
        data = self.data
        extra = ", requires_grad=True" if self._requires_grad else ""
        if _foreign(data):      # the values, read on the host, and where they live
            extra = f", array={_backend.describe(data)}" + extra
            data = _backend.to_host(data)
        body = np.array2string(data, separator=", ", prefix="tensor(")
        if data.dtype != np.float64 and data.dtype != np.int64 and data.dtype != np.bool_:
            extra = f", dtype={data.dtype}" + extra
        return f"tensor({body}{extra})"

    def __setitem__(self, key, value):
        raise TypeError("pyad Tensors are immutable: write into t.data (untracked) or build a "
                        "new tensor with ad.where / ad.concatenate")

    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf with requires_grad=True that
        self was computed from (PyTorch semantics). Frees the recorded graph unless
        retain_graph=True.

        Parameters
        ----------
        gradient : array_like or Tensor, optional
            The cotangent seeding the sweep, of self's shape; default 1 (self must then be a
            scalar).
        retain_graph : bool, default False
            Keep the recorded graph for another ``backward()``.

        Raises
        ------
        RuntimeError
            When the graph was already freed by an earlier ``backward()``, or self is not a
            scalar and no ``gradient`` is given.

        Returns
        -------
        None
            The gradients land in the leaves' ``.grad``.

        Examples
        --------
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> loss = ad.sum(w ** 3)
        >>> loss.backward(retain_graph=True)
        >>> w.grad
        tensor([ 3., 12.])
        >>> loss.backward()                            # gradients accumulate
        >>> w.grad
        tensor([ 6., 24.])
        """
        _backward(self, gradient, retain_graph)

    # operators: the same dispatch as the public functions (see Arith), run from here
    # without a Python frame
    def __add__(self, other):
        return arith(_ADD, self, other)

    def __radd__(self, other):
        return arith(_ADD, other, self)

    def __sub__(self, other):
        return arith(_SUBTRACT, self, other)

    def __rsub__(self, other):
        return arith(_SUBTRACT, other, self)

    def __mul__(self, other):
        return arith(_MULTIPLY, self, other)

    def __rmul__(self, other):
        return arith(_MULTIPLY, other, self)

    def __truediv__(self, other):
        return _ops.divide(self, other)

    def __rtruediv__(self, other):
        return _ops.divide(other, self)

    def __pow__(self, other, mod):
        return _ops.power(self, other)

    def __rpow__(self, other, mod):
        return _ops.power(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __neg__(self):
        return _bind(_NEGATIVE, (self,), ())

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, key):
        return _ops.getitem(self, key)

    def __lt__(self, other):
        return _ops.less(self, other)

    def __le__(self, other):
        return _ops.less_equal(self, other)

    def __gt__(self, other):
        return _ops.greater(self, other)

    def __ge__(self, other):
        return _ops.greater_equal(self, other)

    def __eq__(self, other):
        return _ops.equal(self, other)

    def __ne__(self, other):
        return _ops.not_equal(self, other)

    def __mod__(self, other):
        return _ops.mod(self, other)

    def __rmod__(self, other):
        return _ops.mod(other, self)

    def __floordiv__(self, other):
        return _ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _ops.floor_divide(other, self)

    # methods as on numpy arrays and torch tensors, routed through the same rows as the
    # public functions (pyad.ops.core), so they are differentiable wherever those are
    def sum(self, axis=None, keepdims=False):
        """Same as ``ad.sum(self, axis, keepdims)``."""
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """Same as ``ad.mean(self, axis, keepdims)``."""
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        """Same as ``ad.max(self, axis, keepdims)``."""
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        """Same as ``ad.min(self, axis, keepdims)``."""
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        """Same as ``ad.var(self, axis, ddof, keepdims)``."""
        return _ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        """Same as ``ad.std(self, axis, ddof, keepdims)``."""
        return _ops.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        """Same as ``ad.prod(self, axis, keepdims)``."""
        return _ops.prod(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None):
        """Same as ``ad.cumsum(self, axis)``."""
        return _ops.cumsum(self, axis=axis)

    def cumprod(self, axis=None):
        """Same as ``ad.cumprod(self, axis)``."""
        return _ops.cumprod(self, axis=axis)

    def reshape(self, *shape):
        """Same as ``ad.reshape(self, shape)``; the shape may also be given as separate ints,
        ``t.reshape(2, 3)``.
        """
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return _ops.reshape(self, shape)

    def view(self, *shape):
        """Same as ``ad.reshape(self, shape)``: torch's name for reshape (pyad tensors are
        immutable, so no aliasing is visible).
        """
        return self.reshape(*shape)

    def transpose(self, *axes):
        """Same as ``ad.transpose(self, axes)``; the axes may also be given as separate ints,
        ``t.transpose(1, 0)``.
        """
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return _ops.transpose(self, axes if axes else None)

    def swapaxes(self, axis1, axis2):
        """Same as ``ad.swapaxes(self, axis1, axis2)``."""
        return _ops.swapaxes(self, axis1, axis2)

    def flatten(self):
        """Same as ``ad.reshape(self, -1)``: a 1-D tensor of the elements in C order."""
        return _ops.reshape(self, (-1,))

    def ravel(self):
        """Same as ``ad.reshape(self, -1)``: a 1-D tensor of the elements in C order."""
        return _ops.reshape(self, (-1,))

    def squeeze(self, axis=None):
        """Same as ``ad.squeeze(self, axis)``."""
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis):
        """Same as ``ad.expand_dims(self, axis)`` (torch's name)."""
        return _ops.expand_dims(self, axis)

    def astype(self, dtype):
        """Same as ``ad.astype(self, dtype)``."""
        return _ops.astype(self, dtype)

    def copy(self):
        """A new tensor with the same value; derivatives flow through it (numpy's copy).

        Returns
        -------
        Tensor
            The copy.

        Examples
        --------
        >>> ad.grad(lambda x: ad.sum(x.copy() * 2.0))(np.array([1.0]))
        array([2.])
        """
        return _ops.multiply(self, 1) if _floating(self.data) else _wrap(_array(self.data))

    def dot(self, other):
        """Same as ``ad.dot(self, other)``."""
        return _ops.dot(self, other)

    def take(self, indices, axis=None):
        """Same as ``ad.take(self, indices, axis)``."""
        return _ops.take(self, indices, axis=axis)

    def clip(self, min=None, max=None):
        """Same as ``ad.clip(self, min, max)``."""
        return _ops.clip(self, min, max)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        """Same as ``ad.diagonal(self, offset, axis1, axis2)``."""
        return _ops.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1):
        """Same as ``ad.trace(self, offset, axis1, axis2)``."""
        return _ops.trace(self, offset, axis1, axis2)

    def repeat(self, repeats, axis=None):
        """Same as ``ad.repeat(self, repeats, axis)``."""
        return _ops.repeat(self, repeats, axis=axis)

    def round(self, decimals=0):
        """Same as ``ad.round(self, decimals)``."""
        return _ops.round(self, decimals)

    def exp(self):
        """Same as ``ad.exp(self)``."""
        return _ops.exp(self)

    def log(self):
        """Same as ``ad.log(self)``."""
        return _ops.log(self)

    def log1p(self):
        """Same as ``ad.log1p(self)``."""
        return _ops.log1p(self)

    def sqrt(self):
        """Same as ``ad.sqrt(self)``."""
        return _ops.sqrt(self)

    def square(self):
        """Same as ``ad.square(self)``."""
        return _ops.square(self)

    def abs(self):
        """Same as ``ad.abs(self)``."""
        return _ops.abs(self)

    def sin(self):
        """Same as ``ad.sin(self)``."""
        return _ops.sin(self)

    def cos(self):
        """Same as ``ad.cos(self)``."""
        return _ops.cos(self)

    def tanh(self):
        """Same as ``ad.tanh(self)``."""
        return _ops.tanh(self)

    def sigmoid(self):
        """Same as ``ad.sigmoid(self)``."""
        return _ops.sigmoid(self)

    def relu(self):
        """Same as ``ad.relu(self)``."""
        return _ops.relu(self)

    def softplus(self):
        """Same as ``ad.softplus(self)``."""
        return _ops.softplus(self)

    def pow(self, exponent):
        """Same as ``ad.power(self, exponent)``: ``self ** exponent``."""
        return _ops.power(self, exponent)

    def softmax(self, axis=-1):
        """Same as ``ad.softmax(self, axis)``."""
        return _ops.softmax(self, axis=axis)

    def log_softmax(self, axis=-1):
        """Same as ``ad.log_softmax(self, axis)``."""
        return _ops.log_softmax(self, axis=axis)

    def logsumexp(self, axis=None, keepdims=False):
        """Same as ``ad.logsumexp(self, axis, keepdims)``."""
        return _ops.logsumexp(self, axis=axis, keepdims=keepdims)

    # not differentiable: integer or bool results, as numpy gives them
    def argmax(self, axis=None):
        """Indices of the maxima (``np.argmax``).

        Not differentiable: the result is an integer Tensor.

        Parameters
        ----------
        axis : int, optional
            The axis (default: the flattened tensor).

        Returns
        -------
        Tensor
            int64 indices.

        Examples
        --------
        >>> ad.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(axis=1)
        tensor([1, 0])
        """
        return _ops.argmax(self, axis=axis)      # the table's row: replay knows it read data

    def argmin(self, axis=None):
        """Indices of the minima (``np.argmin``).

        Not differentiable: the result is an integer Tensor.

        Parameters
        ----------
        axis : int, optional
            The axis (default: the flattened tensor).

        Returns
        -------
        Tensor
            int64 indices.

        Examples
        --------
        >>> ad.tensor([3.0, 1.0, 2.0]).argmin()
        tensor(1)
        """
        return _ops.argmin(self, axis=axis)

    def argsort(self, axis=-1):
        """Indices that sort the tensor (``np.argsort``).

        Not differentiable: the result is an integer Tensor.

        Parameters
        ----------
        axis : int, default -1
            The axis to sort along.

        Returns
        -------
        Tensor
            int64 indices.

        Examples
        --------
        >>> ad.tensor([3.0, 1.0, 2.0]).argsort()
        tensor([1, 2, 0])
        """
        return _ops.argsort(self, axis=axis)

    def all(self, axis=None, keepdims=False):
        """Whether all elements are true (``np.all``).

        Not differentiable: the result is a bool Tensor.

        Parameters
        ----------
        axis : None, int or tuple of ints, optional
            The axes to reduce (default all).
        keepdims : bool, default False
            Keep the reduced axes with length 1.

        Returns
        -------
        Tensor
            bool.

        Examples
        --------
        >>> (ad.tensor([1.0, 2.0]) > 0).all()
        tensor(True)
        """
        xp = np if type(self.data) is cnp.ndarray else _backend.namespace(self.data)
        return _wrap(xp.asarray(xp.all(self.data, axis=axis, keepdims=keepdims)))

    def any(self, axis=None, keepdims=False):
        """Whether any element is true (``np.any``).

        Not differentiable: the result is a bool Tensor.

        Parameters
        ----------
        axis : None, int or tuple of ints, optional
            The axes to reduce (default all).
        keepdims : bool, default False
            Keep the reduced axes with length 1.

        Returns
        -------
        Tensor
            bool.

        Examples
        --------
        >>> (ad.tensor([1.0, -2.0]) < 0).any()
        tensor(True)
        """
        xp = np if type(self.data) is cnp.ndarray else _backend.namespace(self.data)
        return _wrap(xp.asarray(xp.any(self.data, axis=axis, keepdims=keepdims)))

    def nonzero(self):
        """The indices of the non-zero elements (``np.nonzero``); not differentiable.

        Returns
        -------
        tuple of numpy.ndarray
            One index array per dimension.

        Examples
        --------
        >>> ad.tensor([0.0, 3.0, 0.0, 1.0]).nonzero()
        (array([1, 3]),)
        """
        _check_capture("t.nonzero()")
        if type(self.data) is cnp.ndarray:
            return np.nonzero(self.data)
        return _backend.namespace(self.data).nonzero(self.data)

    def tolist(self):
        """The values as nested Python lists (``ndarray.tolist``); not differentiable.

        Returns
        -------
        list or scalar
            ``self.data.tolist()``.

        Examples
        --------
        >>> ad.tensor([[1.0, 2.0]]).tolist()
        [[1.0, 2.0]]
        """
        _check_capture("t.tolist()")
        return self.data.tolist()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ops._array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _ops._array_function(func, types, args, kwargs)


cdef void _check_conversion(Tensor t, str how) except *:
    """A tensor that an active transform differentiates must not silently become a constant
    (the derivative through it would be a wrong zero): raise, as autograd and JAX do."""
    cdef _ThreadState st
    if t._uid == 0 and t._more is None:
        return                          # tracked by no tape at all (the common case)
    st = _state()
    for tape in st.tapes[1:]:
        if _slot(t, <Tape>tape) >= 0:
            raise TypeError(
                f"pyad: {how} turns a Tensor that ad.grad/jvp/hvp/... is differentiating into "
                f"a numpy array, which drops its derivative (the result would be silently "
                f"wrong). Use pyad functions on it (ad.sum, ad.exp, `import pyad.numpy as np`; "
                f"scipy's functions: `import pyad.scipy`, e.g. pyad.scipy.signal.convolve) "
                f"to keep the derivative, or ad.stop_gradient(t) / t.detach() if dropping it "
                f"is meant. float(t), t.item() and comparisons work on tracked tensors.")


def stop_gradient(x):
    """x's value with no derivative: a Tensor that no tape tracks (arrays pass through).

    Use it where dropping the derivative is meant (a target that must be held constant, a
    value to convert with numpy inside a transform); same as ``t.detach()``.

    Parameters
    ----------
    x : Tensor or array_like
        The value.

    Returns
    -------
    Tensor or array_like
        The same data, untracked (x itself if it is not a Tensor).

    Examples
    --------
    >>> ad.grad(lambda x: ad.sum(x * ad.stop_gradient(x)))(np.array([1.0, 2.0]))
    array([1., 2.])
    """
    if isinstance(x, Tensor):
        return _wrap((<Tensor>x).data)
    return x


cdef inline bint _same_layout(Tensor x, other):
    """Both Tensors of one float dtype and one shape: no promotion or broadcasting needed."""
    if type(other) is not Tensor:
        return False
    a, b = x.data, (<Tensor>other).data
    return (type(a) is cnp.ndarray and type(b) is cnp.ndarray
            and (<cnp.ndarray>a).descr is (<cnp.ndarray>b).descr and a.shape == b.shape)


@cython.final
cdef class Arith:
    """One arithmetic operator's dispatch, given its rows by the ops layer: a Tensor with a
    Python scalar binds the scalar rows directly, two Tensors of one layout (dtype and
    shape) bind the array row, and everything else (promotion, broadcasting checks, other
    array-likes) takes the ops layer's general path. ``arith`` runs it for the Tensor
    operators and the public functions (ad.add, ad.subtract, ad.multiply) alike."""
    cdef Primitive arrays       # x op y
    cdef Primitive scalar       # x op c, with c (or -c when negate_scalar) as its param
    cdef Primitive rscalar      # c op x
    cdef bint negate_scalar
    cdef object general         # general(x, y): the full path

    def __init__(self, Primitive arrays, Primitive scalar, Primitive rscalar, general, *,
                 bint negate_scalar=False):
        self.arrays, self.scalar, self.rscalar = arrays, scalar, rscalar
        self.general, self.negate_scalar = general, negate_scalar


cpdef Tensor arith(Arith a, x, y):
    """x op y through a's dispatch (see Arith)."""
    if type(x) is Tensor:
        if type(y) is float or type(y) is int:
            return _bind(a.scalar, (x,), (-y if a.negate_scalar else y,))
        if type(y) is Tensor and _same_layout(<Tensor>x, y):
            return _bind(a.arrays, (x, y), ())
    elif type(y) is Tensor and (type(x) is float or type(x) is int):
        return _bind(a.rscalar, (y,), (x,))
    return a.general(x, y)


cdef inline Tensor _wrap(data):
    cdef Tensor t = Tensor.__new__(Tensor)
    t.data = data
    t._is_leaf = True
    return t


def wrap(data):
    """A Tensor around an existing array, without copying; tracked by no tape."""
    return _wrap(data)


cdef inline bint _maybe_tracked(Tensor t, bint explicit_tapes):
    # with only the implicit tape recording, only requires_grad tensors can be on it
    return t._requires_grad or (explicit_tapes and (t._uid != 0 or t._more is not None))


# ------------------------------------------------------------- program capture (ad.compile)
# While ad.compile records a call, every array a kernel makes is reported to its recorder
# (pyad.transforms.compiler): what ran, on which arrays, with which params. Work done outside
# the kernels is reported as a whole: a host step (backward() handing out .grad, an optimizer
# step) is replayed as the same Python call; a derived array (ad.tensor(x), a label check) as
# the function that made it. Reading a value into Python would bake it into the program, so
# that raises. The replay runs the recorded steps with run_program, without any tracing.
cdef inline bint _capturing():
    return _capture is not None and PyThread_get_thread_ident() == _capture_thread


def capturing():
    """Whether ad.compile records a program on this thread now."""
    return _capturing()


def set_capture(recorder):
    """Make recorder (None: nobody) the one kernels report to on this thread; returns the
    one it replaces."""
    global _capture, _capture_thread
    previous = _capture
    _capture = recorder
    _capture_thread = PyThread_get_thread_ident()
    return previous


cdef void _capture_op(Primitive prim, list datas, tuple params, out, tuple args) except *:
    # args: the Tensors whose arrays datas are (a parameter's array is read from its
    # Tensor at each replay, so an optimizer or load_state_dict may replace it)
    if PyThread_get_thread_ident() == _capture_thread:
        _capture.op(prim, datas, params, out, args)


cdef void _check_capture(str how) except *:
    if _capture is not None and _capturing():
        raise RuntimeError(
            f"ad.compile: {how} reads a tensor's value into Python while a compiled function "
            f"is recorded, so the replayed program could not recompute it (as under jax.jit). "
            f"Return the tensor from the function and read it outside, or keep the work in "
            f"pyad functions")


def host_step(fn, *args):
    """fn(*args); while ad.compile records, one step of the program: the replay calls fn again
    with the same arguments (program arrays among them replaced by their new values), and
    the kernels fn runs are not recorded one by one. For work on state outside the program
    (an optimizer's update of its parameters and buffers)."""
    if not _capturing():
        return fn(*args)
    recorder = _capture
    recorder.host(fn, args)
    set_capture(None)
    try:
        return fn(*args)
    finally:
        set_capture(recorder)


# host steps a CUDA graph can hold: fn (a function, or the function of a method) -> its
# graph_step factory (see register_graph_step)
_graph_steps = {}


def register_graph_step(fn, factory):
    """Let host step fn (a function, or a class's method) run from ad.compile's CUDA graph.

    Under a capture, ``factory(*args)`` (a method's: ``factory(obj, *args)``) is called just
    before ``fn(*args)`` runs there, so that fn's kernels go into the graph instead of running.
    It returns None where fn's work cannot be replayed from the graph (the program then
    replays plainly), else an object with:

    - ``check(ctx)``: at each later call, before the launch, whether the captured kernels are
      still fn's work (the same arrays, hyperparameters and state); ctx is a dict the
      program's host steps share in order, for what an earlier one establishes (zero_grad's
      cleared gradients, backward()'s handed-out ones);
    - ``apply()``: after the launch, fn's effects on Python state (a .grad, a step count)
      without its kernels;
    - optionally ``prepare()``: just before each launch (the capture's own first), what the
      captured kernels read that changes from launch to launch written where they read it
      (Adam's bias corrections, copied from the host on the launch's stream);
    - ``undo()``: where the capture is abandoned after fn ran under it, the Python state fn
      changed put back (the plain replay then runs fn again)."""
    _graph_steps[fn] = factory


def graph_step_of(fn):
    """The graph_step factory of host step fn, bound to fn's object for a method; None where
    none is registered (see register_graph_step)."""
    factory = _graph_steps.get(getattr(fn, "__func__", fn))
    if factory is not None and hasattr(fn, "__self__"):
        return functools.partial(factory, fn.__self__)
    return factory


def derived(fn, arrays, tuple params=()):
    """fn(*arrays, *params): an array made from arrays by code outside the kernels (a label
    check, a cast), recorded while ad.compile records, so the replay makes it again."""
    out = fn(*arrays, *params)
    if _capture is not None and _capturing():
        _capture.derived(fn, list(arrays), params, out)
    return out


@cython.final
cdef class Step:
    """One step of a recorded program (see run_program)."""
    cdef readonly object fn        # the kernel or Python function to call
    cdef readonly Primitive prim   # a row's step: its kernel is re-chosen when `select`
    cdef readonly tuple ins        # value slots of the inputs
    cdef readonly tuple params     # the trailing arguments (a program's arrays in them: Slot)
    cdef readonly Py_ssize_t out   # the output's slot; -1: none (host steps)
    cdef readonly bint select      # choose the kernel per call (_select: copies, dtypes)
    cdef readonly bint resolve     # params or args hold Slot references to resolve
    cdef readonly bint host        # a host step: fn(*args) with args resolved (nested lists)
    cdef public tuple frees        # slots no later step reads: dropped after this one

    def __init__(self, fn, prim, tuple ins, tuple params, Py_ssize_t out, bint select,
                 bint resolve, bint host, tuple frees=()):
        self.fn, self.prim, self.ins, self.params, self.out = fn, prim, ins, params, out
        self.select, self.resolve, self.host, self.frees = select, resolve, host, frees


@cython.final
cdef class Slot:
    """A reference to a program value inside a step's params or a host step's arguments."""
    cdef readonly Py_ssize_t index

    def __init__(self, Py_ssize_t index):
        self.index = index

    def __repr__(self):
        return f"Slot({self.index})"

    def __eq__(self, other):
        return type(other) is Slot and (<Slot>other).index == self.index

    def __hash__(self):
        return hash(("Slot", self.index))


cdef object _resolve(x, list vals):
    if type(x) is Slot:
        return vals[(<Slot>x).index]
    if type(x) is list:
        return [_resolve(v, vals) for v in <list>x]
    if type(x) is tuple:
        return tuple([_resolve(v, vals) for v in <tuple>x])
    return x


def run_program(list steps, list vals):
    """Run a recorded program: vals holds each slot's array (inputs and constants set, the
    rest None); each step computes its output slot from its input slots, and drops the
    values no later step reads."""
    cdef Step st
    cdef Py_ssize_t n, i, s
    cdef list datas
    for step in steps:
        st = <Step>step
        if st.host:
            st.fn(*_resolve(st.params, vals))
        else:
            n = len(st.ins)
            params = _resolve(st.params, vals) if st.resolve else st.params
            if n == 1 and not st.select:
                out = st.fn(vals[<Py_ssize_t>st.ins[0]], *params)
            elif n == 2 and not st.select:
                out = st.fn(vals[<Py_ssize_t>st.ins[0]], vals[<Py_ssize_t>st.ins[1]], *params)
            else:
                datas = [vals[<Py_ssize_t>st.ins[i]] for i in range(n)]
                fn = _select(st.prim, datas) if st.select else st.fn
                out = fn(*datas, *params)
            if (st.prim is not None and type(out) is not cnp.ndarray
                    and isinstance(out, cnp.generic)):
                out = np.asarray(out)       # as _bind: numpy ufuncs return 0-d scalars
            vals[st.out] = out
        for s in st.frees:
            vals[s] = None


def select_kernel(Primitive prim, list datas):
    """(the function _select picks for these arrays, whether it changed any of them)."""
    before = list(datas)
    fn = _select(prim, datas)
    changed = any(a is not b for a, b in zip(before, datas))
    return fn, changed


# ---------------------------------------------------------------------------- bind
cdef inline bint _kernel_ready(d):
    """A C-contiguous, aligned, native-byte-order float32/float64 numpy array: what the C++
    kernels take as is."""
    return (type(d) is cnp.ndarray and _is_float(<cnp.ndarray>d)
            and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>d)
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>d))


cdef inline bint _plain(Primitive prim, d):
    """A numpy array the row's impl takes as is (complex ones only where the row allows)."""
    return type(d) is cnp.ndarray and (prim.complex_ok
                                       or not cnp.PyArray_ISCOMPLEX(<cnp.ndarray>d))


cdef bint _any_complex(list datas) except -1:
    """Whether an array of another backend among datas is complex (numbers pass)."""
    for d in datas:
        if hasattr(d, "dtype") and _backend.dtype_of(d).kind == "c":
            return True
    return False


cdef void _refuse_complex(Primitive prim, list datas) except *:
    dtypes = ", ".join(str(_backend.dtype_of(d)) for d in datas)
    raise TypeError(f"pyad.{prim.name}: complex inputs are not supported by this operation yet "
                    f"(got {dtypes}); pyad computes with complex numbers through arithmetic, "
                    f"exp, log, sin, cos, sqrt, tanh, powers, matmul, sums, reshapes and "
                    f"indexing, ad.real/imag/conj/abs/angle; take ad.real(z) or ad.abs(z) "
                    f"first for the others")


cdef object _select(Primitive prim, list datas):
    """The function to call on the inputs' arrays: the row's numpy kernel (datas made ready
    for it) when every input is numpy, else the kernel of the same name on the inputs'
    backend (the seam raises when they live on two backends or devices). A user's own
    Primitive, which no backend has a row for, runs its impl on any array."""
    cdef Py_ssize_t i
    for i in range(len(datas)):
        d = datas[i]
        if type(d) is not cnp.ndarray:
            if isinstance(d, (cnp.ndarray, cnp.generic)):
                datas[i] = d = np.asarray(d)    # numpy scalars and subclasses: plain numpy
            else:
                if not prim.complex_ok and _any_complex(datas):
                    _refuse_complex(prim, datas)
                return _backend.kernel_for(prim.name, datas, prim.impl)
        if not prim.complex_ok and cnp.PyArray_ISCOMPLEX(<cnp.ndarray>d):
            _refuse_complex(prim, datas)
    return _prepare_arrays(prim, datas) if prim.contiguous_floats else prim.impl


cdef object _prepare_arrays(Primitive prim, list datas):
    """Copy strided views to C order; route non-float dtypes to the primitive's numpy
    fallback. Returns the function to call. Every input is a numpy array."""
    cdef Py_ssize_t i
    cdef bint floats = True
    for i in range(len(datas)):
        d = datas[i]
        if not _is_float(<cnp.ndarray>d):
            floats = False
        elif not cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>d) and not (
                i in prim.strided_inputs and cnp.PyArray_NDIM(<cnp.ndarray>d) == 1
                and cnp.PyArray_ISALIGNED(<cnp.ndarray>d)):
            # a C-ordered, aligned copy (np.array: ~0.5 us, where np.require took ~5)
            datas[i] = np.array(d, order="C")
        if not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>datas[i]):
            # any array numpy accepts: a big-endian one is read in the native order
            datas[i] = datas[i].astype(datas[i].dtype.newbyteorder("="))
    if floats:
        return prim.impl
    if prim.fallback is None:
        dtypes = ", ".join(str(d.dtype) for d in datas)
        raise TypeError(f"pyad.{prim.name}: expected float32 or float64 inputs, got {dtypes}")
    return prim.fallback


cdef bint _all_finite(d):
    if isinstance(d, np.ndarray):
        return d.dtype.kind not in "fc" or bool(np.isfinite(d).all())
    if not _floating(d):
        return True
    xp = _backend.namespace(d)
    return bool(xp.all(xp.isfinite(d)))


cdef object _check_nans(Primitive prim, list datas, out):
    if _all_finite(out):
        return
    for d in datas:
        if not _all_finite(d):
            return
    raise FloatingPointError(
        f"debug_nans: primitive '{prim.name}' produced a NaN or Inf from finite inputs "
        f"(input shapes {[np.shape(d) for d in datas]})")


cdef object _run(Primitive prim, tuple args, tuple params):
    """The forward kernel on the inputs' arrays (fixed-arity calls for the common cases)."""
    cdef Py_ssize_t n = len(args), p = len(params)
    fn = prim.impl
    if n == 1 and p <= 1 and not _debug_nans:
        d0 = (<Tensor>args[0]).data
        if _kernel_ready(d0) if prim.contiguous_floats else _plain(prim, d0):
            return fn(d0) if p == 0 else fn(d0, params[0])
    elif n == 2 and p == 0 and not _debug_nans:
        d0 = (<Tensor>args[0]).data
        d1 = (<Tensor>args[1]).data
        if (_kernel_ready(d0) and _kernel_ready(d1) if prim.contiguous_floats
                else _plain(prim, d0) and _plain(prim, d1)):
            return fn(d0, d1)
    cdef list datas = [(<Tensor>a).data for a in args]
    fn = _select(prim, datas)
    out = fn(*datas, *params)
    if _debug_nans:
        _check_nans(prim, datas, out)
    return out


cdef Tensor _bind(Primitive prim, tuple args, tuple params):
    cdef Tensor out
    cdef _ThreadState st
    if _deferring:
        st = _state()
        if st.pending is not None:
            _materialize(st)        # this op may read the deferred output
        if st.defer and prim.out_shape is not None:
            out = _bind_deferred(st, prim, args, params)
            if out is not None:
                return out
    out = Tensor.__new__(Tensor)
    data = _run(prim, args, params)
    if type(data) is not cnp.ndarray and isinstance(data, cnp.generic):
        data = np.asarray(data)       # numpy ufuncs turn 0-d results into scalars
    out.data = data
    out._is_leaf = True
    if _capture is not None:
        _capture_op(prim, [(<Tensor>a).data for a in args], params, data, args)
    if not prim.differentiable:
        st = _state()
        if st.n_active:
            _note_unrecorded(st, args)
        return out
    _record_tracked(_state(), prim, args, params, out)
    return out


cdef void _note_unrecorded(_ThreadState st, tuple args) except *:
    """A non-differentiable op (a comparison, sign) read a tensor a tape tracks: the tape's
    recording no longer captures everything its tracked values influence (see replay)."""
    cdef Tape tape
    for t in st.tapes[1:]:
        tape = <Tape>t
        if tape.replayable and not tape.forward:
            for a in args:
                if _slot(<Tensor>a, tape) >= 0:
                    tape.replayable = False
                    break


cdef void _record_tracked(_ThreadState st, Primitive prim, tuple args, tuple params,
                          Tensor out) except *:
    """Record the application on the tapes that track one of its inputs."""
    cdef bint explicit_tapes = st.n_active > 0
    if st.frozen_below and not explicit_tapes:
        return
    cdef Py_ssize_t i
    for i in range(len(args)):
        if _maybe_tracked(<Tensor>args[i], explicit_tapes):
            _record(st, prim, args, params, out)
            break


# Deferred primals. A forward-over-reverse HVP needs only the tangents of the parameters'
# cotangents, yet evaluating their VJP rules under the trace also computes the cotangents
# themselves: for an MLP, one X^T G product per weight, ~40% of a gradient. In a window the
# sweep opens around such a rule, a primitive with an out_shape gets a zero placeholder of
# that shape instead of running its kernel; its tangent is still computed (its JVP never
# reads the output). Any later op materializes the placeholder first, so only the rule's
# final product, whose value nobody reads, is skipped.
cdef dict _placeholders = {}


cdef Tensor _bind_deferred(_ThreadState st, Primitive prim, tuple args, tuple params):
    datas = [(<Tensor>a).data for a in args]
    shape = prim.out_shape(*datas, *params)
    if shape is None:
        return None
    cdef Tensor out = Tensor.__new__(Tensor)
    for d in datas:
        if type(d) is not cnp.ndarray:
            return None     # other backends compute the output now (no placeholder)
    key = (tuple(shape), np.result_type(*datas))
    placeholder = _placeholders.get(key)
    if placeholder is None:       # read-only zero views, one per shape (np.broadcast_to is slow)
        if len(_placeholders) >= 1024:
            _placeholders.clear()
        placeholder = _placeholders[key] = np.broadcast_to(np.zeros((), dtype=key[1]), key[0])
    out.data = placeholder
    out._is_leaf = True
    st.defer = False          # the JVP rule's own ops run normally
    try:
        _record_tracked(st, prim, args, params, out)
    finally:
        st.defer = True
    st.pending = [out, prim, args, params]
    return out


cdef void _materialize(_ThreadState st) except *:
    out, prim, args, params = st.pending
    st.pending = None
    data = _run(<Primitive>prim, <tuple>args, <tuple>params)
    (<Tensor>out).data = data
    if _capture is not None:
        _capture_op(<Primitive>prim, [(<Tensor>a).data for a in <tuple>args], <tuple>params,
                    data, <tuple>args)


cdef inline Tensor _as_input(x):
    if type(x) is Tensor or isinstance(x, Tensor):
        return <Tensor>x
    return _wrap(x if _foreign(x) else np.asarray(x))


def bind(Primitive prim, *args, tuple params=()):
    """Apply a primitive: run its kernel, and record it on every active tape that tracks one
    of its inputs. args are Tensors (arrays are wrapped); params are non-differentiable
    extra arguments (axis, a Python scalar, ...).

    Parameters
    ----------
    prim : Primitive
        The row to apply.
    *args : array_like or Tensor
        The inputs.
    params : tuple, default ()
        Extra static arguments, passed to the kernel and the rules after the inputs.

    Returns
    -------
    Tensor
        The output.

    Examples
    --------
    >>> scale = ad.Primitive("scale", lambda x, c: c * x, [lambda g, ans, x, c: c * g])
    >>> ad.bind(scale, np.array([1.0, 2.0]), params=(3.0,))
    tensor([3., 6.])
    """
    return _bind(prim, tuple([_as_input(a) for a in args]), params)


def make_unary(Primitive prim, str name, str doc):
    """The public function for a one-input primitive, e.g. ad.tanh."""
    def op(x):
        return _bind(prim, (_as_input(x),), ())
    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


cpdef Tensor apply1(Primitive prim, x, tuple params=()):
    """bind() for one input, without the varargs."""
    return _bind(prim, (_as_input(x),), params)


cpdef Tensor apply2(Primitive prim, x, y, tuple params=()):
    """bind() for two inputs, without the varargs."""
    return _bind(prim, (_as_input(x), _as_input(y)), params)


cdef void _record(_ThreadState st, Primitive prim, tuple args, tuple params,
                  Tensor out) except *:
    cdef Tape tape
    cdef Tensor a
    cdef Py_ssize_t i, s, n = len(args), ntapes = len(st.tapes), ti
    cdef list slots = None
    cdef Py_ssize_t few[4]
    cdef bint any_tracked
    cdef _Record rec
    for ti in range(ntapes):
        tape = <Tape>st.tapes[ti]
        if st.is_hidden(tape.level):
            continue        # a rule of this tape's level (or an outer one's) is running
        if tape.level < st.frozen_below and not tape.forward:
            continue        # no_grad() stops reverse-mode recording, not forward mode
        if tape.forward:
            _push_tangent(st, <JvpTrace>tape, prim, args, params, out)
            continue
        any_tracked = False
        if n > 4:
            slots = [UNTRACKED] * n
        else:
            few[0] = few[1] = few[2] = few[3] = UNTRACKED
        for i in range(n):
            a = <Tensor>args[i]
            s = _slot(a, tape)
            if s == UNTRACKED:
                if not a._requires_grad:
                    continue
                if a._is_leaf:
                    if not (tape.implicit or tape.watch_accessed):
                        continue
                    s = tape._watch_one(a)
                elif tape.implicit:
                    s = RELEASED
                else:
                    continue
            if not prim.variadic and (i >= len(prim.vjps) or prim.vjps[i] is None):
                if s >= 0:
                    tape.replayable = False     # a tracked value the recording cannot see
                continue
            any_tracked = True
            if n > 4:
                slots[i] = s
            else:
                few[i] = s
        if any_tracked:
            s = tape.nslots
            tape.nslots += 1
            _set_slot(out, tape, s)
            rec = _Record.__new__(_Record)
            rec.prim = prim
            rec.out_slot = s
            rec.nin = n
            if n > 4:
                rec.many = tuple(slots)
            else:
                rec.few[0], rec.few[1], rec.few[2], rec.few[3] = few[0], few[1], few[2], few[3]
            rec.out = out
            rec.args = _untracked(args)
            rec.params = _untracked(params)
            tape.records.append(rec)
            if tape.implicit:
                out._requires_grad = True
                out._is_leaf = False
                tape.new_records += 1
                tape.new_bytes += _nbytes(out.data)
                if (tape.new_records >= tape.collect_records
                        or tape.new_bytes >= tape.collect_bytes):
                    _collect_dead(tape)


cdef void _push_tangent(_ThreadState st, JvpTrace trace, Primitive prim, tuple args,
                        tuple params, Tensor out) except *:
    """Forward mode: the output's tangent on this trace from the inputs' tangents."""
    cdef Py_ssize_t i, s, n = len(args)
    cdef list dots = None
    for i in range(n):
        s = _slot(<Tensor>args[i], trace)
        if s >= 0 and trace.tangents[s] is not None:
            if dots is None:
                dots = [None] * n
            dots[i] = trace.tangents[s]
    if dots is None:
        return
    if prim.jvp is None:
        raise TypeError(f"pyad: primitive '{prim.name}' has no forward-mode (JVP) rule; "
                        f"a custom primitive gets one with .defjvp(...)")
    st.hide_from(trace.level)
    try:
        if trace.batch:
            tangent = _batched_jvp(prim, tuple(dots), out, args, params, trace.batch)
        else:
            tangent = prim.jvp(tuple(dots), out, *args, *params)
    finally:
        st.unhide()
    if tangent is None:
        return
    s = trace.nslots
    trace.nslots += 1
    _set_slot(out, trace, s)
    trace.tangents.append(tangent)


# ---------------------------------------------------------------------------- tapes
cdef class Tape:
    """Records the primitives applied to watched tensors, for reverse-mode differentiation
    (TensorFlow's GradientTape style).

    Inside ``with ad.Tape() as tape:`` every pyad operation on a watched tensor is recorded;
    ``tape.gradient(y, sources)`` then sweeps the record backwards. Tensors with
    ``requires_grad=True`` are watched automatically (``watch_accessed_variables``). A
    non-persistent tape frees what it saved after one gradient() call. Tapes nest: a
    gradient() computed while an outer tape records is itself recorded (grad of grad).

    Parameters
    ----------
    persistent : bool, default False
        Keep the record for several ``gradient()`` calls.
    watch_accessed_variables : bool, default True
        Watch tensors with ``requires_grad=True`` automatically.

    Raises
    ------
    RuntimeError
        When a released tape is entered again.

    See Also
    --------
    pyad.grad : the functional form.

    Examples
    --------
    >>> x = ad.tensor([1.0, 2.0, 3.0])
    >>> with ad.Tape() as tape:
    ...     tape.watch(x)
    ...     y = ad.sum(ad.exp(x))
    >>> dx, = tape.gradient(y, [x])
    >>> np.round(dx.numpy(), 4)
    array([ 2.7183,  7.3891, 20.0855])

    Nested tapes give second derivatives:

    >>> x = ad.tensor(2.0)
    >>> with ad.Tape() as outer:
    ...     outer.watch(x)
    ...     with ad.Tape() as inner:
    ...         inner.watch(x)
    ...         y = x ** 3
    ...     dy, = inner.gradient(y, [x])           # 3 x^2, recorded by outer
    >>> outer.gradient(dy, [x])                   # 6 x
    [tensor(12.)]
    """
    cdef readonly long long uid
    cdef list records
    cdef Py_ssize_t nslots
    cdef readonly bint persistent
    cdef readonly bint watch_accessed
    cdef readonly bint implicit
    cdef bint released
    cdef readonly long long level    # nesting order: inner tapes have higher levels
    cdef readonly bint forward
    cdef readonly bint replayable   # every op that read a tracked tensor was recorded
    cdef long long closed       # the next uid when its `with` block ended (0: still open)
    cdef Py_ssize_t n_freed     # implicit tape: records backward() has freed
    cdef list leaves          # implicit tape: watched leaves, to receive .grad
    # implicit tape: records and output bytes recorded since it was made or last collected
    # (see _collect_dead), and the amounts at which it collects next
    cdef Py_ssize_t new_records, new_bytes, collect_records, collect_bytes
    cdef Py_ssize_t kept_bytes      # output bytes of the records the last collection kept

    def __init__(self, persistent=False, watch_accessed_variables=True, *, _implicit=False):
        global _next_uid
        self.uid = _next_uid
        _next_uid += 1
        _live_uids.add(self.uid)
        self.records = []
        self.nslots = 0
        self.persistent = persistent
        self.watch_accessed = watch_accessed_variables
        self.implicit = _implicit
        self.released = False
        self.leaves = []
        self.new_records = self.new_bytes = self.kept_bytes = 0
        self.collect_records, self.collect_bytes = COLLECT_RECORDS, COLLECT_BYTES
        self.level = 0 if _implicit else self.uid
        self.forward = False
        self.replayable = True

    def __dealloc__(self):
        _live_uids.discard(self.uid)

    def __enter__(self):
        if self.released:
            raise RuntimeError("this Tape has been used and released; create a new ad.Tape()")
        cdef _ThreadState st = _state()
        st.tapes.append(self)
        self.closed = 0
        st.refresh()
        return self

    def __exit__(self, *exc):
        cdef _ThreadState st = _state()
        for i in range(len(st.tapes) - 1, 0, -1):
            if st.tapes[i] is self:
                del st.tapes[i]
                break
        self.closed = _next_uid
        st.refresh()
        return False

    def __len__(self):
        """Number of recorded primitive applications."""
        return len(self.records) if self.records is not None else 0

    cdef Py_ssize_t _watch_one(self, Tensor t) except -3:
        cdef Py_ssize_t s = _slot(t, self)
        if s >= 0:
            return s
        if not _has_gradients(t.data):
            raise TypeError(f"cannot differentiate with respect to a tensor of dtype "
                            f"{t.data.dtype}: only float32 and float64 (or complex) inputs have gradients; "
                            f"cast it first, e.g. x.astype(np.float64)")
        s = self.nslots
        self.nslots += 1
        _set_slot(t, self, s)
        if self.implicit:
            self.leaves.append(t)
        return s

    def watch(self, *tensors):
        """Track these tensors (or pytrees of tensors) from now on.

        Parameters
        ----------
        *tensors : Tensor or pytree of Tensors
            What to differentiate with respect to.

        Raises
        ------
        TypeError
            For a leaf that is not a Tensor (wrap arrays with ``ad.tensor``).
        RuntimeError
            When the tape was released.

        Returns
        -------
        None
            The tensors are watched from now on.

        Examples
        --------
        >>> params = {"w": ad.tensor([1.0, 2.0]), "b": ad.tensor(0.5)}
        >>> with ad.Tape() as tape:
        ...     tape.watch(params)
        ...     y = ad.sum(params["w"] * 3.0) + params["b"]
        >>> tape.gradient(y, params)
        {'b': tensor(1.), 'w': tensor([3., 3.])}
        """
        from pyad.engine.pytree import tree_leaves
        if self.released:
            raise RuntimeError("this Tape has been used and released; create a new ad.Tape()")
        for t in tree_leaves(list(tensors)):
            if not isinstance(t, Tensor):
                raise TypeError(f"Tape.watch expects pyad Tensors, got {type(t).__name__}; "
                                f"wrap arrays with ad.tensor(x)")
            self._watch_one(<Tensor>t)

    def replay(self, inputs, values, outputs, into=None):
        """Evaluate the recording again with new arrays for the watched tensors `inputs`
        (everything the recording did not track keeps its recorded value) and return the
        arrays of `outputs`. Only forward kernels run: nothing is recorded, no rule runs.
        For a recording that is linear in its inputs (the tangent part of a forward-mode
        pass) this re-applies the same linear map without recomputing what it depends on.
        into: per output, None or a numpy array (sharing no memory with the inputs) its value
        is written into (by the kernel itself where its row has an `into` form, a matrix
        product's GEMM; copied otherwise), which is then what is returned for it.

        Parameters
        ----------
        inputs : sequence of Tensor
            Watched tensors of this tape.
        values : sequence of numpy.ndarray
            Their new values (same shapes and dtypes).
        outputs : sequence of Tensor
            Tensors computed during the recording.

        Returns
        -------
        list of numpy.ndarray
            The outputs' new values.

        Raises
        ------
        RuntimeError
            When the tape was released, or a non-differentiable op read a tracked value.
        ValueError
            When an input is not watched by this tape.

        Examples
        --------
        >>> x = ad.tensor([1.0, 2.0])
        >>> with ad.Tape(persistent=True) as tape:
        ...     tape.watch(x)
        ...     y = 3.0 * x + 1.0
        >>> tape.replay([x], [np.array([10.0, 20.0])], [y])
        [array([31., 61.])]
        """
        if self.released or self.records is None:
            raise RuntimeError("Tape.replay: this tape was released; use ad.Tape(persistent=True)")
        if not self.replayable:
            raise RuntimeError("Tape.replay: a non-differentiable op (a comparison, sign, ...) "
                               "read a tracked value, so the recording does not determine its "
                               "outputs; compute them again instead")
        cdef list vals = [None] * self.nslots
        cdef Py_ssize_t s, k
        cdef _Record rec
        for x, v in zip(inputs, values):
            s = _slot(<Tensor>x, self)
            if s < 0:
                raise ValueError("Tape.replay: an input is not watched by this tape")
            vals[s] = v
        cdef dict dest_of = None
        if into is not None and _capture is None and not _debug_nans:
            dest_of = {}
            for o, d in zip(outputs, into):
                s = _slot(<Tensor>o, self)
                if d is not None and s >= 0:
                    dest_of[s] = d
        for r in self.records:
            if r is None:
                continue
            rec = <_Record>r
            if rec.prim is None:
                _raise_released()
            datas = []
            for k in range(len(rec.args)):
                s = rec.in_slot(k)
                datas.append(vals[s] if s >= 0 and vals[s] is not None
                             else (<Tensor>rec.args[k]).data)
            dest = dest_of.pop(rec.out_slot, None) if dest_of else None
            if dest is not None and rec.prim.into is not None \
                    and rec.prim.into(dest, *datas, *rec.params):
                vals[rec.out_slot] = dest
                continue
            logged = list(datas) if _capture is not None else None
            out = _select(rec.prim, datas)(*datas, *rec.params)
            if type(out) is not cnp.ndarray and isinstance(out, cnp.generic):
                out = np.asarray(out)
            if logged is not None:
                _capture_op(rec.prim, logged, rec.params, out, rec.args)
            vals[rec.out_slot] = out
        result = []
        for k, o in enumerate(outputs):
            s = _slot(<Tensor>o, self)
            value = vals[s] if s >= 0 and vals[s] is not None else (<Tensor>o).data
            if into is not None and into[k] is not None and value is not into[k]:
                np.copyto(into[k], value)
                value = into[k]
            result.append(value)
        return result

    def gradient(self, target, sources, output_gradients=None):
        """d target / d source for each source; sources may be a Tensor or a pytree of them.

        A non-scalar target is summed (seeded with ones) unless output_gradients is given.
        Sources the target does not depend on get zeros.

        Parameters
        ----------
        target : Tensor
            What to differentiate (computed inside the tape's block).
        sources : Tensor or pytree of Tensors
            Watched tensors.
        output_gradients : array_like or Tensor, optional
            The cotangent of target (default ones): gives vector-Jacobian products.

        Returns
        -------
        pytree of Tensor
            The gradients, structured like ``sources``.

        Raises
        ------
        TypeError
            When target or a source is not a Tensor.
        RuntimeError
            When a non-persistent tape is asked a second time.

        Examples
        --------
        >>> x = ad.tensor([1.0, 2.0])
        >>> with ad.Tape(persistent=True) as tape:
        ...     tape.watch(x)
        ...     y = x ** 2
        >>> tape.gradient(y, x)                        # summed: 2 x
        tensor([2., 4.])
        >>> tape.gradient(y, [x], output_gradients=np.array([1.0, 0.0]))
        [tensor([2., 0.])]
        """
        from pyad.engine.pytree import tree_flatten, tree_unflatten
        leaves, treedef = tree_flatten(sources)
        for s in leaves:
            if not isinstance(s, Tensor):
                raise TypeError(f"Tape.gradient: sources must be Tensors, got {type(s).__name__}")
        if not isinstance(target, Tensor):
            raise TypeError(f"Tape.gradient: target must be a Tensor, got {type(target).__name__}")
        grads = self._sweep([target], [output_gradients], leaves, False)
        grads = [_wrap(_zeros_like((<Tensor>s).data)) if g is None else g
                 for g, s in zip(grads, leaves)]
        return tree_unflatten(treedef, grads)

    cdef list _sweep(self, list targets, list seeds, list sources, bint retain,
                     bint defer_sources=False, Py_ssize_t batch=0, object ready=None,
                     list dests=None):
        """Reverse sweep from targets (seeded with seeds, None meaning ones) to sources;
        returns one cotangent per source, None where the targets do not depend on it.
        defer_sources: only the cotangents' tangents on an enclosing JvpTrace will be read,
        so the final products of rules marked `deferrable` that feed leaf sources are not
        computed (see _bind_deferred). batch > 0: each seed is a stack of that many
        cotangents, (batch,) + target shape, and so is every cotangent returned. ready:
        ready(k, cotangent) is called as soon as source k's cotangent is final (the sweep
        has passed every record that reads it), before the rest of the sweep runs. dests:
        per source, None or a numpy array its cotangent is written into where the last
        product makes it in one kernel with an `into` form (see set_grad_destination)."""
        if self.released:
            raise RuntimeError(
                "pyad: this tape was already used by gradient()/backward() and its saved values "
                "were released; use ad.Tape(persistent=True) (or backward(retain_graph=True)) "
                "to differentiate more than once")
        cdef _ThreadState st = _state()
        cdef list records = self.records
        cdef list source_slots = [_slot(<Tensor>src, self) for src in sources]
        cdef list grads = [None] * self.nslots
        cdef Py_ssize_t i, k, s, tslot, j, start = -1
        cdef _Record rec
        cdef Primitive prim
        cdef Tensor target
        cdef bint keep = self.persistent or retain
        for k in range(len(targets)):
            target = <Tensor>targets[k]
            tslot = _slot(target, self)
            if tslot < 0:
                continue
            seed = seeds[k]
            if seed is None and not batch:
                g = _wrap(_ones_like(target.data))
            else:
                g = _as_tensor(seed)
                want = (batch,) + target.shape if batch else target.shape
                if g.shape != want:
                    raise ValueError(f"gradient seed has shape {g.shape} but the target has "
                                     f"shape {target.shape}; it must have shape {want}")
            grads[tslot] = g if grads[tslot] is None else _add(grads[tslot], g)
            j = len(records) - 1
            while j > start and (records[j] is None or (<_Record>records[j]).out_slot != tslot):
                j -= 1
            start = j
        # the sweep is recorded by outer tapes (grad of grad) and by tapes made after this one
        # closed (grad of a vjp function), not by this one or the ones nested in it
        st.hide_from(self.level, self.closed)
        # cotangents of sources that are themselves intermediate results must survive
        cdef bytearray protected = bytearray(self.nslots)
        cdef unsigned char* is_source = protected
        cdef Py_ssize_t os
        for os in source_slots:
            if os >= 0:
                is_source[os] = 1
        cdef bytearray leaf_sources = None
        cdef unsigned char* defer_into = NULL
        if defer_sources:          # sources no record produces: their cotangents end here
            leaf_sources = bytearray(protected)
            defer_into = leaf_sources
            for r in records:
                if r is not None:
                    defer_into[(<_Record>r).out_slot] = 0
        cdef dict finished_at = _finished_at(records, source_slots, start) \
            if ready is not None else None
        cdef list dest_of = _destinations(records, source_slots, start, dests, grads) \
            if dests is not None and not batch and not defer_sources else None
        try:
            for i in range(start, -1, -1):
                if finished_at is not None and i + 1 in finished_at:
                    _report_ready(ready, finished_at.pop(i + 1), source_slots, grads)
                if records[i] is None:
                    continue
                rec = <_Record>records[i]
                os = rec.out_slot
                g = grads[os]
                if g is None:
                    continue
                if rec.prim is None:     # freed by an earlier backward()
                    _raise_released()
                if not is_source[os]:
                    grads[os] = None
                every = None
                if rec.prim.vjp_all is not None and not batch:
                    every = rec.prim.vjp_all(g, rec.out, *rec.args, *rec.params)
                for k in range(rec.nin):
                    s = rec.in_slot(k)
                    if s == UNTRACKED:
                        continue
                    if s == RELEASED:
                        _raise_released()
                    if every is not None:
                        ct = every[k]
                    elif batch:
                        ct = _batched_vjp(rec.prim, k, g, rec.out, rec.args, rec.params,
                                            batch)
                    elif defer_into != NULL and defer_into[s] and _deferrable(rec, k):
                        ct = _run_rule_deferred(st, rec, k, g)
                    elif dest_of is not None and dest_of[s] is not None and _deferrable(rec, k):
                        ct = _run_rule_into(st, rec, k, g, dest_of[s])
                    else:
                        ct = rec.run_rule(k, g)
                    if ct is None:
                        continue
                    if grads[s] is None:
                        grads[s] = ct
                    else:
                        grads[s] = _add(grads[s], ct)
                if not keep:
                    if self.implicit:
                        _free_record(self, rec)   # keeps the slot: a later sweep must notice
                    else:
                        records[i] = None
            if finished_at:                 # read only by the first records
                for ks in finished_at.values():
                    _report_ready(ready, ks, source_slots, grads)
        finally:
            st.unhide()
        result = [grads[s] if s >= 0 else None for s in source_slots]
        if not keep and not self.implicit:
            self.released = True
            self.records = None
            _live_uids.discard(self.uid)
        return result


cdef dict _finished_at(list records, list source_slots, Py_ssize_t start):
    """{i: source positions whose cotangent is final once the sweep is done with records
    i..start}: i is the earliest record that reads the source (0 for sources no record
    reads, reported at the end)."""
    cdef dict position = {}
    cdef Py_ssize_t k, s
    for k in range(len(source_slots)):
        s = source_slots[k]
        if s >= 0:
            position.setdefault(s, []).append(k)
    cdef dict reads = _reads(records, start, position)
    cdef dict at = {}
    for s, ks in position.items():
        at.setdefault(reads[s][0] if s in reads else 0, []).extend(ks)
    return at


cdef dict _reads(list records, Py_ssize_t start, slots):
    """{slot: [index of the earliest record reading it, number of record inputs reading it]}
    over records 0..start, for the slots in `slots` that some record reads."""
    cdef dict reads = {}
    cdef Py_ssize_t i, k, s
    cdef _Record rec
    for i in range(start + 1):
        if records[i] is None:
            continue
        rec = <_Record>records[i]
        for k in range(rec.nin):
            s = rec.in_slot(k)
            if s >= 0 and s in slots:
                if s in reads:
                    reads[s][1] += 1
                else:
                    reads[s] = [i, 1]
    return reads


cdef list _destinations(list records, list source_slots, Py_ssize_t start, list dests,
                        list grads):
    """Per slot, the array its cotangent may be written into (dests[k] for source k): only
    for a slot that no target seeds and that exactly one record input reads up to `start`,
    so its cotangent is that one rule's result, never a sum."""
    cdef dict wanted = {}
    cdef Py_ssize_t k, s
    for k in range(len(source_slots)):
        s = source_slots[k]
        if s >= 0 and dests[k] is not None and grads[s] is None:
            wanted[s] = dests[k]
    if not wanted:
        return None
    cdef dict reads = _reads(records, start, wanted)
    cdef list dest_of = [None] * len(grads)
    for s, d in wanted.items():
        if s in reads and reads[s][1] == 1:
            dest_of[s] = d
    return dest_of


cdef void _report_ready(ready, list ks, list source_slots, list grads) except *:
    for k in ks:
        g = grads[source_slots[k]]
        if g is not None:
            ready(k, g)


cdef class JvpTrace(Tape):
    """Forward mode: while active, every tensor computed from watched ones carries a tangent
    (its directional derivative), propagated op by op through the JVP rules.

    Traces and tapes nest in any order (jvp of grad, grad of jvp, jvp of jvp).
    JvpTrace(batch=B) carries B tangents per tensor at once, stacked on a leading axis:
    watch(x, t) takes t of shape (B,) + x.shape and tangent(y) has shape (B,) + y.shape
    (each primitive's JVP runs once on the whole batch; see pyad.ops.batching).

    Parameters
    ----------
    batch : int, default 0
        0 for one tangent per tensor; B > 0 for B stacked tangents.

    Raises
    ------
    ValueError
        For a negative batch.

    See Also
    --------
    pyad.jvp : the functional form.

    Examples
    --------
    >>> x = ad.tensor([0.0, 1.0])
    >>> with ad.JvpTrace() as trace:
    ...     trace.watch(x, np.array([1.0, 1.0]))
    ...     y = x ** 2
    >>> trace.tangent(y)                           # 2 x v
    tensor([0., 2.])
    >>> with ad.JvpTrace(batch=2) as trace:        # the identity's columns at once
    ...     trace.watch(x, np.eye(2))
    ...     y = x ** 2
    >>> trace.tangent(y)                           # the Jacobian diag(2 x)
    tensor([[0., 0.],
            [0., 2.]])
    """
    cdef list tangents
    cdef readonly Py_ssize_t batch

    def __init__(self, batch=0):
        Tape.__init__(self, persistent=True, watch_accessed_variables=False)
        self.forward = True
        self.tangents = []
        if batch < 0:
            raise ValueError(f"JvpTrace: batch must be >= 0 (0: one tangent), got {batch}")
        self.batch = batch

    def watch(self, x, tangent):
        """Give tensor x the tangent `tangent` on this trace.

        Parameters
        ----------
        x : Tensor
            An input to differentiate.
        tangent : array_like or Tensor
            Its direction: x's shape, or (batch,) + x.shape for a batched trace (converted to
            x's dtype).

        Raises
        ------
        TypeError
            When x is not a Tensor.
        ValueError
            When the tangent's shape is wrong.

        Returns
        -------
        None
            x carries the tangent from now on.

        Examples
        --------
        >>> x = ad.tensor([1.0, 2.0])
        >>> with ad.JvpTrace() as trace:
        ...     trace.watch(x, np.array([1.0, 0.0]))
        ...     y = ad.sum(x * x)
        >>> trace.tangent(y)
        tensor(2.)
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"JvpTrace.watch expects a pyad Tensor, got {type(x).__name__}")
        t = _as_input(tangent)
        want = (self.batch,) + x.shape if self.batch else x.shape
        if t.shape != want:
            raise ValueError(f"pyad.jvp: tangent of shape {t.shape} for a primal of shape "
                             f"{x.shape}; it must have shape {want}")
        if _foreign(t.data) or _foreign(x.data):
            _backend.same_backend("jvp", [x.data, t.data])    # a tangent never changes device
        if t.data.dtype != x.data.dtype:
            t = _ops.astype(t, x.data.dtype)
        cdef Py_ssize_t s = self._watch_one(<Tensor>x)
        if s < len(self.tangents):
            self.tangents[s] = t
        else:
            self.tangents.append(t)

    def tangent(self, x):
        """x's tangent on this trace, or None where x does not depend on the watched inputs.

        Parameters
        ----------
        x : Tensor
            A tensor computed inside the trace.

        Returns
        -------
        Tensor or None
            Its directional derivative.

        Examples
        --------
        >>> x, c = ad.tensor([1.0]), ad.tensor([5.0])
        >>> with ad.JvpTrace() as trace:
        ...     trace.watch(x, np.array([1.0]))
        ...     y = ad.sin(x) * 0.0 + x
        >>> trace.tangent(y), trace.tangent(c)
        (tensor([1.]), None)
        """
        if not isinstance(x, Tensor):
            return None
        cdef Py_ssize_t s = _slot(<Tensor>x, self)
        return self.tangents[s] if s >= 0 else None

    def gradient(self, *args, **kwargs):
        raise TypeError("a JvpTrace computes forward-mode tangents (trace.tangent(y)); use "
                        "ad.Tape for gradients")


cdef void _raise_released() except *:
    raise RuntimeError(
        "pyad: trying to differentiate through a graph that backward() already freed; call "
        "backward(retain_graph=True) the first time, or recompute the forward pass")


cdef Tensor _as_tensor(x):
    if isinstance(x, Tensor):
        return <Tensor>x
    return _wrap(x if _foreign(x) else np.asarray(x))


cdef void _backward(Tensor y, gradient, bint retain) except *:
    cdef _ThreadState st = _state()
    cdef Tape tape = <Tape>st.tapes[0]
    if _slot(y, tape) < 0:
        if y._requires_grad and not y._is_leaf:
            _raise_released()
        if not y._requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not depend on any tensor with requires_grad=True "
                "(create inputs with ad.tensor(x, requires_grad=True), outside ad.no_grad())")
    if gradient is None and y.data.size != 1:
        raise RuntimeError(
            f"backward(): output of shape {y.shape} is not a scalar; pass gradient= (the "
            f"vector in the vector-Jacobian product) or reduce it first, e.g. y.sum()")
    if gradient is not None:      # a private copy: it may be handed back as a leaf's .grad
        gradient = _array(gradient.data if isinstance(gradient, Tensor) else gradient,
                          y.data.dtype, y.data, "backward")
    leaves = list(tape.leaves)
    if y._is_leaf and y._requires_grad and _slot(y, tape) < 0:
        tape._watch_one(y)
        leaves.append(y)
    ready = None if _grad_ready_hook is None else \
        functools.partial(_report_grad, _grad_ready_hook, leaves)
    dests = None
    if _grad_destinations:
        dests = [_take_destination(<Tensor>leaf) for leaf in leaves]
        if _capture is not None or not any(d is not None for d in dests):
            dests = None        # ad.compile's replay runs its kernels, not these writes
    grads = tape._sweep([y], [gradient], leaves, retain, False, 0, ready, dests)
    arrays = [None if g is None else (<Tensor>g).data for g in grads]
    if _capture is not None and _capturing():
        # replayed as one step, on the leaves that get a gradient (the tape may hold others
        # from earlier work, which the first call's backward() meets and later ones do not)
        given = [k for k in range(len(arrays)) if arrays[k] is not None]
        host_step(_hand_out_grads, [leaves[k] for k in given], [arrays[k] for k in given])
    else:
        _hand_out_grads(leaves, arrays, dests)
    if not retain:
        if tape.n_freed < len(tape.records):
            _free_dead_records(tape)
        if tape.n_freed == len(tape.records):    # nothing live: start a fresh implicit tape
            _fresh_implicit(st, tape)


cdef object _grad_ready_hook = None
cdef dict _grad_destinations = {}       # id(leaf) -> (weakref to leaf, array): see below


def set_grad_destination(leaf, dest):
    """The next backward() that computes leaf's gradient while leaf.grad is None writes it
    into dest (a writeable C-contiguous numpy array of leaf's shape and dtype, which becomes
    leaf.grad) where the product that makes it can write there itself (a matrix product's
    GEMM, with its `into` kernel) and the gradient is that one product, not a sum; otherwise
    the gradient is a new array as usual. One backward() uses each destination once;
    dest=None removes leaf's. For gradient buckets (pyad.distributed): the gradient is then
    in the bucket as it is made, with no copy into it."""
    if not isinstance(leaf, Tensor):
        raise TypeError(f"set_grad_destination: leaf must be a Tensor, got {type(leaf).__name__}")
    if dest is None:
        _grad_destinations.pop(id(leaf), None)
        return
    if (type(dest) is not cnp.ndarray or dest.shape != (<Tensor>leaf).data.shape
            or dest.dtype != (<Tensor>leaf).data.dtype or not dest.flags.c_contiguous
            or not dest.flags.writeable):
        raise ValueError(f"set_grad_destination: dest must be a writeable C-contiguous numpy "
                         f"array of the leaf's shape {leaf.shape} and dtype "
                         f"{(<Tensor>leaf).data.dtype}")
    key = id(leaf)        # (dropped with the leaf: a discarded model keeps no bucket alive)
    _grad_destinations[key] = (weakref.ref(leaf, lambda _: _grad_destinations.pop(key, None)),
                               dest)


cdef object _take_destination(Tensor leaf):
    """leaf's registered destination (removed), when leaf has no .grad to add to."""
    entry = _grad_destinations.pop(id(leaf), None)
    if entry is None or entry[0]() is not leaf or leaf._grad is not None:
        return None
    return entry[1]


def set_grad_ready_hook(hook):
    """hook(leaf, array) or None; returns the previous hook. backward() calls it for each
    leaf whose gradient the sweep has finished, while the sweep goes on with the layers
    below (before .grad is handed out): data-parallel training starts averaging a finished
    bucket of gradients there. ad.compile records each call as a host step."""
    global _grad_ready_hook
    previous, _grad_ready_hook = _grad_ready_hook, hook
    return previous


def _report_grad(hook, list leaves, Py_ssize_t k, g):
    host_step(hook, leaves[k], (<Tensor>g).data)


cdef inline bint _own_gradient(Tensor leaf, gd):
    """Whether gradient array gd can become leaf's .grad as it is: of leaf's dtype, and a
    fresh array the sweep made (owning its memory, writeable), not a view or broadcast."""
    if gd.dtype != leaf.data.dtype:
        return False
    if type(gd) is cnp.ndarray:
        return gd.flags.owndata and gd.flags.writeable
    return _backend.owns_memory(gd)


def _hand_out_grads(list leaves, list arrays, list dests=None):
    """backward()'s last part: add each leaf's gradient array (None: none) into its .grad
    (a gradient written into the leaf's destination is handed over as it is)."""
    cdef Tensor leaf
    cdef set handed_out = set()
    for k in range(len(leaves)):
        leaf = <Tensor>leaves[k]
        gd = arrays[k]
        if gd is None:
            continue
        if dests is not None and gd is dests[k] and leaf._grad is None:
            leaf._grad = _wrap(gd)
        elif leaf._grad is None:
            # a fresh array the sweep made is handed over as is; views, read-only broadcasts
            # and arrays shared with another leaf are copied
            if id(gd) not in handed_out and _own_gradient(leaf, gd):
                handed_out.add(id(gd))
                leaf._grad = _wrap(gd)
            else:
                leaf._grad = _wrap(_array(gd, leaf.data.dtype))
        else:
            leaf._grad = _wrap((<Tensor>leaf._grad).data + gd)


class _HandOutGraphStep:
    """backward()'s hand-out under a CUDA graph (see register_graph_step): at every launch,
    each leaf gets the graph's gradient buffer as its .grad, rewritten by the next launch."""

    def __init__(self, pairs):
        self.pairs = pairs          # [(leaf, the graph's gradient array)]

    def check(self, ctx):
        cleared, grads = ctx.get("cleared", ()), ctx.setdefault("grads", {})
        for leaf, gd in self.pairs:
            if ((<Tensor>leaf)._grad is not None and id(leaf) not in cleared) or id(leaf) in grads:
                return False        # it would add to a .grad: kernels the graph does not hold
            grads[id(leaf)] = gd
        return True

    def apply(self):
        for leaf, gd in self.pairs:
            (<Tensor>leaf)._grad = _wrap(gd)

    def undo(self):
        for leaf, _ in self.pairs:
            (<Tensor>leaf)._grad = None


def _hand_out_graph_step(list leaves, list arrays, list dests=None):
    """The hand-out as a graph step where it is only assignments: no leaf has a .grad to add
    to, and each gradient is its own (_own_gradient), given to no other leaf."""
    if dests is not None:
        return None
    pairs, seen = [], set()
    for leaf, gd in zip(leaves, arrays):
        if gd is None:
            continue
        if ((<Tensor>leaf)._grad is not None or id(gd) in seen or not _foreign(gd)
                or not _own_gradient(<Tensor>leaf, gd)):
            return None         # (a graph's buffers are device arrays: numpy ones never are)
        seen.add(id(gd))
        pairs.append((leaf, gd))
    return _HandOutGraphStep(pairs)


register_graph_step(_hand_out_grads, _hand_out_graph_step)


cdef inline void _free_record(Tape tape, _Record rec):
    rec.prim = None
    rec.out = None
    rec.args = rec.params = None
    tape.n_freed += 1


def free_dead_implicit_records():
    """Free the records of the implicit backward() tape that nothing can reach any more, and
    start a fresh tape when none is left. The functional transforms call this when they
    return: given Tensors that require grad, their passes are recorded on the implicit tape
    too (a later backward() may want them), and without a backward() those records would
    pile up call after call (a training loop of ad.grad steps grew by its activations on
    every step)."""
    cdef _ThreadState st = _state()
    cdef Tape tape = <Tape>st.tapes[0]
    if not tape.records:
        return
    if tape.n_freed < len(tape.records):
        _free_dead_records(tape)
    if tape.n_freed == len(tape.records):
        _fresh_implicit(st, tape)


cdef list _free_dead_records(Tape tape):
    """Free the implicit tape's records whose outputs nothing outside the tape can reach any
    more (an evaluation pass run without no_grad(), a graph that was dropped), so they do not
    pile up between backward() calls. Walks the tape once backwards: a record stays if its
    output is referenced from outside the tape or feeds a record that stays. Returns the
    records freed now (their outputs are gone, so no later op can read their slots)."""
    cdef list records = tape.records
    cdef list freed = []
    cdef dict internal = {}           # id(tensor) -> references held by the tape itself
    cdef set needed = set()
    cdef _Record rec
    cdef Py_ssize_t i
    for r in records:
        rec = <_Record>r
        if rec.prim is None:
            continue
        internal[id(rec.out)] = internal.get(id(rec.out), 0) + 1
        for a in rec.args:
            internal[id(a)] = internal.get(id(a), 0) + 1
    r = a = None
    for i in range(len(records) - 1, -1, -1):
        rec = <_Record>records[i]
        if rec.prim is None:
            continue
        key = id(rec.out)
        if _refcount(<PyObject*>rec.out) > internal[key] or key in needed:
            for a in rec.args:
                needed.add(id(a))
        else:
            for a in rec.args:
                internal[id(a)] -= 1
            _free_record(tape, rec)
            freed.append(rec)
        a = None        # a loop variable must not count as a reference to an earlier output
    if freed and tape.leaves:
        # leaves only the tape holds (its list, and records that stay): nobody could read
        # the .grad a backward() would give them (inputs made with requires_grad=True in
        # each pass of a loop piled up here)
        tape.leaves = [leaf for leaf in tape.leaves
                       if _refcount(<PyObject*>leaf) > internal.get(id(leaf), 0) + 2]
    return freed


# The implicit tape collects its dead records while it records (without a backward(), an
# evaluation loop run without no_grad() kept every activation: 20,000 small forward passes
# held 640 MB) once it has recorded COLLECT_RECORDS records or COLLECT_BYTES bytes of outputs
# since it was made or last collected, or twice what stayed live then, whichever is more:
# each collection walks the tape once, so its cost per op stays constant. A fresh tape after
# backward() starts from twice the records and bytes the swept step recorded, so a training
# loop whose step is larger than these does not collect in every step. Small amounts keep the
# garbage in cache: a loop of the 64-128-128-10 MLP's forward passes took 58 us a pass with
# 256 records / 16 MB, 66-86 with 1,024 / 64 MB (50 under no_grad()).
cdef Py_ssize_t COLLECT_RECORDS = 256
cdef Py_ssize_t COLLECT_BYTES = 16 << 20
cdef Py_ssize_t _collections = 0


cdef inline Py_ssize_t _nbytes(d):
    if type(d) is cnp.ndarray:
        return cnp.PyArray_NBYTES(<cnp.ndarray>d)
    return getattr(d, "nbytes", 0)


cdef void _collect_dead(Tape tape) except *:
    """Free the dead records (_free_dead_records) and drop them from the list; records a
    sweep freed stay (their outputs may be alive, and a later backward() through them must
    raise)."""
    global _collections
    cdef list freed = _free_dead_records(tape)
    cdef _Record rec
    cdef Py_ssize_t live_bytes = 0
    cdef set gone = {id(r) for r in freed}
    cdef list kept = []
    _collections += 1
    for r in tape.records:
        if id(r) in gone:
            continue
        kept.append(r)
        rec = <_Record>r
        if rec.prim is not None:
            live_bytes += _nbytes(rec.out.data)
    tape.records = kept
    tape.n_freed -= len(freed)
    if tape.n_freed == 0:
        _renumber(tape)
    tape.new_records = tape.new_bytes = 0
    tape.kept_bytes = live_bytes
    tape.collect_records = max(COLLECT_RECORDS, 2 * (len(tape.records) - tape.n_freed))
    tape.collect_bytes = max(COLLECT_BYTES, 2 * live_bytes)


cdef Py_ssize_t _renumbered(dict new, Py_ssize_t s, Py_ssize_t* n) except -3:
    cdef Py_ssize_t m
    if s < 0:
        return s            # UNTRACKED, RELEASED
    found = new.get(s)
    if found is not None:
        return <Py_ssize_t>found
    m = n[0]
    new[s] = m
    n[0] = m + 1
    return m


cdef void _renumber(Tape tape) except *:
    """Number the slots of the tape's leaves and records 0, 1, ... again, in order, after a
    collection left no record a sweep freed (whose output may be alive, out of reach, with
    its slot). A sweep sizes its per-slot arrays by the slot count, which otherwise grows
    as long as the tape lives: a loop of backward(retain_graph=True), which never starts a
    fresh tape, slowed down step after step."""
    cdef dict new = {}
    cdef Py_ssize_t n = 0, k
    cdef Tensor t
    cdef _Record rec
    for leaf in tape.leaves:
        t = <Tensor>leaf
        _set_slot(t, tape, _renumbered(new, _slot(t, tape), &n))
    for r in tape.records:
        rec = <_Record>r
        if rec.many is None:
            for k in range(rec.nin):
                rec.few[k] = _renumbered(new, rec.few[k], &n)
        else:
            rec.many = tuple([_renumbered(new, s, &n) for s in rec.many])
        rec.out_slot = _renumbered(new, rec.out_slot, &n)
        _set_slot(rec.out, tape, rec.out_slot)
    tape.nslots = n


cdef void _fresh_implicit(_ThreadState st, Tape old) except *:
    """A new implicit tape in place of `old`, none of whose records is live any more."""
    cdef Tape tape = Tape(_implicit=True)
    tape.collect_records = max(COLLECT_RECORDS, 2 * len(old.records))
    tape.collect_bytes = max(COLLECT_BYTES, 2 * (old.kept_bytes + old.new_bytes))
    st.tapes[0] = tape


def set_collect_thresholds(Py_ssize_t records, Py_ssize_t nbytes):
    """Set the amounts at which the implicit tape collects dead records (tests); returns the
    old ones. Applies to the current thread's tape from now on, and to later tapes."""
    global COLLECT_RECORDS, COLLECT_BYTES
    old = (COLLECT_RECORDS, COLLECT_BYTES)
    COLLECT_RECORDS, COLLECT_BYTES = records, nbytes
    cdef Tape tape = <Tape>_state().tapes[0]
    tape.collect_records, tape.collect_bytes = records, nbytes
    return old


def implicit_tape_stats():
    """{records: the current thread's implicit tape's length, slots: its slot count,
    collections: how many times implicit tapes have collected dead records (any thread)}
    (tests)."""
    cdef Tape tape = <Tape>_state().tapes[0]
    return {"records": len(tape.records), "slots": tape.nslots, "collections": _collections}


cdef inline bint _deferrable(_Record rec, Py_ssize_t k):
    rule = rec.prim.vjps[0] if rec.prim.variadic else rec.prim.vjps[k]
    return getattr(rule, "deferrable", False)


cdef tuple _rule_in_window(_ThreadState st, _Record rec, Py_ssize_t k, g):
    """(cotangent, pending): rec's rule for input k run in a deferred window (see
    _bind_deferred), and its final product left uncomputed there ([out, prim, args, params],
    or None when the rule's last op could not be deferred)."""
    global _deferring
    _deferring += 1
    st.defer = True
    try:
        ct = rec.run_rule(k, g)
        return ct, st.pending
    finally:
        st.defer = False
        st.pending = None
        _deferring -= 1


cdef object _run_rule_deferred(_ThreadState st, _Record rec, Py_ssize_t k, g):
    """rec's rule for input k, its final product never computed (only its tangent is read)."""
    return _rule_in_window(st, rec, k, g)[0]


cdef object _run_rule_into(_ThreadState st, _Record rec, Py_ssize_t k, g, dest):
    """rec's rule for input k, its final product written into dest where it can: when that
    product is the rule's result and its row's `into` kernel takes dest, it runs into dest,
    otherwise as usual."""
    ct, pending = _rule_in_window(st, rec, k, g)
    if pending is None:
        return ct
    out, prim, args, params = pending
    into = (<Primitive>prim).into
    if (out is ct and into is not None and not _debug_nans
            and into(dest, *[(<Tensor>a).data for a in <tuple>args], *<tuple>params)):
        (<Tensor>out).data = dest
    else:
        (<Tensor>out).data = _run(<Primitive>prim, <tuple>args, <tuple>params)
    return ct


def sweep(Tape tape, list targets, list seeds, list sources, bint primal_unused=False,
          Py_ssize_t batch=0):
    """Cotangents of sources for sum_k <seeds[k], targets[k]> (None where independent).
    primal_unused=True: the caller reads only the cotangents' tangents on an enclosing
    JvpTrace (forward-over-reverse), so their own values may be left uncomputed (zeros).
    batch=B: the seeds are stacks of B cotangents ((B,) + target shape) swept at once, and
    each returned cotangent is (B,) + source shape."""
    if batch < 0:
        raise ValueError(f"sweep: batch must be >= 0, got {batch}")
    return tape._sweep(targets, seeds, sources, False, primal_unused, batch)


def is_tracked(t):
    """Whether a Tensor is recorded on a tape that is recording now (so an outer
    transform differentiates through it and it must stay a Tensor)."""
    if not isinstance(t, Tensor):
        return False
    cdef Tensor x = <Tensor>t
    if x._requires_grad:
        return True
    cdef _ThreadState st = _state()
    for tape in st.tapes[1:]:
        if _slot(x, <Tape>tape) >= 0:
            return True
    return False


def active_tapes():
    """The explicit tapes recording in this thread, innermost last (for transforms)."""
    return list(_state().tapes[1:])
