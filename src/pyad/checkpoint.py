"""Checkpoints: nested dicts of arrays and scalars in an .npz, written atomically, no pickle."""
import json
import os
import tempfile
import zipfile

import numpy as np

from pyad._tape import Tensor

__all__ = ["save", "load", "CheckpointError"]

_STRUCTURE = "__pyad_structure__"


class CheckpointError(ValueError):
    """A file that is not a complete pyad checkpoint (truncated, corrupted or foreign)."""


def _encode(obj, arrays, where):
    """JSON-able structure; arrays go to `arrays` and are referenced by key."""
    if isinstance(obj, Tensor):
        obj = obj.data
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


def _decode(node, arrays):
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__dict__" in node:
            return {k: _decode(v, arrays) for k, v in node["__dict__"].items()}
        if "__list__" in node:
            return [_decode(v, arrays) for v in node["__list__"]]
        if "__tuple__" in node:
            return tuple(_decode(v, arrays) for v in node["__tuple__"])
        raise CheckpointError(f"unknown node {sorted(node)} in the checkpoint structure")
    return node


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(path, obj):
    """Write obj (nested dicts/lists of arrays, Tensors, numbers, strings, None) to path.

    The file is written to a temporary file in the same directory, flushed to disk and then
    renamed over path, so a crash mid-save leaves the previous checkpoint intact."""
    path = os.fspath(path)
    arrays = {}
    structure = json.dumps(_encode(obj, arrays, "the object"))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
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


def load(path):
    """Read a checkpoint written by save(); raises CheckpointError if it is damaged."""
    path = os.fspath(path)
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CheckpointError(f"pyad.load: {path!r} holds a single array, not a pyad "
                                  f"checkpoint (an .npz written by ad.save)")
        with npz:
            if _STRUCTURE not in npz.files:
                raise CheckpointError(f"pyad.load: {path!r} is an .npz but not a pyad checkpoint "
                                      f"(no {_STRUCTURE} entry)")
            structure = json.loads(str(npz[_STRUCTURE]))
            arrays = {k: npz[k] for k in npz.files if k != _STRUCTURE}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, json.JSONDecodeError,
            zipfile.LargeZipFile) as e:
        raise CheckpointError(f"pyad.load: {path!r} is truncated or corrupted and cannot be "
                              f"read ({type(e).__name__}: {e}); fall back to an older "
                              f"checkpoint") from e
    try:
        return _decode(structure, arrays)
    except KeyError as e:
        raise CheckpointError(f"pyad.load: {path!r} refers to a missing array {e}") from e
