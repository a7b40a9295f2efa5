"""Immutable records for what every CLI start imports, without dataclasses or typing.

`import dataclasses` costs ~8 ms here (it imports inspect, and inspect ast,
dis and tokenize) and a NamedTuple needs typing (~3 ms): `rootless ps` would
pay for them before it sends a byte (bench/README.md "CLI fast path"). A
record declares its fields as class annotations and sets them in __init__
with _set; it then compares, hashes and prints like a frozen dataclass.
"""
from __future__ import annotations

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Tuple


class Record:
    """Fields are the class's own annotations, in order; setting one after __init__ raises."""

    _fields: ClassVar[Tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = tuple(name for name in cls.__dict__.get("__annotations__", {}) if not name.startswith("_"))

    def _set(self, **values: Any) -> None:
        for name in self._fields:
            object.__setattr__(self, name, values[name])

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__ and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")
