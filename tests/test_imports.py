"""The package's import graph: every module imports on its own, and no modules import each other.

A circle between two modules can work in one import order and fail in another (the module that is
imported second finds the first half-initialised). Importing each module first, in an interpreter
where no other semcse module is loaded yet, finds such a circle; ``scripts/import_cycles.py`` finds
every circle statically, including those that work today because one side imports late.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from _support import REPO, load_script


def _cycles_module():
    return load_script("import_cycles")


# One interpreter for all modules (third-party packages stay loaded, which keeps this fast); before
# each module every semcse module is dropped from sys.modules, so each is imported as if first.
IMPORT_EACH = textwrap.dedent("""
    import importlib, json, sys, traceback
    failures = {}
    for name in json.loads(sys.argv[1]):
        for loaded in [m for m in sys.modules if m == "semcse" or m.startswith("semcse.")]:
            del sys.modules[loaded]
        try:
            importlib.import_module(name)
        except BaseException as exc:
            failures[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    print(json.dumps(failures))
""")


def test_every_module_imports_alone():
    modules = sorted(_cycles_module().module_files())
    assert "semcse.evaluation.specs" in modules and len(modules) > 50
    proc = subprocess.run([sys.executable, "-c", IMPORT_EACH, json.dumps(modules)], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, "modules that fail to import first:\n" + "\n".join(f"{m}: {e}" for m, e in failures.items())


def test_no_import_cycles():
    cycles = _cycles_module().find_cycles()
    assert not cycles, "import cycles among semcse modules (file:line of each import):\n" + "\n".join(cycles)


def test_cycle_check_sees_late_and_type_checking_imports(tmp_path):
    """The checker counts imports inside functions and under TYPE_CHECKING, and resolves relative ones."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg import a\n",
        "a.py": "def f():\n    from pkg.sub import b\n",
        "sub/__init__.py": "",
        "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n",
        "c.py": "from . import a\n",
        "d.py": "import importlib\nimportlib.import_module('pkg.e')\n",
        "e.py": "import pkg.d\n",
        "leaf.py": "import json\nfrom pkg.sub import b\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    check = _cycles_module()
    cycles = check.find_cycles(tmp_path, "pkg")
    assert len(cycles) == 2, cycles
    assert "pkg.a, pkg.c, pkg.sub.b" in cycles[0] and "pkg/a.py:2 -> pkg/sub/b.py:3 -> pkg/c.py:1 -> pkg/a.py" in cycles[0]
    assert "pkg.d, pkg.e" in cycles[1]
    assert check.import_graph(tmp_path, "pkg")["pkg.leaf"] == {"pkg.sub.b": 2}
    (pkg / "c.py").write_text("")
    (pkg / "e.py").write_text("")
    assert check.find_cycles(tmp_path, "pkg") == []
