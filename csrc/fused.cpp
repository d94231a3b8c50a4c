// Fused elementwise programs (ad.compile): a run of same-shape kernels in one call, block by block
// (inputs of the output's shape, or rows broadcast over it: a bias).
#include "map_kernels.h"

#include <cstring>
#include <vector>

namespace pyad {

namespace {

std::vector<BlockKernel>& registry() {
    static std::vector<BlockKernel> kernels;
    return kernels;
}

// One instruction of a program, as pyad.transforms.compiler packs it (struct "<4i2d").
// Operands a, b: < n_inputs an input array, else register (r - n_inputs); dst: a register, or
// -1 for the output (the last instruction). Registers hold one block; an instruction never
// writes a register it reads (the loops take __restrict pointers).
struct Instr {
    int32_t kernel, a, b, dst;
    double p0, p1;
};
static_assert(sizeof(Instr) == 32, "the program layout is 4 int32 and 2 float64");

// Elements per block: the registers of a block stay in L1 between instructions.
constexpr npy_intp kBlock = 1024;

PyObject* fused_map(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
    const char* k = "fused_map";
    if (kwnames && PyTuple_GET_SIZE(kwnames))
        raise(PyExc_TypeError, "pyad._C.fused_map: takes no keyword arguments");
    if (nargs < 2) raise(PyExc_TypeError, "pyad._C.fused_map(*inputs, program): needs an input and a program");
    PyObject* prog = args[nargs - 1];
    if (!PyBytes_Check(prog))
        raise(PyExc_TypeError, "pyad._C.fused_map: the program must be bytes, got %s", Py_TYPE(prog)->tp_name);
    Py_ssize_t nbytes = PyBytes_GET_SIZE(prog);
    if (nbytes == 0 || nbytes % (Py_ssize_t)sizeof(Instr))
        raise(PyExc_ValueError, "pyad._C.fused_map: a program is a non-empty run of 32-byte instructions, got %zd bytes",
              nbytes);
    int n_ops = (int)(nbytes / (Py_ssize_t)sizeof(Instr));
    std::vector<Instr> code((size_t)n_ops);
    std::memcpy(code.data(), PyBytes_AS_STRING(prog), (size_t)nbytes);
    int n_in = (int)(nargs - 1);
    std::vector<PyArrayObject*> arr((size_t)n_in);
    for (int i = 0; i < n_in; ++i) arr[i] = as_input(k, args[i], "input");
    int tn = float_dtype(k, arr.data(), n_in);
    // every input has the first's shape, or is a row: a vector of the last dimension's length,
    // broadcast over the rows (a bias); blocks then start at row boundaries
    PyArrayObject* x = arr[0];
    npy_intp n = PyArray_SIZE(x);
    npy_intp row = PyArray_NDIM(x) ? PyArray_DIMS(x)[PyArray_NDIM(x) - 1] : 1;
    std::vector<char> is_row((size_t)n_in, 0);
    bool rows = false;
    for (int i = 1; i < n_in; ++i) {
        if (PyArray_NDIM(arr[i]) == 1 && PyArray_DIM(arr[i], 0) == row && row < n && row > 0) {
            is_row[i] = 1;
            rows = true;
        } else {
            require_same_shape(k, arr[0], arr[i]);
        }
    }

    const std::vector<BlockKernel>& reg = registry();
    int n_regs = 0;
    for (int j = 0; j < n_ops; ++j) {
        const Instr& I = code[j];
        if (I.kernel < 0 || I.kernel >= (int)reg.size())
            raise(PyExc_ValueError, "pyad._C.fused_map: instruction %d names kernel %d of %d", j, I.kernel, (int)reg.size());
        if (j == n_ops - 1 ? I.dst != -1 : I.dst < 0)
            raise(PyExc_ValueError, "pyad._C.fused_map: instruction %d writes %d; the last one writes -1 (the "
                  "output), the others a register >= 0", j, I.dst);
        if (I.dst + 1 > n_regs) n_regs = I.dst + 1;
    }
    for (int j = 0; j < n_ops; ++j) {
        const Instr& I = code[j];
        for (int s = 0; s < reg[I.kernel].nin; ++s) {
            int r = s ? I.b : I.a;
            if (r < 0 || r >= n_in + n_regs || (I.dst >= 0 && r == n_in + I.dst))
                raise(PyExc_ValueError, "pyad._C.fused_map: instruction %d reads operand %d (%d inputs, %d "
                      "registers; it may not read the register it writes)", j, r, n_in, n_regs);
        }
    }

    py::object out = get_out(k, Py_None, PyArray_NDIM(x), PyArray_DIMS(x), tn);
    size_t es = tn == NPY_FLOAT ? sizeof(float) : sizeof(double);
    std::vector<const char*> base((size_t)n_in);
    for (int i = 0; i < n_in; ++i) base[i] = (const char*)PyArray_DATA(arr[i]);
    char* y = (char*)PyArray_DATA((PyArrayObject*)out.ptr());
    bool f64 = tn == NPY_DOUBLE;
    {
        MaybeNoGil nogil(n > kGilGrain);
        npy_intp unit = rows ? row : 1;        // blocks hold whole rows when a row is broadcast
        npy_intp per_block = rows ? row * (kBlock / row > 1 ? kBlock / row : 1) : kBlock;
        parallel_items(n / unit, n, [&](npy_intp i0, npy_intp i1) {     // threads as for one kernel of n
            npy_intp s = i0 * unit, e = i1 * unit;
            npy_intp block = e - s < per_block ? e - s : per_block;
            std::vector<char> regs((size_t)(n_regs > 0 ? n_regs : 1) * (size_t)block * es);
            // each broadcast row tiled over one block, once: every block starts at a row boundary
            std::vector<std::vector<char>> tiles((size_t)n_in);
            for (int i = 0; i < n_in; ++i)
                if (is_row[i]) {
                    tiles[i].resize((size_t)block * es);
                    for (npy_intp r = 0; r < block; r += row)
                        std::memcpy(tiles[i].data() + (size_t)r * es, base[i], (size_t)row * es);
                }
            auto operand = [&](int r, npy_intp at) -> const void* {
                if (r >= n_in) return (const void*)(regs.data() + (size_t)(r - n_in) * block * es);
                return is_row[r] ? (const void*)tiles[r].data() : (const void*)(base[r] + at * es);
            };
            for (npy_intp b0 = s; b0 < e; b0 += block) {
                npy_intp m = e - b0 < block ? e - b0 : block;
                for (const Instr& I : code) {
                    const BlockKernel& K = reg[I.kernel];
                    void* dst = I.dst < 0 ? (void*)(y + b0 * es) : (void*)(regs.data() + (size_t)I.dst * block * es);
                    (f64 ? K.f64 : K.f32)(operand(I.a, b0), K.nin == 2 ? operand(I.b, b0) : nullptr, dst, m, I.p0, I.p1);
                }
            }
        });
    }
    return out.release().ptr();
}

}  // namespace

void register_block(const BlockKernel& k) {
    for (BlockKernel& have : registry())
        if (std::strcmp(have.name, k.name) == 0) {
            have = k;
            return;
        }
    registry().push_back(k);
}

void bind_fused(py::module_& m) {
    def_fast<fused_map>(m, "fused_map",
                        "fused_map(*inputs, program)\n--\n\nRun a program of same-shape elementwise kernels on "
                        "C-contiguous float32/float64 inputs of one shape and dtype, block by block (bitwise "
                        "the kernels run one by one). See fusible_kernels.");
    m.def("fusible_kernels", [] {
        py::dict d;
        const std::vector<BlockKernel>& reg = registry();
        for (size_t i = 0; i < reg.size(); ++i) d[reg[i].name] = py::make_tuple((int)i, reg[i].nin, reg[i].npar);
        return d;
    }, "{kernel name: (id, array inputs, float parameters)}: the kernels fused_map programs may use.");
}

}  // namespace pyad
