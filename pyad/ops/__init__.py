"""The ops layer: the public numpy-like functions (core.py and the math, array and linalg
families), the primitive table they bind (prims.py; each family file adds its own rows), the
batching interpreter, custom primitives, numpy protocol dispatch and pyad.numpy (numpy/)."""
