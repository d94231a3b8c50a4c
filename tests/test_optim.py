"""pyad.optim: fused optimizer kernels against torch.optim step by step, hyperparameter
checks, state dicts, learning-rate schedules."""
import math

import numpy as np
import pytest

import pyad as ad
from pyad import optim

SHAPES = [(5, 4), (7,), (2, 1, 3)]
N_STEPS = 20

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01, eps=1e-6)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.02, betas=(0.5, 0.9), weight_decay=0.3)),
]


def _ids(configs):
    return [f"{name}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for name, kw in configs]


def _grad(t, p, i):
    """A deterministic gradient that depends on the step and on the parameter (so the
    optimizers' states matter), with some exact zeros and sign changes."""
    rng = np.random.default_rng(1000 * t + i)
    g = rng.standard_normal(p.shape) + 0.5 * np.sin(3 * p) * (t % 3)
    if g.ndim and g.size > 3:
        g.reshape(-1)[::5] = 0.0
    return np.asarray(g, dtype=p.dtype)


def _initial(dtype):
    rng = np.random.default_rng(0)
    return [np.asarray(rng.standard_normal(s), dtype=dtype) for s in SHAPES]


def _run_against_torch(name, kw, dtype, rtol, atol):
    torch = pytest.importorskip("torch")
    init = _initial(dtype)
    ps = [ad.tensor(a.copy(), requires_grad=True) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, name)(ps, **kw)
    tkw = dict(kw)
    if name != "SGD":
        tkw["foreach"] = False
    topt = getattr(torch.optim, name)(ts, **tkw)
    for t in range(N_STEPS):
        for i, (p, tp) in enumerate(zip(ps, ts)):
            g = _grad(t, tp.detach().numpy(), i)
            p.grad = g.copy()
            tp.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(ps, ts)):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{name} {kw} step {t + 1} parameter {i}")
            assert p.data.dtype == dtype
    return opt, topt


@pytest.mark.parametrize("name, kw", CONFIGS, ids=_ids(CONFIGS))
def test_matches_torch_float64(name, kw):
    _run_against_torch(name, kw, np.float64, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, kw", CONFIGS, ids=_ids(CONFIGS))
def test_matches_torch_float32(name, kw):
    _run_against_torch(name, kw, np.float32, rtol=2e-4, atol=2e-5)


def test_state_buffers_match_torch():
    torch = pytest.importorskip("torch")
    opt, topt = _run_against_torch("Adam", dict(lr=0.01, amsgrad=True), np.float64, 1e-9,
                                   1e-12)
    for s, tp in zip(opt.state, topt.param_groups[0]["params"]):
        ts = topt.state[tp]
        assert s["step"] == N_STEPS == int(ts["step"])
        np.testing.assert_allclose(s["exp_avg"], ts["exp_avg"].numpy(), rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(s["exp_avg_sq"], ts["exp_avg_sq"].numpy(), rtol=1e-10,
                                   atol=1e-15)
        np.testing.assert_allclose(s["max_exp_avg_sq"], ts["max_exp_avg_sq"].numpy(),
                                   rtol=1e-10, atol=1e-15)
    opt, topt = _run_against_torch("SGD", dict(lr=0.01, momentum=0.9), np.float64, 1e-9,
                                   1e-12)
    for s, tp in zip(opt.state, topt.param_groups[0]["params"]):
        np.testing.assert_allclose(s["momentum_buffer"],
                                   topt.state[tp]["momentum_buffer"].numpy(), rtol=1e-10,
                                   atol=1e-15)


def test_sgd_by_hand():
    p = ad.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.5, momentum=0.9, weight_decay=0.1)
    p.grad = np.array([1.0, 1.0])
    opt.step()
    d1 = np.array([1.0, 1.0]) + 0.1 * np.array([1.0, -2.0])      # first step: buf = d
    p1 = np.array([1.0, -2.0]) - 0.5 * d1
    np.testing.assert_allclose(p.data, p1, rtol=1e-15)
    p.grad = np.array([0.0, 2.0])
    opt.step()
    d2 = np.array([0.0, 2.0]) + 0.1 * p1
    buf = 0.9 * d1 + d2
    np.testing.assert_allclose(p.data, p1 - 0.5 * buf, rtol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    p = ad.tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    opt = optim.Adam([p], lr=0.1, eps=0.0)
    p.grad = np.array([3.0, -0.5, 1e-3])
    opt.step()
    np.testing.assert_allclose(p.data, [-0.1, 1.1, -1.1], rtol=1e-12)


def test_float32_param_with_float64_grad_and_tensor_grad():
    p = ad.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    try:
        p.grad = np.full(4, 0.25)                   # float64 grad into a float32 parameter
    except ValueError:                              # Tensor.grad insists on the dtype (torch too)
        p.grad = np.full(4, 0.25, np.float32)
    opt.step()
    assert p.data.dtype == np.float32
    np.testing.assert_array_equal(p.data, np.full(4, 0.875, np.float32))
    opt.zero_grad()
    loss = ad.sum(p * p)                            # a Tensor grad from backward()
    loss.backward()
    assert isinstance(p.grad, ad.Tensor)
    opt.step()
    np.testing.assert_allclose(p.data, 0.875 - 0.5 * 2 * 0.875, rtol=1e-7)


@pytest.mark.parametrize("cls", [optim.SGD, optim.RMSprop, optim.Adam, optim.AdamW])
def test_scalar_parameter(cls):
    """A 0-d parameter (a learnable scale or temperature) steps like a 1-element one."""
    p = ad.tensor(np.array(1.5), requires_grad=True)
    q = ad.tensor(np.array([1.5]), requires_grad=True)
    opt_p, opt_q = cls([p], lr=0.1), cls([q], lr=0.1)
    for _ in range(3):
        opt_p.zero_grad()
        ad.sum(p * p).backward()                      # grad is a 0-d Tensor
        opt_p.step()
        q.grad = 2 * q.data
        opt_q.step()
    assert p.shape == ()
    np.testing.assert_allclose(p.data, q.data[0], rtol=1e-15)
    assert p.data < 1.5


def test_step_updates_in_place():
    p = ad.tensor(np.ones((3, 2)), requires_grad=True)
    buf = p.data
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones((3, 2))
    opt.step()
    assert p.data is buf or np.shares_memory(p.data, buf)
    assert np.all(buf < 1.0)


@pytest.mark.parametrize("name, kw", CONFIGS, ids=_ids(CONFIGS))
def test_kernels_never_write_into_the_gradient(name, kw):
    rng = np.random.default_rng(1)
    p = ad.tensor(rng.standard_normal((40, 30)), requires_grad=True)
    q = ad.tensor(rng.standard_normal((50000,)).astype(np.float64), requires_grad=True)
    opt = getattr(optim, name)([p, q], **kw)
    for t in range(3):
        gp, gq = rng.standard_normal((40, 30)), rng.standard_normal(50000)
        gp_copy, gq_copy = gp.copy(), gq.copy()
        gq.flags.writeable = False                  # a read-only gradient must be accepted
        p.grad, q.grad = gp, gq
        opt.step()
        np.testing.assert_array_equal(gp, gp_copy)
        np.testing.assert_array_equal(gq, gq_copy)
        assert p.grad is gp or p.grad.data is gp   # the array itself, or a Tensor around it


def test_kernels_never_write_into_tensor_gradient():
    p = ad.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    ad.sum(p * p * 3.0).backward()
    before = np.array(p.grad.data, copy=True)
    opt.step()
    np.testing.assert_array_equal(p.grad.data, before)


# ------------------------------------------------------------------- bookkeeping
def test_params_without_grad_are_skipped():
    a = ad.tensor(np.ones(3), requires_grad=True)
    b = ad.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert np.all(a.data < 1)
    assert opt.state[1] == {}
    assert opt.state[0]["step"] == 1
    b.grad = np.ones(2)
    a.grad = None
    a_before = a.data.copy()
    opt.step()
    np.testing.assert_array_equal(a.data, a_before)
    assert opt.state[0]["step"] == 1 and opt.state[1]["step"] == 1
    # b's first Adam step moves it by lr, as a's did
    np.testing.assert_allclose(b.data, 0.9, rtol=1e-7)


def test_zero_grad():
    model = ad.nn.MLP([3, 4, 2], seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    ad.sum(model(np.ones((2, 3)))).backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    before = [p.data.copy() for p in model.parameters()]
    opt.step()                                           # nothing to do
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)


@pytest.mark.parametrize("name, kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.01, amsgrad=True, betas=(0.8, 0.95))),
    ("AdamW", dict(lr=0.01, weight_decay=0.2))])
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_round_trip_continues_identically(name, kw, through_file, tmp_path):
    init = _initial(np.float64)
    ps = [ad.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, name)(ps, **kw)
    for t in range(5):
        for i, p in enumerate(ps):
            p.grad = _grad(t, p.data, i)
        opt.step()
    sd = opt.state_dict()
    saved_params = [p.data.copy() for p in ps]
    if through_file:
        ad.save(tmp_path / "opt.npz", {"opt": sd, "params": saved_params})
        loaded = ad.load(tmp_path / "opt.npz")
        sd, saved_params = loaded["opt"], loaded["params"]
    qs = [ad.tensor(np.array(a), requires_grad=True) for a in saved_params]
    other = getattr(optim, name)(qs, lr=0.5)       # different lr, overwritten by the load
    other.load_state_dict(sd)
    assert other.lr == opt.lr
    for t in range(5, 12):
        for i, (p, q) in enumerate(zip(ps, qs)):
            g = _grad(t, p.data, i)
            p.grad, q.grad = g, g.copy()
        opt.step()
        other.step()
        for p, q in zip(ps, qs):
            np.testing.assert_array_equal(q.data, p.data)


def test_state_dict_is_a_copy():
    p = ad.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    sd = opt.state_dict()
    sd["state"]["0"]["momentum_buffer"][...] = 99.0
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], np.ones(3))


def test_load_state_dict_errors():
    p = ad.tensor(np.ones(3), requires_grad=True)
    q = ad.tensor(np.ones(2), requires_grad=True)
    adam = optim.Adam([p], lr=0.1)
    p.grad = np.ones(3)
    adam.step()
    with pytest.raises(ValueError, match="Adam"):
        optim.SGD([p], lr=0.1).load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="parameters"):
        optim.Adam([p, q], lr=0.1).load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([q], lr=0.1).load_state_dict(adam.state_dict())


# ------------------------------------------------------------------- bad arguments
def _p():
    return [ad.tensor(np.ones(2), requires_grad=True)]


@pytest.mark.parametrize("make", [
    lambda: optim.SGD(_p(), lr=-0.1),
    lambda: optim.SGD(_p(), lr=float("nan")),
    lambda: optim.SGD(_p(), lr=float("inf")),
    lambda: optim.Adam(_p(), lr=-1e-12),
    lambda: optim.Adam(_p(), lr=float("nan")),
    lambda: optim.AdamW(_p(), lr=-1e-3),
    lambda: optim.RMSprop(_p(), lr=float("inf")),
    lambda: optim.SGD(_p(), lr=0.1, momentum=-0.1),
    lambda: optim.RMSprop(_p(), momentum=-0.5),
    lambda: optim.SGD(_p(), lr=0.1, nesterov=True),
    lambda: optim.SGD(_p(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
    lambda: optim.SGD(_p(), lr=0.1, weight_decay=-1.0),
    lambda: optim.Adam(_p(), betas=(1.0, 0.999)),
    lambda: optim.Adam(_p(), betas=(0.9, 1.0)),
    lambda: optim.Adam(_p(), betas=(-0.1, 0.999)),
    lambda: optim.Adam(_p(), betas=(0.9, 1.5)),
    lambda: optim.AdamW(_p(), betas=(0.9, float("nan"))),
    lambda: optim.Adam(_p(), betas=(0.9,)),
    lambda: optim.Adam(_p(), eps=-1e-8),
    lambda: optim.RMSprop(_p(), eps=-1.0),
    lambda: optim.RMSprop(_p(), alpha=1.5),
    lambda: optim.Adam(_p(), weight_decay=-0.01),
    lambda: optim.SGD([], lr=0.1),
], ids=lambda f: None)
def test_bad_hyperparameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_lr_setter_validates():
    opt = optim.SGD(_p(), lr=0.1)
    # 0 is allowed after construction: schedules such as cosine annealing reach it
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="learning rate"):
            opt.lr = bad
    assert opt.lr == 0.1
    opt.lr = 0.2
    assert opt.lr == 0.2


@pytest.mark.parametrize("bad", [
    np.ones(3),
    ad.tensor(np.ones(3)),                 # no requires_grad
    [1.0, 2.0],
    None,
])
@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop, optim.AdamW])
def test_non_parameter_raises_type_error(cls, bad):
    good = ad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="parameter 1"):
        cls([good, bad], lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam])
def test_non_contiguous_gradient(cls):
    rng = np.random.default_rng(3)
    g = rng.standard_normal((4, 6))
    p = ad.tensor(np.ones((6, 4)), requires_grad=True)
    q = ad.tensor(np.ones((6, 4)), requires_grad=True)
    opt_p, opt_q = cls([p], lr=0.1), cls([q], lr=0.1)
    p.grad = g.T                               # a transposed view
    q.grad = np.ascontiguousarray(g.T)
    opt_p.step()
    opt_q.step()
    np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="shape"):   # wrong shape stays an error (on assignment
        p.grad = g.T[::2]                          # to .grad, or at the latest in step())
        opt_p.step()


def _odd_layouts(dtype):
    """Parameters whose arrays the fused kernels cannot update as they are: (label, data)."""
    rng = np.random.default_rng(7)
    a = rng.standard_normal((6, 4)).astype(dtype)
    readonly = a.copy()
    readonly.flags.writeable = False
    big_endian = a.astype(np.dtype(dtype).newbyteorder(">"))
    return [
        ("fortran", np.asfortranarray(a)),
        ("transposed", rng.standard_normal((4, 6)).astype(dtype).T),
        ("strided", rng.standard_normal((12, 4)).astype(dtype)[::2]),
        ("negative-stride", rng.standard_normal((6, 4)).astype(dtype)[::-1, ::-1]),
        ("broadcast", np.broadcast_to(rng.standard_normal(4).astype(dtype), (6, 4))),
        ("readonly", readonly),
        ("big-endian", big_endian),
    ]


@pytest.mark.parametrize("name, kw", [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, weight_decay=0.3))], ids=lambda v: v if isinstance(v, str) else None)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_contiguous_parameters_match_torch(name, kw, dtype):
    """Transposed, strided, read-only ... parameters are accepted; the update shows through
    the Tensor the user holds and equals torch.optim's on the same values."""
    torch = pytest.importorskip("torch")
    layouts = _odd_layouts(dtype)
    ps = [ad.tensor(a, requires_grad=True) if label != "broadcast" else None
          for label, a in layouts]
    # ad.tensor copies but keeps the layout; wrap the views themselves as well
    from pyad.engine._tape import wrap
    for k, (label, a) in enumerate(layouts):
        if ps[k] is None or label in ("readonly", "negative-stride"):
            ps[k] = wrap(a)
            ps[k].requires_grad = True
    assert not ps[0].data.flags.c_contiguous and not ps[1].data.flags.c_contiguous
    assert any(not p.data.flags.writeable for p in ps)
    ts = [torch.tensor(np.array(a, dtype=dtype), requires_grad=True) for _, a in layouts]
    opt = getattr(optim, name)(ps, **kw)
    tkw = dict(kw, **({} if name == "SGD" else {"foreach": False}))
    topt = getattr(torch.optim, name)(ts, **tkw)
    held = list(ps)                       # the user's Tensors stay the parameters
    rtol, atol = (1e-12, 1e-14) if dtype == np.float64 else (2e-5, 2e-6)
    for t in range(6):
        for i, (p, tp) in enumerate(zip(ps, ts)):
            g = _grad(t, tp.detach().numpy(), i)
            p.grad = np.asfortranarray(g) if i % 2 else g
            tp.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
        for (label, _), p, tp in zip(layouts, held, ts):
            assert p.data.flags.c_contiguous and p.data.flags.writeable
            assert p.data.dtype == dtype and p.data.dtype.isnative
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{name} {label} step {t + 1}")
    for s in opt.state:
        assert all(v.flags.c_contiguous for v in s.values() if isinstance(v, np.ndarray))


def test_non_contiguous_parameter_made_contiguous_once():
    p = ad.tensor(np.arange(24.0).reshape(4, 6).T, requires_grad=True)
    assert not p.data.flags.c_contiguous
    opt = optim.SGD([p], lr=0.5)
    buf = p.data
    assert buf.flags.c_contiguous
    np.testing.assert_array_equal(buf, np.arange(24.0).reshape(4, 6).T)
    for _ in range(3):
        p.grad = np.ones((6, 4))
        opt.step()
        assert p.data is buf                      # no copy per step
    np.testing.assert_array_equal(p.data, np.arange(24.0).reshape(4, 6).T - 1.5)
    # a parameter whose data is reassigned to a strided array later still steps correctly
    p.data = np.zeros((4, 6)).T
    p.grad = np.ones((6, 4))
    opt.step()
    np.testing.assert_array_equal(p.data, np.full((6, 4), -0.5))


def test_parameter_loaded_from_fortran_state_dict():
    """A checkpoint keeps an array's memory order; loading a Fortran-ordered optimizer state
    or model state must still give updates equal to a C-ordered run."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((5, 3))
    runs = []
    for order in "CF":
        p = ad.tensor(np.array(w0, order=order), requires_grad=True)
        opt = optim.Adam([p], lr=0.1)
        p.grad = np.ones((5, 3))
        opt.step()
        sd = opt.state_dict()
        sd["state"]["0"] = {k: (np.asfortranarray(v) if order == "F" and k != "step" else v)
                            for k, v in sd["state"]["0"].items()}
        q = ad.tensor(np.array(p.data, order=order), requires_grad=True)
        other = optim.Adam([q], lr=0.1).load_state_dict(sd)
        for t in range(3):
            q.grad = np.arange(15.0).reshape(5, 3) * (t + 1)
            other.step()
        runs.append(q.data.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


# ------------------------------------------------------------------- lr = 0
@pytest.mark.parametrize("name, kw", CONFIGS, ids=_ids(CONFIGS))
def test_lr_zero_accepted_and_matches_torch(name, kw):
    """torch.optim accepts lr=0 (warm-up schedules start there): parameters stay put while
    the state (momentum, moments) evolves as torch's does; later steps with lr > 0 agree."""
    torch = pytest.importorskip("torch")
    init = _initial(np.float64)
    ps = [ad.tensor(a.copy(), requires_grad=True) for a in init]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    kw0 = dict(kw, lr=0.0)
    opt = getattr(optim, name)(ps, **kw0)
    assert opt.lr == 0.0
    tkw = dict(kw0, **({} if name == "SGD" else {"foreach": False}))
    topt = getattr(torch.optim, name)(ts, **tkw)
    for t in range(8):
        if t == 4:
            opt.lr = kw["lr"]
            topt.param_groups[0]["lr"] = kw["lr"]
        for i, (p, tp) in enumerate(zip(ps, ts)):
            g = _grad(t, tp.detach().numpy(), i)
            p.grad, tp.grad = g.copy(), torch.tensor(g.copy())
        opt.step()
        topt.step()
        for i, (p, tp, a) in enumerate(zip(ps, ts, init)):
            if t < 4:                       # lr = 0: no step moves a parameter
                np.testing.assert_array_equal(p.data, a)
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} {kw} step {t + 1} parameter {i}")


@pytest.mark.parametrize("make_ours, make_torch", [
    (lambda o: optim.StepLR(o, 2, 0.5), lambda o, S: S.StepLR(o, 2, 0.5)),
    (lambda o: optim.CosineAnnealingLR(o, 6, 0.01), lambda o, S: S.CosineAnnealingLR(o, 6, 0.01)),
    (lambda o: optim.CosineAnnealingLR(o, 6), lambda o, S: S.CosineAnnealingLR(o, 6)),
    (lambda o: optim.LinearWarmup(o, 3, start_factor=0.5),
     lambda o, S: S.LinearLR(o, start_factor=0.5, total_iters=3)),
    (lambda o: optim.LambdaLR(o, lambda e: 1 + e), lambda o, S: S.LambdaLR(o, lambda e: 1 + e)),
], ids=["StepLR", "Cosine-eta_min", "Cosine", "LinearWarmup", "LambdaLR"])
def test_schedules_with_base_lr_zero_vs_torch(make_ours, make_torch):
    ours, theirs = _schedule_pair(make_ours, make_torch, lr=0.0, epochs=6)   # cosine: T_max
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert np.all(ours >= 0)


def test_linear_warmup_from_zero():
    """A warm-up that starts at exactly 0 (start_factor=0) steps like torch's would."""
    p = ad.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    sched = optim.LinearWarmup(opt, 4, start_factor=0.0)
    assert opt.lr == 0.0
    p.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(p.data, np.ones(2))
    lrs = [sched.step() for _ in range(5)]
    np.testing.assert_allclose(lrs, [0.025, 0.05, 0.075, 0.1, 0.1], rtol=1e-15)


def test_cosine_state_dict_round_trip_keeps_eta_min():
    opt = optim.SGD(_p(), lr=0.0)
    sched = optim.CosineAnnealingLR(opt, 10, eta_min=0.2)
    for _ in range(3):
        sched.step()
    opt2 = optim.SGD(_p(), lr=0.0)
    sched2 = optim.CosineAnnealingLR(opt2, 10, eta_min=0.2)
    sched2.load_state_dict(sched.state_dict())
    assert opt2.lr == opt.lr > 0
    assert [sched.step() for _ in range(9)] == [sched2.step() for _ in range(9)]


def test_lr_zero_step_leaves_parameters():
    p = ad.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    sched = optim.CosineAnnealingLR(opt, 2)
    sched.step()
    sched.step()
    assert opt.lr == 0.0
    p.grad = np.ones(3)
    opt.step()
    np.testing.assert_array_equal(p.data, np.ones(3))


def test_gradient_of_wrong_shape():
    p = ad.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        p.grad = np.ones(4)
        opt.step()


def _counting_many(monkeypatch, name):
    """CPU's multi-parameter kernel of `name`, wrapped to count the calls that updated."""
    from pyad.backend import CPU
    calls = []
    kernel = CPU.many_updates[name.lower().rstrip("w")]

    def counted(*args):
        done = kernel(*args)
        calls.append(done)
        return done
    monkeypatch.setitem(CPU.many_updates, name.lower().rstrip("w"), counted)
    return calls


@pytest.mark.parametrize("name, kw", CONFIGS, ids=_ids(CONFIGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_call_for_all_parameters_equals_one_each(name, kw, dtype, monkeypatch):
    """From the second step on, a step is one call of the multi-parameter kernel, whose
    results equal the one-parameter kernel's bit for bit."""
    calls = _counting_many(monkeypatch, name)
    cls = getattr(optim, name)

    class OneEach(cls):         # its own _update: parameter by parameter
        def _update(self, p, g, state):
            super()._update(p, g, state)
    init = _initial(dtype)
    runs = []
    for make in (cls, OneEach):
        ps = [ad.tensor(a.copy(), requires_grad=True) for a in init]
        opt = make(ps, **kw)
        for t in range(4):
            for i, p in enumerate(ps):
                p.grad = _grad(t, init[i], i)
            opt.step()
        runs.append((ps, opt))
    assert calls == [True] * 3
    for a, b in zip(*(r[0] for r in runs)):
        np.testing.assert_array_equal(a.data, b.data)
    for sa, sb in zip(*(r[1].state for r in runs)):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


def test_one_call_steps_aside_for_what_it_does_not_take(monkeypatch):
    """A frozen parameter, unequal step counts, a gradient the kernel would copy first: the
    step goes parameter by parameter."""
    calls = _counting_many(monkeypatch, "SGD")
    a = ad.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    b = ad.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5, momentum=0.5)

    def step(ga, gb):
        a.grad, b.grad = ga, gb
        opt.step()
    ones = np.ones((3, 2), np.float32)
    step(ones, np.ones(4, np.float32))                  # the first step makes the state
    assert calls == []
    step(ones, None)                                    # b frozen
    assert calls == [] and [s["step"] for s in opt.state] == [2, 1]
    step(ones, np.ones(4, np.float32))                  # unequal step counts
    assert calls == [] and [s["step"] for s in opt.state] == [3, 2]
    b.grad = None
    step(None, np.ones(4, np.float32))                  # equal again: one call
    step(ones, np.ones(4, np.float32))
    assert calls == [True]
    want = a.data - 0.5 * (0.5 * opt.state[0]["momentum_buffer"] + 1)
    step(np.ones((2, 3), np.float32).T, np.ones(4, np.float32))   # transposed: by itself
    assert calls == [True, False]
    np.testing.assert_array_equal(a.data, want)


def test_optimizer_without_an_update_rule_says_so():
    """A subclass that names no kernel and writes no _update of its own: its step raises
    NotImplementedError naming the class and what to add (the base class has no rule)."""
    class NoRule(optim.Optimizer):
        pass
    w = ad.tensor(np.ones(2), requires_grad=True)
    opt = NoRule([w], lr=0.1)
    w.grad = np.ones(2)
    with pytest.raises(NotImplementedError, match="NoRule: an optimizer names its update kernel"):
        opt.step()
    np.testing.assert_array_equal(w.data, np.ones(2))


def test_many_kernel_checks_every_item_before_writing():
    """pyad._C's multi-parameter updates refuse (False, nothing written) lists with an item
    the one-parameter kernel would convert, and raise TypeError for lists that do not fit."""
    from pyad import _C
    p = [np.ones(3, np.float32), np.ones((2, 2), np.float32)]
    before = [a.copy() for a in p]
    bad_items = [
        [np.ones(3, np.float32), np.ones(4, np.float32)],               # another shape
        [np.ones(3, np.float32), np.ones((2, 2), np.float64)],          # another dtype
        [np.ones(3, np.float32), np.ones((2, 2), np.float32).T],        # not C order
        [np.ones(3, np.float32), [[1.0, 1.0], [1.0, 1.0]]],             # not an array
    ]
    for grads in bad_items:
        assert _C.sgd_update_many(p, grads, None, 0.1, 0.0, 0.0, False, 0.0, False) is False
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    grads = [np.ones(3, np.float32), np.ones((2, 2), np.float32)]
    assert _C.sgd_update_many([ro, p[1]], grads, None, 0.1, 0.0, 0.0, False, 0.0, False) is False
    assert _C.adam_update_many(p, grads, [np.zeros(3, np.float32), None],       # m missing
                               [np.zeros(3, np.float32), np.zeros((2, 2), np.float32)], None,
                               0.1, 0.9, 0.999, 1e-8, 0.0, 1.0, False) is False
    for a, b in zip(p, before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="sgd_update_many: params must be a list"):
        _C.sgd_update_many(tuple(p), grads, None, 0.1, 0.0, 0.0, False, 0.0, False)
    with pytest.raises(TypeError, match="list of 2 arrays"):
        _C.sgd_update_many(p, grads[:1], None, 0.1, 0.0, 0.0, False, 0.0, False)
    assert _C.sgd_update_many(p, grads, None, 0.5, 0.0, 0.0, False, 0.0, False) is True
    np.testing.assert_array_equal(p[1], np.full((2, 2), 0.5, np.float32))


# ------------------------------------------------------------------- schedules
def _schedule_pair(make_ours, make_torch, lr=0.1, epochs=N_STEPS):
    torch = pytest.importorskip("torch")
    ours_opt = optim.SGD(_p(), lr=lr)
    sched = make_ours(ours_opt)
    tp = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=lr)
    tsched = make_torch(topt, torch.optim.lr_scheduler)
    ours, theirs = [ours_opt.lr], [tsched.get_last_lr()[0]]
    for _ in range(epochs):
        topt.step()
        tsched.step()
        ours.append(sched.step())
        assert ours[-1] == ours_opt.lr
        theirs.append(tsched.get_last_lr()[0])
    return np.array(ours), np.array(theirs)


@pytest.mark.parametrize("step_size, gamma", [(3, 0.5), (1, 0.9), (7, 0.1)])
def test_step_lr_vs_torch(step_size, gamma):
    ours, theirs = _schedule_pair(lambda o: optim.StepLR(o, step_size, gamma),
                                  lambda o, S: S.StepLR(o, step_size, gamma))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ours[step_size] == pytest.approx(0.1 * gamma)


@pytest.mark.parametrize("eta_min", [1e-3, 0.0])
def test_cosine_annealing_vs_torch(eta_min):
    ours, theirs = _schedule_pair(lambda o: optim.CosineAnnealingLR(o, 20, eta_min),
                                  lambda o, S: S.CosineAnnealingLR(o, 20, eta_min))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)
    assert ours[10] == pytest.approx(eta_min + (0.1 - eta_min) / 2, rel=1e-12)
    assert ours[20] == pytest.approx(eta_min, abs=1e-15)


def test_cosine_annealing_first_period_vs_torch_then_held():
    ours, theirs = _schedule_pair(lambda o: optim.CosineAnnealingLR(o, 8, 0.01),
                                  lambda o, S: S.CosineAnnealingLR(o, 8, 0.01))
    np.testing.assert_allclose(ours[:9], theirs[:9], rtol=1e-10)
    # documented: held at eta_min after T_max (torch's would rise again)
    np.testing.assert_allclose(ours[8:], 0.01, rtol=1e-12)


@pytest.mark.parametrize("warmup, start", [(5, 0.1), (10, 0.25), (1, 0.5)])
def test_linear_warmup_vs_torch_linear_lr(warmup, start):
    ours, theirs = _schedule_pair(
        lambda o: optim.LinearWarmup(o, warmup, start_factor=start),
        lambda o, S: S.LinearLR(o, start_factor=start, end_factor=1.0, total_iters=warmup))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ours[0] == pytest.approx(0.1 * start)
    np.testing.assert_allclose(ours[warmup:], 0.1, rtol=1e-12)


def test_linear_warmup_then_step():
    opt = optim.SGD(_p(), lr=1.0)
    sched = optim.LinearWarmup(opt, 4, start_factor=0.2, then=lambda e: 0.5 ** (e // 2))
    lrs = [opt.lr] + [sched.step() for _ in range(9)]
    np.testing.assert_allclose(lrs, [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25])


def test_schedule_state_dict_round_trip():
    opt = optim.SGD(_p(), lr=0.2)
    sched = optim.StepLR(opt, 2, 0.5)
    for _ in range(5):
        sched.step()
    sd = sched.state_dict()
    opt2 = optim.SGD(_p(), lr=0.2)
    sched2 = optim.StepLR(opt2, 2, 0.5)
    sched2.load_state_dict(sd)
    assert opt2.lr == opt.lr == pytest.approx(0.2 * 0.25)
    assert [sched.step() for _ in range(4)] == [sched2.step() for _ in range(4)]


def test_schedule_bad_arguments():
    with pytest.raises(ValueError):
        optim.StepLR(optim.SGD(_p(), lr=0.1), 0)
    with pytest.raises(ValueError):
        optim.CosineAnnealingLR(optim.SGD(_p(), lr=0.1), 0)
    with pytest.raises(ValueError):
        optim.LinearWarmup(optim.SGD(_p(), lr=0.1), 0)


def test_schedule_drives_optimizer_lr():
    p = ad.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, 1, 0.5)
    total = 0.0
    for e in range(4):
        p.grad = np.ones(1)
        opt.step()
        total += 0.5 ** e
        sched.step()
    np.testing.assert_allclose(p.data, [-total], rtol=1e-15)
    assert math.isclose(opt.lr, 1 / 16)


def test_graph_forms_of_zero_grad_and_step_check_what_a_graph_holds():
    """The CUDA-graph forms of zero_grad() and step() (ad.compile; _tape.register_graph_step),
    exercised here on host arrays: a step's form stands while the hyperparameters, arrays and
    state are the captured ones, counts steps at each launch, and undoes its count; a
    subclass's and a first step's have none."""
    from pyad.engine._tape import graph_step_of
    from pyad.train.optim import clear_grads
    w, b = ad.tensor([1.0, 2.0], requires_grad=True), ad.tensor([0.5], requires_grad=True)
    opt = optim.SGD([w, b], lr=0.1, momentum=0.9)
    ad.sum(w * w + b).backward()
    assert graph_step_of(opt._step)() is None          # its first step makes the buffers
    opt.step()
    form = graph_step_of(opt._step)()
    grads = {id(w): w.grad.data, id(b): b.grad.data}
    assert form.check({}) and form.check({"grads": grads})
    assert not form.check({"grads": {id(w): w.grad.data.copy(), id(b): b.grad.data}})
    assert not form.check({"cleared": {id(w), id(b)}})       # no gradient there any more
    clear = graph_step_of(clear_grads)([w, b])
    ctx = {"grads": dict(grads)}
    assert clear.check(ctx) and ctx == {"grads": {}, "cleared": {id(w), id(b)}}
    form.apply()
    assert [s["step"] for s in opt.state] == [2, 2]
    form.undo()
    assert [s["step"] for s in opt.state] == [1, 1]
    opt.lr = 0.05                                            # a schedule: captured again
    assert not form.check({})
    opt.lr = 0.1
    opt.load_state_dict(opt.state_dict())                   # new state buffers
    assert not form.check({})
    clear.apply()
    assert w.grad is None and b.grad is None

    class MySGD(optim.SGD):
        def _update(self, p, g, state):
            super()._update(p, g * state["step"], state)
    ad.sum(w * w).backward()
    adam = optim.Adam([w], lr=0.1)
    adam.step()
    form = graph_step_of(adam._step)()      # its bias corrections: read from memory
    assert form.check({}) and form.scalars is None      # (on the CPU, no such kernel)
    form.undo()
    assert adam._capture_form is None
    w.grad = None
    for other in (MySGD([w], lr=0.1),):
        ad.sum(w * w).backward()
        other.step()
        assert graph_step_of(other._step)() is None
        w.grad = None
