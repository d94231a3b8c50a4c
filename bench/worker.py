"""One framework on one workload in its own process: setup, verify once, time, print JSON."""
import os

# Before any extension loads its OpenMP runtime: spinning OpenMP workers fight OpenBLAS's.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from bench import workloads  # noqa: E402
from bench.timing import measure  # noqa: E402

MARK = "BENCH_JSON "


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("workload")
    p.add_argument("framework")
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--min-sample", type=float, default=0.02)
    p.add_argument("--case", action="append", help="only these cases")
    a = p.parse_args(argv)
    mod = workloads.load(a.workload)
    _, setup = mod.FRAMEWORKS[a.framework]
    sync = workloads.gpu_sync(workloads.gpu_of(mod.FRAMEWORKS, a.framework))
    agree, report = None, True
    if workloads.ranks_of(mod.FRAMEWORKS, a.framework):       # under mpiexec
        from mpi4py import MPI
        comm = MPI.COMM_WORLD

        def agree(n):
            return comm.allreduce(n, op=MPI.MAX)
        report = comm.Get_rank() == 0
    results = []
    for case, fn in setup().items():
        if a.case and case not in a.case:
            continue
        fn, check = fn if isinstance(fn, tuple) else (fn, fn)  # (timed, checked) or one callable
        try:
            mod.verify(case, a.framework, np.asarray(check()))
        except AssertionError as e:  # a wrong answer posts no time
            msg = " ".join(ln.strip() for ln in str(e).strip().splitlines()[:3])
            raise SystemExit(f"wrong result for {case}: {msg}") from None
        r = measure(fn, repeat=a.repeat, min_sample=a.min_sample, sync=sync, agree=agree)
        results.append(dict(r, case=case))
    if report:
        print(MARK + json.dumps({"workload": a.workload, "framework": a.framework,
                                 "results": results}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
