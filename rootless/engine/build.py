"""Build and commit use cases: the engine's side of build/builder.py.

EngineStepRunner implements the builder's StepRunner with the engine's
public container operations (create, start, logs, wait, kill, remove, the
storage driver's mount and upper dir); BuildService extracts a streamed
context, runs the builder in a worker thread and yields docker's JSON lines,
and commits containers (docker commit) through the same layer writer.

Build containers carry the label BUILD_LABEL; the next daemon removes the
ones a killed daemon left (remove_leftovers).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass, replace
from typing import IO, AbstractSet, Any, Callable, Dict, FrozenSet, Generator, List, Optional, Sequence

from rootless.build.builder import Builder, BuildFailed, BuildOptions, RunSpec, drop_leftover_temp_images
from rootless.build.cache import BuildCache
from rootless.build.context import DOCKERIGNORE, DockerIgnore, open_in_context
from rootless.build.dockerfile import parse_dockerfile
from rootless.api import types
from rootless.config import Paths
from rootless.engine.container_model import Container
from rootless.engine.container_reads import ENGINE_ETC_TARGETS
from rootless.engine.container_runtime import ContainerRuntime
from rootless.engine.containers import Containers
from rootless.engine.events import EventBus
from rootless.engine.images import ImageService, familiar
from rootless.host.cgroups import CgroupInfo
from rootless.errors import FailedPrecondition, InvalidArgument, NotFound, RootlessError
from rootless.images import commit as image_commit
from rootless.images.archive import apply_changes
from rootless.images.store import ImageRecord, ImageStore
from rootless.images.types import ContainerConfig, History
from rootless.registry.auth import Credentials
from rootless.runtime import logs as runtime_logs
from rootless.runtime.storage.changes import write_layer_tar
from rootless.runtime.storage import whiteouts
from rootless.runtime.storage.driver import RootfsLayout, read_lowers
from rootless.util import confined, confined_tar, fs
from rootless.wire import filters as wire_filters

logger = logging.getLogger(__name__)

BUILD_LABEL = "io.rootless.build"
# The container config fields an image keeps (docker commit copies these).
IMAGE_CONFIG_FIELDS = ("User", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels", "ExposedPorts", "Volumes",
                       "StopSignal", "Healthcheck", "OnBuild", "Shell")
MAX_DOCKERFILE = 16 * 1024 * 1024
SECRETS_DIR = ".rootless-build-secrets"  # where our CLI puts --secret files in the context tar
KEPT = "kept"  # BUILD_LABEL's value on a container --rm=false keeps (not a leftover)
WORK_PREFIX = "build-context-"  # Paths.tmp/<this>*: a build's extracted context


class EngineStepContainer:
    """One build container (see build/builder.py StepContainer)."""

    def __init__(self, containers: Containers, runtime: ContainerRuntime, paths: Paths,
                 container: Container) -> None:
        self.containers, self.runtime, self.paths = containers, runtime, paths
        self.container = container
        self.container_id = container.id

    def mount(self) -> str:
        return self.runtime.mount(self.container_id)

    def run(self, output: Callable[[bytes], None], cancelled: threading.Event) -> int:
        containers, container = self.containers, self.container
        containers.start(container)
        done = threading.Event()

        def kill_on_cancel() -> None:
            while not done.wait(0.25):
                if cancelled.is_set():
                    with contextlib.suppress(RootlessError):
                        containers.kill(container, "KILL")
                    return

        watcher = threading.Thread(target=kill_on_cancel, daemon=True, name="build-cancel")
        watcher.start()
        try:
            for entry in runtime_logs.read_logs(container.log_path, follow=True,
                                                is_running=lambda: container.running):
                output(entry.data)
            status = containers.wait(container, "not-running")
        finally:
            done.set()
        return int(status["StatusCode"])

    def write_changes(self, out: IO[bytes]) -> None:
        write_container_layer(self.runtime, self.container_id, out)

    def drop_mount_points(self, paths: Sequence[str]) -> None:
        # Through the mounted rootfs, not the upper dir: the same for every driver (vfs computes
        # its changes from the rootfs), and what is in no lower layer leaves no whiteout behind.
        lowers = read_lowers(RootfsLayout.of(self.paths, self.container_id))
        with confined.Root(self.mount(), symlinks=False) as root:
            for path in paths:
                parts = [p for p in path.split("/") if p]
                while parts and not _in_any(lowers, "/".join(parts)):
                    if not _drop_empty(root, "/".join(parts)):
                        break
                    parts.pop()

    def remove(self) -> None:
        with contextlib.suppress(NotFound):
            self.containers.remove(self.container, force=True, volumes=True)


def write_container_layer(runtime: ContainerRuntime, container_id: str, out: IO[bytes]) -> None:
    """A container's changes as a layer tar, without the mount points of the engine's /etc files."""
    upper = runtime.upper_dir(container_id)
    with runtime.lowers(container_id) as lowers:  # a stopped container's squashfs image: mounted for this
        skip = engine_mount_points(upper, lowers)
    write_layer_tar(upper, out, skip)


def engine_mount_points(upper: str, lowers: Sequence[str]) -> FrozenSet[str]:
    """The upper dir's paths that are only crun's mount points for the engine's /etc binds.

    dockerd keeps these in a container's init layer, below the layer commit and
    build take, so they never reach an image: the empty files crun made where no
    lower layer has them, and /etc itself when nothing else in it changed.
    """
    skip = set()
    with confined.Root(upper, symlinks=False) as root:
        for target in ENGINE_ETC_TARGETS:
            rel = target.lstrip("/")
            with contextlib.suppress(OSError):
                info = root.lstat(rel)
                if stat.S_ISREG(info.st_mode) and info.st_size == 0 and not _in_any(lowers, rel):
                    skip.add(rel)
        if skip and _only_these(root, "etc", skip) and not whiteouts.is_opaque_dir(os.path.join(upper, "etc")):
            skip.add("etc")  # (an opaque /etc hides the lower one's files: a change to keep)
    return frozenset(skip)


def _only_these(root: confined.Root, directory: str, names: AbstractSet[str]) -> bool:
    """Whether directory of the upper holds nothing but names (a whiteout is an entry too)."""
    try:
        with confined.closing(root.open_dir(directory, follow=False)) as fd:
            return {f"{directory}/{name}" for name in os.listdir(fd)} <= names
    except OSError:
        return False


def _drop_empty(root: confined.Root, rel: str) -> bool:
    """Remove an empty directory or empty file (a mount point crun made); False if it is anything else."""
    try:
        info = root.lstat(rel)
        parent, name = root.parent(rel)
        with confined.closing(parent):
            if stat.S_ISDIR(info.st_mode):
                os.rmdir(name, dir_fd=parent)  # fails unless empty
            elif stat.S_ISREG(info.st_mode) and info.st_size == 0:
                os.unlink(name, dir_fd=parent)
            else:
                return False
    except OSError:
        return False
    return True


def _in_any(lowers: Sequence[str], rel: str) -> bool:
    for lower in lowers:
        with contextlib.suppress(OSError), confined.Root(lower, symlinks=False) as root:
            root.lstat(rel)
            return True
    return False


class EngineStepRunner:
    """Makes build containers with the engine's create (see build/builder.py StepRunner)."""

    def __init__(self, containers: Containers, runtime: ContainerRuntime, paths: Paths) -> None:
        self.containers, self.runtime, self.paths = containers, runtime, paths

    def create(self, image_id: str, spec: RunSpec) -> EngineStepContainer:
        """A RUN step's container: created like any other (its plan made at create), argv as is."""
        network = "bridge" if spec.network in ("", "default") else spec.network
        binds = [f"{src}:{dst}:{'ro' if ro else 'rw'}" for src, dst, ro in spec.binds]
        request = types.ContainerCreate(
            fields_set=frozenset({"Image", "Cmd", "Entrypoint", "Env", "User", "WorkingDir", "Labels", "HostConfig"}),
            Image=image_id, Cmd=list(spec.argv), Entrypoint=[], Env=list(spec.env), User=spec.user,
            WorkingDir=spec.workdir, Labels={BUILD_LABEL: KEPT if spec.keep else "1"},
            HostConfig=types.HostConfig(fields_set=frozenset({"NetworkMode", "Binds"}), NetworkMode=network,
                                        Binds=binds))
        container = self.containers.create(request, None)
        return EngineStepContainer(self.containers, self.runtime, self.paths, container)


class _ZeroPadded:
    """The docker CLI's context tar with -f outside the context ends right after the last file's
    data (its tar rewriting writes no padding, no end blocks; Go's reader takes that): complete
    the last 512-byte block and add the end-of-archive marker, so tarfile ends cleanly."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.seen, self.pad = stream, 0, -1

    def read(self, size: int = -1) -> bytes:
        want = size if size and size > 0 else 1 << 16
        if self.pad < 0:
            data = self.stream.read(want)
            if data:
                self.seen += len(data)
                return data
            self.pad = -self.seen % 512 + 1024
        extra = min(self.pad, want)
        self.pad -= extra
        return b"\0" * extra


@dataclass
class BuildJob:
    """A started build: events() yields docker's JSON lines; cancel() stops it (client gone)."""

    service: "BuildService"
    context_dir: str
    dockerfile_text: bytes
    ignore: DockerIgnore
    options: BuildOptions
    auth: Dict[str, Credentials]
    cancelled: threading.Event

    def cancel(self) -> None:
        self.cancelled.set()

    def events(self) -> Generator[Dict[str, Any], None, None]:
        out: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        worker = threading.Thread(target=self._work, args=(out,), daemon=True, name="build")
        worker.start()
        try:
            while True:
                event = out.get()
                if event is None:
                    return
                yield event
        finally:
            self.cancelled.set()  # normal end: no-op; a client that went away: stop the build
            worker.join()
            shutil.rmtree(os.path.dirname(self.context_dir), ignore_errors=True)

    def _work(self, out: "queue.Queue[Optional[Dict[str, Any]]]") -> None:
        try:
            dockerfile = parse_dockerfile(self.dockerfile_text)
            record = self.service.builder(self.auth).build(self.context_dir, dockerfile, self.options, out.put,
                                                self.cancelled, self.ignore)
            # image_format = "squashfs": the result becomes one file as a pulled image does, after the
            # build's lease (its layer dirs can go then); the intermediate steps stay the cache's blobs.
            self.service.images.keep_as_file(record)
            for tag in self.options.tags:
                out.put({"stream": f"Successfully tagged {familiar(tag)}\n"})
                self.service.events.publish("image", "tag", record.image_id, name=familiar(tag))
        except BuildFailed as exc:
            out.put({"errorDetail": {"code": exc.code, "message": exc.message}, "error": exc.message})
        except RootlessError as exc:
            out.put({"errorDetail": {"message": exc.message}, "error": exc.message})
        except Exception as exc:  # the stream is already 200: say it there, never leave it hanging
            logger.exception("build failed")
            out.put({"errorDetail": {"message": f"internal error: {exc}"}, "error": f"internal error: {exc}"})
        finally:
            out.put(None)


class BuildService:
    """POST /build, /build/prune, /commit; one per engine."""

    def __init__(self, paths: Paths, image_store: ImageStore, images: ImageService, events: EventBus,
                 containers: Containers, runtime: ContainerRuntime, cgroup: CgroupInfo) -> None:
        self.paths, self.image_store, self.images, self.events = paths, image_store, images, events
        self.containers, self.runtime, self.cgroup = containers, runtime, cgroup
        self.cache = BuildCache(paths.build_cache, image_store)
        self.cache.recover()
        self.runner = EngineStepRunner(containers, runtime, paths)

    def builder(self, auth: Dict[str, Credentials]) -> Builder:
        """A builder whose FROM pulls use this build's credentials (X-Registry-Config)."""
        def pull(name: str, platform: Optional[str], always: bool) -> ImageRecord:
            return self._pull(name, platform, always, auth)
        return Builder(self.image_store, self.cache, self.runner, pull, self.paths.tmp)

    # -- build ------------------------------------------------------------------
    def start(self, body: IO[bytes], options: BuildOptions, auth: Dict[str, Credentials]) -> BuildJob:
        """Unpack the context (a tar stream, never held in memory) and read its Dockerfile.

        Raises:
            InvalidArgument: a bad tar, no Dockerfile, a bad .dockerignore.
        """
        work = tempfile.mkdtemp(prefix=WORK_PREFIX, dir=self.paths.tmp)
        try:
            context = os.path.join(work, "context")
            os.mkdir(context, 0o700)
            with confined.Root(context, symlinks=False) as root:
                confined_tar.extract(root, "/", _ZeroPadded(body), False, (0, 0))  # type: ignore[arg-type]
            options = self._take_secrets(work, context, options)
            dockerfile = self._read(context, options.dockerfile, required=True)
            ignore = DockerIgnore.from_text((self._read(context, DOCKERIGNORE) or b"").decode("utf-8", "replace"))
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return BuildJob(self, context, dockerfile or b"", ignore, options, auth, threading.Event())

    @staticmethod
    def _take_secrets(work: str, context: str, options: BuildOptions) -> BuildOptions:
        """Move the secrets our CLI sent (SECRETS_DIR of the context) out of COPY's reach."""
        if not options.secrets:
            return options
        secrets_dir = os.path.join(work, "secrets")
        try:
            os.rename(os.path.join(context, SECRETS_DIR), secrets_dir)
        except OSError:
            raise InvalidArgument(f"build: secrets {sorted(options.secrets)}: not in the request") from None
        found: Dict[str, str] = {}
        with confined.Root(secrets_dir, symlinks=False) as root:
            for secret_id in options.secrets:
                try:
                    info = root.lstat(secret_id)
                except (OSError, ValueError):
                    info = None
                if info is None or not stat.S_ISREG(info.st_mode) or "/" in secret_id:
                    raise InvalidArgument(f"build: secret {secret_id}: not a file in the request")
                found[secret_id] = os.path.join(secrets_dir, secret_id)
        return replace(options, secrets=found)

    @staticmethod
    def _read(context: str, name: str, required: bool = False) -> Optional[bytes]:
        try:
            fd = open_in_context(context, name)
        except InvalidArgument:
            if required:
                raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}") from None
            return None
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_DOCKERFILE + 1)
        if len(data) > MAX_DOCKERFILE:
            raise InvalidArgument(f"can't read {name}: larger than {MAX_DOCKERFILE} bytes")
        return data

    def _pull(self, name: str, platform: Optional[str], always: bool,
              credentials: Dict[str, Credentials]) -> ImageRecord:
        images = self.images
        if not always and images.exists(name):
            record: ImageRecord = images.get(name)
            return record
        ref = images.parse(name)
        auth = credentials.get(ref.registry) or (credentials.get("https://index.docker.io/v1/")
                                                  if ref.registry == "docker.io" else None)
        job = images.pull(name, None, platform, auth)
        for _ in job.events():
            pass
        if job.record is None:
            raise NotFound(f"can't pull {name}: the pull gave no image")
        pulled: ImageRecord = job.record
        return pulled

    def prune(self, filters: Optional[Dict[str, List[str]]] = None, keep_storage: int = 0) -> Dict[str, Any]:
        """POST /build/prune: every cache entry, or those filters pick (least recently used
        first) until keep_storage bytes remain. all= makes no difference here: no entry is
        ever in use or shared once its build is over.

        Raises:
            InvalidArgument: a filter moby's build prune does not know, or a bad until.
        """
        filters = filters or {}
        if not filters and keep_storage <= 0:
            return self.cache.prune()
        return self.cache.prune_some(cache_filter(filters), max(0, keep_storage))

    def disk_usage(self) -> List[Dict[str, Any]]:
        return self.cache.usage()

    def remove_leftovers(self) -> None:
        """Build containers, temporary images and contexts a killed daemon left behind."""
        for container in self.containers.all():
            if container.labels.get(BUILD_LABEL) not in (None, KEPT):
                with contextlib.suppress(RootlessError, OSError):
                    self.containers.remove(container, force=True, volumes=True)
                    logger.info("removed leftover build container %s", container.id)
        drop_leftover_temp_images(self.image_store, self.paths.tmp,
                                  lambda image_id: bool(self.containers.using_image(image_id)))
        for name in os.listdir(self.paths.tmp):
            if name.startswith(WORK_PREFIX):
                fs.remove_tree(os.path.join(self.paths.tmp, name))

    # -- commit -----------------------------------------------------------------
    def commit(self, container_ref: str, repo: Optional[str], tag: Optional[str], comment: str, author: str,
               changes: List[str], overrides: Dict[str, Any], pause: bool) -> str:
        """docker commit: the container's changes as a new layer on its image.

        Raises:
            NotFound: no such container. InvalidArgument: a bad change or reference.
        """
        container = self.containers.get(container_ref)
        full = None
        if repo:
            ref = self.images.parse(repo, default_tag=None)
            full = str(ref.with_tag(tag or ref.tag or "latest"))
        if not self.image_store.exists(container.image_id) and self.images.is_site_image(container.image_id):
            raise FailedPrecondition(  # its layers are one squashfs file, not blobs a new image could share
                f"can't commit container {container.id[:12]}: its image is in a read-only additional image store",
                hint="pull the image into your store and create the container from that copy")
        base = self.image_store.get(container.image_id)
        config = {k: v for k, v in container.config.items() if k in IMAGE_CONFIG_FIELDS and v not in (None, "")}
        config.update({k: v for k, v in overrides.items() if k in IMAGE_CONFIG_FIELDS})
        container_config = apply_changes(ContainerConfig.from_json(config), changes)
        store = self.image_store
        paused = self._pause(container, pause)
        try:
            with store.lease(), tempfile.TemporaryFile(dir=self.paths.tmp) as spool:
                write_container_layer(self.runtime, container.id, spool)
                spool.seek(0)
                layer = image_commit.write_layer(store, spool)
                history = [History(created_by=container.command_text(), comment=comment or None,
                                   author=author or None)]
                record = image_commit.new_image(store, base, [layer], container_config, history, full,
                                                author or None)
        finally:
            if paused:
                with contextlib.suppress(RootlessError):
                    self.containers.unpause(container)
        self.images.keep_as_file(record)  # image_format = "squashfs": one file, as a pulled image
        self.events.publish("container", "commit", container.id, comment=comment)
        return record.image_id

    def _pause(self, container: Container, pause: bool) -> bool:
        """docker pauses a running container while it commits; where cgroups can't freeze, it is not paused."""
        if not (pause and container.running and self.cgroup.limits_supported):
            return False
        try:
            self.containers.pause(container)
        except RootlessError as exc:
            logger.info("commit of %s without pausing: %s", container.id, exc)
            return False
        return True


# moby's build prune filters (builder-next cacheFields plus until/unused-for). The cache's
# entries are regular, private, unused once their build ends, and carry no labels or
# description: each key is answered for them, not ignored.
BUILD_PRUNE_FILTERS = ("until", "unused-for", "id", "type", "inuse", "shared", "private", "label", "label!",
                       "description", "parent")


def _matches_every_entry(filters: Dict[str, List[str]]) -> bool:
    """The filters on what all entries share: no labels, type regular, not in use, not shared."""
    def flag(key: str) -> List[bool]:
        return [wire_filters.get_bool({key: [value]}, key) for value in filters.get(key, [])]
    return (wire_filters.match_labels(filters, {}) and all(v == "regular" for v in filters.get("type", []))
            and not any(flag("inuse") + flag("shared")) and all(flag("private"))
            and not filters.get("description") and not filters.get("parent"))


def cache_filter(filters: Dict[str, List[str]]) -> Callable[[str, float], bool]:
    """Whether an entry (id, last used as unix seconds) is to go."""
    wire_filters.validate(filters, BUILD_PRUNE_FILTERS)
    if len(filters.get("until", []) + filters.get("unused-for", [])) > 1:
        raise InvalidArgument("more than one until filter specified")
    until_ns = wire_filters.get_until_ns({"until": filters.get("until") or filters.get("unused-for") or []})
    static = _matches_every_entry(filters)

    def wanted(entry_id: str, last_used: float) -> bool:
        if not static or (until_ns is not None and last_used * 1e9 >= until_ns):
            return False
        return not filters.get("id") or any(entry_id.startswith(v) for v in filters["id"])
    return wanted
