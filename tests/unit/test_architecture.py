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
    # wire/ (issue 8): docker's small rules shared by client and server; stdlib and errors only,
    # see the extra check in test_imports_point_down.
    "wire": ["rootless.util", "rootless.config", "rootless.images", "rootless.volumes", "rootless.networks",
             "rootless.registry", "rootless.host", "rootless.runtime", "rootless.build", "rootless.engine",
             "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon"],
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
    "registry": ["rootless.images.store", "rootless.images.layers", "rootless.images.layer_dirs", "rootless.images.layer_tar",
                 "rootless.host", "rootless.runtime",
                 "rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon"],
    # host/ (user namespace, cgroup layout, doctor) sits under runtime/: runtime builds specs from its
    # CgroupInfo and Mapping. The syscall bindings it shares with runtime are util/linux.py.
    "host": ["rootless.runtime", "rootless.images", "rootless.registry", "rootless.volumes", "rootless.networks",
             "rootless.build", "rootless.engine", "rootless.api", "rootless.client", "rootless.cli",
             "rootless.daemon"],
    "runtime": ["rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon",
                "rootless.volumes", "rootless.networks", "rootless.registry"],
    # The builder gets pull injected by the engine, so no registry; volumes/networks are engine records.
    "build": ["rootless.engine", "rootless.api", "rootless.client", "rootless.cli", "rootless.daemon",
              "rootless.registry", "rootless.volumes", "rootless.networks"],
    # engine takes the typed requests api/types.py decodes (stdlib + errors only; see ENGINE_ALLOWED_API).
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
# The create request reaches the engine as the wire dataclasses decoded once at the API edge
# (podman's specgen); they import only the stdlib and errors, so the engine gets no server code.
ENGINE_ALLOWED_API = {"rootless.api.types"}


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
        bad += [imp for imp in imports_of(path) if imp.startswith("rootless.")
                and not (_is_under(imp, "rootless.errors") or _is_under(imp, "rootless.wire"))]
    if top == "wire":
        bad += [imp for imp in imports_of(path) if imp.startswith("rootless.")
                and not (_is_under(imp, "rootless.errors") or _is_under(imp, "rootless.wire"))]
    if top == "cli":
        allowed = ("rootless.cli", "rootless.client", "rootless.api.types", "rootless.config",
                   "rootless.errors", "rootless.util", "rootless.wire", "rootless.__version__") + tuple(CLI_ALLOWED_LAZY)
        bad += [imp for imp in imports_of(path) if imp.startswith("rootless.")
                and not any(_is_under(imp, a) for a in allowed)]
    if top == "engine":
        bad = [imp for imp in bad if not any(_is_under(imp, allowed) for allowed in ENGINE_ALLOWED_API)]
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


def test_nothing_imports_the_monitor_program():
    """The daemon shares only runtime/monitor_protocol.py with the monitors.

    The program (runtime/monitor.py) is loaded by name: by the zygote's importlib, or by
    `python -m` when the supervisor execs it. An import here would put it in the daemon.
    """
    users = [rel for rel, path in modules()
             if any(_is_under(imp, "rootless.runtime.monitor") for imp in imports_of(path))]
    assert users == []


def _module_name(rel: str) -> str:
    name = "rootless." + rel[:-len(".py")].replace(os.sep, ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


def import_graph():
    """Module -> the rootless modules it imports (lazy and TYPE_CHECKING imports count too)."""
    paths = {_module_name(rel): path for rel, path in modules()}
    graph = {}
    for name, path in paths.items():
        deps = set()
        for imp in imports_of(path):
            parts = imp.split(".")
            while parts and ".".join(parts) not in paths:  # "from pkg import func" -> pkg
                parts.pop()
            dep = ".".join(parts)
            if dep and dep != name and not name.startswith(dep + "."):  # a package's own __init__
                deps.add(dep)
        graph[name] = deps
    return graph


def import_cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_no_import_cycles():
    """A module that imports another never gets imported back by it, even lazily (e.g. images.layers
    and images.store through a TYPE_CHECKING import, or the storage drivers and their factory, once)."""
    assert import_cycles(import_graph()) == []


STORAGE = "rootless.runtime.storage"


def test_storage_drivers_import_only_their_base():
    """Only the factory imports the drivers; a driver imports driver.py (and the whiteout format)."""
    graph = import_graph()
    drivers = {f"{STORAGE}.{name}" for name in ("overlay", "fuse_overlayfs", "vfs")}
    for name in drivers:
        assert {d for d in graph[name] if _is_under(d, STORAGE)} <= {f"{STORAGE}.driver", f"{STORAGE}.whiteouts"}
    # changes.py (docker diff) reuses the vfs driver's index of the lowers, not the driver.
    users = {name for name, deps in graph.items() if deps & drivers and name != f"{STORAGE}.changes"}
    assert users == {f"{STORAGE}.factory"}


def test_import_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]


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
