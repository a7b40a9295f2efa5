from __future__ import annotations

import importlib
from typing import Dict

import click
import pytest

from rootless.cli import commands

TABLES: Dict[str, Dict[str, str]] = {
    "top": commands.TOP_COMMANDS, "system": commands.SYSTEM_COMMANDS, "image": commands.IMAGE_COMMANDS,
    "container": commands.CONTAINER_COMMANDS, "volume": commands.VOLUME_COMMANDS,
    "network": commands.NETWORK_COMMANDS,
}


@pytest.mark.parametrize("table,name", sorted((t, n) for t, entries in TABLES.items() for n in entries))
def test_every_lazy_entry_names_a_command(table: str, name: str) -> None:
    """The tables are strings, so a moved module or renamed verb only shows when the command runs."""
    module_name, attr = TABLES[table][name].split(":")
    module = importlib.import_module(f"rootless.cli.{module_name}")
    assert isinstance(getattr(module, attr), click.Command)
