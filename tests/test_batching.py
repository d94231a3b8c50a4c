"""Batched derivative rules, generated from tests/op_specs.py: for every primitive's cases,
one JvpTrace(batch=B) pass must give exactly the B tangents that B single ad.jvp passes give
(first order, and through a gradient: batched forward-over-reverse), one batched reverse
sweep exactly the B cotangents of B single ad.vjp calls, and the lifted rules must run once
per primitive application, not once per tangent."""
import numpy as np
import pytest

import pyad as ad
from pyad.engine._tape import sweep

from op_specs import SPECS

GRAD_CASES = [c for cases in SPECS.values() for c in cases if c.grad]
B = 3


def _ids(cases):
    return [c.id for c in cases]


def _directions(xs, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((B,) + x.shape) for x in xs]


def _batched(fn, xs, vs):
    ts = [ad.tensor(x) for x in xs]
    with ad.JvpTrace(batch=B) as trace:
        for t, v in zip(ts, vs):
            trace.watch(t, v)
        out = fn(*ts)
    t = trace.tangent(out)
    return np.zeros((B,) + out.shape) if t is None else t.data


def _rel(a, b):
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-300))


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_batched_jvp_equals_one_jvp_per_tangent(case):
    xs = case.inputs(np.float64)
    vs = _directions(xs, 1)
    got = _batched(case.fn, xs, vs)
    for i in range(B):
        want = ad.jvp(lambda *a: case.fn(*[ad.tensor(x) if not isinstance(x, ad.Tensor) else x
                                           for x in a]),
                      tuple(xs), tuple(v[i] for v in vs))[1]
        assert got[i].shape == np.shape(want), case.id
        assert _rel(got[i], np.asarray(want)) <= 1e-12, (case.id, i)


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_batched_vjp_equals_one_vjp_per_cotangent(case):
    xs = case.inputs(np.float64)
    ts = [ad.tensor(x) for x in xs]
    with ad.Tape(persistent=True) as tape:
        tape.watch(*ts)
        out = case.fn(*ts)
    us = np.random.default_rng(4).standard_normal((B,) + out.shape)
    got = sweep(tape, [out], [ad.tensor(us)], ts, batch=B)
    _, vjp_fn = ad.vjp(case.fn, *[ad.tensor(x) for x in xs])
    for i in range(B):
        want = vjp_fn(ad.tensor(us[i]))
        for g, w, x in zip(got, want, xs):
            g = np.zeros((B,) + x.shape) if g is None else g.data
            assert g[i].shape == x.shape, case.id
            assert _rel(g[i], np.asarray(w.data)) <= 1e-12, (case.id, i)


@pytest.mark.parametrize("case", [c for c in GRAD_CASES if c.order2], ids=_ids(
    [c for c in GRAD_CASES if c.order2]))
def test_batched_forward_over_reverse_equals_hvps(case):
    """The rules of a gradient sweep, batched: B Hessian-vector products in one pass."""
    xs = case.inputs(np.float64)
    vs = _directions(xs, 2)
    rng = np.random.default_rng(3)

    def loss_of(w):
        def loss(*a):
            return ad.real(ad.sum(case.fn(*a) * w))     # a transform's complex output: Re
        return loss
    out = case.fn(*[ad.tensor(x) for x in xs])
    loss = loss_of(rng.standard_normal(out.shape))
    grads = ad.grad(loss, argnums=tuple(range(len(xs))))
    got = _batched(lambda *a: ad.concatenate([ad.reshape(g, (-1,)) for g in grads(*a)]),
                   xs, vs)
    for i in range(B):
        hv = ad.hvp(loss, tuple(xs), tuple(v[i] for v in vs), mode="rev-rev")
        hv = hv if isinstance(hv, tuple) else (hv,)
        want = np.concatenate([np.ravel(h) for h in hv])
        assert _rel(got[i], want) <= 1e-10, (case.id, i)


def test_lifted_rules_run_once_per_application(monkeypatch):
    calls = {}
    for name in ("tanh", "matmul", "sum", "softmax", "getitem", "reshape"):
        prim = ad.PRIMITIVES[name]
        rule = prim.jvp

        def counted(*a, name=name, rule=rule):
            calls[name] = calls.get(name, 0) + 1
            return rule(*a)
        monkeypatch.setattr(prim, "jvp", counted)
    W = np.arange(12.0).reshape(4, 3) / 10

    def f(x):
        return ad.sum(ad.softmax(ad.tanh(ad.reshape(x, (2, 4)) @ W), axis=1)[1])
    ad.jacobian(f, mode="fwd")(np.linspace(-1, 1, 8))
    assert calls == {"tanh": 1, "matmul": 1, "sum": 1, "softmax": 1, "getitem": 1,
                     "reshape": 1}


def test_batched_sweep_runs_each_vjp_rule_once(monkeypatch):
    sin = ad.PRIMITIVES["sin"]
    calls = [0]
    rule = sin.vjps[0]

    def counted(*a):
        calls[0] += 1
        return rule.apply(*a[:2], a[2:3], ()) if hasattr(rule, "apply") else rule(*a)
    monkeypatch.setattr(sin, "vjps", (counted,))
    x = np.linspace(-1.0, 1.0, 30)
    J = ad.jacobian(lambda v: ad.sin(v) * 3.0, mode="rev")(x)
    assert calls[0] == 1
    np.testing.assert_allclose(J, np.diag(3.0 * np.cos(x)), rtol=1e-14)


def test_every_differentiable_primitive_is_lifted_or_listed_as_looped():
    looped = ad.ops.prims.LOOPED          # defprim(..., lift=LOOP)
    lifted = set(ad.ops.prims.LIFTS)      # each row names its lift: defprim(..., lift=...)
    for name, prim in ad.PRIMITIVES.items():
        if prim.differentiable:
            assert (name in lifted) != (name in looped), name


def test_batched_trace_checks_tangent_shapes():
    x = ad.tensor(np.ones((2, 3)))
    with ad.JvpTrace(batch=4) as trace:
        with pytest.raises(ValueError, match=r"\(4, 2, 3\)"):
            trace.watch(x, np.ones((2, 3)))
    with pytest.raises(ValueError, match="batch"):
        ad.JvpTrace(batch=-1)
