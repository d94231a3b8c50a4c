"""Op specs of the math family (see tests/op_specs.py, which imports this file).

Every row of pyad/ops_math.py gets cases over several shapes (0-d, empty, broadcasting pairs,
transposed and strided views), numpy dispatch (np.sinh(t)), Python scalar operands, and
forward-only int64 and bool cases that check numpy's output dtypes. The domains below (added
to op_specs.DOMAINS under math_* names) keep inputs where each function is smooth: away from
the jumps of mod/fmod/floor_divide and of the rounding functions, inside arccosh's domain,
and with exact zeros where sinc's derivatives are checked at 0.
"""
import numpy as np

import pyad as ad
from op_specs import C, DOMAINS, FLOATS, P, PAIRS, SPECS, _grid, _signs, const, spec  # noqa: F401


# ----------------------------------------------------------------------------- domains
def _mod_x(rng, s):
    """k + 0.3 (+- 0.03): x / y stays >= 0.08 away from an integer for every y of _mod_y."""
    return _grid(rng.integers(-3, 3, size=s) + 0.3 + rng.uniform(-0.03, 0.03, size=s))


def _mod_y(rng, s):
    """+-{0.5, 1, 2} * (1 + [0, 0.01]): nonzero divisors for mod, fmod and floor_divide."""
    scale = 2.0 ** rng.integers(-1, 2, size=s)
    return _grid(_signs(rng, s) * scale * (1.0 + rng.uniform(0.0, 0.01, size=s)))


def _round1(rng, s):
    """(k + 0.2 +- 0.05) / 10: 10 x stays away from integers and halves (round to 1 decimal)."""
    return _grid((rng.integers(-20, 20, size=s) + 0.2 + rng.uniform(-0.05, 0.05, size=s)) / 10)


def _with_zero(rng, s):
    """Values in [-2, 2] with exact zeros and +-2**-8 among them (sinc's derivatives at 0)."""
    x = _grid(rng.uniform(-2.0, 2.0, s))
    flat = x.reshape(-1)
    flat[0::3] = 0.0
    flat[1::5] = 2.0 ** -8 * _signs(rng, flat[1::5].shape)
    return x


DOMAINS.update({
    "math_gt1": lambda rng, s: _grid(rng.uniform(1.25, 3.0, s)),       # arccosh
    "math_wide": lambda rng, s: _grid(rng.uniform(-6.0, 6.0, s)),
    "math_modx": _mod_x,
    "math_mody": _mod_y,
    "math_round1": _round1,
    "math_with_zero": _with_zero,
    # integer-valued inputs for the forward-only int64 and bool cases
    "math_int": lambda rng, s: rng.integers(-5, 6, size=s).astype(np.float64),
    "math_int_nz": lambda rng, s: _signs(rng, s) * rng.integers(1, 6, size=s),
    "math_int_pos": lambda rng, s: rng.integers(1, 6, size=s).astype(np.float64),
    "math_int_unit": lambda rng, s: rng.integers(-1, 2, size=s).astype(np.float64),
    "math_zeros": lambda rng, s: np.zeros(s),
})

_SHAPES = [((3, 4), "3x4"), ((), "0d"), ((0, 3), "empty"), ((2, 3, 5), "2x3x5")]
_INT = dict(grad=False, dtypes=(np.int64,))
_BOOL = dict(grad=False, dtypes=(np.bool_,))


# ----------------------------------------------------------------------------- unary
def _unary_cases(name, f, r, domain, int_domain="math_int", boolean=True, np_name=None):
    """Shapes, views, numpy dispatch, and forward-only int64 (and bool) cases of one row."""
    cases = [C(name, f, r, [s], domain=domain, label=lab) for s, lab in _SHAPES]
    cases += [
        C(name, lambda x: f(x.T), lambda x: r(x.T), [(4, 3)], domain=domain,
          label="transposed"),
        C(name, lambda x: f(x[:, ::2]), lambda x: r(x[:, ::2]), [(3, 8)], domain=domain,
          label="strided"),
        C(name, lambda x: f(x[::-1, 1]), lambda x: r(x[::-1, 1]), [(5, 3)], domain=domain,
          label="reversed-column"),
        C(name, f, r, [(3, 4)], domain=int_domain, label="int64", **_INT),
    ]
    np_f = getattr(np, np_name or name)
    cases.append(C(name, lambda x: np_f(x), r, [(3, 4)], domain=domain,
                   label=f"np.{np_name or name}"))
    if boolean:
        cases.append(C(name, f, r, [(3, 4)], domain=int_domain, label="bool", **_BOOL))
    return cases


_UNARY = {
    # name: (pyad function, numpy reference, domain, int64/bool domain, bool case)
    "reciprocal": (ad.reciprocal, np.reciprocal, "nokink", "math_int_nz", True),
    "sinh": (ad.sinh, np.sinh, "real", "math_int", True),
    "cosh": (ad.cosh, np.cosh, "real", "math_int", True),
    "tan": (ad.tan, np.tan, "unit", "math_int", True),
    "arcsin": (ad.arcsin, np.arcsin, "unit", "math_int_unit", True),
    "arccos": (ad.arccos, np.arccos, "unit", "math_int_unit", True),
    "arctan": (ad.arctan, np.arctan, "real", "math_int", True),
    "arcsinh": (ad.arcsinh, np.arcsinh, "real", "math_int", True),
    "arccosh": (ad.arccosh, np.arccosh, "math_gt1", "math_int_pos", True),
    "arctanh": (ad.arctanh, np.arctanh, "unit", "math_zeros", True),
    "exp2": (ad.exp2, np.exp2, "real", "math_int", True),
    "expm1": (ad.expm1, np.expm1, "real", "math_int", True),
    "log2": (ad.log2, np.log2, "positive", "math_int_pos", True),
    "log10": (ad.log10, np.log10, "positive", "math_int_pos", True),
    "cbrt": (ad.cbrt, np.cbrt, "nokink", "math_int", True),
    "deg2rad": (ad.deg2rad, np.deg2rad, "real", "math_int", True),
    "rad2deg": (ad.rad2deg, np.rad2deg, "real", "math_int", True),
    "fabs": (ad.fabs, np.fabs, "nokink", "math_int", True),
    "sinc": (ad.sinc, np.sinc, "real", "math_int", True),
    "nan_to_num": (ad.nan_to_num, np.nan_to_num, "real", "math_int", True),
    # piecewise constant: inputs k/2 + 0.25 (+- 0.05), away from integers and halves
    "floor": (ad.floor, np.floor, "odd", "math_int", True),
    "ceil": (ad.ceil, np.ceil, "odd", "math_int", True),
    "rint": (ad.rint, np.rint, "odd", "math_int", True),
    "trunc": (ad.trunc, np.trunc, "odd", "math_int", True),
    "fix": (ad.fix, np.fix, "odd", "math_int", True),
    "round": (ad.round, np.round, "odd", "math_int", True),
}
for _name, (_f, _r, _d, _di, _b) in _UNARY.items():
    spec(_name, *_unary_cases(_name, _f, _r, _d, _di, _b))

# aliases and variants
SPECS["deg2rad"] += [
    C("deg2rad", ad.radians, np.radians, [(3, 4)], label="radians"),
    C("deg2rad", lambda x: np.radians(x), np.radians, [(3, 4)], label="np.radians"),
]
SPECS["rad2deg"] += [
    C("rad2deg", ad.degrees, np.degrees, [(3, 4)], label="degrees"),
    C("rad2deg", lambda x: np.degrees(x), np.degrees, [(3, 4)], label="np.degrees"),
]
SPECS["round"] += [
    C("round", lambda x: ad.round(x, 1), lambda x: np.round(x, 1), [(3, 4)],
      domain="math_round1", label="decimals=1"),
    C("round", lambda x: ad.around(x, decimals=-1), lambda x: np.around(x, decimals=-1),
      [(3, 4)], label="around,decimals=-1"),
    C("round", lambda x: x.round(1), lambda x: x.round(1), [(2, 3)], domain="math_round1",
      label="method"),
    C("round", lambda x: np.around(x, 1), lambda x: np.around(x, 1), [(2, 3)],
      domain="math_round1", label="np.around"),
    C("round", lambda x: ad.round(x, -1), lambda x: np.round(x, -1), [(3, 4)],
      domain="math_int", label="int64,decimals=-1", **_INT),
]


# sinc's row carries the derivative order n; the n-th derivative against an independent
# reference: sinc(x) = int_0^1 cos(pi x t) dt, so its n-th derivative is
# int_0^1 (pi t)^n cos(pi x t + n pi / 2) dt (Gauss-Legendre, exact here to ~1e-15)
def _np_sinc_derivative(n):
    nodes, weights = np.polynomial.legendre.leggauss(80)
    t, w = (nodes + 1.0) / 2.0, weights / 2.0

    def ref(x):
        x64 = x.astype(np.float64)[..., None]
        vals = np.sum(w * (np.pi * t) ** n * np.cos(np.pi * x64 * t + n * np.pi / 2), axis=-1)
        return vals.astype(x.dtype)
    return ref


def _sinc_order(n):
    return lambda x: ad.bind(P["sinc"], x, params=(n,))


SPECS["sinc"] += [
    C("sinc", ad.sinc, np.sinc, [(4, 5)], domain="math_with_zero", label="with-zeros"),
    C("sinc", ad.sinc, np.sinc, [(3, 4)], domain="math_wide", label="wide"),
]
for _n in (1, 2, 3):
    SPECS["sinc"] += [
        C("sinc", _sinc_order(_n), _np_sinc_derivative(_n), [(4, 5)], domain="math_with_zero",
          label=f"derivative-{_n},with-zeros"),
        C("sinc", _sinc_order(_n), _np_sinc_derivative(_n), [(3, 4)], domain="math_wide",
          label=f"derivative-{_n},wide"),
    ]

# nan_to_num: non-finite entries put in by where (so the derivative in x stays finite)
_FINITE = np.array([[True, False, True, True], [False, True, True, False],
                    [True, True, False, True]])
_SPECIALS = np.array([[0.0, np.nan, 0.0, 0.0], [np.inf, 0.0, 0.0, -np.inf],
                      [0.0, 0.0, -0.0, 0.0]])
_SPECIALS[2, 2] = np.nan


def _with_specials(x):
    return ad.where(const(_FINITE, x), x, const(_SPECIALS.astype(x.dtype), x))


def _np_with_specials(x):
    return np.where(_FINITE, x, _SPECIALS.astype(x.dtype))


SPECS["nan_to_num"] += [
    C("nan_to_num", lambda x: ad.nan_to_num(_with_specials(x)),
      lambda x: np.nan_to_num(_np_with_specials(x)), [(3, 4)], label="specials",
      grad=False),     # +-inf become +-1.8e308: no finite differences through those
    C("nan_to_num", lambda x: ad.nan_to_num(_with_specials(x), nan=-1.0, posinf=5.0,
                                            neginf=-5.0),
      lambda x: np.nan_to_num(_np_with_specials(x), nan=-1.0, posinf=5.0, neginf=-5.0),
      [(3, 4)], label="specials,values"),
    C("nan_to_num", lambda x: np.nan_to_num(_with_specials(x), posinf=2.5, neginf=-1.5),
      lambda x: np.nan_to_num(_np_with_specials(x), posinf=2.5, neginf=-1.5), [(3, 4)],
      label="np.nan_to_num,specials"),
]


# ----------------------------------------------------------------------------- binary
def _binary_cases(name, f, r, domains, scalar, int_domains=("math_int", "math_int"),
                  boolean=True, np_name=None):
    """scalar: the Python scalar operand, or (second, first) when they must differ."""
    second, first = scalar if isinstance(scalar, tuple) else (scalar, scalar)
    cases = [C(name, f, r, [sx, sy], domain=domains) for sx, sy in PAIRS]
    cases += [
        C(name, lambda x, y: f(x.T, y), lambda x, y: r(x.T, y), [(4, 3), (4,)],
          domain=domains, label="transposed,4"),
        C(name, lambda x, y: f(x[:, ::2], y[::-1]), lambda x, y: r(x[:, ::2], y[::-1]),
          [(3, 8), (4,)], domain=domains, label="strided,reversed"),
        C(name, f, r, [(2, 1, 4), (3, 1)], domain=domains, label="2x1x4,3x1"),
        C(name, lambda x: f(x, second), lambda x: r(x, second), [(3, 4)], domain=domains[0],
          label=f"x,{second}"),
        C(name, lambda y: f(first, y), lambda y: r(first, y), [(3, 4)], domain=domains[1],
          label=f"{first},y"),
        C(name, lambda x, y: getattr(np, np_name or name)(x, y), r, [(3, 4), (4,)],
          domain=domains, label=f"np.{np_name or name}"),
        C(name, f, r, [(3, 4), (4,)], domain=int_domains, label="int64", **_INT),
        C(name, lambda x: f(x, 3), lambda x: r(x, 3), [(3, 4)], domain=int_domains[0],
          label="int64,3", **_INT),
        C(name, lambda x: f(x, 2.5), lambda x: r(x, 2.5), [(3, 4)], domain=int_domains[0],
          label="int64,2.5", **_INT),
        # mixed dtypes promote as numpy does (float32 with an int64 array: float64)
        C(name, lambda x, y: f(x, y.astype(np.int64)), lambda x, y: r(x, y.astype(np.int64)),
          [(3, 4), (4,)], domain=int_domains, label="float,int64", grad=False,
          dtypes=FLOATS),
    ]
    if boolean:
        cases.append(C(name, f, r, [(3, 4), (3, 4)], domain=int_domains, label="bool",
                       **_BOOL))
        cases.append(C(name, lambda x: f(x, 3), lambda x: r(x, 3), [(3, 4)],
                       domain=int_domains[0], label="bool,3", **_BOOL))
    return cases


_BINARY = {
    # name: (pyad function, numpy reference, domains, Python scalar, int64/bool domains)
    "logaddexp": (ad.logaddexp, np.logaddexp, ("real", "real"), 0.5,
                  ("math_int", "math_int")),
    "logaddexp2": (ad.logaddexp2, np.logaddexp2, ("real", "real"), 0.5,
                   ("math_int", "math_int")),
    "arctan2": (ad.arctan2, np.arctan2, ("real", "nokink"), 0.75, ("math_int", "math_int")),
    "hypot": (ad.hypot, np.hypot, ("nokink", "real"), 1.5, ("math_int", "math_int")),
    # "even" and "odd" entries never tie (see op_specs._spaced); 0.125 ties with neither
    "fmax": (ad.fmax, np.fmax, ("even", "odd"), 0.125, ("math_int", "math_int")),
    "fmin": (ad.fmin, np.fmin, ("even", "odd"), 0.125, ("math_int", "math_int")),
    # x / y and 2.3 / y stay away from integers for x, y from _mod_x, _mod_y
    "remainder": (ad.mod, np.mod, ("math_modx", "math_mody"), (2.0, 2.3),
                  ("math_int", "math_int_nz")),
    "fmod": (ad.fmod, np.fmod, ("math_modx", "math_mody"), (2.0, -2.3),
             ("math_int", "math_int_nz")),
    "floor_divide": (ad.floor_divide, np.floor_divide, ("math_modx", "math_mody"), (2.0, 2.3),
                     ("math_int", "math_int_nz")),
    "copysign": (ad.copysign, np.copysign, ("nokink", "nokink"), -1.5,
                 ("math_int", "math_int")),
}
for _name, (_f, _r, _d, _s, _di) in _BINARY.items():
    spec(_name, *_binary_cases(_name, _f, _r, _d, _s, _di,
                               boolean=_name not in ("remainder", "fmod", "floor_divide")))

# divisors from _mod_y never vanish; 2.3 / y keeps away from integers too
SPECS["remainder"] += [
    C("remainder", ad.remainder, np.remainder, [(3, 4), (4,)],
      domain=("math_modx", "math_mody"), label="remainder"),
    C("remainder", lambda x, y: x % y, lambda x, y: x % y, [(3, 4), (4,)],
      domain=("math_modx", "math_mody"), label="operator"),
    C("remainder", lambda y: 2.3 % y, lambda y: 2.3 % y, [(3, 4)], domain="math_mody",
      label="2.3%y"),
    C("remainder", lambda x, y: np.mod(x, y), np.mod, [(3, 4), (4,)],
      domain=("math_modx", "math_mody"), label="np.mod"),
    C("remainder", lambda x: x % 3, lambda x: x % 3, [(3, 4)], domain="math_int",
      label="int64,operator", **_INT),
    C("remainder", lambda x: ad.mod(x, 3), lambda x: np.mod(x, 3), [(3, 4)],
      domain="math_int_nz", label="bool,3", **_BOOL),
]
SPECS["floor_divide"] += [
    C("floor_divide", lambda x, y: x // y, lambda x, y: x // y, [(3, 4), (4,)],
      domain=("math_modx", "math_mody"), label="operator"),
    C("floor_divide", lambda y: 2.3 // y, lambda y: 2.3 // y, [(3, 4)], domain="math_mody",
      label="2.3//y"),
    C("floor_divide", lambda x: x // 2, lambda x: x // 2, [(3, 4)], domain="math_int",
      label="int64,operator", **_INT),
]
# copysign: -0.0 carries a sign too
SPECS["copysign"].append(
    C("copysign", lambda x: ad.copysign(x, const(np.array([0.0, -0.0, 1.0, -1.0]), x)),
      lambda x: np.copysign(x, np.array([0.0, -0.0, 1.0, -1.0])), [(3, 4)], domain="nokink",
      label="signed-zeros", dtypes=(np.float64,)))
# fmax/fmin with NaNs: the number wins (forward only; tests/test_math_family.py checks the
# gradients there)
_NAN_ROW = np.array([np.nan, 0.5, np.nan, -0.75])
for _name, _f, _r in (("fmax", ad.fmax, np.fmax), ("fmin", ad.fmin, np.fmin)):
    SPECS[_name].append(C(_name, lambda x, f=_f: f(x, const(_NAN_ROW.astype(x.dtype), x)),
                          lambda x, r=_r: r(x, _NAN_ROW.astype(x.dtype)), [(3, 4)],
                          domain="even", label="nans", grad=False))
# true_divide is divide
SPECS["divide"].append(C("divide", ad.true_divide, np.true_divide, [(3, 4), (4,)],
                         domain=("real", "nokink"), label="true_divide"))

# ----------------------------------------------------------------------------- predicates
_ND = dict(grad=False, dtypes=FLOATS + (np.int64, np.bool_))
_PRED1 = {"isfinite": (ad.isfinite, np.isfinite), "isnan": (ad.isnan, np.isnan),
          "isinf": (ad.isinf, np.isinf), "signbit": (ad.signbit, np.signbit),
          "logical_not": (ad.logical_not, np.logical_not)}
for _name, (_f, _r) in _PRED1.items():
    spec(_name,
         *[C(_name, _f, _r, [s], domain="math_int", label=lab, **_ND) for s, lab in _SHAPES],
         C(_name, lambda x, f=_f: f(x.T), lambda x, r=_r: r(x.T), [(4, 3)], domain="math_int",
           label="transposed", **_ND),
         C(_name, lambda x, f=_f: f(_with_specials(x)), lambda x, r=_r: r(_np_with_specials(x)),
           [(3, 4)], label="specials", grad=False),
         C(_name, lambda x, n=_name: getattr(np, n)(x), _r, [(3, 4)], domain="math_int",
           label=f"np.{_name}", **_ND))

_PRED2 = {"logical_and": (ad.logical_and, np.logical_and),
          "logical_or": (ad.logical_or, np.logical_or),
          "logical_xor": (ad.logical_xor, np.logical_xor)}
for _name, (_f, _r) in _PRED2.items():
    spec(_name,
         *[C(_name, _f, _r, [sx, sy], domain="math_int_unit", **_ND)
           for sx, sy in [((3, 4), (3, 4)), ((3, 4), (4,)), ((), (2, 3)), ((), ()),
                          ((0, 4), (4,))]],
         C(_name, lambda x, f=_f: f(x, True), lambda x, r=_r: r(x, True), [(3, 4)],
           domain="math_int_unit", label="x,True", **_ND),
         C(_name, lambda x, f=_f: f(0.5, x), lambda x, r=_r: r(0.5, x), [(3, 4)],
           domain="math_int_unit", label="0.5,x", **_ND),
         C(_name, lambda x, y, f=_f: f(x, y.astype(np.int64)),
           lambda x, y, r=_r: r(x, y.astype(np.int64)), [(3, 4), (3, 4)],
           domain="math_int_unit", label="mixed-dtypes", grad=False),
         C(_name, lambda x, y, n=_name: getattr(np, n)(x, y), _r, [(3, 4), (4,)],
           domain="math_int_unit", label=f"np.{_name}", **_ND))
