"""Network endpoints, mixed into APIClient (docker-py's NetworkApiMixin shape)."""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


class NetworkApiMixin:
    """One method per /networks endpoint."""

    if TYPE_CHECKING:  # provided by APIClient
        def _url(self, template: str, *args: str, **query: Any) -> str: ...
        def _json(self, method: str, url: str, **kwargs: Any) -> Any: ...
        def _no_content(self, method: str, url: str, **kwargs: Any) -> int: ...

    def create_network(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """POST /networks/create: {"Id", "Warning"}.

        Raises:
            Conflict: a network with that name exists.
        """
        return self._json("POST", "/networks/create", json_body=body)  # type: ignore[no-any-return]

    def networks(self, filters: Optional[Dict[str, List[str]]] = None) -> List[Dict[str, Any]]:
        """GET /networks, the predefined bridge/host/none included."""
        return self._json("GET", self._url("/networks", filters=filters or None))  # type: ignore[no-any-return]

    def inspect_network(self, network: str) -> Dict[str, Any]:
        """GET /networks/{id} by name, id or id prefix.

        Raises:
            NotFound: no such network.
        """
        return self._json("GET", self._url("/networks/{}", network))  # type: ignore[no-any-return]

    def remove_network(self, network: str) -> None:
        """DELETE /networks/{id}."""
        self._no_content("DELETE", self._url("/networks/{}", network))

    def connect_container_to_network(self, network: str, container: str,
                                     endpoint_config: Optional[Dict[str, Any]] = None) -> None:
        """POST /networks/{id}/connect."""
        body = {"Container": container, "EndpointConfig": endpoint_config or {}}
        self._no_content("POST", self._url("/networks/{}/connect", network), json_body=body)

    def disconnect_container_from_network(self, network: str, container: str, force: bool = False) -> None:
        """POST /networks/{id}/disconnect."""
        body = {"Container": container, "Force": force}
        self._no_content("POST", self._url("/networks/{}/disconnect", network), json_body=body)

    def prune_networks(self, filters: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
        """POST /networks/prune: {"NetworksDeleted": [...]}."""
        return self._json("POST", self._url("/networks/prune", filters=filters or None))  # type: ignore[no-any-return]
