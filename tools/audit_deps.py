"""`python -m tools.audit_deps`: pip-audit over the installed environment (the venv holds the layer's runtime
dependencies and the dev ones), for `make scan`.

- A known vulnerability fails, unless .pip-audit-ignore lists its id with a reason ("<ID> <reason>" per line).
- When pip-audit cannot reach its vulnerability service (PyPI's JSON API answers no package, or the network is
  down), nothing was audited: it says so loudly and exits 0, so an offline machine can still run `make test`;
  PIP_AUDIT_REQUIRED=1 (CI with network) turns that into a failure.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORE_FILE = ROOT / ".pip-audit-ignore"


def ignored() -> dict[str, str]:
    out = {}
    if IGNORE_FILE.exists():
        for line in IGNORE_FILE.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                vuln_id, _, reason = line.strip().partition(" ")
                if not reason.strip():
                    raise SystemExit(f"{IGNORE_FILE.name}: {vuln_id} has no reason")
                out[vuln_id] = reason.strip()
    return out


def main() -> int:
    r = subprocess.run([sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "-f", "json"],
                       capture_output=True, text=True, timeout=900, check=False)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        return unavailable(f"pip-audit gave no report (exit {r.returncode}): {r.stderr.strip()[-500:]}")
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if "skip_reason" in d]
    not_found = [d for d in skipped if "not found on PyPI" in d["skip_reason"]]
    if deps and len(not_found) >= len(deps) - 1:  # only this repo's own editable package may be missing
        return unavailable(f"PyPI's vulnerability data answered for none of {len(deps)} packages")
    allowed = ignored()
    found = [(d["name"], d["version"], v["id"]) for d in deps for v in d.get("vulns", [])]
    failing = [f for f in found if f[2] not in allowed]
    for name, version, vuln in found:
        print(f"pip-audit: {name} {version}: {vuln}" + (f" (ignored: {allowed[vuln]})" if vuln in allowed else ""))
    for d in skipped:
        print(f"pip-audit: not audited: {d['name']}: {d['skip_reason']}")
    print(f"pip-audit: {len(deps) - len(skipped)} packages audited, {len(found)} known vulnerabilities, "
          f"{len(failing)} not explained in {IGNORE_FILE.name}")
    return 1 if failing else 0


def unavailable(why: str) -> int:
    required = os.environ.get("PIP_AUDIT_REQUIRED") == "1"
    print(f"pip-audit: NOT AUDITED: the vulnerability service cannot be reached from here ({why}). "
          + ("PIP_AUDIT_REQUIRED=1: failing." if required else
             "Run `make scan` where PyPI's JSON API is reachable, or set PIP_AUDIT_REQUIRED=1 to fail here."),
          file=sys.stderr)
    return 1 if required else 0


if __name__ == "__main__":
    sys.exit(main())
