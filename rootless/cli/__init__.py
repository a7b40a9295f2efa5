"""The `rootless` command line: docker's verbs, talking to rootlessd's API.

Commands are imported lazily (as pip does) so that `rootless ps` pays only
for the verb it runs. Exit codes are decided here and nowhere else.
"""
from __future__ import annotations

import re
import sys
from typing import List, Optional

import click

from rootless.cli.app import App
from rootless.cli.commands import TOP_COMMANDS
from rootless.cli.lazy import LazyGroup
from rootless.errors import RootlessError


@click.group(cls=LazyGroup, lazy=TOP_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="ROOTLESS_ROOT", help="Storage root (default ~/.local/share/rootless).")
@click.option("--debug", "-D", is_flag=True, help="Show debug logs and tracebacks.")
@click.pass_context
def cli(ctx: click.Context, root: Optional[str], debug: bool) -> None:
    """rootless: run containers as an ordinary user, the docker way."""
    if debug:
        import logging  # only here: importing it costs every CLI start ~3 ms (bench/README.md)

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = App(storage_root=root, debug=debug)


# Exit statuses (docker run's reference, "Exit status"): engine failures of
# run are 125; a start error that says the command cannot be found is 127,
# cannot be invoked 126 (run marks those errors with .exit_status); bad flags
# of run and create are 125 (docker/cli create.go: parse errors only, the
# daemon's refusals of create are 1); any other error 1; Ctrl-C 130.
ENGINE_FAILURE_COMMANDS = {"run"}
FLAG_FAILURE_COMMANDS = {"run", "create"}
# Options of the root group that take a value (skipped when looking for the verb).
ROOT_VALUE_OPTIONS = {"--root"}


def start_error_exit_code(message: str) -> int:
    """docker run's status for a failed start (docker/cli run.go runStartContainerErr)."""
    text = message.lower()
    if re.search(r"executable file \S* ?not found", text) or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text:
        return 126
    return 125


def _command_words(argv: List[str]) -> List[str]:
    words: List[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ROOT_VALUE_OPTIONS and not words:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    return words[1:] if words[:1] == ["container"] else words


def _error_exit_code(argv: List[str], exc: Optional[RootlessError] = None) -> int:
    status = getattr(exc, "exit_status", None)
    if status is not None:
        return int(status)
    words = _command_words(argv)
    verbs = FLAG_FAILURE_COMMANDS if exc is None else ENGINE_FAILURE_COMMANDS
    return 125 if words[:1] and words[0] in verbs else 1


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        status = cli.main(args=args, prog_name="rootless", standalone_mode=False)
        # Without standalone mode click returns (not raises) the status of click.exceptions.Exit.
        if isinstance(status, int) and status:
            sys.exit(status)
    except RootlessError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(_error_exit_code(args, exc))
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(125 if _error_exit_code(args) == 125 else exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug: say so in one line, traceback with --debug
        import logging

        logging.getLogger(__name__).debug("internal error", exc_info=True)
        click.echo(f"Error: internal error: {exc!r} (run with --debug for the traceback)", err=True)
        sys.exit(1)
