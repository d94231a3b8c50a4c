"""Hessian-free (Gauss-Newton, CG, LM damping) vs Adam on a deep digits autoencoder.

    python examples/hessian_free.py                     # 64-32-16-8-16-32-64 tanh autoencoder
    python examples/hessian_free.py --iterations 60 --cg-iters 100

Martens (2010) trained deep autoencoders, hard for first-order methods, with truncated Newton
steps: each iteration solves (G + lambda I) d = -g by conjugate gradient on Gauss-Newton
products G v = J^T H_L J v (ad.gnvp; the MSE loss object gives H_L in closed form), and adapts
the damping lambda by the ratio rho of actual to predicted reduction (Levenberg-Marquardt).
ad.optim.HessianFree does exactly that. The script trains the same full-batch autoencoder on
the digits training images with HessianFree and with Adam, plots training loss vs iteration
and vs wall-clock time (Adam runs on until it has used as much time as Hessian-free), and
prints the damping history.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, digits, log, out_dir, parser, progress, pyplot, save_figure  # noqa: E402


def init_params(sizes, seed):
    """[W0, b0, W1, b1, ...]: Xavier-normal weights (tanh), zero biases, float64."""
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((a, b)) * np.sqrt(2.0 / (a + b)), np.zeros(b)]
    return params


def make_model(x):
    """params -> reconstruction of x: tanh layers, linear code and output layers."""
    def model(params):
        h = x
        n = len(params) // 2
        for i in range(n):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n - 1 and i != n // 2 - 1:      # the code layer and the output are linear
                h = ad.tanh(h)
        return h
    return model


def train_hf(model, loss, params, args):
    hf = ad.optim.HessianFree(damping=args.damping, cg_max_iter=args.cg_iters, cg_tol=1e-6)
    hist = {"loss": [float(np.asarray(loss(model(params))))], "time": [0.0], "damping": [],
            "rho": [], "cg_iterations": []}
    t0 = time.perf_counter()
    for _ in progress(range(args.iterations), desc="Hessian-free"):
        params, info = hf.step(model, loss, params)
        hist["loss"].append(info["new_loss"])
        hist["time"].append(time.perf_counter() - t0)
        hist["damping"].append(info["damping_used"])
        hist["rho"].append(info["rho"])
        hist["cg_iterations"].append(info["cg_iterations"])
    return params, hist


def train_adam(model, loss, params, args, min_seconds):
    """Full-batch Adam for args.iterations steps, then on until min_seconds of wall time."""
    tensors = [ad.tensor(p.copy(), requires_grad=True) for p in params]
    opt = ad.optim.Adam(tensors, lr=args.adam_lr)
    with ad.no_grad():
        hist = {"loss": [float(np.asarray(loss(model(tensors))))], "time": [0.0]}
    t0 = time.perf_counter()
    for it in progress(range(args.max_adam_iterations), desc="Adam"):
        if it >= args.iterations and time.perf_counter() - t0 >= min_seconds:
            break
        value = loss(model(tensors))
        opt.zero_grad()
        value.backward()
        opt.step()
        with ad.no_grad():
            hist["loss"].append(float(np.asarray(loss(model(tensors)))))
        hist["time"].append(time.perf_counter() - t0)
    return hist


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 32, 16, 8, 16, 32, 64])
    p.add_argument("--iterations", type=int, default=40, help="Hessian-free iterations")
    p.add_argument("--cg-iters", type=int, default=50, help="CG iterations per HF step (max)")
    p.add_argument("--damping", type=float, default=1.0, help="initial LM damping")
    p.add_argument("--adam-lr", type=float, default=1e-2)
    p.add_argument("--max-adam-iterations", type=int, default=20000)
    p.add_argument("--n-train", type=int, default=1000, help="training images (full batch)")
    p.add_argument("--fast", action="store_true", help="fewer iterations and images (tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.iterations, args.cg_iters, args.n_train = 10, 20, 300
        args.max_adam_iterations = 2000
    out = out_dir(args.out)

    (x_train, _), _ = digits()
    x = x_train[:args.n_train].astype(np.float64)
    model, loss = make_model(x), ad.losses.MSE(x)
    params0 = init_params(args.sizes, args.seed)
    n_params = sum(q.size for q in params0)
    log(f"autoencoder {'-'.join(map(str, args.sizes))} (tanh, linear code), {n_params} "
        f"parameters, {len(x)} images, full batch; initial loss "
        f"{float(np.asarray(loss(model(params0)))):.4f}")

    _, hf = train_hf(model, loss, params0, args)
    hf_time = hf["time"][-1]
    log(f"Hessian-free: {args.iterations} iterations, {sum(hf['cg_iterations'])} CG steps, "
        f"{hf_time:.1f} s, loss {hf['loss'][0]:.4f} -> {hf['loss'][-1]:.5f}")
    log("damping used per iteration: " + " ".join(f"{d:.3g}" for d in hf["damping"]))
    log("rho per iteration:          " + " ".join(f"{r:.2f}" for r in hf["rho"]))

    adam = train_adam(model, loss, params0, args, hf_time)
    k = args.iterations
    log(f"Adam (lr {args.adam_lr:g}): loss after {k} iterations {adam['loss'][k]:.5f}; after "
        f"{len(adam['loss']) - 1} iterations ({adam['time'][-1]:.1f} s, as long as "
        f"Hessian-free) {adam['loss'][-1]:.5f}")

    plt = pyplot()
    fig, (ax_it, ax_t, ax_d) = plt.subplots(1, 3, figsize=(15, 4.2))
    ax_it.semilogy(hf["loss"], "o-", ms=3, label="Hessian-free (Gauss-Newton)")
    ax_it.semilogy(adam["loss"][:k + 1], "-", label="Adam")
    ax_it.set(xlabel="iteration", ylabel="training loss (MSE)", title="loss vs iteration")
    ax_t.semilogy(hf["time"], hf["loss"], "o-", ms=3, label="Hessian-free")
    ax_t.semilogy(adam["time"], adam["loss"], "-", label=f"Adam ({len(adam['loss']) - 1} its)")
    ax_t.set(xlabel="wall-clock time (s)", ylabel="training loss (MSE)",
             title="loss vs time")
    its = np.arange(1, k + 1)
    ax_d.semilogy(its, hf["damping"], "o-", ms=3, color="C0", label="damping lambda (left axis)")
    ax_d.set(xlabel="HF iteration", title="Levenberg-Marquardt damping and CG work")
    ax_d.set_ylabel("damping lambda", color="C0")
    ax_d.tick_params(axis="y", colors="C0", which="both")
    ax_cg = ax_d.twinx()                       # a second y-axis: a count, on a linear scale
    ax_cg.plot(its, hf["cg_iterations"], "s-", ms=3, color="C1",
               label="CG iterations (right axis)")
    # headroom above both curves for the legend
    ax_cg.set_ylim(0, 1.45 * args.cg_iters)
    lo, hi = min(hf["damping"]), max(hf["damping"])
    ax_d.set_ylim(lo / 2, hi * 2 * (2 * hi / lo) ** 0.6)
    ax_cg.set_ylabel(f"CG iterations (at most {args.cg_iters})", color="C1")
    ax_cg.tick_params(axis="y", colors="C1")
    for ax in (ax_it, ax_t):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=9)
    ax_d.grid(alpha=0.3, which="both")
    handles = ax_d.get_legend_handles_labels()[0] + ax_cg.get_legend_handles_labels()[0]
    ax_cg.legend(handles, [h.get_label() for h in handles], fontsize=9, loc="upper right")
    fig.tight_layout()
    png = save_figure(fig, out, "hessian_free.png")
    return {"hf": hf, "adam": adam, "png": png, "n_params": n_params}


if __name__ == "__main__":
    main()
