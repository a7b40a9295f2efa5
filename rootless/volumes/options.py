"""The local driver's options (volume create --opt type=, device=, o=): what rootless can apply.

Docker's local driver mounts `mount -t TYPE -o O DEVICE` on the volume's
_data at first use. Unprivileged, in the engine's user namespace, only two of
those mounts are possible: a tmpfs (tmpfs may be mounted in a user namespace)
and a bind of a directory the user can reach (type=none, o=bind). Everything
else (nfs, cifs, ext4 on a block device) needs real root, so it is refused at
create with a reason, never stored and silently not applied.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping, Tuple

from rootless.errors import InvalidArgument
from rootless.util import linux

KEYS = ("type", "device", "o")
TMPFS, BIND = "tmpfs", "none"
# tmpfs options that take a value, and the flags the kernel takes as mount flags, not data.
TMPFS_VALUES = re.compile(r"^(size|mode|uid|gid|nr_inodes|nr_blocks)=[0-9a-zA-Z%]+$")
FLAGS = {"ro": linux.MS_RDONLY, "nosuid": linux.MS_NOSUID, "nodev": linux.MS_NODEV, "noexec": linux.MS_NOEXEC,
         "rw": 0, "suid": 0, "dev": 0, "exec": 0}
BIND_WORDS = ("bind", "rbind")


@dataclass(frozen=True)
class LocalOptions:
    """A local volume's parsed options; kind "" is a plain directory."""

    kind: str = ""
    device: str = ""
    words: Tuple[str, ...] = ()

    @property
    def flags(self) -> int:
        value = 0
        for word in self.words:
            value |= FLAGS.get(word, 0)
        return value

    @property
    def data(self) -> str:
        """tmpfs's data string: the key=value options."""
        return ",".join(word for word in self.words if "=" in word)

    @property
    def read_only(self) -> bool:
        return "ro" in self.words


def parse(name: str, options: Mapping[str, str]) -> LocalOptions:
    """Validate volume create's DriverOpts. Raises InvalidArgument naming what can't be applied."""
    for key in options:
        if key not in KEYS:
            raise InvalidArgument(f'create {name}: invalid option key: "{key}"',
                                  hint="the local driver takes type, device and o")
    if not options:
        return LocalOptions()
    kind, device = options.get("type", ""), options.get("device", "")
    words = tuple(word for word in options.get("o", "").split(",") if word)
    if kind == TMPFS:
        _check_tmpfs(name, words)
        return LocalOptions(TMPFS, device or TMPFS, words)
    if kind == BIND and any(word in BIND_WORDS for word in words):
        _check_bind(name, device, words)
        return LocalOptions(BIND, os.path.normpath(device), words)
    raise InvalidArgument(
        f"create {name}: volume options type={kind or '(none)'} o={','.join(words) or '(none)'}: "
        "can't be mounted by an unprivileged user",
        hint="rootless can make tmpfs volumes (--opt type=tmpfs --opt device=tmpfs --opt o=size=64m) and "
             "bind volumes of a directory (--opt type=none --opt o=bind --opt device=/path)")


def _check_tmpfs(name: str, words: Tuple[str, ...]) -> None:
    for word in words:
        if word not in FLAGS and not TMPFS_VALUES.match(word):
            raise InvalidArgument(f"create {name}: tmpfs option {word}: not supported",
                                  hint="use size=, mode=, uid=, gid=, nr_inodes= and ro, noexec, nosuid, nodev")


def _check_bind(name: str, device: str, words: Tuple[str, ...]) -> None:
    for word in words:
        if word not in BIND_WORDS and word not in ("ro", "rw"):
            raise InvalidArgument(f"create {name}: bind option {word}: not supported",
                                  hint="a bind volume takes o=bind with ro or rw")
    if not device.startswith("/"):
        raise InvalidArgument(f"create {name}: device {device or '(none)'}: a bind volume needs an absolute path")
    if not os.path.isdir(device):
        raise InvalidArgument(f"create {name}: device {device}: no such directory")


def mount_flags(options: LocalOptions) -> int:
    """mount(2) flags of the volume's own mount on _data (a bind's ro goes on the container's mount)."""
    if options.kind == BIND:
        return linux.MS_BIND | (linux.MS_REC if "rbind" in options.words else 0)
    return options.flags
