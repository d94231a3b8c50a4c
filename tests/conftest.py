"""Shared pytest fixtures for the pyad tests (kept small on purpose)."""
import os
import sys

import numpy as np
import pytest

# tests import their helpers (op_specs) by module name
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def rng():
    """A fixed-seed numpy Generator, fresh for every test."""
    return np.random.default_rng(0)
