"""Docker's list filters with one policy (moby api/types/filters).

A filter set is {key: [values]}. The API decodes ?filters= (both of docker's
JSON spellings) with parse_query, the CLI builds it from --filter flags with
parse_flags. Every list and prune checks the keys it knows with validate:
an unknown key is refused everywhere ("invalid filter 'foo'", a 400), as
moby's Args.Validate does; before issue 8 container prune ignored them.
Boolean filters (dangling, all) go through get_bool, moby's GetBoolOrDefault:
only 0/1/true/false, so "dangling=foo" is refused for images as for volumes.
"""
from __future__ import annotations

import json
import re

TYPE_CHECKING = False  # True for mypy; importing typing costs ~3 ms (cli/fast.py)
if TYPE_CHECKING:
    from typing import Collection, Dict, Iterable, List, Mapping, Optional

from rootless.errors import InvalidArgument

# Builtin generics (PEP 585), not typing's: cli/system/prune.py imports the name at run time.
Filters = dict[str, list[str]]
if TYPE_CHECKING:
    FilterMap = Mapping[str, List[str]]


def parse_query(raw: Optional[str]) -> Filters:
    """?filters= as {key: [values]}: {"k":["v"]} (docker-py, old CLIs) or {"k":{"v":true}} (Go CLI)."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid filter: {raw!r}: not JSON") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"invalid filter: {raw!r}: not a JSON object")
    result: Filters = {}
    for key, value in data.items():
        if isinstance(value, dict):
            result[str(key)] = [str(k) for k, enabled in value.items() if enabled]
        elif isinstance(value, list):
            result[str(key)] = [str(v) for v in value]
        else:
            result[str(key)] = [str(value)]
    return result


def parse_flags(values: Iterable[str]) -> Filters:
    """Repeated --filter key=value flags (docker/cli opts.FilterOpt): key lower-cased, both sides trimmed."""
    result: Filters = {}
    for value in values:
        if not value:
            continue  # docker ignores an empty --filter ""
        key, sep, wanted = value.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {value}")
        result.setdefault(key.strip().lower(), []).append(wanted.strip())
    return result


def validate(filters: FilterMap, accepted: Collection[str]) -> None:
    """Refuse a key the list does not know (moby Args.Validate)."""
    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")


def _go_list(values: List[str]) -> str:
    # moby formats the values with Go's %s of a []string: "[a b]".
    return "[" + " ".join(values) + "]"


def get_bool(filters: FilterMap, key: str, default: bool = False) -> bool:
    """A boolean filter (moby GetBoolOrDefault): 1/true or 0/false, not both, nothing else."""
    if key not in filters:
        return default
    values = set(filters[key])
    if not values:
        raise InvalidArgument(f"invalid filter '{key}'")
    is_true = bool(values & {"1", "true"})
    is_false = bool(values & {"0", "false"})
    if is_true == is_false:
        raise InvalidArgument(f"invalid filter '{key}={_go_list(list(filters[key]))}'",
                              hint=f"use {key}=true or {key}=false")
    return is_true


def match_kv_list(filters: FilterMap, key: str, labels: Optional[Mapping[str, str]]) -> bool:
    """Every "k" / "k=v" value of key holds in labels; true when key has no values (moby MatchKVList)."""
    wanted = filters.get(key) or []
    if not wanted:
        return True
    if not labels:
        return False
    for item in wanted:
        name, has_value, value = item.partition("=")
        if name not in labels or (has_value and labels[name] != value):
            return False
    return True


def match_labels(filters: FilterMap, labels: Optional[Mapping[str, str]]) -> bool:
    """label= must all hold; label!= excludes when all of its values hold (moby prune's matchLabels)."""
    if not match_kv_list(filters, "label", labels):
        return False
    if filters.get("label!") and match_kv_list(filters, "label!", labels):
        return False
    return True


def exact_match(filters: FilterMap, key: str, source: str) -> bool:
    """source is one of key's values; true when key has none (moby ExactMatch)."""
    wanted = filters.get(key) or []
    return not wanted or source in wanted


def fuzzy_match(filters: FilterMap, key: str, source: str) -> bool:
    """source equals or starts with one of key's values (moby FuzzyMatch: ids, names of events)."""
    wanted = filters.get(key) or []
    return not wanted or any(source.startswith(w) for w in wanted)


def regex_match(filters: FilterMap, key: str, source: str) -> bool:
    """source equals, or a value of key as a regular expression matches in it (moby Match: name=)."""
    wanted = filters.get(key) or []
    if not wanted or source in wanted:
        return True
    for pattern in wanted:
        try:
            if re.search(pattern, source):
                return True
        except re.error:
            continue  # moby skips a value that is not a valid expression
    return False


def substring_match(filters: FilterMap, key: str, source: str) -> bool:
    """A value of key occurs in source (volume and network name= filters)."""
    wanted = filters.get(key) or []
    return not wanted or any(w in source for w in wanted)


def get_until_ns(filters: FilterMap, now_ns: Optional[int] = None) -> Optional[int]:
    """A prune's until= as nanoseconds since the epoch, or None (moby getUntilFromPruneFilters).

    The value is any of docker's time forms (see wire.times.parse_timestamp_ns); one at most.
    """
    values = filters.get("until") or []
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("more than one until filter specified")
    from rootless.wire.times import parse_timestamp_ns  # calendar, datetime: only for since/until filters

    return parse_timestamp_ns(values[0], now_ns)


def copy_labels(labels: Optional[Mapping[str, object]]) -> Dict[str, str]:
    """Labels as a plain str->str dict (JSON may hold other types)."""
    return {str(k): str(v) for k, v in (labels or {}).items()}
