"""The root click group of `rootless` and the exit codes of every command.

Commands are imported lazily (as pip does) so that `rootless ps` pays only
for the verb it runs. Exit codes are decided here and nowhere else.
rootless/cli/__init__.py (the entry point) imports this module only once a
command needs click.
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional, Tuple

import click

from rootless import __version__
from rootless.cli import VERSION_MESSAGE
from rootless.cli.app import App
from rootless.cli.commands import TOP_COMMANDS
from rootless.cli.lazy import LazyGroup
from rootless.client.endpoint import HostOptions
from rootless.errors import RootlessError
from rootless.wire import exitcodes


@click.group(cls=LazyGroup, lazy=TOP_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="ROOTLESS_ROOT", help="Storage root (default ~/.local/share/rootless).")
@click.option("--debug", "-D", is_flag=True, help="Show debug logs and tracebacks.")
@click.option("-H", "--host", "hosts", multiple=True, help="Daemon to talk to: unix://, tcp:// or ssh://.")
@click.option("-c", "--context", default="", help="Context to use (overrides DOCKER_HOST and DOCKER_CONTEXT).")
@click.option("--tls", is_flag=True, help="Use TLS; implied by --tlsverify.")
@click.option("--tlsverify", is_flag=True, help="Use TLS and verify the daemon (DOCKER_TLS_VERIFY).")
@click.option("--tlscacert", default="", help="CA certificate (default $DOCKER_CERT_PATH/ca.pem).")
@click.option("--tlscert", default="", help="Client certificate (default $DOCKER_CERT_PATH/cert.pem).")
@click.option("--tlskey", default="", help="Client key (default $DOCKER_CERT_PATH/key.pem).")
@click.option("--insecure-tcp", is_flag=True, help="Allow plain tcp:// to a loopback address.")
# The same answer as the entry point's own `rootless --version` (which skips click), for
# `rootless -D --version` and the like.
# A plain option rather than click.version_option, which looks up a gettext catalogue (and
# imports locale) at import time.
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, help="Print the version and exit.",
              callback=lambda ctx, _param, value: _print_version(ctx) if value else None)
@click.pass_context
def cli(ctx: click.Context, root: Optional[str], debug: bool, hosts: Tuple[str, ...], context: str, tls: bool,
        tlsverify: bool, tlscacert: str, tlscert: str, tlskey: str, insecure_tcp: bool) -> None:
    """rootless: run containers as an ordinary user, the docker way."""
    if debug:
        import logging  # only here: importing it costs every CLI start ~3 ms (bench/README.md)

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    options = HostOptions(hosts=hosts, context=context, tls=tls, tls_verify=tlsverify, tls_cacert=tlscacert,
                          tls_cert=tlscert, tls_key=tlskey, insecure_tcp=insecure_tcp)
    ctx.obj = App(storage_root=root, debug=debug, host_options=options)


def _print_version(ctx: click.Context) -> None:
    click.echo(VERSION_MESSAGE.format(__version__))
    ctx.exit()


# Exit statuses: docker's rules live in wire/exitcodes.py (run's start errors 125/126/127
# are marked on the error as .exit_status by the verb; flag errors of run and create 125;
# other daemon errors 1); Ctrl-C 130. This module applies them to argv.
# Options of the root group that take a value (skipped when looking for the verb).
ROOT_VALUE_OPTIONS = {"--root", "-H", "--host", "-c", "--context", "--tlscacert", "--tlscert", "--tlskey"}


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


def _discard_stdout() -> None:
    """Point fd 1 at /dev/null: the interpreter's last flush of what stdout still buffers would
    fail again ("Exception ignored ... BrokenPipeError", exit status 120). Python's own recipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _error_exit_code(argv: List[str], exc: Optional[RootlessError] = None) -> int:
    """exc is a daemon/engine error; None means click refused the flags."""
    status = getattr(exc, "exit_status", None)
    words = _command_words(argv)
    return exitcodes.cli_error_exit_code(words[0] if words else None, flag_error=exc is None,
                                         status=None if status is None else int(status))


def main(argv: Optional[List[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        status = cli.main(args=args, prog_name="rootless", standalone_mode=False)
        sys.stdout.flush()  # a reader gone shows here, where it is handled, not at the interpreter's exit
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
        sys.exit(exitcodes.INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exitcodes.ENGINE_FAILURE if _error_exit_code(args) == exitcodes.ENGINE_FAILURE else exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(exitcodes.INTERRUPTED)
    except BrokenPipeError:  # the reader went away (`rootless images | true`): exit 1, quietly
        _discard_stdout()
        sys.exit(1)
    except Exception as exc:  # a bug: say so in one line, traceback with --debug
        import logging

        logging.getLogger(__name__).debug("internal error", exc_info=True)
        click.echo(f"Error: internal error: {exc!r} (run with --debug for the traceback)", err=True)
        sys.exit(1)
