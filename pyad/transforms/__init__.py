"""Function transforms: grad/vjp/jvp/linearize (core.py), HVPs, Jacobians, Hessians and
Gauss-Newton products (higher_order.py) with the Jacobian mode planner (planner.py), and the
derivative checker (testing.py)."""
from pyad.transforms.core import grad, jvp, linearize, value_and_grad, vjp
from pyad.transforms.higher_order import gnvp, hessian, hvp, hvp_fn, jacobian
from pyad.transforms.testing import check_grads

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "hvp", "hvp_fn", "gnvp",
           "jacobian", "hessian", "check_grads"]
