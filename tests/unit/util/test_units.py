from __future__ import annotations

from rootless.util.units import human_size


def test_human_size_is_go_units_decimal() -> None:
    assert human_size(0) == "0B"
    assert human_size(999) == "999B"
    assert human_size(1000) == "1kB"
    assert human_size(1234567) == "1.235MB"
    assert human_size(5.5 * 1000 ** 3) == "5.5GB"
    assert human_size(3 * 1000 ** 6) == "3000PB"
