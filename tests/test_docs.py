"""The documented API: every public function, class and user-facing method of pyad has a
numpy-style docstring whose examples run, type hints on its signature, and the package ships
a ``py.typed`` marker.

What is public
--------------
``pyad.__all__``; the ``__all__`` of every public submodule (those in ``PUBLIC_MODULES``,
those that ``pyad.__all__`` names, and any other ``pyad.<name>`` module or package without
a leading underscore that defines ``__all__``, unless listed in ``INTERNAL_MODULES``), so a
new module or a new name in an ``__all__`` is checked without editing this file; the
``EXTRA_NAMES`` below; and the public methods (no leading underscore) that a public class
defines itself. Objects defined outside pyad (numpy re-exports in ``pyad.numpy``) and objects
already seen under another name are skipped. An override without a docstring inherits its
base's (as ``inspect.getdoc`` does) and is checked there.

Docstring format (numpy style; the op-family owners use it too)
---------------------------------------------------------------
A one-line summary, a blank line, optional prose, then sections, each a title line underlined
with dashes::

    Parameters      ``name : type`` lines, each with an indented description; required when
    ----------      the callable (a class: its constructor) takes parameters
    Returns         ``type`` and a description; required when the function returns a value
    -------         (``Yields`` for a generator)
    Raises          ``ErrorType`` and when; required when the body itself raises
    ------
    Examples        ``>>>`` lines with their exact output. They run as doctests with
    --------        ``np`` (numpy) and ``ad`` (pyad) already imported, NORMALIZE_WHITESPACE
                    and ELLIPSIS on: keep them short (milliseconds), deterministic (seeded
                    generators) and robust (``print(np.round(x, 4))``, ``float(...)``, ``...``)

``See Also`` and ``Notes`` sections are welcome. A property needs a docstring (one line is
enough). A method that only forwards to a public function may say so instead: a method
docstring that starts with "Same as ``ad.sum(self, axis, keepdims)``." is checked through
the docstring of ``pyad.sum``.

Type hints: every parameter and the return value of a public Python function or method
(``from __future__ import annotations``; aliases in ``pyad._typing``).

Failures are reported per name (``test_docstring[pyad.grad]``), so what remains is visible at
a glance.
"""
import ast
import doctest
import importlib
import inspect
import os
import pkgutil
import re
import sys
import textwrap

import numpy as np
import pytest

import pyad

# Modules whose __all__ is public API (missing ones are skipped until they exist).
PUBLIC_MODULES = (
    "pyad.nn", "pyad.optim", "pyad.losses", "pyad.data", "pyad.datasets", "pyad.init",
    "pyad.curvature", "pyad.implicit", "pyad.unrolled", "pyad.planner", "pyad.checkpoint",
    "pyad.testing", "pyad.custom", "pyad.pytree", "pyad.linalg", "pyad.numpy",
    "pyad.numpy.fft", "pyad.scipy", "pyad.scipy.special", "pyad.scipy.stats",
    "pyad.scipy.signal", "pyad.scipy.linalg", "pyad.distributed", "pyad.nn.functional",
    # modules later issues add (pyad.distributed, pyad.cuda) join through pyad.__path__
)
# pyad modules with an __all__ that serves pyad's own imports, not users. (Modules whose
# names pyad re-exports, such as pyad.transforms, are walked too: a name already seen under
# pyad.__all__ keeps that name.)
INTERNAL_MODULES = {"pyad.ops.batching", "pyad.ops.prims", "pyad.backend"}
# Public objects that no __all__ lists (what a public function returns to users).
EXTRA_NAMES = (("pyad.custom", "CustomPrimitive"),)

# Defined in the Cython file pyad/engine/_tape.pyx, which only the lead edits: their docstrings
# are drafted for the lead to paste (see the report); until then their checks are expected
# failures (xfail), which turn into XPASS once they are documented. At most these five.
DOCUMENTED_BY_THE_LEAD = set()

OPTIONFLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _globs():
    """The namespace every example starts from."""
    return {"np": np, "ad": pyad, "__name__": "pyad_doctest"}


# ----------------------------------------------------------------------------- collection
class Item:
    """One public callable: where it lives and what it is."""

    def __init__(self, name, obj, kind, owner=None, attr=None):
        self.name, self.obj, self.kind = name, obj, kind     # kind: function/class/method/property
        self.owner, self.attr = owner, attr                  # for methods: the class, the name

    @property
    def lead(self):
        top = (self.owner.__name__ if self.owner is not None else self.name.split(".")[-1])
        return (self.name.startswith("pyad.") and top in DOCUMENTED_BY_THE_LEAD
                and getattr(self.owner or self.obj, "__module__", "") == "pyad.engine._tape")


def _from_pyad(obj):
    return (getattr(obj, "__module__", None) or "").startswith("pyad")


def _public_modules():
    names = [f"pyad.{n}" for n in pyad.__all__ if inspect.ismodule(getattr(pyad, n, None))]
    names += list(PUBLIC_MODULES)
    for info in pkgutil.iter_modules(pyad.__path__):
        if not info.name.startswith("_"):
            names.append(f"pyad.{info.name}")
    seen, out = set(), []
    for n in names:
        if n not in seen and n not in INTERNAL_MODULES:
            seen.add(n)
            out.append(n)
    return out


IMPORT_ERRORS = {}


def _collect():
    items, seen = [], set()

    def add(qualname, obj):
        if id(obj) in seen or inspect.ismodule(obj) or not callable(obj):
            return
        if not _from_pyad(obj):
            return
        seen.add(id(obj))
        if inspect.isclass(obj):
            items.append(Item(qualname, obj, "class"))
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                if isinstance(member, property):
                    items.append(Item(f"{qualname}.{attr}", member, "property", obj, attr))
                elif isinstance(member, (staticmethod, classmethod)):
                    items.append(Item(f"{qualname}.{attr}", member.__func__, "method", obj,
                                      attr))
                elif inspect.isroutine(member) and not isinstance(member, type):
                    items.append(Item(f"{qualname}.{attr}", member, "method", obj, attr))
        else:
            items.append(Item(qualname, obj, "function"))

    for n in pyad.__all__:
        add(f"pyad.{n}", getattr(pyad, n))
    for modname in _public_modules():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            IMPORT_ERRORS[modname] = repr(e)     # a dependency pip install ".[test]" lacks
            continue
        except Exception as e:          # a module mid-edit: report it, check the rest
            IMPORT_ERRORS[modname] = repr(e)
            continue
        for n in getattr(mod, "__all__", ()):
            if hasattr(mod, n):
                add(f"{modname}.{n}", getattr(mod, n))
            else:
                IMPORT_ERRORS[f"{modname}.{n}"] = f"{modname}.__all__ lists {n!r}, not defined"
    for modname, n in EXTRA_NAMES:
        add(f"{modname}.{n}", getattr(importlib.import_module(modname), n))
    return items


ITEMS = sorted(_collect(), key=lambda item: item.name)    # stable order: pytest-xdist


# ----------------------------------------------------------------------------- inspection
def _own_doc(item):
    """(docstring, inherited): an undocumented override takes its base's docstring."""
    doc = getattr(item.obj, "__doc__", None)
    if item.kind == "class":
        doc = item.obj.__dict__.get("__doc__")
    if doc and doc.strip():
        return doc, False
    if item.owner is not None:
        for base in item.owner.__mro__[1:]:
            member = base.__dict__.get(item.attr)
            if member is None:
                continue
            base_doc = getattr(member, "__doc__", None)
            if base_doc and base_doc.strip():
                return base_doc, True
    return None, False


def _section(doc, title):
    return re.search(rf"^[ \t]*{title}[ \t]*\n[ \t]*-{{3,}}[ \t]*$", doc, re.M) is not None


def _source_tree(fn):
    """The ast.FunctionDef of a Python function, or None (compiled, lambda, generated)."""
    if not inspect.isfunction(fn) or fn.__name__ == "<lambda>":
        return None
    try:
        src = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node
    return None


def _own_nodes(fn_node):
    """The nodes of a function's body, not descending into nested functions or classes."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    stack = [n for n in fn_node.body if not isinstance(n, nested)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, nested))


def _returns_value(fn):
    """'value', 'yield' or None (a Python function that returns nothing); compiled callables
    are assumed to return a value."""
    node = _source_tree(fn)
    if node is None:
        return "value"
    nodes = list(_own_nodes(node))
    if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in nodes):
        return "yield"
    for n in nodes:
        if isinstance(n, ast.Return) and n.value is not None and not (
                isinstance(n.value, ast.Constant) and n.value.value is None):
            return "value"
    return None


def _raises(fn):
    node = _source_tree(fn)
    return node is not None and any(isinstance(n, ast.Raise) and n.exc is not None
                                    for n in _own_nodes(node))


def _takes_parameters(item):
    obj = item.obj
    if item.kind == "class" and issubclass(obj, BaseException) and "__init__" not in vars(obj):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return True
    params = list(sig.parameters)
    if item.kind == "method" and params and params[0] in ("self", "cls"):
        params = params[1:]
    return bool(params)


def _constructor(cls):
    init = cls.__dict__.get("__init__")
    return init if inspect.isfunction(init) else None


# A method that only forwards to a public function ("Same as ``ad.sum(self, ...)``.") is
# documented there: its docstring names the function, whose own docstring is checked.
_ALIAS = re.compile(r"^\s*Same as\s+(?::func:)?`{1,2}(?:ad|pyad)\.([A-Za-z_]\w*)")


def _alias_target(doc):
    m = _ALIAS.match(doc)
    return getattr(pyad, m.group(1), None) if m else None


def missing_sections(item):
    """What the item's docstring lacks (an empty list when it is complete)."""
    doc, inherited = _own_doc(item)
    if not doc:
        return ["a docstring"]
    if inherited or item.kind == "property":
        return []
    target = _alias_target(doc) if item.kind == "method" else None
    if target is not None:
        kind = "class" if inspect.isclass(target) else "function"
        return [f"its target's docs ({m})" for m in missing_sections(Item("", target, kind))]
    missing = []
    if _takes_parameters(item) and not _section(doc, "Parameters"):
        missing.append("a Parameters section")
    if item.kind in ("function", "method"):
        ret = _returns_value(item.obj)
        if ret == "yield" and not (_section(doc, "Yields") or _section(doc, "Returns")):
            missing.append("a Yields section")
        elif ret == "value" and not _section(doc, "Returns"):
            missing.append("a Returns section")
        raises = _raises(item.obj)
    else:
        init = _constructor(item.obj)
        raises = init is not None and _raises(init)
    if raises and not _section(doc, "Raises"):
        missing.append("a Raises section (the body raises)")
    if not _section(doc, "Examples"):
        missing.append("an Examples section")
    elif ">>>" not in doc.split("Examples", 1)[1]:
        missing.append("a '>>>' example in its Examples section")
    return missing


def missing_hints(item):
    """Parameters (and the return) of a Python function or method without annotations."""
    if item.kind == "class":
        fn, want_return = _constructor(item.obj), False
    elif item.kind in ("function", "method"):
        fn, want_return = item.obj, True
    else:
        return []
    if fn is None or not inspect.isfunction(fn) or fn.__name__ == "<lambda>":
        return []
    if _source_tree(fn) is None:
        return []       # generated code: nothing to annotate
    ann = getattr(fn, "__annotations__", {})
    params = list(inspect.signature(fn).parameters)
    if params and params[0] in ("self", "cls") and (item.kind != "function"):
        params = params[1:]
    out = [p for p in params if p not in ann and not p.startswith("_")]
    if want_return and "return" not in ann:
        out.append("return")
    return out


def _param(item, lead_xfail=True):
    marks = [pytest.mark.xfail(reason="in _tape.pyx: documented by the lead", strict=False)] \
        if item.lead and lead_xfail else []
    return pytest.param(item, id=item.name, marks=marks)


def _example_items():
    out, seen_docs = [], set()
    for item in ITEMS:
        doc, inherited = _own_doc(item)
        if inherited or not doc or id(doc) in seen_docs:
            continue
        seen_docs.add(id(doc))
        out.append(item)
    return out


# ----------------------------------------------------------------------------- the tests
def test_public_modules_import():
    assert not IMPORT_ERRORS, "public modules or names that did not import:\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(IMPORT_ERRORS.items()))


def test_exclusions_are_few_and_real():
    assert len(DOCUMENTED_BY_THE_LEAD) <= 5
    for name in DOCUMENTED_BY_THE_LEAD:
        assert getattr(pyad, name).__module__ == "pyad.engine._tape", name


@pytest.mark.parametrize("item", [_param(i) for i in ITEMS])
def test_docstring(item):
    missing = missing_sections(item)
    assert not missing, f"{item.name} needs " + ", ".join(missing)


def _has_examples(item):
    """Whether the item's own docstring has examples to run (one-line aliases such as
    Tensor.sum have none: test_docstring checks them through the function they name)."""
    doc, _ = _own_doc(item)
    return bool(doctest.DocTestParser().get_examples(doc or ""))


@pytest.mark.parametrize("item", [_param(i) for i in _example_items() if _has_examples(i)])
def test_examples(item):
    doc, _ = _own_doc(item)
    test = doctest.DocTestParser().get_doctest(doc, _globs(), item.name, None, 0)
    out = []
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS, verbose=False)
    runner.run(test, out=out.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{item.name}: {result.failed} of {result.attempted} " \
        f"examples failed:\n" + "".join(out)


@pytest.mark.parametrize("item", [_param(i, lead_xfail=False) for i in ITEMS
                                  if i.kind in ("function", "method", "class")])
def test_type_hints(item):
    missing = missing_hints(item)
    assert not missing, f"{item.name} has no type hints for: {', '.join(missing)}"


def test_help_grad_teaches_the_basics():
    doc = pyad.grad.__doc__
    for word in ("argnums", "has_aux", "pytree", "numpy", "TypeError", ">>>"):
        assert word in doc, f"help(ad.grad) should mention {word!r}"


def test_unary_docstrings_are_specific():
    """The generated docstrings of ad.exp, ad.tanh, ... name their function and numpy's."""
    for name in ("exp", "log", "tanh", "relu", "abs"):
        doc = getattr(pyad, name).__doc__
        assert f"ad.{name}(" in doc and "Derivative" in doc, name


def test_py_typed_marker_ships():
    here = os.path.dirname(pyad.__file__)
    assert os.path.isfile(os.path.join(here, "py.typed")), "src/pyad/py.typed is missing"
    pyproject = os.path.join(os.path.dirname(__file__), os.pardir, "pyproject.toml")
    if sys.version_info >= (3, 11):
        import tomllib
        with open(pyproject, "rb") as f:
            config = tomllib.load(f)
        data = config.get("tool", {}).get("setuptools", {}).get("package-data", {})
        assert "py.typed" in data.get("pyad", []), \
            "pyproject.toml: [tool.setuptools.package-data] pyad must list py.typed"
