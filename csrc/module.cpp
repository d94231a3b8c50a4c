// The only PYBIND11_MODULE: imports numpy's C API, then registers every kernel family.
#define PYAD_MODULE_MAIN
#include "common.h"

namespace pyad {
void bind_elementwise(py::module_& m);
void bind_activations(py::module_& m);
void bind_reductions(py::module_& m);
void bind_indexing(py::module_& m);
void bind_losses(py::module_& m);
void bind_optimizers(py::module_& m);
void bind_threads(py::module_& m);
void bind_allocator(py::module_& m);
void bind_fused(py::module_& m);
void bind_vectors(py::module_& m);
void bind_conv(py::module_& m);
void bind_winograd(py::module_& m);
void bind_norm(py::module_& m);
void bind_complex(py::module_& m);
void bind_views(py::module_& m);
void bind_buckets(py::module_& m);
}  // namespace pyad

PYBIND11_MODULE(_C, m) {
    // OMP_WAIT_POLICY is left to the environment: pyad sets PASSIVE before importing us.
    if (_import_array() < 0) throw py::error_already_set();
    m.doc() = "pyad C++ kernels: dumb, contiguous, float32/float64, optional out=.";
    // _C.kernels holds exactly the primitives' forward kernels, each under its row's name
    // (the CPU backend maps the table's rows to them by name); _C itself the helpers,
    // optimizer updates and runtime settings.
    py::module_ k = m.def_submodule("kernels", "forward kernels, named as the primitives");
    pyad::bind_elementwise(k);
    pyad::bind_activations(k);
    pyad::bind_reductions(k);
    pyad::bind_losses(k);
    pyad::bind_indexing(m);
    pyad::bind_optimizers(m);
    pyad::bind_threads(m);
    pyad::bind_allocator(m);
    pyad::bind_fused(m);      // after the kernels, which register their fusible blocks
    pyad::bind_vectors(m);
    pyad::bind_conv(m);
    pyad::bind_winograd(m);
    pyad::bind_norm(m);
    pyad::bind_complex(m);
    pyad::bind_views(m);
    pyad::bind_buckets(m);
}
