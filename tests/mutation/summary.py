"""Summarise a `mutmut run` (the `mutants/` folder): per module killed / survived / marked equivalent /
other, then every unexplained survivor with its diff. Run by `make mutate`; see docs/testing.md "Mutation testing".

Equivalent mutants (no test can kill them: the program's behaviour is unchanged) are listed in
`tests/mutation/equivalent.toml` with a reason; entries that no longer match a surviving mutant are
reported as stale, because mutant numbers shift when the code changes.

    python tests/mutation/summary.py [--no-diff] [--max-unexplained PERCENT] [MODULE_PREFIX ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path.cwd()  # the repository root, where `mutmut run` leaves mutants/
EQUIVALENT = Path(__file__).with_name("equivalent.toml")
STATUS = {1: "killed", 3: "killed", 37: "killed", 0: "survived", None: "not checked", 36: "timeout",
          24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", 5: "no tests", 33: "no tests"}


def load_results(mutants: Path) -> dict[str, str]:
    """Mutant name → status, from mutmut's per-file `.meta` records."""
    results = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            results[name] = STATUS.get(code, "suspicious")
    return results


def module_of(mutant: str) -> str:
    """`lmv_cli.core.losses.x_total_loss__mutmut_3` → `lmv_cli.core.losses`."""
    return mutant.rsplit(".", 1)[0]  # methods are named module.xǁClassǁmethod__mutmut_N


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="only modules starting with these (e.g. lmv_cli.core.losses)")
    parser.add_argument("--no-diff", action="store_true", help="list survivors without their diffs")
    parser.add_argument("--max-unexplained", type=float, default=None,
                        help="exit 1 when unexplained survivors exceed this percentage of checked mutants")
    args = parser.parse_args()
    results = load_results(ROOT / "mutants")
    if args.prefixes:
        results = {k: v for k, v in results.items() if k.startswith(tuple(args.prefixes))}
    equivalent = tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    per_module: dict[str, Counter] = defaultdict(Counter)
    unexplained = []
    for name, status in results.items():
        if status == "survived" and name in equivalent:
            status = "equivalent"
        elif status == "survived":
            unexplained.append(name)
        per_module[module_of(name)][status] += 1
    print(f"{'module':40} {'killed':>7} {'survived':>9} {'equivalent':>11} {'other':>6}  other = timeout/no tests/not checked")
    totals = Counter()
    for module in sorted(per_module):
        c = per_module[module]
        other = sum(v for k, v in c.items() if k not in ("killed", "survived", "equivalent"))
        if c["killed"] + c["survived"] + c["equivalent"] == 0:
            continue  # nothing of this module was run
        totals.update(c)
        print(f"{module:40} {c['killed']:7} {c['survived']:9} {c['equivalent']:11} {other:6}")
    checked = totals["killed"] + totals["survived"] + totals["equivalent"]
    share = 100.0 * totals["survived"] / checked if checked else 0.0
    print(f"{'total':40} {totals['killed']:7} {totals['survived']:9} {totals['equivalent']:11}"
          f"   unexplained survivors: {share:.1f} % of {checked} checked")
    stale = [name for name in equivalent if results.get(name, "survived") != "survived" or name not in results]
    stale = [n for n in stale if not args.prefixes or n.startswith(tuple(args.prefixes))]
    for name in stale:
        print(f"stale entry in {EQUIVALENT.name}: {name} ({results.get(name, 'no such mutant')})")
    for name in unexplained:
        print(f"\nsurvived: {name}")
        if not args.no_diff:
            diff = subprocess.run([str(Path(sys.executable).with_name("mutmut")), "show", name], cwd=ROOT,
                                  capture_output=True, text=True).stdout
            print("\n".join(line for line in diff.splitlines()[1:] if line.startswith(("-", "+")) and
                            not line.startswith(("---", "+++"))))
    if args.max_unexplained is not None and share > args.max_unexplained:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
