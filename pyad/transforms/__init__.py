"""Function transforms: grad/vjp/jvp/linearize (core.py), Hessian-vector and Gauss-Newton
products (products.py), Jacobians and Hessians (dense.py) with the Jacobian mode planner
(planner.py), the derivative checker (testing.py), compile (compiler.py: record once,
replay), and autograd's operators under their names (autograd_names.py)."""
from pyad.transforms.core import grad, jvp, linearize, value_and_grad, vjp
from pyad.transforms.products import gnvp, hvp, hvp_fn
from pyad.transforms.dense import hessian, jacobian
from pyad.transforms.testing import check_grads
from pyad.transforms.compiler import CompileWarning, compile
from pyad.transforms.autograd_names import (deriv, elementwise_grad, grad_and_aux, grad_named,
                                            holomorphic_grad,
                                            hessian_tensor_product, hessian_vector_product,
                                            make_ggnvp, make_hvp, make_jvp, make_vjp,
                                            multigrad_dict, tensor_jacobian_product,
                                            vector_jacobian_product)

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "hvp", "hvp_fn", "gnvp",
           "jacobian", "hessian", "check_grads", "compile", "CompileWarning",
           # autograd's names (autograd_names.py)
           "elementwise_grad", "deriv", "holomorphic_grad", "make_vjp", "make_jvp", "make_hvp",
           "hessian_tensor_product", "hessian_vector_product", "tensor_jacobian_product",
           "vector_jacobian_product", "make_ggnvp", "grad_and_aux", "grad_named",
           "multigrad_dict"]
