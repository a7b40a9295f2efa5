"""--device PATH[:CPATH][:rwm]: host nodes resolved into binds, refused when missing, not a device,
or asking for access the kernel would not enforce (runtime/devices.py)."""
from __future__ import annotations

import os
from typing import Any

import pytest

from rootless.errors import InvalidArgument
from rootless.runtime.devices import Device, DeviceBind, resolve, resolve_all


def test_a_device_binds_to_its_own_path_or_the_one_given() -> None:
    assert resolve(Device("/dev/null")) == [DeviceBind("/dev/null", "/dev/null")]
    assert resolve_all([Device("/dev/null", "/dev/n", "rw"), Device("/dev/zero", "", "")]) == [
        DeviceBind("/dev/null", "/dev/n"), DeviceBind("/dev/zero", "/dev/zero")]


def test_a_directory_adds_every_node_below_it_at_the_same_place(tmp_path: Any) -> None:
    (tmp_path / "s").mkdir()
    os.symlink("/dev/null", str(tmp_path / "a"))  # followed, as moby's EvalSymlinks
    os.symlink("/dev/zero", str(tmp_path / "s" / "b"))
    (tmp_path / "not-a-device").write_text("x")
    assert resolve(Device(str(tmp_path), "/dev/x")) == [
        DeviceBind("/dev/null", "/dev/x/a"), DeviceBind("/dev/zero", "/dev/x/s/b")]


@pytest.mark.parametrize("device,message", [
    (Device("/dev/nope-nope"),
     'error gathering device information while adding custom device "/dev/nope-nope": no such file or directory'),
    (Device("/dev/null", "/dev/n", "rwx"), "invalid device mode: rwx"),
    (Device("/dev/null", "/dev/n", "rr"), "invalid device mode: rr"),
    (Device("dev/null"), "the host path must be absolute"),
    (Device("/dev/null", "n"), "the container path must be absolute"),
    # anyone may write /dev/null: without a devices cgroup "r" would be a promise not kept
    (Device("/dev/null", "", "r"), "can't take write access away rootless"),
])
def test_what_would_not_work_is_refused(device: Device, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve(device)
    assert message in caught.value.message


def test_a_file_that_is_not_a_device_is_refused(tmp_path: Any) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidArgument, match="not a device node"):
        resolve(Device(str(tmp_path / "f")))
