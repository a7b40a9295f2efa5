"""Enforces the module map of STYLE.md: layers import only downwards, one subprocess user."""
from __future__ import annotations

import ast
import os
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "rootless")

# package -> packages it must never import (at module level or lazily).
FORBIDDEN = {
    "errors": ["rootless."],
    "util": ["rootless.config", "rootless.images", "rootless.registry", "rootless.runtime", "rootless.engine",
             "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon", "rootless.build"],
    "config": ["rootless.images", "rootless.registry", "rootless.runtime", "rootless.engine", "rootless.api",
               "rootless.client", "rootless.cli", "rootless.daemon", "rootless.build"],
    "images": ["rootless.registry", "rootless.runtime", "rootless.engine", "rootless.api", "rootless.client",
               "rootless.cli", "rootless.daemon", "rootless.build.builder"],
    "volumes": ["rootless.runtime", "rootless.engine", "rootless.api", "rootless.client", "rootless.cli",
                "rootless.daemon"],
    "networks": ["rootless.runtime", "rootless.engine", "rootless.api", "rootless.client", "rootless.cli",
                 "rootless.daemon"],
    "registry": ["rootless.images.store", "rootless.images.layers", "rootless.runtime", "rootless.engine",
                 "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon"],
    "runtime": ["rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon",
                "rootless.volumes", "rootless.networks", "rootless.registry"],
    # The builder gets pull injected by the engine, so no registry; volumes/networks are engine records.
    "build": ["rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon",
              "rootless.registry", "rootless.volumes", "rootless.networks"],
    "engine": ["rootless.api", "rootless.client", "rootless.cli", "rootless.daemon"],
    "api": ["rootless.client", "rootless.cli", "rootless.daemon"],
    "client": ["rootless.engine", "rootless.runtime", "rootless.api.routes", "rootless.api.server",
               "rootless.api.http", "rootless.daemon", "rootless.cli", "rootless.registry", "rootless.images.store"],
    "daemon": ["rootless.cli", "rootless.client"],
}
# Documented exceptions: the CLI's doctor/unshare/service/stop need host-side code (see their docstrings).
CLI_ALLOWED_LAZY = {"rootless.runtime.host", "rootless.runtime.userns", "rootless.runtime.cgroups",
                    "rootless.daemon.main", "rootless.util.log"}


def modules():
    for dirpath, _, filenames in os.walk(PACKAGE):
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, PACKAGE)
                yield rel, path


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports_of(path: str):
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            # "from rootless.runtime import userns" imports rootless.runtime.userns.
            for alias in node.names:
                yield f"{node.module}.{alias.name}"


@pytest.mark.parametrize("rel,path", sorted(modules()))
def test_imports_point_down(rel, path):
    top = rel.split(os.sep)[0].removesuffix(".py")
    bad = [imp for imp in imports_of(path) for prefix in FORBIDDEN.get(top, [])
           if _is_under(imp, prefix.rstrip("."))]
    # The parser and the context walker are L2 leaves: tested on strings and tmpdirs alone.
    if top == "build" and os.path.basename(rel) in ("dockerfile.py", "context.py"):
        bad += [imp for imp in imports_of(path) if imp.startswith("rootless.") and not _is_under(imp, "rootless.errors")]
    if top == "cli":
        allowed = ("rootless.cli", "rootless.client", "rootless.api.types", "rootless.config",
                   "rootless.errors", "rootless.util", "rootless.__version__") + tuple(CLI_ALLOWED_LAZY)
        bad += [imp for imp in imports_of(path) if imp.startswith("rootless.")
                and not any(_is_under(imp, a) for a in allowed)]
    assert not bad, f"{rel} imports {bad}"


def test_only_util_proc_imports_subprocess():
    users = [rel for rel, path in modules() if "subprocess" in set(imports_of(path))]
    assert users == [os.path.join("util", "proc.py")]


def test_source_keeps_python_3_9_syntax(monkeypatch, capsys):
    vermin_main = pytest.importorskip("vermin.main")
    monkeypatch.setattr(sys, "argv", ["vermin", "-q", "--no-tips", "--eval-annotations", "--target=3.9-",
                                      "--violations", "--backport", "typing", "--no-parse-comments", PACKAGE])
    with pytest.raises(SystemExit) as done:
        vermin_main.main()
    out = capsys.readouterr()
    assert done.value.code in (0, None), out.out + out.err
