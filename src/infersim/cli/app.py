"""infersim: which chip serves this model and traffic at the lowest $ per million tokens, at
this latency, and why. Every number is derived from spec files you can read and change.

Every user error becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import InfersimError
from . import cmd_compare, cmd_cost, cmd_inspect, cmd_scenario, cmd_serving, cmd_specs, cmd_sweep, cmd_validate
from .progress import end_progress

GROUPS = (cmd_compare, cmd_inspect, cmd_serving, cmd_sweep, cmd_validate, cmd_cost, cmd_scenario, cmd_specs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infersim", description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--version", action="version", version=f"infersim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InfersimError as exc:
        end_progress()
        print(f"infersim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
