"""The builder: runs a parsed Dockerfile step by step, commits layers, keeps the build cache.

Like docker's classic builder every step yields an image config (its id is
shown as `` ---> <id>``); a RUN or COPY/ADD step runs in a build container made
by the injected :class:`StepRunner`, and the container's changes become the
step's layer (written through the image store: ingest, verify, commit). Base
images come from the injected ``pull``. Nothing of the engine is imported here
(STYLE.md: build/builder.py is L3, the engine wires it).

Only the stages the target needs are built (Dockerfile.required_stages). The
result is recorded and tagged only after the last step succeeded.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Protocol, Sequence, Set, Tuple

from rootless.build import copy as copying
from rootless.build.cache import BuildCache, CacheEntry, step_key
from rootless.build.context import DockerIgnore, hidden_build_files
from rootless.build.dockerfile import (DEFAULT_SHELL, Add, Arg, Cmd, Copy, Dockerfile, Entrypoint, Env, Expose,
                                       Healthcheck, Instruction, Label, Maintainer, Onbuild, Run, Shell, Stage,
                                       StageVars, StopSignal, User, Volume, Workdir,
                                       parse_trigger, platform_args, resolve_global_args, run_argv)
from rootless.errors import FailedPrecondition, InvalidArgument, RootlessError, Unavailable
from rootless.images import commit as image_commit
from rootless.images.store import ImageRecord, ImageStore, LayerRecord, rfc3339_now
from rootless.images.types import MT_OCI_MANIFEST, ContainerConfig, History, ImageConfig, RootFS, host_platform
from rootless.runtime import users
from rootless.util import confined, fs

logger = logging.getLogger(__name__)

Emit = Callable[[Dict[str, Any]], None]


class BuildFailed(FailedPrecondition):
    """A RUN failed; ``message`` is docker's text (``The command '...' returned a non-zero code: 1``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RunSpec:
    """How a build container runs: argv (already through SHELL), env, user, workdir, network."""

    argv: Sequence[str]
    env: Sequence[str] = ()
    user: str = ""
    workdir: str = ""
    network: str = "default"
    binds: Sequence[Tuple[str, str, bool]] = ()  # (host path, container path, read-only): RUN --mount
    keep: bool = False  # --rm=false: the container stays after its step (not a leftover to remove)


class StepContainer(Protocol):
    """A build container: created (not started) from an image the store holds.

    Lifecycle: ``mount()`` (a rootfs to write into, any number of times) or
    ``run()`` (once), then ``write_changes()``, and always ``remove()``.
    """

    container_id: str

    def mount(self) -> str:
        """The container's rootfs, mounted; write into it only through util/confined.py."""

    def run(self, output: Callable[[bytes], None], cancelled: threading.Event) -> int:
        """Start it, stream its output (stdout and stderr) to output, return its exit code."""

    def write_changes(self, out: IO[bytes]) -> None:
        """Its changes since create as an uncompressed OCI layer tar."""

    def drop_mount_points(self, paths: Sequence[str]) -> None:
        """Forget the empty directories the runtime made for these bind targets (and their new parents)."""

    def remove(self) -> None:
        """Remove it and its rootfs (idempotent)."""


class StepRunner(Protocol):
    """Makes build containers (the engine implements this: engine/build.py)."""

    def create(self, image_id: str, spec: RunSpec) -> StepContainer:
        """A new container of image_id with this run configuration, not started."""


# name, platform, always_pull -> the image (pulled with the build's credentials when missing)
PullFn = Callable[[str, Optional[str], bool], ImageRecord]


@dataclass(frozen=True)
class BuildOptions:
    """POST /build's parameters, decoded."""

    dockerfile: str = "Dockerfile"
    tags: Sequence[str] = ()
    build_args: Dict[str, str] = field(default_factory=dict)
    target: Optional[str] = None
    no_cache: bool = False
    pull: bool = False
    labels: Dict[str, str] = field(default_factory=dict)
    network: str = "default"
    platform: Optional[str] = None
    remove: bool = True
    force_remove: bool = False
    secrets: Dict[str, str] = field(default_factory=dict)  # id -> a file the daemon may bind (never cached)


@dataclass
class _State:
    """A stage between steps: its image config (exact bytes decide the id) and layers."""

    config: ImageConfig
    layers: List[LayerRecord]
    image_id: str
    raw: bytes

    @classmethod
    def of(cls, config: ImageConfig, layers: Sequence[LayerRecord]) -> "_State":
        raw = config.to_bytes()
        return cls(config, list(layers), _digest(raw), raw)

    @classmethod
    def from_entry(cls, entry: CacheEntry) -> "_State":
        return cls(ImageConfig.from_json(json.loads(entry.config)), list(entry.layers), entry.image_id, entry.config)


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


class _Steps:
    """docker's "Step i/n : ..." counter."""

    def __init__(self, total: int, emit: Emit) -> None:
        self.total, self.index, self.emit = total, 0, emit

    def say(self, text: str) -> None:
        self.emit({"stream": text})

    def step(self, text: str) -> None:
        self.index += 1
        self.say(f"Step {self.index}/{self.total} : {text}\n")


class Builder:
    """Builds images from a context directory; one per engine."""

    def __init__(self, store: ImageStore, cache: BuildCache, runner: StepRunner, pull: PullFn,
                 tmp_dir: str) -> None:
        self.store, self.cache, self.runner, self.pull, self.tmp_dir = store, cache, runner, pull, tmp_dir

    def build(self, context: str, dockerfile: Dockerfile, options: BuildOptions, emit: Emit,
              cancelled: threading.Event, ignore: Optional[DockerIgnore] = None) -> ImageRecord:
        """Run the build; tag the result. Raises BuildFailed, InvalidArgument, Unavailable (cancelled)."""
        run = _BuildRun(self, context, dockerfile, options, emit, cancelled,
                        hidden_build_files(ignore or DockerIgnore(), options.dockerfile))
        with self.store.lease():
            return run.execute()


class _BuildRun:
    """One build: the stages' results, the temporary image records to remove at the end."""

    def __init__(self, builder: Builder, context: str, dockerfile: Dockerfile, options: BuildOptions,
                 emit: Emit, cancelled: threading.Event, hidden: Sequence[str]) -> None:
        self.b, self.context, self.df, self.opt = builder, context, dockerfile, options
        self.emit, self.cancelled, self.hidden = emit, cancelled, set(h.strip("/") for h in hidden)
        self.steps = _Steps(0, emit)
        self.stages: Dict[int, _State] = {}
        self.temp_images: List[str] = []
        self.kept_images: Set[str] = set()
        self.cmd_set = False  # a CMD in the current stage so far
        platform = host_platform()
        self.global_args = resolve_global_args(dockerfile, options.build_args,
                                               platform_args(platform.os, platform.architecture,
                                                             platform.variant or ""))

    def execute(self) -> ImageRecord:
        try:
            wanted = self.df.required_stages(self.opt.target, self.global_args)
            # numbered over what is built (docker's classic builder builds every stage)
            self.steps.total = len(self.df.meta_args) + sum(1 + len(s.instructions) for s in wanted)
            for arg in self.df.meta_args:
                self.steps.step(arg.original)
            for stage in wanted:
                self.stages[stage.index] = self._stage(stage)
            final = self.stages[wanted[-1].index]
            return self._finish(final)
        finally:
            for image_id in self.temp_images:
                drop_temp_image(self.b.store, self.b.tmp_dir, image_id, image_id in self.kept_images)

    # -- stages ---------------------------------------------------------------
    def _stage(self, stage: Stage) -> _State:
        self.steps.step(stage.from_.original)
        self.cmd_set = False
        state, escape = self._base(stage), self.df.escape
        svars = StageVars(self.opt.build_args, self.global_args, state.config.config.env or [], escape)
        triggers = list(state.config.config.on_build or [])
        if triggers:
            state = self._replace_config(state, on_build=None)
            self.steps.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                state = self._instruction(stage, state, svars, parse_trigger(text, escape))
        self.steps.say(f" ---> {_short(state.image_id)}\n")
        for instr in stage.instructions:
            self._check_cancelled()
            self.steps.step(instr.original)
            try:
                state = self._instruction(stage, state, svars, instr)
            except RootlessError:
                if not self.cancelled.is_set():  # the error line says what; this says where
                    self.steps.say(f"failed at Dockerfile line {instr.line}: {instr.original}\n")
                raise
            self.steps.say(f" ---> {_short(state.image_id)}\n")
        return state

    def _base(self, stage: Stage) -> _State:
        ref = self.df.resolve_base(stage, self.global_args)
        if ref.stage is not None:
            return self.stages[ref.stage]
        if ref.is_scratch:
            platform = host_platform()
            config = ImageConfig(architecture=platform.architecture, os=platform.os, variant=platform.variant,
                                 config=ContainerConfig(env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                                             "/usr/bin:/sbin:/bin"]),
                                 rootfs=RootFS(type="layers", diff_ids=[]), history=[])
            return _State.of(config, [])
        assert ref.image is not None
        record = self.b.pull(ref.image, stage.from_.platform or self.opt.platform, self.opt.pull)
        raw = self.b.store.read_blob(record.image_id)
        return _State(record.config, list(record.layers), record.image_id, raw)

    def _check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Unavailable("build cancelled: the client went away")

    # -- one instruction -------------------------------------------------------
    def _instruction(self, stage: Stage, state: _State, svars: StageVars, instr: Instruction) -> _State:
        run_args = dict(svars.args_in_use) if isinstance(instr, Run) else {}
        expanded = svars.expand(instr)
        if isinstance(expanded, Arg):
            return state  # a scope change only (docker's classic builder commits nothing either)
        if isinstance(expanded, (Run, Copy, Add)):
            return self._layer_step(stage, state, svars, expanded, run_args)
        created_by = "/bin/sh -c #(nop) " + _text(expanded)
        cmd_set = self.cmd_set  # docker: ENTRYPOINT clears CMD unless this stage set one before
        self.cmd_set = cmd_set or isinstance(expanded, Cmd)
        return self._cached(state, created_by, {"cmd_set": cmd_set} if isinstance(expanded, Entrypoint) else {},
                            lambda: self._metadata(state, expanded, svars, cmd_set))

    def _cached(self, state: _State, created_by: str, extra: Dict[str, Any],
                make: Callable[[], Tuple[ImageConfig, List[LayerRecord], List[LayerRecord]]]) -> _State:
        key = step_key(state.image_id, created_by, extra)
        if not self.opt.no_cache:
            entry = self.b.cache.get(key)
            if entry is not None:
                self.steps.say(" ---> Using cache\n")
                return _State.from_entry(entry)
        config, layers, new_layers = make()
        history = list(config.history or []) + [History(created=rfc3339_now(), created_by=created_by,
                                                        empty_layer=None if new_layers else True)]
        config = replace(config, created=rfc3339_now(), history=history,
                         rootfs=RootFS(type="layers", diff_ids=[layer.diff_id for layer in layers]))
        result = _State.of(config, layers)
        self.b.cache.put(CacheEntry(key, result.raw, result.layers), new_layers)
        return result

    def _replace_config(self, state: _State, **changes: Any) -> _State:
        config = replace(state.config, config=replace(state.config.config, **changes))
        return _State.of(config, state.layers)

    # -- metadata instructions ---------------------------------------------------
    def _metadata(self, state: _State, instr: Instruction, svars: StageVars, cmd_set: bool
                  ) -> Tuple[ImageConfig, List[LayerRecord], List[LayerRecord]]:
        cc = state.config.config
        cc = replace(cc, env=[f"{k}={v}" for k, v in svars.env.items()]) if isinstance(instr, Env) else \
            _apply_metadata(cc, instr)
        if isinstance(instr, Entrypoint) and cmd_set:
            cc = replace(cc, cmd=state.config.config.cmd)
        config = replace(state.config, config=cc)
        if isinstance(instr, Maintainer):
            config = replace(config, author=instr.maintainer)
        return config, list(state.layers), []

    # -- RUN, COPY, ADD ---------------------------------------------------------
    def _layer_step(self, stage: Stage, state: _State, svars: StageVars, instr: Instruction,
                    run_args: Dict[str, str]) -> _State:
        if isinstance(instr, Run):
            argv = self._run_argv(state, instr)
            prefix = f"|{len(run_args)} " + " ".join(f"{k}={v}" for k, v in sorted(run_args.items())) + " " \
                if run_args else ""
            created_by = prefix + " ".join(argv)
            with contextlib.ExitStack() as stack:
                binds, keys = self._mounts(stage, state, instr, stack)
                extra = {"network": instr.network, "env": svars.run_env(), "mounts": keys}
                return self._cached(state, created_by, extra,
                                    lambda: self._run(state, instr, argv, svars.run_env(), binds))
        assert isinstance(instr, (Copy, Add))
        _refuse_urls(instr)
        with self._source_tree(stage, instr) as tree:
            plan = _CopyPlan.make(tree, instr, self.hidden if tree_is_context(instr) else set())
            created_by = f"/bin/sh -c #(nop) {instr.keyword} " + plan.describe()
            return self._cached(state, created_by, {}, lambda: self._copy(state, instr, tree, plan))

    def _run_argv(self, state: _State, instr: Run) -> List[str]:
        shell = tuple(state.config.config.shell or DEFAULT_SHELL)
        argv, script = run_argv(instr, shell)
        if script is not None:
            raise InvalidArgument(f"dockerfile line {instr.line}: a RUN heredoc with a #! line is not supported yet",
                                  hint="drop the #! line to run it with the SHELL")
        return argv

    def _mounts(self, stage: Stage, state: _State, instr: Run, stack: contextlib.ExitStack
                ) -> Tuple[List[Tuple[str, str, bool]], List[List[str]]]:
        """RUN --mount: binds for the container and what of them goes into the cache key."""
        binds: List[Tuple[str, str, bool]] = []
        keys: List[List[str]] = []
        for mount in instr.mounts:
            target = _absolute(mount.target, state.config.config.working_dir)
            if mount.type == "cache":
                cache_id = mount.cache_id or target
                binds.append((self.b.cache.mount_dir(cache_id, mount.uid or 0, mount.gid or 0,
                                                     0o755 if mount.mode is None else mount.mode),
                              target, mount.readonly))
                keys.append(["cache", cache_id, target, str(mount.readonly)])
            elif mount.type == "bind":
                host, key = self._bind_source(stage, instr, mount.from_ref, mount.source, stack)
                if not mount.readonly:
                    raise InvalidArgument(f"dockerfile line {instr.line}: RUN --mount=type=bind,rw: not supported",
                                          hint="bind mounts are read-only here; copy what you change")
                binds.append((host, target, True))
                keys.append(["bind", key, target])
            elif mount.type == "secret":
                binds += self._secret(instr, mount)
            else:
                raise InvalidArgument(f"dockerfile line {instr.line}: RUN --mount=type={mount.type}: not supported",
                                      hint="type=cache, type=bind and type=secret are")
        return binds, keys

    def _secret(self, instr: Run, mount: Any) -> List[Tuple[str, str, bool]]:
        """A secret file bound read-only (not in the cache key, as BuildKit: its content never is)."""
        secret_id = mount.cache_id or mount.source or os.path.basename(mount.target)
        if mount.env:
            raise InvalidArgument(f"dockerfile line {instr.line}: RUN --mount=type=secret,env=: not supported")
        host = self.opt.secrets.get(secret_id)
        if host is None:
            if mount.required:
                raise InvalidArgument(f"dockerfile line {instr.line}: secret {secret_id} not found",
                                      hint=f"give it: rootless build --secret id={secret_id},src=FILE")
            return []
        os.chown(host, mount.uid or 0, mount.gid or 0)
        os.chmod(host, 0o400 if mount.mode is None else mount.mode)  # BuildKit's defaults: root, 0400
        return [(host, mount.target or f"/run/secrets/{secret_id}", True)]

    def _bind_source(self, stage: Stage, instr: Run, from_ref: str, source: str,
                     stack: contextlib.ExitStack) -> Tuple[str, str]:
        """The host path to bind (no symlink on its way) and its cache key (content or image)."""
        tree = stack.enter_context(self._tree(stage, from_ref, instr.line))
        path = "/" + (source or "/").strip("/")
        try:
            with confined.Root(tree.path, symlinks=False) as plain:
                # the kernel follows links when it binds: none on the way (ELOOP) nor at the end
                if stat.S_ISLNK(plain.lstat(path).st_mode):
                    raise OSError(errno.ELOOP, "is a symbolic link")
        except OSError as exc:
            raise InvalidArgument(f"dockerfile line {instr.line}: RUN --mount source {source or '/'}: "
                                  f"{exc.strerror or exc}") from None
        host = os.path.join(tree.path, path.lstrip("/")).rstrip("/") or tree.path
        if from_ref:
            ref = self.df.resolve_ref(from_ref, stage.index, instr.line)
            origin = self.stages[ref.stage].image_id if ref.stage is not None else str(ref.image)
            return host, f"{origin}:{path}"
        return host, copying.hash_items(tree, list(copying.expand_item(tree, path)))

    def _run(self, state: _State, instr: Run, argv: List[str], env: List[str],
             binds: Sequence[Tuple[str, str, bool]] = ()) -> Tuple[ImageConfig, List[LayerRecord], List[LayerRecord]]:
        network = instr.network if instr.network != "default" else self.opt.network
        spec = RunSpec(argv, env, state.config.config.user or "", state.config.config.working_dir or "",
                       network or "default", tuple(binds))
        with self._container(state, spec, announce=True) as container:
            self.steps.say(f" ---> Running in {container.container_id[:12]}\n")
            code = container.run(lambda data: self.steps.say(data.decode("utf-8", "replace")), self.cancelled)
            self._check_cancelled()
            if code != 0:
                raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {code}", code)
            if binds:
                container.drop_mount_points([target for _, target, _ in binds])
            layer = self._commit_changes(container)
        return state.config, state.layers + [layer], [layer]

    def _copy(self, state: _State, instr: Any, tree: confined.Root, plan: "_CopyPlan"
              ) -> Tuple[ImageConfig, List[LayerRecord], List[LayerRecord]]:
        spec = RunSpec(["/bin/sh", "-c", "#(nop) " + instr.keyword], (), "", "", "none")
        with self._container(state, spec) as container:
            rootfs = container.mount()
            with confined.Root(rootfs) as target:
                owner = _ownership(rootfs, instr)
                plan.apply(tree, target, _absolute(instr.dest, state.config.config.working_dir), owner,
                           isinstance(instr, Add))
            layer = self._commit_changes(container)
        return state.config, state.layers + [layer], [layer]

    @contextlib.contextmanager
    def _container(self, state: _State, spec: RunSpec, announce: bool = False) -> Iterator[StepContainer]:
        """A build container: removed, unless its step succeeded and --rm=false asked to keep it.

        A kept container keeps its image (docker's intermediate image, untagged) too.
        """
        keep = announce and not (self.opt.remove or self.opt.force_remove)
        image_id = self._as_image(state)
        container = self.b.runner.create(image_id, replace(spec, keep=keep))
        try:
            yield container
        except BaseException:
            container.remove()
            raise
        if keep:
            self.kept_images.add(image_id)
            return
        container.remove()
        if announce:
            self.steps.say(f"Removing intermediate container {container.container_id[:12]}\n")

    def _commit_changes(self, container: StepContainer) -> LayerRecord:
        with tempfile.TemporaryFile(dir=self.b.tmp_dir) as spool:
            container.write_changes(spool)
            spool.seek(0)
            return image_commit.write_layer(self.b.store, spool)

    def _as_image(self, state: _State) -> str:
        """Record the state as an (untagged) image so a container can be made of it.

        Journalled first (temp_image_path): a daemon killed mid-build leaves no <none> image.
        """
        if self.b.store.exists(state.image_id):
            return state.image_id
        fs.ensure_dir(os.path.dirname(temp_image_path(self.b.tmp_dir, state.image_id)))
        fs.atomic_write(temp_image_path(self.b.tmp_dir, state.image_id), b"")
        self.temp_images.append(state.image_id)
        self._record(state)
        return state.image_id

    def _record(self, state: _State, repo_tag: Optional[str] = None) -> ImageRecord:
        for layer in state.layers:
            if not self.b.cache.restore_blob(layer.digest):
                raise FailedPrecondition(f"can't record image: layer {layer.digest} is gone",
                                         hint="build again with --no-cache")
        config_digest = self.b.store.put_blob(state.raw)
        manifest = image_commit.put_manifest(self.b.store, config_digest, state.layers)
        return self.b.store.add_image(manifest, MT_OCI_MANIFEST, config_digest, state.layers, repo_tag=repo_tag)

    def _source_tree(self, stage: Stage, instr: Any) -> Any:
        return self._tree(stage, getattr(instr, "from_ref", None) or "", instr.line)

    @contextlib.contextmanager
    def _tree(self, stage: Stage, from_ref: str, line: int) -> Iterator[confined.Root]:
        """The context, or the rootfs of a stage or image (mounted in a build container)."""
        if not from_ref:
            with confined.Root(self.context, symlinks=False) as tree:
                yield tree
            return
        ref = self.df.resolve_ref(from_ref, stage.index, line)
        if ref.stage is not None:
            if ref.stage not in self.stages:
                raise InvalidArgument(f"--from={from_ref}: stage {ref.stage} was not built")
            source = self.stages[ref.stage]
        else:
            assert ref.image is not None
            record = self.b.pull(ref.image, self.opt.platform, False)
            source = _State(record.config, list(record.layers), record.image_id, b"")
        spec = RunSpec(["/bin/true"], (), "", "", "none")
        with self._container(source, spec) as container, confined.Root(container.mount()) as tree:
            yield tree

    # -- the end ---------------------------------------------------------------
    def _finish(self, state: _State) -> ImageRecord:
        if self.opt.labels:
            labels = {**(state.config.config.labels or {}), **self.opt.labels}
            state = _State.of(replace(state.config, config=replace(state.config.config, labels=labels)),
                              state.layers)
        self.temp_images = [i for i in self.temp_images if i != state.image_id]
        tags = list(self.opt.tags)
        record = self._record(state)
        for tag in tags:
            self.b.store.tag(record.image_id, tag)
        self.emit({"aux": {"ID": record.image_id}})
        self.steps.say(f"Successfully built {_short(record.image_id)}\n")
        return record


def temp_image_path(tmp_dir: str, image_id: str) -> str:
    return os.path.join(tmp_dir, "build-images", image_id.replace(":", "-"))


def drop_temp_image(store: ImageStore, tmp_dir: str, image_id: str, keep: bool = False) -> None:
    """Remove an image a build recorded for its containers, unless someone tagged it meanwhile."""
    with contextlib.suppress(RootlessError, OSError):
        record = store.get(image_id)
        if not keep and not record.repo_tags and not record.repo_digests:
            store.remove(image_id)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp_image_path(tmp_dir, image_id))


def drop_leftover_temp_images(store: ImageStore, tmp_dir: str, in_use: Callable[[str], bool]) -> None:
    """At daemon start: the temporary images of builds a killed daemon left."""
    directory = os.path.dirname(temp_image_path(tmp_dir, "x"))
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        image_id = name.replace("-", ":", 1)
        if not in_use(image_id):
            drop_temp_image(store, tmp_dir, image_id)


def _refuse_urls(instr: Any) -> None:
    for source in instr.sources:
        if "://" in source or source.startswith("git@"):
            raise InvalidArgument(f"dockerfile line {instr.line}: {instr.keyword} {source}: downloading URLs is "
                                  "not supported: the builder has no network access of its own",
                                  hint="download the file into the build context and COPY it")


def tree_is_context(instr: Any) -> bool:
    return not getattr(instr, "from_ref", None)


def _text(instr: Instruction) -> str:
    """The expanded instruction as history shows it (docker: "#(nop) ENV A=b")."""
    fields = {k: v for k, v in asdict(instr).items() if k not in ("line", "end_line", "original")}
    if isinstance(instr, (Env, Label)):
        return f"{instr.keyword} " + " ".join(f"{k}={v}" for k, v in instr.pairs)
    if isinstance(instr, (Cmd, Entrypoint, Shell)):
        return f"{instr.keyword} {json.dumps(list(fields.get('command', fields.get('shell', ()))))}"
    return f"{instr.keyword} {json.dumps(fields, sort_keys=True, default=str)}"


def _command(state_shell: Optional[List[str]], command: Sequence[str], shell_form: bool) -> List[str]:
    if shell_form:
        return list(state_shell or DEFAULT_SHELL) + [command[0]]
    return list(command)


def _apply_metadata(cc: ContainerConfig, instr: Instruction) -> ContainerConfig:
    if isinstance(instr, Cmd):
        return replace(cc, cmd=_command(cc.shell, instr.command, instr.shell_form))
    if isinstance(instr, Entrypoint):
        entrypoint = _command(cc.shell, instr.command, instr.shell_form) if instr.command else None
        return replace(cc, entrypoint=entrypoint, cmd=None)  # the base's CMD goes (see _BuildRun.cmd_set)
    if isinstance(instr, Label):
        return replace(cc, labels={**(cc.labels or {}), **dict(instr.pairs)})
    if isinstance(instr, Expose):
        ports: Dict[str, Any] = {(p if "/" in p else p + "/tcp"): {} for p in instr.ports}
        return replace(cc, exposed_ports={**(cc.exposed_ports or {}), **ports})
    if isinstance(instr, Volume):
        return replace(cc, volumes={**(cc.volumes or {}), **{p: {} for p in instr.paths}})
    if isinstance(instr, User):
        return replace(cc, user=instr.user)
    if isinstance(instr, Workdir):
        return replace(cc, working_dir=_absolute(instr.path, cc.working_dir))
    if isinstance(instr, StopSignal):
        return replace(cc, stop_signal=instr.signal)
    if isinstance(instr, Shell):
        return replace(cc, shell=list(instr.shell))
    if isinstance(instr, Onbuild):
        return replace(cc, on_build=list(cc.on_build or []) + [instr.expression])
    if isinstance(instr, Healthcheck):
        return replace(cc, healthcheck=_healthcheck(instr))
    if isinstance(instr, Maintainer):
        return cc
    raise InvalidArgument(f"dockerfile line {instr.line}: {instr.keyword} is not supported")


def _healthcheck(instr: Healthcheck) -> Dict[str, Any]:
    if tuple(instr.test) == ("NONE",):
        return {"Test": ["NONE"]}
    out: Dict[str, Any] = {"Test": list(instr.test)}
    for key, value in (("Interval", instr.interval), ("Timeout", instr.timeout),
                       ("StartPeriod", instr.start_period), ("StartInterval", instr.start_interval),
                       ("Retries", instr.retries)):
        if value:
            out[key] = value
    return out


def _absolute(path: str, workdir: Optional[str]) -> str:
    if path.startswith("/"):
        return path
    base = (workdir or "/").rstrip("/")
    joined = f"{base}/{path}"
    # keep a trailing slash: it says "a directory" to COPY
    return joined if joined.startswith("/") else "/" + joined


def _ownership(rootfs: str, instr: Any) -> copying.Ownership:
    mode = None
    if instr.chmod:
        try:
            mode = int(instr.chmod, 8)
        except ValueError:
            raise InvalidArgument(f"dockerfile line {instr.line}: invalid --chmod={instr.chmod}: "
                                  "only octal modes are supported") from None
    if not instr.chown:
        return copying.Ownership(0, 0, mode)
    user, _, group = instr.chown.partition(":")
    resolved = users.resolve_user(rootfs, f"{user}:{group or user}" if group or not user.isdigit()
                                  else f"{user}:{user}")
    return copying.Ownership(resolved.uid, resolved.gid, mode)


@dataclass
class _CopyPlan:
    """The sources of one COPY/ADD, matched and hashed before the cache lookup."""

    instr: Any
    matches: List[Tuple[str, List[str]]]
    items: List[copying.SourceItem]
    digest: str

    @classmethod
    def make(cls, tree: confined.Root, instr: Any, hidden: Any) -> "_CopyPlan":
        matches = []
        for source in instr.sources:
            found = [p for p in copying.match_sources(tree, source) if p.strip("/") not in hidden]
            matches.append((source, found))
        copying.check_sources(instr.sources, matches)
        items = [item for _, found in matches for path in found for item in copying.expand_item(tree, path)
                 if item.path.strip("/") not in hidden]
        inline = [(doc.name, doc.data) for doc in instr.inline]
        digest = copying.hash_items(tree, items)
        if inline:
            digest = _digest(json.dumps([digest, inline]).encode())
        return cls(instr, matches, items, digest)

    def describe(self) -> str:
        flags = "".join(f"--{k}={getattr(self.instr, k)} " for k in ("chown", "chmod") if getattr(self.instr, k))
        source = f"from={self.instr.from_ref} " if getattr(self.instr, "from_ref", None) else ""
        return f"{flags}{source}{self.digest} in {self.instr.dest}"

    def apply(self, tree: confined.Root, target: confined.Root, dest: str, owner: copying.Ownership,
              is_add: bool) -> None:
        many = sum(len(found) for _, found in self.matches) + len(self.instr.inline) > 1
        dest_is_dir = dest.endswith("/") or many or copying.is_dir_in(target, dest)
        if many and not dest.endswith("/") and not copying.is_dir_in(target, dest):
            raise InvalidArgument(f"dockerfile line {self.instr.line}: When using COPY with more than one "
                                  "source file, the destination must be a directory and end with a /")
        for item in self.items:
            if is_add and item.rel == "" and os.path.basename(item.path) and _is_file(item) \
                    and copying.is_archive(tree, item.path):
                copying.extract_archive(tree, item.path, target, dest, (owner.uid, owner.gid) if self.instr.chown else None)
                continue
            copying.copy_item(tree, item, target, copying.destination_of(item, dest, dest_is_dir), owner)
        for doc in self.instr.inline:
            self._write_inline(target, dest if not dest_is_dir else dest.rstrip("/") + "/" + doc.name,
                               doc.data, owner)

    @staticmethod
    def _write_inline(target: confined.Root, path: str, data: str, owner: copying.Ownership) -> None:
        parent_path, name = confined.split(path)
        with confined.closing(target.makedirs(parent_path)) as parent, \
                os.fdopen(confined.create_file(parent, name, 0o600), "wb") as out:
            out.write(data.encode("utf-8"))
            out.flush()
            os.fchown(out.fileno(), owner.uid, owner.gid)
            os.fchmod(out.fileno(), owner.mode if owner.mode is not None else 0o644)


def _is_file(item: copying.SourceItem) -> bool:
    return stat.S_ISREG(item.info.st_mode)
