"""ad.compile: record the kernels a function runs, once per argument signature, and replay them."""
from __future__ import annotations

import functools
import struct
import threading
import warnings
from typing import Any, Callable, Optional, Union

import numpy as np

from pyad import backend
from pyad.engine import _tape
from pyad.engine._tape import (Slot, Step, Tensor, graph_step_of, run_program, select_kernel,
                               wrap)
from pyad.engine.pytree import tree_flatten, tree_unflatten

__all__ = ["compile", "Compiled", "CompileWarning"]

MAX_SIGNATURES = 32      # past this many programs for one function, warn (a changing number argument)
# a CUDA graph found stale (a parameter replaced, a learning rate changed) is captured again
# while fewer than this many captures were made, or after this many launches of the last one:
# state that changes every few calls ends the graph (the program then replays plainly)
QUICK_CAPTURES, LAUNCHES_PER_CAPTURE = 3, 50

# what a program slot holds
_INPUT = 0       # an argument's array (a Tensor argument's .data, or the array passed)
_TENSOR = 1      # a Tensor argument itself (backward() hands it a .grad)
_CONST = 2       # an array the kernels did not make, the same in every call (a constant)
_STATE = 3       # the array of a Tensor from outside the arguments (a parameter): re-read per call
_MADE = 4        # a kernel's (or a derived step's) output


_INSTR = struct.Struct("<4i2d")      # one fused_map instruction: kernel, a, b, dst, p0, p1


class _NoGraphForm(Exception):
    """A host step with no CUDA-graph form now (see _tape.register_graph_step): the capture
    is abandoned and the program replays plainly."""


class CompileWarning(UserWarning):
    """ad.compile(debug=True) reports each recording, and why, with this warning.

    Examples
    --------
    >>> import warnings
    >>> f = ad.compile(lambda x: ad.exp(x), debug=True)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = f(np.zeros(2))
    >>> str(caught[0].message)
    'ad.compile: recording <lambda> (first call) for ndarray float64[2] on cpu'
    """


def _is_array(x):
    return type(x) is np.ndarray or isinstance(x, np.ndarray) or backend.is_foreign(x)


def _array_key(a):
    """What a recorded program assumes of an array: its type, shape, dtype, device and layout
    (a C-contiguous array goes to the kernels as is; another one is copied first)."""
    if type(a) is np.ndarray or isinstance(a, np.ndarray):
        f = a.flags
        return (type(a), a.shape, a.dtype.str, f.c_contiguous, f.f_contiguous, f.aligned)
    return (type(a), tuple(a.shape), str(a.dtype), backend.device_of(a))


def _leaf_key(x):
    if isinstance(x, Tensor):
        return ("tensor", _array_key(x.data), x.requires_grad)
    if _is_array(x):
        return ("array", _array_key(x))
    if isinstance(x, float) and x != x:
        return ("nan", type(x))
    try:
        hash(x)
    except TypeError:
        return ("object", id(x))        # unhashable: by identity
    return ("value", type(x), x)        # numbers, strings, None: each value its own program


def _signature(leaves):
    """The cache key of a call: every leaf's key, and which leaves share one array."""
    first, aliases = {}, []
    for i, x in enumerate(leaves):
        if isinstance(x, Tensor) or _is_array(x):
            obj = x.data if isinstance(x, Tensor) else x
            aliases.append(first.setdefault(id(obj), i))
    return tuple(_leaf_key(x) for x in leaves), tuple(aliases)


def _describe(x):
    if isinstance(x, Tensor):
        return f"Tensor {x.data.dtype}{list(x.shape)} on {x.device}"
    if _is_array(x):
        return f"{type(x).__name__} {x.dtype}{list(x.shape)} on {backend.device_of(x)}"
    return repr(x) if len(repr(x)) < 40 else type(x).__name__


def _slots_in(x, found):
    """Add the slots Slot references in x (nested tuples and lists) name to found."""
    if type(x) is Slot:
        found.append(x.index)
    elif type(x) in (tuple, list):
        for v in x:
            _slots_in(v, found)
    return found


def _communicates(step):
    """A collective's step: kept even when nothing reads its result, since every rank must
    make the same MPI calls (and eager calls make them)."""
    return step[2] is not None and step[2].communicates


def _reads(step):
    """The slots a recorded step reads: its inputs and the Slots in its params."""
    return step[3] + tuple(_slots_in(step[4], []))


class _Recorder:
    """The steps of one call, reported by the engine (see _tape.set_capture) while it runs."""

    def __init__(self, leaves):
        self.values = []        # each slot's value (kept alive: the ids below stay unique)
        self.kinds = []
        self.tensors = []       # a _STATE slot's Tensor (else None)
        self.slot_of = {}       # id(array or Tensor argument) -> its latest slot
        self.steps = []         # (kind, fn, prim, ins, params, out, select, resolve)
        self.loads = []         # (slot, leaf index, kind) for the arguments
        for i, x in enumerate(leaves):
            if isinstance(x, Tensor):
                if id(x.data) not in self.slot_of:
                    self.loads.append((self._new(x.data, _INPUT), i, _INPUT))
                self.loads.append((self._new(x, _TENSOR), i, _TENSOR))
            elif _is_array(x) and id(x) not in self.slot_of:
                self.loads.append((self._new(x, _INPUT), i, _INPUT))

    def _new(self, value, kind, tensor=None):
        self.values.append(value)
        self.kinds.append(kind)
        self.tensors.append(tensor)
        s = len(self.values) - 1
        self.slot_of[id(value)] = s
        return s

    def _array_slot(self, a, tensor=None):
        s = self.slot_of.get(id(a))
        if s is not None:
            return s
        if tensor is not None and tensor.data is a:
            return self._new(a, _STATE, tensor)
        return self._new(a, _CONST)

    def _refs(self, x):
        """x with the arrays in it (nested tuples and lists) replaced by Slot references."""
        t = type(x)
        if t is tuple or t is list:
            return t(self._refs(v) for v in x)
        if t is Tensor:
            s = self.slot_of.get(id(x))
            return Slot(s) if s is not None else x      # an argument, or an object from outside
        if id(x) in self.slot_of or _is_array(x):
            return Slot(self._array_slot(x))
        return x

    # --- what the engine reports
    def op(self, prim, datas, params, out, args):
        ins = tuple(self._array_slot(d, args[k] if args is not None and k < len(args) else None)
                    for k, d in enumerate(datas))
        fn, changed = select_kernel(prim, list(datas))
        refs = self._refs(params)
        self.steps.append(("op", fn, prim, ins, refs, self._new(out, _MADE), changed,
                           bool(_slots_in(refs, []))))

    def derived(self, fn, arrays, params, out):
        if not any(_is_array(a) or id(a) in self.slot_of for a in arrays):
            return          # made from Python values alone: a constant where it is used
        refs = self._refs(tuple(arrays) + tuple(params))
        self.steps.append(("derived", fn, None, (), refs, self._new(out, _MADE), False, True))

    def host(self, fn, args):
        self.steps.append(("host", fn, None, (), self._refs(tuple(args)), -1, False, True))

    def finish(self, out):
        leaves, self.out_tree = tree_flatten(out)
        self.outs = []
        for x in leaves:
            s = self.slot_of.get(id(x))
            if isinstance(x, Tensor):
                if s is not None and self.kinds[s] == _TENSOR:
                    self.outs.append(("same", s))
                else:
                    self.outs.append(("tensor", self._array_slot(x.data)))
            elif s is not None or _is_array(x):
                self.outs.append(("value", self._array_slot(x)))
            else:
                self.outs.append(("const", x))


def _same(a, b):
    """Whether two recorded params or host arguments are the same."""
    if type(a) is not type(b):
        return False
    if type(a) in (tuple, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is b or type(a) is Slot and a == b:
        return True
    if isinstance(a, Tensor) or _is_array(a):
        return False
    try:
        return bool(a == b)
    except Exception:       # objects without a truthful ==: only themselves
        return False


def _equal_values(a, b):
    """Whether two constant arrays hold the same values (NaNs equal)."""
    if a is b:
        return True
    if not (_is_array(a) and _is_array(b)):
        return _same(a, b)
    if _array_key(a)[:3] != _array_key(b)[:3]:
        return False
    if backend.is_foreign(a):
        if backend.device_of(a) != backend.device_of(b):
            return False
        a, b = backend.to_host(a), backend.to_host(b)
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _step_name(step):
    kind, fn, prim = step[:3]
    what = prim.name if prim is not None else getattr(fn, "__qualname__", repr(fn))
    return f"{'kernel' if kind == 'op' else kind + ' step'} {what}"


def _fusible(step, values):
    """(kernel id, array inputs) when a step is an elementwise kernel fused_map runs: on
    C-contiguous float arrays of its output's shape and dtype, or (for a two-input kernel,
    which broadcasts) a row of the output's last dimension, as a bias; else None."""
    kind, fn, prim, ins, params, out, select, resolve = step
    if kind != "op" or select or resolve:
        return None
    info = backend.fusible(fn)
    if info is None:
        return None
    kid, nin, npar = info
    if len(ins) != nin or len(params) != npar or any(type(p) not in (float, int) for p in params):
        return None
    o = values[out]
    if type(o) is not np.ndarray or o.dtype not in (np.float32, np.float64):
        return None
    full = 0
    for s in ins:
        v = values[s]
        if (type(v) is not np.ndarray or v.dtype != o.dtype
                or not (v.flags.c_contiguous and v.flags.aligned and v.dtype.isnative)):
            return None
        if v.shape == o.shape:
            full += 1
        elif not (nin == 2 and v.ndim == 1 and o.ndim >= 1 and v.shape[0] == o.shape[-1]
                  and v.size < o.size):
            return None
    return (kid, nin) if full else None


def _fuse(steps, values, out_slots):
    """Steps with each run of consecutive same-shape elementwise kernels, where every output
    but the last feeds only the next kernel, replaced by one fused_map call: one pass over
    the data in cache-sized blocks instead of one per kernel (tanh(0.9 * h + 0.1) is one call,
    a tanh chain's whole backward another). Each block runs the kernels' own loops, so the
    results are bitwise the unfused ones."""
    uses = {}
    for step in steps:
        for s in _reads(step):
            uses[s] = uses.get(s, 0) + 1
    for s in out_slots:
        uses[s] = uses.get(s, 0) + 1
    fused, run = [], []

    def close_run():
        if len(run) > 1:
            fused.append(_fused_step(run, values))
        else:
            fused.extend(step for step, _ in run)
        run.clear()

    for step in steps:
        info = _fusible(step, values)
        if info is None:
            close_run()
            fused.append(step)
            continue
        if run:
            head = run[-1][0][5]
            if (head not in step[3] or uses.get(head, 0) != step[3].count(head)
                    or values[step[5]].dtype != values[head].dtype
                    or values[step[5]].shape != values[head].shape):
                close_run()
        run.append((step, info))
    close_run()
    return fused


def _fused_step(run, values):
    """One fused_map step for a run of (step, (kernel id, inputs)): its outside inputs, in
    order, then a program whose registers alternate (each kernel reads the one before)."""
    inputs, code, head = [], [], None
    for j, (step, (kid, nin)) in enumerate(run):
        refs = []
        for s in step[3]:
            if j and s == head:
                refs.append(-1 - ((j - 1) % 2))        # the previous kernel's register
            else:
                if s not in inputs:
                    inputs.append(s)
                refs.append(inputs.index(s))
        refs += [0] * (2 - len(refs))
        params = [float(p) for p in step[4]] + [0.0] * (2 - len(step[4]))
        code.append([kid, refs[0], refs[1], -1 if j == len(run) - 1 else j % 2] + params)
        head = step[5]
    if values[inputs[0]].shape != values[run[-1][0][5]].shape:     # fused_map: a full input first
        first = next(i for i, s in enumerate(inputs) if values[s].shape == values[run[-1][0][5]].shape)
        order = [first] + [i for i in range(len(inputs)) if i != first]
        inputs = [inputs[i] for i in order]
        position = {old: new for new, old in enumerate(order)}
        for ins, (step, (kid, nin)) in zip(code, run):
            ins[1:1 + nin] = [position[r] if r >= 0 else r for r in ins[1:1 + nin]]
    n_in = len(inputs)
    for ins in code:                        # register r is operand n_in + r
        ins[1], ins[2] = [n_in - 1 - r if r < 0 else r for r in ins[1:3]]
    program = b"".join(_INSTR.pack(*ins) for ins in code)
    return ("op", backend.fused_map, None, tuple(inputs), (program,), run[-1][0][5], False, False)


def _host_reads(steps, kinds, values):
    """The slots of host arrays from outside (numpy constants: labels) that derived steps
    read."""
    return {s for step in steps if step[0] == "derived" for s in _reads(step)
            if kinds[s] == _CONST and type(values[s]) is np.ndarray}


def _host_memo_slots(steps, host_reads, out_slots):
    """The output slots of derived steps that read only host_reads and whose result only
    kernels read, as a parameter (numpy labels, checked and flattened for the loss): their
    results can be kept across replays (_HostMemo)."""
    memo = set()
    for step in steps:
        reads, out = _reads(step), step[5]
        if (step[0] == "derived" and reads and out not in out_slots
                and set(reads) <= host_reads
                and all(other[0] == "op" and out not in other[3]
                        for other in steps if out in _reads(other))):
            memo.add(out)
    return memo


def _host_bytes(arrays):
    """What host arrays hold, to tell later whether they changed in place."""
    return [a.tobytes() for a in arrays]


class _HostMemo:
    """A derived step on host arrays from outside whose result kernels read only as a
    parameter: the result is kept while those arrays hold the bytes it was made from, so a
    replay compares bytes instead of redoing the work (numpy labels' range check and
    flattening for a GPU's kernels cost ~3 us a step, the comparison ~1; for the CPU's
    kernels, which check the range themselves, the two cost about the same)."""

    def __init__(self, fn):
        self.fn, self.seen, self.out = fn, None, None

    def __call__(self, *args):
        seen = _host_bytes(a for a in args if type(a) is np.ndarray)
        if seen != self.seen:
            self.out, self.seen = self.fn(*args), seen
        return self.out


class _Program:
    """A checked recording, ready to replay: the second call's steps, verified against the
    first's, with dead steps dropped and each value freed after its last use; on CUDA,
    captured into one CUDA graph at the first replay where it can be."""

    def __init__(self, name, first, second, graphs=True):
        self._check(name, first, second)
        kinds, values = list(second.kinds), second.values
        state = []
        for s, kind in enumerate(kinds):
            if kind == _STATE and first.tensors[s] is not second.tensors[s]:
                kinds[s] = _CONST       # a Tensor made in each call around a constant array
            elif kind == _STATE:
                state.append((s, second.tensors[s]))
                if second.tensors[s].data is not values[s]:
                    raise RuntimeError(
                        f"ad.compile({name}): code pyad does not record replaced a tensor's "
                        f"array during the call (t.data = ...), so a replay would not repeat "
                        f"it. Update parameters with a pyad optimizer (its step is replayed), "
                        f"or outside the compiled function")
        out_slots = {o[1] for o in second.outs if o[0] != "const"}
        needed, kept = set(out_slots), []
        for step in reversed(second.steps):          # dead-code elimination
            if step[0] == "host" or step[5] in needed or _communicates(step):
                kept.append(step)
                needed.update(_reads(step))
        kept.reverse()
        kept = _fuse(kept, values, out_slots)
        last_use = {}
        for j, step in enumerate(kept):
            for s in _reads(step):
                last_use[s] = j
        frees = [[] for _ in kept]
        for s, j in last_use.items():
            if kinds[s] == _MADE and s not in out_slots:
                frees[j].append(s)
        # host arrays from outside that derived steps read (numpy labels): the work on them
        # is kept while they hold the same bytes, and a graph holds what they gave at its
        # capture, so each launch first checks they still hold those bytes
        host_reads = _host_reads(kept, kinds, values)
        memo = _host_memo_slots(kept, host_reads, out_slots)
        self.steps = [Step(_HostMemo(fn) if out in memo else fn, prim, ins, params, out, select,
                           resolve, kind == "host", tuple(frees[j]))
                      for j, (kind, fn, prim, ins, params, out, select, resolve)
                      in enumerate(kept)]
        self.template = [values[s] if kinds[s] == _CONST and s in needed else None
                         for s in range(len(values))]
        self.host_reads = sorted(host_reads)
        self.kinds = kinds
        # a CUDA graph of the whole program: None until the first replay tries to capture
        # one, False where it cannot (a host step with no graph form, see
        # _tape.register_graph_step, or work that CuPy will not capture: host copies,
        # synchronisation), else (graph, input buffers, values, host steps' graph forms,
        # the host_reads' bytes)
        self.graph = None if graphs and all(graph_step_of(step[1]) is not None
                                            for step in kept if step[0] == "host") else False
        self.captures = 0
        self.launches = 0           # of the graph since its capture
        self.capture = None         # the backend's capture function, found at the first replay
        self.array_type = None      # and the type of its arrays
        self.graph_lock = threading.Lock()
        self.loads = second.loads
        self.state = [(s, t, t.data, _array_key(t.data)) for s, t in state]
        # a constant array returned is copied per call, as eager calls return a fresh one
        self.outs = [(how, v, how != "const" and kinds[v] == _CONST and _is_array(values[v]))
                     for how, v in second.outs]
        self.out_tree = second.out_tree
        self.n_recorded, self.n_kept = len(second.steps), len(kept)

    @staticmethod
    def _check(name, first, second):
        """The first two calls must do the same work, or the program is not one program."""
        if len(first.steps) != len(second.steps) or len(first.values) != len(second.values):
            for i, (a, b) in enumerate(zip(first.steps, second.steps)):
                if not _same(a[:4], b[:4]):
                    break
            else:
                i = min(len(first.steps), len(second.steps))
            raise RuntimeError(
                f"ad.compile({name}): the first two calls with one argument signature ran "
                f"different steps ({len(first.steps)} and {len(second.steps)}; they part at "
                f"step {i}), so there is no single program to replay. Data-dependent Python "
                f"control flow (an `if` or loop on values computed outside pyad) or Python "
                f"state that changes between calls does this: move it out of the compiled "
                f"function, or leave the function uncompiled")
        for i, (a, b) in enumerate(zip(first.steps, second.steps)):
            if a[0] == b[0] == "host" and a[1] == b[1] and not _same(a[4], b[4]):
                raise RuntimeError(
                    f"ad.compile({name}): {_step_name(a)} got other objects in the first two "
                    f"calls: a tensor made inside the compiled function (ad.tensor(..., "
                    f"requires_grad=True)) that backward() gives a .grad, or an object the step "
                    f"is handed that changes. Pass such tensors as arguments, or make them once "
                    f"outside the function")
            if a[0] != b[0] or a[1] != b[1] or a[2] is not b[2] or a[3] != b[3] \
                    or a[5] != b[5] or a[6] != b[6] or not _same(a[4], b[4]):
                raise RuntimeError(
                    f"ad.compile({name}): step {i} differs between the first two calls "
                    f"({_step_name(a)}, then {_step_name(b)}, or its parameters changed: a "
                    f"Python number or shape computed from changing state), so a replay "
                    f"would repeat the first. Pass changing numbers as arrays or tensors, or "
                    f"keep them out of the compiled function")
        if first.kinds != second.kinds and any(
                (x == _MADE) != (y == _MADE) or (x in (_INPUT, _TENSOR)) != (y in (_INPUT, _TENSOR))
                for x, y in zip(first.kinds, second.kinds)):
            raise RuntimeError(f"ad.compile({name}): the first two calls read different "
                               f"arrays; there is no single program to replay")
        for s, (k1, k2) in enumerate(zip(first.kinds, second.kinds)):
            if k2 == _STATE and k1 == _STATE and first.tensors[s] is second.tensors[s]:
                continue
            if k2 in (_CONST, _STATE) and not _equal_values(first.values[s],
                                                            second.values[s]):
                reader = next((_step_name(st) for st in second.steps
                               if s in _reads(st)), "the output")
                raise RuntimeError(
                    f"ad.compile({name}): {reader} reads an array made outside pyad's "
                    f"kernels (by numpy, a random draw, or Python state) whose values changed "
                    f"between the first two calls, so a replay would reuse a stale copy. Pass "
                    f"it as an argument of the compiled function, or compute it with pyad "
                    f"functions")
        if len(first.outs) != len(second.outs) or first.out_tree != second.out_tree or any(
                not _same(a, b) for a, b in zip(first.outs, second.outs)):
            raise RuntimeError(f"ad.compile({name}): the first two calls returned different "
                               f"structures or constants; there is no single program")

    def state_ok(self):
        """The parameters' arrays still have the shapes, dtypes, devices and layouts the
        program was recorded with (a new array object is checked once)."""
        for k, (s, t, last, key) in enumerate(self.state):
            d = t.data
            if d is not last:
                if _array_key(d) != key:
                    return False
                self.state[k] = (s, t, d, key)
        return True

    def run(self, leaves):
        if self.graph is None and self.capture is None:
            self.capture, self.array_type = self._graph_backend(leaves)
            if self.capture is None:
                self.graph = False
        if self.graph is not False:
            out = self._run_graph(leaves)
            if out is not None:
                return out
        vals = self._load(list(self.template), leaves)
        run_program(self.steps, vals)
        return self._results(vals)

    def _load(self, vals, leaves):
        """vals with this call's arguments and the parameters' current arrays in their slots."""
        for s, i, kind in self.loads:
            x = leaves[i]
            vals[s] = x if kind == _TENSOR else (x.data if isinstance(x, Tensor) else x)
        for s, t, _, _ in self.state:
            vals[s] = t.data
        return vals

    def _results(self, vals, made_in_place=False):
        """The call's results from the slots; made_in_place: the kernels' results are a
        graph's buffers, which its next launch writes over, so they are copied out."""
        out = []
        for how, v, copy in self.outs:
            if how == "const":
                out.append(v)
                continue
            if copy or made_in_place and self.kinds[v] == _MADE:
                value = backend.copy(vals[v])
            else:
                value = vals[v]
            out.append(wrap(value) if how == "tensor" else value)
        return tree_unflatten(self.out_tree, out)

    # --- the CUDA-graph replay
    def _graph_backend(self, leaves):
        """(the capture function, the array type) of the backend of the arrays this program
        reads; (None, None) where that backend has no graphs (anything but CUDA)."""
        arrays = [leaves[i].data if isinstance(leaves[i], Tensor) else leaves[i]
                  for s, i, kind in self.loads if kind == _INPUT]
        arrays += [t.data for _, t, _, _ in self.state]
        arrays += [v for v in self.template if v is not None and _is_array(v)]
        if not arrays:
            return None, None
        return backend.graph_capture(arrays[0]), type(arrays[0])

    def _graphable(self, vals):
        """Whether this call's array arguments (loaded in vals) are C-contiguous arrays of
        the graph's backend: a graph reads fixed device buffers; other layouts, and host
        arrays, replay plainly."""
        return all(type(vals[s]) is self.array_type and vals[s].flags.c_contiguous
                   for s, _, kind in self.loads if kind == _INPUT)

    def _capture(self, vals):
        """(graph, [(slot, input buffer)], values, host steps' graph forms, the host_reads'
        bytes) of this program for this call's loaded values, or False when a step cannot be
        captured. The host steps run under the capture (their Python effects happen now,
        their kernels go into the graph); where one has no graph form now, those that ran
        are undone."""
        self.captures += 1
        self.launches = 0
        vals = list(vals)
        buffers = []
        for s, _, kind in self.loads:
            if kind == _INPUT:
                vals[s] = backend.copy(vals[s])     # the graph's own buffer, filled for this call
                buffers.append((s, vals[s]))
        hosts = []
        snapshots = _host_bytes(self.template[s] for s in self.host_reads)

        def graphed(fn):
            factory = graph_step_of(fn)

            def run(*args):
                form = factory(*args)
                if form is None:
                    raise _NoGraphForm(fn)
                hosts.append(form)
                return fn(*args)
            return run
        steps = [Step(graphed(st.fn), st.prim, st.ins, st.params, st.out, st.select,
                      st.resolve, True, st.frees) if st.host else st for st in self.steps]
        try:
            graph, _ = self.capture(lambda: run_program(steps, vals))
        except Exception:       # not capturable (see CudaBackend.capture): replay plainly
            for form in reversed(hosts):
                form.undo()
            return False
        return graph, buffers, vals, hosts, snapshots

    def _run_graph(self, leaves):
        """This call's results from one graph launch, or None (replay plainly instead: also
        while another thread runs the graph, whose buffers one call at a time may use)."""
        if not self.graph_lock.acquire(blocking=False):
            return None
        try:
            return self._launch(leaves)
        finally:
            self.graph_lock.release()

    def _stale(self):
        """Whether the captured graph no longer does this call's work: a parameter's array
        was replaced, a host array a derived step reads changed its values, or a host step's
        state changed (each host step's check, in order)."""
        graph, _, vals, hosts, snapshots = self.graph
        if any(vals[s] is not t.data for s, t, _, _ in self.state) or snapshots and \
                _host_bytes(self.template[s] for s in self.host_reads) != snapshots:
            return True
        ctx = {}
        return not all(form.check(ctx) for form in hosts)

    def _launch(self, leaves):
        given = self._load(list(self.template), leaves)
        if not self._graphable(given):
            return None
        if self.graph is not None and not self._stale():
            graph, buffers, vals, hosts, _ = self.graph
            _prepare(hosts)
            graph.launch([(buf, given[s]) for s, buf in buffers])
            for form in hosts:
                form.apply()
            self.launches += 1
        else:
            if self.graph is not None and self.captures >= QUICK_CAPTURES \
                    and self.launches < LAUNCHES_PER_CAPTURE:
                self.graph = False          # stale again soon after each capture
                return None
            self.graph = self._capture(given)
            if self.graph is False:
                return None
            graph, _, vals, hosts, _ = self.graph
            _prepare(hosts)
            graph.launch()                  # the buffers already hold this call's inputs
        for how, v, _ in self.outs:     # results made by kernels: in the graph's slots
            if how != "const" and self.kinds[v] == _MADE:
                given[v] = vals[v]
        return self._results(given, made_in_place=True)


def _prepare(hosts):
    """Host steps' graph forms' work before a launch, where they have any (see
    _tape.register_graph_step): Adam's bias corrections written where its kernels read them."""
    for form in hosts:
        prepare = getattr(form, "prepare", None)
        if prepare is not None:
            prepare()


class Compiled:
    """A function compiled by :func:`pyad.compile` (call it as the function)."""

    def __init__(self, fn, debug=False, cuda_graph=True):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.debug = debug
        self.cuda_graph = cuda_graph
        self._programs = {}     # signature -> the first call's _Recorder, then its _Program
        self._lock = threading.Lock()
        self.recordings = 0     # calls recorded so far (two per signature)

    def __repr__(self):
        return f"<pyad compiled {getattr(self.fn, '__qualname__', self.fn)!r}: " \
               f"{sum(type(p) is _Program for p in self._programs.values())} program(s)>"

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self.__call__, obj)

    @property
    def programs(self):
        """The replayable programs, one per argument signature: (steps recorded, calls each
        replay makes after dropping dead kernels and fusing elementwise runs)."""
        return [(p.n_recorded, p.n_kept) for p in self._programs.values() if type(p) is _Program]

    @property
    def graphs(self):
        """How many of the programs replay as one CUDA graph launch (see compile)."""
        return sum(type(p) is _Program and bool(p.graph) for p in self._programs.values())

    def __call__(self, *args, **kwargs):
        if _tape.capturing() or _tape.active_tapes() or _tape.debug_nans_enabled():
            # inside another compiled function or a transform: part of that recording; under
            # ad.debug_nans(): eagerly, so that every primitive is checked
            return self.fn(*args, **kwargs)
        leaves, treedef = tree_flatten((args, kwargs))
        key = (treedef, _signature(leaves), _tape.grad_enabled())     # no_grad: its own program
        entry, why = self._programs.get(key), None
        if type(entry) is _Program:
            if entry.state_ok():
                return entry.run(leaves)
            del self._programs[key]
            entry, why = None, ("a tensor it reads from outside its arguments changed shape, "
                                "dtype, device or layout")
        if not self._lock.acquire(blocking=False):
            return self.fn(*args, **kwargs)           # another thread records: run eagerly
        try:
            return self._record(key, entry, leaves, args, kwargs, why)
        finally:
            self._lock.release()

    def _name(self):
        return getattr(self.fn, "__qualname__", repr(self.fn))

    def _warn(self, why, leaves):
        if self.debug:
            sig = ", ".join(_describe(x) for x in leaves) or "no arguments"
            warnings.warn(f"ad.compile: recording {self._name()} ({why}) for {sig}",
                          CompileWarning, stacklevel=4)

    def _record(self, key, first, leaves, args, kwargs, why=None):
        if first is None:
            n_programs = len(self._programs)
            self._warn(why or ("first call" if n_programs == 0 else
                               f"new argument signature; {n_programs} recorded before"), leaves)
            if n_programs == MAX_SIGNATURES:
                warnings.warn(f"ad.compile: {self._name()} has been recorded for "
                              f"{MAX_SIGNATURES} argument signatures; a Python number argument "
                              f"that changes every call records a program each time (pass it "
                              f"as a 0-d array instead)", CompileWarning, stacklevel=3)
        else:
            self._warn("second call: checking the first recording", leaves)
        recorder = _Recorder(leaves)
        previous = _tape.set_capture(recorder)
        try:
            out = self.fn(*args, **kwargs)
            recorder.finish(out)
        finally:
            _tape.set_capture(previous)
        self.recordings += 1
        if first is None:
            self._programs[key] = recorder
        else:
            self._programs.pop(key)
            self._programs[key] = _Program(self._name(), first, recorder, self.cuda_graph)
        # untracked, as the replays' results are (an argument returned stays itself)
        arguments = {id(x) for x in leaves if isinstance(x, Tensor)}
        outs, tree = tree_flatten(out)
        return tree_unflatten(tree, [wrap(x.data) if isinstance(x, Tensor) and id(x) not in arguments
                                     else x for x in outs])


def compile(fn: Optional[Callable[..., Any]] = None, *, debug: bool = False,
            cuda_graph: bool = True) -> Union[Compiled, Callable[[Callable[..., Any]], Compiled]]:
    """Compile a function: record the kernels it runs once per argument signature, then
    replay them without Python tracing, tapes or dispatch.

    The first call with a signature (the arguments' pytree structure; each array's shape,
    dtype, device and layout; the values of Python numbers and other non-array arguments)
    runs eagerly and records every kernel call; the second runs eagerly again, records, and
    checks it did the same work; later calls replay the recorded program. The replay calls
    the same kernels on the same kinds of arrays in the same order, so its results are
    bitwise equal to eager calls. Kernels whose results are unused are dropped, and every
    intermediate array is freed right after its last use. Steps that update state outside
    the function are replayed as calls: ``loss.backward()`` handing out ``.grad``,
    ``optimizer.step()`` and ``zero_grad()`` (the learning rate is read at each replay), so a
    whole training step compiles. Tensors the function reads from outside its arguments (a
    model's parameters) are re-read at each call; if one changes shape, dtype, device or
    layout, the function is recorded again.

    Parameters
    ----------
    fn : callable
        The function; its arguments and results are pytrees of Tensors, arrays and Python
        values. Used as ``@ad.compile`` or ``@ad.compile(debug=True)`` too.
    debug : bool, default False
        Warn (CompileWarning) at every recording, saying why (first call, a new signature).
    cuda_graph : bool, default True
        On CUDA arrays, capture the program into a CUDA graph at its first replay, so that
        each later call is one graph launch (its array arguments copied into the graph's
        buffers first, its results copied out). A whole training step is one launch:
        ``zero_grad()``, ``backward()`` handing out ``.grad`` and an SGD, RMSprop or Adam
        ``step()`` go into the graph, their Python effects (the ``.grad`` arrays, step
        counts) redone at each launch (Adam's bias corrections written to device memory its
        kernels read, before each launch); then each ``.grad`` is the graph's buffer, which
        the next call rewrites (copy one to keep it). A changed learning rate or replaced
        parameter is captured again (a graph stale again within 50 calls of each of 3
        captures ends in plain replays). A program stays a plain replay when it runs Python
        the graph cannot redo (an optimizer subclass with its own update rule; a hook; a
        data-parallel average), when CuPy will not capture a step (its own cuBLAS
        calls, e.g. batched products: pyad's 2-D products call cuBLAS directly and are
        captured; copies from the host, e.g. labels given as a numpy argument; constant
        numpy labels are copied once, before), or when an argument is not C-contiguous.
        ``Compiled.graphs`` counts the programs that replay as graphs.

    Returns
    -------
    Compiled
        Call it as fn. Its results are untracked Tensors or arrays (differentiate inside
        it: ``ad.compile(ad.grad(f))``, or ``loss.backward()`` in the step).

    Raises
    ------
    RuntimeError
        Inside the recorded calls, when the function reads a tensor's value into Python
        (``float(t)``, ``t.item()``, ``if t > 0``, ``t.numpy()``) or assigns ``t.grad``;
        at the second call, when the two calls ran different steps (data-dependent control
        flow) or read an array made outside pyad whose values changed (numpy random
        draws, Python state): the replay could not reproduce either.

    Notes
    -----
    Python control flow is fixed at recording: a branch on anything but the signature is
    the caller's responsibility (as under jax.jit). Work done outside pyad (numpy on
    ``t.data``, in-place writes to ``t.data``, printing) is not replayed. Inside a transform
    (``ad.grad(compiled)``) or another compiled function, the function runs eagerly as part
    of the outer recording.

    Examples
    --------
    >>> @ad.compile
    ... def f(x):
    ...     return ad.sum(ad.tanh(x) * 2.0)
    >>> x = np.array([0.5, -1.0])
    >>> [float(f(x)) for _ in range(3)] == [float(ad.sum(ad.tanh(x) * 2.0))] * 3
    True
    >>> f.programs       # per signature: (kernels recorded, calls replayed; tanh and * fused)
    [(3, 2)]
    """
    if fn is None:
        return functools.partial(compile, debug=debug, cuda_graph=cuda_graph)
    if not callable(fn):
        raise TypeError(f"pyad.compile: expected a function, got {type(fn).__name__}")
    return Compiled(fn, debug=debug, cuda_graph=cuda_graph)
