"""Workload `mlp_step_cuda`: mlp_step on a CUDA GPU: one SGD step (forward, softmax
cross-entropy on integer labels, backward, update) of a relu MLP in float32 at sizes M, L and
XL, pyad (CuPy arrays) against PyTorch eager, both on the GPU. Skipped without a usable GPU.

The weights, batch, learning rate and gradient check are mlp_step's (M is the very data of its
M case). Both frameworks run full float32 GEMMs (no TF32: CuPy's default, and set for torch).
pyad gets its labels as a host (numpy) array, its documented form: they are a kernel
parameter, copied to the GPU by the loss's kernels; torch gets them on the GPU."""

from bench.workloads import framework
from bench.workloads.mlp_step import check_blocks, make_data, pyad_case, reference_grads, torch_case

SIZES = {"M": ((784, 512, 512, 10), 128), "L": ((1024, 2048, 2048, 10), 256),
         "XL": ((4096, 4096, 4096, 10), 1024)}
UNIT, PER_CALL = "us", 1
BASELINE, REFERENCE = "pyad-cuda", "torch-cuda"
FRAMEWORKS = {}
_DATA, _REF = {}, {}


def data(case):
    """(weights, biases, x, labels) of `case`, drawn as mlp_step draws its own (made once)."""
    if case not in _DATA:
        _DATA[case] = make_data(*SIZES[case])
    return _DATA[case]


def verify(case, fw, out):
    """Each gradient block vs a float64 backward on the host, to 1e-3 of its largest entry."""
    if case not in _REF:
        _REF[case] = reference_grads(*data(case))
    check_blocks(out, _REF[case], f"mlp_step_cuda/{case}/{fw}")


@framework(FRAMEWORKS, "pyad-cuda", needs=["pyad", "cupy", "array_api_compat"], gpu="cupy")
def _pyad(compiled=False):
    """nn.MLP moved to the GPU + nn.softmax_cross_entropy + backward() + optim.SGD.step()."""
    return {case: pyad_case(sizes, *data(case), compiled=compiled, device="cuda")
            for case, (sizes, _) in SIZES.items()}


@framework(FRAMEWORKS, "pyad-cuda-compiled", needs=["pyad", "cupy", "array_api_compat"],
           gpu="cupy")
def _pyad_compiled():
    """As `pyad-cuda`, the step under ad.compile: the replay calls the CuPy kernels directly."""
    return _pyad(compiled=True)


@framework(FRAMEWORKS, "torch-cuda", needs=["torch"], gpu="torch")
def _torch():
    """Eager nn.Sequential on the GPU, F.cross_entropy, optim.SGD."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False       # full float32 GEMMs, as pyad's
    torch.set_float32_matmul_precision("highest")      # (torch 2.9+ reads this one)
    return {case: torch_case(*data(case), device="cuda") for case in SIZES}
