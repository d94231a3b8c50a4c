"""Memory check: RSS over many SGD training steps of the S model (64-128-128-10 relu MLP,
batch 64, float32) in pyad. Growth after warm-up must stay within 5 MB.

    python bench/memory.py [--steps N] [--limit-mb 5]

Exit status 1 if the RSS grew by more than the limit between the end of warm-up and the end."""
import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def rss_mb():
    """Current resident set size (not the peak) from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--limit-mb", type=float, default=5.0)
    a = p.parse_args(argv)
    from pyad import nn, optim
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 64)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    model = nn.MLP([64, 128, 128, 10], activation="relu", seed=0)
    # a tiny lr: the real update runs but the weights stay put (no drift into denormals)
    opt = optim.SGD(model.parameters(), lr=1e-20)

    def step():
        opt.zero_grad()
        loss = nn.softmax_cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    start = rss_mb()
    print(f"after {a.warmup} warm-up steps: RSS {start:.1f} MB", flush=True)
    t0 = time.perf_counter()
    report = max(1, a.steps // 10)
    for i in range(1, a.steps + 1):
        step()
        if i % report == 0 and i < a.steps:
            print(f"  step {i}: RSS {rss_mb():.1f} MB", flush=True)
    end = rss_mb()
    dt = time.perf_counter() - t0
    growth = end - start
    ok = growth <= a.limit_mb
    print(f"after {a.steps} more steps ({dt:.1f} s, {dt / a.steps * 1e6:.0f} us/step): RSS "
          f"{end:.1f} MB, growth {growth:+.2f} MB (limit {a.limit_mb} MB): "
          f"{'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
