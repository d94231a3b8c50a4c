"""Checkpoint corruption fuzzing: every single-byte change of a small saved file (and a sample
of truncations, overwritten spans, inserted and deleted bytes, and the same for a re-zipped,
deflated copy) must load as exactly the saved data or raise CheckpointError: no other
exception, no wrong data, no hang."""
import contextlib
import io
import math
import os
import signal
import threading
import time
import zipfile

import numpy as np
import pytest

import pyad as ad
from pyad.checkpoint import CheckpointError

# the budget for one load of a ~2 KB file: a slow load is a failure, and a load still running
# after HANG_S is interrupted (where the platform has interval timers) and reported as a hang
SLOW_LOAD_S = 2.0
HANG_S = 20.0


class _Hang(BaseException):
    """Raised in a load that ran past HANG_S (a BaseException, so no except clause in the
    loader can swallow it)."""


@contextlib.contextmanager
def _deadline(seconds):
    if (not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def fire(signum, frame):
        raise _Hang()
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _obj():
    return {
        "w": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "steps": np.array([3, -1, 7], dtype=np.int16),
        "meta": {"epoch": 4, "lr": 0.125, "tag": "run-1", "none": None, "big": 2**70,
                 "hist": [1.5, (2, "x", True), [], {}]},
    }


def _same(a, b):
    """Deep equality with types, dtypes, shapes and memory order."""
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
                and a.flags.f_contiguous == b.flags.f_contiguous and np.array_equal(a, b))
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b)
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckfuzz")
    path = d / "good.npz"
    ad.save(path, _obj())
    data = path.read_bytes()
    assert len(data) < 2048                  # small, so that every byte can be tried
    assert _same(_obj(), ad.load(path))
    # the same checkpoint re-zipped with deflate (a path through zlib)
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    deflated = d / "deflated.npz"
    deflated.write_bytes(buf.getvalue())
    assert _same(_obj(), ad.load(deflated))
    return {"stored": data, "deflated": buf.getvalue(), "dir": d}


def _check_all(saved, variants):
    """Load each (label, bytes); collect every outcome that is neither the right data nor a
    CheckpointError. Returns the number of variants tried."""
    expected = _obj()
    bad = saved["dir"] / f"bad-{os.getpid()}.npz"
    problems, n = [], 0
    for label, raw in variants:
        n += 1
        bad.write_bytes(raw)
        t0 = time.perf_counter()
        try:
            with _deadline(HANG_S):
                back = ad.load(bad)
        except _Hang:
            problems.append(f"{label}: still loading after {HANG_S} s (a hang)")
            continue
        except CheckpointError as e:
            if "allow_pickle" in str(e) or str(bad) not in str(e):
                problems.append(f"{label}: message {str(e)[:120]!r}")
        except Exception as e:                       # noqa: BLE001 (what this test is for)
            problems.append(f"{label}: {type(e).__name__}: {str(e)[:120]}")
        else:
            if not _same(expected, back):
                problems.append(f"{label}: loaded different data: {str(back)[:120]}")
        dt = time.perf_counter() - t0
        if dt > SLOW_LOAD_S:
            problems.append(f"{label}: load took {dt:.1f} s")
        if len(problems) >= 20:
            break
    assert not problems, f"{len(problems)} bad outcomes:\n" + "\n".join(problems)
    return n


def _flips(data, op, value):
    for i in range(len(data)):
        raw = bytearray(data)
        raw[i] = raw[i] ^ value if op == "xor" else value
        if raw[i] != data[i]:
            yield f"byte {i} {op} {value:#04x}", bytes(raw)


@pytest.mark.parametrize("kind, op, value", [
    ("stored", "xor", 0xff), ("stored", "xor", 0x01), ("stored", "xor", 0x80),
    ("stored", "set", 0x00), ("deflated", "xor", 0xff)],
    ids=["stored-xor-ff", "stored-xor-01", "stored-xor-80", "stored-set-00", "deflated-xor-ff"])
def test_every_single_byte_change(saved, kind, op, value):
    data = saved[kind]
    n = _check_all(saved, _flips(data, op, value))
    assert n == (len(data) if op == "xor" else sum(1 for b in data if b != value))


@pytest.mark.parametrize("kind", ["stored", "deflated"])
def test_truncations(saved, kind):
    data = saved[kind]
    cuts = sorted(set(range(0, len(data), 7)) | set(range(len(data) - 100, len(data))))
    _check_all(saved, ((f"truncated to {k} bytes", data[:k]) for k in cuts))


@pytest.mark.parametrize("kind", ["stored", "deflated"])
def test_random_overwrites(saved, kind):
    data = saved[kind]
    rng = np.random.default_rng(2024)

    def variants():
        for trial in range(300):
            length = int(rng.integers(2, 64))
            start = int(rng.integers(0, len(data) - 1))
            raw = bytearray(data)
            junk = rng.bytes(length)
            raw[start:start + length] = junk[:len(raw[start:start + length])]
            yield f"trial {trial}: {length} random bytes at {start}", bytes(raw)
    _check_all(saved, variants())


def test_inserted_and_deleted_bytes(saved):
    data = saved["stored"]
    rng = np.random.default_rng(7)
    spots = sorted(set(rng.integers(0, len(data), 150).tolist()))

    def variants():
        for i in spots:
            yield f"byte {i} deleted", data[:i] + data[i + 1:]
            yield f"byte 0x5a inserted at {i}", data[:i] + b"\x5a" + data[i:]
        yield "doubled", data + data
        yield "junk appended", data + b"\0" * 100
    _check_all(saved, variants())
