"""Shared pytest setup for the pyad tests (kept small on purpose)."""
import os
import sys

# tests import their helpers (op_specs) by module name, whatever pytest's import mode
sys.path.insert(0, os.path.dirname(__file__))
