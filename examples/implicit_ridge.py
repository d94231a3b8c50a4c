"""Ridge regression: dw*/dlambda by implicit differentiation, then tune lambda by hypergradients.

    python examples/implicit_ridge.py                    # 60 train / 200 val points, 40 features
    python examples/implicit_ridge.py --outer-steps 100

The ridge solution w*(lambda) = argmin_w 1/(2n) ||X w - y||^2 + lambda/2 ||w||^2 satisfies
grad_w L(w*, lambda) = 0, so by the implicit function theorem
dw*/dlambda = -H_ww^-1 H_w,lambda = -(X^T X / n + lambda I)^-1 w*. The script computes it
three ways: ad.curvature.response_jacobian (CG on Hessian-vector products and one mixed
second-derivative product, no dense Hessian), the closed form above, and central finite
differences of the closed-form solution. Then it wraps the solver as a differentiable
function with ad.curvature.argmin and minimises the validation loss over log(lambda) by
gradient descent on the hypergradient d val(w*(lambda)) / d log(lambda), next to the
validation curve computed on a grid.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ad, log, out_dir, parser, progress, pyplot, save_figure  # noqa: E402

cv = ad.curvature


def make_data(n_train, n_val, dim, noise, seed):
    """A noisy linear model with correlated features (so that the best lambda is interior)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    w_true = rng.standard_normal(dim) * (rng.random(dim) < 0.3)
    def sample(n):
        x = rng.standard_normal((n, dim)) @ mix
        return x, x @ w_true + noise * rng.standard_normal(n)
    return sample(n_train), sample(n_val)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=60)
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--dim", type=int, default=40)
    p.add_argument("--noise", type=float, default=1.0)
    p.add_argument("--lam0", type=float, default=1.0, help="lambda where the derivative is checked "
                                                           "and tuning starts")
    p.add_argument("--outer-steps", type=int, default=60)
    p.add_argument("--outer-lr", type=float, default=0.5, help="step on log(lambda)")
    p.add_argument("--fast", action="store_true", help="fewer outer steps (tests)")
    args = p.parse_args(argv)
    if args.fast:
        args.outer_steps = min(args.outer_steps, 15)
    out = out_dir(args.out)
    (X, y), (Xv, yv) = make_data(args.n_train, args.n_val, args.dim, args.noise, args.seed)
    n, d = X.shape
    G, c = X.T @ X / n, X.T @ y / n

    def solve(lam):
        """The ridge solution (numpy: what argmin calls, never traced)."""
        return np.linalg.solve(G + float(np.asarray(lam)) * np.eye(d), c)

    def inner(w, lam):
        r = X @ w - y
        return 0.5 * ad.mean(r * r) + 0.5 * lam * ad.sum(w * w)

    # --- 1. dw*/dlambda three ways -----------------------------------------------------------
    lam0 = float(args.lam0)
    w_star = solve(lam0)
    implicit = cv.response_jacobian(inner, w_star, np.float64(lam0))        # shape (d,)
    closed = -np.linalg.solve(G + lam0 * np.eye(d), w_star)
    h = 1e-5 * max(1.0, lam0)
    fd = (solve(lam0 + h) - solve(lam0 - h)) / (2 * h)
    err_closed = float(np.max(np.abs(implicit - closed)) / np.max(np.abs(closed)))
    err_fd = float(np.max(np.abs(fd - closed)) / np.max(np.abs(closed)))
    log(f"dw*/dlambda at lambda = {lam0:g} ({d} weights): implicit (CG on HVPs) vs closed form "
        f"{err_closed:.2e} relative; finite differences vs closed form {err_fd:.2e}")

    # --- 2. hypergradient descent on log(lambda) ---------------------------------------------
    w_of = cv.argmin(inner, solve)

    def val_of_log_lam(t):
        w = w_of(ad.exp(t))
        r = Xv @ w - yv
        return 0.5 * ad.mean(r * r)

    value_and_hyper = ad.value_and_grad(val_of_log_lam)
    t = np.float64(np.log(lam0))
    hist = {"lambda": [], "val": [], "hypergrad": []}
    for _ in progress(range(args.outer_steps + 1), desc="outer"):
        v, g = value_and_hyper(t)
        hist["lambda"].append(float(np.exp(t)))
        hist["val"].append(float(np.asarray(v)))
        hist["hypergrad"].append(float(np.asarray(g)))
        t = t - args.outer_lr * np.asarray(g)
    # the same hypergradient by finite differences at the start, as a check
    e = 1e-5
    fd_hyper = (float(np.asarray(val_of_log_lam(np.log(lam0) + e)))
                - float(np.asarray(val_of_log_lam(np.log(lam0) - e)))) / (2 * e)
    log(f"hypergradient d val / d log(lambda) at lambda = {lam0:g}: {hist['hypergrad'][0]:.6g} "
        f"(finite differences {fd_hyper:.6g})")

    grid = np.logspace(-4, 2, 121)
    curve = np.array([0.5 * np.mean((Xv @ solve(lam) - yv) ** 2) for lam in grid])
    best = float(grid[np.argmin(curve)])
    log(f"lambda {hist['lambda'][0]:.4g} -> {hist['lambda'][-1]:.4g} in {args.outer_steps} "
        f"hypergradient steps; validation loss {hist['val'][0]:.4f} -> {hist['val'][-1]:.4f} "
        f"(grid search: best lambda {best:.4g}, loss {curve.min():.4f})")

    plt = pyplot()
    fig, (ax_d, ax_c, ax_t) = plt.subplots(1, 3, figsize=(15, 4.2))
    idx = np.arange(d)
    ax_d.plot(idx, closed, "k-", lw=2, alpha=0.4, label="closed form -(G + lambda I)^-1 w*")
    ax_d.plot(idx, implicit, "o", ms=4, mfc="none", label="implicit (response_jacobian)")
    ax_d.plot(idx, fd, "x", ms=4, label="finite differences")
    ax_d.set(xlabel="weight index j", ylabel="dw*_j / dlambda",
             title=f"derivative at lambda = {lam0:g} (rel. error {err_closed:.1e})")
    lo, hi = ax_d.get_ylim()
    ax_d.set_ylim(lo, hi + 0.45 * (hi - lo))           # room for the legend above the data
    ax_c.semilogx(grid, curve, "k-", lw=1, label="validation loss (grid)")
    ax_c.semilogx(hist["lambda"], hist["val"], "o-", ms=3, color="C3",
                  label="hypergradient descent")
    ax_c.set(xlabel="lambda", ylabel="validation loss", title="tuning lambda")
    ax_t.semilogy(hist["lambda"], "o-", ms=3, color="C0", label="lambda (left axis)")
    ax_t.set(xlabel="outer iteration", title="lambda and validation loss")
    ax_t.set_ylabel("lambda", color="C0")
    ax_t.tick_params(axis="y", colors="C0", which="both")
    ax_v = ax_t.twinx()
    ax_v.plot(hist["val"], "s-", ms=3, color="C3", label="validation loss (right axis)")
    ax_v.set_ylabel("validation loss", color="C3")
    ax_v.tick_params(axis="y", colors="C3")
    for ax, where in ((ax_d, "upper right"), (ax_c, "upper left")):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc=where)
    ax_t.grid(alpha=0.3)
    # one legend for both axes of the third panel: every curve named
    handles = ax_t.get_legend_handles_labels()[0] + ax_v.get_legend_handles_labels()[0]
    ax_v.legend(handles, [h.get_label() for h in handles], fontsize=9, loc="upper right")
    fig.tight_layout()
    png = save_figure(fig, out, "implicit_ridge.png")
    return {"implicit": implicit, "closed": closed, "fd": fd, "err_closed": err_closed,
            "history": hist, "best_grid_lambda": best, "hypergrad_fd": fd_hyper, "png": png}


if __name__ == "__main__":
    main()
