"""Hessian spectrum of an MLP while it trains on digits: extreme eigenvalues and SLQ densities.

    python examples/hessian_spectrum.py                      # 20 epochs, ~10k parameters
    python examples/hessian_spectrum.py --hidden 32 --epochs 10

A tanh MLP (float64, parameters a dict of arrays) is trained by minibatch SGD on
scikit-learn's 8x8 digits. At several epochs the script computes the k smallest and k largest
eigenvalues of the Hessian of the full training loss (ad.curvature.hessian_eigs,
which="both": Lanczos on Hessian-vector products, no dense Hessian) and its spectral density
by stochastic Lanczos quadrature (ad.curvature.hessian_density). At initialisation the loss
surface has large negative curvature (lambda_min / lambda_max ~ -0.3); within the first
epochs the negative eigenvalues shrink to a few percent of lambda_max while the bulk
concentrates near 0 and a few outliers carry the large positive curvature.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (ad, digits, init_mlp, log, mlp, out_dir, parser, progress,  # noqa: E402
                     pyplot, save_figure)


def loss_fn(p, x, y):
    return ad.losses.softmax_cross_entropy(mlp(p, x), y)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--at", type=int, nargs="+", default=[0, 1, 2, 3, 5, 8, 12, 20],
                   help="epochs at which to measure the spectrum")
    p.add_argument("--density-at", type=int, nargs="+", default=[0, 2, 20],
                   help="epochs at which to estimate the spectral density too")
    p.add_argument("--k", type=int, default=3, help="eigenvalues at each end")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--probes", type=int, default=5, help="SLQ probes")
    p.add_argument("--slq-steps", type=int, default=60, help="Lanczos steps per SLQ probe")
    p.add_argument("--fast", action="store_true", help="small net, 3 epochs (tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.hidden, args.epochs, args.k = [16], 3, 2
        args.at, args.density_at = [0, 1, 3], [0, 3]
        args.probes, args.slq_steps = 2, 20
    out = out_dir(args.out)
    at = sorted({e for e in args.at if e <= args.epochs})
    density_at = sorted({e for e in args.density_at if e <= args.epochs})

    (x_train, y_train), (x_test, y_test) = digits()
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    params = init_mlp([64, *args.hidden, 10], args.seed)
    n_params = sum(v.size for v in params.values())
    log(f"MLP 64-{'-'.join(map(str, args.hidden))}-10 (tanh), {n_params} parameters; Hessian of "
        f"the full training loss ({len(x_train)} images)")
    value_and_grad = ad.value_and_grad(loss_fn)
    rng = np.random.default_rng(args.seed)

    history = {"epoch": [], "loss": [], "test_acc": [], "smallest": [], "largest": [],
               "iterations": [], "seconds": []}
    densities = {}

    def measure(epoch):
        t0 = time.perf_counter()
        vals, _, info = ad.curvature.hessian_eigs(loss_fn, params, k=args.k, which="both",
                                                  args=(x_train, y_train), tol=1e-4,
                                                  seed=args.seed)
        seconds = time.perf_counter() - t0
        loss = float(np.asarray(loss_fn(params, x_train, y_train)))
        with ad.no_grad():
            acc = float(np.mean(np.asarray(mlp(params, x_test)).argmax(1) == y_test))
        history["epoch"].append(epoch)
        history["loss"].append(loss)
        history["test_acc"].append(acc)
        history["smallest"].append(vals[:args.k].tolist())
        history["largest"].append(vals[-args.k:][::-1].tolist())
        history["iterations"].append(info["iterations"])
        history["seconds"].append(seconds)
        log(f"epoch {epoch:3d}: loss {loss:.4f}, test acc {acc:.3f}; lambda_min {vals[0]:+.4f}, "
            f"lambda_max {vals[-1]:.4f}, ratio {vals[0] / vals[-1]:+.4f} ({info['iterations']} "
            f"Lanczos iterations, {seconds:.2f} s)")
        if epoch in density_at:
            grid, dens = ad.curvature.hessian_density(
                loss_fn, params, args=(x_train, y_train), num_probes=args.probes,
                num_steps=args.slq_steps, seed=args.seed)
            densities[epoch] = (grid, dens)

    for epoch in progress(range(args.epochs + 1), desc="epochs"):
        if epoch in at:
            measure(epoch)
        if epoch == args.epochs:
            break
        for xb, yb in ad.data.batches(x_train, y_train, batch_size=args.batch_size, seed=rng):
            _, g = value_and_grad(params, xb, yb)
            params = {k: params[k] - args.lr * g[k] for k in params}

    plt = pyplot()
    fig, (ax_eig, ax_ratio, ax_dens) = plt.subplots(1, 3, figsize=(15, 4.2))
    ep = np.array(history["epoch"])
    small, large = np.array(history["smallest"]), np.array(history["largest"])
    for i in range(args.k):
        ax_eig.plot(ep, large[:, i], "o-", color="C3", alpha=1 - 0.25 * i,
                    label="largest" if i == 0 else None)
        ax_eig.plot(ep, small[:, i], "s-", color="C0", alpha=1 - 0.25 * i,
                    label="smallest" if i == 0 else None)
    ax_eig.axhline(0, color="k", lw=0.6)
    ax_eig.set(xlabel="epoch", ylabel="Hessian eigenvalue",
               title=f"top/bottom {args.k} eigenvalues (Lanczos)")
    ax_ratio.plot(ep, small[:, 0] / large[:, 0], "o-")
    ax_ratio.axhline(0, color="k", lw=0.6)
    ax_ratio.set(xlabel="epoch", ylabel="lambda_min / lambda_max",
                 title="negative curvature relative to the top")
    for e, (grid, dens) in sorted(densities.items()):
        ax_dens.semilogy(grid, np.maximum(dens, 1e-8), label=f"epoch {e}")
    ax_dens.set(xlabel="eigenvalue", ylabel="density (SLQ, log scale)",
                title=f"spectral density ({args.probes} probes x {args.slq_steps} steps)")
    ax_dens.set_ylim(bottom=1e-5)
    for ax in (ax_eig, ax_ratio, ax_dens):
        ax.grid(alpha=0.3)
        ax.legend() if ax is not ax_ratio else None
    fig.tight_layout()
    png = save_figure(fig, out, "hessian_spectrum.png")
    log(f"lambda_min / lambda_max: {small[0, 0] / large[0, 0]:+.3f} at epoch {ep[0]} -> "
        f"{small[-1, 0] / large[-1, 0]:+.3f} at epoch {ep[-1]}")
    return {"history": history, "densities": densities, "png": png, "n_params": n_params}


if __name__ == "__main__":
    main()
