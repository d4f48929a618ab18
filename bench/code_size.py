"""Measure the code as the consolidation issue counts it, at any git revision (no database).

    .venv/bin/python bench/code_size.py                 # HEAD
    .venv/bin/python bench/code_size.py --rev c11b669   # an older main, read from git, nothing checked out

Counts the project's non-test Python (every tracked `.py` outside `tests/`, `bench/` and migrations): lines,
raw SQL sites (`.execute(` calls), database-vendor branches (`.vendor` reads) and functions longer than 80
lines, per top-level package and in all. `--new-since REV` also lists the modules added since REV (git's rename
detection tells a moved module from a new one), with their lines, so that whole modules added by features can be
told from the code the consolidation changed.
Last line: RESULT code_size rev=<rev> lines=<n> execute_sites=<n> vendor_branches=<n> long_functions=<n>
"""

import argparse
import ast
import subprocess
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LONG_FUNCTION = 80


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def counted_files(rev: str) -> list[str]:
    names = git("ls-tree", "-r", "--name-only", rev).splitlines()
    return [
        name
        for name in names
        if name.endswith(".py") and not name.startswith(("tests/", "bench/")) and "/migrations/" not in name
    ]


def long_functions(source: str) -> int:
    tree = ast.parse(source)
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > LONG_FUNCTION
    )


def measure(rev: str) -> tuple[dict[str, Counter], dict[str, int]]:
    per_package: dict[str, Counter] = {}
    per_file: dict[str, int] = {}
    for name in counted_files(rev):
        source = git("show", f"{rev}:{name}")
        package = name.split("/", 1)[0] if "/" in name else "(top)"
        counts = per_package.setdefault(package, Counter())
        lines = source.count("\n")
        per_file[name] = lines
        counts["lines"] += lines
        counts["execute_sites"] += source.count(".execute(")
        counts["vendor_branches"] += source.count(".vendor")
        counts["long_functions"] += long_functions(source)
    return per_package, per_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--new-since", help="list the modules that did not exist at this revision")
    args = parser.parse_args()
    rev = git("rev-parse", "--short", args.rev).strip()
    per_package, per_file = measure(rev)
    total = sum(per_package.values(), Counter())
    keys = ("lines", "execute_sites", "vendor_branches", "long_functions")
    print(f"{'package':<12}" + "".join(f"{key:>17}" for key in keys))
    for package, counts in sorted(per_package.items()):
        print(f"{package:<12}" + "".join(f"{counts[key]:>17}" for key in keys))
    if args.new_since:
        added = set(git("diff", "--name-only", "--diff-filter=A", "-M", args.new_since, rev).splitlines())
        new = {name: lines for name, lines in per_file.items() if name in added}
        print(f"\nmodules added since {args.new_since} (moved ones not): {sum(new.values())} lines")
        for name, lines in sorted(new.items(), key=lambda item: -item[1]):
            print(f"{lines:>6}  {name}")
    print(f"RESULT code_size rev={rev} " + " ".join(f"{key}={total[key]}" for key in keys))


if __name__ == "__main__":
    main()
