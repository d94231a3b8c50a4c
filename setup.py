"""Build pyad's compiled parts: the pybind11 kernel module pyad._C (csrc/*.cpp) and every
pyad/**/*.pyx as a Cython C++ extension (an editable install builds them in place, next to
their sources, so the tests run the built extensions). Metadata lives in pyproject.toml.

How it is made fast (about 40 s of compiling on 2 idle cores, then nothing to redo):
  - every C++ translation unit of every extension (csrc/*.cpp and the Cython outputs) is
    compiled in one pool of parallel jobs, one per CPU, largest first;
  - Cython's C++, the objects and the linked modules are kept in build/ inside the checkout
    (ignored by git), each named by a hash of what it is made from: its source, the project's
    headers, the compiler and its flags, and the versions of Python, numpy, pybind11 and
    Cython. pip builds every install in a new temporary environment, so timestamps cannot
    tell what is up to date there, but these keys can: a second `pip install -e .` (other
    extras, a reinstall after a pure-Python change) compiles nothing and copies the modules
    into place, and an edit recompiles only the units it touches. rm -r build/ forces a full
    build;
  - no debug information (-g0 overrides the -g in Python's CFLAGS): it took a third of the
    compile time, and the code generated is the same instruction for instruction;
  - pip shows a build's output only with -v (or when it fails), so the progress lines go
    to the terminal (/dev/tty) where there is one, else to stdout.

Environment:
  PYAD_NATIVE=1        add -march=native (default builds are portable; hot loops still pick
                       AVX-512/AVX2 at load time through GCC target_clones)
  PYAD_SKIP_CYTHON=1   build only pyad._C (useful while a .pyx is being edited)
  PYAD_BUILD_JOBS=N    parallel compile jobs (default: the CPUs this process may use)
  PYAD_BUILD_QUIET=1   no progress lines on the terminal
"""
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# Not build_temp's default: editable installs point that at a temporary directory that is
# deleted afterwards, and with it every object.
CACHE = os.path.join(HERE, "build", f"cache.{sysconfig.get_platform()}-{sys.implementation.cache_tag}")


def _rel(pattern):
    # setuptools wants paths relative to setup.py (sdist/wheel builds run from there)
    return sorted(os.path.relpath(p, HERE)
                  for p in glob.glob(os.path.join(HERE, pattern), recursive=True))


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
    "-g0",                 # see the docstring: the same code, compiled in 2/3 of the time
] + OMP_COMPILE
if os.environ.get("PYAD_NATIVE") == "1":
    CXX_FLAGS.append("-march=native")

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}

HEADERS = _rel("csrc/*.h")
PXDS = _rel("pyad/**/*.pxd")

ext_modules = [
    Extension(
        "pyad._C",
        sources=_rel("csrc/*.cpp"),
        depends=HEADERS,
        include_dirs=["csrc"],  # + pybind11's and numpy's, added at build time
        language="c++",
        extra_compile_args=CXX_FLAGS,
        extra_link_args=OMP_LINK,
    )
]
if os.environ.get("PYAD_SKIP_CYTHON") != "1":
    # The .pyx files are the sources (so an sdist ships them, not generated C++);
    # build_ext below turns them into C++ under build/ before compiling.
    ext_modules += [
        Extension(
            # pyad/backend/_blas.pyx -> pyad.backend._blas
            os.path.splitext(p)[0].replace(os.sep, "."),
            sources=[p],
            depends=HEADERS + PXDS,
            include_dirs=["csrc"],  # + numpy's
            language="c++",
            extra_compile_args=CXX_FLAGS,
            extra_link_args=OMP_LINK,
        )
        for p in _rel("pyad/**/*.pyx")
    ]


def _digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _read(path):
    with open(os.path.join(HERE, path), "rb") as f:
        return f.read()


def _contents(paths):
    return [(p, _read(p)) for p in paths]


def _keep_only(path):
    """Delete older versions of a cached file (same name, another key), so that build/ does
    not grow with every edit. Versions made in the last hour stay: another build in this
    checkout (run by someone else at the same time) may be about to use one."""
    stem, _, suffix = os.path.basename(path).rsplit(".", 2)
    for old in glob.glob(os.path.join(os.path.dirname(path), f"{stem}.*.{suffix}")):
        if (old != path and old.count(".") == path.count(".")
                and time.time() - os.path.getmtime(old) > 3600):
            try:
                os.remove(old)
            except OSError:
                pass


def _publish(tmp, path):
    # Rename into place: a build that is interrupted leaves no complete-looking output.
    os.replace(tmp, path)
    _keep_only(path)


class _Progress:
    """Progress lines that a user of `pip install` sees: pip captures the build's stdout and
    stderr and shows them only with -v or on failure, but the terminal pip runs in is also
    the build's controlling terminal."""

    def __init__(self):
        self.lock = threading.Lock()
        self.first = True
        self.tty = None
        if os.environ.get("PYAD_BUILD_QUIET") != "1":
            try:
                self.tty = open("/dev/tty", "w")
            except OSError:  # no terminal (CI, a log): stdout, which pip -v shows
                pass

    def __call__(self, msg):
        with self.lock:
            if self.tty is not None:
                # The first line goes below pip's "Building ..." line (its spinner's, with
                # no newline yet), the others over a character the spinner may have left.
                self.tty.write(("\n" if self.first else "\r") + msg + "\n")
                self.first = False
                self.tty.flush()
            else:
                print(msg, flush=True)

    def close(self):
        if self.tty is not None:
            self.tty.close()


class build_ext_cached(build_ext):
    """build_ext that compiles every unit of every extension in one parallel pool and takes
    from build/ whatever an earlier build already made from the same inputs."""

    def run(self):
        import numpy
        import pybind11

        # The include paths of pip's build environment change with every install, so keys
        # name those headers by version instead of by path.
        self._stable = {
            numpy.get_include(): f"numpy {numpy.__version__}",
            pybind11.get_include(): f"pybind11 {pybind11.__version__}",
        }
        for ext in self.extensions:
            if ext.name == "pyad._C":
                ext.include_dirs = list(ext.include_dirs) + [pybind11.get_include()]
            ext.include_dirs = list(ext.include_dirs) + [numpy.get_include()]
        build_ext.run(self)

    def build_extensions(self):
        t0 = time.perf_counter()
        self.check_extensions_list(self.extensions)
        progress = _Progress()
        jobs = int(os.environ.get("PYAD_BUILD_JOBS") or 0) or (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
        cxx = getattr(self.compiler, "compiler_so_cxx", None) or self.compiler.compiler_so
        try:
            compiler_id = subprocess.run(cxx[:1] + ["--version"], capture_output=True,
                                         text=True).stdout
        except OSError:
            compiler_id = cxx[0]
        toolchain = (sys.version, sysconfig.get_paths()["include"], compiler_id, cxx,
                     sorted(self._stable.values()))
        shown = self._cythonize(toolchain, progress, jobs)

        # Every unit of every extension: (ext, source, object, cc_args, extra, pp_opts)
        units = []
        for ext in self.extensions:
            # distutils' own preparation of a compile() call (macros, -I options), here
            # without the sources so that it creates no object directories of its own.
            _, _, extra, pp_opts, _ = self.compiler._setup_compile(
                None, ext.define_macros, ext.include_dirs, [], ext.depends,
                ext.extra_compile_args)
            cc_args = self.compiler._get_cc_args(pp_opts, self.debug, None)
            flags = [self._stable.get(a[2:], a) if a.startswith("-I") else a
                     for a in cc_args + list(extra)]
            deps = _contents(ext.depends)
            for src in ext.sources:
                # the path of Cython's output holds its own key: hash the .pyx's name instead
                key = _digest(toolchain, flags, shown.get(src, src), _read(src), deps)
                name = os.path.splitext(os.path.basename(shown.get(src, src)))[0]
                obj = os.path.join(CACHE, "obj", ext.name, f"{name}.{key}.o")
                units.append((ext, src, obj, cc_args, extra, pp_opts))
        todo = [u for u in units if self.force or not os.path.exists(u[2])]
        if todo:
            progress(f"pyad: compiling {len(todo)} of {len(units)} C++ units, {jobs} at a time "
                     f"(objects kept in build/ for later installs)")
            # Longest first, so that no long unit starts last beside an idle core: the
            # Cython outputs are the largest files, then the kernel files with most code.
            todo.sort(key=lambda u: -os.path.getsize(u[1]))
            count = [0]

            def compile_one(unit):
                ext, src, obj, cc_args, extra, pp_opts = unit
                os.makedirs(os.path.dirname(obj), exist_ok=True)
                tmp = f"{obj}.{os.getpid()}.tmp"
                t = time.perf_counter()
                # _compile is the per-unit step that CCompiler.compile loops over, so
                # CC/CXX, CFLAGS and the platform's flags apply as in a serial build.
                self.compiler._compile(tmp, src, os.path.splitext(src)[1], cc_args, extra,
                                       pp_opts)
                _publish(tmp, obj)
                with progress.lock:
                    count[0] += 1
                    n = count[0]
                progress(f"pyad: [{n:2d}/{len(todo)}] {shown.get(src, src)} "
                         f"{time.perf_counter() - t:5.1f} s")

            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for f in [pool.submit(compile_one, u) for u in todo]:
                    f.result()
        else:
            progress(f"pyad: all {len(units)} C++ units up to date in build/, nothing to compile")

        for ext in self.extensions:
            self._link(ext, [u[2] for u in units if u[0] is ext], progress)
        progress(f"pyad: extensions built in {time.perf_counter() - t0:.1f} s")
        progress.close()

    def _link(self, ext, objects, progress):
        ext_path = self.get_ext_fullpath(ext.name)
        key = _digest(objects, self.compiler.linker_so, getattr(self.compiler, "linker_so_cxx", None),
                      ext.extra_link_args, ext.libraries, ext.library_dirs,
                      ext.runtime_library_dirs)
        cached = os.path.join(CACHE, "lib", f"{ext.name}.{key}{os.path.splitext(ext_path)[1]}")
        if self.force or not os.path.exists(cached):
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            tmp = f"{cached}.{os.getpid()}.tmp"
            self.compiler.link_shared_object(
                objects, tmp,
                libraries=self.get_libraries(ext),
                library_dirs=ext.library_dirs,
                runtime_library_dirs=ext.runtime_library_dirs,
                extra_postargs=ext.extra_link_args,
                export_symbols=self.get_export_symbols(ext),
                debug=self.debug,
                build_temp=self.build_temp,
                target_lang=self.compiler.detect_language(ext.sources),
            )
            _publish(tmp, cached)
        os.makedirs(os.path.dirname(ext_path), exist_ok=True)
        # a fresh mtime (not copy2's): setuptools copies build/lib's module into the source
        # tree (editable installs, --inplace) only when it is newer than the one there, so a
        # cached older build would otherwise never replace the module of another checkout
        shutil.copy(cached, ext_path)
        os.utime(ext_path, None)

    def _cythonize(self, toolchain, progress, jobs):
        """Turn .pyx sources into C++ under build/, reusing an output whose inputs are
        unchanged. Returns {C++ path: .pyx path} for the progress lines."""
        pyx = [(ext, s) for ext in self.extensions for s in ext.sources if s.endswith(".pyx")]
        if not pyx:
            return {}
        import Cython

        shown, todo = {}, []
        for ext, src in pyx:
            key = _digest(toolchain, Cython.__version__, CYTHON_DIRECTIVES,
                          _contents([src] + PXDS))
            out = os.path.relpath(os.path.join(CACHE, "cython", f"{ext.name}.{key}.cpp"), HERE)
            if self.force or not os.path.exists(out):
                todo.append((ext, src, out))
            ext.sources = [out if s == src else s for s in ext.sources]
            shown[out] = src
        if todo:
            progress(f"pyad: Cython: {', '.join(src for _, src, _ in todo)} -> C++")
        directives = ",".join(f"{k}={v}" for k, v in CYTHON_DIRECTIVES.items()
                              if k != "language_level")

        def one(item):
            ext, src, out = item
            os.makedirs(os.path.dirname(out), exist_ok=True)
            tmp = f"{out}.{os.getpid()}.tmp"
            # One process each: Cython holds the GIL, so threads would run one at a time.
            subprocess.run([sys.executable, "-m", "cython", "--cplus", "-3", "-I", HERE,
                            "--module-name", ext.name, "-X", directives, src, "-o", tmp],
                           cwd=HERE, check=True)
            _publish(tmp, out)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for f in [pool.submit(one, item) for item in todo]:
                f.result()
        return shown


setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext_cached})
