"""Helpers of the backend tests: array-api-strict arrays as the stand-in device (the autouse
fixture makes them refuse numpy conversion, so a numpy call that leaks into a device path
fails here instead of on a GPU; test modules import `no_numpy_conversion` and pytest applies
it), and results of any backend read back on the host."""
import array_api_strict as xp
import pytest

import pyad as ad
from pyad import backend


@pytest.fixture(autouse=True)
def no_numpy_conversion(monkeypatch):
    """Strict arrays that numpy cannot read: only the seam's DLPack copies reach the host."""
    def refuse(self, *args, **kwargs):
        raise TypeError("a numpy call reached an array-api-strict array (np.asarray/__array__)")
    monkeypatch.setattr(type(xp.asarray(0.0)), "__array__", refuse)


def host_leaves(tree):
    """Every array leaf of a result (arrays or Tensors of any backend) as a host copy."""
    return [backend.to_host(leaf.data if isinstance(leaf, ad.Tensor) else leaf)
            for leaf in ad.tree_flatten(tree)[0]]
