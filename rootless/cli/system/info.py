"""`rootless info`: what the daemon runs with, in docker's order plus ours."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional

import click

import rootless
from rootless.cli.app import App
from rootless.cli.format import compile_format


def _idle(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        return "never (idle_timeout = 0)"
    return f"after {seconds:g}s with no containers running and no clients"


def _image_format(r: Dict[str, Any]) -> str:
    left = r.get("ImagesNotInFormat") or 0
    tail = f" ({left} image(s) not converted yet: rootless image convert)" if left else ""
    return f"{r.get('ImageFormat', 'dirs')}{tail}"


def format_info(info: Dict[str, Any]) -> List[str]:
    r = info.get("Rootless", {})
    maps = r.get("IdMappings", {})
    lines = [
        f"Version:          {r.get('Version', info.get('ServerVersion'))}",
        f"Storage root:     {r.get('StorageRoot', info.get('DockerRootDir'))}",
        f"Runtime dir:      {r.get('RuntimeDir', '')}",
        f"API socket:       {r.get('Socket', '')}",
        "UID map:          " + "; ".join(f"{a}->{b} ({c})" for a, b, c in maps.get("UidMap", [])),
        "GID map:          " + "; ".join(f"{a}->{b} ({c})" for a, b, c in maps.get("GidMap", [])),
        f"Storage driver:   {info.get('Driver')}",
        f"Cgroup mode:      {r.get('CgroupMode')} (manager: {r.get('CgroupManager')})",
        f"Resource limits:  {r.get('CgroupLimits')}",
        f"Network backend:  {r.get('NetworkBackend')} (shared namespace uplink: {r.get('NetworkUplink') or 'not started'})",
        f"OCI runtime:      {r.get('OCIRuntime')} ({r.get('OCIRuntimeVersion')})",
        f"Monitor:          {r.get('Monitor', 'python')}",
        f"Config file:      {r.get('ConfigFile')}",
        f"Idle exit:        {_idle(r.get('IdleTimeout'))}",
        f"Default userns:   {r.get('DefaultUserns', 'default')}",
        "Site images:      " + (", ".join(r.get("AdditionalImageStores") or []) or "(none)"),
        f"Image format:     {_image_format(r)}",
        f"Containers:       {info.get('Containers')} (running {info.get('ContainersRunning')}, "
        f"paused {info.get('ContainersPaused')}, stopped {info.get('ContainersStopped')})",
        f"Images:           {info.get('Images')}",
        f"Kernel:           {info.get('KernelVersion')} ({info.get('OperatingSystem')})",
        f"CPUs / memory:    {info.get('NCPU')} / {int(info.get('MemTotal', 0)) // (1 << 20)} MiB",
    ]
    for warning in info.get("Warnings") or []:
        lines.append(warning)
    return lines


def template_data(info: Dict[str, Any]) -> Dict[str, Any]:
    """What `info --format` sees: docker's fields, ClientInfo, and ours (Rootless.X) also as .X."""
    data = dict(info)
    data["ClientInfo"] = {"Version": rootless.__version__, "Debug": False}
    for key, value in (info.get("Rootless") or {}).items():
        data.setdefault(key, value)
    return data


def config_warnings(loaded: str, digest: str, env: Mapping[str, str]) -> List[str]:
    """Whether the config file the daemon loaded (info's ConfigFile, ConfigDigest) is the one
    this CLI would load now, unchanged (issue 11): edits apply only after a restart."""
    from rootless.config.paths import config_file

    path = config_file(env)
    try:
        with open(path, "rb") as f:
            raw: Optional[bytes] = f.read()
    except OSError:
        raw = None
    if not loaded:
        return []  # a daemon that doesn't say which file it loaded (older, or remote)
    restart = "restart it with 'rootless system stop' to apply it (containers keep running)"
    if loaded == "(defaults)":
        return [f"WARNING: {path} was created after rootlessd started with the defaults: {restart}"] if raw else []
    if loaded != path:
        return [f"WARNING: rootlessd loaded {loaded}; this shell's config file is {path}"]
    if raw is None:
        return [f"WARNING: {path} was removed after rootlessd loaded it: {restart}"]
    from rootless.config.settings import file_digest

    if digest and file_digest(raw) != digest:
        return [f"WARNING: {path} changed since rootlessd loaded it: {restart}"]
    return []


@click.command()
@click.option("--format", "-f", "fmt",
              help="Format output using a Go template ({{.ServerVersion}}, {{.Socket}}) or 'json'.")
@click.pass_obj
def info(app: App, fmt: str) -> None:
    """Show how the engine is set up for you."""
    template = compile_format(fmt) if fmt and fmt != "json" else None
    data = app.client.info()
    rootless = data.get("Rootless", {})
    app.warn_if_stale(rootless.get("BuildID", ""))
    warnings = [f"WARNING: {w}" for w in rootless.get("ConfigWarnings") or []]
    if app.endpoint().local:
        warnings += config_warnings(str(rootless.get("ConfigFile", "")), str(rootless.get("ConfigDigest", "")),
                                    os.environ)
    for warning in warnings:
        click.echo(warning, err=True)
    if fmt == "json":
        app.echo_json(data)
    elif template is not None:
        click.echo(template.render(template_data(data)))
    else:
        for line in format_info(data):
            click.echo(line)
