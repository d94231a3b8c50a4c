"""Checkpoints: nested dicts of arrays and scalars in an .npz, written atomically, no pickle."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import zipfile
from typing import Any, Optional, Union

import numpy as np

from pyad import backend
from pyad.engine._tape import Tensor

__all__ = ["save", "load", "CheckpointError"]

_STRUCTURE = "__pyad_structure__"


class CheckpointError(ValueError):
    """A file that is not a complete pyad checkpoint (truncated, corrupted or foreign).

    Raised by :func:`load`; a ValueError, so ``except ValueError`` catches it too. Its
    message names the file and the cause; the usual fix is to fall back to an older
    checkpoint.

    Examples
    --------
    >>> import os, tempfile
    >>> from pyad.train.serialize import CheckpointError
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "broken.npz")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(b"not a checkpoint")
    ...     try:
    ...         ad.load(path)
    ...     except CheckpointError as e:
    ...         print("damaged:", "truncated or corrupted" in str(e))
    damaged: True
    """


def _encode(obj, arrays, where):
    """JSON-able structure; arrays go to `arrays` and are referenced by key."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if backend.is_foreign(obj):
        obj = backend.to_host(obj)       # an explicit copy: files hold host arrays
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"pyad.save: {where} is an object array; only numeric, bool and "
                            f"string arrays can be saved without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise TypeError(f"pyad.save: {where} has the key {k!r}; keys must be strings")
        return {"__dict__": {k: _encode(v, arrays, f"{where}[{k!r}]") for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        kind = "__list__" if isinstance(obj, list) else "__tuple__"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"pyad.save: {where} is a {type(obj).__name__}; checkpoints hold nested "
                    f"dicts, lists and tuples of arrays, numbers, strings and None")


class _Damaged(Exception):
    """Internal: what is wrong with a file being loaded (load() adds the path)."""


class _OutOfMemory(MemoryError):
    """Internal: a well-formed array too large for this machine's memory."""


_SCALARS = (type(None), bool, int, float, str)


def _decode(node, read_array):
    """The object a structure record describes; each {"__array__": key} node is read with
    read_array(key). Anything ad.save never writes is a _Damaged file."""
    if isinstance(node, _SCALARS):
        return node
    if not isinstance(node, dict) or len(node) != 1:
        raise _Damaged(f"has an invalid structure record (a {type(node).__name__} node "
                       f"{_short(node)})")
    (tag, value), = node.items()
    if tag == "__array__" and isinstance(value, str):
        return read_array(value)
    if tag == "__dict__" and isinstance(value, dict):
        return {k: _decode(v, read_array) for k, v in value.items()}
    if tag in ("__list__", "__tuple__") and isinstance(value, list):
        items = [_decode(v, read_array) for v in value]
        return items if tag == "__list__" else tuple(items)
    raise _Damaged(f"has an invalid structure record (node {_short(node)})")


def _short(node):
    text = repr(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_TMP_SUFFIX = ".pyad-tmp"
_TMP_MIDDLE = re.compile(r"(\d+)\.[A-Za-z0-9_]+")     # <pid>.<mkstemp's random letters>


def _tmp_stem(path):
    """The prefix of save()'s temporary files for path: '.<name>.' (a hash for long names)."""
    name = os.path.basename(path)
    if len(name) > 180:      # keep '<stem><pid>.<random>.pyad-tmp' within NAME_MAX
        name = "h" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f".{name}."


def _process_gone(pid):
    if pid == os.getpid():
        return False          # another thread of this process may be saving right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:           # exists but is another user's, or signals are not allowed
        return False
    return False


def _remove_orphans(directory, stem):
    """Delete temporary files that a killed save to this path left behind (recognised by
    their name, and only those of processes that no longer run)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(stem) and name.endswith(_TMP_SUFFIX)):
            continue
        m = _TMP_MIDDLE.fullmatch(name[len(stem):-len(_TMP_SUFFIX)])
        if m and _process_gone(int(m.group(1))):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def save(path: Union[str, os.PathLike], obj: Any) -> None:
    """Write obj (nested dicts/lists of arrays, Tensors, numbers, strings, None) to path.

    The file is written to a temporary file in the same directory, flushed to disk and then
    renamed over path, so a crash mid-save leaves the previous checkpoint intact. A save
    killed outright leaves its temporary file (".<name>.<pid>.<random>.pyad-tmp"); the next
    save to the same path removes those of processes that no longer run.

    The file is an ``.npz`` (one entry per array) plus a JSON record of the structure; no
    pickle is involved, so loading an untrusted file cannot run code.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (conventionally ``*.npz``); its directory must exist.
    obj : dict, list, tuple, array, Tensor, number, str or None
        What to save, nested to any depth: e.g. ``{"model": model.state_dict(), "opt":
        opt.state_dict(), "epoch": 3}``. Dict keys must be strings; Tensors are saved as
        their arrays, numpy scalars as Python numbers, tuples come back as tuples. Arrays
        and Tensors of any backend or device (CuPy, any Array API array) are copied to the
        host and saved as numpy arrays: the file is the same whatever device they were on.

    Raises
    ------
    TypeError
        For anything else (an object array, a non-string key, an arbitrary object), naming
        where in obj it is.
    OSError
        When the file cannot be written.

    See Also
    --------
    load

    Examples
    --------
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "ckpt.npz")
    ...     ad.save(path, {"w": np.arange(3.0), "epoch": 3, "opt": {"lr": 0.1}})
    ...     print(ad.load(path))
    {'w': array([0., 1., 2.]), 'epoch': 3, 'opt': {'lr': 0.1}}
    """
    path = os.fspath(path)
    arrays = {}
    structure = json.dumps(_encode(obj, arrays, "the object"))
    directory = os.path.dirname(os.path.abspath(path))
    stem = _tmp_stem(path)
    _remove_orphans(directory, stem)
    fd, tmp = tempfile.mkstemp(prefix=f"{stem}{os.getpid()}.", suffix=_TMP_SUFFIX,
                               dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_umask())       # mkstemp makes 0600; a saved file is 0644-like
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, **{_STRUCTURE: np.array(structure)})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:       # make the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def load(path: Union[str, os.PathLike], device: Optional[str] = None) -> Any:
    """Read a checkpoint written by save(), optionally onto a device.

    A file that is not a complete pyad checkpoint (truncated, corrupted, foreign or crafted:
    damaged zip entries, unsupported compression, inconsistent array headers, object arrays,
    a malformed structure record) raises CheckpointError; a missing file FileNotFoundError.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    device : str, optional
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: every numeric and bool array is put there
        (``backend.to_device``; string arrays stay numpy). Default: numpy arrays.

    Returns
    -------
    object
        The saved object: the same nesting of dicts, lists and tuples, with arrays
        (numpy, or on ``device``; Tensors come back as arrays), Python numbers, strings and
        None.

    Raises
    ------
    CheckpointError
        When the file is damaged or not a pyad checkpoint.
    FileNotFoundError
        When the file does not exist.
    ValueError
        For an unknown device name.
    ImportError
        With ``device="cuda"`` where CuPy is not installed.

    Examples
    --------
    >>> import os, tempfile
    >>> model = ad.nn.Linear(2, 1, seed=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = os.path.join(d, "model.npz")
    ...     ad.save(path, {"model": model.state_dict(), "epoch": 7})
    ...     state = ad.load(path)
    >>> state["epoch"], sorted(state["model"])
    (7, ['bias', 'weight'])
    >>> _ = model.load_state_dict(state["model"])
    """
    path = os.fspath(path)
    if device is not None:
        device = backend.normalize_device(device)       # an unknown name fails first
    with open(path, "rb") as fh:          # a missing file or a directory: the OS's own error
        try:
            obj = _load(fh)
        except _Damaged as e:
            raise CheckpointError(f"pyad.load: {path!r} {e}; it is not a complete pyad "
                                  f"checkpoint (fall back to an older one)") from None
        except _OutOfMemory:
            raise
        except Exception as e:      # whatever zipfile, zlib, numpy or json met in the bytes
            raise CheckpointError(f"pyad.load: {path!r} is truncated or corrupted and cannot "
                                  f"be read ({_describe(e)}); fall back to an older "
                                  f"checkpoint") from e
    return obj if device is None else _put(obj, device)


def _put(obj, device):
    """The numeric and bool arrays of a loaded object on `device` (outside load's handling
    of damaged files: a device that cannot be used raises its own error)."""
    if isinstance(obj, np.ndarray):
        return obj if obj.dtype.kind in "USV" else backend.to_device(obj, device)
    if isinstance(obj, dict):
        return {k: _put(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_put(v, device) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_put(v, device) for v in obj)
    return obj


def _describe(e):
    """The cause of a failed read for a message (never numpy's advice to unpickle)."""
    text = str(e)
    if "pickle" in text.lower():
        text = "an entry claims to hold pickled Python objects"
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}
# a deflate stream expands at most ~1032-fold: larger claims are corrupt sizes (or a bomb)
_MAX_DEFLATE_RATIO = 1100


def _load(fh):
    size = os.fstat(fh.fileno()).st_size
    if fh.read(6) == b"\x93NUMPY":
        raise _Damaged("holds a single array (an .npy file), not a pyad checkpoint (an .npz "
                       "written by ad.save)")
    fh.seek(0)
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        members = {info.filename: info for info in infos}
        if len(members) != len(infos):
            raise _Damaged("has several zip entries of one name")
        if _STRUCTURE + ".npy" not in members:
            raise _Damaged(f"is an .npz without a {_STRUCTURE} entry")
        record = _read_member(zf, members[_STRUCTURE + ".npy"], size)
        if record.dtype.kind != "U" or record.shape != ():
            raise _Damaged(f"has a structure record of dtype {record.dtype} and shape "
                           f"{record.shape}, not a string")
        structure = json.loads(str(record[()]))
        used = set()

        def read_array(key):
            name = key + ".npy"
            if key == _STRUCTURE or name not in members:
                raise _Damaged(f"refers to a missing array {key!r}")
            if key in used:
                raise _Damaged(f"refers to the array {key!r} twice")
            used.add(key)
            return _read_member(zf, members[name], size)
        return _decode(structure, read_array)


def _read_member(zf, info, size):
    """One .npy entry as an array, its sizes, header and CRC checked before it is used."""
    name = info.filename
    stored = info.compress_type == zipfile.ZIP_STORED
    if not stored and info.compress_type != zipfile.ZIP_DEFLATED:
        raise _Damaged(f"has the entry {name!r} compressed with method {info.compress_type} "
                       f"(pyad checkpoints are stored or deflated)")
    if (info.compress_size > size or (stored and info.file_size != info.compress_size)
            or info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + 1024):
        raise _Damaged(f"has the entry {name!r} with impossible sizes ({info.compress_size} "
                       f"bytes stored, {info.file_size} claimed, in a file of {size})")
    with zf.open(info) as f:
        checked = False
        read_header = _NPY_HEADERS.get(np.lib.format.read_magic(f))
        if read_header is not None:
            shape, _, dtype = read_header(f)
            if dtype.hasobject:
                raise _Damaged(f"has the entry {name!r} of Python objects (dtype {dtype}); "
                               f"pyad checkpoints hold numeric, bool and string arrays only")
            nbytes = dtype.itemsize * math.prod(shape)
            if f.tell() + nbytes != info.file_size:
                raise _Damaged(f"has the entry {name!r} whose header describes {nbytes} bytes "
                               f"of {dtype} data but which holds {info.file_size - f.tell()}")
            checked = True
        f.seek(0)
        try:
            array = np.lib.format.read_array(f, allow_pickle=False)
        except MemoryError as e:
            if checked:
                raise _OutOfMemory(f"pyad.load: not enough memory for the {shape} {dtype} "
                                   f"array in {name!r}") from e
            raise
        if f.read(1):           # reading to the end also checks the entry's CRC-32
            raise _Damaged(f"has trailing bytes after the array in the entry {name!r}")
    return array
