"""Volume endpoints, mixed into APIClient (docker-py's VolumeApiMixin shape)."""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


class VolumeApiMixin:
    """One method per /volumes endpoint."""

    if TYPE_CHECKING:  # provided by APIClient
        def _url(self, template: str, *args: str, **query: Any) -> str: ...
        def _json(self, method: str, url: str, **kwargs: Any) -> Any: ...
        def _no_content(self, method: str, url: str, **kwargs: Any) -> int: ...

    def create_volume(self, name: str = "", driver: str = "local", driver_opts: Optional[Dict[str, str]] = None,
                      labels: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """POST /volumes/create; an empty name gets a generated one. Idempotent for an existing name."""
        body = {"Name": name, "Driver": driver, "DriverOpts": driver_opts or {}, "Labels": labels or {}}
        return self._json("POST", "/volumes/create", json_body=body)  # type: ignore[no-any-return]

    def volumes(self, filters: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
        """GET /volumes: {"Volumes": [...], "Warnings": [...]}."""
        return self._json("GET", self._url("/volumes", filters=filters or None))  # type: ignore[no-any-return]

    def inspect_volume(self, name: str) -> Dict[str, Any]:
        """GET /volumes/{name}.

        Raises:
            NotFound: no such volume.
        """
        return self._json("GET", self._url("/volumes/{}", name))  # type: ignore[no-any-return]

    def remove_volume(self, name: str, force: bool = False) -> None:
        """DELETE /volumes/{name}.

        Raises:
            NotFound: no such volume.
            Conflict: a container uses it.
        """
        self._no_content("DELETE", self._url("/volumes/{}", name, force=force or None))

    def prune_volumes(self, filters: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
        """POST /volumes/prune: {"VolumesDeleted": [...], "SpaceReclaimed": n}."""
        return self._json("POST", self._url("/volumes/prune", filters=filters or None))  # type: ignore[no-any-return]
