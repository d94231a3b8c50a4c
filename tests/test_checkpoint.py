"""pyad.save / pyad.load: round trips without pickle, atomic writes, damaged files."""
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import pyad as ad
from pyad.checkpoint import CheckpointError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _assert_same(a, b):
    """Deep equality with types: arrays by dtype, shape and values (NaN == NaN)."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), type(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (list(a), b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), (a, b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert type(a) is type(b) and a == b, (a, b)


def _sample():
    rng = np.random.default_rng(0)
    return {
        "model": {"0.weight": rng.standard_normal((3, 4)).astype(np.float32),
                  "0.bias": np.zeros(4, np.float32)},
        "arrays": [np.arange(5, dtype=np.int8), np.arange(6, dtype=np.uint16).reshape(2, 3),
                   np.array([True, False, True]), np.array(2.5), np.array(7, dtype=np.int64),
                   np.linspace(0, 1, 4).astype(np.float16), np.array([1 + 2j, -3j]),
                   np.zeros((0, 3)), np.array(["ab", "cde"]),
                   np.full(2, 2**64 - 1, dtype=np.uint64),
                   np.asfortranarray(np.arange(6.0).reshape(2, 3))],
        "tuple": (1, 2.5, "three", None, (np.float64(4.0), [True, False])),
        "scalars": {"int": 3, "neg": -12, "big": 2**127 + 12345, "huge_neg": -(2**100),
                    "float": 0.1, "nan": float("nan"), "inf": float("inf"),
                    "ninf": float("-inf"), "tiny": 5e-324, "bool": True, "none": None,
                    "str": "héllo \"world\"\n", "empty": ""},
        "nested": {"a": {"b": {"c": [[], {}, ()]}}},
        "weird keys": {"": 1, "__array__": 2, "__dict__": [3], "a.b/c": 4, "0": 5},
    }


def test_round_trip_nested(tmp_path):
    obj = _sample()
    ad.save(tmp_path / "ck.npz", obj)
    back = ad.load(tmp_path / "ck.npz")
    expected = dict(obj)
    expected["tuple"] = (1, 2.5, "three", None, (4.0, [True, False]))   # numpy scalar -> float
    _assert_same(expected, back)
    assert back["scalars"]["big"] == 2**127 + 12345


def test_round_trip_str_path_and_tensors(tmp_path):
    t = ad.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    model = ad.nn.MLP([3, 4, 2], seed=0)
    path = str(tmp_path / "m.npz")
    ad.save(path, {"t": t, "params": model.parameters(), "sd": model.state_dict()})
    back = ad.load(path)
    assert isinstance(back["t"], np.ndarray)
    np.testing.assert_array_equal(back["t"], t.data)
    assert len(back["params"]) == 4
    for p, a in zip(model.parameters(), back["params"]):
        assert isinstance(a, np.ndarray) and a.dtype == np.float32
        np.testing.assert_array_equal(a, p.data)
    other = ad.nn.MLP([3, 4, 2], seed=1)
    other.load_state_dict(back["sd"])
    x = np.ones((2, 3))
    np.testing.assert_array_equal(np.asarray(other(x).data), np.asarray(model(x).data))


def test_top_level_values(tmp_path):
    for obj in (np.arange(3), 5, None, "s", [1, 2], (), 2**70, float("nan")):
        ad.save(tmp_path / "x.npz", obj)
        _assert_same(obj, ad.load(tmp_path / "x.npz"))


def test_generator_state_round_trip_restores_stream(tmp_path):
    rng = np.random.default_rng(12345)
    rng.standard_normal(17)
    state = rng.bit_generator.state
    assert state["state"]["state"] > 2**64            # a real 128-bit integer
    ad.save(tmp_path / "rng.npz", {"rng": state})
    expected = rng.standard_normal(10)
    loaded = ad.load(tmp_path / "rng.npz")["rng"]
    assert loaded == state
    fresh = np.random.default_rng()
    fresh.bit_generator.state = loaded
    np.testing.assert_array_equal(fresh.standard_normal(10), expected)


def test_overwrite_replaces(tmp_path):
    path = tmp_path / "ck.npz"
    ad.save(path, {"v": 1})
    ad.save(path, {"v": 2, "a": np.ones(3)})
    back = ad.load(path)
    assert back["v"] == 2
    np.testing.assert_array_equal(back["a"], np.ones(3))
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]      # no temporary files left


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = tmp_path / "ck.npz"
    ad.save(path, {"w": np.arange(4.0), "meta": {"epoch": 3, "name": "run"}})
    assert zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = [npz[k] for k in npz.files]
    assert any(a.dtype == np.float64 and np.array_equal(a, np.arange(4.0)) for a in arrays)
    assert all(a.dtype != object for a in arrays)


@pytest.mark.parametrize("bad, what", [
    ({1: np.ones(2)}, "key"),
    ({"a": {(1, 2): 3}}, "key"),
    ({"a": np.array([1, "x", None], dtype=object)}, "object array"),
    ({"a": object()}, "object"),
    ({"a": {1, 2}}, "set"),
    ([lambda x: x], "function"),
    ({"a": b"bytes"}, "bytes"),
    ({"a": slice(1, 2)}, "slice"),
])
def test_unsupported_values_raise_type_error(tmp_path, bad, what):
    path = tmp_path / "ck.npz"
    ad.save(path, {"ok": 1})
    with pytest.raises(TypeError):
        ad.save(path, bad)
    assert ad.load(path) == {"ok": 1}                      # the old checkpoint is untouched
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_type_error_names_the_location(tmp_path):
    with pytest.raises(TypeError, match=r"\['outer'\]\['inner'\]"):
        ad.save(tmp_path / "x.npz", {"outer": {"inner": object()}})
    with pytest.raises(TypeError, match="keys must be strings"):
        ad.save(tmp_path / "x.npz", {"outer": {3: 1}})


# ------------------------------------------------------------------- atomicity
def test_failure_midway_through_savez_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    ad.save(path, {"epoch": 1, "w": np.full(1000, 1.0)})
    real_savez = np.savez

    def broken_savez(f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial garbage" * 1000)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        ad.save(path, {"epoch": 2, "w": np.full(1000, 2.0)})
    monkeypatch.setattr(np, "savez", real_savez)
    back = ad.load(path)
    assert back["epoch"] == 1
    np.testing.assert_array_equal(back["w"], np.full(1000, 1.0))
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]      # the temporary file was removed


def test_keyboard_interrupt_midway_keeps_previous(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    ad.save(path, {"epoch": 1})
    real_savez = np.savez
    calls = []

    def interrupted(f, *args, **kwargs):
        real_savez(f, *args, **kwargs)           # the data is fully written, then ^C
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ad.save(path, {"epoch": 2})
    assert calls
    monkeypatch.undo()
    assert ad.load(path) == {"epoch": 1}
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_first_save_failing_leaves_no_file(tmp_path, monkeypatch):
    def broken_savez(f, *args, **kwargs):
        f.write(b"junk")
        raise RuntimeError("boom")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError):
        ad.save(tmp_path / "new.npz", {"a": np.ones(3)})
    assert os.listdir(tmp_path) == []


def _is_temp(name):
    return name.endswith(".pyad-tmp")


_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    import pyad as ad
    path = sys.argv[1]
    big = np.empty(6_000_000)            # 48 MB per save
    i = 0
    while True:
        i += 1
        big.fill(i)
        ad.save(path, {"i": i, "big": big, "tail": np.full(3, i)})
""")


def test_sigkill_during_save_leaves_previous_checkpoint(tmp_path):
    path = tmp_path / "ck.npz"
    ad.save(path, {"i": 0, "big": np.zeros(4), "tail": np.zeros(3, np.int64)})
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    killed_mid_write = 0
    for attempt in range(4):
        proc = subprocess.Popen([sys.executable, str(script), str(path), REPO],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            # wait until a temporary file exists and has data in it, then kill
            while time.monotonic() < deadline:
                tmps = [n for n in os.listdir(tmp_path) if _is_temp(n)]
                if tmps:
                    try:
                        if os.path.getsize(tmp_path / tmps[0]) > 1_000_000:
                            break
                    except FileNotFoundError:
                        pass
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.001)
            else:
                pytest.fail("the writer never started a save")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(10)
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        leftovers = [n for n in os.listdir(tmp_path) if _is_temp(n)]
        killed_mid_write += bool(leftovers)
        # whatever happened, the target is a complete checkpoint: the old one or a new one
        back = ad.load(path)
        i = back["i"]
        assert isinstance(i, int) and i >= 0
        np.testing.assert_array_equal(back["tail"], np.full(3, i))
        if i:
            assert back["big"].shape == (6_000_000,)
            assert back["big"][0] == i and back["big"][-1] == i
        for n in leftovers:                   # named after the path and the dead writer
            assert n.startswith(".ck.npz.") and n.endswith(".pyad-tmp"), n
        if killed_mid_write:
            break
    assert killed_mid_write, "never managed to kill the writer in the middle of a save"
    # the next save to that path removes the orphans of the killed writer
    ad.save(path, {"i": -1})
    assert sorted(os.listdir(tmp_path)) == ["ck.npz", "writer.py"]
    assert ad.load(path) == {"i": -1}


# ------------------------------------------------------------------- damaged files
def _good(tmp_path):
    path = tmp_path / "good.npz"
    ad.save(path, {"w": np.arange(1000.0), "meta": {"epoch": 4}})
    return path, path.read_bytes()


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_truncated_file_raises_checkpoint_error(tmp_path, keep):
    _, data = _good(tmp_path)
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(CheckpointError) as e:
        ad.load(bad)
    assert str(bad) in str(e.value)
    assert isinstance(e.value, ValueError)


def test_random_bytes_raise_checkpoint_error(tmp_path):
    bad = tmp_path / "random.npz"
    for seed in range(3):
        bad.write_bytes(np.random.default_rng(seed).bytes(5000))
        with pytest.raises(CheckpointError, match="random.npz"):
            ad.load(bad)


def test_corrupted_member_raises_checkpoint_error(tmp_path):
    _, data = _good(tmp_path)
    raw = bytearray(data)
    # flip bytes in the middle of the stored float array (zip CRC check fails)
    i = bytes(raw).find(np.arange(1000.0)[500:502].tobytes())
    assert i > 0
    raw[i:i + 16] = b"\xff" * 16
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="flipped.npz"):
        ad.load(bad)


def test_plain_npz_without_structure_raises_checkpoint_error(tmp_path):
    bad = tmp_path / "plain.npz"
    np.savez(bad, w=np.ones(3))
    with pytest.raises(CheckpointError, match="plain.npz"):
        ad.load(bad)


def test_npy_file_raises_checkpoint_error(tmp_path):
    bad = tmp_path / "array.npy"
    np.save(bad, np.ones(3))
    with pytest.raises(CheckpointError, match="array.npy"):
        ad.load(bad)


def test_text_file_raises_checkpoint_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just some text\n" * 10)
    with pytest.raises(CheckpointError, match="notes.txt"):
        ad.load(bad)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        ad.load(tmp_path / "nope.npz")


def test_checkpoint_error_is_value_error():
    assert issubclass(CheckpointError, ValueError)
    assert ad.checkpoint.CheckpointError is CheckpointError


def test_next_save_removes_only_its_own_orphans(tmp_path):
    """Orphans of killed saves to this path go; everything else stays: other paths' temps,
    temps of running processes (and of this one: another thread may be saving), look-alikes."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)                   # exited and reaped: no such process now
    alive = os.getppid()
    names = {
        f".ck.npz.{dead}.abc_123.pyad-tmp": False,        # an orphan of this path: removed
        f".ck.npz.{dead}.Zz9.pyad-tmp": False,
        f".ck.npz.{alive}.abc.pyad-tmp": True,            # a running writer's
        f".ck.npz.{os.getpid()}.abc.pyad-tmp": True,      # this process's
        f".other.npz.{dead}.abc.pyad-tmp": True,          # another path's
        f".ck.npz.5.{dead}.abc.pyad-tmp": True,           # ck.npz.5's, not ck.npz's
        f".ck.npz.{dead}.abc.pyad-tmp.keep": True,        # look-alikes
        f"ck.npz.{dead}.abc.pyad-tmp": True,
        f".ck.npz.x{dead}.abc.pyad-tmp": True,
        ".tmp-old.npz": True,
    }
    for n in names:
        (tmp_path / n).write_bytes(b"partial")
    ad.save(tmp_path / "ck.npz", {"a": 1})
    left = set(os.listdir(tmp_path))
    assert left == {n for n, keep in names.items() if keep} | {"ck.npz"}
    assert ad.load(tmp_path / "ck.npz") == {"a": 1}


def test_long_file_name_temps(tmp_path):
    name = "c" * 240 + ".npz"
    ad.save(tmp_path / name, {"a": np.ones(2)})
    np.testing.assert_array_equal(ad.load(tmp_path / name)["a"], np.ones(2))
    assert os.listdir(tmp_path) == [name]


def test_deflated_checkpoint_loads(tmp_path):
    """A checkpoint re-zipped with deflate (zip -9) is still a valid checkpoint."""
    path, _ = _good(tmp_path)
    out = tmp_path / "deflated.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    back = ad.load(out)
    np.testing.assert_array_equal(back["w"], np.arange(1000.0))
    assert back["meta"] == {"epoch": 4}


def _npy(array):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


def _zip(entries, method=zipfile.ZIP_STORED):
    import io
    import warnings
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # duplicate names on purpose
        with zipfile.ZipFile(buf, "w", method) as z:
            for name, data in entries:
                z.writestr(name, data)
    return buf.getvalue()


_S = "__pyad_structure__.npy"


def _record(structure):
    import json
    return _npy(np.array(structure if isinstance(structure, str) else json.dumps(structure)))


_HOSTILE = {
    "array-key-not-a-string": _zip([(_S, _record({"__array__": [1]}))]),
    "dict-of-a-list": _zip([(_S, _record({"__dict__": [1, 2]}))]),
    "list-of-an-int": _zip([(_S, _record({"__list__": 5}))]),
    "tuple-of-a-dict": _zip([(_S, _record({"__tuple__": {"a": 1}}))]),
    "two-tags": _zip([(_S, _record({"__list__": [], "__dict__": {}}))]),
    "bare-json-list": _zip([(_S, _record([1, 2]))]),
    "unknown-tag": _zip([(_S, _record({"__set__": [1]}))]),
    "missing-array": _zip([(_S, _record({"__array__": "a0"}))]),
    "structure-as-array": _zip([(_S, _record({"__array__": "__pyad_structure__"}))]),
    "array-twice": _zip([(_S, _record({"__list__": [{"__array__": "a0"}] * 2})),
                         ("a0.npy", _npy(np.ones(2)))]),
    "deep-json": _zip([(_S, _record("[" * 100000 + "]" * 100000))]),
    "deep-nodes": _zip([(_S, _record('{"__list__": [' * 3000 + "]}" * 3000))]),
    "invalid-json": _zip([(_S, _record("{nope"))]),
    "numeric-structure": _zip([(_S, _npy(np.array(1.5)))]),
    "structure-1d": _zip([(_S, _npy(np.array(["1"])))]),
    "object-structure": _zip([(_S, _npy(np.array("1", dtype=object)))]),
    "object-array": _zip([(_S, _record({"__array__": "a0"})),
                          ("a0.npy", _npy(np.array([1, None], dtype=object)))]),
    "huge-shape": _zip([(_S, _record({"__array__": "a0"})),
                        ("a0.npy", _npy(np.ones(2)).replace(b"(2,)", b"(10000000000000,)"))]),
    "short-shape": _zip([(_S, _record({"__array__": "a0"})),
                         ("a0.npy", _npy(np.ones(3)).replace(b"(3,)", b"(2,)"))]),
    "trailing-bytes": _zip([(_S, _record(1) + b"xx")]),
    "duplicate-entries": _zip([(_S, _record(1)), (_S, _record(2))]),
    "bzip2": _zip([(_S, _record(1))], zipfile.ZIP_BZIP2),
    "lzma": _zip([(_S, _record(1))], zipfile.ZIP_LZMA),
    "pickle": __import__("pickle").dumps({"w": [1.0, 2.0]}),
    "npy": _npy(np.ones(3)),
    "npy-object": _npy(np.array([None], dtype=object)),
    "empty": b"",
    "empty-zip": _zip([]),
}


@pytest.mark.parametrize("name", sorted(_HOSTILE))
def test_hostile_files_raise_checkpoint_error(tmp_path, name):
    bad = tmp_path / f"{name}.npz"
    bad.write_bytes(_HOSTILE[name])
    with pytest.raises(CheckpointError) as e:
        ad.load(bad)
    assert str(bad) in str(e.value)
    assert "allow_pickle" not in str(e.value)


@pytest.mark.parametrize("offset, value", [
    (4, 0x63), (6, 0x01), (6, 0x20), (6, 0x08), (8, 0x0c), (8, 0x63), (14, 0x00),
    (18, 0xff), (21, 0x7f), (22, 0xff), (25, 0x7f), (26, 0xff), (28, 0x40)])
def test_damaged_local_headers_raise_checkpoint_error(tmp_path, offset, value):
    """Bytes of a zip entry's local header (version, flags: encrypted, patched data,
    compression method, name and extra lengths) set to values zipfile refuses with
    NotImplementedError or RuntimeError, in every entry."""
    path, data = _good(tmp_path)
    starts = [i for i in range(len(data)) if data.startswith(b"PK\x03\x04", i)]
    centrals = [i for i in range(len(data)) if data.startswith(b"PK\x01\x02", i)]
    assert len(starts) == len(centrals) == 2
    for start, central in zip(starts, centrals):
        for base, shift in ((start, 0), (central, 2)):    # central records: 2 bytes later
            raw = bytearray(data)
            raw[base + offset + shift] = value
            bad = tmp_path / "bad.npz"
            bad.write_bytes(bytes(raw))
            try:
                back = ad.load(bad)
            except CheckpointError as e:
                assert "allow_pickle" not in str(e)
                continue
            np.testing.assert_array_equal(back["w"], np.arange(1000.0))   # harmless byte
            assert back["meta"] == {"epoch": 4}
