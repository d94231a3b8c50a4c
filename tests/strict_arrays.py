"""array-api-strict arrays as the stand-in device of the backend tests: the autouse fixture
makes them refuse numpy conversion, so a numpy call that leaks into a device path fails here
instead of on a GPU. Test modules import `no_numpy_conversion` (pytest then applies it)."""
import array_api_strict as xp
import pytest


@pytest.fixture(autouse=True)
def no_numpy_conversion(monkeypatch):
    """Strict arrays that numpy cannot read: only the seam's DLPack copies reach the host."""
    def refuse(self, *args, **kwargs):
        raise TypeError("a numpy call reached an array-api-strict array (np.asarray/__array__)")
    monkeypatch.setattr(type(xp.asarray(0.0)), "__array__", refuse)
