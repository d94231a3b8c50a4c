"""Gradient descent on a quadratic: closed-form per-direction decay vs simulated iterates.

    python examples/quadratic_dynamics.py                  # eigenvalues 0.5 2 4, 40 steps
    python examples/quadratic_dynamics.py --eigs 1 10 100  # any spectrum

On J(w) = 1/2 w^T A w + b^T w the eigen-directions of A decouple: the error along direction j
from the minimiser is multiplied by (1 - alpha lambda_j) at every step. It shrinks
monotonically for alpha < 1/lambda_j, flips sign and shrinks for 1/lambda_j < alpha <
2/lambda_j, and flips sign and grows for alpha > 2/lambda_j. The script picks three learning
rates (relative to lambda_max: below 1/lambda_max, between 1/lambda_max and 2/lambda_max,
above 2/lambda_max), compares ad.curvature.QuadraticModel.gd_trajectory (closed form, no
iteration) with simulate_gd (the loop), does the same for heavy-ball momentum, and plots
|error coordinate| per direction vs step: predicted lines, simulated markers.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, log, out_dir, parser, progress, pyplot, save_figure  # noqa: E402

cv = ad.curvature
ROUNDOFF = 1e-12


def random_quadratic(eigs, seed):
    """A = Q diag(eigs) Q^T with a random rotation Q, and a random b."""
    rng = np.random.default_rng(seed)
    n = len(eigs)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = Q @ np.diag(eigs) @ Q.T
    return cv.QuadraticModel(0.5 * (A + A.T), rng.standard_normal(n)), rng.standard_normal(n)


def eigen_errors(model, traj):
    """|u_j(k) - u*_j| per eigen-direction (columns) for the iterates traj (rows)."""
    lam, Q = model.eig
    ustar = -(Q.T @ model.b) / lam
    return np.abs(traj @ Q - ustar)


def rel_diff(a, b):
    """max |a - b| / max(1, |b|) over all entries (relative for growing trajectories)."""
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b))))


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--eigs", type=float, nargs="+", default=[0.5, 2.0, 4.0],
                   help="eigenvalues of A (positive)")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--factors", type=float, nargs=3, default=[0.5, 1.5, 2.1],
                   help="learning rates as multiples of 1/lambda_max")
    p.add_argument("--momentum", type=float, default=0.5, help="beta of the momentum check")
    p.add_argument("--fast", action="store_true", help="fewer steps (for tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.steps = min(args.steps, 20)
    eigs = np.sort(np.asarray(args.eigs, dtype=float))
    if np.any(eigs <= 0):
        raise SystemExit("--eigs: this demo wants a positive definite A")
    out = out_dir(args.out)

    model, w0 = random_quadratic(eigs, args.seed)
    lam = model.lambdas
    lmax = float(lam[-1])
    log(f"eigenvalues {np.array2string(lam, precision=4)}; max stable lr 2/lambda_max = "
        f"{cv.max_stable_lr(lam):.4g}; condition number {cv.condition_number(lam):.4g}")
    alphas = [f / lmax for f in args.factors]

    results = []
    for alpha in progress(alphas, desc="learning rates"):
        pred = model.gd_trajectory(w0, alpha, args.steps)
        sim = model.simulate_gd(w0, alpha, args.steps)
        pred_m = model.momentum_trajectory(w0, alpha, args.momentum, args.steps)
        sim_m = model.simulate_momentum(w0, alpha, args.momentum, args.steps)
        labels = list(model.gd_regime(alpha))
        # the textbook factor, independently of QuadraticModel: |e_j(0)| |1 - alpha lambda_j|^k
        k = np.arange(args.steps + 1)[:, None]
        formula = eigen_errors(model, w0[None, :]) * np.abs(1 - alpha * lam) ** k
        r = {"alpha": alpha, "labels": labels, "factors": 1 - alpha * lam,
             "pred": eigen_errors(model, pred), "sim": eigen_errors(model, sim),
             "formula": formula,
             "gd_diff": rel_diff(pred, sim), "momentum_diff": rel_diff(pred_m, sim_m),
             "formula_diff": rel_diff(eigen_errors(model, pred), formula)}
        results.append(r)
        log(f"alpha = {alpha:.4g} ({alpha * lmax:.2f}/lambda_max): regimes {labels}; "
            f"factors 1 - alpha lambda = {np.array2string(r['factors'], precision=3)}")
        log(f"    closed form vs simulated: GD {r['gd_diff']:.2e}, momentum (beta "
            f"{args.momentum}) {r['momentum_diff']:.2e}; vs (1 - alpha lambda)^k "
            f"{r['formula_diff']:.2e}")

    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4.2), sharey=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    steps = np.arange(args.steps + 1)
    for ax, r in zip(np.atleast_1d(axes), results):
        for j in range(len(lam)):
            c = colors[j % len(colors)]
            # below ~1e-12 of the start the simulated iterates sit at round-off: not shown
            floor = ROUNDOFF * max(1.0, float(np.max(np.abs(w0))))
            pred = np.where(r["pred"][:, j] > floor, r["pred"][:, j], np.nan)
            sim = np.where(r["sim"][:, j] > floor, r["sim"][:, j], np.nan)
            ax.semilogy(steps, pred, "-", color=c,
                        label=f"lambda={lam[j]:.3g}: {r['labels'][j]}")
            ax.semilogy(steps, sim, "o", ms=3.5, color=c, mfc="none")
        ax.set(xlabel="step k", ylabel="|u_j(k) - u*_j|",
               title=f"alpha = {r['alpha']:.3g} = {r['alpha'] * lmax:.2f}/lambda_max")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, title="lines: closed form, o: simulated", title_fontsize=7)
    fig.tight_layout()
    png = save_figure(fig, out, "quadratic_dynamics.png")
    worst = max(max(r["gd_diff"], r["momentum_diff"]) for r in results)
    log(f"largest closed-form vs simulated difference: {worst:.2e}")
    return {"eigenvalues": lam, "results": results, "max_stable_lr": cv.max_stable_lr(lam),
            "worst_diff": worst, "png": png}


if __name__ == "__main__":
    main()
