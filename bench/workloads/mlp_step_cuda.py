"""Workload `mlp_step_cuda`: mlp_step on a CUDA GPU: one SGD step (forward, softmax
cross-entropy on integer labels, backward, update) of a relu MLP in float32 at sizes M, L and
XL, pyad (CuPy arrays) against PyTorch eager, both on the GPU. Skipped without a usable GPU.

The weights, batch, learning rate and gradient check are mlp_step's (M is the very data of its
M case). Both frameworks run full float32 GEMMs (no TF32: CuPy's default, and set for torch).
pyad gets its labels as a host (numpy) array, its documented form: they are a kernel
parameter, copied to the GPU by the loss's kernels; torch gets them on the GPU."""

from bench.workloads import framework
from bench.workloads.mlp_step import LR, check_blocks, flat, make_data, reference_grads

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
    import cupy
    import pyad as ad
    from pyad import nn, optim
    cases = {}
    for case, (sizes, _) in SIZES.items():
        ws, bs, x, y = data(case)
        model = nn.MLP(sizes, activation="relu", seed=0)
        model.load_state_dict({f"{2 * i}.{k}": v for i, (w, b) in enumerate(zip(ws, bs))
                               for k, v in (("weight", w), ("bias", b))})
        model.to("cuda")
        opt = optim.SGD(model.parameters(), lr=LR)
        xg = ad.tensor(x, device="cuda")

        def step(model=model, opt=opt, xg=xg, y=y):
            opt.zero_grad()
            loss = nn.softmax_cross_entropy(model(xg), y)
            loss.backward()
            opt.step()
            return loss
        if compiled:
            step = ad.compile(step)
            step(), step()              # record and check, outside the timing (lr 1e-20)

        def check(step=step, model=model):
            step()
            return flat(cupy.asnumpy(p.grad.data) for p in model.parameters())
        cases[case] = (step, check)
    return cases


@framework(FRAMEWORKS, "pyad-cuda-compiled", needs=["pyad", "cupy", "array_api_compat"],
           gpu="cupy")
def _pyad_compiled():
    """As `pyad-cuda`, the step under ad.compile: the replay calls the CuPy kernels directly."""
    return _pyad(compiled=True)


@framework(FRAMEWORKS, "torch-cuda", needs=["torch"], gpu="torch")
def _torch():
    """Eager nn.Sequential on the GPU, F.cross_entropy, optim.SGD."""
    import torch
    import torch.nn.functional as F
    torch.backends.cuda.matmul.allow_tf32 = False       # full float32 GEMMs, as pyad's
    dev = torch.device("cuda")
    cases = {}
    for case, (sizes, _) in SIZES.items():
        ws, bs, x, y = data(case)
        layers = []
        for i, (w, b) in enumerate(zip(ws, bs)):
            lin = torch.nn.Linear(*w.shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers += [lin] + ([torch.nn.ReLU()] if i < len(ws) - 1 else [])
        model = torch.nn.Sequential(*layers).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)

        def step(model=model, opt=opt, xt=xt, yt=yt):
            opt.zero_grad()
            loss = F.cross_entropy(model(xt), yt)
            loss.backward()
            opt.step()
            return loss

        def check(step=step, model=model):
            step()
            return flat(p.grad.t().cpu().numpy() for p in model.parameters())
        cases[case] = (step, check)
    return cases
