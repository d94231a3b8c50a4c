"""Data-parallel training on 2 ranks equals one process on the combined batch; parameters
broadcast, sharded epochs, rank-0 checkpoints that resume bit for bit, distributed curvature."""
import numpy as np
import pytest

import pyad as ad
import pyad.distributed as dist

from conftest import gathered

R = dist.size() if dist.is_initialized() else 1
N, D, C = 96, 6, 3            # samples, features, classes


def _data(dtype):
    rng = np.random.default_rng(0)                 # the whole data set, on every rank
    x = rng.standard_normal((N, D)).astype(dtype)
    return x, rng.integers(0, C, N)


def _model(dtype, seed):
    return ad.nn.MLP([D, 16, 16, C], activation="tanh", seed=seed, dtype=dtype)


def _train(model, opt, x, y, batch_size, rank, world, steps, compiled=False, rng=None):
    def step(xb, yb):
        loss = ad.losses.softmax_cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    step = ad.compile(step) if compiled else step
    rng, done = np.random.default_rng(1) if rng is None else rng, 0
    while done < steps:
        for xb, yb in ad.data.batches(x, y, batch_size=batch_size, seed=rng, rank=rank,
                                      world=world):
            step(xb, yb)
            done += 1
            if done == steps:
                break
    return [p.data.copy() for p in model.parameters()]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("overlap", [False, True], ids=["after", "overlapped"])
def test_50_adam_steps_equal_one_process_on_the_combined_batch(dtype, tol, compiled, overlap):
    x, y = _data(dtype)
    model = _model(dtype, seed=10 + dist.rank())          # different on every rank ...
    dist.broadcast_parameters(model)                       # ... until rank 0's are sent
    # small buckets: with overlap, several start while backward() runs
    opt = dist.DistributedOptimizer(ad.optim.Adam(model.parameters(), lr=1e-2),
                                    bucket_mb=1e-3, overlap=overlap)
    assert len(opt.buckets) >= 3
    got = _train(model, opt, x, y, 8, dist.rank(), R, 50, compiled)

    single = _model(dtype, seed=10)                        # one process, batch 8 * R
    want = _train(single, ad.optim.Adam(single.parameters(), lr=1e-2), x, y, 8 * R, 0, 1, 50)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    # every rank holds exactly the same parameters
    for g in got:
        np.testing.assert_array_equal(gathered(g)[0], gathered(g)[-1])


def test_broadcast_parameters_and_buckets():
    model = _model(np.float64, seed=dist.rank())
    before = [p.data for p in model.parameters()]
    dist.broadcast_parameters(model, root=R - 1)
    assert all(a is p.data for a, p in zip(before, model.parameters()))   # in place
    want = _model(np.float64, seed=R - 1)
    for p, q in zip(model.parameters(), want.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    # tiny buckets: one Allreduce per few tensors, same averages as one bucket
    opt = dist.DistributedOptimizer(ad.optim.SGD(model.parameters(), lr=0.0), bucket_mb=1e-3)
    assert len(opt.buckets) > 1
    for p in model.parameters():
        p.grad = ad.tensor(np.full(p.shape, 1.0 + dist.rank()))
    model.parameters()[0].grad = None if dist.rank() == 0 else model.parameters()[0].grad
    model.parameters()[1].grad = None                      # None on every rank: stays None
    w = model.parameters()[2]                               # a non-C-contiguous gradient
    w.grad = ad.tensor(np.full(w.shape[::-1], 1.0 + dist.rank()).T)
    opt.average_gradients()
    params = model.parameters()
    # the mean of 1 + r over the ranks (with rank 0's first gradient counting as zero)
    first = (R * (R + 1) / 2 - 1) / R
    np.testing.assert_allclose(params[0].grad.data, np.full(params[0].shape, first), rtol=1e-15)
    assert params[1].grad is None
    for p in params[2:]:
        np.testing.assert_allclose(p.grad.data, np.full(p.shape, (R + 1) / 2.0), rtol=1e-15)
    assert "bucket" in repr(opt)


def test_broadcast_parameters_sends_buffers_too():
    model = ad.nn.Sequential(ad.nn.Linear(D, 4, seed=dist.rank()), ad.nn.BatchNorm1d(4))
    for _ in range(1 + dist.rank()):         # different running statistics and counts
        model(np.random.default_rng(dist.rank()).standard_normal((8, D)))
    running = model[1].running_mean
    dist.broadcast_parameters(model, root=0)
    assert model[1].running_mean is running                               # in place
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(gathered(value)[0], gathered(value)[-1], err_msg=name)
    assert int(model[1].num_batches_tracked.item()) == 1
    params = model.parameters()                 # a list: the parameters only, as before
    assert dist.broadcast_parameters(params) is params


def test_mismatched_models_raise_on_every_rank():
    model = ad.nn.MLP([D, 4 + dist.rank(), C], seed=0)
    with pytest.raises(ValueError, match="broadcast_parameters.*differ"):
        dist.broadcast_parameters(model)
    opt = dist.DistributedOptimizer(ad.optim.SGD(model.parameters(), lr=0.1))
    for p in model.parameters():
        p.grad = ad.tensor(np.ones(p.shape, p.data.dtype))
    with pytest.raises(ValueError, match="DistributedOptimizer.step.*differ"):
        opt.step()


def test_sharded_batches_cover_the_combined_batches():
    x = np.arange(23)
    mine = [b[0] for b in ad.data.batches(x, batch_size=3, seed=5, rank=dist.rank(), world=R)]
    counts = gathered(np.array([len(mine)]))
    assert (counts == len(mine)).all()                     # the same count on every rank
    single = [b[0] for b in ad.data.batches(x, batch_size=3 * R, seed=5)]
    from mpi4py import MPI
    joined = MPI.COMM_WORLD.allgather(mine)
    for k, batch in enumerate(single):
        np.testing.assert_array_equal(np.concatenate([j[k] for j in joined]), batch)
    with pytest.raises(ValueError, match="seed"):
        next(ad.data.batches(x, batch_size=3, rank=0, world=2))


def test_rank0_checkpoint_resumes_bit_for_bit(tmp_path_factory, monkeypatch):
    # one directory for all ranks: rank 0 names it
    from mpi4py import MPI
    path = MPI.COMM_WORLD.bcast(str(tmp_path_factory.mktemp("ckpt") / "run.npz")
                                if dist.rank() == 0 else None)
    x, y = _data(np.float64)

    def build():
        model = _model(np.float64, seed=3)
        return model, dist.DistributedOptimizer(ad.optim.Adam(model.parameters(), lr=1e-2))

    model, opt = build()
    straight = _train(model, opt, x, y, 8, dist.rank(), R, 2 * N // (8 * R))    # 2 epochs

    model, opt = build()
    rng = np.random.default_rng(1)
    _train(model, opt, x, y, 8, dist.rank(), R, N // (8 * R), rng=rng)          # 1 epoch
    if dist.rank() != 0:          # only rank 0 writes
        import pyad.train.serialize as serialize
        monkeypatch.setattr(serialize, "save", lambda *a: pytest.fail("a rank > 0 wrote"))
    dist.save(path, {"model": dict(model.state_dict()), "opt": opt.state_dict(),
                     "rng": rng.bit_generator.state})
    monkeypatch.undo()

    model, opt = build()                                    # a fresh run resumes
    ckpt = dist.load(path)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    rng = np.random.default_rng()
    rng.bit_generator.state = ckpt["rng"]
    resumed = _train(model, opt, x, y, 8, dist.rank(), R, N // (8 * R), rng=rng)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- curvature
def _regression():
    rng = np.random.default_rng(2)
    X, t = rng.standard_normal((40, 5)), rng.standard_normal((40, 2))
    W = {"W1": rng.standard_normal((5, 7)) / 3, "b1": np.zeros(7),
         "W2": rng.standard_normal((7, 2)) / 3}
    shard = slice(dist.rank() * 40 // R, (dist.rank() + 1) * 40 // R)

    def model(p, X):
        return ad.tanh(X @ p["W1"] + p["b1"]) @ p["W2"]

    def share(p):           # this rank's share of the global objective: no collective inside
        return ad.sum((model(p, X[shard]) - t[shard]) ** 2) / 40.0

    def whole(p):
        return ad.sum((model(p, X) - t) ** 2) / 40.0
    return W, model, share, whole, X, t, shard


def test_hessian_eigs_distributed_equal_single_process():
    W, _, share, whole, *_ = _regression()
    vals, vecs, info = ad.curvature.hessian_eigs(share, W, k=3, which="both",
                                                 distributed=True, tol=1e-10)
    want, _, _ = ad.curvature.hessian_eigs(whole, W, k=3, which="both", tol=1e-10)
    np.testing.assert_allclose(vals, want, rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(gathered(vals)[0], gathered(vals)[-1])
    assert info["converged"]


def test_distributed_estimators_and_gauss_newton():
    W, model, share, whole, X, t, shard = _regression()
    flat, unravel = ad.curvature.ravel(W)
    loss = lambda z, tt: 0.5 * ad.sum((z - tt) ** 2) / 40.0           # noqa: E731
    got = ad.curvature.gn_eigs(lambda p: model(p, X[shard]), lambda z: loss(z, t[shard]), W,
                               k=2, distributed=True, tol=1e-10)[0]
    want = ad.curvature.gn_eigs(lambda p: model(p, X), lambda z: loss(z, t), W, k=2,
                                tol=1e-10)[0]
    np.testing.assert_allclose(got, want, rtol=1e-9)
    mine = ad.hvp_fn(share, W)
    every = ad.hvp_fn(whole, W)
    mv = lambda v: ad.ravel_pytree(mine(unravel(v)))[0]               # noqa: E731
    allv = lambda v: ad.ravel_pytree(every(unravel(v)))[0]            # noqa: E731
    n = flat.shape[0]
    assert ad.curvature.hutchinson_trace(mv, n, num_probes=20, distributed=True) == \
        pytest.approx(ad.curvature.hutchinson_trace(allv, n, num_probes=20), rel=1e-10)
    np.testing.assert_allclose(
        ad.curvature.hutchinson_diag(mv, n, num_probes=5, distributed=True),
        ad.curvature.hutchinson_diag(allv, n, num_probes=5), rtol=1e-10, atol=1e-14)
    g1, d1 = ad.curvature.hessian_density(share, W, num_probes=2, num_steps=10,
                                          distributed=True)
    g2, d2 = ad.curvature.hessian_density(whole, W, num_probes=2, num_steps=10)
    np.testing.assert_allclose(g1, g2, rtol=1e-8)
    np.testing.assert_allclose(d1, d2, rtol=1e-6, atol=1e-8 * d2.max())
    vals = ad.curvature.lanczos(mv, np.ones(n) * (1 + dist.rank()), k=1, distributed=True)[0]
    np.testing.assert_allclose(vals, ad.curvature.lanczos(allv, np.ones(n), k=1)[0], rtol=1e-8)


def test_hessian_free_distributed_takes_the_single_process_step():
    W, model, share, whole, X, t, shard = _regression()
    hf = ad.optim.HessianFree(damping=0.5, distributed=True)
    hf1 = ad.optim.HessianFree(damping=0.5)
    p, p1 = W, W
    for _ in range(3):
        p, info = hf.step(lambda q: model(q, X[shard]),
                          lambda z: ad.sum((z - t[shard]) ** 2) / 40.0, p)
        p1, info1 = hf1.step(lambda q: model(q, X), lambda z: ad.sum((z - t) ** 2) / 40.0, p1)
        assert info["cg_iterations"] == info1["cg_iterations"]
        assert info["loss"] == pytest.approx(info1["loss"], rel=1e-12)
    for k in W:
        np.testing.assert_allclose(p[k], p1[k], rtol=1e-9, atol=1e-12)


def test_overlap_starts_buckets_during_backward_and_handles_accumulation():
    x, y = _data(np.float64)
    mine = slice(dist.rank() * 8, dist.rank() * 8 + 8)
    results = []
    for overlap in (False, True):
        model = _model(np.float64, seed=4)
        opt = dist.DistributedOptimizer(ad.optim.SGD(model.parameters(), lr=0.1),
                                        bucket_mb=1e-3, overlap=overlap)
        opt.zero_grad()
        for half in (slice(0, 4), slice(4, 8)):         # two backward() calls, one step
            rows = np.arange(96)[mine][half]
            ad.losses.softmax_cross_entropy(model(x[rows]), y[rows]).backward()
            if overlap:     # the last layer's buckets started inside backward()
                assert opt._next >= 1
        opt.step()
        results.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_writes_weight_gradients_into_the_bucket(dtype):
    x, y = _data(dtype)
    model = _model(dtype, seed=5)
    params = model.parameters()
    opt = dist.DistributedOptimizer(ad.optim.SGD(params, lr=0.1))
    held = None
    for step in range(3):
        rows = slice(dist.rank() * 8 + step, dist.rank() * 8 + step + 8)
        opt.zero_grad()
        ad.losses.softmax_cross_entropy(model(x[rows]), y[rows]).backward()
        local = [p.grad.data.copy() for p in params]
        for p in params:         # the Linear weights' gradients were made in the bucket
            assert np.shares_memory(p.grad.data, opt._flats[0]) == (p.ndim == 2)
        opt.average_gradients()
        tol = 1e-6 if dtype == np.float32 else 1e-14
        for p, g in zip(params, local):
            mean = gathered(g).mean(0)      # (each rank's share divided by the rank count)
            np.testing.assert_allclose(p.grad.data, mean, rtol=tol, atol=tol * np.abs(mean).max())
        if held is not None:     # a .grad kept from the last step is never written over
            np.testing.assert_array_equal(held.data, held_values)
        held, held_values = params[0].grad, params[0].grad.data.copy()
        opt.step()               # (its average of equal gradients changes nothing)
