"""The lazy group (issue 11): the nearest verb for an unknown one; completion of verbs and names."""
from __future__ import annotations

import click
from click.testing import CliRunner

import rootless.cli
from rootless.cli import complete
from rootless.cli.root import cli


def test_an_unknown_verb_names_the_nearest() -> None:
    result = CliRunner().invoke(rootless.cli.cli, ["psx"])
    assert result.exit_code == 2
    assert "Error: No such command 'psx': did you mean `ps`?" in result.output


def test_a_verb_nothing_resembles_gets_clicks_message() -> None:
    result = CliRunner().invoke(rootless.cli.cli, ["zzzzzz"])
    assert "Error: No such command 'zzzzzz'." in result.output and "did you mean" not in result.output


def test_name_parameters_get_completers_only_while_completing() -> None:
    normal = cli.get_command(click.Context(cli), "volume")
    assert isinstance(normal, click.Group)
    rm = normal.get_command(click.Context(normal), "rm")
    assert rm is not None and rm.params[-1]._custom_shell_complete is None
    completing = click.Context(normal, resilient_parsing=True)
    rm = normal.get_command(completing, "rm")
    assert rm is not None
    names = next(p for p in rm.params if p.name == "names")
    try:
        assert names._custom_shell_complete is not None
    finally:
        names._custom_shell_complete = None  # the module's command object is shared with other tests


def test_kinds_by_verb() -> None:
    assert complete.BY_MODULE[("volume.rm", "names")] == "volumes"
    assert complete.BY_PARAM["container"] == "containers"
