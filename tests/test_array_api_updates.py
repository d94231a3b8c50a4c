"""The generic backend's optimizer updates (backend/array_api_updates.py) on array-api-strict
arrays against the C++ ones on numpy: the same state and parameters after several steps of
SGD (momentum, dampening, Nesterov, weight decay), RMSprop (centered, momentum) and
Adam/AdamW (weight decay, AMSGrad)."""
import array_api_strict as xp
import numpy as np
import pytest

from pyad import backend
from pyad.backend.array_api_updates import UPDATES as GENERIC
from backend_checks import no_numpy_conversion  # noqa: F401  (autouse)

N_STEPS = 5


# (update, hyperparameters after param, grad and the state buffers, state buffers: which are
# present), as pyad.optim calls them
SGD = [dict(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
       dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0),
       dict(lr=0.05, momentum=0.9, dampening=0.3, nesterov=False, weight_decay=0.0),
       dict(lr=0.05, momentum=0.8, dampening=0.0, nesterov=True, weight_decay=0.0),
       dict(lr=0.05, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.1),
       dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.05)]
RMSPROP = [dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False),
           dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=True),
           dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9, centered=False),
           dict(lr=0.01, alpha=0.9, eps=1e-8, weight_decay=0.1, momentum=0.0, centered=False),
           dict(lr=0.01, alpha=0.99, eps=1e-6, weight_decay=0.01, momentum=0.5, centered=True)]
ADAM = [dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=False),
        dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, amsgrad=False,
             decoupled=False),
        dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=True,
             decoupled=False),
        dict(lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.05, amsgrad=True,
             decoupled=False),
        dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=True),
        dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, amsgrad=True,
             decoupled=True),
        dict(lr=0.02, beta1=0.5, beta2=0.9, eps=1e-8, weight_decay=0.3, amsgrad=False,
             decoupled=True)]


def _sgd(update, p, g, state, step, h):
    update(p, g, state.get("buf"), h["lr"], h["momentum"], h["dampening"], h["nesterov"],
           h["weight_decay"], step == 1)


def _rmsprop(update, p, g, state, step, h):
    update(p, g, state["square_avg"], state.get("grad_avg"), state.get("buf"), h["lr"],
           h["alpha"], h["eps"], h["weight_decay"], h["momentum"])


def _adam(update, p, g, state, step, h):
    update(p, g, state["m"], state["v"], state.get("vmax"), h["lr"], h["beta1"], h["beta2"],
           h["eps"], h["weight_decay"], float(step), h["decoupled"])


def _buffers(name, h):
    if name == "sgd":
        return ("buf",) if h["momentum"] > 0 else ()
    if name == "rmsprop":
        return (("square_avg",) + (("grad_avg",) if h["centered"] else ())
                + (("buf",) if h["momentum"] > 0 else ()))
    return ("m", "v") + (("vmax",) if h["amsgrad"] else ())


CASES = ([pytest.param("sgd", _sgd, h, id=f"sgd-{i}") for i, h in enumerate(SGD)]
         + [pytest.param("rmsprop", _rmsprop, h, id=f"rmsprop-{i}") for i, h in enumerate(RMSPROP)]
         + [pytest.param("adam", _adam, h, id=f"adam-{i}") for i, h in enumerate(ADAM)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name,call,h", CASES)
def test_generic_update_matches_the_cpu(name, call, h, dtype):
    rng = np.random.default_rng(sum(map(ord, name + str(sorted(h.items())))))
    shape = (5, 4)
    p_cpu = rng.standard_normal(shape).astype(dtype)
    state_cpu = {b: np.zeros(shape, dtype) for b in _buffers(name, h)}
    p_gen = xp.asarray(p_cpu.copy())
    state_gen = {b: xp.asarray(a.copy()) for b, a in state_cpu.items()}
    generic = backend.optimizer_update(name, like=p_gen)
    assert generic is GENERIC[name], "the seam should pick the generic update for strict arrays"
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for step in range(1, N_STEPS + 1):
        g = rng.standard_normal(shape).astype(dtype)
        call(backend.optimizer_update(name), p_cpu, g, state_cpu, step, h)
        call(generic, p_gen, xp.asarray(g), state_gen, step, h)
        for what, want, got in [("param", p_cpu, p_gen)] + [
                (b, state_cpu[b], state_gen[b]) for b in state_cpu]:
            got = backend.to_host(got)
            assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol,
                                       err_msg=f"{name} {what} after step {step}")
