"""The client's plumbing, and the two list endpoints `ps` and `images` need.

APIClient (client/api.py) adds every other endpoint through its mixins. The
CLI fast path (cli/fast.py) talks through ListClient alone: loading the four
mixin modules and api.py cost ~0.5 ms of a `rootless ps` that lives for ~20 ms
(bench/README.md "CLI fast path", second pass).
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import IO, Any, Dict, Iterator, List, Optional

from rootless.client import transport
from rootless.client.urls import quote, urlencode
from rootless.util import jsonlite

if TYPE_CHECKING:
    from rootless.client.transport import HttpResponse


class ClientBase:
    """Talks to one rootlessd socket: URLs, requests, and errors turned back into kinds."""

    def __init__(self, socket_path: "transport.Target", timeout: Optional[float] = None) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

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
                value = jsonlite.dumps(value)
            params[key] = value
        return path + ("?" + urlencode(params) if params else "")

    def _request(self, method: str, url: str, *, json_body: Any = None, body: Optional[bytes] = None,
                 body_stream: Optional[IO[bytes]] = None, headers: Optional[Dict[str, str]] = None,
                 ) -> HttpResponse:
        return self._send(method, url, json_body=json_body, body=body, body_stream=body_stream,
                          headers=headers).response()

    def _send(self, method: str, url: str, *, json_body: Any = None, body: Optional[bytes] = None,
              body_stream: Optional[IO[bytes]] = None, headers: Optional[Dict[str, str]] = None) -> Pending:
        """The request sent, its answer read later (Pending.response)."""
        hdrs = dict(headers or {})
        if json_body is not None:
            body = jsonlite.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        return Pending(transport.send(self.socket_path, method, url, body=body, body_stream=body_stream,
                                      headers=hdrs, timeout=self.timeout))

    @staticmethod
    def _raise_for_status(response: HttpResponse) -> None:
        if response.status < 400:
            return
        from rootless.errors import error_from_status

        raw = response.read()
        response.close()
        try:
            message = jsonlite.loads(raw).get("message", "")
        except (ValueError, AttributeError):
            message = raw.decode("utf-8", "replace").strip()
        raise error_from_status(response.status, message or f"HTTP {response.status}")

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        return self._send(method, url, **kwargs).json()

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


class Pending:
    """A request on its way whose answer is read later: `run` sends its create and then imports the
    streaming code while the daemon works (cli/fast_run.py, bench/README.md "rootless run, client side")."""

    def __init__(self, sent: transport.Sent) -> None:
        self.sent = sent

    def response(self) -> HttpResponse:
        """The answer's head, an error status raised as its kind (ClientBase._raise_for_status)."""
        response = self.sent.response()
        ClientBase._raise_for_status(response)
        return response

    def json(self) -> Any:
        """The answer's body as JSON."""
        response = self.response()
        try:
            return response.json()
        finally:
            response.close()

    def close(self) -> None:
        """Give up on the answer."""
        self.sent.close()


class ListClient(ClientBase):
    """GET /containers/json and /images/json: all `ps` and `images` ask."""

    def containers(self, all: bool = False, limit: Optional[int] = None, size: bool = False,
                   filters: Optional[Dict[str, List[str]]] = None) -> List[Dict[str, Any]]:
        """GET /containers/json: summaries, running ones only unless all."""
        url = self._url("/containers/json", all=all or None, limit=limit, size=size or None, filters=filters or None)
        return self._json("GET", url)  # type: ignore[no-any-return]

    def images(self, filters: Optional[Dict[str, List[str]]] = None, all: bool = False,
               digests: bool = False) -> List[Dict[str, Any]]:
        """GET /images/json."""
        url = self._url("/images/json", filters=filters or None, all=all or None, digests=digests or None)
        return self._json("GET", url)  # type: ignore[no-any-return]
