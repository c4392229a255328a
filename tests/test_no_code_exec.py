"""No code execution from files: a run folder is data (JSON, GIFs, orbax arrays), and reading one must never
run code from it. So the source tree may not use pickle (or its relatives), `allow_pickle`, `eval(`,
`exec(`, `compile(`, `__import__(`, or yaml's loaders other than `safe_load`.

Read from the syntax tree, not by text, so a docstring that names pickle is no hit and `re.compile` or
`jax.eval_shape` are not builtins; the scanner is itself tested on planted code, so it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "caredrive"
MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib", "yaml", "torch"}
BUILTINS = {"eval", "exec", "compile", "__import__"}
LOADERS = {"load", "loads", "unsafe_load", "full_load", "load_all", "unsafe_load_all", "Unpickler", "open"}


def hits(code: str, where: str = "<planted>") -> list[str]:
    """Every way `code` could run code stored in a file."""
    found = []
    for node in ast.walk(ast.parse(code)):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{line} imports {a.name}" for a in node.names if a.name.split(".")[0] in MODULES - {"yaml"}]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in MODULES:
            bad = [a.name for a in node.names if node.module != "yaml" or a.name != "safe_load"]
            found += [f"{line} imports {', '.join(bad)} from {node.module}"] if bad else []
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILTINS:
            found.append(f"{line} calls {node.func.id}()")
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in MODULES
              and node.attr in LOADERS):
            found.append(f"{line} uses {node.value.id}.{node.attr}")
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            found.append(f"{line} passes allow_pickle")
    return found


def test_the_source_tree_runs_no_code_from_files():
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20, "the scan found the source tree"
    found = [h for f in files for h in hits(f.read_text(encoding="utf-8"), str(f.relative_to(SRC.parent)))]
    assert found == []


@pytest.mark.parametrize("code", [
    "import pickle", "import cloudpickle as cp", "from pickle import loads", "import dill",
    "x = eval(open('f').read())", "exec(text)", "compile(s, 'f', 'exec')", "__import__(name)",
    "import yaml\nyaml.load(f)", "import yaml\nyaml.unsafe_load(f)", "from yaml import load",
    "import numpy as np\nnp.load(f, allow_pickle=True)", "import marshal", "import torch\ntorch.load(f)",
])
def test_the_scanner_finds_planted_code(code):
    assert hits(code), code


@pytest.mark.parametrize("code", [
    '"""we never use pickle or eval() here"""', "import re\nre.compile('x')", "jax.eval_shape(f, x)",
    "import yaml\nyaml.safe_load(f)", "from yaml import safe_load", "model.eval()", "import json\njson.loads(s)",
    "import numpy as np\nnp.load(f)",
])
def test_the_scanner_lets_harmless_code_be(code):
    assert hits(code) == [], code
