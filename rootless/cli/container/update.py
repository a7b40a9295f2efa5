"""`rootless update`: change a container's limits and restart policy (docker update's flags).

The engine refuses limits whose cgroup controller is not delegated; the restart
policy works on every host and takes effect at the container's next exit.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import click

from rootless.cli.app import App
from rootless.cli.common.batch import for_each
from rootless.cli.container import parse
from rootless.errors import InvalidArgument


def _bytes(text: Optional[str], unlimited_ok: bool = False) -> Optional[int]:
    if not text:
        return None
    return parse.parse_memory_swap(text) if unlimited_ok else parse.parse_bytes(text)


def update_body(options: Dict[str, Any]) -> Dict[str, Any]:
    """The POST /containers/{id}/update body of the flags given; an empty one is refused as docker does."""
    body: Dict[str, Any] = {
        "BlkioWeight": options.get("blkio_weight"), "CpuPeriod": options.get("cpu_period"),
        "CpuQuota": options.get("cpu_quota"), "CpuShares": options.get("cpu_shares"),
        "NanoCpus": parse.parse_cpus(options["cpus"]) if options.get("cpus") else None,
        "CpusetCpus": options.get("cpuset_cpus"), "CpusetMems": options.get("cpuset_mems"),
        "Memory": _bytes(options.get("memory")), "MemoryReservation": _bytes(options.get("memory_reservation")),
        "MemorySwap": _bytes(options.get("memory_swap"), unlimited_ok=True),
        "PidsLimit": options.get("pids_limit"),
        "RestartPolicy": parse.parse_restart(options["restart"]) if options.get("restart") else None,
    }
    body = {key: value for key, value in body.items() if value is not None}
    if not body:
        raise InvalidArgument("you must provide one or more flags when using this command")
    return body


@click.command()
@click.option("--blkio-weight", type=click.IntRange(0, 65535),
              help="Block IO (relative weight), between 10 and 1000, or 0 to disable.")
@click.option("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period.")
@click.option("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota.")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight).")
@click.option("--cpus", help="Number of CPUs.")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1).")
@click.option("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1).")
@click.option("-m", "--memory", help="Memory limit.")
@click.option("--memory-reservation", help="Memory soft limit.")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap.")
@click.option("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited).")
@click.option("--restart", help="Restart policy to apply when a container exits.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def update(app: App, /, containers: Tuple[str, ...], **options: Any) -> None:
    """Update configuration of one or more containers."""
    body = update_body(options)
    for_each(containers, lambda name: _update_one(app, name, body))


def _update_one(app: App, name: str, body: Dict[str, Any]) -> None:
    for warning in app.client.update(name, body).get("Warnings") or []:
        click.echo(f"WARNING: {warning}", err=True)
