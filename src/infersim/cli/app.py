"""infersim: which chip serves this model and traffic at the lowest $ per million tokens, at
this latency, and why. Every number is derived from spec files you can read and change.

Every user error becomes one line on stderr and exit code 2; Ctrl-C one line and exit code 130.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import InfersimError
from . import cmd_compare, cmd_cost, cmd_inspect, cmd_scenario, cmd_serving, cmd_specs, cmd_sweep, cmd_validate
from .progress import end_progress

GROUPS = (cmd_compare, cmd_inspect, cmd_serving, cmd_sweep, cmd_validate, cmd_cost, cmd_scenario, cmd_specs)


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block): what is wrong and where the help is."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"infersim: error: {self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="infersim", description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--version", action="version", version=f"infersim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except InfersimError as exc:
        end_progress()
        print(f"infersim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        end_progress()
        print("infersim: interrupted (Ctrl-C); outputs not yet written were discarded", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
