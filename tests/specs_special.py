"""Op specs of the special-function family, pyad.scipy.special (see tests/op_specs.py, which
imports this file). References are scipy.special's, cast to the input's float dtype as pyad's
results are. Shape parameters (a, b, df, k) are constants of the cases: their derivatives
raise NotImplementedError (tests/test_scipy.py checks that)."""
import numpy as np
import scipy.special as sc

import pyad as ad
from op_specs import C, const, spec

S = ad.scipy.special


def _ref(f):
    """scipy's f, its result in the inputs' float dtype (scipy computes some in float64)."""
    def ref(*xs):
        dtype = np.result_type(*[x.dtype for x in xs], np.float32)
        return np.asarray(f(*xs)).astype(dtype)
    return ref


def _shift(f, c):
    """f at x + c (a domain moved: erfcinv lives on (0, 2))."""
    return lambda x: f(x + c)


def _unary(name, f, r, domain):
    return [C(name, f, _ref(r), [(3, 4)], domain=domain),
            C(name, f, _ref(r), [()], domain=domain, label="0d"),
            C(name, lambda x: f(x[:, ::2]), _ref(lambda x: r(x[:, ::2])), [(3, 6)],
              domain=domain, label="strided")]


_UNARY = {
    "gammaln": (S.gammaln, sc.gammaln, "positive"),
    "digamma": (S.digamma, sc.digamma, "positive"),
    "gamma": (S.gamma, sc.gamma, "positive"),
    "erf": (S.erf, sc.erf, "real"),
    "erfc": (S.erfc, sc.erfc, "real"),
    "erfinv": (S.erfinv, sc.erfinv, "unit"),
    "erfcinv": (_shift(S.erfcinv, 1.0), _shift(sc.erfcinv, 1.0), "unit"),
    "logit": (S.logit, sc.logit, "prob"),
    "ndtr": (S.ndtr, sc.ndtr, "real"),
    "log_ndtr": (S.log_ndtr, sc.log_ndtr, "real"),
    "ndtri": (S.ndtri, sc.ndtri, "prob"),
    "i0": (S.i0, sc.i0, "real"),
    "i1": (S.i1, sc.i1, "real"),
    "j0": (S.j0, sc.j0, "real"),
    "j1": (S.j1, sc.j1, "real"),
    "y0": (S.y0, sc.y0, "positive"),
    "y1": (S.y1, sc.y1, "positive"),
}
for _name, (_f, _r, _d) in _UNARY.items():
    spec(_name, *_unary(_name, _f, _r, _d))

spec("polygamma",
     C("polygamma", lambda x: S.polygamma(1, x), _ref(lambda x: sc.polygamma(1, x)), [(3, 4)],
       domain="positive", label="n=1"),
     C("polygamma", lambda x: S.polygamma(2, x), _ref(lambda x: sc.polygamma(2, x)), [(5,)],
       domain="positive", label="n=2"))
spec("iv", C("iv", lambda x: S.iv(1.5, x), _ref(lambda x: sc.iv(1.5, x)), [(3, 4)],
             domain="positive"),
     C("iv", lambda x: S.iv(2, x), _ref(lambda x: sc.iv(2, x)), [(4,)], label="v=2"))
spec("ive", C("ive", lambda x: S.ive(2, x), _ref(lambda x: sc.ive(2, x)), [(3, 4)],
              domain="nokink"))
spec("jv", C("jv", lambda x: S.jv(1.5, x), _ref(lambda x: sc.jv(1.5, x)), [(3, 4)],
             domain="positive"),
     C("jv", lambda x: S.jv(3, x), _ref(lambda x: sc.jv(3, x)), [(4,)], label="v=3"))
spec("yv", C("yv", lambda x: S.yv(0.5, x), _ref(lambda x: sc.yv(0.5, x)), [(3, 4)],
             domain="positive"))

spec("xlogy",
     C("xlogy", S.xlogy, _ref(sc.xlogy), [(3, 4), (4,)], domain=("real", "positive")),
     C("xlogy", lambda x: S.xlogy(x, 2.0), _ref(lambda x: sc.xlogy(x, 2.0)), [(3,)],
       label="scalar-y"))
spec("xlog1py",
     C("xlog1py", S.xlog1py, _ref(sc.xlog1py), [(3, 4), (3, 4)], domain=("real", "positive")))

_A = np.array([0.7, 1.3, 2.5, 3.0])
_B = np.array([[0.9], [2.0], [3.5]])
_DF = np.array([3.0, 5.5, 10.0, 2.5])
_K = np.array([0.0, 1.0, 3.0, 5.0])


def _c(a, x):
    """Constant a next to x, in x's dtype."""
    return const(np.asarray(a, dtype=x.dtype), x)


spec("gammainc", C("gammainc", lambda x: S.gammainc(_c(_A, x), x),
                   _ref(lambda x: sc.gammainc(_A.astype(x.dtype), x)), [(3, 4)],
                   domain="positive"))
spec("gammaincc", C("gammaincc", lambda x: S.gammaincc(_c(_A, x), x),
                    _ref(lambda x: sc.gammaincc(_A.astype(x.dtype), x)), [(3, 4)],
                    domain="positive"))
spec("betainc", C("betainc", lambda x: S.betainc(_c(_A, x), _c(_B, x), x),
                  _ref(lambda x: sc.betainc(_A.astype(x.dtype), _B.astype(x.dtype), x)),
                  [(3, 4)], domain="prob"))
spec("stdtr", C("stdtr", lambda t: S.stdtr(_c(_DF, t), t),
                _ref(lambda t: sc.stdtr(_DF.astype(t.dtype), t)), [(3, 4)]))
spec("pdtr", C("pdtr", lambda m: S.pdtr(_c(_K, m), m),
               _ref(lambda m: sc.pdtr(_K.astype(m.dtype), m)), [(3, 4)], domain="positive"))
