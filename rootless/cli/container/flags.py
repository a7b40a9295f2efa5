"""Click options shared by `run` and `create` (docker's container flags)."""
from __future__ import annotations

from typing import Any, Callable, Dict, List

import click

# Flags stop at the image name (`run IMAGE sh -c ...`), and -h means --hostname as in docker.
CREATE_CONTEXT = {"allow_interspersed_args": False, "help_option_names": ["--help"]}

# Any-valued: click.option's first parameters are typed, and a Dict[str, bool] spread could fill them.
_MULTI: Dict[str, Any] = {"multiple": True}
CREATE_OPTIONS: List[Callable[[Any], Any]] = [
    click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached."),
    click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
    click.option("--rm", is_flag=True, help="Remove the container when it exits."),
    click.option("--name", help="Assign a name to the container."),
    click.option("-e", "--env", **_MULTI, help="Set environment variables (KEY=VALUE or KEY)."),
    click.option("--env-file", **_MULTI, help="Read environment variables from a file."),
    click.option("-w", "--workdir", help="Working directory inside the container."),
    click.option("-u", "--user", help="Username or UID (format: name|uid[:group|gid])."),
    click.option("--entrypoint", help="Overwrite the image's ENTRYPOINT."),
    click.option("-h", "--hostname", help="Container host name."),
    click.option("-l", "--label", **_MULTI, help="Set metadata (key=value)."),
    click.option("--restart", help="Restart policy: no, always, unless-stopped, on-failure[:N]."),
    click.option("--pull", type=click.Choice(["missing", "always", "never"]), default="missing",
                 show_default=True, help="Pull the image before running."),
    click.option("-p", "--publish", **_MULTI, help="Publish a port ([ip:][hostPort:]containerPort[/proto])."),
    click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports."),
    click.option("--expose", **_MULTI, help="Expose a port or a range of ports."),
    click.option("-v", "--volume", **_MULTI, help="Bind mount a volume (src:dst[:opts] or /anon)."),
    click.option("--mount", **_MULTI, help="Attach a mount (type=bind|volume|tmpfs,source=..,target=..)."),
    click.option("--tmpfs", **_MULTI, help="Mount a tmpfs directory (/path[:options])."),
    click.option("--volumes-from", **_MULTI, help="Mount volumes from the specified container(s) (NAME[:ro|rw])."),
    click.option("--userns", help="User namespace: keep-id[:uid=U,gid=G] maps your ids into the container."),
    click.option("--network", "--net", "network", help="Connect to a network (bridge, host, none, NAME, container:<name|id>)."),
    click.option("--network-alias", **_MULTI, help="Add a network-scoped alias."),
    click.option("--pid", help="PID namespace to use (host, container:<name|id>)."),
    click.option("--ipc", help="IPC mode to use (private, shareable, none, host, container:<name|id>)."),
    click.option("--device", **_MULTI, help="Add a host device (/dev/PATH[:CPATH][:rwm]) or a CDI device."),
    click.option("--device-cgroup-rule", **_MULTI, help="Add a rule to the cgroup allowed devices list."),
    click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only."),
    click.option("--cap-add", **_MULTI, help="Add Linux capabilities."),
    click.option("--cap-drop", **_MULTI, help="Drop Linux capabilities."),
    click.option("--privileged", is_flag=True, help="Give extended privileges (within your user namespace)."),
    click.option("--init", is_flag=True, help="Run an init inside the container that reaps processes."),
    click.option("--ulimit", **_MULTI, help="Ulimit options (name=soft[:hard])."),
    click.option("--security-opt", **_MULTI, help="Security options."),
    click.option("-m", "--memory", help="Memory limit."),
    click.option("--cpus", help="Number of CPUs."),
    click.option("--pids-limit", type=int, help="Tune the container pids limit."),
    # the rest of docker's cgroup flags (issue 12): the API applies them where the controller is delegated
    click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap."),
    click.option("--memory-reservation", help="Memory soft limit."),
    click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)."),
    click.option("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period."),
    click.option("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota."),
    click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
    click.option("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)."),
    click.option("--blkio-weight", type=click.IntRange(0, 65535),
                 help="Block IO (relative weight), between 10 and 1000, or 0 to disable."),
    click.option("--shm-size", help="Size of /dev/shm."),
    click.option("--add-host", **_MULTI, help="Add a custom host-to-IP mapping (host:ip)."),
    click.option("--dns", **_MULTI, help="Set custom DNS servers."),
    click.option("--log-driver", help="Logging driver for the container (json-file, local, journald, none)."),
    click.option("--log-opt", **_MULTI, help="Log driver options (max-size=10m, max-file=3)."),
    click.option("--stop-signal", help="Signal to stop the container."),
    click.option("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container."),
    click.option("--platform", help="Set platform if server is multi-platform capable."),
    click.option("--health-cmd", help="Command to run to check health."),
    click.option("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)."),
    click.option("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)."),
    click.option("--health-retries", type=int, help="Consecutive failures needed to report unhealthy."),
    click.option("--health-start-period", help="Start period for the container to initialize before "
                                               "counting retries (ms|s|m|h) (default 0s)."),
    click.option("--health-start-interval", help="Time between checks during the start period (ms|s|m|h)."),
    click.option("--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."),
    click.argument("image"),
    click.argument("command", nargs=-1, type=click.UNPROCESSED),
]


def create_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a verb with every create flag (applied in reverse so --help lists them in order)."""
    for option in reversed(CREATE_OPTIONS):
        func = option(func)
    return func
