"""The training stack on any backend, proven on array-api-strict arrays standing in for a
device: nn layers, initialisers, losses, optimizers and schedules, ad.data.batches, ad.save /
ad.load and state_dict round trips give on strict arrays what they give on numpy, keep every
array on its backend, copy between backends only where asked (to_host, load_state_dict,
load(device=)), and refuse to mix backends in an op.

array-api-strict arrays refuse numpy here (``__array__`` raises), so a numpy call that leaks
into a device path fails on the CPU instead of on a GPU."""
import os
import sys
import zipfile

import array_api_strict as xp
import numpy as np
import pytest

import pyad as ad
from pyad import backend
from pyad.backend import cuda
from backend_checks import no_numpy_conversion  # noqa: F401  (autouse)

STRICT = type(xp.asarray(0.0))
LIKE = xp.asarray(0.0)


def strict(a):
    """A numpy array as an array-api-strict array of the same dtype and values."""
    return backend.to_backend(np.array(a, order="C", copy=True), LIKE)


def host(a):
    a = a.data if isinstance(a, ad.Tensor) else a
    assert isinstance(a, (STRICT, np.ndarray)), type(a)
    return backend.to_host(a)


def on_strict(model):
    """model with every parameter's array put on the strict backend (Module.to knows only
    device strings): the same Tensors, so optimizers made afterwards see strict arrays."""
    for p in model.parameters():
        p.data = backend.to_backend(p.data, LIKE)
        p.grad = None
    return model


def assert_strict(tree, what=""):
    leaves = ad.tree_flatten(tree)[0]
    assert leaves, what
    for leaf in leaves:
        leaf = leaf.data if isinstance(leaf, ad.Tensor) else leaf
        assert isinstance(leaf, STRICT), f"{what}: a {type(leaf).__name__} for strict inputs"


def assert_close(got, want, rtol=1e-12, what=""):
    got, want = host(got), np.asarray(want.data if isinstance(want, ad.Tensor) else want)
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: {got.shape} {got.dtype} != {want.shape} {want.dtype}"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2, err_msg=what)


def _data(n=40, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, classes, n)


# ------------------------------------------------------------------- ad.data.batches
@pytest.mark.parametrize("shuffle,drop_last", [(True, False), (True, True), (False, False)])
@pytest.mark.parametrize("batch_size", [1, 7, 40, 64])
def test_batches_on_strict_arrays_equal_numpys_and_stay_strict(shuffle, drop_last, batch_size):
    x, y = _data()
    want = list(ad.data.batches(x, y, batch_size=batch_size, shuffle=shuffle, seed=3,
                                drop_last=drop_last))
    got = list(ad.data.batches(strict(x), strict(y), batch_size=batch_size, shuffle=shuffle,
                               seed=3, drop_last=drop_last))
    assert len(got) == len(want)
    for (xb, yb), (xw, yw) in zip(got, want):
        assert type(xb) is STRICT and type(yb) is STRICT
        np.testing.assert_array_equal(host(xb), xw)
        np.testing.assert_array_equal(host(yb), yw)
        assert host(yb).dtype == yw.dtype


def test_batches_with_a_generator_seed_follow_numpy_epoch_after_epoch():
    x, y = _data(23)
    rng_np, rng_s = np.random.default_rng(9), np.random.default_rng(9)
    xs, ys = strict(x), strict(y)
    for _ in range(3):
        want = [yb for _, yb in ad.data.batches(x, y, batch_size=5, seed=rng_np)]
        got = [yb for _, yb in ad.data.batches(xs, ys, batch_size=5, seed=rng_s)]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(host(g), w)


def test_batches_take_tensors_and_mixed_backends_each_on_its_own():
    x, y = _data(10)
    out = list(ad.data.batches(ad.tensor(strict(x)), y, batch_size=4, seed=0))
    want = list(ad.data.batches(x, y, batch_size=4, seed=0))
    for (xb, yb), (xw, yw) in zip(out, want):
        assert type(xb) is STRICT and type(yb) is np.ndarray
        np.testing.assert_array_equal(host(xb), xw)
        np.testing.assert_array_equal(yb, yw)


def test_batches_check_their_arrays_on_any_backend():
    x, y = _data(10)
    with pytest.raises(ValueError, match="rows"):
        next(ad.data.batches(strict(x), strict(y[:9]), batch_size=2))
    with pytest.raises(ValueError, match="0-d"):
        next(ad.data.batches(strict(np.array(1.0)), batch_size=2))


# ------------------------------------------------------------------- layers and initialisers
def _layers():
    """(name, make model, make input) for every layer, activation and loss-free model."""
    rng = np.random.default_rng(1)
    x4 = rng.normal(size=(6, 4))
    ids = np.array([[0, 3], [2, 2], [4, 1]])
    return [
        ("linear", lambda dt: ad.nn.Linear(4, 3, seed=0, dtype=dt), x4),
        ("linear-nobias", lambda dt: ad.nn.Linear(4, 3, bias=False, init="lecun", seed=0,
                                                 dtype=dt), x4),
        ("mlp-relu", lambda dt: ad.nn.MLP([4, 8, 3], seed=0, dtype=dt), x4),
        ("mlp-tanh", lambda dt: ad.nn.MLP([4, 8, 3], activation="tanh", seed=0, dtype=dt), x4),
        ("mlp-sigmoid", lambda dt: ad.nn.MLP([4, 8, 8, 3], activation="sigmoid", seed=0,
                                             dtype=dt), x4),
        ("mlp-softplus", lambda dt: ad.nn.MLP([4, 8, 3], activation="softplus", init="glorot",
                                              seed=0, dtype=dt), x4),
        ("sequential", lambda dt: ad.nn.Sequential(
            ad.nn.Linear(4, 5, seed=1, dtype=dt), ad.nn.Tanh(),
            ad.nn.Linear(5, 5, seed=2, dtype=dt), ad.nn.ReLU(), ad.nn.Sigmoid(),
            ad.nn.Softplus()), x4),
        ("embedding", lambda dt: ad.nn.Embedding(5, 3, seed=0, dtype=dt), ids),
    ]


LAYERS = _layers()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name,make,x", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_every_layer_on_strict_parameters_and_inputs_equals_numpy(name, make, x, dtype):
    ref, model = make(dtype), make(dtype)
    # the seed gives the CPU's parameters: made on the host, then moved
    for (n, a), (_, b) in zip(ref.state_dict().items(), on_strict(model).state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=n)
    assert_strict(model.parameters(), name)
    rtol = 1e-12 if dtype == np.float64 else 1e-5

    want = ref(x)
    got = model(strict(x))
    assert type(got.data) is STRICT
    assert_close(got, want, rtol, name)
    ad.sum(want * want).backward()
    ad.sum(got * got).backward()
    for (n, p), q in zip(model.named_parameters(), ref.parameters()):
        assert type(p.grad.data if isinstance(p.grad, ad.Tensor) else p.grad) is STRICT, n
        assert_close(p.grad, q.grad, rtol, f"{name}: grad of {n}")


def test_embedding_takes_host_ids_for_a_strict_table():
    ref, model = ad.nn.Embedding(6, 2, seed=4), on_strict(ad.nn.Embedding(6, 2, seed=4))
    ids = np.array([5, 0, 5])
    assert_close(model(ids), ref(ids), what="numpy ids")
    assert_close(model(ad.tensor(strict(ids))), ref(ids), what="Tensor ids")
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        model(strict(np.array([6])))
    with pytest.raises(TypeError, match="integers"):
        model(strict(np.array([1.0])))


def test_a_custom_initialiser_on_a_strict_backend_gives_a_strict_bias():
    layer = ad.nn.Linear(3, 2, init=lambda shape, rng, dtype: strict(np.ones(shape, dtype)))
    assert type(layer.weight.data) is STRICT and type(layer.bias.data) is STRICT
    assert_close(layer(strict(np.ones((1, 3), np.float32))), np.full((1, 2), 3.0, np.float32))


def test_module_to_cpu_brings_a_strict_model_to_numpy():
    ref, model = ad.nn.MLP([4, 3, 2], seed=0), on_strict(ad.nn.MLP([4, 3, 2], seed=0))
    assert model.to("cpu") is model
    for p, q in zip(model.parameters(), ref.parameters()):
        assert type(p.data) is np.ndarray and p.device == "cpu"
        np.testing.assert_array_equal(p.data, q.data)


# ------------------------------------------------------------------- losses
def test_losses_on_strict_arrays_equal_numpys():
    rng = np.random.default_rng(2)
    z, y = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    t, u = rng.uniform(size=(6, 4)), rng.normal(size=(6, 4))
    probs = np.eye(4)[y] * 0.8 + 0.05
    cases = {
        "sce-labels": lambda z, y, t, p, u: ad.nn.softmax_cross_entropy(z, y),
        "sce-none": lambda z, y, t, p, u: ad.nn.softmax_cross_entropy(z, y, reduction="none"),
        "sce-probs": lambda z, y, t, p, u: ad.nn.softmax_cross_entropy(z, p, reduction="sum"),
        "mse": lambda z, y, t, p, u: ad.nn.mse_loss(z, t),
        "bce": lambda z, y, t, p, u: ad.nn.binary_cross_entropy_with_logits(z, t),
        "SCE-hvp": lambda z, y, t, p, u:
            ad.losses.SoftmaxCrossEntropy(y).output_hessian_vp(z, u),
        "MSE-hvp": lambda z, y, t, p, u: ad.losses.MSE(t).output_hessian_vp(z, u),
    }
    args = (z, y, t, probs, u)
    for name, f in cases.items():
        want = f(*args)
        got = f(*[strict(a) for a in args])
        assert type(got.data) is STRICT, name
        assert_close(got, want, what=name)
        g_want = ad.grad(lambda z: ad.sum(f(z, *args[1:]) ** 2))(z)
        g_got = ad.grad(lambda z: ad.sum(f(z, *[strict(a) for a in args[1:]]) ** 2))(strict(z))
        assert type(g_got) is STRICT, name
        assert_close(g_got, g_want, what=f"grad of {name}")


def test_labels_on_the_logits_device_stay_there_and_mark_bad_rows_nan(monkeypatch):
    """Labels on the logits' device are never copied to the host (a range check there would
    wait for the device at every step): a label out of range makes its row's loss and
    gradient NaN instead of the IndexError that host labels give."""
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(5, 4)), np.array([0, 3, 1, 2, 2])
    want = ad.nn.softmax_cross_entropy(z, y, reduction="none")
    to_host = backend.to_host
    monkeypatch.setattr(backend, "to_host", lambda a: pytest.fail("labels copied to the host")
                        if isinstance(a, STRICT) and a.dtype == xp.int64 else to_host(a))
    got = ad.nn.softmax_cross_entropy(strict(z), strict(y), reduction="none")
    monkeypatch.setattr(backend, "to_host", to_host)
    assert_close(got, want, what="strict labels")
    bad = strict(np.array([0, 4, 1, -1, 2]))
    loss = ad.nn.softmax_cross_entropy(strict(z), bad, reduction="none")
    assert np.isnan(host(loss)).tolist() == [False, True, False, True, False]
    g = host(ad.grad(lambda z: ad.sum(ad.nn.softmax_cross_entropy(z, bad, reduction="none")))(
        strict(z)))
    assert np.isnan(g).all(axis=1).tolist() == [False, True, False, True, False]
    assert not np.isnan(g[[0, 2, 4]]).any()
    with pytest.raises(IndexError, match="label 4 is out of range for 4 classes"):
        ad.nn.softmax_cross_entropy(strict(z), np.array([0, 4, 1, 1, 2]))
    with pytest.raises(ValueError, match=r"labels of shape \(4,\) do not match"):
        ad.nn.softmax_cross_entropy(strict(z), strict(y[:4]))


# ------------------------------------------------------------------- training
OPTIMIZERS = {
    "sgd-momentum-step": (lambda ps: ad.optim.SGD(ps, lr=0.2, momentum=0.9, weight_decay=1e-3),
                          lambda opt: ad.optim.StepLR(opt, step_size=2, gamma=0.5)),
    "adam-cosine": (lambda ps: ad.optim.Adam(ps, lr=0.02, amsgrad=True),
                    lambda opt: ad.optim.CosineAnnealingLR(opt, T_max=5, eta_min=1e-3)),
    "adamw-warmup": (lambda ps: ad.optim.AdamW(ps, lr=0.02),
                     lambda opt: ad.optim.LinearWarmup(opt, warmup_steps=3)),
    "rmsprop-lambda": (lambda ps: ad.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
                       lambda opt: ad.optim.LambdaLR(opt, lambda e: 0.9 ** e)),
}


def _train(model, opt, schedule, x, y, epochs=2, seed=5):
    losses = []
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for xb, yb in ad.data.batches(x, y, batch_size=16, seed=rng):
            opt.zero_grad()
            loss = ad.nn.softmax_cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            schedule.step()
            losses.append(loss)
    return losses


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_an_mlp_on_strict_arrays_equals_numpy(name):
    make_opt, make_schedule = OPTIMIZERS[name]
    x, y = _data()

    def run(model, x, y):
        opt = make_opt(model.parameters())
        schedule = make_schedule(opt)
        return model, opt, _train(model, opt, schedule, x, y)

    ref, opt_ref, losses_ref = run(ad.nn.MLP([5, 8, 3], seed=0, dtype=np.float64), x, y)
    model, opt, losses = run(on_strict(ad.nn.MLP([5, 8, 3], seed=0, dtype=np.float64)),
                             strict(x), strict(y))
    assert len(losses) == len(losses_ref) == 6
    for got, want in zip(losses, losses_ref):
        assert type(got.data) is STRICT
        assert_close(got, want, what=f"{name}: loss")
    assert opt.lr == opt_ref.lr
    assert_strict(model.parameters(), name)
    for (n, p), q in zip(model.named_parameters(), ref.parameters()):
        assert_close(p, q, what=f"{name}: {n}")
    for i, (s, s_ref) in enumerate(zip(opt.state, opt_ref.state)):
        assert s["step"] == s_ref["step"] == 6
        for k, v in s.items():
            if k != "step":
                assert type(v) is STRICT, f"{name}: state {k} of parameter {i}"
                assert_close(v, s_ref[k], what=f"{name}: state {k} of parameter {i}")


def _resume_check(make, x, y, state_model, state_opt, ref_model, ref_opt, strict_side):
    """A fresh model and optimizer (strict or numpy) loaded from the states train on exactly
    like the reference that made them."""
    model = make()
    if strict_side:
        on_strict(model)
    opt = ad.optim.Adam(model.parameters(), lr=0.5)         # lr restored from the state
    model.load_state_dict(state_model)
    opt.load_state_dict(state_opt)
    want_type = STRICT if strict_side else np.ndarray
    assert all(type(p.data) is want_type for p in model.parameters())
    assert all(type(v) is want_type for s in opt.state for k, v in s.items() if k != "step")
    assert opt.lr == ref_opt.lr
    sched, sched_ref = ad.optim.StepLR(opt, 1, 0.5), ad.optim.StepLR(ref_opt, 1, 0.5)
    xs, ys = (strict(x), strict(y)) if strict_side else (x, y)
    _train(model, opt, sched, xs, ys, epochs=1, seed=11)
    ref_strict = type(ref_model.parameters()[0].data) is STRICT
    _train(ref_model, ref_opt, sched_ref, *((strict(x), strict(y)) if ref_strict else (x, y)),
           epochs=1, seed=11)
    for (n, p), q in zip(model.named_parameters(), ref_model.parameters()):
        assert type(p.data) is want_type
        assert_close(p, q, what=f"resumed {n}")


def test_state_dicts_round_trip_strict_numpy_strict():
    x, y = _data()
    make = lambda: ad.nn.MLP([5, 8, 3], seed=0, dtype=np.float64)     # noqa: E731
    model = on_strict(make())
    opt = ad.optim.Adam(model.parameters(), lr=0.03)
    _train(model, opt, ad.optim.StepLR(opt, 1, 0.9), strict(x), strict(y), epochs=1)

    # strict -> host numpy copies
    sd_model, sd_opt = model.state_dict(), opt.state_dict()
    for a in list(sd_model.values()) + [v for s in sd_opt["state"].values() for v in s.values()
                                        if not isinstance(v, int)]:
        assert type(a) is np.ndarray
    before = host(model.parameters()[0]).copy()
    sd_model["0.weight"][...] = 0.0                      # a copy: the model does not follow
    np.testing.assert_array_equal(host(model.parameters()[0]), before)
    sd_model = model.state_dict()

    # numpy -> a numpy model, which gives back the same state
    np_model = make()
    np_opt = ad.optim.Adam(np_model.parameters(), lr=0.5).load_state_dict(sd_opt)
    np_model.load_state_dict(sd_model)
    for (n, a), b in zip(np_model.state_dict().items(), sd_model.values()):
        np.testing.assert_array_equal(a, b, err_msg=n)

    # numpy -> strict, in place: the parameters stay strict, the same Tensors and arrays
    back = on_strict(make())
    arrays = [p.data for p in back.parameters()]
    back.load_state_dict(np_model.state_dict())
    for p, a, (n, want) in zip(back.parameters(), arrays, sd_model.items()):
        assert type(p.data) is STRICT and p.data is a, n
        np.testing.assert_array_equal(host(p), want, err_msg=n)

    # both ways, a fresh model and optimizer resume the training exactly
    _resume_check(make, x, y, sd_model, sd_opt, np_model, np_opt, strict_side=True)


def test_a_strict_state_loads_into_a_numpy_model_and_optimizer():
    x, y = _data()
    make = lambda: ad.nn.MLP([5, 4, 3], seed=2, dtype=np.float64)     # noqa: E731
    ref = make()
    opt_ref = ad.optim.Adam(ref.parameters(), lr=0.03)
    _train(ref, opt_ref, ad.optim.StepLR(opt_ref, 1, 0.9), x, y, epochs=1)
    # a state whose arrays live on the strict backend (as ad.load(path, device=) gives)
    sd_model = {k: strict(v) for k, v in ref.state_dict().items()}
    sd_opt = opt_ref.state_dict()
    sd_opt["state"] = {i: {k: (strict(v) if k != "step" else v) for k, v in s.items()}
                       for i, s in sd_opt["state"].items()}
    ref_copy = make().load_state_dict(ref.state_dict())
    opt_copy = ad.optim.Adam(ref_copy.parameters()).load_state_dict(opt_ref.state_dict())
    _resume_check(make, x, y, sd_model, sd_opt, ref_copy, opt_copy, strict_side=False)


def test_load_state_dict_casts_into_a_strict_parameters_dtype():
    model = on_strict(ad.nn.Linear(2, 2, seed=0))            # float32
    model.load_state_dict({"weight": np.ones((2, 2)), "bias": strict(np.arange(2.0))})
    assert all(type(p.data) is STRICT and backend.dtype_of(p.data) == np.float32
               for p in model.parameters())
    np.testing.assert_array_equal(host(model.bias), np.arange(2.0, dtype=np.float32))
    with pytest.raises(ValueError, match=r"'weight' has shape \(3, 2\)"):
        model.load_state_dict({"weight": strict(np.ones((3, 2))), "bias": np.zeros(2)})


# ------------------------------------------------------------------- ad.save / ad.load
def _entries(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _checkpoint(put):
    """A model and optimizer trained a step on numpy, then put on the backend `put` gives
    (numpy: the identity), and a checkpoint of both with loose arrays and Tensors there."""
    model = ad.nn.MLP([3, 4, 2], seed=0, dtype=np.float64)
    opt = ad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ad.sum(model(np.arange(6.0).reshape(2, 3)) ** 2).backward()
    opt.step()
    for p, state in zip(model.parameters(), opt.state):
        p.data = put(p.data)
        state["momentum_buffer"] = put(state["momentum_buffer"])
    ckpt = {"model": model.state_dict(), "opt": opt.state_dict(), "params": model.parameters(),
            "x": put(np.arange(6.0).reshape(2, 3)), "pair": (put(np.arange(3)), 3),
            "mask": ad.tensor(put(np.array([True, False])))}
    return model, opt, ckpt


def test_save_from_strict_writes_the_numpy_file_and_loads_to_numpy(tmp_path):
    path_np, path_s = str(tmp_path / "np.npz"), str(tmp_path / "strict.npz")
    ad.save(path_np, _checkpoint(lambda a: a)[2])
    model, opt, ckpt = _checkpoint(strict)
    assert type(ckpt["params"][0].data) is STRICT and type(ckpt["pair"][0]) is STRICT
    ad.save(path_s, ckpt)
    assert _entries(path_s) == _entries(path_np)             # the very same file contents

    for loaded in (ad.load(path_s), ad.load(path_s, device="cpu")):
        want = ad.load(path_np)
        leaves, tree = ad.tree_flatten(loaded)
        want_leaves, want_tree = ad.tree_flatten(want)
        assert tree == want_tree
        for a, b in zip(leaves, want_leaves):
            assert type(a) is type(b)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b
    # and it loads back into the strict model and optimizer
    state = ad.load(path_s)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    assert all(type(p.data) is STRICT for p in model.parameters())
    assert all(type(v) is STRICT for s in opt.state for k, v in s.items() if k != "step")


def test_load_to_a_device_validates_the_name_first_and_keeps_strings_on_the_host(tmp_path):
    path = str(tmp_path / "c.npz")
    ad.save(path, {"names": np.array(["a", "bc"]), "w": strict(np.ones(2)), "n": 1})
    out = ad.load(path, device="cpu")
    assert out["names"].dtype.kind == "U" and type(out["w"]) is np.ndarray and out["n"] == 1
    with pytest.raises(ValueError, match="unknown device"):
        ad.load(path, device="gpu")
    with pytest.raises(ValueError, match="unknown device"):
        ad.load(str(tmp_path / "missing.npz"), device="gpu")


def test_load_to_cuda_without_cupy_says_what_to_install(tmp_path, monkeypatch):
    path = str(tmp_path / "c.npz")
    ad.save(path, {"w": np.ones(2)})
    monkeypatch.setattr(cuda, "_BACKEND", None)
    monkeypatch.setitem(sys.modules, "cupy", None)          # import cupy -> ImportError
    with pytest.raises(ImportError, match=r'pip install "pyad\[cuda12\]"'):
        ad.load(path, device="cuda")


# ------------------------------------------------------------------- mixing is an error
def test_numpy_inputs_to_a_strict_model_raise_naming_the_op():
    x, y = _data(4)
    model = on_strict(ad.nn.MLP([5, 4, 3], seed=0, dtype=np.float64))
    with pytest.raises(TypeError, match=r"^pyad\.matmul: .*numpy\.ndarray.*array_api_strict"):
        model(x)
    with pytest.raises(TypeError, match=r"^pyad\.matmul: "):
        ad.nn.MLP([5, 4, 3], seed=0, dtype=np.float64)(strict(x))   # and the other way
    logits = model(strict(x))
    with pytest.raises(TypeError, match=r"^pyad\.multiply: "):
        ad.nn.softmax_cross_entropy(logits, np.eye(3)[y])            # host probabilities
    with pytest.raises(TypeError, match=r"^pyad\.subtract: "):
        ad.nn.mse_loss(logits, np.zeros((4, 3)))
    opt = ad.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        model.parameters()[0].grad = np.ones((5, 4))
    assert opt.state[0] == {}


def test_save_load_to_cpu_and_resume_a_strict_model(tmp_path):
    """save -> load(device='cpu') -> load_state_dict into a strict model: one full cycle."""
    x, y = _data()
    model = on_strict(ad.nn.MLP([5, 6, 3], seed=0, dtype=np.float64))
    opt = ad.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train(model, opt, ad.optim.StepLR(opt, 1, 0.5), strict(x), strict(y), epochs=1)
    path = os.path.join(tmp_path, "ck.npz")
    ad.save(path, {"model": model.state_dict(), "opt": opt.state_dict()})
    state = ad.load(path, device="cpu")
    fresh = on_strict(ad.nn.MLP([5, 6, 3], seed=1, dtype=np.float64))
    fresh_opt = ad.optim.SGD(fresh.parameters(), lr=1.0).load_state_dict(state["opt"])
    fresh.load_state_dict(state["model"])
    for p, q in zip(fresh.parameters(), model.parameters()):
        assert type(p.data) is STRICT
        np.testing.assert_array_equal(host(p), host(q))
    for s, t in zip(fresh_opt.state, opt.state):
        np.testing.assert_array_equal(host(s["momentum_buffer"]), host(t["momentum_buffer"]))
