"""pyad.scipy.special: scipy.special's functions with derivatives (rows in pyad/ops/special.py)."""
from pyad.ops.special import *  # noqa: F401,F403
from pyad.ops.special import __all__  # noqa: F401
