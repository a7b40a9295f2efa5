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
    "util": ["rootless.config", "rootless.images", "rootless.registry", "rootless.host", "rootless.runtime",
             "rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon", "rootless.build"],
    "config": ["rootless.images", "rootless.registry", "rootless.host", "rootless.runtime", "rootless.engine",
               "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon", "rootless.build"],
    "images": ["rootless.registry", "rootless.host", "rootless.runtime", "rootless.engine", "rootless.api",
               "rootless.client", "rootless.cli", "rootless.daemon", "rootless.build.builder"],
    "volumes": ["rootless.host", "rootless.runtime", "rootless.engine", "rootless.api", "rootless.client",
                "rootless.cli", "rootless.daemon"],
    "networks": ["rootless.host", "rootless.runtime", "rootless.engine", "rootless.api", "rootless.client",
                 "rootless.cli", "rootless.daemon"],
    "registry": ["rootless.images.store", "rootless.images.layers", "rootless.host", "rootless.runtime",
                 "rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon"],
    # host/ (user namespace, cgroup layout, doctor) sits under runtime/: runtime builds specs from its
    # CgroupInfo and Mapping. Of runtime it may use only the syscall bindings, see HOST_ALLOWED_RUNTIME.
    "host": ["rootless.runtime", "rootless.images", "rootless.registry", "rootless.volumes", "rootless.networks",
             "rootless.build", "rootless.engine", "rootless.api", "rootless.client", "rootless.cli",
             "rootless.daemon"],
    "runtime": ["rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon",
                "rootless.volumes", "rootless.networks", "rootless.registry"],
    # The builder gets pull injected by the engine, so no registry; volumes/networks are engine records.
    "build": ["rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon",
              "rootless.registry", "rootless.volumes", "rootless.networks"],
    "engine": ["rootless.api", "rootless.client", "rootless.cli", "rootless.daemon"],
    "api": ["rootless.client", "rootless.cli", "rootless.daemon"],
    "client": ["rootless.engine", "rootless.host", "rootless.runtime", "rootless.api.routes", "rootless.api.server",
               "rootless.api.http", "rootless.daemon", "rootless.cli", "rootless.registry", "rootless.images.store"],
    "daemon": ["rootless.cli", "rootless.client"],
}
# Documented exceptions: the CLI's doctor/unshare/service/stop need host-side code (see their docstrings).
CLI_ALLOWED_LAZY = {"rootless.host.doctor", "rootless.host.userns", "rootless.host.cgroups",
                    "rootless.daemon.main", "rootless.util.log",
                    # `rootless build` applies .dockerignore client-side, as docker's CLI (a pure L2 module)
                    "rootless.build.context"}
# runtime/linux.py is stdlib-only ctypes bindings (unshare, setns, mount) that host/ needs too;
# its home is util/, where it can move once runtime/monitor.py is free to edit.
HOST_ALLOWED_RUNTIME = {"rootless.runtime.linux"}


def modules():
    for dirpath, _, filenames in os.walk(PACKAGE):
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, PACKAGE)
                yield rel, path


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _is_host_allowed(module: str) -> bool:
    return any(_is_under(module, allowed) for allowed in HOST_ALLOWED_RUNTIME)


def imports_of(path: str):
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            # "from rootless.host import userns" imports rootless.host.userns.
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
    if top == "host":
        bad = [imp for imp in bad if not _is_host_allowed(imp)]
    assert not bad, f"{rel} imports {bad}"


CLI_GROUPS = ("container", "image", "network", "system", "volume")


def cli_group_modules():
    for rel, path in modules():
        parts = rel.split(os.sep)
        if parts[0] == "cli" and len(parts) > 2 and parts[1] in CLI_GROUPS:
            yield rel, path


@pytest.mark.parametrize("rel,path", sorted(cli_group_modules()))
def test_cli_groups_share_only_through_cli_common(rel, path):
    """A verb module never imports another group's modules; what groups share lives in cli/common/."""
    group = rel.split(os.sep)[1]
    others = [f"rootless.cli.{other}" for other in CLI_GROUPS if other != group]
    bad = [imp for imp in imports_of(path) for other in others if _is_under(imp, other)]
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
