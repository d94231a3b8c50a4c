"""Complex cases (see tests/op_specs.py, which imports this file): the complex rows (real,
imag, conj, abs_complex) and complex inputs of the rows that take them (pyad/ops/complex.py
COMPLEX_ROWS). Both parts of every input come from the case's domain; the derivative checks
run in complex128 with autograd's pairing Re(sum(ct * t)) (pyad.transforms.testing)."""
import numpy as np

import pyad as ad
from op_specs import COMPLEX, SPECS, C, direct, spec


def _cases(name, f, r, shapes, domain="real", label="complex"):
    return C(name, f, r, shapes, domain=domain, label=label, dtypes=COMPLEX)


spec("real", _cases("real", ad.real, np.real, [(3, 4)]),
     C("real", lambda z: ad.real(z * z), lambda z: np.real(z * z), [(5,)], label="of-square",
       dtypes=COMPLEX))
spec("imag", _cases("imag", ad.imag, np.imag, [(3, 4)]))
spec("conj", _cases("conj", ad.conj, np.conj, [(3, 4)]),
     C("conj", lambda z: ad.conj(z) * z, lambda z: np.conj(z) * z, [(4,)],
       label="modulus-squared", dtypes=COMPLEX))
spec("abs_complex", _cases("abs_complex", ad.abs, np.abs, [(3, 4)], domain="nokink"))
# |z|'s VJP row, reached directly with a real g and a positive |z| (both parts of a complex
# input come from the domain: abs of a "nokink" one is >= 0.25), and as abs's rule
spec("abs_complex_backward",
     C("abs_complex_backward", lambda g, z, a: direct("abs_complex_backward")(
         ad.real(g), z, ad.abs(a)),
       lambda g, z, a: np.real(g) * np.conj(z) / np.abs(a), [(3, 4)] * 3,
       domain=("real", "real", "nokink"), label="direct", dtypes=COMPLEX),
     C("abs_complex_backward", lambda z: ad.grad(lambda z: ad.sum(ad.abs(z) * ad.abs(z)))(z),
       lambda z: 2 * np.conj(z), [(3, 4)], domain="nokink", label="grad-of-abs",
       dtypes=COMPLEX))

# holomorphic and linear rows on complex inputs: (row, pyad call, numpy, shapes, domain)
_HOLOMORPHIC = [
    ("exp", ad.exp, np.exp, [(3, 4)], "real"),
    ("log", ad.log, np.log, [(3, 4)], "positive"),      # real parts > 0: off the branch cut
    ("sin", ad.sin, np.sin, [(3, 4)], "real"),
    ("cos", ad.cos, np.cos, [(3, 4)], "real"),
    ("sqrt", ad.sqrt, np.sqrt, [(3, 4)], "positive"),
    ("square", ad.square, np.square, [(3, 4)], "real"),
    ("tanh", ad.tanh, np.tanh, [(3, 4)], "unit"),
    ("add", ad.add, np.add, [(3, 4), (4,)], "real"),
    ("subtract", ad.subtract, np.subtract, [(3, 4), (3, 1)], "real"),
    ("multiply", ad.multiply, np.multiply, [(3, 4), (4,)], "real"),
    ("divide", ad.divide, np.divide, [(3, 4), (3, 4)], ("real", "nokink")),
    ("matmul", ad.matmul, np.matmul, [(3, 4), (4, 2)], "real"),
    ("sum", lambda z: ad.sum(z, axis=0), lambda z: np.sum(z, axis=0), [(3, 4)], "real"),
    ("pow_scalar", lambda z: z ** 3, lambda z: z ** 3, [(3, 4)], "real"),
    ("mul_scalar", lambda z: z * 2.5, lambda z: z * 2.5, [(3, 4)], "real"),
    ("rdiv_scalar", lambda z: 2.0 / z, lambda z: 2.0 / z, [(3, 4)], "nokink"),
    ("getitem", lambda z: z[1:, ::2], lambda z: z[1:, ::2], [(3, 4)], "real"),
    ("transpose", ad.transpose, np.transpose, [(3, 4)], "real"),
    ("reshape", lambda z: ad.reshape(z, (2, 6)), lambda z: np.reshape(z, (2, 6)), [(3, 4)],
     "real"),
    ("concatenate", lambda a, b: ad.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
     [(2, 3), (1, 3)], "real"),
    ("broadcast_to", lambda z: ad.broadcast_to(z, (3, 4)),
     lambda z: np.broadcast_to(z, (3, 4)), [(4,)], "real"),
]
for _name, _f, _r, _shapes, _domain in _HOLOMORPHIC:
    SPECS[_name].append(_cases(_name, _f, _r, _shapes, _domain))
