"""The create path's conversions made without dataclasses.asdict's deep copies give exactly what
asdict (the plan) and the field-by-field walk (the record's wire_json) gave, in the same order."""
from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any, Dict

import pytest

from rootless.api import support, types
from rootless.engine import container_model as model
from rootless.engine import container_plan as plan
from rootless.runtime import spec as runtime_spec
from tests.unit.api import bodies


@dataclasses.dataclass
class Inner:
    x: Any


NT = collections.namedtuple("NT", "a b")


class Items(list):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize("value", [
    "s", 1, 1.5, True, None, [1, [Inner(2)]], {"k": Inner([1])}, (1, Inner(2)), NT(1, [Inner(2)]),
    Items([Inner(1)]), collections.OrderedDict(a=Inner(1)), frozenset([1]), b"x",
    runtime_spec.Ulimit("nofile", 1, 2),
])
def test_plain_is_asdict_for_every_kind_of_value(value: Any) -> None:
    expected = dataclasses.asdict(Inner(value))["x"]
    got = plan.plain(value)
    assert got == expected and type(got) is type(expected)


def test_plain_copies_containers_so_the_plan_shares_nothing_with_the_options() -> None:
    options = runtime_spec.SpecOptions(rootfs="/r", args=["true"], env=["A=1"], tmpfs={"/run": ""},
                                       uid_mappings=[(0, 1000, 1)])
    spec = plan.plain(options)
    assert spec == dataclasses.asdict(options)
    assert spec["env"] is not options.env and spec["tmpfs"] is not options.tmpfs
    assert json.dumps(spec) == json.dumps(dataclasses.asdict(options))


def _walk(obj: types.WireStruct) -> Dict[str, Any]:
    """wire_json as it was written first: dataclasses.fields on each call, every value walked."""
    def value_of(value: Any) -> Any:
        if isinstance(value, types.WireStruct):
            return _walk(value)
        if isinstance(value, list):
            return [value_of(item) for item in value]
        if isinstance(value, dict):
            return {key: value_of(item) for key, item in value.items()}
        return value
    return {f.name: value_of(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name in obj.fields_set}


@pytest.mark.parametrize("name", ["CLI_RUN", "CLI_RUN_IT", "PY_CONTAINERS_CREATE", "PY_CREATE_CONTAINER"])
def test_wire_json_gives_the_same_dict_in_the_same_order(name: str) -> None:
    request = support.decode_request(types.ContainerCreate, json.loads(getattr(bodies, name)))
    assert json.dumps(model.wire_json(request)) == json.dumps(_walk(request))
    left = {k: v for k, v in _walk(request).items() if k not in ("HostConfig", "NetworkingConfig")}
    assert json.dumps(model.wire_json(request, leave_out=("HostConfig", "NetworkingConfig"))) == json.dumps(left)
