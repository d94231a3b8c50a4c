"""Op specs of the math family (see tests/op_specs.py, which imports this file)."""
import numpy as np  # noqa: F401

import pyad as ad  # noqa: F401
from op_specs import C, spec  # noqa: F401
