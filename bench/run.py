"""Benchmark runner: each framework of each workload in its own process, one table per workload."""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import workloads  # noqa: E402
from bench.worker import MARK  # noqa: E402


def mpiexec():
    """The mpiexec beside this Python (the mpich wheel's), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else (shutil.which("mpiexec") or "mpiexec")


def run_worker(workload, fw, args, ranks=None):
    cmd = [sys.executable, "-m", "bench.worker", workload, fw, "--repeat", str(args.repeat),
           "--min-sample", str(args.min_sample)] + [f"--case={c}" for c in args.case or ()]
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.env or ()))
    if ranks:       # one BLAS/OpenMP thread per rank unless --env says otherwise
        cmd = [mpiexec(), "-n", str(ranks)] + cmd
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, "1")
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout,
                       env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(MARK)]
    if p.returncode or not lines:
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exit {p.returncode}: {err}")
    return json.loads(lines[-1][len(MARK):])["results"]


_GPU_USABLE = {}


def gpu_usable(lib, timeout):
    """Whether GPU array library `lib` (a key of workloads.GPU_LIBS) sees a usable GPU here:
    asked once, in a process of its own (the runner itself imports no GPU library)."""
    if lib not in _GPU_USABLE:
        try:
            p = subprocess.run([sys.executable, "-c", workloads.GPU_LIBS[lib]], cwd=ROOT,
                               capture_output=True, timeout=timeout)
            _GPU_USABLE[lib] = p.returncode == 0
        except subprocess.TimeoutExpired:
            _GPU_USABLE[lib] = False
    return _GPU_USABLE[lib]


def combine(rounds):
    """{case: result} per round (None: that round's worker failed) -> {case: result}: median of
    the rounds' medians and IQRs, with every round's median kept under "rounds" (None where the
    round has none), in round order so that two frameworks' rounds pair up."""
    out = {}
    done = [r for r in rounds if r]
    for case in dict.fromkeys(c for r in done for c in r):
        rs = [r[case] for r in done if case in r]
        out[case] = dict(rs[0], median=statistics.median(r["median"] for r in rs),
                         iqr=statistics.median(r["iqr"] for r in rs),
                         rounds=[r[case]["median"] if r and case in r else None for r in rounds])
    return out


def ratio(mine, other):
    """mine's time over other's. Over several rounds, the median of each round's own ratio:
    the two ran seconds apart in that round, so a slow phase of a shared host slows both and
    cancels, where a ratio of the medians would mix one framework's slow rounds with the
    other's fast ones."""
    pairs = [a / b for a, b in zip(mine.get("rounds") or (), other.get("rounds") or ())
             if a and b]
    return statistics.median(pairs) if len(pairs) > 1 else mine["median"] / other["median"]


def add_ratios(mod, rows):
    """Each result gets "vs": {BASELINE or REFERENCE (or CASE_BASE, the same framework's own
    case): ratio}, for the table, the plot and the JSON."""
    own = getattr(mod, "CASE_BASE", None)
    for fw, r in rows.items():
        for case, res in r.items():
            res["vs"] = {other: ratio(res, rows[other][case])
                         for other in (mod.BASELINE, mod.REFERENCE)
                         if case in rows.get(other, {})}
            if own and own in r:
                res["vs"]["own " + own] = ratio(res, r[own])


def order(fws, round_index):
    """The frameworks in this round's order: reversed every other round, so that a drift of
    the host's speed during a run favours no framework for being first."""
    return fws if round_index % 2 == 0 else fws[::-1]


def table(mod, name, rows, rounds=1):
    """rows: {framework: {case: result}} (with add_ratios' "vs") -> text table with ratios to
    BASELINE and REFERENCE."""
    scale = 1e6 / mod.PER_CALL
    base, ref = mod.BASELINE, mod.REFERENCE
    own = getattr(mod, "CASE_BASE", None)       # optional: ratio to this framework's own case
    w = max([16] + [len(c) + 1 for r in rows.values() for c in r])
    fw_w = max([15] + [len(fw) + 1 for fw in rows])
    head = f"{'case':<{w}} {'framework':<{fw_w}} {mod.UNIT + ' median':>14} {'IQR':>10} " \
           f"{'/' + base:>12} {'/' + ref:>12}" + (f" {'/own ' + own:>10}" if own else "")
    how = "the median of the rounds' ratios" if rounds > 1 else "this time / that framework's"
    out = [f"== {name}  (ratio = {how}; >1 is slower)", head, "-" * len(head)]
    cases = list(dict.fromkeys(c for r in rows.values() for c in r))
    for case in cases:
        for fw, r in rows.items():
            if case not in r:
                continue
            res = r[case]
            vs = [res["vs"].get(k) for k in (base, ref) + ((f"own {own}",) if own else ())]
            cols = [f"{v:.2f}" if v is not None else "-" for v in vs]
            out.append(f"{case:<{w}} {fw:<{fw_w}} {res['median'] * scale:>14.3f} "
                       f"{res['iqr'] * scale:>10.3f} {cols[0]:>12} {cols[1]:>12}"
                       + (f" {cols[2]:>10}" if own else ""))
    return "\n".join(out)


def machine():
    import numpy as np
    info = {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
            "platform": platform.platform(), "cpus": os.cpu_count(), "numpy": np.__version__,
            "loadavg": round(os.getloadavg()[0], 2)}  # other processes skew every number
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
        info["avx512f"] = any("avx512f" in ln for ln in lines if ln.startswith("flags"))
    except (OSError, StopIteration):
        pass
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workload", nargs="*", help=f"default: all of {workloads.names()}")
    p.add_argument("--framework", "-f", action="append", help="only these frameworks")
    p.add_argument("--case", "-c", action="append", help="only these cases")
    p.add_argument("--repeat", type=int, default=15, help="samples per case (default 15)")
    p.add_argument("--min-sample", type=float, default=0.02, help="seconds per sample")
    p.add_argument("--timeout", type=float, default=600, help="seconds per worker")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every framework this many times, interleaved (round-robin, the "
                        "order reversed every other round), and report the median of the "
                        "per-round medians and of the per-round ratios (default 1)")
    p.add_argument("--env", action="append", metavar="KEY=VALUE",
                   help="set in every worker, e.g. --env OPENBLAS_NUM_THREADS=1")
    p.add_argument("--json", help="also write all results here")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the results here (needs matplotlib: the examples extra)")
    args = p.parse_args(argv)
    report = {"machine": machine(), "workloads": {}}
    report["machine"]["env"] = " ".join(args.env or ()) or None
    print(" ".join(f"{k}={v}" for k, v in report["machine"].items()))
    if report["machine"]["loadavg"] > 0.5:
        print("warning: other processes are running (load average above); expect noisy numbers")
    for name in args.workload or workloads.names():
        mod = workloads.load(name)
        fws = []
        for fw, (needs, _) in mod.FRAMEWORKS.items():
            if args.framework and fw not in args.framework:
                continue
            missing = [m for m in needs if importlib.util.find_spec(m) is None]
            if missing:
                print(f"[{name}] skip {fw}: {', '.join(missing)} not installed")
                continue
            gpu = workloads.gpu_of(mod.FRAMEWORKS, fw)
            if gpu and not gpu_usable(gpu, args.timeout):
                print(f"[{name}] skip {fw}: {gpu} sees no usable GPU")
                continue
            fws.append(fw)
        if not fws:
            continue
        per_round = {fw: [] for fw in fws}     # round-robin, so load changes hit everyone
        for k in range(args.rounds):
            for fw in order(fws, k):
                try:
                    ranks = workloads.ranks_of(mod.FRAMEWORKS, fw)
                    per_round[fw].append({r["case"]: r for r in run_worker(name, fw, args,
                                                                            ranks)})
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    per_round[fw].append(None)
                    print(f"[{name}] {fw} failed: {e}")
        rows = {fw: combine(rs) for fw, rs in per_round.items() if any(rs)}
        add_ratios(mod, rows)
        print(table(mod, name, rows, args.rounds), flush=True)
        print(f"(load average now {os.getloadavg()[0]:.2f})")
        report["workloads"][name] = {"unit": mod.UNIT, "per_call": mod.PER_CALL,
                                     "baseline": mod.BASELINE, "results": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.plot:
        from bench.plot import plot
        plot(report, args.plot)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
