"""ad.compile: replays bitwise equal to eager calls (training steps, HVPs, Jacobians), new
recordings on new signatures, the errors for what a replay cannot repeat, flat memory."""
import gc
import struct
import tracemalloc
import warnings

import numpy as np
import pytest

import pyad as ad
from pyad import nn, optim

RNG = np.random.default_rng(11)
X = RNG.standard_normal((96, 12)).astype(np.float32)
Y = RNG.integers(0, 4, 96)


def batches(n, size=16):
    for i in range(n):
        lo = (i * size) % (len(X) - size)
        yield X[lo:lo + size], Y[lo:lo + size]


def training_step(opt_name):
    model = nn.MLP([12, 24, 24, 4], activation="relu", seed=3)
    if opt_name == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=1e-2)

    def step(x, y):
        opt.zero_grad()
        loss = nn.softmax_cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return model, opt, step


def same_bits(a, b):
    a = a.numpy() if isinstance(a, ad.Tensor) else np.asarray(a)
    b = b.numpy() if isinstance(b, ad.Tensor) else np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_training_step_replays_bitwise_equal_to_eager(opt_name):
    m_eager, opt_eager, eager = training_step(opt_name)
    m_comp, opt_comp, step = training_step(opt_name)
    compiled = ad.compile(step)
    for i, (x, y) in enumerate(batches(8)):
        if i == 5:                       # a schedule changes lr: the replayed update reads it
            opt_eager.lr = opt_comp.lr = opt_eager.lr / 2
        assert same_bits(eager(x, y), compiled(x, y)), f"loss differs at step {i}"
        for p, q in zip(m_eager.parameters(), m_comp.parameters()):
            assert same_bits(p.data, q.data) and same_bits(p.grad, q.grad)
    assert compiled.recordings == 2 and len(compiled.programs) == 1
    recorded, replayed = compiled.programs[0]
    assert recorded > 20 and replayed == recorded - 2     # each hidden bias add fused with its relu


def test_hvp_and_hvp_fn_replay_bitwise():
    w0 = RNG.standard_normal((5, 3))

    def loss(w, x):
        return ad.sum(ad.tanh(x @ w) ** 2)

    x = RNG.standard_normal((7, 5))
    hvp = ad.compile(lambda w, v: ad.hvp(lambda w: loss(w, x), (w,), (v,)))
    for _ in range(4):
        w, v = w0 + RNG.standard_normal(w0.shape), RNG.standard_normal(w0.shape)
        assert same_bits(hvp(w, v), ad.hvp(lambda w: loss(w, x), (w,), (v,)))
    apply = ad.hvp_fn(lambda w: loss(w, x), w0)
    compiled = ad.compile(apply)
    for _ in range(4):
        v = RNG.standard_normal(w0.shape)
        assert same_bits(compiled(v), apply(v))


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_replays_bitwise(mode):
    A = RNG.standard_normal((4, 3))
    jac = ad.jacobian(lambda x: ad.sin(A @ x) * x[0], mode=mode)
    compiled = ad.compile(jac)
    for _ in range(4):
        x = RNG.standard_normal(3)
        assert same_bits(compiled(x), jac(x))


def test_grad_of_a_python_number_and_pytree_outputs():
    f = ad.compile(ad.grad(lambda s: s * s * 3.0))
    assert [f(2.0) for _ in range(3)] == [12.0] * 3       # one program per number value
    assert f(4.0) == 24.0 and len(f.programs) == 1 and f.recordings == 3

    @ad.compile
    def many(x):
        return {"y": ad.exp(x), "n": 3, "both": (ad.multiply(x, 2.0), ad.sum(x))}
    for _ in range(3):
        x = RNG.standard_normal(4)
        out = many(x)
        assert out["n"] == 3 and same_bits(out["y"], np.exp(x))
        assert same_bits(out["both"][1], ad.sum(x))

    zeros = ad.compile(lambda x: (ad.exp(x), ad.zeros(2)))
    made = [zeros(np.ones(1))[1] for _ in range(4)]         # a constant: fresh per call
    made[-1].data[:] = 5.0
    assert len({id(z.data) for z in made}) == 4 and float(ad.sum(zeros(np.ones(1))[1])) == 0.0


def test_unused_kernels_are_dropped():
    @ad.compile
    def f(x):
        ad.exp(x) * 2.0             # computed, never used
        return ad.tanh(x)
    for _ in range(3):
        x = RNG.standard_normal(3)
        assert same_bits(f(x), ad.tanh(x))
    assert f.programs == [(3, 1)]


def test_new_shape_dtype_or_aliasing_records_again_and_debug_says_so():
    f = ad.compile(lambda a, b: ad.sum(ad.multiply(a, b)), debug=True)
    x, y = RNG.standard_normal(3), RNG.standard_normal(3)
    with pytest.warns(ad.CompileWarning, match="first call"):
        f(x, y)
    with pytest.warns(ad.CompileWarning, match="second call"):
        f(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert same_bits(f(y, x), ad.sum(ad.multiply(y, x)))    # replayed: no warning
    with pytest.warns(ad.CompileWarning, match="new argument signature"):
        f(RNG.standard_normal(5), RNG.standard_normal(5))
    with pytest.warns(ad.CompileWarning, match="new argument signature"):
        f(x.astype(np.float32), y.astype(np.float32))
    with pytest.warns(ad.CompileWarning, match="new argument signature"):
        f(x, x)                                          # the same array twice
    with pytest.warns(ad.CompileWarning, match="second call"):
        f(x, x)
    z = RNG.standard_normal(3)
    assert same_bits(f(z, z), ad.sum(ad.multiply(z, z)))
    assert same_bits(f(z, y), ad.sum(ad.multiply(z, y)))


def test_a_parameter_changing_dtype_records_again():
    model = nn.MLP([12, 8, 4], activation="tanh", seed=1)
    compiled = ad.compile(lambda x: model(x), debug=True)
    x = X[:5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            compiled(x)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    with pytest.warns(ad.CompileWarning, match="changed shape, dtype"):
        out = compiled(x)
    assert out.dtype == np.float64 and same_bits(out, model(x))


def test_reads_into_python_raise_while_recording():
    def bad_float(x):
        return float(ad.sum(x))

    def bad_if(x):
        y = ad.sum(x)
        return x if y > 0 else -x

    def bad_item(x):
        return ad.sum(x).item()
    for fn, what in [(bad_float, r"float\(t\)"), (bad_if, r"bool\(t\)"), (bad_item, r"t\.item\(\)")]:
        with pytest.raises(RuntimeError, match=f"ad.compile: {what}"):
            ad.compile(fn)(np.ones(3))
    w = ad.tensor(np.ones(3), requires_grad=True)

    def clears_grad_by_hand(x):
        w.grad = None
        return ad.sum(w * x)
    with pytest.raises(RuntimeError, match="assigning t.grad.*zero_grad"):
        ad.compile(clears_grad_by_hand)(np.ones(3))
    assert float(ad.sum(ad.ones(2))) == 2.0             # capture ended: reads work again


def test_values_made_outside_pyad_that_change_raise_at_the_second_call():
    rng = np.random.default_rng(0)

    @ad.compile
    def noisy(x):
        return x + ad.tensor(rng.standard_normal(3))     # a numpy random draw each call
    noisy(np.ones(3))
    with pytest.raises(RuntimeError, match="changed between the first two calls"):
        noisy(np.ones(3))

    scale = [1.0]

    @ad.compile
    def scaled(x):
        return ad.multiply(x, scale[0])                 # a Python number from outside
    scaled(np.ones(3))
    scale[0] = 2.0
    with pytest.raises(RuntimeError, match="parameters changed"):
        scaled(np.ones(3))

    @ad.compile
    def branchy(x):
        if x.sum() > 0:                      # data-dependent control flow, in numpy
            return ad.exp(x)
        return ad.sin(ad.cos(x))
    branchy(np.ones(3))
    with pytest.raises(RuntimeError, match="different steps|differs"):
        branchy(-np.ones(3))


def test_constants_are_references_and_replays_check_labels():
    table = np.array([1.0, 2.0, 3.0])
    f = ad.compile(lambda x: ad.sum(ad.multiply(x, table)))
    for _ in range(3):
        assert float(f(np.ones(3))) == 6.0
    table[:] = 10.0                         # mutated in place: the replay reads the same array
    assert float(f(np.ones(3))) == 30.0
    loss = ad.compile(lambda z, y: nn.softmax_cross_entropy(z, y))
    z = RNG.standard_normal((4, 3))
    for _ in range(3):
        loss(z, np.array([0, 1, 2, 0]))
    with pytest.raises(IndexError, match="out of range"):
        loss(z, np.array([0, 1, 5, 0]))


def test_inside_a_transform_or_another_compiled_function_it_runs_as_part_of_it():
    f = ad.compile(lambda x: ad.sum(ad.tanh(x) ** 2))
    x = RNG.standard_normal(4)
    f(x), f(x), f(x)
    assert same_bits(ad.grad(f)(x), ad.grad(lambda x: ad.sum(ad.tanh(x) ** 2))(x))
    outer = ad.compile(lambda x: f(x) * 2.0)
    for _ in range(3):
        assert same_bits(outer(x), f(x) * 2.0)


def test_errors_for_a_non_function():
    with pytest.raises(TypeError, match="expected a function"):
        ad.compile(3)


def test_memory_stays_flat_over_10000_compiled_steps():
    model = nn.MLP([8, 16, 3], activation="tanh", seed=0)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x = RNG.standard_normal((4, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 0])

    @ad.compile
    def step():
        opt.zero_grad()
        loss = nn.softmax_cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    for _ in range(100):
        step()
    tracemalloc.start()
    try:
        for _ in range(1000):
            step()
        gc.collect()
        early, _ = tracemalloc.get_traced_memory()
        for _ in range(9000):
            step()
        gc.collect()
        late, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert late - early < 4096, f"memory grew by {late - early} bytes over 9000 steps"
    assert np.isfinite(step().numpy())


@pytest.mark.parametrize("n", [1, 17, 1024, 5000, 300_000])     # blocks, tails, two threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_elementwise_runs_are_bitwise_the_kernels(n, dtype):
    def f(x, y):
        a = ad.tanh(ad.sin(x) * 1.5 + 0.25)
        b = ad.exp(-ad.abs(a)) / (ad.sigmoid(y) + 1.0)
        c = ad.maximum(b, ad.minimum(a, y)) - ad.sqrt(ad.square(x) + 1.0)
        return ad.sum(ad.softplus(ad.clip(c, -0.5, 0.5)) * ad.relu(c) + ad.log1p(ad.cos(y) ** 2))
    value_and_grads = ad.value_and_grad(f, argnums=(0, 1))
    compiled = ad.compile(value_and_grads)
    for _ in range(3):
        x, y = RNG.standard_normal(n).astype(dtype), RNG.standard_normal(n).astype(dtype)
        (v1, (gx1, gy1)), (v2, (gx2, gy2)) = compiled(x, y), value_and_grads(x, y)
        assert same_bits(v1, v2) and same_bits(gx1, gx2) and same_bits(gy1, gy2)
    recorded, replayed = compiled.programs[0]
    assert replayed < 0.7 * recorded, compiled.programs     # runs fused into single calls


def test_fused_map_rejects_bad_programs():
    from pyad import _C
    x = np.ones(4)
    tanh = _C.fusible_kernels()["tanh"][0]
    with pytest.raises(ValueError, match="32-byte instructions"):
        _C.fused_map(x, b"")
    with pytest.raises(ValueError, match="names kernel"):
        _C.fused_map(x, struct.pack("<4i2d", 10**6, 0, 0, -1, 0.0, 0.0))
    with pytest.raises(ValueError, match="reads operand 5"):
        _C.fused_map(x, struct.pack("<4i2d", tanh, 5, 0, -1, 0.0, 0.0))
    with pytest.raises(TypeError, match="one dtype"):
        _C.fused_map(x, x.astype(np.float32), struct.pack("<4i2d", tanh, 0, 0, -1, 0.0, 0.0))
    assert same_bits(_C.fused_map(x, struct.pack("<4i2d", tanh, 0, 0, -1, 0.0, 0.0)),
                     _C.kernels.tanh(x))


def test_on_another_backend_and_as_a_method():
    xp = pytest.importorskip("array_api_strict")
    g = ad.grad(lambda x: ad.sum(ad.tanh(x) ** 2))
    compiled = ad.compile(g)
    for i in range(4):
        x = xp.asarray(np.linspace(-1.0, 1.0, 5) * (1 + i))
        got, want = compiled(x), g(x)
        assert type(got) is type(x) and same_bits(np.asarray(got), np.asarray(want))

    class Model:
        def __init__(self):
            self.w = ad.tensor(np.array([1.0, -2.0]))

        @ad.compile
        def __call__(self, x):
            return ad.sum(self.w * x)
    m = Model()
    for _ in range(3):
        assert float(m(np.array([3.0, 1.0]))) == 1.0
    m.w.data[:] = [2.0, 2.0]                 # a parameter updated in place: the replay sees it
    assert float(m(np.array([3.0, 1.0]))) == 8.0


def test_a_number_argument_that_changes_every_call_warns():
    f = ad.compile(lambda x, s: ad.multiply(x, s))
    with pytest.warns(ad.CompileWarning, match="32 argument signatures"):
        for k in range(34):
            assert float(ad.sum(f(np.ones(2), float(k)))) == 2.0 * k


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_broadcast_into_fused_runs_bitwise(dtype):
    W = RNG.standard_normal((7, 300)).astype(dtype)
    b = RNG.standard_normal(300).astype(dtype)

    def f(x):
        h = ad.relu(ad.matmul(x, W) + b)                    # bias + relu: one fused call
        u = ad.tanh(ad.divide(b, h + 2.0))                  # the row as the first operand
        return ad.sum(ad.subtract(u, b) * 3.0)
    value_and_grad = ad.value_and_grad(f)
    compiled = ad.compile(value_and_grad)
    for n in (5, 5, 5, 1000, 1000, 1000):               # 1000 rows: two threads
        x = RNG.standard_normal((n, 7)).astype(dtype)
        (v1, g1), (v2, g2) = compiled(x), value_and_grad(x)
        assert same_bits(v1, v2) and same_bits(g1, g2)
    recorded, replayed = compiled.programs[0]
    assert replayed <= recorded - 3, compiled.programs


def test_no_grad_records_its_own_program_and_debug_nans_runs_eagerly():
    w = ad.tensor(np.array([1.0, 2.0]), requires_grad=True)
    f = ad.compile(lambda x: ad.sum(w * x))
    for _ in range(3):
        assert f(np.ones(2)).requires_grad is False and float(f(np.ones(2))) == 3.0
    with ad.no_grad():
        for _ in range(3):
            assert float(f(np.ones(2))) == 3.0
    assert len(f.programs) == 2
    g = ad.compile(lambda x: ad.log(x))
    for _ in range(3):
        g(np.array([1.0]))
    with ad.debug_nans(), pytest.raises(FloatingPointError, match="log"):
        g(np.array([-1.0]))


def test_a_leaf_made_inside_that_backward_feeds_is_an_error_and_as_an_argument_works():
    @ad.compile
    def inside(x):
        w = ad.tensor(x, requires_grad=True)
        ad.sum(w * w).backward()
        return w.grad
    inside(np.ones(2))
    with pytest.raises(RuntimeError, match="tensor made inside the compiled function"):
        inside(np.ones(2))

    @ad.compile
    def argument(w):
        ad.sum(w * w).backward()
        return w.grad
    for k in range(4):
        w = ad.tensor(np.arange(2.0) + k, requires_grad=True)
        g = argument(w)                          # replays hand the new argument its .grad
        assert same_bits(g, 2 * (np.arange(2.0) + k)) and same_bits(w.grad, g)


class _StandInGraph:
    """A CPU stand-in for a CUDA graph (backend.graph_capture on numpy arrays): capture runs
    `run` once, as a capture runs the Python (a host step with no graph form abandons it
    there), and keeps it; launch copies the inputs in and runs it again, as a graph launch
    does; so the replay's graph plumbing (input buffers, outputs copied out, when to capture
    again, when to fall back) is tested without a GPU (tests/test_cuda.py runs the real thing
    on a GPU, host steps' graph forms included)."""
    captured = []

    def __init__(self, run):
        self.run, self.launches = run, 0

    def launch(self, copies=()):
        for buf, x in copies:
            buf[...] = x
        self.launches += 1
        self.run()

    @classmethod
    def capture(cls, run):
        graph = cls(run)
        cls.captured.append(graph)
        run()
        return graph, None


@pytest.fixture
def stand_in_graphs(monkeypatch):
    _StandInGraph.captured = []
    monkeypatch.setattr(ad.backend, "graph_capture",
                        lambda like: _StandInGraph.capture if isinstance(like, np.ndarray) else None)
    return _StandInGraph


def test_graph_replay_plumbing_equals_eager(stand_in_graphs):
    def f(w, x):
        return ad.sum(ad.tanh(x @ w) ** 2), x         # an argument returned as is
    g = ad.grad(f, has_aux=True)
    compiled = ad.compile(g)
    w = RNG.standard_normal((5, 3))
    outs = []
    for k in range(5):
        x = RNG.standard_normal((4, 5))
        got, want = compiled(w, x), g(w, x)
        assert same_bits(got[0], want[0]) and got[1] is x
        outs.append((got[0], np.array(got[0])))
    assert compiled.graphs == 1 and len(stand_in_graphs.captured) == 1
    assert stand_in_graphs.captured[0].launches == 3        # calls 3-5; 1 and 2 record
    assert all(same_bits(a, b) for a, b in outs)             # earlier results kept their values
    # a non-contiguous argument replays plainly; the graph stays for the next contiguous one
    xt = np.asfortranarray(RNG.standard_normal((4, 5)))
    assert same_bits(compiled(w, xt)[0], g(w, xt)[0])
    assert stand_in_graphs.captured[0].launches == 3 and compiled.graphs == 1
    # while another thread runs the graph (its buffers serve one call at a time): plainly
    program = next(iter(compiled._programs.values()))
    with program.graph_lock:
        x = RNG.standard_normal((4, 5))
        assert same_bits(compiled(w, x)[0], g(w, x)[0])
    assert stand_in_graphs.captured[0].launches == 3


def test_graph_is_captured_again_when_a_parameter_is_replaced(stand_in_graphs):
    model = nn.Linear(4, 2, seed=0)
    loss = ad.compile(lambda x: ad.sum(model(x) ** 2))
    x = RNG.standard_normal((3, 4))
    for k in range(8):
        if k in (4, 6):
            model.weight.data = model.weight.data * 0.5       # a new array: captured again
        assert same_bits(loss(x), ad.sum(model(x) ** 2))
    assert len(stand_in_graphs.captured) == 3 and loss.graphs == 1


def replays_with_labels_changed_in_place():
    """(labels, compiled, w) after six calls of a compiled cross-entropy gradient whose numpy
    labels it reads from outside, changed in place before the fifth; each call checked
    bitwise against eager."""
    x = RNG.standard_normal((6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    g = ad.grad(lambda w: ad.nn.softmax_cross_entropy(x @ w, y))
    compiled = ad.compile(g)
    w = RNG.standard_normal((4, 3))
    for k in range(6):
        if k == 4:
            y[:] = [2, 2, 1, 1, 0, 0]
        assert same_bits(compiled(w), g(w)), f"call {k}"
    return y, compiled, w


def test_graph_is_captured_again_when_host_labels_change_in_place(stand_in_graphs):
    """A graph holds what a derived step made from a host array (numpy labels copied to the
    device) at its capture: an in-place change of that array is seen and captured again."""
    _, compiled, _ = replays_with_labels_changed_in_place()
    assert len(stand_in_graphs.captured) == 2 and compiled.graphs == 1


def test_replays_keep_the_label_check_until_the_labels_change():
    """The labels' check and flattening (a derived step on a host array from outside) is
    kept across replays while the labels hold the same bytes: a change in place is seen,
    and a label out of range still raises at the replay that meets it."""
    y, compiled, w = replays_with_labels_changed_in_place()
    memo = [st.fn for st in next(iter(compiled._programs.values())).steps
            if type(st.fn).__name__ == "_HostMemo"]
    assert len(memo) == 1
    y[0] = 3
    with pytest.raises(IndexError, match="label 3 is out of range for 3 classes"):
        compiled(w)


def test_a_graph_stale_at_every_call_gives_way_to_plain_replays(stand_in_graphs):
    x = RNG.standard_normal((6, 4))
    y = np.zeros(6, dtype=np.int64)
    g = ad.grad(lambda w: ad.nn.softmax_cross_entropy(x @ w, y))
    compiled = ad.compile(g)
    w = RNG.standard_normal((4, 3))
    for k in range(10):
        y[:] = k % 3                        # new labels at every call: each graph is stale
        assert same_bits(compiled(w), g(w)), f"call {k}"
    assert len(stand_in_graphs.captured) == 3 and compiled.graphs == 0


def test_adam_graph_form_refreshes_each_launchs_bias_corrections(monkeypatch):
    """Adam's update under a CUDA graph (tests/test_cuda.py runs it on a GPU) without one: a
    backend whose Adam kernel reads its bias corrections from memory (the CPU's, made to
    here) gets from the captured step a row of a table per dtype, filled with what the
    capture's kernels were given before the first launch, and before each later launch
    with those of the step that launch makes, each parameter's own step count."""
    from pyad.backend.cuda import adam_step_scalars
    kernel, given = ad.backend.CPU.updates["adam"], []

    def adam_reading_memory(*args, scalars=None):
        given.append(scalars)
        kernel(*args)
    monkeypatch.setitem(ad.backend.CPU.updates, "adam", adam_reading_memory)
    monkeypatch.setattr(ad.backend.CPU, "step_scalars", {"adam": adam_step_scalars})
    w32 = ad.tensor(RNG.standard_normal(3).astype(np.float32), requires_grad=True)
    w64, u = (ad.tensor(RNG.standard_normal(n), requires_grad=True) for n in (4, 2))
    opt = optim.Adam([w32, w64, u], lr=0.1, betas=(0.6, 0.8))
    for k in range(5):                      # eagerly: w64 5 steps, w32 2
        opt.zero_grad()
        (ad.sum(w64 ** 2) + (ad.sum(w32 ** 2) if k > 2 else 0.0)).backward()
        opt.step()
    assert given == [None] * 7
    opt.zero_grad()
    (ad.sum(w64 ** 2) + ad.sum(w32 ** 2)).backward()
    form = opt._graph_step()                # the capture: its step runs under the form
    opt._step()
    assert opt._capture_form is form and [s.get("step") for s in opt.state] == [3, 6, None]
    rows = given[-2:]
    assert rows[0].dtype == np.float32 and rows[1].dtype == np.float64
    assert len(form.tables) == 2
    for launch in range(3):
        form.prepare()                      # then the graph's launch, then apply()
        assert opt._capture_form is None
        for row, w, state in zip(rows, (w32, w64), opt.state):
            step = state["step"] + (launch > 0)     # the capture's own, then the next
            want = adam_step_scalars(w.data.dtype, *opt._kernel_hyper(step))
            assert same_bits(row, np.array(want, w.data.dtype)), (launch, w.data.dtype)
        form.apply()
    assert [s.get("step") for s in opt.state] == [6, 9, None]
    # given no memory to read, the step is the eager kernel's (its numbers as arguments)
    opt._step()
    assert given[-2:] == [None, None]


def test_no_graph_for_python_steps_failed_captures_or_when_turned_off(stand_in_graphs, monkeypatch):
    model, _, step = training_step("sgd")
    compiled = ad.compile(step)
    for x, y in batches(4):
        compiled(x, y)
    # backward() hands numpy gradients out (no graph buffers): the one capture tried is
    # abandoned at the hand-out, its Python effects undone, and the step replays plainly
    assert compiled.graphs == 0 and len(stand_in_graphs.captured) == 1
    assert all(p.grad is not None for p in model.parameters())
    stand_in_graphs.captured.clear()
    off = ad.compile(lambda x: ad.exp(x) * 2.0, cuda_graph=False)
    x = RNG.standard_normal(6)
    for _ in range(4):
        assert same_bits(off(x), ad.exp(x) * 2.0)
    assert off.graphs == 0 and not stand_in_graphs.captured

    def capture_as_cupy_refuses(run):
        # a test double of CuPy's capture for a step it will not record: it raises, with
        # CuPy's own exception and words, and the replay must fall back to plain kernels
        raise NotImplementedError("calling cuBLAS API during stream capture is unsupported")
    monkeypatch.setattr(ad.backend, "graph_capture", lambda like: capture_as_cupy_refuses)
    refused = ad.compile(lambda x: ad.exp(x) * 2.0)
    for _ in range(4):
        assert same_bits(refused(x), ad.exp(x) * 2.0)
    assert refused.graphs == 0
