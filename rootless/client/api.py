"""One small method per API endpoint: client/base.py's plumbing and list endpoints, then the mixins."""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, Optional

from rootless.client.base import ListClient
from rootless.client.containers import ContainerApiMixin
from rootless.client.images import ImageApiMixin
from rootless.client.networks import NetworkApiMixin
from rootless.client.urls import quote
from rootless.client.volumes import VolumeApiMixin


class APIClient(ListClient, ContainerApiMixin, ImageApiMixin, VolumeApiMixin, NetworkApiMixin):
    """Talks to one rootlessd socket; endpoint groups live in the mixin modules."""

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
