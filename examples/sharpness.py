"""Sharpness (top Hessian eigenvalue) during full-batch gradient descent vs the bound 2/lr.

    python examples/sharpness.py                       # lr 0.2, 0.4, 0.6; 2000 steps each
    python examples/sharpness.py --lrs 0.3 --steps 3000

On a quadratic, gradient descent with learning rate lr diverges along any direction whose
curvature exceeds 2/lr. A neural network's loss is not a quadratic: Cohen et al. (2021,
"Gradient descent on neural networks typically occurs at the edge of stability") observed
that full-batch GD first *sharpens* (lambda_max grows) until lambda_max reaches 2/lr, and then
hovers there while the loss keeps decreasing, non-monotonically. This script trains a tanh
MLP with MSE loss on 500 digits by full-batch GD at a few learning rates and tracks
lambda_max = ad.curvature.hessian_eigs(k=1) (Lanczos on Hessian-vector products, warm-started
from the previous top eigenvector) every few steps, next to 2/lr.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (ad, digits, init_mlp, log, mlp, out_dir, parser, progress,  # noqa: E402
                     pyplot, save_figure)


def loss_fn(p, x, targets):
    return ad.losses.mse_loss(mlp(p, x), targets)


def run(lr, x, targets, args):
    """Full-batch GD at one learning rate; lambda_max every args.every steps."""
    params = init_mlp([x.shape[1], *args.hidden, targets.shape[1]], args.seed)
    value_and_grad = ad.value_and_grad(loss_fn)
    h = {"step": [], "lambda_max": [], "loss_step": [], "loss": [], "iterations": []}
    v0 = None
    for step in progress(range(args.steps + 1), desc=f"lr {lr:g}"):
        loss, g = value_and_grad(params, x, targets)
        h["loss_step"].append(float(np.asarray(loss)))
        if not np.isfinite(h["loss_step"][-1]):
            log(f"lr {lr:g}: the loss became {h['loss_step'][-1]} at step {step}: diverged")
            break
        if step % args.every == 0 or step == args.steps:
            vals, vecs, info = ad.curvature.hessian_eigs(loss_fn, params, k=1,
                                                         args=(x, targets), v0=v0, tol=1e-4,
                                                         seed=args.seed)
            v0 = vecs[0]
            h["step"].append(step)
            h["lambda_max"].append(float(vals[0]))
            h["loss"].append(h["loss_step"][-1])
            h["iterations"].append(info["iterations"])
        if step == args.steps:
            break
        params = {k: params[k] - lr * g[k] for k in params}
    lam = np.array(h["lambda_max"])
    tail = lam[len(lam) // 2:]
    log(f"lr {lr:g} (2/lr = {2 / lr:.3f}): lambda_max {lam[0]:.3f} at step 0, "
        f"max {lam.max():.3f}, mean over the second half {tail.mean():.3f} "
        f"({tail.mean() * lr / 2:.2f} x 2/lr); loss {h['loss_step'][0]:.4f} -> "
        f"{h['loss_step'][-1]:.4f}; {np.mean(h['iterations']):.0f} Lanczos iterations per "
        f"estimate")
    return h


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--lrs", type=float, nargs="+", default=[0.2, 0.4, 0.6])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=50, help="steps between lambda_max estimates")
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    p.add_argument("--n-train", type=int, default=500, help="training images (full batch)")
    p.add_argument("--fast", action="store_true", help="one lr, 200 steps, small net (tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.lrs, args.steps, args.every, args.hidden = [0.4], 200, 50, [16]
    out = out_dir(args.out)

    (x_train, y_train), _ = digits()
    x = x_train[:args.n_train].astype(np.float64)
    targets = np.eye(10)[y_train[:args.n_train]]
    log(f"MLP {x.shape[1]}-{'-'.join(map(str, args.hidden))}-10 (tanh), MSE on one-hot targets, "
        f"{len(x)} images, full-batch GD")
    t0 = time.perf_counter()
    runs = {lr: run(lr, x, targets, args) for lr in args.lrs}
    log(f"{time.perf_counter() - t0:.1f} s")

    plt = pyplot()
    fig, (ax_s, ax_l) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, (lr, h) in enumerate(runs.items()):
        c = f"C{i}"
        ax_s.plot(h["step"], h["lambda_max"], "o-", ms=3, color=c, label=f"lr {lr:g}")
        ax_s.axhline(2 / lr, color=c, ls="--", lw=1, label=f"2/lr = {2 / lr:.2f}")
        ax_l.semilogy(np.arange(len(h["loss_step"])), h["loss_step"], color=c,
                      label=f"lr {lr:g}")
    ax_s.set(xlabel="step", ylabel="lambda_max of the Hessian",
             title="sharpness vs the stability bound 2/lr")
    ax_l.set(xlabel="step", ylabel="training loss (MSE)", title="full-batch GD")
    for ax in (ax_s, ax_l):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    png = save_figure(fig, out, "sharpness.png")
    return {"runs": runs, "png": png}


if __name__ == "__main__":
    main()
