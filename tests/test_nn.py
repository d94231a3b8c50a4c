"""pyad.nn and pyad.init: parameter discovery, state dicts, layers, MLP, initialisers."""
import numpy as np
import pytest

import pyad as ad
from pyad import nn


def _np(t):
    return np.asarray(t.data if isinstance(t, ad.Tensor) else t)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ad.tensor(np.ones((2, 3)), requires_grad=True)
        self.const = ad.tensor(np.zeros(3))            # no requires_grad: not a parameter
        self.plain = np.ones(4)                        # plain arrays are not parameters
        self.inner = nn.Linear(3, 2, seed=0, dtype=np.float64)
        self.b = ad.tensor(np.ones(5), requires_grad=True)

    def forward(self, x):
        return self.inner(ad.matmul(x, self.a)) + 0.0


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.seq = nn.Sequential(nn.Linear(2, 4, seed=1), nn.Tanh(), nn.Linear(4, 1, seed=2))
        self.scale = ad.tensor(np.array(2.0), requires_grad=True)


# ------------------------------------------------------------------- parameter discovery
def test_parameters_in_assignment_order_nested():
    m = Outer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "first.a", "first.b", "first.inner.weight", "first.inner.bias",
                     "seq.0.weight", "seq.0.bias", "seq.2.weight", "seq.2.bias"]
    params = m.parameters()
    assert len(params) == len(names)
    assert params[0] is m.scale
    assert params[1] is m.first.a
    assert params[3] is m.first.inner.weight
    assert params[5] is m.seq[0].weight
    assert all(p.requires_grad for p in params)


def test_sequential_named_parameters():
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 2, seed=1),
                          nn.Sigmoid(), nn.Linear(2, 1, bias=False, seed=2))
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight"]
    assert len(model) == 5
    assert isinstance(model[1], nn.ReLU)
    assert model.parameters()[2] is model[2].weight


def test_reassigning_a_parameter_and_removing_it():
    lin = nn.Linear(2, 3, seed=0)
    new_w = ad.tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    lin.weight = new_w
    # replacing keeps the slot (like torch's _parameters dict): the order stays weight, bias
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert lin.parameters()[0] is new_w
    lin.bias = None                                        # no longer a parameter
    assert [n for n, _ in lin.named_parameters()] == ["weight"]


def test_module_without_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = ad.tensor(np.ones(2), requires_grad=True)

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_train_eval_propagate():
    m = Outer()
    assert all(sub.training for sub in m.modules())
    assert m.eval() is m
    mods = list(m.modules())
    assert len(mods) == 7       # Outer, Block, Block.inner, Sequential, Linear, Tanh, Linear
    assert not any(sub.training for sub in mods)
    assert m.seq[1].training is False and m.first.inner.training is False
    m.train()
    assert all(sub.training for sub in m.modules())
    m.train(False)
    assert not m.seq[2].training


def test_module_zero_grad():
    model = nn.MLP([3, 4, 2], seed=0)
    loss = ad.sum(model(np.ones((2, 3))))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# ------------------------------------------------------------------- state dicts
def test_state_dict_is_a_copy_in_order():
    model = nn.MLP([3, 5, 2], seed=0)
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for (name, p), (k, v) in zip(model.named_parameters(), sd.items()):
        assert name == k
        assert isinstance(v, np.ndarray)
        np.testing.assert_array_equal(v, _np(p))
        assert v.dtype == _np(p).dtype
        assert not np.shares_memory(v, _np(p))
    sd["0.weight"][...] = 123.0
    assert not np.any(_np(model[0].weight) == 123.0)


def test_load_state_dict_round_trip_and_in_place():
    src = nn.MLP([3, 5, 2], seed=0)
    dst = nn.MLP([3, 5, 2], seed=1)
    x = np.random.default_rng(0).standard_normal((4, 3))
    assert not np.allclose(_np(src(x)), _np(dst(x)))
    arrays_before = [p.data for p in dst.parameters()]
    objects_before = dst.parameters()
    assert dst.load_state_dict(src.state_dict()) is dst
    np.testing.assert_array_equal(_np(src(x)), _np(dst(x)))
    # in place: same Tensor objects and the same buffers
    for p, obj, arr in zip(dst.parameters(), objects_before, arrays_before):
        assert p is obj
        assert np.shares_memory(p.data, arr)


def test_load_state_dict_keeps_optimizer_working():
    model = nn.Linear(3, 1, seed=0, dtype=np.float64)
    opt = ad.optim.SGD(model.parameters(), lr=0.1)
    target = {"weight": np.full((3, 1), 2.0), "bias": np.array([-1.0])}
    model.load_state_dict(target)
    x = np.eye(3)
    loss = ad.sum(model(x))              # d/dW = column sums of x = 1, d/db = 3
    loss.backward()
    opt.step()
    np.testing.assert_allclose(_np(model.weight), np.full((3, 1), 2.0 - 0.1))
    np.testing.assert_allclose(_np(model.bias), [-1.0 - 0.3])


def test_load_state_dict_casts_dtype_into_parameter():
    model = nn.Linear(2, 2, seed=0)     # float32
    model.load_state_dict({"weight": np.eye(2, dtype=np.float64), "bias": [1, 2]})
    assert model.weight.data.dtype == np.float32
    np.testing.assert_array_equal(_np(model.weight), np.eye(2))
    np.testing.assert_array_equal(_np(model.bias), [1.0, 2.0])


def test_load_state_dict_missing_key():
    model = nn.MLP([3, 5, 2], seed=0)
    sd = model.state_dict()
    del sd["2.bias"]
    with pytest.raises(KeyError, match=r"2\.bias"):
        model.load_state_dict(sd)
    model.load_state_dict(sd, strict=False)          # partial load allowed when not strict


def test_load_state_dict_unexpected_key():
    model = nn.MLP([3, 5, 2], seed=0)
    sd = model.state_dict()
    sd["4.weight"] = np.zeros((2, 2))
    with pytest.raises(KeyError, match=r"4\.weight"):
        model.load_state_dict(sd)


def test_load_state_dict_wrong_shape_names_key_and_shapes():
    model = nn.MLP([3, 5, 2], seed=0)
    sd = model.state_dict()
    sd["2.weight"] = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError) as e:
        model.load_state_dict(sd)
    msg = str(e.value)
    assert "2.weight" in msg and "(2, 5)" in msg and "(5, 2)" in msg


# ------------------------------------------------------------------- Linear
def test_linear_forward_is_x_at_w_plus_b():
    lin = nn.Linear(4, 3, seed=0, dtype=np.float64)
    assert lin.weight.shape == (4, 3) and lin.bias.shape == (3,)
    np.testing.assert_array_equal(_np(lin.bias), 0.0)          # bias starts at zero
    lin.bias.data[...] = [0.5, -1.0, 2.0]
    x = np.random.default_rng(1).standard_normal((6, 4))
    y = lin(x)
    assert isinstance(y, ad.Tensor) and y.shape == (6, 3)
    np.testing.assert_allclose(_np(y), x @ _np(lin.weight) + _np(lin.bias), rtol=1e-13)
    # a Tensor input gives the same
    np.testing.assert_allclose(_np(lin(ad.tensor(x))), _np(y), rtol=0)
    # without bias
    nb = nn.Linear(4, 3, bias=False, seed=0, dtype=np.float64)
    assert nb.bias is None and len(nb.parameters()) == 1
    np.testing.assert_allclose(_np(nb(x)), x @ _np(nb.weight), rtol=1e-13)


def test_linear_gradients():
    lin = nn.Linear(4, 3, seed=0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((6, 4))
    c = np.random.default_rng(2).standard_normal((6, 3))
    loss = ad.sum(lin(x) * c)
    loss.backward()
    np.testing.assert_allclose(_np(lin.weight.grad), x.T @ c, rtol=1e-12)
    np.testing.assert_allclose(_np(lin.bias.grad), c.sum(0), rtol=1e-12)


def test_linear_single_sample_and_batch_axes():
    lin = nn.Linear(4, 3, seed=0, dtype=np.float64)
    x = np.arange(4.0)
    y = lin(x)
    assert y.shape == (3,)
    np.testing.assert_allclose(_np(y), x @ _np(lin.weight), rtol=1e-13)
    xb = np.arange(24.0).reshape(2, 3, 4)
    yb = lin(xb)
    assert yb.shape == (2, 3, 3)
    np.testing.assert_allclose(_np(yb), xb @ _np(lin.weight), rtol=1e-13)


@pytest.mark.parametrize("model_dtype, in_dtype", [
    (np.float32, np.float64), (np.float32, np.float32), (np.float64, np.float32),
    (np.float64, np.float64), (np.float32, np.int64)])
def test_dtype_follows_parameters(model_dtype, in_dtype):
    model = nn.MLP([3, 4, 2], seed=0, dtype=model_dtype)
    x = (np.arange(6).reshape(2, 3) / 7).astype(in_dtype)
    for inp in (x, ad.tensor(x)):
        y = model(inp)
        assert isinstance(y, ad.Tensor)
        assert y.dtype == model_dtype, (y.dtype, model_dtype)
    for p in model.parameters():
        assert p.dtype == model_dtype


# ------------------------------------------------------------------- Embedding
def test_embedding_lookup():
    emb = nn.Embedding(7, 3, seed=0, dtype=np.float64)
    table = _np(emb.weight).copy()
    assert table.shape == (7, 3)
    ids = np.array([[1, 4, 4], [0, 6, 1]])
    out = emb(ids)
    assert isinstance(out, ad.Tensor) and out.shape == (2, 3, 3)
    np.testing.assert_array_equal(_np(out), table[ids])
    np.testing.assert_array_equal(_np(emb(ad.tensor(ids))), table[ids])
    np.testing.assert_array_equal(_np(emb(np.int32(5))), table[5])
    assert emb(np.array([], dtype=np.int64)).shape == (0, 3)


def test_embedding_gradient_scatter_adds_repeated_ids():
    emb = nn.Embedding(5, 2, seed=0, dtype=np.float64)
    ids = np.array([[1, 3, 1], [1, 0, 3]])
    c = np.arange(12, dtype=np.float64).reshape(2, 3, 2) + 1.0
    loss = ad.sum(emb(ids) * c)
    loss.backward()
    expected = np.zeros((5, 2))
    np.add.at(expected, ids, c)
    np.testing.assert_array_equal(_np(emb.weight.grad), expected)
    assert np.all(_np(emb.weight.grad)[[2, 4]] == 0)
    np.testing.assert_array_equal(_np(emb.weight.grad)[1], c[0, 0] + c[0, 2] + c[1, 0])


@pytest.mark.parametrize("ids", [[0, 5], [-1, 2], [[7]]])
def test_embedding_bad_ids_raise(ids):
    emb = nn.Embedding(5, 2, seed=0)
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        emb(np.array(ids))


def test_embedding_float_ids_raise():
    emb = nn.Embedding(5, 2, seed=0)
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([0.0, 1.0]))


# ------------------------------------------------------------------- MLP and activations
@pytest.mark.parametrize("activation, fn, cls", [
    ("relu", lambda h: np.maximum(h, 0), nn.ReLU),
    ("tanh", np.tanh, nn.Tanh),
    ("sigmoid", lambda h: 1 / (1 + np.exp(-h)), nn.Sigmoid)])
def test_mlp_forward_matches_numpy(activation, fn, cls):
    model = nn.MLP([5, 7, 6, 3], activation=activation, seed=3, dtype=np.float64)
    assert len(model) == 5
    assert isinstance(model[1], cls) and isinstance(model[3], cls)
    assert isinstance(model[4], nn.Linear)                   # no activation after the last
    x = np.random.default_rng(0).standard_normal((4, 5))
    h = x
    layers = [model[0], model[2], model[4]]
    for i, lin in enumerate(layers):
        h = h @ _np(lin.weight) + _np(lin.bias)
        if i < 2:
            h = fn(h)
    np.testing.assert_allclose(_np(model(x)), h, rtol=1e-12, atol=1e-14)


def test_activation_modules():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(_np(nn.ReLU()(x)), np.maximum(x, 0))
    np.testing.assert_allclose(_np(nn.Tanh()(x)), np.tanh(x), rtol=1e-12)
    np.testing.assert_allclose(_np(nn.Sigmoid()(x)), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(_np(nn.Softplus()(x)), np.logaddexp(0, x), rtol=1e-12)
    assert nn.ReLU().parameters() == []


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_mlp_deterministic_per_seed(activation):
    a = nn.MLP([6, 8, 3], activation=activation, seed=11).state_dict()
    b = nn.MLP([6, 8, 3], activation=activation, seed=11).state_dict()
    c = nn.MLP([6, 8, 3], activation=activation, seed=12).state_dict()
    g = nn.MLP([6, 8, 3], activation=activation, seed=np.random.default_rng(11)).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_array_equal(a[k], g[k])
    assert not np.array_equal(a["0.weight"], c["0.weight"])
    assert not np.array_equal(a["2.weight"], c["2.weight"])
    # the layers draw different values from the one generator
    assert not np.array_equal(a["0.weight"][:3, :3], a["2.weight"][:3, :3])


def test_mlp_default_initialisers():
    relu = nn.MLP([400, 300], activation="relu", seed=0)
    np.testing.assert_allclose(_np(relu[0].weight).std(), np.sqrt(2 / 400), rtol=0.03)
    tanh = nn.MLP([400, 300], activation="tanh", seed=0)
    bound = np.sqrt(6 / 700)
    w = _np(tanh[0].weight)
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 * bound
    lecun = nn.MLP([400, 300], activation="tanh", seed=0, init="lecun")
    np.testing.assert_allclose(_np(lecun[0].weight).std(), np.sqrt(1 / 400), rtol=0.03)


def test_mlp_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([3, 2], activation="gelu")
    with pytest.raises(ValueError):
        nn.MLP([3])
    with pytest.raises(ValueError, match="initialiser"):
        nn.MLP([3, 2], init="orthogonal-ish")


# ------------------------------------------------------------------- initialisers
def test_he_normal_statistics():
    w = nn.Linear(1000, 800, init="he", seed=0).weight.data
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.std(), np.sqrt(2 / 1000), rtol=0.01)
    assert abs(w.mean()) < 3e-4
    w2 = ad.init.he_normal((2000, 300), np.random.default_rng(1), np.float64)
    assert w2.dtype == np.float64 and w2.shape == (2000, 300)
    np.testing.assert_allclose(w2.std(), np.sqrt(2 / 2000), rtol=0.01)


def test_xavier_uniform_bound_and_statistics():
    w = nn.Linear(800, 1200, init="xavier", seed=0).weight.data
    bound = np.sqrt(6 / (800 + 1200))
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.999 * bound
    np.testing.assert_allclose(w.std(), bound / np.sqrt(3), rtol=0.01)
    assert abs(w.mean()) < 3e-4
    # 'glorot' is the same initialiser
    g = nn.Linear(800, 1200, init="glorot", seed=0).weight.data
    np.testing.assert_array_equal(w, g)


def test_lecun_normal_statistics():
    w = nn.Linear(1000, 800, init="lecun", seed=0).weight.data
    np.testing.assert_allclose(w.std(), np.sqrt(1 / 1000), rtol=0.01)
    assert abs(w.mean()) < 3e-4


def test_initialisers_are_seeded():
    a = ad.init.xavier_uniform((30, 20), np.random.default_rng(5))
    b = ad.init.xavier_uniform((30, 20), np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(nn.Linear(30, 20, seed=5).weight.data,
                                  nn.Linear(30, 20, seed=5).weight.data)


def test_custom_and_unknown_initialiser():
    lin = nn.Linear(3, 2, init=lambda shape, rng, dtype: np.full(shape, 0.25, dtype))
    np.testing.assert_array_equal(lin.weight.data, np.full((3, 2), 0.25, np.float32))
    with pytest.raises(ValueError, match="unknown initialiser"):
        nn.Linear(3, 2, init="bogus")
    with pytest.raises(ValueError, match="bogus"):
        ad.init.initializer("bogus")


def test_training_a_small_model_reduces_the_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.MLP([4, 16, 2], activation="tanh", seed=0, dtype=np.float64)
    opt = ad.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = ad.losses.softmax_cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        first = float(loss.item()) if first is None else first
    final = float(ad.losses.softmax_cross_entropy(model(x), y).item())
    assert final < 0.25 * first
    acc = (np.argmax(_np(model(x)), axis=1) == y).mean()
    assert acc > 0.95
