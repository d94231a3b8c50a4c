"""The collectives' rows on 2 ranks: values, VJP/JVP/second order and batching against the
single-process formula (every rank's inputs stacked), the transpose identity, errors."""
import numpy as np
import pytest

import pyad as ad
import pyad.distributed as dist
from pyad.distributed import comm as dist_comm

from conftest import gathered, global_sum

R = dist.size() if dist.is_initialized() else 1


def _stacked(Y):
    return [Y[r] for r in range(R)]


# name -> (the collective on this rank's x, the same map on the stacked inputs X (R, ...),
# the input shape). Single-process maps are written in pyad ops so that they differentiate.
CASES = {
    "allreduce-sum": (lambda x: dist.allreduce(x), lambda X: ad.stack([ad.sum(X, 0)] * R),
                      (3, 4)),
    "allreduce-mean": (lambda x: dist.allreduce(x, op="mean"),
                       lambda X: ad.stack([ad.mean(X, 0)] * R), (3, 4)),
    "broadcast-0": (lambda x: dist.broadcast(x, root=0), lambda X: ad.stack([X[0]] * R), (5,)),
    "broadcast-1": (lambda x: dist.broadcast(x, root=1), lambda X: ad.stack([X[1]] * R),
                    (2, 3)),
    "reduce-1": (lambda x: dist.reduce(x, root=1),
                 lambda X: ad.stack([ad.sum(X, 0) * float(r == 1) for r in range(R)]), (2, 3)),
    "allgather-0": (lambda x: dist.allgather(x), lambda X: ad.stack(
        [ad.concatenate(_stacked(X), axis=0)] * R), (2, 3)),
    "allgather-1": (lambda x: dist.allgather(x, axis=-1), lambda X: ad.stack(
        [ad.concatenate(_stacked(X), axis=1)] * R), (2, 3)),
    "reduce_scatter-0": (lambda x: dist.reduce_scatter(x), lambda X: ad.stack(
        [ad.sum(X, 0)[2 * r:2 * r + 2] for r in range(R)]), (2 * R, 3)),
    "reduce_scatter-1": (lambda x: dist.reduce_scatter(x, axis=1), lambda X: ad.stack(
        [ad.sum(X, 0)[:, 3 * r:3 * r + 3] for r in range(R)]), (2, 3 * R)),
}


def _inputs(shape, seed, dtype=np.float64):
    """This rank's values (different on every rank) and all ranks' values stacked."""
    mine = np.random.default_rng([seed, dist.rank()]).uniform(-1.0, 1.0, shape).astype(dtype)
    return mine, gathered(mine)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_matches_the_stacked_formula(name, dtype):
    local, stacked, shape = CASES[name]
    x, X = _inputs(shape, 1, dtype)
    y = local(x)
    want = stacked(ad.tensor(X)).data[dist.rank()]
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, want, rtol=1e-6 if dtype == np.float32 else 1e-14)
    # a strided view gives the same answer, and the input is not written over
    wide = np.zeros(shape[:-1] + (2 * shape[-1],), dtype)
    wide[..., ::2] = x
    before = wide.copy()
    np.testing.assert_array_equal(local(wide[..., ::2]).data, y.data)
    np.testing.assert_array_equal(wide, before)


def _objective(local):
    """A nonlinear function of the collective's output, different on each rank."""
    w = ad.tensor(np.random.default_rng([7, dist.rank()]).uniform(0.5, 1.5, 1))
    return lambda x: ad.sum(w * ad.sin(local(x * x + x)))


def _stacked_objective(stacked):
    W = ad.tensor(gathered(np.random.default_rng([7, dist.rank()]).uniform(0.5, 1.5, 1)))
    return lambda X: ad.sum(ad.reshape(W, (R,) + (1,) * 1) *
                            ad.reshape(ad.sin(stacked(X * X + X)), (R, -1)))


@pytest.mark.parametrize("name", CASES)
def test_gradient_is_the_global_objectives(name):
    """grad on each rank = d/dx_r of the sum over ranks of each rank's objective."""
    local, stacked, shape = CASES[name]
    x, X = _inputs(shape, 2)
    g = ad.grad(_objective(local))(x)
    G = ad.grad(_stacked_objective(stacked))(X)
    np.testing.assert_allclose(g, G[dist.rank()], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", CASES)
def test_jvp_and_vjp_are_transposes(name):
    local, stacked, shape = CASES[name]
    x, X = _inputs(shape, 3)
    t, T = _inputs(shape, 4)
    y, ydot = ad.jvp(local, (x,), (t,))
    np.testing.assert_allclose(ydot, stacked(ad.tensor(T)).data[dist.rank()], rtol=1e-13)
    w = np.random.default_rng([5, dist.rank()]).standard_normal(y.shape)
    _, pullback = ad.vjp(local, x)
    (xbar,) = pullback(w)
    lhs = global_sum(np.vdot(ydot, w))
    rhs = global_sum(np.vdot(t, xbar))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("mode", ["fwd-rev", "rev-rev", "rev-fwd"])
def test_second_order_matches_the_stacked_hessian(name, mode):
    local, stacked, shape = CASES[name]
    x, X = _inputs(shape, 6)
    v, V = _inputs(shape, 8)
    hv = ad.hvp(_objective(local), (x,), (v,), mode=mode)
    HV = ad.hvp(_stacked_objective(stacked), (X,), (V,))
    np.testing.assert_allclose(hv, HV[dist.rank()], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("name", ["allgather-0", "broadcast-1", "reduce_scatter-1"])
@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_batched_jacobian(name, mode):
    """Forward mode pushes each basis vector on every rank at once (so rank r's column i is
    the sum over s of dY_r/dX_s e_i); reverse pulls each one back (row i: sum over s of
    e_i^T dY_s/dX_r). One batched collective per call, lifted over the basis."""
    local, stacked, shape = CASES[name]
    x, X = _inputs(shape, 9)
    J = ad.jacobian(local, mode=mode)(x)
    full = ad.jacobian(stacked)(X)                       # (R, *out, R, *in)
    n, m = x.size, full.size // (R * R * x.size)
    full = full.reshape(R, m, R, n)
    r = dist.rank()
    want = full[r].sum(axis=1) if mode == "fwd" else full[:, :, r, :].sum(axis=0)
    np.testing.assert_allclose(J.reshape(m, n), want, rtol=1e-14)


def test_model_parallel_blocks_give_the_single_process_mlp():
    """Megatron's tensor-parallel MLP: W1 split by columns, W2 by rows; copy_to_ranks before
    the first product, reduce_from_ranks after the second: gradients of every shard, of the
    replicated input, and HVPs equal the full model's (the loss counted once)."""
    rng = np.random.default_rng(11)                     # the same full model on every rank
    x, t = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    W1, b1 = rng.standard_normal((4, 6)), rng.standard_normal(6)
    W2, b2 = rng.standard_normal((6, 3)), rng.standard_normal(3)
    r, h = dist.rank(), 6 // R
    cols = slice(r * h, (r + 1) * h)

    def full(x, W1, b1, W2, b2):
        return ad.mean((ad.tanh(x @ W1 + b1) @ W2 + b2 - t) ** 2)

    def sharded(x, W1r, b1r, W2r, b2):
        z = ad.tanh(dist.copy_to_ranks(x) @ W1r + b1r) @ W2r
        return ad.mean((dist.reduce_from_ranks(z) + b2 - t) ** 2)

    mine = (x, W1[:, cols], b1[cols], W2[cols], b2)
    want = ad.grad(full, argnums=(0, 1, 2, 3, 4))(x, W1, b1, W2, b2)
    got = ad.grad(sharded, argnums=(0, 1, 2, 3, 4))(*mine)
    for g, w in zip(got, (want[0], want[1][:, cols], want[2][cols], want[3][cols], want[4])):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    assert abs(float(sharded(*mine)) - float(full(x, W1, b1, W2, b2))) < 1e-13
    # second order: a direction sharded like the parameters
    V1, V2 = rng.standard_normal(W1.shape), rng.standard_normal(W2.shape)
    hv = ad.hvp(lambda a, b: sharded(x, a, b1[cols], b, b2), (W1[:, cols], W2[cols]),
                (V1[:, cols], V2[cols]))
    HV = ad.hvp(lambda a, b: full(x, a, b1, b, b2), (W1, W2), (V1, V2))
    np.testing.assert_allclose(hv[0], HV[0][:, cols], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(hv[1], HV[1][cols], rtol=1e-11, atol=1e-13)
    # the mean variant hands each rank 1/N of the cotangent
    g = ad.grad(lambda a: ad.sum(dist.reduce_from_ranks(a, op="mean") ** 2))(x)
    np.testing.assert_allclose(g, 2 * x / R, rtol=1e-14)


# ---------------------------------------------------------------------- no rank skips one
def _counting(monkeypatch):
    calls = []
    for name in ("allreduce", "allgather", "broadcast", "reduce", "reduce_scatter"):
        prim = ad.PRIMITIVES[name]
        kernel = prim.impl

        def counted(*a, _kernel=kernel, _name=name):
            calls.append(_name)
            return _kernel(*a)
        monkeypatch.setattr(prim, "impl", counted)
        ad.backend.register_kernels({name: counted})
    return calls


@pytest.fixture
def restore_kernels():
    saved = {n: ad.PRIMITIVES[n].impl for n in ("allreduce", "allgather", "broadcast", "reduce",
                                                "reduce_scatter")}
    yield
    ad.backend.register_kernels(saved)


def test_tape_optimisations_never_skip_a_collective(monkeypatch, restore_kernels):
    """Deferred outputs (hvp), hvp_fn's replays and ad.compile's dead-code elimination make
    the same collective calls on every rank, and compile keeps one whose result is unused."""
    calls = _counting(monkeypatch)
    x, _ = _inputs((4, 3), 12)
    w = ad.tensor(np.ones((3, 2)) * (1 + dist.rank()))

    def loss(p):
        h = ad.tanh(dist.allgather(x @ p, axis=0))
        return ad.sum(dist.allreduce(h, op="mean") ** 2)

    p = np.random.default_rng(0).standard_normal((3, 2))
    hv = ad.hvp(loss, (p,), (np.ones((3, 2)),))
    apply = ad.hvp_fn(loss, p)
    for _ in range(3):
        np.testing.assert_allclose(apply(np.ones((3, 2))), hv, rtol=1e-12)

    @ad.compile
    def step(x):
        unused = dist.allreduce(x * 2.0)       # noqa: F841  (no rank may drop it)
        return ad.sum(dist.broadcast(x @ w, root=1))

    for _ in range(4):
        step(x)
    counts = {n: calls.count(n) for n in set(calls)}
    every = dist_comm.communicator().allgather(sorted(counts.items()))
    assert all(c == every[0] for c in every), every
    assert counts["allreduce"] >= 4 + 1


# ---------------------------------------------------------------------- errors
def test_shapes_that_differ_raise_on_every_rank():
    x = np.ones((2, 3 + dist.rank()))
    with pytest.raises(ValueError, match=r"allreduce.*rank 0: allreduce\(float64 \(2, 3\)"):
        dist.allreduce(x)
    with pytest.raises(ValueError, match="differ"):
        dist.allgather(np.ones(3, dtype=np.float32 if dist.rank() else np.float64))
    # different collectives at the same point
    with pytest.raises(ValueError, match="allreduce.*broadcast|broadcast.*allreduce"):
        (dist.allreduce if dist.rank() == 0 else dist.broadcast)(np.ones(2))
    # and the ranks are still paired afterwards
    np.testing.assert_array_equal(dist.allreduce(np.ones(2)).data, np.full(2, R))


def test_bad_arguments():
    with pytest.raises(ValueError, match="op must be 'sum' or 'mean'"):
        dist.allreduce(np.ones(2), op="max")
    with pytest.raises(ValueError, match="root must be a rank"):
        dist.broadcast(np.ones(2), root=R)
    with pytest.raises(ValueError, match="0-d"):
        dist.allgather(np.float64(1.0))
    with pytest.raises(ValueError, match="not a multiple"):
        dist.reduce_scatter(np.ones(R + 1))
    with pytest.raises(TypeError, match="float16.*cast"):
        dist.allreduce(np.ones(2, dtype=np.float16))
    with pytest.raises(TypeError, match="mean"):
        dist.allreduce(np.ones(2, dtype=np.int64), op="mean")
    np.testing.assert_array_equal(dist.allreduce(np.arange(3)).data, R * np.arange(3))


def test_before_init_names_dist_init():
    saved = dist_comm.communicator()
    dist_comm._reset_for_tests(None)
    try:
        with pytest.raises(RuntimeError, match=r"dist\.init\(\)"):
            dist.allreduce(np.ones(2))
        with pytest.raises(RuntimeError, match=r"dist\.init\(\)"):
            dist.rank()
        assert not dist.is_initialized()
    finally:
        dist_comm._reset_for_tests(saved)


@pytest.mark.parametrize("name", ["allreduce-sum", "allgather-1", "broadcast-1"])
def test_hessian_sums_the_blocks_of_the_stacked_hessian(name):
    """ad.hessian pushes each basis vector through every rank at once, so rank r's matrix is
    the sum over s of the stacked Hessian's blocks (r, s)."""
    local, stacked, shape = CASES[name]
    x, X = _inputs(shape, 13)
    H = ad.hessian(_objective(local))(x)
    full = ad.hessian(_stacked_objective(stacked))(X)
    n = x.size
    full = full.reshape(R, n, R, n)
    np.testing.assert_allclose(H.reshape(n, n), full[dist.rank()].sum(axis=1), rtol=1e-11,
                               atol=1e-13)
