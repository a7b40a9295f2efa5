"""Matching Docker list filters (label=, dangling=, ...) against records.

The API layer turns ?filters= into {key: [values]} (api/filters.py); stores
below the API use these helpers so every list endpoint matches the same way.
"""
from __future__ import annotations

import datetime
from typing import Collection, Dict, List, Mapping

from rootless.errors import InvalidArgument

TRUE_WORDS = ("true", "1")
FALSE_WORDS = ("false", "0")


def check_filter_keys(filters: Mapping[str, List[str]], allowed: Collection[str]) -> None:
    """Refuse a filter key the list does not know, as docker does (400)."""
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")


def match_label(labels: Mapping[str, str], wanted: str) -> bool:
    """'key' matches when the label exists; 'key=value' when it has that value."""
    key, sep, value = wanted.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def match_labels(labels: Mapping[str, str], wanted: List[str]) -> bool:
    """Every label= filter must match (docker ANDs them)."""
    return all(match_label(labels, w) for w in wanted)


def match_label_exclusions(labels: Mapping[str, str], unwanted: List[str]) -> bool:
    """label!= filters: none may match."""
    return not any(match_label(labels, u) for u in unwanted)


def parse_bool_filter(key: str, values: List[str]) -> bool:
    """dangling=true/1/false/0; anything else is a 400."""
    if len(values) != 1 or values[0].lower() not in TRUE_WORDS + FALSE_WORDS:
        raise InvalidArgument(f"invalid filter '{key}={','.join(values)}'",
                              hint=f"use {key}=true or {key}=false")
    return values[0].lower() in TRUE_WORDS


def utc_now_rfc3339() -> str:
    """A creation time as docker shows it: RFC 3339, seconds, UTC."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def copy_labels(labels: Mapping[str, str]) -> Dict[str, str]:
    """Labels as a plain str->str dict (JSON may hold other types)."""
    return {str(k): str(v) for k, v in (labels or {}).items()}
