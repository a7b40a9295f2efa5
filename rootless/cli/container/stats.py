"""`rootless stats`: resource usage (the engine says clearly when the host has no cgroups for it)."""
from __future__ import annotations

from typing import Any, Dict, Tuple

import click

from rootless.cli.app import App
from rootless.cli.format import tabwrite
from rootless.cli.humanize import human_size


def stats_row(name: str, stats: Dict[str, Any]) -> str:
    """CONTAINER, CPU %, MEM USAGE / LIMIT, PIDS columns from one stats sample."""
    memory = stats.get("memory_stats") or {}
    cpu, precpu = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (precpu.get("cpu_usage") or {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - precpu.get("system_cpu_usage", 0)
    percent = cpu_delta / system_delta * cpu.get("online_cpus", 1) * 100 if system_delta > 0 else 0.0
    usage = f"{human_size(memory.get('usage', 0))} / {human_size(memory.get('limit', 0))}"
    return f"{name}\t{percent:.2f}%\t{usage}\t{(stats.get('pids_stats') or {}).get('current', 0)}"


@click.command()
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def stats(app: App, no_stream: bool, containers: Tuple[str, ...]) -> None:
    """Display a snapshot of containers' resource usage statistics."""
    rows = ["CONTAINER\tCPU %\tMEM USAGE / LIMIT\tPIDS"]
    rows += [stats_row(name, app.client.stats(name)) for name in containers]
    for line in tabwrite(rows):
        click.echo(line)
