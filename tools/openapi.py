"""Write (or check) docs/openapi.json, the committed copy of the document `GET /v1/openapi.json` serves.

    python -m tools.openapi            # regenerate docs/openapi.json from the declarations
    python -m tools.openapi --check    # exit 1 when docs/openapi.json is not what the declarations give
    python -m tools.openapi --stdout   # print it

The document is generated (incentives.http.openapi) from the route table and the request and response
declarations; never edit docs/openapi.json by hand. tests/unit/test_openapi.py fails when it is stale.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "layers" / "core" / "python") not in sys.path:  # the domain core is a layer, not a package
    sys.path.insert(0, str(ROOT / "layers" / "core" / "python"))

from incentives.http.openapi import document, render  # noqa: E402

TARGET = ROOT / "docs" / "openapi.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.openapi", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail when docs/openapi.json is stale")
    mode.add_argument("--stdout", action="store_true", help="print the document instead of writing it")
    args = parser.parse_args(argv)
    text = render(document())
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is stale: run `python -m tools.openapi`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(text):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
