"""Tune learning rate and weight decay by hypergradient descent through unrolled SGD.

    python examples/hypergradient.py                  # softmax regression on 100 digits, T = 60
    python examples/hypergradient.py --steps 100 --checkpoint-every 10

The inner problem trains a softmax-regression classifier on a small digits subset by T steps
of (full-batch) SGD with learning rate lr and weight decay wd, written with pyad ops by
ad.unrolled.unroll_sgd. The validation loss after those T steps is a differentiable function
of (log lr, log wd); ad.value_and_grad differentiates it by reverse mode through all T steps
(second derivatives of the training loss appear inside: every SGD step contains a gradient).
The outer loop runs Adam on (log lr, log wd). The first hypergradient is checked against
central finite differences, and the plot shows both hyperparameters and the validation loss
over the outer iterations.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, digits, log, out_dir, parser, progress, pyplot, save_figure  # noqa: E402


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=100)
    p.add_argument("--n-val", type=int, default=500)
    p.add_argument("--steps", type=int, default=60, help="unrolled SGD steps T")
    p.add_argument("--lr0", type=float, default=0.05, help="initial inner learning rate")
    p.add_argument("--wd0", type=float, default=1e-3, help="initial weight decay")
    p.add_argument("--outer-steps", type=int, default=40)
    p.add_argument("--outer-lr", type=float, default=0.2, help="Adam step on the log-hypers")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="checkpoint the unroll every k steps (same hypergradient, less memory)")
    p.add_argument("--fast", action="store_true", help="T = 20, 8 outer steps (tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.steps, args.outer_steps, args.n_val = 20, 8, 300
    out = out_dir(args.out)

    (x_all, y_all), _ = digits()
    x_all = x_all.astype(np.float64)
    xtr, ytr = x_all[:args.n_train], y_all[:args.n_train]
    val = slice(args.n_train, args.n_train + args.n_val)
    xv, yv = x_all[val], y_all[val]
    rng = np.random.default_rng(args.seed)
    w0 = {"W": 0.01 * rng.standard_normal((64, 10)), "b": np.zeros(10)}

    def model(w, x):
        return x @ w["W"] + w["b"]

    def train_loss(w):
        return ad.losses.softmax_cross_entropy(model(w, xtr), ytr)

    def val_loss(w):
        return ad.losses.softmax_cross_entropy(model(w, xv), yv)

    def outer(h):
        """Validation loss after T SGD steps with lr = exp(h[0]), wd = exp(h[1])."""
        w = ad.unrolled.unroll_sgd(train_loss, w0, ad.exp(h[0]), args.steps,
                                   weight_decay=ad.exp(h[1]),
                                   checkpoint_every=args.checkpoint_every)
        return val_loss(w)

    value_and_hyper = ad.value_and_grad(outer)
    h = ad.tensor(np.log([args.lr0, args.wd0]), requires_grad=True)
    opt = ad.optim.Adam([h], lr=args.outer_lr)
    log(f"softmax regression, {args.n_train} training / {len(xv)} validation digits, T = "
        f"{args.steps} unrolled SGD steps; tuning log lr and log weight decay with Adam")

    h0 = h.data.copy()
    v0, g0 = value_and_hyper(h0)
    eps = 1e-5
    fd = np.array([(float(np.asarray(outer(h0 + eps * e))) - float(np.asarray(outer(h0 - eps * e))))
                   / (2 * eps) for e in np.eye(2)])
    log(f"hypergradient at the start: {np.array2string(np.asarray(g0), precision=6)} "
        f"(finite differences {np.array2string(fd, precision=6)})")

    hist = {"lr": [], "wd": [], "val": [], "hypergrad": []}
    t0 = time.perf_counter()
    for it in progress(range(args.outer_steps + 1), desc="outer"):
        value, g = value_and_hyper(h.data.copy())
        hist["lr"].append(float(np.exp(h.data[0])))
        hist["wd"].append(float(np.exp(h.data[1])))
        hist["val"].append(float(np.asarray(value)))
        hist["hypergrad"].append(np.asarray(g).tolist())
        if it % max(1, args.outer_steps // 8) == 0 or it == args.outer_steps:
            log(f"outer {it:3d}: lr {hist['lr'][-1]:.4f}  wd {hist['wd'][-1]:.2e}  "
                f"validation loss {hist['val'][-1]:.4f}")
        if it == args.outer_steps:
            break
        h.grad = np.asarray(g)
        opt.step()
    seconds = time.perf_counter() - t0
    # (not under ad.no_grad(): unroll_sgd takes gradients inside, which that would switch off)
    w_final = ad.unrolled.unroll_sgd(train_loss, w0, hist["lr"][-1], args.steps,
                                     weight_decay=hist["wd"][-1])
    w_start = ad.unrolled.unroll_sgd(train_loss, w0, args.lr0, args.steps,
                                     weight_decay=args.wd0)
    acc, acc0 = (float(np.mean(np.asarray(model(w, xv)).argmax(1) == yv))
                 for w in (w_final, w_start))
    log(f"validation loss {hist['val'][0]:.4f} -> {hist['val'][-1]:.4f}, accuracy {acc0:.3f} -> "
        f"{acc:.3f}; lr {hist['lr'][0]:.4g} -> {hist['lr'][-1]:.4g}, wd {hist['wd'][0]:.3g} -> "
        f"{hist['wd'][-1]:.3g} ({args.outer_steps} hypergradients in {seconds:.1f} s)")

    plt = pyplot()
    fig, (ax_h, ax_v) = plt.subplots(1, 2, figsize=(11, 4.2))
    it = np.arange(len(hist["val"]))
    ax_h.semilogy(it, hist["lr"], "o-", ms=3, label="learning rate")
    ax_h.semilogy(it, hist["wd"], "s-", ms=3, label="weight decay")
    ax_h.set(xlabel="outer iteration", ylabel="value (log scale)", title="hyperparameters")
    ax_v.plot(it, hist["val"], "o-", ms=3, color="C3")
    ax_v.set(xlabel="outer iteration", ylabel="validation cross-entropy",
             title=f"validation loss after T = {args.steps} SGD steps")
    for ax in (ax_h, ax_v):
        ax.grid(alpha=0.3, which="both")
    ax_h.legend()
    fig.tight_layout()
    png = save_figure(fig, out, "hypergradient.png")
    return {"history": hist, "hypergrad0": np.asarray(g0), "fd0": fd, "accuracy": acc,
            "accuracy0": acc0, "png": png}


if __name__ == "__main__":
    main()
