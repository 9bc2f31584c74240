"""`python -m lmv_cli.core.ue4 --write ue4/` regenerates the derived files; `--check ue4/` verifies them.

Exit code 0 when consistent (or written), 1 when `--check` finds problems; every problem is logged on
its own line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lmv_cli.core.ue4.check import check_ue4_consistency, write_ue4_files

log = logging.getLogger("lmv.ue4")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write or check, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m lmv_cli.core.ue4", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="UE4_DIR", type=Path, help="regenerate the derived files in UE4_DIR")
    mode.add_argument("--check", metavar="UE4_DIR", type=Path, help="list disagreements with the schema")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.write is not None:
        changed = write_ue4_files(args.write)
        for path in changed:
            log.info("wrote %s", path)
        log.info("%d file(s) changed", len(changed))
        return 0
    problems = check_ue4_consistency(args.check)
    for problem in problems:
        log.error("%s", problem)
    log.info("%s: %s", args.check, f"{len(problems)} problem(s)" if problems else "consistent with the schema")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
