"""Workload `mlp_step`: one SGD step (forward, softmax cross-entropy, backward, update) of a relu
MLP in float32 at three sizes, against numpy by hand and the step's GEMMs alone (the floor).

Every framework starts from the same weights (He-normal, zero biases) and the same batch. The
learning rate is 1e-20: pyad's SGD rejects lr=0 (torch's accepts it), and 1e-20 runs the real
update arithmetic while leaving the weights where they are, so repeated steps on one batch
cannot drift into denormals (DESIGN.md, "Performance facts")."""
import numpy as np

from bench.workloads import framework

SIZES = {"S": ((64, 128, 128, 10), 64), "M": ((784, 512, 512, 10), 128),
         "L": ((1024, 2048, 2048, 10), 256)}
LR = 1e-20
UNIT, PER_CALL = "us", 1
BASELINE, REFERENCE = "numpy-gemm-floor", "numpy"
FRAMEWORKS = {}


def make_data(sizes, batch):
    """(weights, biases, x, labels) of an MLP of `sizes` at `batch`, seeded by the shape."""
    rng = np.random.default_rng(sum(sizes) + batch)
    ws = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
          for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return ws, bs, x, y


DATA = {case: make_data(*SIZES[case]) for case in SIZES}


def flat(grads):
    """Gradients in the order W1, b1, W2, b2, W3, b3 (W as (in, out)) as one float64 vector."""
    return np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in grads])


def reference_grads(ws, bs, x, y):
    """float64 hand-written forward + backward: [W1, b1, W2, b2, W3, b3] gradients."""
    ws = [w.astype(np.float64) for w in ws]
    bs = [b.astype(np.float64) for b in bs]
    hs = [x.astype(np.float64)]
    for i, (w, b) in enumerate(zip(ws, bs)):
        z = hs[-1] @ w + b
        hs.append(np.maximum(z, 0) if i < len(ws) - 1 else z)
    z = hs.pop()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    d = p / len(y)
    grads = []
    for i in reversed(range(len(ws))):
        grads[:0] = [hs[i].T @ d, d.sum(0)]
        if i:
            d = (d @ ws[i].T) * (hs[i] > 0)
    return grads


_REF = {}


def verify(case, fw, out):
    """Each gradient block vs float64 to 1e-3 of that block's largest entry (float32 sums)."""
    ws, bs, x, y = DATA[case]
    if fw.endswith("gemm-floor"):  # no gradient: the first forward GEMM, x @ W1
        want = x.astype(np.float64) @ ws[0].astype(np.float64)
        np.testing.assert_allclose(out.reshape(want.shape), want, rtol=1e-3,
                                   atol=1e-4 * np.abs(want).max(), err_msg=f"mlp_step/{case}/{fw}")
        return
    if case not in _REF:
        _REF[case] = reference_grads(ws, bs, x, y)
    check_blocks(out, _REF[case], f"mlp_step/{case}/{fw}")


def check_blocks(out, reference, label):
    """The flat gradient `out` vs the reference blocks, each to 1e-3 in relative norm.

    Not entry by entry: in float32 some pre-activations of the wide cases (XL's 4096 units
    by 1024 samples) round to the other side of relu's kink than in float64, which moves a
    few hundredths of a percent of the first layer's entries by more than 1e-3 of the largest
    (torch and pyad, CPU and GPU, all alike), while a wrong gradient is off by O(1)."""
    k = 0
    for i, want in enumerate(reference):
        got = np.asarray(out[k:k + want.size], dtype=np.float64).reshape(want.shape)
        k += want.size
        err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-300)
        assert err <= 1e-3, f"{label}: gradient block {i} off by {err:.2e} in relative norm"
    assert k == out.size, f"{label}: {out.size} gradient entries, expected {k}"


def pyad_case(sizes, ws, bs, x, y, compiled=False, device=None, wrap=None, optimizer="sgd"):
    """(step, check) of pyad's SGD step (nn.MLP + nn.softmax_cross_entropy + backward() +
    optim.SGD.step()) from these weights and batch, on `device` (None: the CPU); compiled:
    under ad.compile, recorded and checked here, outside the timing; wrap: applied to the
    optimizer (pyad.distributed.DistributedOptimizer for the `dist` workload); optimizer
    "adam": optim.Adam instead (bench/cuda_profile.py)."""
    import pyad as ad
    from pyad import nn, optim
    model = nn.MLP(sizes, activation="relu", seed=0)
    start = {f"{2 * i}.{k}": v for i, (w, b) in enumerate(zip(ws, bs))
             for k, v in (("weight", w), ("bias", b))}
    model.load_state_dict(start)
    if device is not None:
        model.to(device)
        x = ad.tensor(x, device=device)
    opt = {"sgd": optim.SGD, "adam": optim.Adam}[optimizer](model.parameters(), lr=LR)
    if wrap is not None:
        opt = wrap(opt)

    def step():
        opt.zero_grad()
        loss = nn.softmax_cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    if compiled:
        step = ad.compile(step)
        step(), step()
        model.load_state_dict(start)    # in place: the checked step starts where eager does

    def check():
        step()
        return flat(ad.backend.to_host(p.grad.data) for p in model.parameters())
    return step, check


def torch_case(ws, bs, x, y, device="cpu", optimizer="sgd"):
    """(step, check) of torch's eager SGD step (nn.Sequential, F.cross_entropy, optim.SGD)
    from these weights and batch, on `device`; optimizer "adam": optim.Adam instead (its
    default implementation, as a user gets it)."""
    import torch
    import torch.nn.functional as F
    layers = []
    for i, (w, b) in enumerate(zip(ws, bs)):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin] + ([torch.nn.ReLU()] if i < len(ws) - 1 else [])
    model = torch.nn.Sequential(*layers).to(device)
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer](model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    def check():
        step()
        return flat(p.grad.T.cpu().numpy() for p in model.parameters())
    return step, check


@framework(FRAMEWORKS, "pyad", needs=["pyad"])
def _pyad(compiled=False):
    """nn.MLP + nn.softmax_cross_entropy + loss.backward() + optim.SGD.step()."""
    return {case: pyad_case(sizes, *DATA[case], compiled=compiled)
            for case, (sizes, _) in SIZES.items()}


@framework(FRAMEWORKS, "pyad-compiled", needs=["pyad"])
def _pyad_compiled():
    """As `pyad`, the step wrapped in ad.compile (recorded twice, then replayed)."""
    return _pyad(compiled=True)


@framework(FRAMEWORKS, "pyad-compiled-openblas", needs=["pyad"])
def _pyad_compiled_openblas():
    """As `pyad-compiled`, on numpy's OpenBLAS (the install without the mkl wheel)."""
    import os
    os.environ["PYAD_BLAS"] = "openblas"
    return _pyad(compiled=True)


@framework(FRAMEWORKS, "pyad-openblas", needs=["pyad"])
def _pyad_openblas():
    """As `pyad`, on numpy's OpenBLAS (PYAD_BLAS=openblas): the install without the mkl wheel."""
    import os
    os.environ["PYAD_BLAS"] = "openblas"
    return _pyad()


@framework(FRAMEWORKS, "pyad-value_and_grad", needs=["pyad"])
def _pyad_functional():
    """ad.value_and_grad over a dict of numpy parameters; the update is numpy in place."""
    import pyad as ad
    from pyad import nn

    def loss_fn(params, x, y):
        h = x
        for i in range(3):
            h = h @ params[f"W{i}"] + params[f"b{i}"]
            if i < 2:
                h = ad.relu(h)
        return nn.softmax_cross_entropy(h, y)
    vg = ad.value_and_grad(loss_fn)
    cases = {}
    for case in SIZES:
        ws, bs, x, y = DATA[case]
        params = {}
        for i, (w, b) in enumerate(zip(ws, bs)):
            params[f"W{i}"], params[f"b{i}"] = w.copy(), b.copy()
        last = {}

        def step(params=params, x=x, y=y, last=last):
            loss, g = vg(params, x, y)
            for k, v in params.items():
                v -= LR * g[k]
            last["g"] = g
            return loss

        def check(step=step, last=last):
            step()
            g = last["g"]
            return flat(g[f"{n}{i}"] for i in range(3) for n in "Wb")
        cases[case] = (step, check)
    return cases


@framework(FRAMEWORKS, "torch", needs=["torch"])
def _torch():
    """Eager nn.Sequential, F.cross_entropy, optim.SGD (torch's default threads)."""
    return {case: torch_case(*DATA[case]) for case in SIZES}


@framework(FRAMEWORKS, "jax-jit", needs=["jax", "jaxlib"])
def _jax():
    """jax.jit of value_and_grad + the SGD update; parameters carried from step to step."""
    import jax
    import jax.numpy as jnp

    def loss_fn(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def train_step(params, x, y):
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        new = jax.tree_util.tree_map(lambda p, d: p - LR * d, params, g)
        return new, loss, g

    cases = {}
    for case in SIZES:
        ws, bs, x, y = DATA[case]
        state = {"params": [(jnp.asarray(w), jnp.asarray(b)) for w, b in zip(ws, bs)]}
        xj, yj = jnp.asarray(x), jnp.asarray(y)
        jax.block_until_ready(train_step(state["params"], xj, yj))   # compile outside timing

        def step(state=state, xj=xj, yj=yj):
            state["params"], loss, state["g"] = train_step(state["params"], xj, yj)
            return loss.block_until_ready()

        def check(step=step, state=state):
            step()
            return flat(np.asarray(t) for pair in state["g"] for t in pair)
        cases[case] = (step, check)
    return cases


@framework(FRAMEWORKS, "autograd", needs=["autograd"])
def _autograd():
    """autograd.value_and_grad over a list of (W, b); numpy update in place."""
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    def loss_fn(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = anp.dot(h, w) + b
            if i < len(params) - 1:
                h = anp.maximum(h, 0.0)
        return anp.mean(logsumexp(h, axis=1) - h[anp.arange(len(y)), y])
    vg = autograd.value_and_grad(loss_fn)
    cases = {}
    for case in SIZES:
        ws, bs, x, y = DATA[case]
        params = [(w.copy(), b.copy()) for w, b in zip(ws, bs)]
        last = {}

        def step(params=params, x=x, y=y, last=last):
            loss, g = vg(params, x, y)
            for (w, b), (gw, gb) in zip(params, g):
                w -= LR * gw
                b -= LR * gb
            last["g"] = g
            return loss

        def check(step=step, last=last):
            step()
            return flat(t for pair in last["g"] for t in pair)
        cases[case] = (step, check)
    return cases


def _numpy_step(ws, bs, x, y, update=True):
    """Forward, backward and update by hand, the way a careful numpy user writes it:
    in-place relu and bias adds, the softmax gradient built in place, relu masks by index."""
    n = len(y)
    rows = np.arange(n)
    h1 = x @ ws[0]
    h1 += bs[0]
    np.maximum(h1, 0, out=h1)
    h2 = h1 @ ws[1]
    h2 += bs[1]
    np.maximum(h2, 0, out=h2)
    z = h2 @ ws[2]
    z += bs[2]
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    s = z.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) - np.log(z[rows, y]))
    z /= s                                  # softmax
    z[rows, y] -= 1
    z *= np.float32(1.0 / n)                # d loss / d logits
    g3, gb3 = h2.T @ z, z.sum(axis=0)
    d2 = z @ ws[2].T
    d2[h2 <= 0] = 0
    g2, gb2 = h1.T @ d2, d2.sum(axis=0)
    d1 = d2 @ ws[1].T
    d1[h1 <= 0] = 0
    g1, gb1 = x.T @ d1, d1.sum(axis=0)
    grads = [g1, gb1, g2, gb2, g3, gb3]
    if not update:
        return loss, grads
    for p, g in zip((ws[0], bs[0], ws[1], bs[1], ws[2], bs[2]), grads):
        g *= np.float32(LR)
        p -= g
    return loss, grads


@framework(FRAMEWORKS, "numpy", needs=["numpy"])
def _numpy():
    """Hand-written forward/backward/update (the update scales the gradients in place)."""
    cases = {}
    for case in SIZES:
        ws, bs, x, y = DATA[case]
        ws, bs = [w.copy() for w in ws], [b.copy() for b in bs]

        def check(ws=ws, bs=bs, x=x, y=y):
            _numpy_step(ws, bs, x, y)                        # the timed code runs once
            return flat(_numpy_step(ws, bs, x, y, update=False)[1])
        cases[case] = (lambda ws=ws, bs=bs, x=x, y=y: _numpy_step(ws, bs, x, y)[0], check)
    return cases


@framework(FRAMEWORKS, "numpy-gemm-floor", needs=["numpy"])
def _floor(matmul=np.matmul):
    """The step's GEMMs alone, into preallocated outputs: 3 forward, 3 weight-gradient and 2
    input-gradient GEMMs (the first layer needs no input gradient). No elementwise work."""
    cases = {}
    for case in SIZES:
        ws, _, x, _ = DATA[case]
        n = x.shape[0]
        hs = [np.empty((n, w.shape[1]), np.float32) for w in ws]       # forward outputs
        gws = [np.empty_like(w) for w in ws]                           # weight gradients
        ds = [np.empty((n, w.shape[0]), np.float32) for w in ws[1:]]   # input gradients
        ins = [x, hs[0], hs[1]]

        def gemms(ws=ws, hs=hs, gws=gws, ds=ds, ins=ins):
            for a, w, h in zip(ins, ws, hs):
                matmul(a, w, out=h)
            matmul(hs[1].T, hs[2], out=gws[2])      # dz stands in as hs[2] (same shape)
            matmul(hs[2], ws[2].T, out=ds[1])
            matmul(hs[0].T, ds[1], out=gws[1])
            matmul(ds[1], ws[1].T, out=ds[0])
            matmul(ins[0].T, ds[0], out=gws[0])
            return hs[0]
        cases[case] = gemms
    return cases


@framework(FRAMEWORKS, "mkl-gemm-floor", needs=["numpy"])
def _mkl_floor():
    """The same GEMMs through MKL's cblas_sgemm (the `mkl` wheel's runtime, its own threads)."""
    return _floor(mkl_matmul())


def mkl_matmul():
    """out = a @ b for 2-D float32 arrays (C order or transposed views) by MKL's cblas_sgemm."""
    import ctypes
    import glob
    import sys
    found = sorted(glob.glob(f"{sys.prefix}/lib/libmkl_rt.so*"))
    if not found:
        raise RuntimeError("no MKL runtime: pip install mkl")
    lib = ctypes.CDLL(found[0])
    sgemm = lib.cblas_sgemm
    f, i, p = ctypes.c_float, ctypes.c_int, ctypes.c_void_p
    sgemm.argtypes = [i, i, i, i, i, i, f, p, i, p, i, f, p, i]
    sgemm.restype = None

    def layout(a):          # (trans, leading dimension) of a row-major operand
        return (111, a.strides[0] // 4) if a.flags.c_contiguous else (112, a.strides[1] // 4)

    def matmul(a, b, out):
        (ta, lda), (tb, ldb) = layout(a), layout(b)
        m, k = a.shape
        sgemm(101, ta, tb, m, b.shape[1], k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb,
              0.0, out.ctypes.data, out.shape[1])
        return out
    return matmul
