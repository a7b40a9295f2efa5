"""wire.filters: moby's Args rules with one policy for every list and prune."""
from __future__ import annotations

import pytest

from rootless.errors import InvalidArgument
from rootless.wire import filters as f


def test_parse_query_reads_both_json_spellings() -> None:
    assert f.parse_query('{"label":["a=1","b"]}') == {"label": ["a=1", "b"]}
    assert f.parse_query('{"label":{"a=1":true,"b":false}}') == {"label": ["a=1"]}
    assert f.parse_query('{"dangling":"true"}') == {"dangling": ["true"]}
    assert f.parse_query(None) == {} and f.parse_query("") == {}


@pytest.mark.parametrize("raw", ["{not json", "[1,2]", '"x"'])
def test_parse_query_refuses_what_is_not_a_json_object(raw: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid filter"):
        f.parse_query(raw)


def test_parse_flags_follows_docker_cli() -> None:
    assert f.parse_flags(["Label=a=b", " name = web ", "label!=x", ""]) == {
        "label": ["a=b"], "name": ["web"], "label!": ["x"]}


def test_parse_flags_refuses_a_value_without_equals() -> None:
    with pytest.raises(InvalidArgument, match=r"bad format of filter \(expected name=value\): dangling"):
        f.parse_flags(["dangling"])


def test_validate_refuses_unknown_keys_with_mobys_words() -> None:
    f.validate({"label": ["a"]}, ("label", "until"))
    with pytest.raises(InvalidArgument) as exc:
        f.validate({"label": ["a"], "foo": ["b"]}, ("label",))
    assert exc.value.message == "invalid filter 'foo'"


@pytest.mark.parametrize("values,expected", [(["true"], True), (["1"], True), (["false"], False),
                                             (["0"], False), (["true", "1"], True), (["0", "false"], False)])
def test_get_bool_reads_docker_booleans(values: list, expected: bool) -> None:
    assert f.get_bool({"dangling": values}, "dangling") is expected


@pytest.mark.parametrize("values,shown", [(["foo"], "[foo]"), (["true", "false"], "[true false]"),
                                          (["TRUE"], "[TRUE]")])
def test_get_bool_refuses_other_or_conflicting_values(values: list, shown: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        f.get_bool({"dangling": values}, "dangling")
    assert exc.value.message == f"invalid filter 'dangling={shown}'"


def test_get_bool_default_and_empty() -> None:
    assert f.get_bool({}, "all", default=True) is True
    with pytest.raises(InvalidArgument, match="invalid filter 'all'"):
        f.get_bool({"all": []}, "all")


def test_match_kv_list() -> None:
    labels = {"a": "1", "b": ""}
    assert f.match_kv_list({}, "label", labels)
    assert f.match_kv_list({"label": ["a"]}, "label", labels)
    assert f.match_kv_list({"label": ["a=1", "b"]}, "label", labels)
    assert f.match_kv_list({"label": ["b="]}, "label", labels)
    assert not f.match_kv_list({"label": ["a=2"]}, "label", labels)
    assert not f.match_kv_list({"label": ["a", "c"]}, "label", labels)
    assert not f.match_kv_list({"label": ["a"]}, "label", None)
    assert f.match_kv_list({"label": ["a=1=2"]}, "label", {"a": "1=2"})


def test_match_labels_excludes_only_when_every_label_bang_matches() -> None:
    labels = {"a": "1", "b": "2"}
    assert not f.match_labels({"label!": ["a"]}, labels)
    assert f.match_labels({"label!": ["a=2"]}, labels)
    assert not f.match_labels({"label!": ["a", "b=2"]}, labels)
    assert f.match_labels({"label!": ["a", "c"]}, labels)  # moby: all label!= values must hold to exclude
    assert f.match_labels({"label": ["a"], "label!": ["c"]}, labels)
    assert not f.match_labels({"label": ["c"]}, labels)
    assert f.match_labels({"label!": ["a"]}, {})


def test_exact_fuzzy_regex_and_substring_matches() -> None:
    assert f.exact_match({}, "driver", "local") and f.exact_match({"driver": ["local"]}, "driver", "local")
    assert not f.exact_match({"driver": ["x"]}, "driver", "local")
    assert f.fuzzy_match({"id": ["abc"]}, "id", "abcdef") and not f.fuzzy_match({"id": ["b"]}, "id", "abc")
    assert f.regex_match({"name": ["^we"]}, "name", "web") and not f.regex_match({"name": ["x$"]}, "name", "web")
    assert f.regex_match({"name": ["(["]}, "name", "([")  # an invalid expression still matches exactly
    assert not f.regex_match({"name": ["(["]}, "name", "web")
    assert f.substring_match({"name": ["eb"]}, "name", "web") and not f.substring_match({"name": ["x"]}, "name", "web")


def test_copy_labels_makes_strings() -> None:
    assert f.copy_labels({"a": 1, "b": None}) == {"a": "1", "b": "None"}
    assert f.copy_labels(None) == {}


def test_get_until_reads_docker_time_forms() -> None:
    now = 1_700_000_000 * 10**9
    assert f.get_until_ns({}, now) is None
    assert f.get_until_ns({"until": ["10m"]}, now) == now - 600 * 10**9
    assert f.get_until_ns({"until": ["1700000000"]}, now) == now
    assert f.get_until_ns({"until": ["2023-11-14T22:13:20Z"]}, now) == now
    with pytest.raises(InvalidArgument, match="more than one until filter specified"):
        f.get_until_ns({"until": ["1h", "2h"]}, now)
    with pytest.raises(InvalidArgument, match="failed to parse value as time or duration"):
        f.get_until_ns({"until": ["soon"]}, now)
