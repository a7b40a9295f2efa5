"""The image use cases behind /images/*: pull, push, tag, remove, inspect, list, prune, login.

Names arrive in docker's short forms ("busybox", "127.0.0.1:5000/app:1", an id
prefix); the store keys tags by the full form (docker.io/library/busybox:latest)
and the API answers in the familiar form again, as docker does.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, Generator, Iterator, List, Optional, Tuple

from rootless.config import Settings
from rootless.config.settings import parse_reserve
from rootless.engine.events import EventBus
from rootless.engine import progress as prog
from rootless.engine.image_pull import PullJob, inspect_distribution, parse_platform, resolve
from rootless.engine.image_push import PushJob
from rootless.errors import Conflict, FailedPrecondition, Internal, InvalidArgument, NotFound, RootlessError, Unauthorized
from rootless.images import layer_dirs, layers, squash_store
from rootless.images.archive import SaveItem, import_rootfs, load_archive, save_archive
from rootless.images.crashpoint import crash_point
from rootless.images.diskspace import NoSpace
from rootless.images.reference import Reference, parse_reference
from rootless.images.site_store import SiteFile, SiteStore, image_meta, is_site_image
from rootless.images.store import ImageRecord, ImageStore
from rootless.registry.auth import Credentials, DockerConfig, normalise_server
from rootless.registry.client import RegistryClient
from rootless.runtime.storage.squashfs import OUTPUT_PREFIX, make_squashfs, remove_leftovers
from rootless.util import fs
from rootless.wire import filters as f
from rootless.wire import versions
from rootless.wire.times import NS, parse_rfc3339_ns

logger = logging.getLogger(__name__)

_FULL_ID_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{64}$")
_ZERO_TIME = "0001-01-01T00:00:00Z"
# (container id, running) for every container created from an image id.
ImageUsers = Callable[[str], List[Tuple[str, bool]]]


def created_unix(created: str) -> int:
    """RFC 3339 (nanoseconds allowed) to unix seconds; 0 when unparsable."""
    try:
        return parse_rfc3339_ns(created) // NS
    except InvalidArgument:
        return 0


def familiar(full: str) -> str:
    """A store key in docker's short form (docker.io/library/busybox:latest -> busybox:latest)."""
    try:
        return parse_reference(full, default_tag=None).familiar()
    except RootlessError:
        return full


class _SpaceReturningPullJob(PullJob):
    """A pull that gives the disk back when it filled up: none of its blobs or layers stays behind.

    What it committed is unreferenced once it failed; a garbage collection
    (skipped while another pull, load or build holds a lease: the next one
    then takes it) removes it, so a retry after freeing space starts clean.
    """

    def events(self) -> Generator[prog.Event, None, None]:
        try:
            yield from super().events()
        except NoSpace:
            self.store.garbage_collect(wait=False)
            raise


@dataclass(frozen=True)
class RemoveResult:
    """The body of DELETE /images/{name}: [{"Untagged": ...}, {"Deleted": ...}]."""

    items: List[Dict[str, str]]


class ImageService:
    """Image operations; one per Engine."""

    def __init__(self, store: ImageStore, settings: Settings, events: EventBus,
                 docker_config: Optional[DockerConfig] = None) -> None:
        self.store = store
        self.settings = settings
        self.events = events
        self.docker_config = docker_config or DockerConfig()
        store.reserve = parse_reserve(settings.storage_reserve)
        # The container service replaces this so that rmi refuses images in use.
        self.image_users: ImageUsers = lambda image_id: []
        # The runtime replaces this: the squashfuse mounts of an image file that rmi deleted go.
        self.forget_file: Callable[[str], object] = lambda path: None
        # Read-only site images (issue 15), approved by the daemon at start; the user's store wins.
        self.site = SiteStore([SiteFile.from_json(item) for item in settings.site_images])
        remove_leftovers(store.paths.tmp)  # the store lock is ours: a killed export's files go

    # -- names ---------------------------------------------------------------
    def parse(self, name: str, default_tag: Optional[str] = "latest") -> Reference:
        return parse_reference(name, self.settings.default_registry, default_tag)

    def _store_key(self, name: str) -> Optional[str]:
        """The full form the store knows name by, or None when name is no reference."""
        if _FULL_ID_RE.match(name):
            return None
        try:
            ref = self.parse(name)
        except InvalidArgument:
            return None
        return str(ref.with_digest(ref.digest)) if ref.digest else str(ref)

    def get(self, name: str) -> ImageRecord:
        """Resolve a tag, repo digest, id or id prefix to an image.

        Raises:
            NotFound: "No such image: <name>".
        """
        key = self._store_key(name)
        if key is not None and self.store.exists(key):
            return self.store.get(key)
        if self.store.exists(name):
            return self.store.get(name)
        site = (self.site.find(key) if key is not None else None) or self.site.find(name)
        if site is not None:
            return site
        raise NotFound(f"No such image: {familiar(key) if key else name}")

    def is_site_image(self, name: Optional[str]) -> bool:
        """Whether name resolves to an image of a read-only site store (False when it resolves to none)."""
        try:
            return bool(name) and is_site_image(self.get(str(name)))
        except RootlessError:
            return False  # create says what is wrong with the name

    def exists(self, name: str) -> bool:
        try:
            self.get(name)
        except NotFound:
            return False
        return True

    # -- registry access -----------------------------------------------------
    def registry_client(self, credentials: Optional[Credentials] = None) -> RegistryClient:
        """A client using these credentials (a request's: api/registry_auth.py), else the docker config's."""

        def provider(registry: str) -> Optional[Credentials]:
            return credentials if credentials is not None else self.docker_config.credentials(registry)

        return RegistryClient(self.settings.insecure_registries, self.settings.registry_mirrors, provider,
                              stall_timeout=self.settings.pull_stall_timeout)

    def pull(self, from_image: str, tag: Optional[str] = None, platform: Optional[str] = None,
             credentials: Optional[Credentials] = None) -> PullJob:
        """Resolve the manifest now (errors surface as HTTP statuses); job.events() does the rest.

        Raises:
            NotFound: manifest unknown. Unauthorized, Unavailable: registry access.
        """
        ref = self._pull_reference(from_image, tag)
        client = self.registry_client(credentials)
        try:
            resolved = resolve(client, ref, parse_platform(platform))
        except Unauthorized as exc:
            client.close()
            # moby answers 404 here (distribution/errors.go translatePullError); a 401
            # would make the docker CLI prompt for a password.
            raise NotFound(f"pull access denied for {ref.familiar_name}, repository does not exist or "
                           f"may require 'docker login': {exc.message}", hint=exc.hint) from exc
        except BaseException:
            client.close()
            raise
        return _SpaceReturningPullJob(self.store, client, resolved, on_done=self._pulled)

    def inspect_distribution(self, name: str, credentials: Optional[Credentials] = None) -> Dict[str, Any]:
        """GET /distribution/{name}/json: name's descriptor and platforms, asked of its registry now.

        Raises:
            InvalidArgument: name is no reference. Internal: name is a full image id (dockerd: 500).
            NotFound: manifest unknown. Unauthorized: the registry wants (other) credentials.
        """
        if _FULL_ID_RE.match(name):
            raise Internal("no manifest found for full image ID",
                           hint="name the image by repository and tag or digest")
        ref = self.parse(name)
        client = self.registry_client(credentials)
        try:
            return inspect_distribution(client, ref)
        finally:
            client.close()

    def _pull_reference(self, from_image: str, tag: Optional[str]) -> Reference:
        ref = self.parse(from_image, default_tag=None)
        if tag and tag.startswith("sha256:"):
            return ref.with_digest(tag)
        if tag:
            return ref.with_tag(tag)
        return ref if ref.tag or ref.digest else ref.with_tag("latest")

    def _pulled(self, job: PullJob) -> None:
        if job.record is not None:
            self.keep_as_file(job.record)
            self.events.publish("image", "pull", job.ref.familiar(), name=job.ref.familiar())

    def pull_image(self, name: str, platform: Optional[str] = None) -> ImageRecord:
        """Pull without progress (build's FROM, create's auto-pull); returns the record."""
        job = self.pull(name, platform=platform)
        for _ in job.events():
            pass
        assert job.record is not None
        return job.record

    def push(self, name: str, tag: Optional[str] = None, credentials: Optional[Credentials] = None) -> PushJob:
        """Plan a push of name (every tag of its repository when neither name nor tag has one).

        Raises:
            NotFound: no such local image.
        """
        ref = self.parse(name, default_tag=None)
        if tag:
            ref = ref.with_tag(tag)
        refs = [ref] if ref.tag else self._tags_of_repository(ref)
        if not self.exists(str(refs[0])):
            raise NotFound(f"An image does not exist locally with the tag: {refs[0].familiar()}")
        record = self.get(str(refs[0]))
        self._refuse_site_image(record, "push")
        for other in refs[1:]:
            if self.get(str(other)).image_id != record.image_id:
                raise InvalidArgument(f"push {ref.familiar_name}: its tags name different images",
                                      hint="push one tag at a time")
        return PushJob(self.store, self.registry_client(credentials), record, refs, on_pushed=self._pushed)

    def _tags_of_repository(self, ref: Reference) -> List[Reference]:
        found = [parse_reference(t) for r in self.store.list() for t in r.repo_tags]
        refs = [r for r in found if r.name == ref.name]
        if not refs:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}",
                           hint="tag an image with this repository name first")
        return refs

    def _pushed(self, ref: Reference, digest: str) -> None:
        record = self.get(str(ref))
        self.store.add_image(record.manifest_digest, record.manifest_media_type, record.image_id,
                             record.layers, repo_digest=f"{ref.name}@{digest}")
        self.events.publish("image", "push", ref.familiar(), name=ref.familiar())

    def login(self, username: str, password: str, server: Optional[str] = None,
              store: bool = False) -> Dict[str, str]:
        """POST /auth: check credentials against the registry.

        docker's CLI stores credentials itself; store=True (rootless's CLI, which
        runs as the same user) saves them in ~/.docker/config.json here, the
        identity token in place of the password when the registry issued one.

        Raises:
            Unauthorized: the registry refused them.
        """
        registry = normalise_server(server or "docker.io")
        client = self.registry_client()
        try:
            token = client.check_login(registry, username, password)
        finally:
            client.close()
        if store:
            creds = Credentials(identity_token=token) if token else Credentials(username, password)
            self.docker_config.store(registry, creds)
        return {"Status": "Login Succeeded", "IdentityToken": token or ""}

    def logout(self, server: Optional[str] = None) -> Dict[str, Any]:
        """Forget stored credentials (rootless's CLI; docker's does this client-side)."""
        registry = normalise_server(server or "docker.io")
        return {"Registry": registry, "Removed": self.docker_config.erase(registry)}

    # -- local operations ------------------------------------------------------
    def tag(self, source: str, repo: str, tag: Optional[str] = None) -> ImageRecord:
        """Point repo:tag (tag defaults to latest) at source."""
        record = self.get(source)
        self._refuse_site_image(record, "tag")
        target = self.parse(repo, default_tag=None)
        if target.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {repo}")
        target = target.with_tag(tag or target.tag or "latest")
        updated = self.store.tag(record.image_id, str(target))
        self.events.publish("image", "tag", record.image_id, name=target.familiar())
        return updated

    def remove(self, name: str, force: bool = False, prune: bool = True) -> List[Dict[str, str]]:
        """DELETE /images/{name}: untag, and delete the image once nothing names it.

        Follows moby's daemon/images/image_delete.go. Unlike docker, a forced
        removal of an image that containers use only untags it: their layers stay.

        Raises:
            NotFound: no such image. Conflict: in use by a container, or an id
            naming an image with several tags (without force).
        """
        record = self.get(name)
        self._refuse_site_image(record, "remove")
        key = self._store_key(name)
        users = self.image_users(record.image_id)
        items: List[Dict[str, str]] = []
        if key is not None and key in record.repo_tags + record.repo_digests:
            if users and not force and _is_single_reference(record):
                raise Conflict(f'conflict: unable to remove repository reference "{name}" (must force) - '
                               f"container {users[0][0][:12]} is using its referenced image {record.short_id}")
            items = self._untag_reference(record, key)
            record = self.store.get(record.image_id)
            if record.repo_tags or record.repo_digests:
                return items
        elif _is_single_reference(record):
            self._check_conflicts(record, users, force, ignore_references=True)
            items = [self._untag(record, k) for k in record.repo_tags + record.repo_digests]
            record = self.store.get(record.image_id)
        return items + self._delete(record, users, force, prune)

    @staticmethod
    def _refuse_site_image(record: ImageRecord, verb: str) -> None:
        """Site images are read-only: shared by every user of the host (issue 15)."""
        if is_site_image(record):
            raise FailedPrecondition(
                f"can't {verb} image: {record.short_id}: it is in a read-only additional image store "
                f"({getattr(record, 'squashfs', '')})",
                hint="pull the image to have a copy of your own; an admin manages the site store")

    def _untag_reference(self, record: ImageRecord, key: str) -> List[Dict[str, str]]:
        """Untag key; a repository's last tag takes that repository's digest references along."""
        items = [self._untag(record, key)]
        ref = parse_reference(key, default_tag=None)
        if ref.digest:
            return items
        remaining = [parse_reference(t) for t in record.repo_tags if t != key]
        if any(other.name == ref.name for other in remaining):
            return items
        for digest_ref in record.repo_digests:
            if parse_reference(digest_ref, default_tag=None).name == ref.name:
                items.append(self._untag(record, digest_ref))
        return items

    def _delete(self, record: ImageRecord, users: List[Tuple[str, bool]], force: bool,
                prune: bool) -> List[Dict[str, str]]:
        self._check_conflicts(record, users, force)
        items = [self._untag(record, k) for k in record.repo_tags + record.repo_digests]
        if users:
            return items  # forced: the names go, the image stays for its containers
        self.store.remove(record.image_id)
        crash_point("rmi:after-record-removed")  # garbage stays unreferenced until the next collection
        if squash_store.remove_file(self.store.paths.root, record.image_id):  # a killed rmi's: settle() does
            self.forget_file(squash_store.image_file(self.store.paths.root, record.image_id))
        self.events.publish("image", "delete", record.image_id, name=record.image_id)
        items.append({"Deleted": record.image_id})
        if prune:
            self.store.garbage_collect()
        return items

    @staticmethod
    def _check_conflicts(record: ImageRecord, users: List[Tuple[str, bool]], force: bool,
                         ignore_references: bool = False) -> None:
        running = [cid for cid, is_running in users if is_running]
        if running:
            raise Conflict(f"conflict: unable to delete {record.short_id} (cannot be forced) - "
                           f"image is being used by running container {running[0][:12]}")
        if force:
            return
        if users:
            raise Conflict(f"conflict: unable to delete {record.short_id} (must be forced) - "
                           f"image is being used by stopped container {users[0][0][:12]}")
        if not ignore_references and (record.repo_tags or record.repo_digests):
            raise Conflict(f"conflict: unable to delete {record.short_id} (must be forced) - "
                           "image is referenced in multiple repositories")

    def _untag(self, record: ImageRecord, key: str) -> Dict[str, str]:
        self.store.untag(key)
        self.events.publish("image", "untag", record.image_id, name=familiar(key))
        return {"Untagged": familiar(key)}

    def prune(self, filters: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
        """POST /images/prune: remove dangling (with dangling=false, all unused) images.

        Filters as moby's: dangling (default true), label, label!, until; others are refused.
        """
        filters = filters or {}
        f.validate(filters, PRUNE_FILTERS)
        dangling_only = f.get_bool(filters, "dangling", default=True)
        until_ns = f.get_until_ns(filters)
        deleted: List[Dict[str, str]] = []
        for record in self.store.list():
            if (record.repo_tags and dangling_only) or self.image_users(record.image_id):
                continue
            if not f.match_labels(filters, image_labels(record)):
                continue
            if until_ns is not None and created_unix(record.created) * NS > until_ns:
                continue
            deleted += [self._untag(record, k) for k in record.repo_tags + record.repo_digests]
            self.store.remove(record.image_id)
            self.events.publish("image", "delete", record.image_id, name=record.image_id)
            deleted.append({"Deleted": record.image_id})
        reclaimed = self.store.garbage_collect()
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # -- archives ----------------------------------------------------------------
    def save(self, names: List[str]) -> Iterator[bytes]:
        """GET /images/get: resolve every name first (NotFound before streaming), then the tar.

        A name that is a tag saves the image under that tag; an id saves it with all its tags.
        """
        items: Dict[str, Tuple[ImageRecord, List[str]]] = {}
        for name in names:
            record = self.get(name)
            self._refuse_site_image(record, "save")
            key = self._store_key(name)
            _, tags = items.setdefault(record.image_id, (record, []))
            wanted = [key] if key in record.repo_tags else list(record.repo_tags)
            tags.extend(t for t in wanted if t not in tags)
        if not items:
            raise InvalidArgument("save: no images given")
        for image_id in items:
            self.events.publish("image", "save", image_id, name=image_id)
        chosen: List[SaveItem] = list(items.values())
        return save_archive(self.store, chosen)

    def load(self, stream: IO[bytes], quiet: bool = False) -> Iterator[Dict[str, Any]]:
        """POST /images/load: {"stream": "Loaded image: ..."} per image."""
        with self._returning_space():
            loaded_images = load_archive(self.store, stream)
        for loaded in loaded_images:
            record = loaded.record
            self.keep_as_file(record)
            self.events.publish("image", "load", record.image_id, name=record.image_id)
            names = [familiar(t) for t in loaded.tags]
            lines = [f"Loaded image: {n}" for n in names] or [f"Loaded image ID: {record.image_id}"]
            for line in lines:
                yield {"stream": line + "\n"}

    def import_image(self, stream: IO[bytes], repo: Optional[str], tag: Optional[str],
                     message: str = "", changes: Optional[List[str]] = None) -> Dict[str, Any]:
        """POST /images/create?fromSrc=-: a rootfs tarball as a one-layer image."""
        full = None
        if repo:
            ref = self.parse(repo, default_tag=None)
            full = str(ref.with_tag(tag or ref.tag or "latest"))
        with self._returning_space():
            record = import_rootfs(self.store, stream, full, changes or [], message)
        self.keep_as_file(record)
        self.events.publish("image", "import", record.image_id, name=record.image_id)
        return {"status": record.image_id}

    @contextlib.contextmanager
    def _returning_space(self) -> Iterator[None]:
        """When the disk fills, collect what the failed load or import stored (it is unreferenced)."""
        try:
            yield
        except NoSpace:
            self.store.garbage_collect(wait=False)
            raise

    # -- views -----------------------------------------------------------------
    def image_size(self, record: ImageRecord) -> int:
        """Unpacked size when the layers are unpacked (docker reports that), else the blobs'."""
        return sum(layer_dirs.unpacked_size(self.store.paths, c) for c in record.chain_ids) or record.size

    def inspect(self, name: str, api_version: str = "1.44") -> Dict[str, Any]:
        """GET /images/{name}/json.

        Raises:
            NotFound: no such image.
        """
        record = self.get(name)
        return inspect_json(record, self.image_size(record), api_version)

    def history(self, name: str) -> List[Dict[str, Any]]:
        """GET /images/{name}/history, newest first."""
        record = self.get(name)
        sizes = [layer_dirs.unpacked_size(self.store.paths, chain) or layer.size
                 for layer, chain in zip(record.layers, record.chain_ids)]
        return history_json(record, sizes)

    def list(self, filters: Optional[Dict[str, List[str]]] = None, digests: bool = True,
             api_version: str = "1.44") -> List[Dict[str, Any]]:
        """GET /images/json; site images carry podman's "ReadOnly": true."""
        records = filter_images(self, self.all_records(), filters or {})
        return [dict(summary_json(r, self.image_size(r), api_version), **({"ReadOnly": True} if is_site_image(r)
                                                                         else {})) for r in records]

    def all_records(self) -> List[ImageRecord]:
        """The user's images, then the site images the user has no copy of."""
        own = self.store.list()
        ids = {r.image_id for r in own}
        return own + [r for r in self.site.list() if r.image_id not in ids]

    def count(self) -> int:
        return len(self.all_records())

    def export_squashfs(self, name: str) -> Iterator[bytes]:
        """GET /images/{name}/squashfs (a rootless extension): the image as one squashfs file (issue 15).

        Made before the first byte is sent, so a failure is an error response.

        Raises:
            NotFound: no such image. ToolError: mksquashfs failed or is missing.
        """
        record = self.get(name)
        if is_site_image(record):
            return _stream_file(getattr(record, "squashfs"), remove=False)
        lowers = layers.ensure_unpacked(self.store, record)
        tmp = self.store.paths.tmp
        fs.ensure_dir(tmp)
        out = os.path.join(tmp, f"{OUTPUT_PREFIX}{os.urandom(8).hex()}.sqfs")
        try:
            make_squashfs(lowers, image_meta(record), out, tmp)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out)
            raise
        self.release_layers(record)  # unpacked again for the export
        self.events.publish("image", "export", record.image_id, name=record.image_id)
        return _stream_file(out, remove=True)

    def keep_as_file(self, record: ImageRecord) -> None:
        """image_format = "squashfs" (issue 15): the image becomes one squashfs file, its layer dirs go.

        Raises:
            ToolError: mksquashfs failed or is missing (the image stays in dir form, usable).
        """
        if self.settings.image_format != "squashfs":
            return
        tmp = fs.ensure_dir(self.store.paths.tmp)
        squash_store.convert(self.store, record, lambda out: make_squashfs(
            layers.ensure_unpacked(self.store, record), image_meta(record), out, tmp))
        self.release_layers(record)

    def release_layers(self, record: ImageRecord) -> None:
        """The layer dirs of an image kept as a file, unless a container or another image stacks them."""
        if not squash_store.has_file(self.store.paths.root, record.image_id) or self.image_users(record.image_id):
            return
        in_use = [r.image_id for r in self.store.list() if self.image_users(r.image_id)]
        squash_store.release_layers(self.store, record, squash_store.chains_to_keep(self.store, in_use))

    def disk_usage(self, api_version: str = "1.44") -> Dict[str, Any]:
        """The images part of GET /system/df: LayersSize and summaries with SharedSize and Containers."""
        containers = {r.image_id: len(self.image_users(r.image_id)) for r in self.store.list()}
        usage = self.store.disk_usage(in_use=[image_id for image_id, count in containers.items() if count])
        images = []
        for item in usage.images:
            body = summary_json(item.record, item.size, api_version)
            body["SharedSize"] = item.shared_size
            body["Containers"] = containers.get(item.record.image_id, 0)
            images.append(body)
        # A rootless extension (like /info's): the reclaimable size computed from the
        # layers in-use images need; docker's CLI estimates it from SharedSize.
        return {"LayersSize": usage.layers_size, "Images": images,
                "Rootless": {"ImagesReclaimable": usage.reclaimable}}


def _stream_file(path: str, remove: bool) -> Iterator[bytes]:
    """The file in 1 MiB chunks; opened now (a missing file fails before streaming). A temporary
    one is unlinked at once: the open handle keeps it until the stream ends or is dropped."""
    handle = open(path, "rb")
    if remove:
        os.unlink(path)

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    return
                yield chunk
        finally:
            handle.close()
    return chunks()


# -- JSON shapes (moby api/types/image) --------------------------------------------------


def _is_single_reference(record: ImageRecord) -> bool:
    """At most one tag, and every reference in one repository (moby isSingleReference)."""
    names = {parse_reference(r, default_tag=None).name for r in record.repo_tags + record.repo_digests}
    return len(record.repo_tags) <= 1 and len(names) <= 1


def _config_json(record: ImageRecord) -> Dict[str, Any]:
    cfg = record.config.config
    return {
        "Hostname": "", "Domainname": "", "User": cfg.user or "", "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False, "ExposedPorts": cfg.exposed_ports,
        "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": cfg.env, "Cmd": cfg.cmd,
        "Healthcheck": cfg.healthcheck, "ArgsEscaped": cfg.args_escaped, "Image": "",
        "Volumes": cfg.volumes, "WorkingDir": cfg.working_dir or "", "Entrypoint": cfg.entrypoint,
        "OnBuild": cfg.on_build, "Labels": cfg.labels, "StopSignal": cfg.stop_signal, "Shell": cfg.shell,
    }


def _comment(record: ImageRecord) -> str:
    history = record.config.history or []
    return (history[-1].comment or "") if history else ""


def inspect_json(record: ImageRecord, size: int, api_version: str) -> Dict[str, Any]:
    config = record.config
    body: Dict[str, Any] = {
        "Id": record.image_id,
        "RepoTags": [familiar(t) for t in record.repo_tags],
        "RepoDigests": [familiar(d) for d in record.repo_digests],
        "Parent": "", "Comment": _comment(record), "Created": record.created,
        "DockerVersion": str(config.extra.get("docker_version", "")), "Author": config.author or "",
        "Config": _config_json(record), "Architecture": config.architecture, "Os": config.os,
        "Size": size, "GraphDriver": {"Name": "overlay2", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": record.diff_ids},
        "Metadata": {"LastTagTime": record.last_tag_time or _ZERO_TIME},
    }
    if config.variant:
        body["Variant"] = config.variant
    if versions.is_older(api_version, "1.44"):
        body["VirtualSize"] = size
        body["ContainerConfig"] = _config_json(record)
    return body


def summary_json(record: ImageRecord, size: int, api_version: str) -> Dict[str, Any]:
    body: Dict[str, Any] = {
        "Id": record.image_id, "ParentId": "",
        "RepoTags": [familiar(t) for t in record.repo_tags],
        "RepoDigests": [familiar(d) for d in record.repo_digests],
        "Created": created_unix(record.created), "Size": size, "SharedSize": -1,
        "Labels": record.config.config.labels or {}, "Containers": -1,
    }
    if versions.is_older(api_version, "1.44"):
        body["VirtualSize"] = size
    return body


def history_json(record: ImageRecord, layer_sizes: List[int]) -> List[Dict[str, Any]]:
    """One row per history entry; non-empty entries take the layers' sizes in order."""
    entries = record.config.history or []
    rows: List[Dict[str, Any]] = []
    layer_index = 0
    for entry in entries:
        size = 0
        if not entry.empty_layer and layer_index < len(layer_sizes):
            size = layer_sizes[layer_index]
            layer_index += 1
        rows.append({"Id": "<missing>", "Created": created_unix(entry.created or ""),
                     "CreatedBy": entry.created_by or "", "Tags": None, "Size": size,
                     "Comment": entry.comment or ""})
    if not rows:
        rows = [{"Id": "<missing>", "Created": created_unix(record.created), "CreatedBy": "",
                 "Tags": None, "Size": record.size, "Comment": ""}]
    rows.reverse()
    rows[0].update(Id=record.image_id, Tags=[familiar(t) for t in record.repo_tags] or None)
    return rows


# -- filters ---------------------------------------------------------------------------------


def _glob_to_regex(pattern: str) -> "re.Pattern[str]":
    """Go's path.Match: '*' and '?' never cross '/'."""
    out = ""
    for char in pattern:
        out += "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
    return re.compile(f"^{out}$")


def matches_reference(record: ImageRecord, pattern: str) -> bool:
    """docker images REPO[:TAG]: glob on the familiar name, or name:tag when a tag is given."""
    regex = _glob_to_regex(pattern)
    for full in record.repo_tags:
        ref = parse_reference(full)
        if regex.match(ref.familiar()) or regex.match(ref.familiar_name) or regex.match(str(ref)):
            return True
        if regex.match(ref.name):
            return True
    return False


def image_labels(record: ImageRecord) -> Dict[str, str]:
    return record.config.config.labels or {}


# moby daemon/images/images.go acceptedImageFilterTags, and image prune's (daemon/images/image_prune.go).
LIST_FILTERS = ("reference", "dangling", "label", "before", "since", "until")
PRUNE_FILTERS = ("dangling", "label", "label!", "until")


def filter_images(service: ImageService, records: List[ImageRecord],
                  filters: Dict[str, List[str]]) -> List[ImageRecord]:
    f.validate(filters, LIST_FILTERS)
    result = records
    if filters.get("reference"):
        result = [r for r in result if any(matches_reference(r, p) for p in filters["reference"])]
    if "dangling" in filters:
        dangling = f.get_bool(filters, "dangling")
        result = [r for r in result if (not r.repo_tags) == dangling]
    result = [r for r in result if f.match_kv_list(filters, "label", image_labels(r))]
    until_ns = f.get_until_ns(filters)
    if until_ns is not None:
        result = [r for r in result if created_unix(r.created) * NS <= until_ns]
    for key, keep_older in (("before", True), ("since", False)):
        for name in filters.get(key, []):
            pivot = created_unix(service.get(name).created)
            result = [r for r in result
                      if (created_unix(r.created) < pivot) == keep_older and created_unix(r.created) != pivot]
    return result
