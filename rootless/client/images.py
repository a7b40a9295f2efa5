"""Image endpoints, mixed into APIClient (docker-py's ImageApiMixin shape)."""
from __future__ import annotations

from rootless.util import jsonlite

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from rootless.client.urls import urlencode

if TYPE_CHECKING:
    from rootless.client.transport import HttpResponse


class ImageApiMixin:
    """One method per /images endpoint (pull and inspect_image live in api.py)."""

    if TYPE_CHECKING:  # provided by APIClient
        def _url(self, template: str, *args: str, **query: Any) -> str: ...
        def _json(self, method: str, url: str, **kwargs: Any) -> Any: ...
        def _no_content(self, method: str, url: str, **kwargs: Any) -> int: ...
        def _stream_json(self, method: str, url: str, **kwargs: Any) -> Iterator[Any]: ...
        def _request(self, method: str, url: str, *, json_body: Any = None, body: Optional[bytes] = None,
                     body_stream: Optional[IO[bytes]] = None, headers: Optional[Dict[str, str]] = None,
                     ) -> HttpResponse: ...

    def tag_image(self, image: str, repository: str, tag: Optional[str] = None) -> None:
        """POST /images/{name}/tag.

        Raises:
            NotFound: no such image. InvalidArgument: a bad target name.
        """
        self._no_content("POST", self._url("/images/{}/tag", image, repo=repository, tag=tag or None))

    def remove_image(self, image: str, force: bool = False, noprune: bool = False) -> List[Dict[str, str]]:
        """DELETE /images/{name}: [{"Untagged": ...}, {"Deleted": ...}].

        Raises:
            NotFound: no such image. Conflict: in use, or needs force.
        """
        url = self._url("/images/{}", image, force=force or None, noprune=noprune or None)
        return self._json("DELETE", url)  # type: ignore[no-any-return]

    def push(self, image: str, tag: Optional[str] = None,
             headers: Optional[Dict[str, str]] = None) -> Iterator[Any]:
        """POST /images/{name}/push: progress lines; errors during the push come in-band.

        Raises:
            NotFound: no such local image.
        """
        hdrs = {"X-Registry-Auth": "e30="}  # moby requires the header; {} means "use stored"
        hdrs.update(headers or {})
        return self._stream_json("POST", self._url("/images/{}/push", image, tag=tag or None), headers=hdrs)

    def history(self, image: str) -> List[Dict[str, Any]]:
        """GET /images/{name}/history."""
        return self._json("GET", self._url("/images/{}/history", image))  # type: ignore[no-any-return]

    def prune_images(self, filters: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
        """POST /images/prune: {"ImagesDeleted": [...], "SpaceReclaimed": n}."""
        return self._json("POST", self._url("/images/prune", filters=filters or None))  # type: ignore[no-any-return]

    def login(self, username: str, password: str, registry: Optional[str] = None,
              store: bool = False) -> Dict[str, Any]:
        """POST /auth: {"Status": "Login Succeeded", "IdentityToken": ...}; store keeps them daemon-side.

        Raises:
            Unauthorized: the registry refused the credentials.
        """
        body = {"username": username, "password": password, "serveraddress": registry or ""}
        return self._json("POST", self._url("/auth", store=store or None), json_body=body)  # type: ignore[no-any-return]

    def logout(self, registry: Optional[str] = None) -> Dict[str, Any]:
        """POST /auth/logout (rootless): {"Registry": ..., "Removed": bool}."""
        return self._json("POST", self._url("/auth/logout", serveraddress=registry or None))  # type: ignore[no-any-return]

    def get_images(self, names: List[str]) -> Any:
        """GET /images/get?names=...: the docker-archive tar as a streaming response."""
        # Repeated names= parameters (the _url helper would JSON-encode a list).
        return self._request("GET", "/images/get?" + urlencode([("names", n) for n in names]))

    def export_squashfs(self, name: str) -> Any:
        """GET /images/{name}/squashfs (rootless): the image as one squashfs file, a streaming response."""
        return self._request("GET", self._url("/images/{}/squashfs", name))

    def convert_images(self) -> Iterator[Any]:
        """POST /images/convert (rootless): JSON lines, one per image put into the configured image_format."""
        return self._stream_json("POST", "/images/convert")

    def load_images(self, stream: IO[bytes], quiet: bool = False) -> Iterator[Any]:
        """POST /images/load: JSON lines ({"stream": "Loaded image: ..."})."""
        url = self._url("/images/load", quiet=quiet or None)
        return self._stream_json("POST", url, body_stream=stream, headers={"Content-Type": "application/x-tar"})

    def import_image(self, stream: IO[bytes], repository: Optional[str] = None, tag: Optional[str] = None,
                     message: str = "", changes: Sequence[str] = ()) -> Iterator[Any]:
        """POST /images/create?fromSrc=-: the body is a rootfs tarball; yields {"status": "sha256:..."}."""
        query = [("fromSrc", "-")] + [(k, v) for k, v in (("repo", repository), ("tag", tag),
                                                           ("message", message)) if v]
        query += [("changes", change) for change in changes]
        url = "/images/create?" + urlencode(query)
        return self._stream_json("POST", url, body_stream=stream, headers={"Content-Type": "application/x-tar"})

    def build(self, context_tar: IO[bytes], tags: Sequence[str] = (), dockerfile: Optional[str] = None,
              build_args: Optional[Dict[str, Optional[str]]] = None, target: Optional[str] = None,
              no_cache: bool = False, pull: bool = False, quiet: bool = False,
              labels: Optional[Dict[str, str]] = None, network: Optional[str] = None,
              platform: Optional[str] = None, force_rm: bool = False, remove: bool = True,
              registry_config: Optional[str] = None, secrets: Sequence[str] = ()) -> Iterator[Any]:
        """POST /build (docker's classic builder): the body is the context tar; yields JSON lines.

        Errors during the build come in-band ({"errorDetail": ..., "error": ...}).

        Raises:
            InvalidArgument: a bad parameter, context or Dockerfile location.
        """
        query: List[Tuple[str, str]] = [("t", tag) for tag in tags]
        for key, value in (("dockerfile", dockerfile), ("target", target), ("networkmode", network),
                           ("platform", platform)):
            if value:
                query.append((key, value))
        query += [(key, "1") for key, on in (("nocache", no_cache), ("pull", pull), ("q", quiet),
                                             ("forcerm", force_rm)) if on]
        query.append(("rm", "1" if remove else "0"))
        if secrets:  # a rootless extension: the files are in the context tar (see cli/image/build.py)
            query.append(("secrets", jsonlite.dumps(list(secrets))))
        if build_args:
            query.append(("buildargs", jsonlite.dumps(build_args)))
        if labels:
            query.append(("labels", jsonlite.dumps(labels)))
        headers = {"Content-Type": "application/x-tar"}
        if registry_config:
            headers["X-Registry-Config"] = registry_config
        return self._stream_json("POST", "/build?" + urlencode(query), body_stream=context_tar,
                                 headers=headers)

    def prune_builds(self, filters: Optional[Dict[str, List[str]]] = None, all: bool = False) -> Dict[str, Any]:
        """POST /build/prune: {"CachesDeleted": [...], "SpaceReclaimed": n}."""
        url = self._url("/build/prune", all=all or None, filters=filters or None)
        return self._json("POST", url)  # type: ignore[no-any-return]

    def commit(self, container: str, repository: Optional[str] = None, tag: Optional[str] = None,
               message: str = "", author: str = "", changes: Sequence[str] = (), pause: bool = True,
               config: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """POST /commit: {"Id": "sha256:..."}.

        Raises:
            NotFound: no such container. InvalidArgument: a bad change or repository.
        """
        query = [("container", container), ("pause", "1" if pause else "0")]
        query += [(k, v) for k, v in (("repo", repository), ("tag", tag), ("comment", message),
                                      ("author", author)) if v]
        query += [("changes", change) for change in changes]
        return self._json("POST", "/commit?" + urlencode(query),  # type: ignore[no-any-return]
                          json_body=config or {})
