"""PyTorch's layers in pyad.nn (issue #15): values and gradients equal to torch's for the
same weights, BatchNorm's running statistics, Dropout's masks, buffers in state dicts,
PyTorch state dicts in and out, initialisers and error messages.

The torch comparisons skip where torch is not installed; the rest runs without it."""
import re

import numpy as np
import pytest

import pyad as ad
from pyad import nn

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")

TOL = {np.float32: 1e-6, np.float64: 1e-12}
DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]


def _np(t):
    return np.asarray(t.data if isinstance(t, ad.Tensor) else t)


def assert_close(got, want, dtype, what="", floor=1e-30):
    """Equal to TOL[dtype] relative to the largest entry of want (1e-6 in float32, 1e-12 in
    float64), or to `floor` where that is larger (values that are zero but for rounding),
    with the same shape."""
    got, want = _np(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), floor) if want.size else 1.0
    err = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
    assert err <= TOL[dtype] * scale, f"{what}: max error {err:.3g} vs scale {scale:.3g}"


# ============================================================================ torch side
def _torch():
    return pytest.importorskip("torch")


def assert_same_repr(player, tlayer):
    """pyad's repr is the newest torch's; older torch versions leave out BatchNorm's and
    LayerNorm's bias=."""
    mine, theirs = repr(player), repr(tlayer)
    if "bias=" not in theirs:
        mine = re.sub(r", bias=(True|False)(?=, track|\))", "", mine)
    assert mine == theirs, (mine, theirs)


def _torch_layer(cls, args, kwargs, dtype, seed=0):
    torch = _torch()
    torch.manual_seed(seed)
    layer = getattr(torch.nn, cls)(*args, **kwargs)
    layer = layer.double() if dtype == np.float64 else layer
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():        # parameters away from their trivial defaults (LayerNorm's ones)
        for p in layer.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 2 - 1)
    return layer


def _torch_run(layer, x, r, **call):
    """Output, input gradient and parameter gradients of sum(layer(x) * r) in torch."""
    torch = _torch()
    xt = torch.tensor(x, requires_grad=True)
    layer.zero_grad()
    out = layer(xt, **call)
    (out * torch.tensor(r)).sum().backward()
    grads = {n: p.grad.numpy().copy() for n, p in layer.named_parameters()}
    return out.detach().numpy(), xt.grad.numpy(), grads


def _pyad_run(layer, x, r, **call):
    """The same for a pyad layer, with Tensor.backward."""
    xt = ad.tensor(x, requires_grad=True)
    layer.zero_grad()
    out = layer(xt, **call)
    ad.sum(out * r).backward()
    grads = {n: _np(p.grad) for n, p in layer.named_parameters()}
    return _np(out), _np(xt.grad), grads


def _compare(tlayer, player, x, dtype, what, **call):
    """Forward values and gradients of sum(out * r) of the two layers, equal to TOL."""
    torch = _torch()
    with torch.no_grad():            # r has the output's shape (a forward without side effects
        tlayer_training = tlayer.training      # on BatchNorm's statistics: in eval mode)
        tlayer.eval()
        shape = tuple(tlayer(torch.tensor(x), **call).shape)
        tlayer.train(tlayer_training)
    r = np.random.default_rng(7).standard_normal(shape).astype(dtype)
    t_out, t_gx, t_g = _torch_run(tlayer, x, r, **call)
    p_out, p_gx, p_g = _pyad_run(player, x, r, **call)
    assert_close(p_out, t_out, dtype, f"{what} forward")
    assert p_out.dtype == dtype, (what, p_out.dtype)
    assert_close(p_gx, t_gx, dtype, f"{what} d/dinput")
    assert list(p_g) == list(t_g), (what, list(p_g), list(t_g))
    for name in t_g:
        assert_close(p_g[name], t_g[name], dtype, f"{what} d/d{name}")


def _check_layer(cls, args, kwargs, in_shape, dtype, params=True, call=None):
    tlayer = _torch_layer(cls, args, kwargs, dtype)
    extra = {"seed": 123, "dtype": dtype} if params else {}
    player = getattr(nn, cls)(*args, **kwargs, **extra)
    tsd = tlayer.state_dict()
    assert list(player.state_dict()) == list(tsd)          # same keys, same order
    player.load_torch_state_dict(tsd)
    for k, v in player.state_dict().items():
        np.testing.assert_array_equal(v, tsd[k].numpy())
    assert_same_repr(player, tlayer)
    x = np.random.default_rng(3).standard_normal(in_shape).astype(dtype)
    _compare(tlayer, player, x, dtype, f"{cls}{args}{kwargs}", **(call or {}))


# ============================================================================ layers vs torch
CONV2D = [
    ((3, 4, 3), {}, (2, 3, 7, 6)),
    ((3, 6, (3, 2)), {"stride": 2, "padding": 1}, (2, 3, 9, 8)),
    ((4, 6, 3), {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2},
     (2, 4, 9, 7)),
    ((3, 6, 3), {"groups": 3, "bias": False}, (1, 3, 6, 6)),
    ((3, 4, 3), {"padding": "same", "dilation": 2}, (2, 3, 8, 7)),
    ((3, 4, (2, 4)), {"padding": "same"}, (2, 3, 6, 7)),
    ((3, 4, 3), {"padding": "valid", "bias": False}, (2, 3, 6, 5)),
    ((3, 4, 3), {"padding": 2, "padding_mode": "reflect"}, (2, 3, 6, 5)),
    ((3, 4, 3), {"padding": (1, 2), "padding_mode": "replicate", "stride": 2}, (2, 3, 7, 6)),
    ((3, 4, 3), {"padding": 2, "padding_mode": "circular", "dilation": 2}, (2, 3, 6, 5)),
    ((3, 4, 4), {"padding": "same", "padding_mode": "reflect"}, (2, 3, 7, 6)),
    ((2, 4, (3, 2)), {"padding": "same", "padding_mode": "circular", "groups": 2},
     (2, 2, 5, 6)),
    ((3, 4, 3), {"padding": 1, "padding_mode": "replicate"}, (3, 6, 5)),     # unbatched
    ((3, 4, 3), {"padding": 1}, (3, 6, 5)),                                    # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kwargs, shape", CONV2D)
def test_conv2d_matches_torch(args, kwargs, shape, dtype):
    _check_layer("Conv2d", args, kwargs, shape, dtype)


CONV1D = [
    ((2, 4, 3), {}, (3, 2, 9)),
    ((4, 6, 5), {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}, (2, 4, 13)),
    ((2, 3, 4), {"padding": "same", "bias": False}, (2, 2, 8)),
    ((2, 3, 3), {"padding": 2, "padding_mode": "reflect"}, (2, 2, 6)),
    ((2, 3, 3), {"padding": 1, "padding_mode": "circular", "stride": 2}, (2, 2, 7)),
    ((2, 3, 4), {"padding": "same", "padding_mode": "replicate"}, (2, 2, 7)),
    ((2, 3, 3), {}, (2, 7)),                                                    # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kwargs, shape", CONV1D)
def test_conv1d_matches_torch(args, kwargs, shape, dtype):
    _check_layer("Conv1d", args, kwargs, shape, dtype)


CONV_T = [
    ((3, 4, 3), {}, (2, 3, 5, 4)),
    ((4, 6, 4), {"stride": 2, "padding": 1}, (2, 4, 5, 5)),
    ((4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}, (2, 4, 4, 5)),
    ((3, 2, (3, 2)), {"stride": (2, 3), "dilation": 2, "output_padding": (1, 2),
                      "bias": False}, (1, 3, 4, 3)),
    ((3, 4, 3), {"stride": 2}, (3, 4, 4)),                                      # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kwargs, shape", CONV_T)
def test_conv_transpose2d_matches_torch(args, kwargs, shape, dtype):
    _check_layer("ConvTranspose2d", args, kwargs, shape, dtype)


@pytest.mark.parametrize("output_size", [(10, 10), (11, 12), [2, 6, 12, 11]])
def test_conv_transpose2d_output_size_matches_torch(output_size):
    _check_layer("ConvTranspose2d", (6, 3, 3), {"stride": 3, "padding": 1}, (2, 6, 4, 4),
                 np.float64, call={"output_size": output_size})


MAXPOOL = [
    ((2,), {}, (2, 3, 8, 6)),
    ((3,), {"stride": 2, "padding": 1}, (2, 3, 9, 8)),
    ((3,), {"stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 8, 8)),
    (((3, 2),), {"stride": (2, 1), "dilation": 2}, (1, 2, 9, 7)),
    ((2, 1), {}, (3, 5, 4)),                                                    # unbatched
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kwargs, shape", MAXPOOL)
def test_max_pool2d_matches_torch(args, kwargs, shape, dtype):
    _check_layer("MaxPool2d", args, kwargs, shape, dtype, params=False)


AVGPOOL = [
    ((2,), {}, (2, 3, 8, 6)),
    ((3,), {"stride": 2, "padding": 1}, (2, 3, 9, 8)),
    ((3, 2, 1), {"ceil_mode": True, "count_include_pad": False}, (2, 3, 8, 8)),
    ((3, 2, 1), {"ceil_mode": True}, (2, 3, 8, 7)),
    ((2,), {"divisor_override": 3}, (2, 3, 6, 6)),
    (((3, 2),), {"stride": 1, "padding": (1, 0), "count_include_pad": False}, (3, 5, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kwargs, shape", AVGPOOL)
def test_avg_pool2d_matches_torch(args, kwargs, shape, dtype):
    _check_layer("AvgPool2d", args, kwargs, shape, dtype, params=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size, shape", [(1, (2, 3, 7, 6)), ((3, 5), (2, 3, 7, 6)),
                                         ((4, None), (2, 3, 9, 8)), ((5, 4), (2, 3, 9, 8)),
                                         ((2, 2), (3, 5, 5))])
def test_adaptive_avg_pool2d_matches_torch(size, shape, dtype):
    _check_layer("AdaptiveAvgPool2d", (size,), {}, shape, dtype, params=False)


LAYERNORM = [
    ((6,), {}, (4, 6)),
    (((5, 6),), {}, (2, 3, 5, 6)),
    ((6,), {"elementwise_affine": False}, (3, 4, 6)),
    ((6,), {"bias": False, "eps": 1e-3}, (3, 6)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args, kwargs, shape", LAYERNORM)
def test_layer_norm_matches_torch(args, kwargs, shape, dtype):
    _check_layer("LayerNorm", args, kwargs, shape, dtype)


ACTIVATIONS = [
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("SiLU", (), {}),
    ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {}),
    ("ELU", (), {"alpha": 0.5}), ("LogSigmoid", (), {}),
    ("Flatten", (), {}), ("Flatten", (0, 2), {}), ("Flatten", (), {"start_dim": 2}),
    ("Flatten", (-3, -2), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls, args, kwargs", ACTIVATIONS)
def test_activations_and_flatten_match_torch(cls, args, kwargs, dtype):
    _check_layer(cls, args, kwargs, (3, 4, 2, 5), dtype, params=False)


# ----------------------------------------------------------------------------- BatchNorm
BATCHNORM = [
    ("BatchNorm1d", {}, (6, 4)),
    ("BatchNorm1d", {"momentum": 0.3}, (5, 4, 7)),
    ("BatchNorm1d", {"momentum": None}, (6, 4)),
    ("BatchNorm2d", {}, (3, 4, 5, 6)),
    ("BatchNorm2d", {"momentum": None, "eps": 1e-3}, (2, 4, 3, 5)),
    ("BatchNorm2d", {"affine": False}, (3, 4, 5, 6)),
    ("BatchNorm2d", {"track_running_stats": False}, (3, 4, 5, 6)),
    ("BatchNorm1d", {"affine": False, "track_running_stats": False}, (5, 4, 3)),
]
try:                                  # torch >= 2.6 (or so) has BatchNorm's bias=False
    import inspect as _inspect
    import torch as _torch_mod
    if "bias" in _inspect.signature(_torch_mod.nn.BatchNorm2d.__init__).parameters:
        BATCHNORM.append(("BatchNorm2d", {"bias": False}, (3, 4, 2, 3)))
except ImportError:
    pass


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls, kwargs, shape", BATCHNORM)
def test_batch_norm_train_and_eval_match_torch(cls, kwargs, shape, dtype):
    torch = _torch()
    tlayer = _torch_layer(cls, (4,), kwargs, dtype)
    player = getattr(nn, cls)(4, **kwargs, dtype=dtype)
    assert list(player.state_dict()) == list(tlayer.state_dict())
    player.load_torch_state_dict(tlayer.state_dict())
    assert_same_repr(player, tlayer)
    rng = np.random.default_rng(11)
    for step in range(4):                        # training: batch statistics, running ones move
        x = (rng.standard_normal(shape) * 3 + 1.5).astype(dtype)
        _compare(tlayer, player, x, dtype, f"{cls} {kwargs} train step {step}")
        for name, buf in tlayer.named_buffers():
            got = dict(player.named_buffers())[name]
            assert_close(got, buf.numpy(), dtype, f"{cls} {kwargs} {name} after step {step}")
    if player.track_running_stats:
        assert int(_np(player.num_batches_tracked)) == int(tlayer.num_batches_tracked) == 4
        assert _np(player.num_batches_tracked).dtype == np.int64
        assert player.running_mean.dtype == dtype
    tlayer.eval()
    player.eval()
    x = rng.standard_normal(shape).astype(dtype)
    before = {k: v.copy() for k, v in player.state_dict().items()}
    _compare(tlayer, player, x, dtype, f"{cls} {kwargs} eval")
    for k, v in player.state_dict().items():      # evaluation changes no statistics
        np.testing.assert_array_equal(v, before[k])
    del torch


def test_batch_norm_cumulative_average_is_the_plain_mean():
    bn = nn.BatchNorm1d(3, momentum=None, dtype=np.float64)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((8, 3)) + i for i in range(5)]
    for b in batches:
        bn(b)
    np.testing.assert_allclose(_np(bn.running_mean), np.mean([b.mean(0) for b in batches], 0),
                               rtol=1e-12)
    np.testing.assert_allclose(_np(bn.running_var),
                               np.mean([b.var(0, ddof=1) for b in batches], 0), rtol=1e-12)
    assert int(_np(bn.num_batches_tracked)) == 5


def test_batch_norm_without_torch():
    bn = nn.BatchNorm2d(2, momentum=0.5, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 2, 3, 3)) * 2 + 1
    y = _np(bn(x))
    mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
    np.testing.assert_allclose(y, (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(bn.running_mean), 0.5 * mean, rtol=1e-12)
    n = x.size / 2
    np.testing.assert_allclose(_np(bn.running_var), 0.5 + 0.5 * var * n / (n - 1), rtol=1e-12)
    assert _np(bn.num_batches_tracked) == 1
    bn.eval()
    np.testing.assert_allclose(
        _np(bn(x)), (x - _np(bn.running_mean)[:, None, None])
        / np.sqrt(_np(bn.running_var)[:, None, None] + 1e-5), rtol=1e-12)
    assert _np(bn.num_batches_tracked) == 1                 # eval does not count
    bn.reset_running_stats()
    assert np.all(_np(bn.running_mean) == 0) and np.all(_np(bn.running_var) == 1)
    assert _np(bn.num_batches_tracked) == 0


def test_batch_norm_gradient_under_ad_grad_matches_backward():
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    bn.weight.data[...] = [0.5, 2.0, -1.0]
    x = np.random.default_rng(1).standard_normal((6, 3))
    r = np.random.default_rng(2).standard_normal((6, 3))
    gx = ad.grad(lambda v: ad.sum(bn(v) * r))(x)
    xt = ad.tensor(x, requires_grad=True)
    ad.sum(bn(xt) * r).backward()
    np.testing.assert_allclose(gx, _np(xt.grad), rtol=1e-12, atol=1e-14)
    assert int(_np(bn.num_batches_tracked)) == 2


# ----------------------------------------------------------------------------- Dropout
def test_dropout_backward_uses_the_forward_mask():
    drop = nn.Dropout(0.3, seed=0)
    x = ad.tensor(np.ones((50, 40)), requires_grad=True)
    r = np.random.default_rng(0).standard_normal((50, 40))
    out = drop(x)
    ad.sum(out * r).backward()
    y = _np(out)
    assert set(np.unique(y).round(12)) == {0.0, round(1 / 0.7, 12)}
    np.testing.assert_allclose(_np(x.grad), y * r, rtol=1e-15)      # same mask, same scale
    gx = ad.grad(lambda v: ad.sum(drop(v) * v))(np.full(5, 2.0))     # d(m s v^2)/dv = 2 m s v
    assert set(np.unique(gx).round(12)) <= {0.0, round(4 / 0.7, 12)}


def test_dropout_reproducible_with_seed_and_advancing():
    a, b = nn.Dropout(0.5, seed=42), nn.Dropout(0.5, seed=42)
    x = np.ones(1000)
    first, second = _np(a(x)), _np(a(x))
    assert not np.array_equal(first, second)                        # the generator advances
    np.testing.assert_array_equal(_np(b(x)), first)                  # a run is reproducible
    np.testing.assert_array_equal(_np(b(x)), second)
    g = np.random.default_rng(5)
    c = nn.Dropout(0.5, seed=g)
    assert c.generator is g
    np.testing.assert_array_equal(_np(c(x)), _np(nn.Dropout(0.5, seed=5)(x)))


def test_dropout_eval_identity_and_expectation():
    drop = nn.Dropout(0.25, seed=1)
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_array_equal(_np(drop.eval()(x)), x)
    drop.train()
    big = _np(drop(np.ones(400_000)))
    assert abs(big.mean() - 1.0) < 0.01                     # scaled by 1 / (1 - p)
    assert abs((big == 0).mean() - 0.25) < 0.005
    np.testing.assert_array_equal(_np(nn.Dropout(0.0)(x)), x)
    np.testing.assert_array_equal(_np(nn.Dropout(1.0)(x)), np.zeros_like(x))
    f32 = nn.Dropout(0.5, seed=0)(np.ones(4, np.float32))
    assert f32.dtype == np.float32
    assert nn.Dropout().parameters() == [] and nn.Dropout().state_dict() == {}


# ============================================================================ a small CNN
def _cnn_pyad(dtype):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, seed=0, dtype=dtype), nn.BatchNorm2d(8, dtype=dtype),
        nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1, seed=1, dtype=dtype),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10, seed=2, dtype=dtype))


def _cnn_torch(dtype, seed=0):
    torch = _torch()
    torch.manual_seed(seed)
    tn = torch.nn
    model = tn.Sequential(tn.Conv2d(3, 8, 3, padding=1), tn.BatchNorm2d(8), tn.ReLU(),
                          tn.MaxPool2d(2), tn.Conv2d(8, 16, 3, padding=1), tn.ReLU(),
                          tn.AdaptiveAvgPool2d(1), tn.Flatten(), tn.Linear(16, 10))
    return model.double() if dtype == np.float64 else model


def _torch_grads_as_pyad(model):
    """torch's parameter gradients by name, Linear weights in pyad's (in, out) layout."""
    torch = _torch()
    return {n: (p.grad.numpy().T if isinstance(m, torch.nn.Linear) and n.endswith("weight")
                else p.grad.numpy())
            for mn, m in model.named_modules() for n, p in
            ((f"{mn}.{k}" if mn else k, v) for k, v in m.named_parameters(recurse=False))}


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_cnn_state_dict_forward_backward_and_round_trip(dtype):
    torch = _torch()
    tm, pm = _cnn_torch(dtype), _cnn_pyad(dtype)
    assert list(pm.state_dict()) == list(tm.state_dict())           # identical keys, order
    assert set(pm.state_dict()) == set(tm.state_dict())
    assert repr(pm) != "" and "BatchNorm2d(8" in repr(pm)
    rng = np.random.default_rng(0)
    with torch.no_grad():                          # give BatchNorm non-trivial statistics
        for _ in range(3):
            tm(torch.tensor(rng.standard_normal((4, 3, 8, 8)).astype(dtype)))
    pm.load_torch_state_dict(tm.state_dict())
    assert int(_np(pm[1].num_batches_tracked)) == 3
    x = rng.standard_normal((4, 3, 8, 8)).astype(dtype)
    r = rng.standard_normal((4, 10)).astype(dtype)
    for mode in ("eval", "train"):
        getattr(tm, mode)()
        getattr(pm, mode)()
        xt = torch.tensor(x, requires_grad=True)
        tm.zero_grad()
        t_out = tm(xt)
        (t_out * torch.tensor(r)).sum().backward()
        xp = ad.tensor(x, requires_grad=True)
        pm.zero_grad()
        p_out = pm(xp)
        ad.sum(p_out * r).backward()
        assert_close(p_out, t_out.detach().numpy(), dtype, f"cnn {mode} forward")
        assert_close(xp.grad, xt.grad.numpy(), dtype, f"cnn {mode} d/dx")
        t_grads = _torch_grads_as_pyad(tm)
        for name, p in pm.named_parameters():
            # in training mode BatchNorm removes the first conv's bias: its gradient is 0
            # but for rounding, compared on the scale of that conv's weight gradient
            floor = np.abs(t_grads["0.weight"]).max() if name == "0.bias" else 1e-30
            assert_close(p.grad, t_grads[name], dtype, f"cnn {mode} d/d{name}", floor)
    # torch_state_dict() loads into a fresh torch model with strict=True
    fresh = _cnn_torch(dtype, seed=99)
    sd = pm.torch_state_dict()
    assert list(sd) == list(tm.state_dict())
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    for k, v in sd.items():                      # exactly pyad's values ...
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v)
    for k, v in tm.state_dict().items():         # ... and torch's (both trained a step)
        assert_close(fresh.state_dict()[k].numpy(), v.numpy(), dtype, k)
    assert fresh.state_dict()["1.num_batches_tracked"].dtype == torch.int64


def test_small_cnn_sgd_steps_match_torch():
    torch = _torch()
    dtype = np.float64
    tm, pm = _cnn_torch(dtype), _cnn_pyad(dtype)
    pm.load_torch_state_dict(tm.state_dict())
    t_opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    p_opt = ad.optim.SGD(pm.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.standard_normal((6, 3, 8, 8))
        y = rng.integers(0, 10, 6)
        t_opt.zero_grad()
        torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y)).backward()
        t_opt.step()
        p_opt.zero_grad()
        ad.losses.softmax_cross_entropy(pm(x), y).backward()
        p_opt.step()
    want = tm.state_dict()
    for k, v in pm.torch_state_dict().items():
        assert_close(v, want[k].numpy(), dtype, k)


# ============================================================================ buffers
class _WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = ad.tensor(np.ones(2), requires_grad=True)
        self.register_buffer("counts", np.zeros(3))                  # a plain array
        self.inner = nn.BatchNorm1d(2, dtype=np.float64)
        self.register_buffer("scale", ad.tensor(np.array(2.0)))      # a Tensor
        self.register_buffer("cache", np.ones(4), persistent=False)
        self.register_buffer("nothing", None)
        self.b = ad.tensor(np.zeros(2), requires_grad=True)

    def forward(self, x):
        self.counts[...] += 1
        return self.inner(x * self.w + self.b) * self.scale


def test_buffers_registration_attributes_and_order():
    m = _WithBuffers()
    assert isinstance(m.counts, np.ndarray) and isinstance(m.scale, ad.Tensor)
    assert m.nothing is None
    assert [n for n, _ in m.named_parameters()] == ["w", "b", "inner.weight", "inner.bias"]
    assert [n for n, _ in m.named_buffers()] == [
        "counts", "scale", "cache", "inner.running_mean", "inner.running_var",
        "inner.num_batches_tracked"]
    assert [n for n, _ in m.named_buffers(recurse=False)] == ["counts", "scale", "cache"]
    assert m.buffers()[0] is m.counts and m.buffers()[1] is m.scale
    # PyTorch's order: own parameters, own persistent buffers, then each child's
    assert list(m.state_dict()) == ["w", "b", "counts", "scale", "inner.weight", "inner.bias",
                                    "inner.running_mean", "inner.running_var",
                                    "inner.num_batches_tracked"]
    assert len(m.parameters()) == 4                           # buffers are not parameters
    # assigning an array replaces the buffer (in its place); None keeps the name out
    m.counts = np.full(3, 5.0)
    assert list(m.state_dict())[2] == "counts" and m.state_dict()["counts"][0] == 5.0
    m.counts = None
    assert "counts" not in m.state_dict() and "counts" not in dict(m.named_buffers())
    m.counts = np.zeros(3)
    assert list(m.state_dict())[2] == "counts"
    del m.cache
    assert "cache" not in dict(m.named_buffers()) and not hasattr(m, "cache")


def test_buffers_state_dict_copies_and_load_in_place():
    m = _WithBuffers()
    m(np.random.default_rng(0).standard_normal((5, 2)))
    sd = m.state_dict()
    assert sd["inner.num_batches_tracked"].dtype == np.int64
    assert sd["inner.num_batches_tracked"].shape == ()
    assert not np.shares_memory(sd["counts"], m.counts)
    other = _WithBuffers()
    counts, running = other.counts, other.inner.running_mean
    running_data = running.data
    other.load_state_dict(sd)
    assert other.counts is counts and other.inner.running_mean is running   # in place
    assert other.inner.running_mean.data is running_data
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    assert int(_np(other.inner.num_batches_tracked)) == 1
    assert _np(other.inner.num_batches_tracked).dtype == np.int64
    # missing / unexpected / misshapen buffers
    del sd["inner.running_var"]
    with pytest.raises(KeyError, match=r"missing keys \['inner\.running_var'\]"):
        other.load_state_dict(sd)
    other.load_state_dict(sd, strict=False)
    sd["inner.running_var"] = np.ones(3)
    with pytest.raises(ValueError, match=r"'inner\.running_var' has shape \(3,\) in the state "
                                         r"but \(2,\) in the model"):
        other.load_state_dict(sd)
    sd["inner.running_var"], sd["cache"] = np.ones(2), np.ones(4)     # not persistent
    with pytest.raises(KeyError, match=r"unexpected keys \['cache'\]"):
        other.load_state_dict(sd)


def test_buffers_save_load_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, seed=0), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(12, 2, seed=1))
    rng = np.random.default_rng(0)
    for _ in range(3):
        model(rng.standard_normal((4, 2, 4, 4)))
    path = tmp_path / "cnn.npz"
    ad.save(path, {"model": model.state_dict(), "epoch": 3})
    back = ad.load(path)
    assert list(back["model"]) == list(model.state_dict())
    assert back["model"]["1.num_batches_tracked"].dtype == np.int64
    fresh = nn.Sequential(nn.Conv2d(2, 3, 3, seed=5), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(12, 2, seed=6))
    fresh.load_state_dict(back["model"])
    x = rng.standard_normal((2, 2, 4, 4))
    np.testing.assert_array_equal(_np(fresh.eval()(x)), _np(model.eval()(x)))
    assert int(_np(fresh[1].num_batches_tracked)) == 3
    # a checkpoint of a model without buffers (as older versions wrote) still loads
    mlp = nn.MLP([3, 4, 2], seed=0)
    ad.save(tmp_path / "mlp.npz", mlp.state_dict())
    nn.MLP([3, 4, 2], seed=1).load_state_dict(ad.load(tmp_path / "mlp.npz"))


def test_to_moves_buffers_and_keeps_objects():
    m = _WithBuffers()
    scale, running = m.scale, m.inner.running_mean
    assert m.to("cpu") is m
    assert m.scale is scale and m.inner.running_mean is running
    assert isinstance(m.counts, np.ndarray)
    assert m.scale.device == "cpu"


def test_register_buffer_errors():
    m = _WithBuffers()
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("w", np.zeros(2))
    with pytest.raises(KeyError, match="empty or dotted"):
        m.register_buffer("a.b", np.zeros(2))
    with pytest.raises(TypeError, match="must be an array, a Tensor or None, got list"):
        m.register_buffer("new", [1.0, 2.0])
    with pytest.raises(TypeError, match="requires grad"):
        m.register_buffer("new", ad.tensor(np.ones(2), requires_grad=True))
    with pytest.raises(TypeError, match="cannot assign a str to the buffer 'counts'"):
        m.counts = "nope"

    class NoInit(nn.Module):
        def __init__(self):
            self.register_buffer("x", np.zeros(1))
    with pytest.raises(AttributeError, match="super"):
        NoInit()


def test_buffer_order_matches_torch():
    torch = _torch()

    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(2))
            self.register_buffer("counts", torch.zeros(3))
            self.inner = torch.nn.BatchNorm1d(2)
            self.register_buffer("scale", torch.tensor(2.0))
            self.register_buffer("cache", torch.ones(4), persistent=False)
            self.register_buffer("nothing", None)
            self.b = torch.nn.Parameter(torch.zeros(2))

    t, p = T(), _WithBuffers()
    assert list(p.state_dict()) == list(t.state_dict())
    assert [n for n, _ in p.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in p.named_parameters()] == [n for n, _ in t.named_parameters()]


# ============================================================================ torch state dicts
def test_load_torch_state_dict_without_torch():
    net = nn.Sequential(nn.Linear(3, 2, seed=0), nn.BatchNorm1d(2), nn.Linear(2, 1, seed=1))
    state = {"0.weight": np.arange(6.0).reshape(2, 3), "0.bias": np.ones(2),
             "1.weight": np.full(2, 2.0), "1.bias": np.zeros(2),
             "1.running_mean": np.ones(2), "1.running_var": np.full(2, 4.0),
             "1.num_batches_tracked": np.array(7), "2.weight": np.array([[1.0, -1.0]]),
             "2.bias": np.array([0.5])}
    assert net.load_torch_state_dict(state) is net
    np.testing.assert_array_equal(_np(net[0].weight), np.arange(6.0).reshape(2, 3).T)
    assert int(_np(net[1].num_batches_tracked)) == 7
    back = net.torch_state_dict()
    assert list(back) == list(state)
    for k in state:
        np.testing.assert_array_equal(back[k], state[k])
        assert back[k].flags.c_contiguous
    # the Linear layout is checked with torch's shapes in the message
    bad = dict(state, **{"0.weight": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"'0\.weight' has shape \(3, 2\).*Linear\(3, 2\) "
                                         r"expects PyTorch's \(out_features, in_features\) = "
                                         r"\(2, 3\)"):
        net.load_torch_state_dict(bad)
    with pytest.raises(KeyError, match=r"unexpected keys \['3\.weight'\]"):
        net.load_torch_state_dict(dict(state, **{"3.weight": np.zeros(1)}))
    net.load_torch_state_dict({"2.bias": np.array([1.5])}, strict=False)
    assert _np(net[2].bias)[0] == 1.5


def test_load_torch_state_dict_from_torch_tensors_with_grad_and_linear_alone():
    torch = _torch()
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    mine = nn.Linear(4, 3).load_torch_state_dict(dict(lin.named_parameters()))   # with grad
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    assert_close(mine(x), lin(torch.tensor(x)).detach().numpy(), np.float32, "linear")
    half = torch.nn.Linear(4, 3).to(torch.bfloat16)           # a dtype numpy lacks
    mine.load_torch_state_dict(half.state_dict())
    np.testing.assert_array_equal(_np(mine.weight), half.weight.detach().float().numpy().T)


# ============================================================================ initialisers
def test_conv_initialisers_are_torchs_uniform_bounds():
    conv = nn.Conv2d(16, 32, 5, groups=2, seed=0)
    bound = 1 / np.sqrt(8 * 25)
    w, b = _np(conv.weight), _np(conv.bias)
    assert w.shape == (32, 8, 5, 5) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.03)
    assert abs(w.mean()) < 0.03 * bound
    assert np.abs(b).max() <= bound and b.shape == (32,)
    t = nn.ConvTranspose2d(6, 12, 3, groups=3, seed=0, dtype=np.float64)
    assert _np(t.weight).shape == (6, 4, 3, 3) and _np(t.weight).dtype == np.float64
    bound_t = 1 / np.sqrt(4 * 9)                           # torch: weight.shape[1] * k * k
    assert np.abs(_np(t.weight)).max() <= bound_t and np.abs(_np(t.weight)).max() > 0.9 * bound_t
    c1 = nn.Conv1d(4, 300, 7, seed=1)
    bound_1 = 1 / np.sqrt(4 * 7)
    assert np.abs(_np(c1.weight)).max() <= bound_1
    assert np.abs(_np(c1.weight)).max() > 0.99 * bound_1
    assert np.abs(_np(c1.bias)).max() <= bound_1 and np.abs(_np(c1.bias)).max() > 0.9 * bound_1
    # seeded: the same seed gives the same weights; a Generator is advanced
    np.testing.assert_array_equal(_np(nn.Conv2d(3, 4, 3, seed=7).weight),
                                  _np(nn.Conv2d(3, 4, 3, seed=7).weight))
    g = np.random.default_rng(7)
    first, second = nn.Conv2d(3, 4, 3, seed=g), nn.Conv2d(3, 4, 3, seed=g)
    assert not np.array_equal(_np(first.weight), _np(second.weight))
    assert nn.Conv2d(3, 4, 3, bias=False).bias is None
    assert [n for n, _ in nn.Conv2d(3, 4, 3).named_parameters()] == ["weight", "bias"]


def test_conv_initial_bounds_agree_with_torchs():
    torch = _torch()
    torch.manual_seed(0)
    for cls, args in (("Conv2d", (6, 8, 3)), ("ConvTranspose2d", (6, 8, 3, 1, 0, 0, 2)),
                      ("Conv1d", (4, 6, 5))):
        t = getattr(torch.nn, cls)(*args)
        p = getattr(nn, cls)(*args, seed=0)
        tw, pw = t.weight.detach().numpy(), _np(p.weight)
        assert tw.shape == pw.shape
        # same distribution: same bound (the largest draws agree to a few percent)
        assert abs(np.abs(tw).max() - np.abs(pw).max()) < 0.1 * np.abs(tw).max()


def test_norm_layers_initial_values():
    bn = nn.BatchNorm2d(3)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(_np(bn.weight), np.ones(3, np.float32))
    np.testing.assert_array_equal(_np(bn.bias), np.zeros(3, np.float32))
    np.testing.assert_array_equal(_np(bn.running_mean), np.zeros(3))
    np.testing.assert_array_equal(_np(bn.running_var), np.ones(3))
    assert _np(bn.num_batches_tracked).dtype == np.int64 and _np(bn.num_batches_tracked) == 0
    assert not bn.running_mean.requires_grad
    plain = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert plain.parameters() == [] and plain.state_dict() == {}
    assert plain.running_mean is None and plain.weight is None
    y = _np(plain.eval()(np.arange(6.0).reshape(3, 2).T))       # batch statistics in eval too
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-7)
    ln = nn.LayerNorm((2, 3), bias=False, dtype=np.float64)
    assert ln.bias is None and _np(ln.weight).shape == (2, 3)
    assert list(ln.state_dict()) == ["weight"]


# ============================================================================ errors
@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError,
     "Conv2d: padding_mode must be one of 'zeros', 'reflect', 'replicate' or 'circular', "
     "got 'mirror'"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ValueError,
     "ConvTranspose2d: only padding_mode='zeros' is supported, got 'reflect'"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError,
     "Conv2d: in_channels (3) must be divisible by groups (2)"),
    (lambda: nn.Conv1d(4, 6, 3, groups=4), ValueError,
     "Conv1d: out_channels (6) must be divisible by groups (4)"),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ValueError,
     "Conv2d: padding='same' is not supported for strided convolutions (stride (2, 2))"),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), ValueError,
     "Conv2d: padding must be 'valid', 'same', an int or a tuple of 2 ints, got 'full'"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding="same"), ValueError,
     "ConvTranspose2d: padding must be an int or a tuple of 2 ints, got 'same'"),
    (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), ValueError,
     "output_padding (2, 2) must be smaller than either stride (2, 2) or dilation (1, 1)"),
    (lambda: nn.Conv2d(3, 4, (3, 3, 3)), TypeError,
     "Conv2d: kernel_size must be an int or a tuple of 2 ints, got (3, 3, 3)"),
    (lambda: nn.Conv2d(3, 4, 0), ValueError, "Conv2d: kernel_size must be >= 1, got 0"),
    (lambda: nn.Conv2d(0, 4, 3), ValueError, "Conv2d: in_channels must be a positive int"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError,
     "AvgPool2d: divisor_override must be a positive int, got 0"),
    (lambda: nn.Dropout(1.5), ValueError, "Dropout: p must be a probability in [0, 1], got 1.5"),
    (lambda: nn.BatchNorm2d(0), ValueError, "BatchNorm2d: num_features must be a positive int"),
    (lambda: nn.BatchNorm1d(3, momentum=2.0), ValueError,
     "BatchNorm1d: momentum must be in [0, 1] or None, got 2.0"),
    (lambda: nn.LayerNorm(()), ValueError, "LayerNorm: normalized_shape must be a positive int"),
    (lambda: nn.GELU("fast"), ValueError, "GELU: approximate must be 'none' or 'tanh', got "
                                          "'fast'"),
])
def test_constructor_errors(make, error, message):
    with pytest.raises(error) as e:
        make()
    assert message in str(e.value), str(e.value)


@pytest.mark.parametrize("layer, x, error, message", [
    (nn.BatchNorm2d(3), np.ones((2, 3, 4)), ValueError,
     "BatchNorm2d: expected 4D input (N, C, H, W), got 3D input of shape (2, 3, 4)"),
    (nn.BatchNorm1d(3), np.ones((2, 3, 4, 4)), ValueError,
     "BatchNorm1d: expected 2D or 3D input (N, C) or (N, C, L), got 4D input of shape "
     "(2, 3, 4, 4)"),
    (nn.BatchNorm1d(3), np.ones((4, 5)), ValueError,
     "BatchNorm1d: expected 3 channels (axis 1), got input of shape (4, 5)"),
    (nn.BatchNorm1d(3), np.ones((1, 3)), ValueError, "expected more than 1 value per channel"),
    (nn.Conv2d(3, 4, 3), np.ones((3, 5)), ValueError,
     "Conv2d: expected 3D (unbatched) or 4D (batched) input, got 2D input of shape (3, 5)"),
    (nn.Conv1d(2, 4, 3), np.ones((1, 2, 3, 4)), ValueError,
     "Conv1d: expected 2D (unbatched) or 3D (batched) input, got 4D input"),
    (nn.Conv2d(3, 4, 3), np.ones((1, 2, 5, 5)), ValueError, "input channels"),
    (nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect"), np.ones((1, 1, 3, 5)), ValueError,
     "Conv2d: padding 3 is too large for padding_mode='reflect' and an input of spatial "
     "size (3, 5) (at most 2)"),
    (nn.Conv1d(1, 1, 3, padding=4, padding_mode="circular"), np.ones((1, 1, 3)), ValueError,
     "padding 4 is too large for padding_mode='circular'"),
    (nn.Flatten(1, 3), np.ones((2, 3)), IndexError,
     "Flatten: dimension 3 is out of range for an input of shape (2, 3)"),
    (nn.Flatten(2, 1), np.ones((2, 3, 4)), ValueError, "Flatten: start_dim 2 comes after "
                                                        "end_dim 1"),
])
def test_call_errors(layer, x, error, message):
    with pytest.raises(error) as e:
        layer(x)
    assert message in str(e.value), str(e.value)


def test_conv_transpose_output_size_errors_and_repr():
    up = nn.ConvTranspose2d(2, 2, 3, stride=2)
    with pytest.raises(ValueError, match=r"requested an output size of \(20, 9\), but valid "
                                         r"sizes .* range from 9 to 10 along axis 0"):
        up(np.ones((1, 2, 4, 4)), output_size=(20, 9))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        up(np.ones((1, 2, 4, 4)), output_size=(9,))
    assert up(np.ones((1, 2, 4, 4)), output_size=(10, 9)).shape == (1, 2, 10, 9)


def test_reprs_without_torch():
    assert repr(nn.Conv2d(3, 8, (3, 1), stride=2, dilation=2, groups=1, bias=False,
                          padding_mode="circular", padding=1)) == (
        "Conv2d(3, 8, kernel_size=(3, 1), stride=(2, 2), padding=(1, 1), dilation=(2, 2), "
        "bias=False, padding_mode=circular)")
    assert repr(nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1, groups=2)) == (
        "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1), "
        "groups=2)")
    assert repr(nn.BatchNorm1d(4, momentum=None)) == (
        "BatchNorm1d(4, eps=1e-05, momentum=None, affine=True, bias=True, "
        "track_running_stats=True)")
    assert repr(nn.LayerNorm([2, 3], elementwise_affine=False)) == (
        "LayerNorm((2, 3), eps=1e-05, elementwise_affine=False, bias=False)")
    assert repr(nn.MaxPool2d(3, 1, 1)) == (
        "MaxPool2d(kernel_size=3, stride=1, padding=1, dilation=1, ceil_mode=False)")
    assert repr(nn.LeakyReLU(0.1, inplace=True)) == "LeakyReLU(negative_slope=0.1, inplace=True)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1, inplace=False)"


def test_layers_follow_their_parameters_dtype():
    conv = nn.Conv2d(2, 3, 3, seed=0)
    assert conv(np.ones((1, 2, 4, 4))).dtype == np.float32                # float64 in
    conv64 = nn.Conv2d(2, 3, 3, seed=0, dtype=np.float64)
    assert conv64(np.ones((1, 2, 4, 4), np.float32)).dtype == np.float64
    assert nn.BatchNorm2d(2)(np.ones((2, 2, 2, 2))).dtype == np.float32
    assert nn.LayerNorm(4, dtype=np.float64)(np.ones((2, 4), np.float32)).dtype == np.float64
    assert nn.ConvTranspose2d(2, 1, 2)(np.ones((1, 2, 3, 3), np.int64)).dtype == np.float32


def test_conv2d_gradient_with_ad_grad_and_second_order():
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect", seed=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    r = np.random.default_rng(1).standard_normal((1, 3, 5, 5))
    gx = ad.grad(lambda v: ad.sum(conv(v) * r))(x)
    xt = ad.tensor(x, requires_grad=True)
    ad.sum(conv(xt) * r).backward()
    np.testing.assert_allclose(gx, _np(xt.grad), rtol=1e-12, atol=1e-14)
    ad.check_grads(lambda v: ad.sum(ad.tanh(conv(v)) * r), (x,), order=2, modes=("rev",))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_under_ad_compile_updates_its_statistics(momentum):
    """The running statistics and the count are updated by every replay of a compiled
    training step, and a compiled evaluation reads their current values."""
    def model():
        return nn.Sequential(nn.Linear(3, 4, seed=0, dtype=np.float64),
                             nn.BatchNorm1d(4, momentum=momentum, dtype=np.float64))

    def training_step(m):
        opt = ad.optim.SGD(m.parameters(), lr=0.1)

        def step(x):
            loss = ad.sum(m(x) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    compiled_model, eager_model = model(), model()
    compiled, eager = ad.compile(training_step(compiled_model)), training_step(eager_model)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((8, 3))
        np.testing.assert_allclose(_np(compiled(x)), _np(eager(x)), rtol=1e-12)
    for k, v in eager_model.state_dict().items():
        np.testing.assert_allclose(compiled_model.state_dict()[k], v, rtol=1e-12, err_msg=k)
    assert int(_np(compiled_model[1].num_batches_tracked)) == 5
    evaluate = ad.compile(lambda x: compiled_model(x))
    compiled_model.eval()
    x = rng.standard_normal((6, 3))
    first = _np(evaluate(x)).copy()
    np.testing.assert_array_equal(_np(evaluate(x)), first)
    compiled_model.train()
    compiled(x)                               # the statistics move ...
    compiled_model.eval()
    np.testing.assert_allclose(_np(evaluate(x)), _np(compiled_model(x)), rtol=1e-12)
    assert not np.allclose(_np(evaluate(x)), first)           # ... and evaluation sees it
