"""Workload `conv`: convolutional networks in float32, forward + backward.

Cases:
- `cnn`: the gradient (forward, mean softmax cross-entropy, backward) of a small CNN on a
  batch of 64 28x28 one-channel images: Conv2d(1, 32, 3, padding=1) - ReLU - MaxPool2d(2) -
  Conv2d(32, 64, 3, padding=1) - ReLU - MaxPool2d(2) - Flatten - Linear(3136, 10);
- `conv-S`, `conv-M`, `conv-L`: one Conv2d layer (3x3, padding 1, bias), the gradient of
  sum(conv(x) * r) in input, weight and bias: (64, 3, 32, 32) -> 16 channels,
  (64, 32, 14, 14) -> 64, (32, 64, 28, 28) -> 128;
- `smooth-grad`, `smooth-hvp`: the same CNN with tanh and average pooling (smooth, so the
  Hessian is checked against finite differences), its gradient and a Hessian-vector product
  in all parameters; the /own column divides by the framework's own `smooth-grad`.

Every framework starts from the same weights and batch. `numpy` is the network written by
hand (sliding windows and einsum, as a careful numpy user would); HIPS autograd has no
convolution primitive and is left out.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bench.workloads import framework

UNIT, PER_CALL = "ms", 1000
BASELINE, REFERENCE = "pyad", "numpy"
CASE_BASE = "smooth-grad"
FRAMEWORKS = {}
BATCH, SIDE, CLASSES = 64, 28, 10
LAYERS = {"conv-S": ((64, 3, 32, 32), 16), "conv-M": ((64, 32, 14, 14), 64),
          "conv-L": ((32, 64, 28, 28), 128)}
NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")        # w3 is (3136, 10): in, out

_rng = np.random.default_rng(0)


def _uniform(shape, fan_in):
    bound = 1.0 / np.sqrt(fan_in)
    return _rng.uniform(-bound, bound, shape).astype(np.float32)


PARAMS = {"w1": _uniform((32, 1, 3, 3), 9), "b1": _uniform((32,), 9),
          "w2": _uniform((64, 32, 3, 3), 288), "b2": _uniform((64,), 288),
          "w3": _uniform((64 * 7 * 7, CLASSES), 3136), "b3": _uniform((CLASSES,), 3136)}
V = {k: _rng.standard_normal(p.shape).astype(np.float32) for k, p in PARAMS.items()}
X = _rng.standard_normal((BATCH, 1, SIDE, SIDE)).astype(np.float32)
Y = _rng.integers(0, CLASSES, BATCH)
LAYER_DATA = {}
for _case, (_shape, _out) in LAYERS.items():
    _fan = _shape[1] * 9
    LAYER_DATA[_case] = (_rng.standard_normal(_shape).astype(np.float32),
                         _uniform((_out, _shape[1], 3, 3), _fan), _uniform((_out,), _fan),
                         _rng.standard_normal((_shape[0], _out) + _shape[2:]).astype(np.float32))


def flat(arrays):
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


# ----------------------------------------------------------------------------- numpy by hand
def conv_forward(x, w, b):
    win = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + b[None, :, None, None]


def conv_backward(x, w, gy, need_x=True):
    """(gx, gw, gb) of a 3x3, padding-1 convolution for the output cotangent gy."""
    win = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    gw = np.einsum("nohw,nchwij->ocij", gy, win, optimize=True)
    gx = None
    if need_x:
        h, wd = x.shape[2:]
        gxp = np.zeros(x.shape[:2] + (h + 2, wd + 2), dtype=x.dtype)
        for i in range(3):
            for j in range(3):
                gxp[:, :, i:i + h, j:j + wd] += np.einsum("nohw,oc->nchw", gy, w[:, :, i, j],
                                                          optimize=True)
        gx = gxp[:, :, 1:-1, 1:-1]
    return gx, gw, gy.sum(axis=(0, 2, 3))


def _windows2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, c, h // 2, w // 2, 4)


def _unwindows2(r, shape):
    n, c, h, w = shape
    return r.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def pool_forward(x, smooth):
    r = _windows2(x)
    if smooth:
        return r.mean(-1), None
    idx = r.argmax(-1)
    return np.take_along_axis(r, idx[..., None], -1)[..., 0], idx


def pool_backward(gy, idx, shape, smooth):
    if smooth:
        return _unwindows2(np.repeat(gy[..., None] / 4, 4, -1), shape)
    r = np.zeros(gy.shape + (4,), dtype=gy.dtype)
    np.put_along_axis(r, idx[..., None], gy[..., None], -1)
    return _unwindows2(r, shape)


def cnn_grads(p, x, y, smooth=False):
    """The loss and its gradient (in NAMES order) of the CNN, by hand in x's dtype."""
    act = np.tanh if smooth else (lambda z: np.maximum(z, 0))
    z1 = conv_forward(x, p["w1"], p["b1"])
    a1 = act(z1)
    h1, i1 = pool_forward(a1, smooth)
    z2 = conv_forward(h1, p["w2"], p["b2"])
    a2 = act(z2)
    h2, i2 = pool_forward(a2, smooth)
    f = h2.reshape(len(x), -1)
    logits = f @ p["w3"] + p["b3"]
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    loss = -np.mean(np.log(q[np.arange(len(y)), y]))
    q[np.arange(len(y)), y] -= 1
    d = q / len(y)
    g3, gb3 = f.T @ d, d.sum(0)
    dh2 = (d @ p["w3"].T).reshape(h2.shape)
    da2 = pool_backward(dh2, i2, a2.shape, smooth)
    dz2 = da2 * (1 - a2 * a2) if smooth else da2 * (z2 > 0)
    dh1, g2, gb2 = conv_backward(h1, p["w2"], dz2)
    da1 = pool_backward(dh1, i1, a1.shape, smooth)
    dz1 = da1 * (1 - a1 * a1) if smooth else da1 * (z1 > 0)
    _, g1, gb1 = conv_backward(x, p["w1"], dz1, need_x=False)
    return loss, [g1, gb1, g2, gb2, g3, gb3]


def _reference():
    """float64 gradients of every case; the smooth HVP by central differences of the
    gradient at steps 2e and e, Richardson-extrapolated."""
    p64 = {k: v.astype(np.float64) for k, v in PARAMS.items()}
    x64 = X.astype(np.float64)
    ref = {"cnn": flat(cnn_grads(p64, x64, Y)[1]),
           "smooth-grad": flat(cnn_grads(p64, x64, Y, smooth=True)[1])}

    def central(eps):
        plus = {k: p64[k] + eps * V[k] for k in NAMES}
        minus = {k: p64[k] - eps * V[k] for k in NAMES}
        return (flat(cnn_grads(plus, x64, Y, True)[1])
                - flat(cnn_grads(minus, x64, Y, True)[1])) / (2 * eps)
    ref["smooth-hvp"] = (4 * central(1e-4) - central(2e-4)) / 3
    for case, (x, w, b, r) in LAYER_DATA.items():
        gx, gw, gb = conv_backward(x.astype(np.float64), w.astype(np.float64),
                                   r.astype(np.float64))
        ref[case] = flat([gx, gw, gb])
    return ref


_REF = {}


def verify(case, fw, out):
    """Each gradient block vs float64 to 1e-3 of that block's largest entry (float32)."""
    if not _REF:
        _REF.update(_reference())
    want = _REF[case]
    np.testing.assert_allclose(out, want, rtol=2e-3, atol=2e-3 * np.abs(want).max(),
                               err_msg=f"conv/{case}/{fw}")


# ----------------------------------------------------------------------------- frameworks
@framework(FRAMEWORKS, "numpy", needs=["numpy"])
def _numpy():
    """The network by hand: sliding_window_view + einsum convolutions, reshaped pooling."""
    cases = {}
    for case, smooth in (("cnn", False), ("smooth-grad", True)):
        cases[case] = (lambda s=smooth: cnn_grads(PARAMS, X, Y, s),
                       lambda s=smooth: flat(cnn_grads(PARAMS, X, Y, s)[1]))
    for case, (x, w, b, r) in LAYER_DATA.items():
        def step(x=x, w=w, b=b, r=r):
            conv_forward(x, w, b)
            return conv_backward(x, w, r)
        cases[case] = (step, lambda step=step: flat(step()))
    return cases


@framework(FRAMEWORKS, "pyad", needs=["pyad"])
def _pyad():
    """pyad.nn layers + loss.backward() (cnn, conv-*); ad.grad / ad.hvp of the functional
    network (smooth-*)."""
    import pyad as ad
    from pyad import nn
    cases = {}
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3136, CLASSES))
    model.load_state_dict({"0.weight": PARAMS["w1"], "0.bias": PARAMS["b1"],
                           "3.weight": PARAMS["w2"], "3.bias": PARAMS["b2"],
                           "7.weight": PARAMS["w3"], "7.bias": PARAMS["b3"]})

    def cnn_step():
        model.zero_grad()
        loss = nn.softmax_cross_entropy(model(X), Y)
        loss.backward()
        return loss
    cases["cnn"] = (cnn_step, lambda: (cnn_step(), flat(p.grad for p in model.parameters()))[1])

    def smooth_loss(p):
        h = ad.avg_pool2d(ad.tanh(ad.conv2d(X, p["w1"], p["b1"], padding=1)), 2)
        h = ad.avg_pool2d(ad.tanh(ad.conv2d(h, p["w2"], p["b2"], padding=1)), 2)
        return nn.softmax_cross_entropy(ad.reshape(h, (BATCH, -1)) @ p["w3"] + p["b3"], Y)
    grad = ad.grad(smooth_loss)
    cases["smooth-grad"] = (lambda: grad(PARAMS),
                            lambda: flat(grad(PARAMS)[k] for k in NAMES))
    cases["smooth-hvp"] = (lambda: ad.hvp(smooth_loss, (PARAMS,), (V,)),
                           lambda: flat(ad.hvp(smooth_loss, (PARAMS,), (V,))[k] for k in NAMES))
    for case, (x, w, b, r) in LAYER_DATA.items():
        layer = nn.Conv2d(x.shape[1], w.shape[0], 3, padding=1)
        layer.load_state_dict({"weight": w, "bias": b})
        xt = ad.tensor(x, requires_grad=True)

        def step(layer=layer, xt=xt, r=r):
            layer.zero_grad()
            xt.grad = None
            loss = ad.sum(layer(xt) * r)
            loss.backward()
            return loss
        cases[case] = (step, lambda step=step, layer=layer, xt=xt: (
            step(), flat([xt.grad, layer.weight.grad, layer.bias.grad]))[1])
    return cases


@framework(FRAMEWORKS, "torch", needs=["torch"])
def _torch():
    """Eager torch.nn layers + loss.backward() (oneDNN convolutions); the HVP by double
    backward (torch.autograd.grad with create_graph)."""
    import torch
    import torch.nn.functional as F
    t = {k: torch.from_numpy(v.copy()) for k, v in PARAMS.items()}
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Conv2d(32, 64, 3, padding=1),
                                torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                torch.nn.Linear(3136, CLASSES))
    model.load_state_dict({"0.weight": t["w1"], "0.bias": t["b1"], "3.weight": t["w2"],
                           "3.bias": t["b2"], "7.weight": t["w3"].T.contiguous(),
                           "7.bias": t["b3"]})
    xt, yt = torch.from_numpy(X), torch.from_numpy(Y)

    def cnn_step():
        model.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        return loss

    def cnn_check():
        cnn_step()
        g = [p.grad for p in model.parameters()]
        g[4] = g[4].T
        return flat(a.numpy() for a in g)
    cases = {"cnn": (cnn_step, cnn_check)}
    leaves = [t[k].clone().requires_grad_(True) for k in NAMES]
    vt = [torch.from_numpy(V[k]) for k in NAMES]

    def smooth_loss(w1, b1, w2, b2, w3, b3):
        h = F.avg_pool2d(torch.tanh(F.conv2d(xt, w1, b1, padding=1)), 2)
        h = F.avg_pool2d(torch.tanh(F.conv2d(h, w2, b2, padding=1)), 2)
        return F.cross_entropy(h.reshape(BATCH, -1) @ w3 + b3, yt)

    def smooth_grad():
        return torch.autograd.grad(smooth_loss(*leaves), leaves)

    def smooth_hvp():
        g = torch.autograd.grad(smooth_loss(*leaves), leaves, create_graph=True)
        return torch.autograd.grad(g, leaves, vt)
    cases["smooth-grad"] = (smooth_grad, lambda: flat(a.numpy() for a in smooth_grad()))
    cases["smooth-hvp"] = (smooth_hvp, lambda: flat(a.numpy() for a in smooth_hvp()))
    for case, (x, w, b, r) in LAYER_DATA.items():
        layer = torch.nn.Conv2d(x.shape[1], w.shape[0], 3, padding=1)
        layer.load_state_dict({"weight": torch.from_numpy(w), "bias": torch.from_numpy(b)})
        xl = torch.from_numpy(x).requires_grad_(True)
        rl = torch.from_numpy(r)

        def step(layer=layer, xl=xl, rl=rl):
            layer.zero_grad()
            xl.grad = None
            loss = (layer(xl) * rl).sum()
            loss.backward()
            return loss
        cases[case] = (step, lambda step=step, layer=layer, xl=xl: (
            step(), flat(a.detach().numpy() for a in (xl.grad, layer.weight.grad,
                                                      layer.bias.grad)))[1])
    return cases


@framework(FRAMEWORKS, "jax-jit", needs=["jax", "jaxlib"])
def _jax():
    """jax.jit of value_and_grad (lax.conv_general_dilated, lax.reduce_window pooling); the
    HVP as jax.jvp of jax.grad, jitted."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(x, w, b):
        y = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    def pool(x, smooth):
        if smooth:
            return lax.reduce_window(x, 0.0, lax.add, (1, 1, 2, 2), (1, 1, 2, 2), "VALID") / 4
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss(p, smooth):
        act = jnp.tanh if smooth else jax.nn.relu
        h = pool(act(conv(jnp.asarray(X), p["w1"], p["b1"])), smooth)
        h = pool(act(conv(h, p["w2"], p["b2"])), smooth)
        logits = h.reshape(BATCH, -1) @ p["w3"] + p["b3"]
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, jnp.asarray(Y)[:, None], axis=1))

    p = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    v = {k: jnp.asarray(a) for k, a in V.items()}
    grad_cnn = jax.jit(jax.grad(lambda p: loss(p, False)))
    grad_smooth = jax.jit(jax.grad(lambda p: loss(p, True)))
    hvp = jax.jit(lambda p, v: jax.jvp(jax.grad(lambda q: loss(q, True)), (p,), (v,))[1])
    cases = {}
    for case, fn in (("cnn", lambda: grad_cnn(p)), ("smooth-grad", lambda: grad_smooth(p)),
                     ("smooth-hvp", lambda: hvp(p, v))):
        jax.block_until_ready(fn())                        # compile outside the timing
        cases[case] = (lambda fn=fn: jax.block_until_ready(fn()),
                       lambda fn=fn: flat(np.asarray(fn()[k]) for k in NAMES))

    def layer_grads(x, w, b, r):
        return jax.grad(lambda x, w, b: jnp.sum(conv(x, w, b) * r), argnums=(0, 1, 2))(x, w, b)
    layer_step = jax.jit(layer_grads)
    for case, arrays in LAYER_DATA.items():
        args = [jnp.asarray(a) for a in arrays]
        jax.block_until_ready(layer_step(*args))
        cases[case] = (lambda args=args: jax.block_until_ready(layer_step(*args)),
                       lambda args=args: flat(np.asarray(a) for a in layer_step(*args)))
    return cases
