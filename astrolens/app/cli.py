"""The `astrolens` command line."""

from __future__ import annotations

import argparse
import sys

from astrolens import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="astrolens", description=__doc__)
    parser.add_argument("--version", action="version", version=f"astrolens {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
