"""Build pyad's compiled parts: the pybind11 kernel module pyad._C (csrc/*.cpp) and every
src/pyad/*.pyx as a Cython C++ extension (src layout, so tests always import the installed
build, never a bare source tree). Metadata lives in pyproject.toml.

Environment:
  PYAD_NATIVE=1        add -march=native (default builds are portable; hot loops still pick
                       AVX-512/AVX2 at load time through GCC target_clones)
  PYAD_SKIP_CYTHON=1   build only pyad._C (useful while a .pyx is being edited)
"""
import glob
import os
import sys

from setuptools import Extension, setup

import numpy
import pybind11

HERE = os.path.dirname(os.path.abspath(__file__))


def _rel(pattern):
    # setuptools wants paths relative to setup.py (sdist/wheel builds run from there)
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


if sys.platform == "darwin":
    # Apple clang has no -fopenmp driver flag and no target_clones; keep the build working.
    OMP_COMPILE, OMP_LINK = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
else:
    OMP_COMPILE, OMP_LINK = ["-fopenmp"], ["-fopenmp"]

CXX_FLAGS = [
    "-std=c++17",
    "-O3",
    "-fno-math-errno",     # lets sqrt/fabs vectorise
    "-fno-trapping-math",  # lets if-converted selects vectorise
    "-ffp-contract=fast",  # FMA in polynomials (ISO mode would turn contraction off)
    "-fvisibility=hidden",
] + OMP_COMPILE
if os.environ.get("PYAD_NATIVE") == "1":
    CXX_FLAGS.append("-march=native")

ext_modules = [
    Extension(
        "pyad._C",
        sources=_rel("csrc/*.cpp"),
        depends=_rel("csrc/*.h"),
        include_dirs=["csrc", pybind11.get_include(), numpy.get_include()],
        language="c++",
        extra_compile_args=CXX_FLAGS,
        extra_link_args=OMP_LINK,
    )
]

pyx_files = _rel("src/pyad/*.pyx")
if pyx_files and os.environ.get("PYAD_SKIP_CYTHON") != "1":
    from Cython.Build import cythonize

    cy_exts = [
        Extension(
            "pyad." + os.path.splitext(os.path.basename(p))[0],
            sources=[p],
            depends=_rel("csrc/*.h") + _rel("src/pyad/*.pxd"),
            include_dirs=[numpy.get_include(), "csrc"],
            language="c++",
            extra_compile_args=CXX_FLAGS,
            extra_link_args=OMP_LINK,
        )
        for p in pyx_files
    ]
    ext_modules += cythonize(
        cy_exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )

setup(ext_modules=ext_modules)
