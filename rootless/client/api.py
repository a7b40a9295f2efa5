"""One small method per API endpoint, errors turned back into kinds."""
from __future__ import annotations

import json

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import IO, Any, Dict, Iterator, Optional

from rootless.client import transport
from rootless.client.containers import ContainerApiMixin
from rootless.client.images import ImageApiMixin
from rootless.client.networks import NetworkApiMixin
from rootless.client.transport import HttpResponse
from rootless.client.urls import quote, urlencode
from rootless.client.volumes import VolumeApiMixin
from rootless.errors import error_from_status


class APIClient(ContainerApiMixin, ImageApiMixin, VolumeApiMixin, NetworkApiMixin):
    """Talks to one rootlessd socket; endpoint groups live in the mixin modules."""

    def __init__(self, socket_path: "transport.Target", timeout: Optional[float] = None) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    # -- plumbing -----------------------------------------------------------
    @staticmethod
    def _url(template: str, *args: str, **query: Any) -> str:
        path = template.format(*(quote(a, safe="") for a in args))
        params = {}
        for key, value in query.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            elif isinstance(value, (dict, list)):
                value = json.dumps(value)
            params[key] = value
        return path + ("?" + urlencode(params) if params else "")

    def _request(self, method: str, url: str, *, json_body: Any = None, body: Optional[bytes] = None,
                 body_stream: Optional[IO[bytes]] = None, headers: Optional[Dict[str, str]] = None,
                 ) -> HttpResponse:
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        response = transport.request(self.socket_path, method, url, body=body,
                                     body_stream=body_stream, headers=hdrs, timeout=self.timeout)
        self._raise_for_status(response)
        return response

    @staticmethod
    def _raise_for_status(response: HttpResponse) -> None:
        if response.status < 400:
            return
        raw = response.read()
        response.close()
        try:
            message = json.loads(raw).get("message", "")
        except (ValueError, AttributeError):
            message = raw.decode("utf-8", "replace").strip()
        raise error_from_status(response.status, message or f"HTTP {response.status}")

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self._request(method, url, **kwargs)
        try:
            return response.json()
        finally:
            response.close()

    def _stream_json(self, method: str, url: str, **kwargs: Any) -> Iterator[Any]:
        response = self._request(method, url, **kwargs)
        try:
            yield from response.iter_json()
        finally:
            response.close()

    def _no_content(self, method: str, url: str, **kwargs: Any) -> int:
        response = self._request(method, url, **kwargs)
        response.read()
        response.close()
        return response.status

    # -- system ---------------------------------------------------------------
    def ping(self) -> bool:
        """True when the daemon answers /_ping.

        Raises:
            Unavailable: nobody listens on the socket.
        """
        response = self._request("GET", "/_ping")
        ok = response.read() == b"OK"
        response.close()
        return ok

    def version(self) -> Dict[str, Any]:
        """GET /version."""
        return self._json("GET", "/version")  # type: ignore[no-any-return]

    def info(self) -> Dict[str, Any]:
        """GET /info, with the rootless-specific "Rootless" section."""
        return self._json("GET", "/info")  # type: ignore[no-any-return]

    def disk_usage(self) -> Dict[str, Any]:
        """GET /system/df: images (with the "Rootless" reclaimable size), containers, volumes."""
        return self._json("GET", "/system/df")  # type: ignore[no-any-return]

    def events(self, since: Optional[str] = None, until: Optional[str] = None,
               filters: Optional[Dict[str, Any]] = None) -> Iterator[Any]:
        """GET /events as decoded JSON objects."""
        return self._stream_json("GET", self._url("/events", since=since, until=until, filters=filters))

    # -- images (what run and inspect need) ----------------------------------
    def pull(self, from_image: str, tag: Optional[str] = None, platform: Optional[str] = None,
             headers: Optional[Dict[str, str]] = None) -> Iterator[Any]:
        """POST /images/create?fromImage=: docker's JSON progress lines, as dicts.

        Raises:
            NotFound: no such repository or tag (before streaming); errors during
            the pull arrive in-band as {"errorDetail": ...} lines.
        """
        url = self._url("/images/create", fromImage=from_image, tag=tag or None, platform=platform or None)
        return self._stream_json("POST", url, headers=headers)

    def inspect_image(self, image: str) -> Dict[str, Any]:
        """GET /images/{name}/json.

        Raises:
            NotFound: no such image.
        """
        return self._json("GET", "/images/" + quote(image, safe="/:@") + "/json")  # type: ignore[no-any-return]
