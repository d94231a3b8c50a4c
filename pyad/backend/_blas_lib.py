"""Which BLAS library pyad's matrix products call, decided before any extension loads."""
import glob
import os
import sys


def mkl_runtime():
    """Path of the MKL runtime of an installed `mkl` wheel (pip puts libmkl_rt in
    <prefix>/lib), or None when there is none or PYAD_BLAS=openblas asks for numpy's."""
    if os.environ.get("PYAD_BLAS", "").lower() == "openblas":
        return None
    found = sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    return found[0] if found else None
