"""`python -m tools.audit_deps`: the dependency audit of `make scan` (the venv holds the layer's runtime dependencies
and the dev ones; the layer's pins in layers/deps/requirements.txt are audited as written too).

- pip-audit first, against PyPI's vulnerability data (today's advisories).
- Where its service does not answer (a build machine whose PyPI mirror serves no `/pypi/<name>/<version>/json`,
  no network), the offline audit (tools/advisories.py) runs instead, against the checked-in extract of the PyPA
  advisory database (security/advisories.json), and says which snapshot and how old it is: an audit against a
  snapshot is not an audit against today. Packages installed at their latest release are also checked against
  PyPI's current `vulnerabilities` of that release (`/pypi/<name>/json`, which such a mirror does serve).
  PIP_AUDIT_REQUIRED=1 (CI with network) fails when pip-audit could not run, after the offline audit's report.
- A known vulnerability fails either way, unless .pip-audit-ignore names its id (or an alias) with a reason
  ("<ID> <reason>" per line; a line without a reason fails).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tools import advisories


def main() -> int:
    try:
        allowed = advisories.read_ignore(advisories.IGNORE_FILE)
    except ValueError as e:
        print(f"audit: {e}", file=sys.stderr)
        return 1
    # pip-audit of this interpreter's environment: a fixed argument list, no shell
    r = subprocess.run([sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "-f", "json"],
                       capture_output=True, text=True, timeout=900, check=False)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        return offline(f"pip-audit gave no report (exit {r.returncode}): {r.stderr.strip()[-500:]}")
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if "skip_reason" in d]
    not_found = [d for d in skipped if "not found on PyPI" in d["skip_reason"]]
    if deps and len(not_found) >= len(deps) - 1:  # only this repo's own editable package may be missing
        return offline(f"PyPI's vulnerability data answered for none of {len(deps)} packages")
    found = [(d["name"], d["version"], v["id"], {v["id"], *v.get("aliases", ())}) for d in deps
             for v in d.get("vulns", [])]
    reasons = {f[2]: next((allowed[n] for n in sorted(f[3]) if n in allowed), None) for f in found}
    failing = [f for f in found if reasons[f[2]] is None]
    for name, version, vuln, _ in found:
        print(f"pip-audit: {name} {version}: {vuln}" + (f" (ignored: {reasons[vuln]})" if reasons[vuln] else ""))
    for d in skipped:
        print(f"pip-audit: not audited: {d['name']}: {d['skip_reason']}")
    print(f"pip-audit: {len(deps) - len(skipped)} packages audited against PyPI's current vulnerability data, "
          f"{len(found)} known vulnerabilities, {len(failing)} not explained in {advisories.IGNORE_FILE.name}")
    return 1 if failing else 0


def offline(why: str) -> int:
    required = os.environ.get("PIP_AUDIT_REQUIRED") == "1"
    print(f"pip-audit: its vulnerability service cannot be reached from here ({why}); auditing instead against "
          f"the checked-in advisory snapshot ({advisories.DATA.relative_to(advisories.ROOT)}) and, for packages "
          "installed at their latest release, PyPI's current data of that release (tools/advisories.py).")
    rc = advisories.run_offline()
    if required:
        print("pip-audit: PIP_AUDIT_REQUIRED=1 and pip-audit could not run: failing.", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
