"""The offline vulnerability audit: PyPA advisories of our dependencies, checked in, evaluated without network.

pip-audit's PyPI service and OSV cannot be reached from every build machine (here: the PyPI mirror answers no
`/pypi/<name>/<version>/json`, api.osv.dev does not resolve). The data they serve for PyPI comes from the PyPA
advisory database (https://github.com/pypa/advisory-database, OSV format, CC-BY 4.0). This module keeps the
advisories of our own distributions in security/advisories.json, with the snapshot's commit and date, and
evaluates them against the installed versions:

    python -m tools.advisories audit                     # the installed venv and layers/deps pins, offline
    python -m tools.advisories refresh --source DIR      # re-extract from a newer snapshot of the database

`--source` is a git directory of the database (bare or a clone: its HEAD is read) or a plain directory of its
OSV files (YAML or JSON, e.g. an unpacked download of the database or of OSV's PyPI export). A refresh extracts
the advisories of every distribution installed in this venv and pinned in layers/deps/requirements.txt, nothing
else (the file stays small).

An advisory affects a version when the version is in one of its ECOSYSTEM ranges (OSV events introduced / fixed /
last_affected / limit, compared as PEP 440 versions, "0" the lowest) or in its list of versions. A refresh keeps
only the listed versions no range covers (the database enumerates every version of every range: the same answer,
a fraction of the size). Withdrawn advisories are left out.

The audit is as current as its snapshot: a vulnerability published after the snapshot's date is not known to it.
It says so, with the date and the age, every time it runs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "security" / "advisories.json"
LAYER_REQUIREMENTS = ROOT / "layers" / "deps" / "requirements.txt"
IGNORE_FILE = ROOT / ".pip-audit-ignore"
DEFAULT_SOURCE = Path("/work/.mirror/pypa+advisory-database/repo")  # where this build machine keeps a snapshot
REPOSITORY = "https://github.com/pypa/advisory-database"
LICENCE = "CC-BY-4.0"
ATTRIBUTION = ("Advisories from the Python Packaging Advisory Database (https://github.com/pypa/advisory-database) "
               "by the Python Packaging Authority and its contributors, licensed under the Creative Commons "
               "Attribution 4.0 International licence (https://creativecommons.org/licenses/by/4.0/). Extracted "
               "by tools/advisories.py: only the advisories of this project's dependencies, withdrawn ones left "
               "out, summaries shortened and version lists reduced to the versions no range covers.")
OWN_DISTRIBUTIONS = {"incentives-engine"}  # this repository (pip install -e .): not on PyPI
SUMMARY_CHARS = 240


def normalize(name: str) -> str:
    """PEP 503: case, runs of '-', '_' and '.' are the same name."""
    return re.sub(r"[-_.]+", "-", name).lower()


# ---- evaluation ------------------------------------------------------------------------------------------------

LOWEST = Version("0.dev0")  # below every PEP 440 version without an epoch (pre- and dev-releases of 0 too)


def _version(text: str) -> Version:
    """An event's version; OSV's "0" (introduced) means every version, pre-releases of 0 included."""
    return LOWEST if text == "0" else Version(text)


def in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """Whether ``version`` is inside one OSV ECOSYSTEM range: sorted by version, an ``introduced`` at or below it
    opens the range, a ``fixed`` at or below it closes it, a ``last_affected`` below it closes it; at or above a
    ``limit`` nothing is affected. Raises InvalidVersion for an event that is no PEP 440 version."""
    limits = [_version(e["limit"]) for e in events if "limit" in e and e["limit"] != "*"]  # "*": no limit
    if any(version >= limit for limit in limits):
        return False
    bounds = []
    for e in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in e:
                # at one version an introduced comes first: "introduced 1.0, fixed 1.0" affects nothing
                bounds.append((_version(e[kind]), kind != "introduced", kind))
    affected = False
    for at, _, kind in sorted(bounds, key=lambda b: (b[0], b[1])):
        if kind == "introduced" and version >= at:
            affected = True
        elif kind == "fixed" and version >= at:
            affected = False
        elif kind == "last_affected" and version > at:
            affected = False
    return affected


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def affects(advisory: dict, version: str) -> bool:
    """OSV: in any ECOSYSTEM range, or in the advisory's explicit version list."""
    if any(_same_version(version, listed) for listed in advisory.get("versions", ())):
        return True
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False  # only the explicit list can name a version PEP 440 cannot order
    return any(in_range(parsed, events) for events in advisory.get("ranges", ()))


# ---- the audit ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    where: str  # "venv" or the requirements file pinning it
    id: str
    aliases: tuple[str, ...]
    fixed: tuple[str, ...]
    summary: str

    def names(self) -> set[str]:
        return {self.id, *self.aliases}


@dataclass
class Report:
    findings: list[Finding]
    explained: dict[Finding, str]  # finding -> its reason in .pip-audit-ignore
    not_covered: list[tuple[str, str, str]]  # (package, version, where): not in the data file's package list
    unused_ignores: list[str]
    audited: int
    current: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)  # checked against today's data
    # (name, version, where, latest release, upload date of the installed version or "")
    behind: list[tuple[str, str, str, str, str]] = dataclasses.field(default_factory=list)

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if f not in self.explained]

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.not_covered


def audit(installed: Iterable[tuple[str, str, str]], data: dict, ignore: dict[str, str],
          latest: dict[str, dict] | None = None) -> Report:
    """``installed``: (name, version, where). An installed package the data file was not extracted for is
    reported (a refresh is due), never passed as clean, unless today's PyPI data covers it.

    ``latest``: normalized name -> PyPI's JSON document of the package (`/pypi/<name>/json`, which describes its
    latest release only). Where the installed version is that release, its `vulnerabilities` are today's
    advisories of that very version (GitHub's advisories included), on top of the snapshot's."""
    covered = {normalize(p) for p in data["packages"]}
    by_package: dict[str, list[dict]] = {}
    for adv in data["advisories"]:
        by_package.setdefault(normalize(adv["package"]), []).append(adv)
    findings: list[Finding] = []
    not_covered, current, behind, audited = [], [], [], 0
    for name, version, where in installed:
        key = normalize(name)
        if key in OWN_DISTRIBUTIONS:
            continue
        doc = (latest or {}).get(key)
        is_latest = doc is not None and _same_version(str(doc.get("info", {}).get("version")), version)
        if key not in covered and not is_latest:
            not_covered.append((name, version, where))
            continue
        audited += 1
        own = [Finding(key, version, where, adv["id"], tuple(adv.get("aliases", ())),
                       tuple(adv.get("fixed", ())), adv.get("summary", ""))
               for adv in by_package.get(key, ()) if affects(adv, version)]
        if doc is not None and is_latest:
            current.append((name, version, where))
            known = set().union(*(f.names() for f in own)) if own else set()
            for vuln in doc.get("vulnerabilities") or ():
                names = {vuln["id"], *(vuln.get("aliases") or ())}
                if vuln.get("withdrawn") or names & known:
                    continue
                known |= names
                summary = _summary({"summary": vuln.get("summary"), "details": vuln.get("details")})
                own.append(Finding(key, version, where, vuln["id"], tuple(sorted(vuln.get("aliases") or ())),
                                   tuple(vuln.get("fixed_in") or ()), summary + " [PyPI, today]"))
        elif doc is not None:
            behind.append((name, version, where, str(doc.get("info", {}).get("version")), _released(doc, version)))
        findings += own
    explained = {}
    for f in findings:
        reason = next((ignore[n] for n in sorted(f.names()) if n in ignore), None)
        if reason is not None:
            explained[f] = reason
    used = set().union(*(f.names() for f in findings)) if findings else set()
    return Report(findings, explained, not_covered, sorted(set(ignore) - used), audited, current, behind)


def _released(doc: dict, version: str) -> str:
    """The day the installed version was uploaded (PyPI's JSON lists every release's files), or ""."""
    for listed, files in (doc.get("releases") or {}).items():
        if _same_version(listed, version):
            days = sorted(str(f.get("upload_time_iso_8601") or f.get("upload_time") or "")[:10] for f in files)
            return next((d for d in days if d), "")
    return ""


# ---- today's data where there is some: PyPI's JSON of the latest release ------------------------------------------

PYPI_JSON = os.environ.get("PYPI_JSON_URL", "https://pypi.org/pypi")


def fetch_latest(name: str, timeout: float = 15.0) -> dict | None:
    """PyPI's JSON of a package (its latest release and that release's `vulnerabilities`), None when it does not
    answer. The same host pip-audit asks; one request per installed package."""
    url = f"{PYPI_JSON}/{quote(normalize(name))}/json"
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"PYPI_JSON_URL must be http(s): {PYPI_JSON}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) only  # nosec B310
            doc = json.load(answer)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("info"), dict) else None


def latest_documents(names: Iterable[str], fetch=fetch_latest, workers: int = 8) -> dict[str, dict]:
    keys = sorted({normalize(n) for n in names} - OWN_DISTRIBUTIONS)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        docs = dict(zip(keys, pool.map(fetch, keys), strict=True))
    return {k: d for k, d in docs.items() if d is not None}


def read_ignore(path: Path = IGNORE_FILE) -> dict[str, str]:
    """``<ID> <reason>`` per line (an advisory id or any of its aliases), ``#`` comments. An id without a reason
    is refused: every accepted vulnerability says why."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        vuln_id, _, reason = line.partition(" ")
        if not reason.strip():
            raise ValueError(f"{path.name}:{number}: {vuln_id} has no reason (write `<ID> <why it is accepted>`)")
        out[vuln_id] = reason.strip()
    return out


def venv_distributions(path: Path | None = None) -> list[tuple[str, str, str]]:
    """Every distribution installed in the running interpreter's environment (`.venv/bin/python`), or in a
    directory of `*.dist-info` (e.g. a built dependency layer: cdk.out/asset.<hash>/python)."""
    seen = {}
    found = metadata.distributions(path=[str(path)]) if path else metadata.distributions()
    for dist in found:
        name = dist.metadata["Name"]
        if name:
            seen[normalize(name)] = (name, dist.version, str(path) if path else "venv")
    return sorted(seen.values())


def pinned(path: Path = LAYER_REQUIREMENTS) -> list[tuple[str, str, str]]:
    """The `name==version` pins of a requirements file (the dependency layer's, built for Lambda apart from the
    venv: its pins are audited as written)."""
    out = []
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if exact:
            out.append((req.name, exact[0], where))
    return out


def installed(paths: Iterable[Path] = ()) -> list[tuple[str, str, str]]:
    """The venv's distributions and the layer's pins (and those of ``paths``), one row per (package, version)
    naming every place."""
    places: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for name, version, where in [*venv_distributions(), *pinned(), *(d for p in paths for d in venv_distributions(p))]:
        places.setdefault((normalize(name), version), (name, []))[1].append(where)
    return [(name, version, ", ".join(wheres)) for (_, version), (name, wheres) in sorted(places.items())]


def load(path: Path = DATA) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def snapshot_age_days(data: dict, today: date | None = None) -> int:
    taken = datetime.fromisoformat(data["source"]["date"]).date()
    return ((today or datetime.now(UTC).date()) - taken).days


def print_report(report: Report, data: dict, out=sys.stdout) -> None:
    src = data["source"]
    for f in report.findings:
        note = f" (ignored: {report.explained[f]})" if f in report.explained else ""
        fixed = ", ".join(f.fixed) or "no fixed version"
        print(f"advisories: {f.package} {f.version} [{f.where}]: {f.id} ({', '.join(f.aliases) or 'no aliases'}; "
              f"fixed in {fixed}): {f.summary}{note}", file=out)
    for name, version, where in report.not_covered:
        print(f"advisories: NOT AUDITED: {name} {version} [{where}] is not among the packages "
              f"{DATA.relative_to(ROOT)} was extracted for: run `python -m tools.advisories refresh`", file=out)
    for vuln_id in report.unused_ignores:
        print(f"advisories: {IGNORE_FILE.name} names {vuln_id}, which no installed version has any more: "
              "remove the line", file=out)
    for name, version, where, newest, released in report.behind:
        after = released > src["date"]
        print(f"advisories: {name} {version} [{where}]: snapshot only (PyPI's current data describes {newest})"
              + (f"; released {released}, after the snapshot, which therefore holds no advisory about this release:"
                 " upgrade to the latest release to have it checked against today's data" if after else ""),
              file=out)
    print(f"advisories: {len(report.current)} of {report.audited} packages are their latest release and were also "
          "checked against PyPI's current vulnerability data (its JSON API's `vulnerabilities` of that release); "
          f"{report.audited - len(report.current)} against the snapshot only.", file=out)
    print(f"advisories: offline audit of {report.audited} packages against the PyPA advisory database snapshot "
          f"{src['commit'][:12]} of {src['date']} ({snapshot_age_days(data)} days old; {src['licence']}, "
          f"{src['repository']}): {len(report.findings)} known vulnerabilities, {len(report.unexplained)} not "
          f"explained in {IGNORE_FILE.name}, {len(report.not_covered)} packages not covered.", file=out)
    if len(report.current) < report.audited:
        print("advisories: for the packages checked against the snapshot only this is NOT an audit against today's "
              f"advisories: anything published after {src['date']} is unknown to it. Audit where pip-audit's "
              "service answers, or refresh the snapshot.", file=out)


def run_offline(out=sys.stdout, paths: Iterable[Path] = (), online: bool = True, fetch=fetch_latest) -> int:
    data = load()
    try:
        ignore = read_ignore()
    except ValueError as e:
        print(f"advisories: {e}", file=out)
        return 1
    rows = installed(paths)
    latest = latest_documents([name for name, _, _ in rows], fetch) if online else {}
    report = audit(rows, data, ignore, latest)
    print_report(report, data, out)
    return 0 if report.ok else 1


# ---- refresh -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Snapshot:
    commit: str | None
    date: str  # YYYY-MM-DD
    files: Iterator[tuple[str, bytes]]  # (path in the database, content)


def _git(git_dir: Path, *args: str, stdin: bytes | None = None) -> bytes:
    # git with a fixed argument list on a directory the operator names; no shell
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], input=stdin,  # noqa: S603, S607  # nosec B607
                          capture_output=True, check=True, timeout=600).stdout


def _git_blobs(git_dir: Path, entries: list[tuple[str, str]]) -> Iterator[tuple[str, bytes]]:
    raw = _git(git_dir, "cat-file", "--batch", stdin="".join(f"{sha}\n" for sha, _ in entries).encode())
    at = 0
    for sha, path in entries:
        header_end = raw.index(b"\n", at)
        got_sha, _kind, size = raw[at:header_end].split()
        if got_sha.decode() != sha:
            raise RuntimeError(f"git cat-file answered {got_sha!r} for {sha}")
        start = header_end + 1
        yield path, raw[start:start + int(size)]
        at = start + int(size) + 1


def open_snapshot(source: Path) -> Snapshot:
    git_dir = source / ".git" if (source / ".git").is_dir() else source
    if (git_dir / "HEAD").is_file() and (git_dir / "objects").is_dir():
        commit, when = _git(git_dir, "log", "-1", "--format=%H %cI", "HEAD").decode().split()
        entries = []
        for row in _git(git_dir, "ls-tree", "-r", "-z", "HEAD", "vulns").split(b"\0"):
            if row:
                meta, path = row.decode().split("\t", 1)
                if meta.split()[1] == "blob" and path.endswith((".yaml", ".yml", ".json")):
                    entries.append((meta.split()[2], path))
        return Snapshot(commit, when[:10], _git_blobs(git_dir, entries))
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
        if not paths:
            raise SystemExit(f"{source}: no OSV files (.yaml, .json) below it")
        newest = max(datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in paths)
        return Snapshot(None, newest.date().isoformat(),
                        ((str(p.relative_to(source)), p.read_bytes()) for p in paths))
    raise SystemExit(f"{source}: neither a git directory nor a directory of OSV files")


def _parse(path: str, content: bytes) -> dict | None:
    if path.endswith(".json"):
        doc = json.loads(content)
    else:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader: 2,600 files in seconds
        doc = yaml.load(content, Loader=loader)  # noqa: S506 - a safe loader  # nosec B506
    return doc if isinstance(doc, dict) and doc.get("id") and doc.get("affected") else None


def _summary(doc: dict) -> str:
    text = " ".join(str(doc.get("summary") or doc.get("details") or "").split())
    if not doc.get("summary"):
        text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS - 3].rstrip() + "..."


def extract(doc: dict, path: str, packages: set[str]) -> list[dict]:
    """The entries of one OSV advisory for the packages we care about (one per package it affects)."""
    if doc.get("withdrawn"):
        return []
    merged: dict[str, dict[str, Any]] = {}
    for aff in doc["affected"]:
        pkg = aff.get("package") or {}
        if pkg.get("ecosystem") != "PyPI" or normalize(pkg.get("name", "")) not in packages:
            continue
        entry = merged.setdefault(normalize(pkg["name"]), {"ranges": [], "listed": []})
        for rng in aff.get("ranges") or ():
            if rng.get("type") == "ECOSYSTEM":
                entry["ranges"].append([{k: str(v) for k, v in e.items()} for e in rng.get("events", ())])
        entry["listed"] += [str(v) for v in aff.get("versions") or ()]
    out = []
    for name, entry in sorted(merged.items()):
        ranges = entry["ranges"]
        for events in ranges:  # refuse now what the audit could not evaluate later
            for e in events:
                for v in e.values():
                    _version(v)
        fixed = sorted({e["fixed"] for events in ranges for e in events if "fixed" in e}, key=_version)
        versions = sorted({v for v in entry["listed"]
                           if not _covered(v, ranges)}, key=lambda v: (_sortable(v), v))
        out.append({
            "id": doc["id"], "package": name, "aliases": sorted(doc.get("aliases") or ()),
            "summary": _summary(doc), "published": _when(doc.get("published")),
            "modified": _when(doc.get("modified")),
            "ranges": ranges, "versions": versions, "fixed": fixed, "path": path,
        })
    return out


def _when(value: Any) -> str | None:
    """A time as the database wrote it (YAML may have read an unquoted one as a datetime)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return None if value is None else str(value)


def _covered(version: str, ranges: list[list[dict[str, str]]]) -> bool:
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return any(in_range(parsed, events) for events in ranges)


def _sortable(version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0")


def build(snapshot: Snapshot, packages: set[str]) -> dict:
    advisories, seen = [], 0
    for path, content in snapshot.files:
        seen += 1
        doc = _parse(path, content)
        if doc is not None:
            advisories += extract(doc, path, packages)
    advisories.sort(key=lambda a: (a["package"], a["id"]))
    return {
        "source": {"repository": REPOSITORY, "commit": snapshot.commit, "date": snapshot.date, "licence": LICENCE,
                   "attribution": ATTRIBUTION, "files_read": seen},
        "packages": sorted(packages),
        "advisories": advisories,
    }


def render(data: dict) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def our_packages() -> set[str]:
    return {normalize(name) for name, _, _ in installed()} - OWN_DISTRIBUTIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.advisories", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("audit", help="audit the venv and the layer's pins against security/advisories.json")
    check.add_argument("--path", type=Path, action="append", default=[],
                       help="also a directory of installed distributions, e.g. a built dependency layer")
    check.add_argument("--offline", action="store_true",
                       help="no request to PyPI's JSON API: the snapshot only")
    refresh = sub.add_parser("refresh", help="re-extract security/advisories.json from a snapshot")
    refresh.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                         help=f"git directory or directory of OSV files (default {DEFAULT_SOURCE})")
    args = parser.parse_args(argv)
    if args.command == "audit":
        return run_offline(paths=args.path, online=not args.offline)
    data = build(open_snapshot(args.source), our_packages())
    DATA.parent.mkdir(exist_ok=True)
    DATA.write_text(render(data), encoding="utf-8")
    print(f"wrote {DATA.relative_to(ROOT)}: {len(data['advisories'])} advisories of {len(data['packages'])} "
          f"packages from {data['source']['files_read']} files of {args.source} "
          f"(commit {data['source']['commit'] or 'unknown'}, {data['source']['date']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
