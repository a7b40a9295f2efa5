"""The container state machine against a fake runtime: transitions, restart policies,
adoption after a daemon restart, volumes for a container's life, network attachments, events."""
from __future__ import annotations

import os
import signal
import threading
import time
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional

import pytest

from rootless.api import types
from rootless.api.decode import decode_body
from rootless.config import Paths
from rootless.engine import lifecycle
from rootless.engine.container_model import Container
from rootless.engine.container_networks import ContainerNetworks
from rootless.engine.container_volumes import ContainerVolumes
from rootless.engine.container_runtime import ContainerHost
from rootless.engine.containers import Containers
from rootless.engine.engine import check_store_version
from rootless.engine.events import EventBus
from rootless.errors import Conflict, FailedPrecondition, Internal, InvalidArgument, NotFound, NotModified, ToolError
from rootless.host.cgroups import CgroupInfo
from rootless.networks.store import NetworkStore
from rootless.runtime.spec import HostFacts
from rootless.runtime.supervisor import Launched
from rootless.volumes.store import VolumeStore

from tests.unit.engine.fake_network import FakeNetworkHost
from tests.unit.engine.fake_runtime import FakeRuntime

IMAGE_ID = "sha256:" + "ab" * 32
RESTART_DELAY = lifecycle.restart_delay  # the no_backoff fixture replaces it in the module


class Images:
    """ImageSource with one image, busybox, whose config has a VOLUME when asked."""

    def __init__(self) -> None:
        self.config: Dict[str, Any] = {"Cmd": ["sh"], "Env": ["PATH=/bin", "A=image"]}

    def get(self, name: str) -> Any:
        if name not in ("busybox", IMAGE_ID):
            raise NotFound(f"No such image: {name}")
        return SimpleNamespace(image_id=IMAGE_ID, config=SimpleNamespace(to_json=lambda: {"config": self.config}))

    def image_size(self, record: Any) -> int:
        return 4300000


class World:
    """One engine's worth of container state over a tmpdir, rebuilt to play a daemon restart."""

    def __init__(self, root: str, limits: bool = False) -> None:
        self.paths = Paths(root=os.path.join(root, "store"), run=os.path.join(root, "run"))
        check_store_version(self.paths)
        self.runtime = FakeRuntime(os.path.join(root, "rootfs"))
        self.images = Images()
        self.limits = limits
        self.containers = self.daemon_start()

    def daemon_start(self) -> Containers:
        self.events = EventBus()
        cgroup = CgroupInfo("v2", ["memory", "pids"], "/x", True) if self.limits else CgroupInfo("v1")
        host = ContainerHost("vfs", "slirp4netns", cgroup, HostFacts({}, 40, 0, "x86_64", (6, 1), None, ()),
                             (), "crun")
        self.volumes = VolumeStore(self.paths)
        self.networks = NetworkStore(self.paths, host_routes=lambda: [])
        self.net_host = getattr(self, "net_host", None) or FakeNetworkHost()  # outlives a daemon restart
        self.containers = Containers(self.paths, self.runtime, self.events, self.images,
                                     ContainerVolumes(self.volumes, self.events), self.networks, host,
                                     ContainerNetworks(self.networks, os.path.join(self.paths.run, "netns"),
                                                       lambda _: self.net_host))
        return self.containers

    def create(self, name: Optional[str] = None, **body: Any) -> Container:
        host_config = {"NetworkMode": "none", **body.pop("HostConfig", {})}
        request = decode_body(types.ContainerCreate, {"Image": "busybox", "HostConfig": host_config, **body})
        return self.containers.create(request, name)

    def run(self, name: Optional[str] = None, **body: Any) -> Container:
        container = self.create(name, **body)
        self.containers.start(container)
        return container

    def actions(self, kind: str = "container") -> List[str]:
        past, _ = self.events.subscribe(0)
        return [e.action for e in past if e.type == kind]


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def answer_removed_while_held(world: World, container: Container, exit_code: int,
                              held: threading.Event) -> Dict[str, Any]:
    """The container exits; its "removed" waiter's answer, which must come while a step of the
    removal after it is still held (held: set when that step began)."""
    answer: Dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: answer.update(world.containers.wait(container, "removed", 10)))
    waiter.start()
    world.runtime.exit(container.id, exit_code)
    assert held.wait(5)
    waiter.join(5)  # answered while that step still waits
    assert not waiter.is_alive() and answer["StatusCode"] == exit_code
    return answer


@pytest.fixture
def world(tmp_path: Any) -> World:
    return World(str(tmp_path))


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "restart_delay", lambda count: 0.0)


# -- create ---------------------------------------------------------------------------
def test_create_records_the_container_and_announces_it(world: World) -> None:
    container = world.create("web", Cmd=["echo", "hi"], Env=["A=request"])
    assert container.status == "created" and container.name == "web"
    assert container.config["Env"] == ["A=request", "PATH=/bin"]  # docker's order: the request's, then the image's
    assert Container.load(world.paths, container.id) is not None  # on disk
    assert world.actions() == ["create"]
    assert world.containers.get("web") is container
    assert world.containers.get(container.id[:8]) is container
    assert world.containers.get("/web") is container


def test_create_refuses_a_taken_name_an_unknown_image_and_an_unknown_network(world: World) -> None:
    first = world.create("web")
    with pytest.raises(Conflict, match=f'already in use by container "{first.id}"'):
        world.create("web")
    with pytest.raises(NotFound, match="No such image: nope"):
        world.containers.create(types.ContainerCreate(Image="nope"), None)
    with pytest.raises(NotFound):
        world.create(HostConfig={"NetworkMode": "nosuchnet"})
    with pytest.raises(NotFound, match="No such container: other"):  # container:X needs X
        world.create(HostConfig={"NetworkMode": "container:other"})
    with pytest.raises(InvalidArgument, match="Image is required"):
        world.containers.create(types.ContainerCreate(), None)
    assert [c.name for c in world.containers.all()] == ["web"]


def test_a_bare_key_at_create_hides_the_images_value(world: World) -> None:
    # moby's merge keeps "A" in Config.Env and drops the image's A=image; the process has no A
    container = world.run(Env=["A", "B=1"])
    assert container.config["Env"] == ["A", "B=1", "PATH=/bin"]
    assert world.runtime.processes[container.id].options.env == ["A", "B=1", "PATH=/bin"]  # spec.container_env unsets A


def test_entrypoint_and_cmd_follow_dockers_merge(world: World) -> None:
    world.images.config["Entrypoint"] = ["/entry"]
    assert world.create(Cmd=["x"]).data["Path"] == "/entry"
    assert world.create(Entrypoint=["/other"]).config["Cmd"] is None  # an entrypoint drops the image CMD
    cleared = world.create(Entrypoint=[""], Cmd=["echo"])
    assert cleared.config["Entrypoint"] is None and cleared.data["Path"] == "echo"
    with pytest.raises(InvalidArgument, match="no command specified"):
        world.create(Entrypoint=[""])  # docker refuses it at create, not at start


def test_limits_without_cgroups_are_refused_at_create(world: World) -> None:
    with pytest.raises(FailedPrecondition, match="memory limit"):
        world.create(HostConfig={"Memory": 64 << 20})


def test_a_failed_create_leaves_no_record_and_no_volume(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(container_id: str, image: Any, shift: Any = None, durable: bool = True) -> None:
        raise ToolError("unpack", "disk full")

    monkeypatch.setattr(world.runtime, "prepare_rootfs", broken)
    with pytest.raises(ToolError):
        world.create(HostConfig={"Binds": ["/data"]})
    assert world.containers.all() == [] and world.volumes.all() == []
    assert os.listdir(world.paths.containers) == []


# -- start, exit, wait -------------------------------------------------------------------
def test_start_runs_the_plan_and_an_exit_is_recorded(world: World) -> None:
    container = world.run(Cmd=["echo", "hi"], Env=["B=2"], WorkingDir="/work")
    assert container.status == "running" and container.state["Pid"] > 0
    process = world.runtime.processes[container.id]
    assert process.started and process.options.args == ["echo", "hi"]
    assert process.options.env == ["B=2", "PATH=/bin", "A=image"] and process.options.cwd == "/work"
    assert os.path.isdir(os.path.join(world.runtime.root, container.id, "work"))  # docker makes WorkingDir
    with pytest.raises(NotModified):
        world.containers.start(container)
    world.runtime.exit(container.id, 3)
    assert world.containers.wait(container, "not-running", 5) == {"StatusCode": 3, "Error": None}
    assert container.status == "exited" and container.state["Pid"] == 0
    assert world.actions() == ["create", "start", "die"]
    assert f"teardown {container.id[:6]}" in world.runtime.calls


def test_wait_next_exit_and_timeouts(world: World) -> None:
    container = world.run()
    with pytest.raises(Conflict, match="timed out"):
        world.containers.wait(container, "next-exit", 0.05)
    with pytest.raises(InvalidArgument):
        world.containers.wait(container, "sometime")
    world.runtime.exit(container.id, 0)
    assert world.containers.wait(container, "next-exit", 5)["StatusCode"] == 0


def test_a_start_that_fails_is_recorded_with_dockers_exit_code(world: World) -> None:
    container = world.create(Cmd=["nosuch"])
    world.runtime.fail_next_launch = ToolError(
        "crun", "create failed: executable file `nosuch` not found in $PATH: No such file or directory")
    with pytest.raises(InvalidArgument, match='exec: "nosuch": executable file not found'):
        world.containers.start(container)
    assert container.status == "exited" and container.state["ExitCode"] == 127
    assert "executable file not found" in container.state["Error"]
    assert world.containers.wait(container, "not-running", 1)["Error"] == {"Message": container.state["Error"]}
    assert world.actions() == ["create", "die"]


def test_a_failed_start_with_auto_remove_removes_the_container(world: World) -> None:
    container = world.create(HostConfig={"AutoRemove": True})
    world.runtime.fail_next_launch = ToolError("crun", "something else")
    with pytest.raises(ToolError):
        world.containers.start(container)
    assert not world.containers.exists(container.id)
    assert world.containers.wait(container, "removed", 1)["StatusCode"] == 128


def test_attach_waits_for_the_start_and_is_released_by_a_failed_one(world: World) -> None:
    container = world.create()
    connected: List[str] = []
    waiter = SimpleNamespace(connect=lambda: connected.append("connect"), cancel=lambda: connected.append("cancel"))
    assert world.containers.add_waiting_attach(container, waiter) is True
    world.containers.start(container)
    assert connected == ["connect"]
    assert world.containers.add_waiting_attach(container, waiter) is False  # running: connect at once
    world.runtime.exit(container.id, 0)
    world.containers.wait(container, "not-running", 5)
    world.containers.add_waiting_attach(container, waiter)
    world.runtime.fail_next_launch = ToolError("crun", "boom")
    with pytest.raises(ToolError):
        world.containers.start(container)
    assert connected == ["connect", "cancel"]


def test_an_attach_session_of_a_created_container_is_queued(world: World) -> None:
    container = world.create()
    session = world.containers.attach_session(container, stdin=False, stdout=True, stderr=True, logs=False,
                                              stream=True, detach_keys=None)
    assert world.containers._take_waiting(container.id) == [session]


# -- stop, kill, restart -----------------------------------------------------------------
def test_stop_sends_the_stop_signal_then_kill_after_the_timeout(world: World) -> None:
    container = world.run(StopSignal="SIGINT")
    world.runtime.ignore_signals.add(signal.SIGINT)
    world.containers.stop(container, 0, None)
    assert world.runtime.signals == [signal.SIGINT, signal.SIGKILL]
    assert container.status == "exited" and container.state["ExitCode"] == 137
    assert world.actions()[-2:] == ["die", "stop"] or world.actions()[-3:] == ["kill", "die", "stop"]
    with pytest.raises(NotModified):
        world.containers.stop(container, None, None)


def test_kill_signals_a_running_container_only(world: World) -> None:
    container = world.run()
    world.runtime.ignore_signals.add(signal.SIGKILL)
    world.containers.kill(container, "USR1")
    assert world.runtime.signals == [signal.SIGUSR1]
    with pytest.raises(InvalidArgument, match="invalid signal"):
        world.containers.kill(container, "NOPE")
    world.runtime.exit(container.id, 0)
    world.containers.wait(container, "not-running", 5)
    with pytest.raises(Conflict, match="is not running"):
        world.containers.kill(container, "KILL")


def test_a_signal_to_a_process_that_just_exited_is_not_an_error(world: World) -> None:
    container = world.run()
    world.runtime.processes.pop(container.id)  # gone, but the exit is not recorded yet
    world.containers._signal(container, signal.SIGTERM)


def test_restart_stops_and_starts_again(world: World) -> None:
    container = world.run()
    first_pid = container.state["Pid"]
    world.containers.restart(container, 1, None)
    assert container.status == "running" and container.state["Pid"] != first_pid
    assert world.actions()[-2:] == ["start", "restart"]
    world.runtime.exit(container.id, 0)
    world.containers.wait(container, "not-running", 5)
    world.containers.restart(container, 1, None)  # a stopped one just starts
    assert container.status == "running"


# -- restart policies ----------------------------------------------------------------------
def test_on_failure_restarts_up_to_its_maximum(world: World) -> None:
    container = world.run(HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    for expected in (1, 2):
        world.runtime.exit(container.id, 1)
        eventually(lambda: container.data["RestartCount"] == expected and container.status == "running")
    world.runtime.exit(container.id, 1)
    world.containers.wait(container, "not-running", 5)
    time.sleep(0.05)
    assert container.status == "exited" and container.data["RestartCount"] == 2
    assert world.actions().count("restart") == 2


def test_on_failure_does_not_restart_a_success_and_always_does(world: World) -> None:
    on_failure = world.run(HostConfig={"RestartPolicy": {"Name": "on-failure"}})
    always = world.run(HostConfig={"RestartPolicy": {"Name": "always"}})
    world.runtime.exit(on_failure.id, 0)
    world.runtime.exit(always.id, 0)
    eventually(lambda: always.data["RestartCount"] == 1 and always.status == "running")
    assert on_failure.status == "exited"


def test_a_stopped_container_is_not_restarted_by_its_policy(world: World) -> None:
    container = world.run(HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    world.containers.stop(container, 1, None)
    time.sleep(0.05)
    assert container.status == "exited" and container.data.get("RestartCount") == 0


def test_a_stop_racing_the_containers_own_exit_succeeds(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    container = world.run()

    def exits_first(container_id: str, sig: int) -> None:
        world.runtime.exit(container_id, 1)  # it ended by itself just before the signal
        raise NotFound(f"can't signal container: {container_id}: not running")

    monkeypatch.setattr(world.runtime, "signal", exits_first)
    world.containers.stop(container, 1, None)
    assert container.status == "exited" and container.exit_code == 1


def test_a_stop_while_a_policy_restart_starts_is_not_undone_by_it(world: World,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    container = world.run(HostConfig={"RestartPolicy": {"Name": "always"}})
    launching, release = threading.Event(), threading.Event()
    launch = world.runtime.launch

    def slow_launch(*args: Any, **kwargs: Any) -> Any:
        launching.set()
        release.wait(5)
        return launch(*args, **kwargs)

    monkeypatch.setattr(world.runtime, "launch", slow_launch)
    world.runtime.exit(container.id, 1)
    assert launching.wait(5)  # the policy's restart is inside start()
    stopper = threading.Thread(target=world.containers.stop, args=(container, 1, None))
    stopper.start()
    time.sleep(0.1)  # docker stop arrives while the container still shows Restarting
    release.set()
    stopper.join(10)
    time.sleep(0.05)
    assert container.status == "exited" and not world.runtime.running(container.id)


@pytest.mark.parametrize("policy, maximum, code, count, stopped, expected", [
    ("no", 0, 1, 0, False, False),
    ("on-failure", 0, 0, 0, False, False),
    ("on-failure", 0, 1, 50, False, True),
    ("on-failure", 3, 1, 3, False, False),
    ("on-failure", 3, 1, 2, False, True),
    ("always", 0, 0, 9, False, True),
    ("always", 0, 0, 0, True, False),
    ("unless-stopped", 0, 2, 0, False, True),
])
def test_should_restart(policy: str, maximum: int, code: int, count: int, stopped: bool, expected: bool) -> None:
    assert lifecycle.should_restart(policy, maximum, code, count, stopped) is expected


def test_restart_delay_doubles_up_to_its_maximum() -> None:
    assert RESTART_DELAY(0) == pytest.approx(0.1)
    assert RESTART_DELAY(3) == pytest.approx(0.8)
    assert RESTART_DELAY(30) == lifecycle.RESTART_BACKOFF_MAX


# -- remove, AutoRemove, volumes ------------------------------------------------------------
def test_rm_refuses_a_running_container_unless_forced(world: World) -> None:
    container = world.run()
    with pytest.raises(Conflict, match="container is running"):
        world.containers.remove(container, False, False)
    world.containers.remove(container, True, False)
    assert not world.containers.exists(container.id)
    assert not os.path.exists(container.dir)
    assert world.actions()[-2:] == ["die", "destroy"]
    with pytest.raises(NotFound):
        world.containers.get(container.id)


def test_anonymous_volumes_are_made_once_and_rm_v_removes_them(world: World) -> None:
    world.images.config["Volumes"] = {"/image-vol": {}}
    world.volumes.create("named")
    container = world.run(HostConfig={"Binds": ["/data", "named:/named"]})
    mounts = {m["Destination"]: m["Name"] for m in container.mounts}
    assert set(mounts) == {"/data", "/named", "/image-vol"}
    assert world.actions("volume") == ["create", "create"]  # the two anonymous ones, not "named"
    world.runtime.exit(container.id, 0)
    world.containers.wait(container, "not-running", 5)
    world.containers.start(container)  # a restart mounts the same volumes (issue 8's data loss)
    sources = {m.destination: m.source for m in world.runtime.processes[container.id].options.mounts}
    assert sources["/data"] == world.volumes.get(mounts["/data"]).mountpoint
    assert {m["Name"] for m in container.mounts} == set(mounts.values())
    assert len(world.volumes.all()) == 3
    world.containers.remove(container, True, True)
    assert [v.name for v in world.volumes.all()] == ["named"]
    assert world.actions("volume")[-2:] == ["destroy", "destroy"]


def test_rm_v_keeps_an_anonymous_volume_another_container_uses(world: World) -> None:
    first = world.create(HostConfig={"Binds": ["/data"]})
    shared = first.mounts[0]["Name"]
    world.create(HostConfig={"Binds": [f"{shared}:/data"]})
    world.containers.remove(first, False, True)
    assert world.volumes.exists(shared)


def test_auto_remove_takes_the_container_and_its_anonymous_volumes(world: World) -> None:
    container = world.run(HostConfig={"AutoRemove": True, "Binds": ["/data"]})
    world.runtime.exit(container.id, 0)
    assert world.containers.wait(container, "removed", 5)["StatusCode"] == 0
    assert world.volumes.all() == []


def test_volume_rm_is_refused_while_a_stopped_container_uses_it(world: World) -> None:
    container = world.create(HostConfig={"Binds": ["data:/data"]})
    with pytest.raises(Conflict, match=f"volume is in use - \\[{container.id}\\]"):
        world.containers.remove_volume("data", force=True)
    world.containers.remove(container, False, False)
    world.containers.remove_volume("data", force=False)
    assert world.actions("volume") == ["create", "destroy"]


def test_volume_prune_announces_what_it_removed(world: World) -> None:
    container = world.create(HostConfig={"Binds": ["/data"]})
    assert world.containers.prune_volumes({}) == ([], 0)  # in use
    world.containers.remove(container, False, False)
    deleted, _ = world.containers.prune_volumes({})
    assert len(deleted) == 1 and world.actions("volume") == ["create", "destroy"]


def test_a_record_from_before_volumes_were_recorded_gets_them_at_its_next_start(world: World) -> None:
    container = world.create(HostConfig={"Binds": ["/data"]})
    world.volumes.remove(container.mounts[0]["Name"])
    container.data["Mounts"] = []
    world.containers.start(container)
    assert len(container.mounts) == 1 and world.volumes.exists(container.mounts[0]["Name"])
    first = container.mounts[0]["Name"]
    world.containers.stop(container, 1, None)
    world.containers.start(container)
    assert container.mounts[0]["Name"] == first


def test_prune_removes_stopped_containers_matching_the_labels(world: World) -> None:
    keep = world.create(Labels={"k": "keep"})
    gone = world.create(Labels={"k": "gone"})
    running = world.run(Labels={"k": "gone"})
    removed, _ = world.containers.prune({"label": ["k=gone"]})
    assert removed == [gone.id]
    assert {c.id for c in world.containers.all()} == {keep.id, running.id}
    assert world.containers.prune({"label!": ["k=keep"]}) == ([], 0)
    assert world.containers.prune({"until": ["2001-01-01T00:00:00Z"]}) == ([], 0)  # created after it
    assert world.containers.prune({"until": ["2100-01-01T00:00:00Z"]})[0] == [keep.id]


# -- adoption after a daemon restart ----------------------------------------------------------
def test_a_restarted_daemon_adopts_a_container_that_still_runs(world: World) -> None:
    container = world.run()
    world.containers.close()
    containers = world.daemon_start()
    containers.adopt()
    adopted = containers.get(container.id)
    assert adopted.status == "running"
    world.runtime.exit(container.id, 5)
    assert containers.wait(adopted, "not-running", 5)["StatusCode"] == 5


def test_a_container_that_exited_while_the_daemon_was_away_is_recorded_and_restarted(world: World) -> None:
    container = world.run(HostConfig={"RestartPolicy": {"Name": "on-failure"}})
    world.containers.close()
    world.runtime.exit(container.id, 2)
    containers = world.daemon_start()
    containers.adopt()
    adopted = containers.get(container.id)
    eventually(lambda: adopted.data["RestartCount"] == 1 and adopted.status == "running")
    assert world.actions()[:1] == ["die"]


def test_always_restarts_on_daemon_start_only_what_had_started(world: World) -> None:
    never = world.create(HostConfig={"RestartPolicy": {"Name": "always"}})
    ran = world.run(HostConfig={"RestartPolicy": {"Name": "always"}})
    world.containers.stop(ran, 1, None)
    containers = world.daemon_start()
    containers.adopt()
    assert containers.get(ran.id).status == "running"
    assert containers.get(never.id).status == "created"


def test_a_start_the_killed_daemon_left_is_finished(world: World) -> None:
    container = world.create()
    world.runtime.leave_monitor(container.id)
    world.runtime.resumable[container.id] = Launched(container.id, 42, 43, [])
    containers = world.daemon_start()
    containers.adopt()
    adopted = containers.get(container.id)
    assert adopted.status == "running" and adopted.state["Pid"] == 42
    assert world.runtime.processes[container.id].started


def test_a_start_the_killed_daemon_left_whose_process_exited_is_recorded(world: World) -> None:
    container = world.create()
    world.runtime.leave_monitor(container.id)
    world.runtime.exit(container.id, 9)
    world.runtime.monitor_dirs.add(container.id)
    containers = world.daemon_start()
    containers.adopt()
    assert containers.get(container.id).state["ExitCode"] == 9


def test_a_mount_without_a_monitor_is_cleaned_up(world: World) -> None:
    container = world.create()
    world.runtime.mounted.add(container.id)
    containers = world.daemon_start()
    containers.adopt()
    assert containers.get(container.id).status == "created"
    assert container.id not in world.runtime.mounted


def test_a_resumed_start_that_fails_is_recorded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    container = world.create()
    world.runtime.monitor_dirs.add(container.id)

    def refuses(container_id: str) -> None:
        raise ToolError("crun", "start failed: open executable: Permission denied")

    monkeypatch.setattr(world.runtime, "resume_start", refuses)
    containers = world.daemon_start()
    containers.adopt()
    assert containers.get(container.id).state["ExitCode"] == 126


# -- networks ---------------------------------------------------------------------------------
def test_network_connect_and_disconnect_show_in_inspect_at_once(world: World) -> None:
    world.networks.create("net1", subnet="10.90.0.0/24")
    container = world.create("c1", HostConfig={"NetworkMode": "bridge"})
    assert list(world.containers.inspect(container)["NetworkSettings"]["Networks"]) == ["bridge"]
    world.containers.connect_network(container, "net1", ["alias1"], None)
    networks = world.containers.inspect(container)["NetworkSettings"]["Networks"]
    assert list(networks) == ["bridge", "net1"]
    assert networks["net1"]["NetworkID"] == world.networks.get("net1").network_id
    assert networks["net1"]["Aliases"] == ["alias1"]
    assert [c.id for c in world.containers.list(True, {"network": ["net1"]})] == [container.id]
    reloaded = Container.load(world.paths, container.id)
    assert reloaded is not None and "net1" in reloaded.attachments()  # recorded, not only in memory
    world.containers.disconnect_network(container, "net1", False)
    assert list(world.containers.inspect(container)["NetworkSettings"]["Networks"]) == ["bridge"]
    assert world.actions("network") == ["connect", "disconnect"]
    with pytest.raises(Internal, match=f"^container {container.id} is not connected to the network net1$"):
        world.containers.disconnect_network(container, "net1", False)  # dockerd's words and status (500)
    with pytest.raises(Conflict, match="already exists in network bridge"):
        world.containers.connect_network(container, "bridge", [], None)
    world.containers.disconnect_network(container, "bridge", False)  # as dockerd: off its NetworkMode network too
    assert world.containers.inspect(container)["NetworkSettings"]["Networks"] == {}


def test_a_container_created_on_a_user_network_is_attached_with_its_address(world: World) -> None:
    world.networks.create("net1", subnet="10.91.0.0/24")
    container = world.create("c1", HostConfig={"NetworkMode": "net1"},
                             NetworkingConfig={"EndpointsConfig": {"net1": {"Aliases": ["db"]}}})
    recorded = container.attachments()["net1"]
    assert recorded["IPAddress"] == "" and recorded["Aliases"] == ["db"]  # an address at start, as dockerd
    world.containers.start(container)
    assert container.attachments()["net1"]["IPAddress"] == "10.91.0.2"
    world.runtime.exit(container.id, 0)
    eventually(lambda: not container.running)
    world.containers.remove(container, False, False)
    assert world.networks.get("net1").endpoints == {}


def test_inspect_of_a_running_bridge_container_has_its_address_and_ports(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from rootless.engine import container_spec
    monkeypatch.setattr(container_spec, "host_address", lambda: "192.0.2.7")
    container = world.run(HostConfig={"NetworkMode": "bridge", "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}})
    body = world.containers.inspect(container, size=True)
    assert body["NetworkSettings"]["IPAddress"] == "172.17.0.2"
    assert body["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert "Internal" not in body and body["SizeRw"] == 0 and body["SizeRootFs"] == 4300000
    summary = world.containers.summary(container, size=True)
    assert summary["Ports"][0]["PublicPort"] == 8080 and summary["State"] == "running"
    with open(os.path.join(container.etc_dir, "hosts")) as f:
        assert "192.0.2.7\thost.containers.internal" in f.read()


def test_an_old_record_without_attachments_shows_its_network_mode(world: World) -> None:
    container = world.create(HostConfig={"NetworkMode": "host"})
    container.data.pop("NetworkSettings")
    assert list(world.containers.inspect(container)["NetworkSettings"]["Networks"]) == ["host"]


# -- the rest ---------------------------------------------------------------------------------
def test_pause_is_refused_without_cgroups_and_recorded_with_them(tmp_path: Any) -> None:
    plain = World(str(tmp_path / "a"))
    container = plain.run()
    with pytest.raises(FailedPrecondition, match="pause: not supported on this host"):
        plain.containers.pause(container)
    with pytest.raises(FailedPrecondition):
        plain.containers.stats(container)
    limited = World(str(tmp_path / "b"), limits=True)
    other = limited.run()
    limited.containers.pause(other)
    assert other.status == "paused" and limited.containers.counts()["ContainersPaused"] == 1
    limited.containers.unpause(other)
    assert other.status == "running" and limited.actions()[-2:] == ["pause", "unpause"]


def test_rename_list_filters_counts_and_image_users(world: World) -> None:
    first = world.create("one", Labels={"tier": "web"})
    second = world.run("two")
    world.containers.rename("one", "uno")
    assert first.name == "uno" and world.actions()[-1] == "rename"
    with pytest.raises(Conflict):
        world.containers.rename("uno", "two")
    assert [c.id for c in world.containers.list(False, {})] == [second.id]
    assert [c.id for c in world.containers.list(True, {"label": ["tier=web"]})] == [first.id]
    assert [c.id for c in world.containers.list(True, {"status": ["created"]})] == [first.id]
    assert [c.id for c in world.containers.list(True, {"name": ["^uno$"]})] == [first.id]
    assert len(world.containers.list(True, {"ancestor": ["busybox"]}, limit=1)) == 1
    with pytest.raises(InvalidArgument, match="invalid filter 'nope'"):
        world.containers.list(True, {"nope": ["x"]})
    assert world.containers.counts() == {"Containers": 2, "ContainersRunning": 1, "ContainersPaused": 0,
                                         "ContainersStopped": 1}
    assert {c.id for c in world.containers.using_image(IMAGE_ID)} == {first.id, second.id}


def test_resize_changes_and_files_go_to_the_runtime(world: World) -> None:
    container = world.create()
    with pytest.raises(Conflict):
        world.containers.resize(container, 10, 20)
    world.containers.start(container)
    world.containers.resize(container, 10, 20)
    assert f"resize {container.id[:6]} 10x20" in world.runtime.calls
    assert world.containers.changes(container) == [{"Path": "/fake", "Kind": 1}]


# -- the plan made at create --------------------------------------------------------------------
def test_what_start_would_refuse_is_refused_at_create(world: World) -> None:
    with pytest.raises(InvalidArgument):
        world.create(HostConfig={"CapAdd": ["CAP_NOT_A_THING"]})
    with pytest.raises(InvalidArgument):
        world.create(HostConfig={"SecurityOpt": ["nonsense=1"]})
    assert world.containers.all() == [] and os.listdir(world.paths.containers) == []


def test_start_executes_the_stored_plan_without_making_it_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from rootless.engine import container_plan
    container = world.create(HostConfig={"CapAdd": ["NET_ADMIN"], "Tmpfs": {"/scratch": "size=1m"}})
    plan = container.data["RootlessPlan"]
    assert "RootlessPlan" not in world.containers.inspect(container)

    def no_planning(*args: Any) -> None:
        raise AssertionError("start must not plan again")

    monkeypatch.setattr(container_plan, "make_plan", no_planning)
    world.containers.start(container)
    options = world.runtime.processes[container.id].options
    assert options.cap_add == ["NET_ADMIN"] and options.tmpfs == {"/scratch": "size=1m"}
    assert options.rootfs == os.path.join(world.runtime.root, container.id)
    assert Container.load(world.paths, container.id).data["RootlessPlan"] == plan  # type: ignore[union-attr]


def test_a_record_without_a_plan_gets_one_at_its_next_start_once(world: World) -> None:
    container = world.create(Cmd=["echo", "old"])
    del container.data["RootlessPlan"]
    container.save()
    containers = world.daemon_start()
    old = containers.get(container.id)
    containers.start(old)
    assert world.runtime.processes[old.id].options.args == ["echo", "old"]
    stored = Container.load(world.paths, old.id)
    assert stored is not None and "RootlessPlan" in stored.data
    old.data["RootlessPlan"]["Version"] = "from another version"
    containers.replan(old)  # docker update's plug-in point: record changed, plan again
    assert old.data["RootlessPlan"]["Version"] != "from another version"


# -- exec against the fake runtime --------------------------------------------------------------
def test_exec_gets_the_containers_process_with_its_own_env_and_user(world: World) -> None:
    from rootless.engine.execs import ExecService
    container = world.run(Env=["A=1", "B=2"])
    execs = ExecService(world.runtime, world.containers, 40)
    with pytest.raises(InvalidArgument, match="No exec command specified"):
        execs.create(container, types.ExecCreate())
    request = decode_body(types.ExecCreate, {"Cmd": ["env"], "Env": ["A", "C=3"], "WorkingDir": "/tmp",
                                             "Privileged": True, "AttachStdout": True})
    session = execs.create(container, request)
    assert execs.get(session.exec_id[:10]) is session and container.data["ExecIDs"] == [session.exec_id]
    execs.start(session, detach=True)
    assert session.done.wait(5) and session.exit_code == 3
    process = world.runtime.exec_processes[session.exec_id]
    assert process["args"] == ["env"] and process["cwd"] == "/tmp"
    assert process["env"] == ["B=2", "PATH=/bin", "C=3"]  # exec's bare A unsets it (moby ReplaceOrAppendEnvValues)
    assert len(process["capabilities"]["bounding"]) == 41
    body = session.inspect()
    assert body["ExitCode"] == 3 and body["ProcessConfig"]["privileged"] is True and body["OpenStdout"] is True
    with pytest.raises(Conflict, match="already been started"):
        execs.start(session, detach=True)
    with pytest.raises(NotFound):
        execs.get("nope")
    assert world.actions()[-3:] == ["exec_create: env", "exec_start: env", "exec_die"]


def test_exec_output_is_framed_for_the_streams_asked_for(world: World) -> None:
    import io
    import socket as sockets
    from rootless.engine.execs import ExecService
    from rootless.wire import stdcopy
    container = world.run()
    execs = ExecService(world.runtime, world.containers, 40)
    session = execs.create(container, decode_body(types.ExecCreate, {"Cmd": ["x"], "AttachStderr": False}))
    execs.start(session, detach=False)
    client, server = sockets.socketpair()
    execs.serve(session, server, io.BytesIO())
    received = client.recv(100)
    assert received == stdcopy.frame(1, b"out")  # stdout by default, stderr not asked for
    assert session.exit_code == 3
    with pytest.raises(Conflict, match="is not running"):
        world.runtime.exit(container.id, 0)
        world.containers.wait(container, "not-running", 5)
        execs.create(container, types.ExecCreate(Cmd=["x"]))


# -- reads ------------------------------------------------------------------------------------
def test_logs_files_and_processes_of_a_container(world: World) -> None:
    import io
    import tarfile
    from rootless.runtime.logs import JsonFileWriter
    from rootless.wire import stdcopy
    container = world.create()
    writer = JsonFileWriter(container.log_path)
    writer.write("stdout", b"hello\n")
    writer.write("stderr", b"oops\n")
    writer.close()
    chunks = b"".join(world.containers.logs(container, stdout=True, stderr=False, follow=False, tail="all",
                                            since=None, until=None, timestamps=False))
    assert chunks == stdcopy.frame("stdout", b"hello\n")
    with pytest.raises(Conflict, match="is not running"):
        world.containers.top(container, "-ef")
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("greeting")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    tar.seek(0)
    world.containers.archive_put(container, "/", tar)
    assert world.containers.archive_stat(container, "/greeting")["size"] == 2
    stat, stream = world.containers.archive_get(container, "/greeting")
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as got:
        assert got.extractfile("greeting").read() == b"hi"  # type: ignore[union-attr]
    assert b"greeting" in b"".join(world.containers.export(container))


# -- cgroups: OOM kills, stats, update ----------------------------------------------------
def test_an_oom_kill_reported_by_the_monitor_sets_state_oomkilled_until_the_next_start(world: World) -> None:
    container = world.run()
    world.runtime.exit(container.id, 137, oom_killed=True)
    world.containers.wait(container, "not-running", 5)
    assert container.state["OOMKilled"] is True and container.exit_code == 137
    world.containers.start(container)
    assert container.state["OOMKilled"] is False
    world.runtime.exit(container.id, 137)
    world.containers.wait(container, "not-running", 5)
    assert container.state["OOMKilled"] is False


def test_stats_samples_a_running_container_and_chains_precpu(tmp_path: Any) -> None:
    world = World(str(tmp_path), limits=True)
    container = world.run("web")
    first = world.containers.stats(container)
    assert first["name"] == "/web" and first["pid"] == container.state["Pid"] and first["precpu_stats"] == {}
    second = world.containers.stats(container, first)
    assert second["precpu_stats"] == first["cpu_stats"] != second["cpu_stats"]
    world.runtime.exit(container.id, 0)
    world.containers.wait(container, "not-running", 5)
    with pytest.raises(Conflict, match="is not running"):
        world.containers.stats(container)


def update(**body: Any) -> types.ContainerUpdate:
    return decode_body(types.ContainerUpdate, body)


def test_update_records_a_restart_policy_on_a_host_without_cgroups(world: World) -> None:
    container = world.run()
    assert world.containers.update(container, update(RestartPolicy={"Name": "always"})) == []
    assert container.host_config["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    assert world.actions()[-1] == "update" and world.runtime.updates == []
    world.runtime.exit(container.id, 0)  # the next exit follows the new policy
    eventually(lambda: container.data["RestartCount"] == 1 and container.status == "running")
    with pytest.raises(FailedPrecondition, match="memory limit: cgroups are not delegated"):
        world.containers.update(container, update(Memory=64 << 20))
    assert "Memory" not in container.host_config or not container.host_config["Memory"]
    removed = world.run(HostConfig={"AutoRemove": True})
    with pytest.raises(InvalidArgument, match="AutoRemove"):
        world.containers.update(removed, update(RestartPolicy={"Name": "always"}))


def test_update_changes_a_running_containers_limits_and_records_them(tmp_path: Any) -> None:
    world = World(str(tmp_path), limits=True)
    container = world.run(HostConfig={"Memory": 64 << 20, "PidsLimit": 10})
    world.containers.update(container, update(PidsLimit=5, CpuShares=0))
    assert world.runtime.updates == [{"memory": {"limit": 64 << 20, "swap": 128 << 20}, "pids": {"limit": 5}}]
    assert container.host_config["PidsLimit"] == 5 and container.host_config["Memory"] == 64 << 20
    with pytest.raises(FailedPrecondition, match="the cpu controller is not delegated"):
        world.containers.update(container, update(NanoCpus=10 ** 9))
    assert len(world.runtime.updates) == 1 and not container.host_config.get("NanoCpus")
    world.runtime.exit(container.id, 0)
    world.containers.wait(container, "not-running", 5)
    world.containers.update(container, update(Memory=32 << 20))  # a stopped one: recorded for its next start
    assert len(world.runtime.updates) == 1 and container.host_config["Memory"] == 32 << 20
    world.containers.start(container)
    assert world.runtime.processes[container.id].options.memory == 32 << 20
