"""Function transforms: grad/vjp/jvp/linearize (core.py), Hessian-vector and Gauss-Newton
products (products.py), Jacobians and Hessians (dense.py) with the Jacobian mode planner
(planner.py), the derivative checker (testing.py), and compile (compiler.py: record once,
replay)."""
from pyad.transforms.core import grad, jvp, linearize, value_and_grad, vjp
from pyad.transforms.products import gnvp, hvp, hvp_fn
from pyad.transforms.dense import hessian, jacobian
from pyad.transforms.testing import check_grads
from pyad.transforms.compiler import CompileWarning, compile

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "hvp", "hvp_fn", "gnvp",
           "jacobian", "hessian", "check_grads", "compile", "CompileWarning"]
