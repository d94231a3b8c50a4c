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
    # the sawtooth panels in a 2 x 2 block on the left, the piece counts as a tall panel right
    fig = plt.figure(figsize=(14, 8.5))
    grid = fig.add_gridspec(2, 3, width_ratios=[1, 1, 1.25])
    for k, d in enumerate(show):
        ax = fig.add_subplot(grid[k // 2, k % 2])
        y_deep, y_shallow = curves[d]
        row = rows[d - 1]
        ax.plot(x, y_deep, lw=2, color="C0", label="deep net: depth d, width 2")
        ax.plot(x, y_shallow, "--", lw=2, color="C1",
                label="best shallow net: one layer of the same 2d units")
        ax.set_title(f"depth {d}: deep {row['deep']} pieces, shallow {row['shallow']}",
                     fontsize=12)
        ax.set(ylim=(-0.2, 1.15))
        if k // 2 == 1 or len(show) <= 2:
            ax.set_xlabel("x", fontsize=11)
        if k % 2 == 0:
            ax.set_ylabel("network output", fontsize=11)
        ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, 0.995), ncol=2,
               fontsize=11, frameon=False)
    ax = fig.add_subplot(grid[:, 2])
    ds = np.array(depths)
    # the formulas as wide pale bands under the counts, so that both stay visible
    ax.semilogy(ds, 2.0 ** ds, "-", lw=9, color="C0", alpha=0.25, solid_capstyle="round",
                label="2^depth (formula)")
    ax.semilogy(ds, 2 * ds + 1, "-", lw=9, color="C1", alpha=0.25, solid_capstyle="round",
                label="units + 1 = 2 depth + 1 (bound)")
    ax.semilogy(ds, [r["deep"] for r in rows], "o-", lw=1.5, ms=7, color="C0",
                label="deep net (counted)")
    ax.semilogy(ds, [r["shallow"] for r in rows], "s-", lw=1.5, ms=7, color="C1",
                label="shallow net, same units (counted)")
    ax.set_xlabel("depth d (2d ReLU units)", fontsize=11)
    ax.set_ylabel("linear pieces on [0, 1]", fontsize=11)
    ax.set_title("pieces vs depth", fontsize=12)
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.legend(fontsize=10, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout(rect=(0, 0, 1, 0.95), h_pad=2.0, w_pad=2.0)
    png = save_figure(fig, out, "sawtooth.png")
    return {"rows": rows, "png": png}


if __name__ == "__main__":
    main()
