"""Deep vs shallow ReLU nets: the depth-d sawtooth has 2^d pieces, a shallow net <= units + 1.

    python examples/sawtooth.py                 # depths 1..10
    python examples/sawtooth.py --max-depth 6

The tent map g(x) = 2 relu(x) - 4 relu(x - 1/2) folds [0, 1] onto itself with two ReLU
units; composing it d times (a ReLU network of depth d and width 2, written with pyad ops)
gives a sawtooth with 2^(d-1) teeth, i.e. 2^d linear pieces, from only 2d units. A one-hidden-
layer ReLU net on a scalar input has one kink per unit, so with the same 2d units it has at
most 2d + 1 pieces: exponentially fewer. The script evaluates both on a fine dyadic grid of
[0, 1] (every breakpoint of the sawtooth lies on a grid point), counts linear pieces as
1 + the number of slope changes, and fits the best shallow net with 2d units (kinks spread
evenly, output layer by least squares) to the sawtooth to show what the missing pieces cost.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, log, out_dir, parser, progress, pyplot, save_figure  # noqa: E402

# the tent map as one ReLU layer: h = relu(x W + b) with units relu(x), relu(x - 1/2), and
# the output 2 h_1 - 4 h_2 folded into the next layer's weights
W_IN, B = np.array([[1.0, 1.0]]), np.array([0.0, -0.5])
W_MID = np.array([[2.0, 2.0], [-4.0, -4.0]])
W_OUT = np.array([[2.0], [-4.0]])


def sawtooth_params(depth):
    """Weights of the depth-d width-2 ReLU net computing the d-fold tent map."""
    layers = [(W_IN, B)] + [(W_MID, B)] * (depth - 1)
    return {"hidden": layers, "out": W_OUT}


def deep_net(params, x):
    """ReLU layers then a linear output, in pyad ops; x of shape (n, 1)."""
    h = x
    for W, b in params["hidden"]:
        h = ad.relu(h @ W + b)
    return h @ params["out"]


def shallow_net(params, x):
    """One hidden ReLU layer: relu(x w - c) @ a + a0."""
    return ad.relu(x @ params["w"] - params["c"]) @ params["a"] + params["a0"]


def count_pieces(x, y, rtol=1e-9):
    """Linear pieces of a piecewise-linear function sampled at sorted x: 1 + the number of
    grid points where the slope changes (the grid must contain every breakpoint)."""
    slopes = np.diff(y) / np.diff(x)
    scale = max(1.0, float(np.max(np.abs(slopes))))
    return 1 + int(np.sum(np.abs(np.diff(slopes)) > rtol * scale))


def shallow_fit(x, target, units):
    """A one-hidden-layer ReLU net with `units` kinks at evenly spaced grid points of (0, 1)
    (each rounded to a grid point) and the output layer fitted to target by least squares."""
    n = len(x) - 1
    kinks = np.round(np.arange(1, units + 1) / (units + 1) * n) / n
    feats = np.maximum(x[:, None] - kinks[None, :], 0.0)
    design = np.c_[feats, np.ones_like(x)]
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return {"w": np.ones((1, units)), "c": kinks, "a": coef[:-1, None], "a0": coef[-1:]}


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--max-depth", type=int, default=10)
    p.add_argument("--grid-log2", type=int, default=16,
                   help="the grid has 2^g + 1 points (needs g > max depth)")
    p.add_argument("--fast", action="store_true", help="depths 1..6 on a 2^10 grid (tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.max_depth, args.grid_log2 = min(args.max_depth, 6), min(args.grid_log2, 10)
    if args.grid_log2 <= args.max_depth:
        raise SystemExit(f"--grid-log2 {args.grid_log2} must exceed --max-depth "
                         f"{args.max_depth} so that every breakpoint is a grid point")
    out = out_dir(args.out)
    x = np.linspace(0.0, 1.0, 2 ** args.grid_log2 + 1)
    xcol = x[:, None]

    depths = list(range(1, args.max_depth + 1))
    rows, curves = [], {}
    for d in progress(depths, desc="depth"):
        with ad.no_grad():
            y_deep = np.asarray(deep_net(sawtooth_params(d), xcol))[:, 0]
            units = 2 * d
            sp = shallow_fit(x, y_deep, units)
            y_shallow = np.asarray(shallow_net(sp, xcol))[:, 0]
        pieces_deep = count_pieces(x, y_deep)
        pieces_shallow = count_pieces(x, y_shallow)
        rms = float(np.sqrt(np.mean((y_shallow - y_deep) ** 2)))
        rows.append({"depth": d, "units": units, "deep": pieces_deep,
                     "shallow": pieces_shallow, "shallow_rms": rms})
        curves[d] = (y_deep, y_shallow)
        log(f"depth {d:2d}: {units:3d} units; deep net {pieces_deep:5d} pieces (2^d = {2 ** d}); "
            f"shallow net {pieces_shallow:3d} pieces (<= units + 1 = {units + 1}), "
            f"RMS error of its best fit {rms:.3f}")

    plt = pyplot()
    show = [d for d in (1, 2, 3, 5) if d <= args.max_depth]
    fig, axes = plt.subplots(1, len(show) + 1, figsize=(4 * (len(show) + 1), 3.6))
    for ax, d in zip(axes, show):
        y_deep, y_shallow = curves[d]
        ax.plot(x, y_deep, lw=1.2, label=f"deep, depth {d} ({rows[d - 1]['deep']} pieces)")
        ax.plot(x, y_shallow, "--", lw=1.2,
                label=f"shallow, {2 * d} units ({rows[d - 1]['shallow']} pieces)")
        ax.set(xlabel="x", title=f"depth {d}", ylim=(-0.15, 1.35))
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    ax = axes[-1]
    ds = np.array(depths)
    ax.semilogy(ds, [r["deep"] for r in rows], "o-", label="deep (counted)")
    ax.semilogy(ds, 2.0 ** ds, "k:", label="2^depth")
    ax.semilogy(ds, [r["shallow"] for r in rows], "s-", label="shallow, same units (counted)")
    ax.semilogy(ds, 2 * ds + 1, "k--", lw=0.8, label="units + 1 = 2 depth + 1")
    ax.set(xlabel="depth d (2d ReLU units)", ylabel="linear pieces on [0, 1]",
           title="pieces vs depth")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    png = save_figure(fig, out, "sawtooth.png")
    return {"rows": rows, "png": png}


if __name__ == "__main__":
    main()
