"""``python -m modcheck.census [--write]``: rebuild the census from the code; report or write it."""

from __future__ import annotations

import sys

from .build import build_census
from .model import CENSUS_FILE
from .report import DOC_FILE, updated_doc


def main(argv: list[str]) -> int:
    census, problems = build_census()
    for problem in problems:
        print(f"census: {problem}", file=sys.stderr)
    if "--write" in argv:
        CENSUS_FILE.write_text(census.to_json(), encoding="utf-8")
        DOC_FILE.write_text(updated_doc(DOC_FILE.read_text(encoding="utf-8"), census), encoding="utf-8")
        print(f"wrote {CENSUS_FILE} and the census section of {DOC_FILE}")
    provided = sum(e.status == "provided" for e in census.entries)
    print(f"{provided}/{len(census.entries)} upstream names provided; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
