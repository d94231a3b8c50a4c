// glibc malloc tuning: keep freed array memory in the process for reuse instead of unmapping it.
#include "common.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace pyad {
namespace {

// By default glibc serves blocks above a (dynamic) threshold with fresh mmap()s and trims the
// heap once 128 KB at its top are free, so a new activation or gradient array of the same
// size as the one just freed page-faults in again, page by page. Those faults were ~40% of a
// float64 MLP gradient here. Returns whether the settings took effect (glibc only).
bool keep_freed_memory(long mmap_threshold, long trim_threshold) {
    if (mmap_threshold < 0 || trim_threshold < 0)
        throw py::value_error("pyad._C.keep_freed_memory: thresholds must be >= 0 bytes");
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) == 1 &&
           mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold)) == 1;
#else
    return false;
#endif
}

}  // namespace

void bind_allocator(py::module_& m) {
    m.def("keep_freed_memory", &keep_freed_memory, py::arg("mmap_threshold"),
          py::arg("trim_threshold"),
          "glibc mallopt: serve blocks below mmap_threshold from the heap and keep up to "
          "trim_threshold bytes of freed memory for reuse. False where not glibc.");
}

}  // namespace pyad
