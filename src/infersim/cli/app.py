"""The `infersim` command: builds the parser from one module per command group, sets up logging
(-v/-q), and turns every user error into one line on stderr with exit code 2; Ctrl-C one line
and exit code 130."""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..errors import InfersimError
from . import cmd_compare, cmd_cost, cmd_inspect, cmd_scenario, cmd_serving, cmd_specs, cmd_sweep, cmd_validate
from .options import add_verbosity
from .progress import end_progress

GROUPS = (cmd_compare, cmd_inspect, cmd_serving, cmd_sweep, cmd_validate, cmd_cost, cmd_scenario, cmd_specs)
DESCRIPTION = ("Which chip serves this model and this traffic at the lowest cost per token, at this latency, and "
               "why? Every number is derived from spec files you can read and change.")
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
_HANDLERS: list[logging.Handler] = []


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block): what is wrong and where the help is."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"infersim: error: {self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="infersim", description=DESCRIPTION,
                           epilog="`infersim COMMAND --help` describes a command and its options.")
    parser.add_argument("--version", action="version", version=f"infersim {__version__}")
    add_verbosity(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    """Messages on stderr: 'wrote ...' and progress (INFO) by default, only warnings and errors
    with -q, debugging detail with -vv."""
    logger = logging.getLogger("infersim")
    while _HANDLERS:
        logger.removeHandler(_HANDLERS.pop())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    _HANDLERS.append(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        try:  # shell completion when the optional argcomplete is installed (pip install 'infersim[completion]')
            import argcomplete

            argcomplete.autocomplete(parser)
        except ImportError:
            pass
        args, extra = parser.parse_known_args(argv)
        if extra:  # named with the command it was given to, not the top-level parser
            command = " ".join(str(c) for c in (args.command, getattr(args, "specs_cmd", None),
                                                  getattr(args, "scenario_cmd", None)) if c)
            parser.exit(2, f"infersim: error: infersim {command}: unrecognized arguments: {' '.join(extra)} "
                           f"(this command does not take them; see 'infersim {command} --help')\n")
        setup_logging(args.verbose, args.quiet)
        return args.func(args)
    except InfersimError as exc:
        end_progress()
        print(f"infersim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        end_progress()
        print("infersim: interrupted (Ctrl-C); outputs not yet written were discarded", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:  # a request larger than this machine: say so on one line, as for any other input
        end_progress()
        print("infersim: error: out of memory: the request is larger than this machine can hold; ask for less "
              "(fewer chips, samples, lengths or axis values)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
