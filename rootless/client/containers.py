"""Container and exec endpoints (docker-py's ContainerApiMixin / ExecApiMixin shape).

Mixed into APIClient, which provides _url, _request, _send, _json and _no_content.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import IO, Any, Dict, List, Optional, Tuple

from rootless.client import transport
from rootless.client.base import ListClient, Pending
from rootless.client.transport import HttpResponse
from rootless.errors import NotFound, error_from_status
from rootless.util import jsonlite

# Asking the daemon to hand over the connection (Docker Engine API, "Hijacking").
UPGRADE_HEADERS = {"Connection": "Upgrade", "Upgrade": "tcp"}
STAT_HEADER = "x-docker-container-path-stat"


class ContainerApiMixin:
    """One method per /containers and /exec endpoint."""

    socket_path: "transport.Target"
    timeout: Optional[float]

    if TYPE_CHECKING:  # provided by APIClient
        def _url(self, template: str, *args: str, **query: Any) -> str: ...
        def _request(self, method: str, url: str, *, json_body: Any = None, body: Optional[bytes] = None,
                     body_stream: Optional[IO[bytes]] = None, headers: Optional[Dict[str, str]] = None,
                     ) -> HttpResponse: ...
        def _send(self, method: str, url: str, *, json_body: Any = None, body: Optional[bytes] = None,
                  body_stream: Optional[IO[bytes]] = None, headers: Optional[Dict[str, str]] = None,
                  ) -> Pending: ...
        def _json(self, method: str, url: str, **kwargs: Any) -> Any: ...
        def _no_content(self, method: str, url: str, **kwargs: Any) -> int: ...

    def create_container(self, body: Dict[str, Any], name: Optional[str] = None,
                         platform: Optional[str] = None) -> Dict[str, Any]:
        """POST /containers/create; returns {"Id", "Warnings"}.

        Raises:
            NotFound: the image is not in the store ("No such image: ...").
            Conflict: the name is taken.
        """
        return self.create_container_send(body, name, platform).json()  # type: ignore[no-any-return]

    def create_container_send(self, body: Dict[str, Any], name: Optional[str] = None,
                              platform: Optional[str] = None) -> Pending:
        """POST /containers/create sent; .json() reads create_container's answer."""
        url = self._url("/containers/create", name=name or None, platform=platform or None)
        return self._send("POST", url, json_body=body)

    def inspect_container(self, container: str, size: bool = False) -> Dict[str, Any]:
        """GET /containers/{id}/json.

        Raises:
            NotFound: no such container.
        """
        return self._json("GET", self._url("/containers/{}/json", container, size=size or None))  # type: ignore[no-any-return]

    def start(self, container: str) -> None:
        """POST /containers/{id}/start (304 when already running counts as success)."""
        self._no_content("POST", self._url("/containers/{}/start", container))

    def stop(self, container: str, timeout: Optional[int] = None, signal: Optional[str] = None) -> None:
        """POST /containers/{id}/stop: StopSignal, then SIGKILL after timeout seconds."""
        self._no_content("POST", self._url("/containers/{}/stop", container, t=timeout, signal=signal))

    def restart(self, container: str, timeout: Optional[int] = None, signal: Optional[str] = None) -> None:
        """POST /containers/{id}/restart."""
        self._no_content("POST", self._url("/containers/{}/restart", container, t=timeout, signal=signal))

    def kill(self, container: str, signal: Optional[str] = None) -> None:
        """POST /containers/{id}/kill (default SIGKILL).

        Raises:
            Conflict: the container is not running.
        """
        self._no_content("POST", self._url("/containers/{}/kill", container, signal=signal))

    def remove_container(self, container: str, force: bool = False, v: bool = False) -> None:
        """DELETE /containers/{id}; v also removes its anonymous volumes."""
        self._no_content("DELETE", self._url("/containers/{}", container, force=force or None, v=v or None))

    def rename(self, container: str, name: str) -> None:
        """POST /containers/{id}/rename?name=."""
        self._no_content("POST", self._url("/containers/{}/rename", container, name=name))

    def pause(self, container: str) -> None:
        """POST /containers/{id}/pause."""
        self._no_content("POST", self._url("/containers/{}/pause", container))

    def unpause(self, container: str) -> None:
        """POST /containers/{id}/unpause."""
        self._no_content("POST", self._url("/containers/{}/unpause", container))

    def resize(self, container: str, height: int, width: int) -> None:
        """POST /containers/{id}/resize: the TTY's new size."""
        self._no_content("POST", self._url("/containers/{}/resize", container, h=height, w=width))

    def wait_begin(self, container: str, condition: Optional[str] = None) -> HttpResponse:
        """POST /containers/{id}/wait, returning once headers arrive; read .json() for the result.

        docker run sends this before start (DOCKER-API.md section 3) so no exit is missed.
        """
        return self._request("POST", self._url("/containers/{}/wait", container, condition=condition))

    def wait(self, container: str, condition: Optional[str] = None) -> Dict[str, Any]:
        """POST /containers/{id}/wait: {"StatusCode": n, "Error": ...} once the condition holds."""
        response = self.wait_begin(container, condition)
        try:
            return response.json()  # type: ignore[no-any-return]
        finally:
            response.close()

    def attach(self, container: str, stdin: bool = False, stdout: bool = True, stderr: bool = True,
               logs: bool = False, detach_keys: Optional[str] = None) -> HttpResponse:
        """POST /containers/{id}/attach with Upgrade: tcp; the response's socket carries the streams."""
        url = self._url("/containers/{}/attach", container, stream=True, stdin=stdin, stdout=stdout,
                        stderr=stderr, logs=logs or None, detachKeys=detach_keys)
        return self._request("POST", url, headers=UPGRADE_HEADERS)

    def logs(self, container: str, stdout: bool = True, stderr: bool = True, follow: bool = False,
             tail: Optional[str] = None, since: Optional[str] = None, until: Optional[str] = None,
             timestamps: bool = False, details: bool = False) -> HttpResponse:
        """GET /containers/{id}/logs as a streamed response (stdcopy frames unless the container has a TTY)."""
        url = self._url("/containers/{}/logs", container, stdout=stdout, stderr=stderr, follow=follow or None,
                        tail=tail, since=since, until=until, timestamps=timestamps or None,
                        details=details or None)
        return self._request("GET", url)

    def top(self, container: str, ps_args: Optional[str] = None) -> Dict[str, Any]:
        """GET /containers/{id}/top: {"Titles": [...], "Processes": [[...]]}."""
        return self._json("GET", self._url("/containers/{}/top", container, ps_args=ps_args))  # type: ignore[no-any-return]

    def export(self, container: str) -> HttpResponse:
        """GET /containers/{id}/export: the root filesystem as a tar stream."""
        return self._request("GET", self._url("/containers/{}/export", container))

    def stats(self, container: str, stream: bool = False) -> Dict[str, Any]:
        """GET /containers/{id}/stats?stream=0 (the engine refuses when it has no cgroups)."""
        return self._json("GET", self._url("/containers/{}/stats", container, stream=stream))  # type: ignore[no-any-return]

    def update(self, container: str, body: Dict[str, Any]) -> Dict[str, Any]:
        """POST /containers/{id}/update: limits and RestartPolicy; {"Warnings": [...]}."""
        return self._json("POST", self._url("/containers/{}/update", container), json_body=body)  # type: ignore[no-any-return]

    def prune_containers(self, filters: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
        """POST /containers/prune: {"ContainersDeleted": [...], "SpaceReclaimed": n}."""
        return self._json("POST", self._url("/containers/prune", filters=filters or None))  # type: ignore[no-any-return]

    # -- archive (docker cp) -------------------------------------------------
    def stat_path(self, container: str, path: str) -> Dict[str, Any]:
        """HEAD /containers/{id}/archive: the stat of path (Go FileMode bits in "mode").

        Raises:
            NotFound: no such container, or no such path in it.
        """
        url = self._url("/containers/{}/archive", container, path=path)
        response = transport.request(self.socket_path, "HEAD", url, timeout=self.timeout)
        response.close()  # a HEAD answer has no body to read, even for errors
        if response.status == 404:
            raise NotFound(f"could not find the file {path} in container {container}")
        if response.status >= 400:
            raise error_from_status(response.status, f"stat {path} in container {container}: HTTP {response.status}")
        return decode_stat(response.headers.get(STAT_HEADER, ""))

    def get_archive(self, container: str, path: str) -> Tuple[HttpResponse, Dict[str, Any]]:
        """GET /containers/{id}/archive: a tar stream of path, and its stat."""
        response = self._request("GET", self._url("/containers/{}/archive", container, path=path))
        return response, decode_stat(response.headers.get(STAT_HEADER, ""))

    def put_archive(self, container: str, path: str, tar_stream: IO[bytes],
                    no_overwrite_dir_non_dir: bool = True) -> None:
        """PUT /containers/{id}/archive: extract a tar stream into directory path."""
        url = self._url("/containers/{}/archive", container, path=path,
                        noOverwriteDirNonDir=no_overwrite_dir_non_dir)
        self._no_content("PUT", url, body_stream=tar_stream, headers={"Content-Type": "application/x-tar"})

    # -- exec ------------------------------------------------------------------
    def exec_create(self, container: str, body: Dict[str, Any]) -> str:
        """POST /containers/{id}/exec; returns the exec id.

        Raises:
            Conflict: the container is not running.
        """
        return self._json("POST", self._url("/containers/{}/exec", container), json_body=body)["Id"]  # type: ignore[no-any-return]

    def exec_start(self, exec_id: str, detach: bool = False, tty: bool = False,
                   console_size: Optional[List[int]] = None) -> Optional[HttpResponse]:
        """POST /exec/{id}/start: None when detached, else the hijacked response."""
        body: Dict[str, Any] = {"Detach": detach, "Tty": tty}
        if console_size:
            body["ConsoleSize"] = console_size
        url = self._url("/exec/{}/start", exec_id)
        if detach:
            self._no_content("POST", url, json_body=body)
            return None
        return self._request("POST", url, json_body=body, headers=UPGRADE_HEADERS)

    def exec_inspect(self, exec_id: str) -> Dict[str, Any]:
        """GET /exec/{id}/json (ExitCode is final once the stream closed)."""
        return self._json("GET", self._url("/exec/{}/json", exec_id))  # type: ignore[no-any-return]

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        """POST /exec/{id}/resize."""
        self._no_content("POST", self._url("/exec/{}/resize", exec_id, h=height, w=width))


def decode_stat(header: str) -> Dict[str, Any]:
    """The base64 JSON of X-Docker-Container-Path-Stat ({} when absent or malformed)."""
    if not header:
        return {}
    try:
        import base64  # only `cp` needs it, and every CLI start imports this module

        return jsonlite.loads(base64.b64decode(header + "=" * (-len(header) % 4)))  # type: ignore[no-any-return]
    except ValueError:
        return {}


class RunClient(ListClient, ContainerApiMixin):
    """The container endpoints on client/base.py's plumbing, without APIClient's other mixins: what
    `run`'s steps call (create, attach, wait, start, resize, kill). cli/fast_run.py talks through it;
    client/api.py with the image, network and volume mixins costs ~0.4 ms more to import."""
