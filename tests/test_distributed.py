"""pyad.distributed from one process: the 2-rank suite (tests/distributed) under mpiexec, a
rank that dies or raises ends the run instead of hanging it, and a world of one."""
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPI4PY = pytest.importorskip("mpi4py", reason="the dist extra: pip install -e '.[dist]'")


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = here if os.path.exists(here) else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec: pip install -e '.[dist]' (the mpich wheel provides it)")
    return found


def _launch(args, timeout):
    """mpiexec -n 2 python ARGS from the repository root; one BLAS/OpenMP thread per rank
    (two ranks share this machine's cores)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    start = time.monotonic()
    proc = subprocess.run([_mpiexec(), "-n", "2", sys.executable, *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.monotonic() - start


def test_two_rank_suite_passes():
    proc, _ = _launch(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/distributed"],
                      timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # one summary per rank (the two ranks' lines may interleave on the terminal)
    summaries = re.findall(r"(\d+) passed([^\n]*?) in [\d.]+s", out)
    assert len(summaries) == 2, out[-3000:]
    for passed, rest in summaries:
        assert int(passed) >= 80, out[-3000:]
    assert not re.search(r"\d+ (failed|skipped|error)", out), out[-3000:]


def _script(tmp_path, body):
    path = tmp_path / "job.py"
    path.write_text("import numpy as np\nimport pyad.distributed as dist\ndist.init()\n"
                    + textwrap.dedent(body))
    return str(path)


def test_a_killed_rank_ends_the_run(tmp_path):
    script = _script(tmp_path, """
        import os, signal
        dist.allreduce(np.ones(3))
        if dist.rank() == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        dist.allreduce(np.ones(3))          # rank 0 waits here for a rank that is gone
        print("rank 0 should never get here", flush=True)
    """)
    proc, took = _launch([script], timeout=120)
    assert proc.returncode != 0
    assert "never get here" not in proc.stdout
    assert took < 60, took


def test_an_exception_on_one_rank_aborts_the_others(tmp_path):
    script = _script(tmp_path, """
        if dist.rank() == 1:
            raise KeyError("only on rank 1")
        dist.allreduce(np.ones(3))          # would wait forever without the abort
    """)
    proc, took = _launch([script], timeout=120)
    assert proc.returncode != 0
    assert "only on rank 1" in proc.stderr
    assert took < 60, took


def test_importing_pyad_does_not_import_mpi4py():
    code = ("import sys, pyad, pyad.distributed; "
            "assert 'mpi4py' not in sys.modules, 'pyad imported mpi4py'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_world_of_one():
    """A script run without mpiexec is rank 0 of 1, and every tool works there."""
    import pyad as ad
    import pyad.distributed as dist
    dist.init()
    assert (dist.rank(), dist.size(), dist.is_initialized()) == (0, 1, True)
    dist.barrier()
    w = ad.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = dist.DistributedOptimizer(ad.optim.SGD([w], lr=0.5))
    ad.sum(w * w).backward()
    opt.step()
    np.testing.assert_array_equal(w.data, [0.0, 0.0])
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(dist.allgather(x, axis=1).data, x)
    np.testing.assert_array_equal(dist.reduce_scatter(x, axis=0).data, x)


def _example(args, tmp_path, ranks=2):
    pytest.importorskip("sklearn", reason="the examples need scikit-learn's bundled data")
    pytest.importorskip("matplotlib", reason="the examples plot: pip install -e '.[examples]'")
    script = os.path.join(ROOT, "examples", "train_mlp_distributed.py")
    args = [script, "--hidden", "32", "--lr", "1e-2", "--eigs", "2", "--probes", "1", "--lanczos-steps", "10",
            "--out", str(tmp_path)] + args
    if ranks == 1:
        proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL)
    else:
        proc, _ = _launch(args, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _eigenvalues(out):
    line = next(l for l in out.splitlines() if "top eigenvalues" in l)
    return [float(v) for v in re.search(r"eigenvalues ([-\d., ]+) \(", line).group(1).split(",")]


def test_distributed_example_trains_resumes_and_matches_one_process(tmp_path):
    import pyad as ad
    out = _example(["--epochs", "3"], tmp_path / "straight")
    assert out.count("epoch   3/3") == 1            # rank 0 prints, the other rank does not
    assert "2 rank(s)" in out and (tmp_path / "straight" / "mlp_distributed.png").exists()
    acc = float(re.search(r"final: test acc ([\d.]+)", out).group(1))
    assert acc > 0.85
    # interrupted after 2 epochs and resumed: the same parameters, bit for bit
    _example(["--epochs", "3", "--stop-after", "2"], tmp_path / "split")
    _example(["--epochs", "3", "--resume"], tmp_path / "split")
    a = ad.load(tmp_path / "straight" / "mlp_distributed.npz")["model"]
    b = ad.load(tmp_path / "split" / "mlp_distributed.npz")["model"]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    # one process with the combined batch trains the same model: the same Hessian spectrum
    one = _example(["--epochs", "3", "--batch-size", "64"], tmp_path / "one", ranks=1)
    np.testing.assert_allclose(_eigenvalues(one), _eigenvalues(out), rtol=1e-3)
