"""Draw a runner report (run.py --plot): per workload, each case's median per framework."""
import math


def plot(report, path):
    """One panel per workload; in each, a row of points per case (one per framework, on a log
    time axis, the IQR as an error bar: dots, since a bar's length means nothing on a log
    axis), so a framework's gap to the floors reads at a glance."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [w for w, r in report["workloads"].items() if r["results"]]
    if not names:
        raise SystemExit("--plot: no results to draw")
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 3.2 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        data = report["workloads"][name]
        rows = data["results"]
        scale = 1e6 / data["per_call"]      # results are seconds per call
        fws = list(rows)
        cases = list(dict.fromkeys(c for fw in fws for c in rows[fw]))
        width = 0.8 / len(fws)
        cmap = plt.get_cmap("tab20")
        for k, fw in enumerate(fws):
            xs, ys, errs = [], [], []
            for i, case in enumerate(cases):
                r = rows[fw].get(case)
                if r:
                    xs.append(i + (k - (len(fws) - 1) / 2) * width)
                    ys.append(r["median"] * scale)
                    errs.append(r.get("iqr", 0) * scale / 2)
            ax.errorbar(ys, xs, xerr=errs, fmt="o", color=cmap(k % 20), label=fw, markersize=5)
        ax.set_yticks(range(len(cases)), cases)
        ax.set_ylim(len(cases) - 0.5, -0.5)
        ax.set_xscale("log")
        ax.set_xlabel(f"{data['unit']} (median; log scale; shorter is faster)")
        ax.set_title(name, loc="left")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  ncol=max(1, math.ceil(len(fws) / 12)))
        ax.grid(axis="x", which="both", alpha=0.3)
    m = report["machine"]
    fig.suptitle(f"pyad benchmarks, {m.get('date')}, {m.get('cpu')}, {m.get('cpus')} cpus",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
