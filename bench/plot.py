"""Draw a runner report (run.py --plot): per workload, each case's time against its baseline."""
import math


def plot(report, path):
    """One panel per workload; in each, a row of points per case, one per framework: its time
    divided by the workload's baseline (a floor or pyad; run.py's ratio: over several rounds
    the median of the rounds' own ratios) on a log axis, with the IQR as an error bar, so the
    gaps read alike for cases of microseconds and of milliseconds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [w for w, r in report["workloads"].items() if r["results"]]
    if not names:
        raise SystemExit("--plot: no results to draw")
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 1.2 + 1.1 * sum(
        len({c for fw in report["workloads"][w]["results"].values() for c in fw}) for w in names)),
        squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        data = report["workloads"][name]
        rows, base = data["results"], data.get("baseline")
        fws = list(rows)
        cases = list(dict.fromkeys(c for fw in fws for c in rows[fw]))
        width = 0.8 / len(fws)
        cmap = plt.get_cmap("tab20")
        for k, fw in enumerate(fws):
            xs, ys, errs = [], [], []
            for i, case in enumerate(cases):
                r, b = rows[fw].get(case), rows.get(base, {}).get(case)
                if r:
                    y = r.get("vs", {}).get(base) if b else None
                    if y is None:       # run.py's ratio (paired over rounds), else medians'
                        y = r["median"] / (b["median"] if b else 1.0)
                    xs.append(i + (k - (len(fws) - 1) / 2) * width)
                    ys.append(y)
                    errs.append(r.get("iqr", 0) / r["median"] * y / 2)
            ax.errorbar(ys, xs, xerr=errs, fmt="o", color=cmap(k % 20), label=fw, markersize=5)
        labels = [case if not rows.get(base, {}).get(case) else
                  f"{case}\n{base}: {rows[base][case]['median'] * 1e6 / data['per_call']:.4g} "
                  f"{data['unit']}" for case in cases]
        ax.set_yticks(range(len(cases)), labels, fontsize=8)
        ax.set_ylim(len(cases) - 0.5, -0.5)
        ax.set_xscale("log")
        ax.axvline(1.0, color="gray", lw=0.8)
        ax.set_xlabel(f"time / {base} (log scale; left of the line is faster)"
                      if base else f"{data['unit']} (median, log scale)")
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
