"""Compare SGD, SGD+momentum, RMSprop and Adam on an ill-conditioned quadratic and on digits.

Left panel: the optimizers' paths on f(x, y) = (x^2 + KAPPA y^2) / 2 over its contours, all
from the same start. Right panel: the training loss of the same MLP (same initial weights,
same minibatches) on scikit-learn's digits under each optimizer.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (accuracy, ad, digits, log, parser, progress, pyplot,  # noqa: E402
                     save_figure)

KAPPA = 25.0                       # condition number of the quadratic
START = (-4.5, 1.6)

# name -> (optimizer factory, learning rate on the quadratic, learning rate on the MLP)
OPTIMIZERS = {
    "SGD": (lambda ps, lr: ad.optim.SGD(ps, lr=lr), 0.075, 0.1),
    "SGD + momentum 0.9": (lambda ps, lr: ad.optim.SGD(ps, lr=lr, momentum=0.9), 0.01, 0.02),
    "RMSprop": (lambda ps, lr: ad.optim.RMSprop(ps, lr=lr), 0.1, 1e-3),
    "Adam": (lambda ps, lr: ad.optim.Adam(ps, lr=lr), 0.3, 1e-3),
}


def quadratic(p):
    return 0.5 * (p[0] ** 2 + KAPPA * p[1] ** 2)


def quadratic_path(make, lr, steps):
    """The iterates of one optimizer on the quadratic, as an array (steps + 1, 2)."""
    p = ad.tensor(np.array(START), requires_grad=True)
    opt = make([p], lr)
    path = [p.data.copy()]
    for _ in range(steps):
        opt.zero_grad()
        quadratic(p).backward()
        opt.step()
        path.append(p.data.copy())
    return np.array(path)


def mlp_losses(make, lr, data, epochs, batch_size, seed):
    """Per-step training losses of the digits MLP; every optimizer sees the same initial
    weights and the same sequence of minibatches."""
    (x_train, y_train), (x_test, y_test) = data
    model = ad.nn.MLP([64, 128, 128, 10], seed=seed)
    opt = make(model.parameters(), lr)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        for xb, yb in ad.data.batches(x_train, y_train, batch_size=batch_size, seed=rng):
            loss = ad.losses.softmax_cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return np.array(losses), accuracy(model, x_test, y_test)


def smooth(values, width):
    """Moving average (same length, shorter windows at the start)."""
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - width, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60, help="optimizer steps on the quadratic")
    p.add_argument("--epochs", type=int, default=8, help="epochs of MLP training")
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)

    paths = {name: quadratic_path(make, lr_q, args.steps)
             for name, (make, lr_q, _) in OPTIMIZERS.items()}
    for name, path in paths.items():
        log(f"quadratic  {name:<20} f after {args.steps} steps: "
            f"{quadratic(path[-1]):.2e}  (start {quadratic(np.array(START)):.2f})")

    data = digits()
    steps_per_epoch = -(-len(data[0][0]) // args.batch_size)
    curves = {}
    for name, (make, _, lr_m) in progress(OPTIMIZERS.items(), desc="MLP"):
        curves[name], test_acc = mlp_losses(make, lr_m, data, args.epochs, args.batch_size,
                                            args.seed)
        log(f"digits MLP {name:<20} lr {lr_m:g}: last-epoch train loss "
            f"{curves[name][-steps_per_epoch:].mean():.4f}  "
            f"test acc {test_acc:.3f}")

    plt = pyplot()
    fig, (ax_q, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    xs, ys = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-2, 2, 200))
    ax_q.contour(xs, ys, quadratic(np.stack([xs, ys])), levels=np.geomspace(0.01, 60, 14),
                 colors="0.75", linewidths=0.8)
    for name, path in paths.items():
        ax_q.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1, label=name)
    ax_q.plot(*START, "k*", ms=10)
    ax_q.plot(0, 0, "k+", ms=10)
    ax_q.set(xlim=(-5, 5), ylim=(-2, 2), xlabel="x", ylabel="y",
             title=f"f = (x² + {KAPPA:g} y²) / 2, {args.steps} steps")
    ax_q.legend(fontsize=8)
    for name, losses in curves.items():
        epoch = np.arange(1, len(losses) + 1) / steps_per_epoch
        ax_m.plot(epoch, smooth(losses, 10), label=f"{name} (lr {OPTIMIZERS[name][2]:g})")
    ax_m.set(yscale="log", xlabel="epoch", ylabel="training loss (moving average of 10 steps)",
             title="MLP 64-128-128-10 on digits")
    ax_m.grid(alpha=0.3)
    ax_m.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, args.out, "optimizers.png")
    return {"paths": paths, "curves": curves}


if __name__ == "__main__":
    main()
