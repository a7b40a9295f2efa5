"""config.json generation: exact fields for each option (runtime/spec.py)."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import pytest

from rootless.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from rootless.runtime import spec
from rootless.host.cgroups import CgroupInfo
from rootless.runtime.spec import HostFacts, Mount, SpecOptions, Ulimit, build_spec
from rootless.host.userns import IdMap, Mapping

FULL = Mapping((IdMap(0, 1000, 1), IdMap(1, 100000, 65536)), (IdMap(0, 1000, 1), IdMap(1, 100000, 65536)))
SINGLE = Mapping((IdMap(0, 1000, 1),), (IdMap(0, 1000, 1),))
HOST = HostFacts(
    rlimits={"nofile": (1024, 20000), "nproc": (100, 200)},
    last_cap=40, oom_score_adj=0, machine="x86_64", kernel=(6, 1),
    init_binary="/usr/bin/catatonit", devices=("/dev/fuse", "/dev/null", "/dev/net/tun"),
)
DELEGATED = CgroupInfo(mode="v2", controllers=["cpu", "memory", "pids"], own_path="/user", writable=True)


@pytest.fixture()
def rootfs(tmp_path: Any) -> str:
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n")
    (etc / "group").write_text("root:x:0:\ntty:x:5:\nwww:x:33:\nextra:x:44:www\n")
    return str(tmp_path / "rootfs")


def make(rootfs: str, mapping: Mapping = FULL, **kwargs: Any) -> Dict[str, Any]:
    kwargs.setdefault("hooks_dirs", [])
    options = SpecOptions(rootfs=rootfs, args=kwargs.pop("args", ["sh"]), **kwargs)
    result: Dict[str, Any] = json.loads(json.dumps(build_spec(options, mapping, HOST)))
    return result


def mount_at(config: Dict[str, Any], destination: str) -> Dict[str, Any]:
    found = [m for m in config["mounts"] if m["destination"] == destination]
    assert len(found) == 1, destination
    return found[0]


def destinations(config: Dict[str, Any]) -> List[str]:
    return [m["destination"] for m in config["mounts"]]


# -- resolve_args and env ------------------------------------------------------------


@pytest.mark.parametrize("image_ep, image_cmd, ep, cmd, expected", [
    (None, ["sh"], None, None, ["sh"]),
    (["/entry"], ["a"], None, None, ["/entry", "a"]),
    (["/entry"], ["a"], None, ["b"], ["/entry", "b"]),
    (["/entry"], ["a"], ["/other"], None, ["/other"]),  # --entrypoint drops the image CMD
    (["/entry"], ["a"], ["/other"], ["x"], ["/other", "x"]),
    (["/entry"], ["a"], [""], ["b"], ["b"]),  # --entrypoint "" clears it (and, as in moby, the image CMD)
    (["/entry"], ["a"], [], None, ["a"]),  # an API "Entrypoint": [] clears it, keeps CMD
    (["/entry"], ["a"], [], ["b"], ["b"]),
    (None, ["sh"], None, [], ["sh"]),
])
def test_resolve_args_follows_docker(image_ep: Any, image_cmd: Any, ep: Any, cmd: Any, expected: List[str]) -> None:
    assert spec.resolve_args(image_ep, image_cmd, ep, cmd) == expected


def test_resolve_args_without_any_command_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="no command specified"):
        spec.resolve_args(None, None, None, None)


def test_the_process_gets_no_value_for_a_bare_key() -> None:
    # Config.Env ["A", "PATH=/x"] (a bare A at create hid the image's A): the process has no A;
    # a bare PATH would unset the daemon's default PATH, as moby's ReplaceOrAppendEnvValues
    env = spec.container_env(["A", "PATH=/x"], "h", False, "/root")
    assert not any(e.startswith("A=") or e == "A" for e in env) and "PATH=/x" in env
    assert not any(e.startswith("PATH=") for e in spec.container_env(["PATH"], "h", False, "/root"))


def test_merge_env_overlays_by_key_and_unsets_bare_names() -> None:
    merged = spec.merge_env(["PATH=/bin", "A=1", "B=2"], ["A=3", "B", "C=4"])
    assert merged == ["PATH=/bin", "A=3", "C=4"]


def test_env_gets_path_hostname_term_and_home(rootfs: str) -> None:
    config = make(rootfs, env=["A=1"], hostname="box", tty=True)
    assert config["process"]["env"] == [
        f"PATH={spec.DEFAULT_PATH}", "HOSTNAME=box", "TERM=xterm", "A=1", "HOME=/root"]


def test_env_keeps_image_path_and_home(rootfs: str) -> None:
    config = make(rootfs, env=["PATH=/opt/bin", "HOME=/h"])
    assert config["process"]["env"] == ["PATH=/opt/bin", "HOME=/h"]


# -- process -------------------------------------------------------------------------


def test_default_process(rootfs: str) -> None:
    process = make(rootfs, args=["sh", "-c", "true"], cwd="/work/")["process"]
    assert process["args"] == ["sh", "-c", "true"]
    assert process["cwd"] == "/work"
    assert process["terminal"] is False
    assert process["user"] == {"uid": 0, "gid": 0}
    assert process["noNewPrivileges"] is True
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}]
    caps = list(spec.DEFAULT_CAPABILITIES)
    assert process["capabilities"] == {"bounding": caps, "effective": caps, "permitted": caps}
    assert "oomScoreAdj" not in process


def test_user_name_resolves_uid_gid_and_groups(rootfs: str) -> None:
    process = make(rootfs, user="www", group_add=["tty", "77"])["process"]
    assert process["user"] == {"uid": 33, "gid": 33, "additionalGids": [44, 5, 77]}
    assert "HOME=/var/www" in process["env"]


def test_unknown_user_is_refused_like_docker(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match="unable to find user nobody: no matching entries in passwd file"):
        make(rootfs, user="nobody")


def test_unmapped_uid_is_refused_with_a_hint(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match=r"can't run as uid 1000: not mapped.*ids 0-0"):
        make(rootfs, SINGLE, user="1000")
    with pytest.raises(InvalidArgument, match="uid 70000"):
        make(rootfs, user="70000")


def test_relative_cwd_is_refused(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid working directory: work"):
        make(rootfs, cwd="work")


@pytest.mark.parametrize("add, drop, expected_in, expected_out", [
    (["NET_ADMIN"], [], ["CAP_NET_ADMIN", "CAP_CHOWN"], []),
    ([], ["chown", "CAP_KILL"], [], ["CAP_CHOWN", "CAP_KILL"]),
    (["sys_admin"], ["ALL"], ["CAP_SYS_ADMIN"], ["CAP_CHOWN"]),
    (["ALL"], ["MKNOD"], ["CAP_SYS_ADMIN", "CAP_BPF"], ["CAP_MKNOD"]),
    (["KILL"], ["KILL"], ["CAP_KILL"], []),
])
def test_cap_add_and_drop(rootfs: str, add: List[str], drop: List[str], expected_in: List[str],
                          expected_out: List[str]) -> None:
    caps = make(rootfs, cap_add=add, cap_drop=drop)["process"]["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"]
    assert set(expected_in) <= set(caps["bounding"])
    assert not set(expected_out) & set(caps["bounding"])


def test_unknown_capability_is_refused(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid capability: CAP_FLY"):
        make(rootfs, cap_add=["CAP_FLY"])


def test_init_prepends_dev_init_and_binds_it(rootfs: str) -> None:
    config = make(rootfs, args=["sleep", "1"], init=True)
    assert config["process"]["args"] == ["/dev/init", "--", "sleep", "1"]
    assert mount_at(config, "/dev/init") == {
        "destination": "/dev/init", "type": "bind", "source": "/usr/bin/catatonit",
        "options": ["bind", "ro", "nosuid", "nodev"]}


def test_ulimits_and_their_limits(rootfs: str) -> None:
    rlimits = make(rootfs, ulimits=[Ulimit("nproc", 50, 150), Ulimit("nofile", 10, 20)])["process"]["rlimits"]
    assert rlimits == [{"type": "RLIMIT_NOFILE", "hard": 20, "soft": 10},
                       {"type": "RLIMIT_NPROC", "hard": 150, "soft": 50}]
    with pytest.raises(PermissionDenied, match="hard limit 300 exceeds this user's own"):
        make(rootfs, ulimits=[Ulimit("nproc", 1, 300)])
    with pytest.raises(InvalidArgument, match="soft limit 5 exceeds hard limit 4"):
        make(rootfs, ulimits=[Ulimit("nproc", 5, 4)])


def test_unlimited_ulimits_become_uint64_max(rootfs: str) -> None:
    rlimits = make(rootfs, ulimits=[Ulimit("core", -1, -1)])["process"]["rlimits"]
    assert rlimits[-1] == {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1}
    with pytest.raises(PermissionDenied):
        make(rootfs, ulimits=[Ulimit("nproc", 1, -1)])


def test_oom_score_adj(rootfs: str) -> None:
    assert make(rootfs, oom_score_adj=500)["process"]["oomScoreAdj"] == 500
    with pytest.raises(PermissionDenied, match="below its own"):
        make(rootfs, oom_score_adj=-5)


def test_no_new_privileges_from_security_opt(rootfs: str) -> None:
    assert make(rootfs, security_opt=["no-new-privileges=false"])["process"]["noNewPrivileges"] is False
    assert make(rootfs, no_new_privileges=False, security_opt=["no-new-privileges"])["process"]["noNewPrivileges"]


# -- root, hostname, annotations ------------------------------------------------------


def test_root_hostname_annotations(rootfs: str) -> None:
    config = make(rootfs, read_only=True, hostname="h1", annotations={"a": "b"})
    assert config["ociVersion"] == "1.0.2"
    assert config["root"] == {"path": rootfs, "readonly": True}
    assert config["hostname"] == "h1"
    assert config["annotations"] == {"a": "b"}
    assert "hooks" not in config


# -- mounts ----------------------------------------------------------------------------


def test_default_mounts(rootfs: str) -> None:
    config = make(rootfs)
    assert destinations(config)[:6] == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]
    assert mount_at(config, "/dev/pts")["options"] == [
        "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
    assert mount_at(config, "/dev/shm")["options"] == ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
    assert mount_at(config, "/sys") == {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                                        "options": ["nosuid", "noexec", "nodev", "ro"]}
    assert "/sys/fs/cgroup" not in destinations(config)
    for device in spec.DEFAULT_DEVICES:
        assert mount_at(config, device) == {"destination": device, "type": "bind", "source": device,
                                            "options": ["bind", "nosuid", "noexec"]}
    assert "/dev/fuse" not in destinations(config)


def test_devpts_has_no_gid_5_when_it_is_unmapped(rootfs: str) -> None:
    assert "gid=5" not in mount_at(make(rootfs, SINGLE), "/dev/pts")["options"]


def test_host_network_binds_sys_read_only(rootfs: str) -> None:
    config = make(rootfs, network="host")
    assert mount_at(config, "/sys") == {"destination": "/sys", "type": "bind", "source": "/sys",
                                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    assert {"type": "network"} not in config["linux"]["namespaces"]


def test_shm_size(rootfs: str) -> None:
    assert "size=1024k" in mount_at(make(rootfs, shm_size=1 << 20), "/dev/shm")["options"]
    assert "size=1000" in mount_at(make(rootfs, shm_size=1000), "/dev/shm")["options"]


def test_engine_mounts_tmpfs_and_etc_files_sorted_parents_first(rootfs: str) -> None:
    config = make(rootfs, read_only=True,
                  mounts=[Mount("/data/sub", "/h/sub", options=("ro",)), Mount("/data", "/h/data")],
                  tmpfs={"/run": "size=1m,exec"},
                  etc_files={"/etc/hosts": "/c/hosts", "/etc/resolv.conf": "/c/resolv.conf"})
    tail = config["mounts"][-5:]
    assert [m["destination"] for m in tail] == ["/run", "/data", "/etc/hosts", "/etc/resolv.conf", "/data/sub"]
    assert mount_at(config, "/run") == {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                                        "options": ["nosuid", "nodev", "size=1m", "exec"]}
    assert mount_at(config, "/data/sub")["options"] == ["rbind", "ro"]
    assert mount_at(config, "/etc/hosts") == {"destination": "/etc/hosts", "type": "bind", "source": "/c/hosts",
                                              "options": ["rbind", "rprivate", "ro"]}


def test_user_mount_replaces_a_default(rootfs: str) -> None:
    config = make(rootfs, tmpfs={"/dev/shm": "size=2m"})
    assert mount_at(config, "/dev/shm")["options"] == ["noexec", "nosuid", "nodev", "size=2m"]


def test_bad_mounts_are_refused(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match="destination must be an absolute path"):
        make(rootfs, mounts=[Mount("data", "/h")])
    with pytest.raises(InvalidArgument, match="duplicate mount point"):
        make(rootfs, mounts=[Mount("/d", "/h")], tmpfs={"/d/": ""})


# -- linux -----------------------------------------------------------------------------


def test_default_linux(rootfs: str) -> None:
    linux = make(rootfs)["linux"]
    assert linux["namespaces"] == [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                                   {"type": "network"}]
    assert linux["maskedPaths"] == list(spec.MASKED_PATHS)
    assert linux["readonlyPaths"] == list(spec.READONLY_PATHS)
    assert "resources" not in linux and "sysctl" not in linux and "uidMappings" not in linux
    seccomp = linux["seccomp"]
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_netns_path_joins_a_given_namespace(rootfs: str) -> None:
    linux = make(rootfs, netns_path="/proc/42/ns/net")["linux"]
    assert linux["namespaces"][-1] == {"type": "network", "path": "/proc/42/ns/net"}


def test_unknown_network_mode_is_refused(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid network mode: bridge"):
        make(rootfs, network="bridge")


def test_masked_and_readonly_overrides_and_systempaths(rootfs: str) -> None:
    linux = make(rootfs, masked_paths=["/proc/x"], readonly_paths=[])["linux"]
    assert linux["maskedPaths"] == ["/proc/x"] and linux["readonlyPaths"] == []
    linux = make(rootfs, security_opt=["systempaths=unconfined"])["linux"]
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []


def test_seccomp_unconfined_and_custom(rootfs: str) -> None:
    assert "seccomp" not in make(rootfs, security_opt=["seccomp=unconfined"])["linux"]
    custom = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
    seccomp = make(rootfs, security_opt=[f"seccomp={custom}"])["linux"]["seccomp"]
    assert seccomp == {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [],
                       "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


def test_seccomp_profile_from_file(rootfs: str, tmp_path: Any) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG"}))
    assert make(rootfs, security_opt=[f"seccomp={path}"])["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_LOG"


def test_label_is_ignored_and_unknown_security_opt_refused(rootfs: str) -> None:
    assert make(rootfs, security_opt=["label=disable", "label:type:x"])["linux"]["seccomp"]
    with pytest.raises(InvalidArgument, match="unknown option 'bogus'"):
        make(rootfs, security_opt=["bogus=1"])


def test_privileged(rootfs: str) -> None:
    config = make(rootfs, privileged=True)
    caps = config["process"]["capabilities"]["bounding"]
    assert caps == list(spec.ALL_CAPABILITIES)
    linux = config["linux"]
    assert "seccomp" not in linux
    assert linux["maskedPaths"] == [] and linux["readonlyPaths"] == []
    assert mount_at(config, "/dev/fuse")["source"] == "/dev/fuse"
    assert mount_at(config, "/dev/net/tun")["options"] == ["bind", "nosuid", "noexec"]
    assert "ro" not in mount_at(config, "/sys")["options"]


def test_sysctls(rootfs: str) -> None:
    sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20"}
    assert make(rootfs, sysctls=sysctl)["linux"]["sysctl"] == sysctl
    with pytest.raises(InvalidArgument, match="invalid sysctl: kernel.panic: not namespaced"):
        make(rootfs, sysctls={"kernel.panic": "1"})
    with pytest.raises(InvalidArgument, match="not allowed in the host's network namespace"):
        make(rootfs, network="host", sysctls={"net.ipv4.ip_forward": "1"})


@pytest.mark.parametrize("limit, what", [
    ({"memory": 1 << 20}, "memory limit"), ({"cpus": 0.5}, "cpu limit"), ({"pids_limit": 10}, "pids limit"),
])
def test_limits_are_refused_without_delegation(rootfs: str, limit: Dict[str, Any], what: str) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        make(rootfs, cgroup=CgroupInfo(mode="hybrid"), **limit)
    assert caught.value.message == (f"{what}: cgroups are not delegated to this user on this host "
                                    "(hybrid v1/v2): limits cannot be enforced")


def test_limits_with_delegated_cgroups(rootfs: str) -> None:
    config = make(rootfs, cgroup=DELEGATED, memory=1 << 20, cpus=1.5, pids_limit=10, cgroups_path="/user/c1")
    linux = config["linux"]
    # swap: docker's default memory+swap of twice the memory limit when --memory-swap is not given
    assert linux["resources"] == {"memory": {"limit": 1 << 20, "swap": 2 << 20},
                                  "cpu": {"quota": 150000, "period": 100000}, "pids": {"limit": 10}}
    assert linux["cgroupsPath"] == "/user/c1"
    assert {"type": "cgroup"} in linux["namespaces"]
    assert mount_at(config, "/sys/fs/cgroup")["type"] == "cgroup"


def test_limit_on_a_controller_that_is_not_delegated(rootfs: str) -> None:
    cgroup = CgroupInfo(mode="v2", controllers=["pids"], own_path="/u", writable=True)
    with pytest.raises(FailedPrecondition, match="the memory controller is not delegated"):
        make(rootfs, cgroup=cgroup, memory=1 << 20)


def test_no_cgroup_anything_without_delegation(rootfs: str) -> None:
    config = make(rootfs, cgroup=CgroupInfo(mode="hybrid"), cgroups_path="/x")
    assert "/sys/fs/cgroup" not in destinations(config)
    assert {"type": "cgroup"} not in config["linux"]["namespaces"]
    assert "cgroupsPath" not in config["linux"] and "resources" not in config["linux"]


# -- hooks -----------------------------------------------------------------------------


def test_matching_hooks_land_in_config(rootfs: str, tmp_path: Any) -> None:
    hooks_dir = tmp_path / "hooks.d"
    hooks_dir.mkdir()
    (hooks_dir / "01.json").write_text(json.dumps({
        "version": "1.0.0", "hook": {"path": "/bin/hook", "args": ["hook", "x"]},
        "when": {"hasBindMounts": True}, "stages": ["prestart", "poststop"]}))
    assert "hooks" not in make(rootfs, hooks_dirs=[str(hooks_dir)])
    config = make(rootfs, hooks_dirs=[str(hooks_dir)], mounts=[Mount("/d", "/h")])
    entry = {"path": "/bin/hook", "args": ["hook", "x"]}
    assert config["hooks"] == {"prestart": [entry], "poststop": [entry]}


def test_default_hooks_dirs_come_from_config(rootfs: str, tmp_path: Any, monkeypatch: Any) -> None:
    hooks_dir = tmp_path / "config" / "rootless" / "hooks.d"
    hooks_dir.mkdir(parents=True)
    (hooks_dir / "01.json").write_text(json.dumps({
        "version": "1.0.0", "hook": {"path": "/bin/hook"}, "when": {"always": True}, "stages": ["poststop"]}))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert make(rootfs, hooks_dirs=None)["hooks"] == {"poststop": [{"path": "/bin/hook"}]}


def test_list_host_devices(tmp_path: Any) -> None:
    (tmp_path / "pts").mkdir()
    (tmp_path / "file").write_text("")
    os.symlink("/dev/null", str(tmp_path / "link"))
    assert spec.list_host_devices(str(tmp_path)) == []


ALL_DELEGATED = CgroupInfo(mode="v2", controllers=["cpuset", "cpu", "io", "memory", "pids"], own_path="/user",
                           writable=True)


def test_every_cgroup_option_lands_in_linux_resources(rootfs: str) -> None:
    config = make(rootfs, cgroup=ALL_DELEGATED, memory=1 << 30, memory_reservation=1 << 20, cpu_shares=512,
                  cpu_quota=50000, cpu_period=200000, cpuset_cpus="0", cpuset_mems="0", blkio_weight=300)
    assert config["linux"]["resources"] == {
        "memory": {"limit": 1 << 30, "swap": 2 << 30, "reservation": 1 << 20},
        "cpu": {"quota": 50000, "period": 200000, "shares": 512, "cpus": "0", "mems": "0"},
        "blockIO": {"weight": 300}}


@pytest.mark.parametrize("limit, what", [
    ({"cpu_shares": 512}, "cpu shares"), ({"cpu_quota": 1000}, "cpu quota"), ({"cpuset_cpus": "0"}, "cpuset"),
    ({"blkio_weight": 300}, "blkio weight"), ({"memory_reservation": 1 << 20}, "memory reservation"),
])
def test_cgroup_options_are_refused_without_delegation(rootfs: str, limit: Dict[str, Any], what: str) -> None:
    with pytest.raises(FailedPrecondition, match=f"^{what}: cgroups are not delegated"):
        make(rootfs, cgroup=CgroupInfo(mode="hybrid"), **limit)


def test_memory_swap_given_is_kept_and_minus_one_means_unlimited(rootfs: str) -> None:
    for swap in (96 << 20, -1):
        config = make(rootfs, cgroup=ALL_DELEGATED, memory=64 << 20, memory_swap=swap)
        assert config["linux"]["resources"]["memory"] == {"limit": 64 << 20, "swap": swap}


def test_a_controller_not_delegated_is_refused_with_the_delegate_fix(rootfs: str) -> None:
    cgroup = CgroupInfo(mode="v2", controllers=["cpu", "memory", "pids"], own_path="/u", writable=True)
    with pytest.raises(FailedPrecondition) as caught:
        make(rootfs, cgroup=cgroup, blkio_weight=300)
    assert caught.value.message == "blkio weight: the io controller is not delegated to this user"
    assert "delegated: cpu memory pids" in (caught.value.hint or "")
    assert "Delegate=cpu cpuset io memory pids" in (caught.value.hint or "")


def test_nano_cpus_and_a_quota_conflict_as_in_dockerd(rootfs: str) -> None:
    with pytest.raises(InvalidArgument, match="Nano CPUs and CPU Period/Quota cannot both be set"):
        make(rootfs, cgroup=ALL_DELEGATED, cpus=1.0, cpu_quota=1000)


def test_domainname(rootfs: str) -> None:
    assert make(rootfs, hostname="box", domainname="example.org")["domainname"] == "example.org"
    assert "domainname" not in make(rootfs, hostname="box")


def test_update_resources_uses_the_create_rules() -> None:
    assert spec.update_resources(ALL_DELEGATED, memory=32 << 20, pids_limit=9) == {
        "memory": {"limit": 32 << 20, "swap": 64 << 20}, "pids": {"limit": 9}}
    with pytest.raises(FailedPrecondition, match="^pids limit: cgroups are not delegated"):
        spec.update_resources(CgroupInfo(mode="hybrid"), pids_limit=9)


def test_keep_id_maps_give_the_container_a_user_namespace_of_its_own(rootfs: str) -> None:
    uids = [(0, 1, 1000), (1000, 0, 1), (1001, 1001, 64536)]
    config = make(rootfs, uid_mappings=uids, gid_mappings=uids)
    linux = config["linux"]
    assert linux["namespaces"][-1] == {"type": "user"}
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": 1, "size": 1000},
                                    {"containerID": 1000, "hostID": 0, "size": 1},
                                    {"containerID": 1001, "hostID": 1001, "size": 64536}]
    assert linux["gidMappings"] == linux["uidMappings"]
    assert {"type": "user"} not in make(rootfs)["linux"]["namespaces"]  # the default: ours
