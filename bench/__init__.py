"""pyad benchmark suite: a runner (bench/run.py), per-framework workers and workload modules."""
