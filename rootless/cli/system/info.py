"""`rootless info`: what the daemon runs with, in docker's order plus ours."""
from __future__ import annotations

from typing import Any, Dict, List

import click

from rootless.cli.app import App


def _idle(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        return "never (idle_timeout = 0)"
    return f"after {seconds:g}s with no containers running and no clients"


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
        f"Network backend:  {r.get('NetworkBackend')}",
        f"OCI runtime:      {r.get('OCIRuntime')} ({r.get('OCIRuntimeVersion')})",
        f"Config file:      {r.get('ConfigFile')}",
        f"Idle exit:        {_idle(r.get('IdleTimeout'))}",
        f"Containers:       {info.get('Containers')} (running {info.get('ContainersRunning')}, "
        f"paused {info.get('ContainersPaused')}, stopped {info.get('ContainersStopped')})",
        f"Images:           {info.get('Images')}",
        f"Kernel:           {info.get('KernelVersion')} ({info.get('OperatingSystem')})",
        f"CPUs / memory:    {info.get('NCPU')} / {int(info.get('MemTotal', 0)) // (1 << 20)} MiB",
    ]
    for warning in info.get("Warnings") or []:
        lines.append(warning)
    return lines


@click.command()
@click.option("--format", "-f", "fmt", help="'json' for the raw API answer.")
@click.pass_obj
def info(app: App, fmt: str) -> None:
    """Show how the engine is set up for you."""
    data = app.client.info()
    app.warn_if_stale(data.get("Rootless", {}).get("BuildID", ""))
    if fmt == "json":
        app.echo_json(data)
        return
    for line in format_info(data):
        click.echo(line)
