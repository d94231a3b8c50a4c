"""The bad-input catalogue: each wrong call raises a specific exception type whose message
names the operation, the offending shapes/dtypes/axis and, where there is one, the fix. No
failing call may modify its input arrays."""
import numpy as np
import pytest

import pyad as ad
from pyad import _C

AxisError = np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError


def _inputs():
    rng = np.random.default_rng(11)
    A = {
        "m23": rng.standard_normal((2, 3)),
        "m32": rng.standard_normal((3, 2)),
        "m45": rng.standard_normal((4, 5)),
        "m24": rng.standard_normal((2, 4)),
        "v3": rng.standard_normal(3),
        "v4": rng.standard_normal(4),
        "f32": rng.standard_normal(3).astype(np.float32),
        "i3": np.arange(3),
        "b2": np.array([True, False]),
        "buf": np.zeros(3),
    }
    T = {"m23": ad.tensor(A["m23"]), "v3": ad.tensor(A["v3"]),
         "v3g": ad.tensor(A["v3"], requires_grad=True), "i2": ad.tensor([1, 2])}
    return A, T


# ------------------------------------------------------------------------- helpers for cases
def _tape_gradient_twice(A, T):
    x = T["v3"]
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(x * x)
    tape.gradient(y, [x])
    tape.gradient(y, [x])


def _reenter_released_tape(A, T):
    x = T["v3"]
    with ad.Tape() as tape:
        tape.watch(x)
        y = ad.sum(x)
    tape.gradient(y, [x])
    with tape:
        pass


def _backward_non_scalar(A, T):
    (T["v3g"] * 2.0).backward()


def _backward_no_grad_needed(A, T):
    ad.sum(T["v3"] * 2.0).backward()


def _backward_twice(A, T):
    y = ad.sum(T["v3g"] * T["v3g"])
    y.backward()
    y.backward()


def _backward_seed_shape(A, T):
    (T["v3g"] * 2.0).backward(gradient=A["v4"])


def _tape_seed_shape(A, T):
    x = T["v3"]
    with ad.Tape() as tape:
        tape.watch(x)
        y = x * 2.0
    tape.gradient(y, [x], output_gradients=A["v4"])


def _set_requires_grad_int(A, T):
    T["i2"].requires_grad = True


def _turn_off_requires_grad_non_leaf(A, T):
    y = T["v3g"] * 2.0
    y.requires_grad = False


def _setitem(A, T):
    T["v3"][0] = 1.0


def _vjp_wrong_shape(A, T):
    _, f = ad.vjp(lambda x: x * 2.0, A["v3"])
    f(A["v4"])


def _vjp_wrong_structure(A, T):
    _, f = ad.vjp(lambda x: (x * 2.0, x), A["v3"])
    f(A["v3"])


CASES = [
    # shapes
    ("matmul_shapes", lambda A, T: ad.matmul(A["m23"], A["m45"]),
     ValueError, r"pyad\.matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"),
    ("matmul_operator_shapes", lambda A, T: T["m23"] @ A["m45"],
     ValueError, r"matmul.*\(2, 3\).*\(4, 5\)"),
    ("matmul_reflected_shapes", lambda A, T: A["m45"] @ T["m23"],
     ValueError, r"matmul.*\(4, 5\).*\(2, 3\)"),
    ("matmul_1d_shapes", lambda A, T: ad.matmul(A["v3"], A["v4"]),
     ValueError, r"matmul.*\(3,\).*\(4,\)"),
    ("matmul_scalar_operand", lambda A, T: ad.matmul(np.array(2.0), A["v4"]),
     ValueError, r"matmul.*at least 1-D.*multiply"),
    ("matmul_batch_dims", lambda A, T: ad.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4))),
     ValueError, r"matmul.*batch.*\(2, 2, 3\).*\(3, 3, 4\)"),
    ("dot_nd_unaligned", lambda A, T: ad.dot(np.ones((2, 2, 2)), np.ones((4, 5))),
     ValueError, r"dot.*\(2, 2, 2\).*\(4, 5\).*not aligned"),
    ("add_broadcast", lambda A, T: ad.add(A["m23"], A["v4"]),
     ValueError, r"pyad\.add: .*broadcast.*\(2, 3\) and \(4,\)"),
    ("add_operator_broadcast", lambda A, T: T["m23"] + A["m32"],
     ValueError, r"add.*broadcast.*\(2, 3\) and \(3, 2\)"),
    ("multiply_broadcast", lambda A, T: ad.multiply(A["m23"], A["m32"]),
     ValueError, r"pyad\.multiply: .*broadcast.*\(2, 3\) and \(3, 2\)"),
    ("multiply_reflected_broadcast", lambda A, T: A["v4"] * T["m23"],
     ValueError, r"multiply.*broadcast.*\(4,\) and \(2, 3\)"),
    ("subtract_broadcast", lambda A, T: ad.subtract(A["m23"], A["m24"]),
     ValueError, r"subtract.*\(2, 3\).*\(2, 4\)"),
    ("divide_broadcast", lambda A, T: ad.divide(A["m23"], A["v4"]),
     ValueError, r"divide.*\(2, 3\).*\(4,\)"),
    ("power_broadcast", lambda A, T: ad.power(A["m23"], A["m32"]),
     ValueError, r"power.*\(2, 3\).*\(3, 2\)"),
    ("maximum_broadcast", lambda A, T: ad.maximum(A["m23"], A["v4"]),
     ValueError, r"maximum.*\(2, 3\).*\(4,\)"),
    ("where_broadcast", lambda A, T: ad.where(A["m23"] > 0, A["m23"], A["m32"]),
     ValueError, r"pyad\.where: .*broadcast.*\(2, 3\).*\(3, 2\)"),
    ("clip_array_bounds_broadcast", lambda A, T: ad.clip(A["v3"], A["v4"], None),
     ValueError, r"pyad\.clip.*\(3,\).*\(4,\)"),
    ("reshape_size", lambda A, T: ad.reshape(A["m23"], (4, 2)),
     ValueError, r"pyad\.reshape: .*size 6.*\(4, ?2\)"),
    ("reshape_method_size", lambda A, T: T["m23"].reshape(7),
     ValueError, r"reshape.*size 6.*\(7,\)"),
    ("reshape_two_unknown", lambda A, T: ad.reshape(A["m23"], (-1, -1)),
     ValueError, r"reshape.*one unknown dimension"),
    ("transpose_repeated", lambda A, T: ad.transpose(A["m23"], (0, 0)),
     ValueError, r"pyad\.transpose: axes \(0, 0\) .*permutation.*\(2, 3\)"),
    ("transpose_too_many", lambda A, T: ad.transpose(A["m23"], (0, 1, 2)),
     ValueError, r"transpose.*\(0, 1, 2\).*permutation.*2 dimensions"),
    ("broadcast_to_impossible", lambda A, T: ad.broadcast_to(A["v3"], (4,)),
     ValueError, r"pyad\.broadcast_to: .*\(3,\) to \(4,\)"),
    ("broadcast_to_fewer_dims", lambda A, T: ad.broadcast_to(A["m23"], (3,)),
     ValueError, r"broadcast_to.*\(2, 3\) to \(3,\)"),
    ("concatenate_shapes", lambda A, T: ad.concatenate([A["m23"], A["m24"]], axis=0),
     ValueError, r"pyad\.concatenate: .*\(2, 3\), \(2, 4\).*axis 0"),
    ("concatenate_ndim", lambda A, T: ad.concatenate([A["m23"], A["v3"]]),
     ValueError, r"concatenate.*\(2, 3\), \(3,\)"),
    ("concatenate_empty", lambda A, T: ad.concatenate([]),
     ValueError, r"concatenate.*at least one"),
    ("stack_shapes", lambda A, T: ad.stack([A["v3"], A["v4"]]),
     ValueError, r"pyad\.stack: .*same shape.*\(3,\), \(4,\)"),
    ("squeeze_non_unit", lambda A, T: ad.squeeze(A["m23"], axis=0),
     ValueError, r"squeeze.*axis 0.*\(2, 3\).*size 2"),
    # axes
    ("sum_axis_range", lambda A, T: ad.sum(A["m23"], axis=2),
     AxisError, r"pyad\.sum: axis 2 is out of bounds for array of dimension 2"),
    ("mean_axis_range", lambda A, T: ad.mean(A["m23"], axis=-3),
     AxisError, r"pyad\.mean: axis -3 is out of bounds for array of dimension 2"),
    ("max_axis_range", lambda A, T: ad.max(A["m23"], axis=5),
     AxisError, r"pyad\.max: axis 5 is out of bounds for array of dimension 2"),
    ("min_axis_range", lambda A, T: ad.min(A["v3"], axis=1),
     AxisError, r"pyad\.min: axis 1 is out of bounds for array of dimension 1"),
    ("softmax_axis_range", lambda A, T: ad.softmax(A["m23"], axis=2),
     AxisError, r"pyad\.softmax: axis 2 is out of bounds for array of dimension 2"),
    ("log_softmax_axis_range", lambda A, T: ad.log_softmax(A["v3"], axis=-2),
     AxisError, r"pyad\.log_softmax: axis -2 is out of bounds for array of dimension 1"),
    ("logsumexp_axis_range", lambda A, T: ad.logsumexp(A["m23"], axis=3),
     AxisError, r"logsumexp: axis 3 .*dimension 2"),
    ("var_axis_range", lambda A, T: ad.var(A["m23"], axis=2),
     AxisError, r"var: axis 2 .*dimension 2"),
    ("method_sum_axis_range", lambda A, T: T["m23"].sum(axis=-5),
     AxisError, r"sum: axis -5 .*dimension 2"),
    ("np_sum_axis_range", lambda A, T: np.sum(T["m23"], axis=2),
     AxisError, r"sum: axis 2 .*dimension 2"),
    ("concatenate_axis_range", lambda A, T: ad.concatenate([A["m23"], A["m23"]], axis=2),
     AxisError, r"concatenate: axis 2 .*dimension 2"),
    ("expand_dims_axis_range", lambda A, T: ad.expand_dims(A["m23"], axis=4),
     AxisError, r"expand_dims: axis 4 .*dimension 3"),
    ("swapaxes_axis_range", lambda A, T: ad.swapaxes(A["m23"], 0, 2),
     AxisError, r"swapaxes: axis 2 .*dimension 2"),
    ("repeated_axis", lambda A, T: ad.sum(A["m23"], axis=(0, 0)),
     ValueError, r"pyad\.sum: repeated axis in \(0, 0\)"),
    ("repeated_axis_negative", lambda A, T: ad.mean(A["m23"], axis=(1, -1)),
     ValueError, r"mean: repeated axis in \(1, -1\)"),
    ("axis_not_int", lambda A, T: ad.sum(A["m23"], axis=1.0),
     TypeError, r"sum: axis must be an int.*1\.0"),
    ("softmax_tuple_axis", lambda A, T: ad.softmax(A["m23"], axis=(0, 1)),
     TypeError, r"softmax: axis must be an int.*\(0, 1\)"),
    # indexing
    ("getitem_out_of_range", lambda A, T: T["v3"][5],
     IndexError, r"pyad\.getitem: index 5 is out of bounds .*size 3.*\(3,\)"),
    ("getitem_array_out_of_range", lambda A, T: T["v3"][[0, 3]],
     IndexError, r"getitem: index 3 is out of bounds.*size 3"),
    ("getitem_too_many_indices", lambda A, T: T["v3"][0, 1],
     IndexError, r"getitem: too many indices.*\(3,\)"),
    ("getitem_float_array", lambda A, T: T["v3"][np.array([0.0, 1.0])],
     IndexError, r"getitem: index arrays must be integer or bool, got dtype float64"),
    ("take_out_of_range", lambda A, T: ad.take(A["v3"], [0, 7]),
     IndexError, r"pyad\.take: index 7 is out of bounds for axis 0 with size 3"),
    ("take_negative_out_of_range", lambda A, T: ad.take(A["m23"], [-4], axis=1),
     IndexError, r"take: index -4 is out of bounds for axis 1 with size 3"),
    ("take_float_indices", lambda A, T: ad.take(A["v3"], [0.0]),
     IndexError, r"take: indices must be integers, got dtype float64"),
    ("setitem", _setitem, TypeError, r"immutable.*ad\.where"),
    # differentiation
    ("grad_non_scalar", lambda A, T: ad.grad(lambda x: x * 2.0)(A["v3"]),
     TypeError, r"pyad\.grad: .*scalar.*\(3,\).*(jacobian|vjp)"),
    ("grad_list_output", lambda A, T: ad.grad(lambda x: [ad.sum(x), ad.sum(x)])(A["v3"]),
     TypeError, r"grad.*returned a list.*scalar.*vjp"),
    ("grad_dict_output", lambda A, T: ad.grad(lambda x: {"a": ad.sum(x)})(A["v3"]),
     TypeError, r"grad.*returned a dict.*scalar.*vjp"),
    ("value_and_grad_non_scalar", lambda A, T: ad.value_and_grad(ad.exp)(A["v3"]),
     TypeError, r"scalar.*\(3,\).*(jacobian|vjp)"),
    ("grad_int_output", lambda A, T: ad.grad(lambda x: ad.sum(ad.tensor([1, 2])))(A["v3"]),
     TypeError, r"grad: the output has dtype int64.*float"),
    ("grad_wrt_int_array", lambda A, T: ad.grad(lambda x: ad.sum(x * x))(A["i3"]),
     TypeError, r"pyad\.grad: argument 0 has dtype int64.*float32 or float64.*astype"),
    ("grad_wrt_python_int", lambda A, T: ad.grad(lambda x: x * x)(3),
     TypeError, r"grad: argument 0 has dtype int64.*1\.0 instead of 1"),
    ("grad_wrt_bool_array", lambda A, T: ad.grad(lambda x: ad.sum(x))(A["b2"]),
     TypeError, r"grad: argument 0 has dtype bool"),
    ("grad_wrt_second_int_arg", lambda A, T: ad.grad(lambda x, k: ad.sum(x) * 2.0,
                                                     argnums=1)(A["v3"], A["i3"]),
     TypeError, r"grad: argument 1 has dtype int64"),
    ("grad_wrt_int_tensor", lambda A, T: ad.grad(lambda x: ad.sum(x * 2))(T["i2"]),
     TypeError, r"dtype int64.*float32 and float64"),
    ("grad_argnums_range", lambda A, T: ad.grad(ad.sum, argnums=2)(A["v3"]),
     ValueError, r"grad: argnums=2 .*1 positional argument"),
    ("tape_gradient_twice", _tape_gradient_twice,
     RuntimeError, r"(?s)released.*Tape\(persistent=True\)"),
    ("tape_reenter_released", _reenter_released_tape,
     RuntimeError, r"released.*new ad\.Tape\(\)"),
    ("tape_watch_ndarray", lambda A, T: ad.Tape().watch(A["v3"]),
     TypeError, r"Tape\.watch expects pyad Tensors, got ndarray.*ad\.tensor"),
    ("tape_watch_int_tensor", lambda A, T: ad.Tape().watch(T["i2"]),
     TypeError, r"dtype int64.*float32 and float64"),
    ("tape_target_ndarray", lambda A, T: ad.Tape().gradient(A["v3"], [T["v3"]]),
     TypeError, r"Tape\.gradient: target must be a Tensor, got ndarray"),
    ("tape_source_ndarray", lambda A, T: ad.Tape().gradient(T["v3"], [A["v3"]]),
     TypeError, r"Tape\.gradient: sources must be Tensors, got ndarray"),
    ("tape_output_gradients_shape", _tape_seed_shape,
     ValueError, r"(seed|output_gradients).*\(4,\).*\(3,\)"),
    ("backward_non_scalar", _backward_non_scalar,
     RuntimeError, r"backward.*\(3,\) is not a scalar.*gradient="),
    ("backward_no_requires_grad", _backward_no_grad_needed,
     RuntimeError, r"backward.*requires_grad=True"),
    ("backward_twice", _backward_twice, RuntimeError, r"freed.*retain_graph=True"),
    ("backward_gradient_shape", _backward_seed_shape,
     ValueError, r"\(4,\).*\(3,\)"),
    ("requires_grad_int_tensor", lambda A, T: ad.tensor([1, 2], requires_grad=True),
     TypeError, r"float32/float64.*got dtype int64.*dtype=np\.float64"),
    ("requires_grad_bool_tensor", lambda A, T: ad.tensor(A["b2"], requires_grad=True),
     TypeError, r"float32/float64.*got dtype bool"),
    ("set_requires_grad_int", _set_requires_grad_int, TypeError, r"got dtype int64"),
    ("requires_grad_off_non_leaf", _turn_off_requires_grad_non_leaf,
     ValueError, r"leaf.*detach"),
    ("vjp_cotangent_shape", _vjp_wrong_shape,
     ValueError, r"pyad\.vjp: cotangent of shape \(4,\) for an output of shape \(3,\)"),
    ("vjp_cotangent_structure", _vjp_wrong_structure,
     ValueError, r"pyad\.vjp: .*structure"),
    # numpy protocol
    ("np_unsupported_ufunc", lambda A, T: np.spacing(T["v3"]),
     TypeError, r"np\.spacing is not supported.*detach"),
    ("np_unsupported_ufunc_method", lambda A, T: np.add.reduce(T["v3"]),
     TypeError, r"np\.add\.reduce is not supported"),
    ("np_unsupported_function", lambda A, T: np.fft.hfft(T["v3"]),
     TypeError, r"np\.fft\.hfft is not supported"),
    ("np_unsupported_linalg", lambda A, T: np.linalg.eig(T["m23"]),
     TypeError, r"np\.linalg\.eig is not supported"),
    ("np_ufunc_out", lambda A, T: np.tanh(T["v3"], out=A["buf"]),
     TypeError, r"np\.tanh.*out"),
    ("np_ufunc_reflected_out", lambda A, T: np.multiply(A["v3"], T["v3"], out=A["buf"]),
     TypeError, r"np\.multiply.*out"),
    ("np_function_out", lambda A, T: np.sum(T["m23"], axis=0, out=A["buf"]),
     TypeError, r"np\.sum\(\.\.\., out=\.\.\.\)"),
    # utilities and kernels
    ("set_num_threads_zero", lambda A, T: ad.set_num_threads(0),
     ValueError, r"set_num_threads.*at least 1.*got 0"),
    ("set_num_threads_negative", lambda A, T: ad.set_num_threads(-2),
     ValueError, r"set_num_threads.*got -2"),
    ("kernel_mixed_dtypes", lambda A, T: _C.kernels.add(A["f32"], A["v3"]),
     TypeError, r"pyad\._C\.add: .*float32 or float64.*one dtype.*float32 and float64"),
    ("kernel_mixed_dtypes_fused", lambda A, T: _C.kernels.tanh_backward(A["f32"], A["v3"]),
     TypeError, r"pyad\._C\.tanh_backward: .*float32 and float64"),
    ("kernel_int_input", lambda A, T: _C.kernels.exp(A["i3"]),
     TypeError, r"pyad\._C\.exp: .*float32 or float64.*int64"),
]


@pytest.mark.parametrize("fn,exc,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(fn, exc, match):
    A, T = _inputs()
    before = {k: v.copy() for k, v in A.items()}
    tbefore = {k: t.data.copy() for k, t in T.items()}
    with pytest.raises(exc, match=match) as info:
        fn(A, T)
    assert type(info.value) is exc or exc is AxisError, type(info.value)
    msg = str(info.value)
    assert "<class" not in msg and "object at 0x" not in msg, msg
    for k, v in A.items():
        assert v.dtype == before[k].dtype and v.shape == before[k].shape, k
        np.testing.assert_array_equal(v, before[k], err_msg=f"input {k} was modified")
    for k, t in T.items():
        np.testing.assert_array_equal(t.data, tbefore[k], err_msg=f"tensor {k} was modified")


def test_catalogue_is_large_and_distinct():
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)


def test_axis_error_is_also_value_and_index_error():
    # numpy's AxisError: code written against numpy that catches ValueError/IndexError works
    with pytest.raises(ValueError):
        ad.sum(np.ones((2, 3)), axis=2)
    with pytest.raises(IndexError):
        ad.max(np.ones(3), axis=1)


def test_failing_kernel_out_untouched():
    out = np.full(3, 7.0)
    with pytest.raises(ValueError, match=r"pyad\._C\.add: out has shape \(3,\), expected \(4,\)"):
        _C.kernels.add(np.ones(4), np.ones(4), out=out)
    np.testing.assert_array_equal(out, np.full(3, 7.0))


def test_error_leaves_engine_usable():
    # a failing op inside a tape must not leave the tape or no_grad state broken
    x = ad.tensor(np.array([1.0, 2.0, 3.0]))
    with ad.Tape() as tape:
        tape.watch(x)
        with pytest.raises(ValueError):
            ad.add(x, np.ones(4))
        with pytest.raises(ValueError):
            with ad.no_grad():
                ad.matmul(x, np.ones((4, 2)))
        y = ad.sum(x * x)
    g, = tape.gradient(y, [x])
    np.testing.assert_allclose(g.data, 2 * x.data)
