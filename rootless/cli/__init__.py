"""The `rootless` command line: docker's verbs, talking to rootlessd's API.

Commands are imported lazily (as pip does) so that `rootless ps` pays only
for the verb it runs. Exit codes are decided here and nowhere else.
"""
from __future__ import annotations

import sys
from typing import List, Optional, Tuple

import click

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
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug: say so in one line, traceback with --debug
        import logging

        logging.getLogger(__name__).debug("internal error", exc_info=True)
        click.echo(f"Error: internal error: {exc!r} (run with --debug for the traceback)", err=True)
        sys.exit(1)
