"""A module imported on first attribute access: scipy's submodules load when a kernel first
needs them (scipy.special took ~0.17 s and scipy.signal ~0.5 s of `import pyad`)."""
import importlib


class LazyModule:
    """Stands for the module `name`; the first attribute read imports it, later reads go
    straight to the module's attributes (copied onto this object)."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        module = importlib.import_module(self._name)
        self.__dict__.update(vars(module))      # later reads: plain attribute lookups
        return getattr(module, attr)
