"""The offline dependency audit (tools/advisories.py, run by tools/audit_deps.py when pip-audit's service does not
answer): OSV range evaluation, findings against fixture and checked-in advisories, the ignore file's reasons,
and the refresh from a snapshot of the PyPA advisory database (a git directory or a directory of OSV files)."""
from __future__ import annotations

import io
import json
import subprocess
from datetime import date

import pytest
from packaging.version import Version

from tools import advisories
from tools.advisories import affects, audit, build, extract, in_range, open_snapshot, read_ignore


def v(text: str) -> Version:
    return Version(text)


def fixed_at(intro: str, fixed: str) -> list[dict[str, str]]:
    return [{"introduced": intro}, {"fixed": fixed}]


# ---- range evaluation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "hit"), [
    ("0.9", False), ("1.0", True), ("1.4.2", True), ("1.9.99", True), ("2.0", False), ("2.0.1", False)])
def test_introduced_is_inclusive_and_fixed_exclusive(version, hit):
    assert in_range(v(version), fixed_at("1.0", "2.0")) is hit


@pytest.mark.parametrize(("version", "hit"), [("1.0", True), ("1.5", True), ("1.5.0", True), ("1.5.1", False)])
def test_last_affected_is_inclusive(version, hit):
    assert in_range(v(version), [{"introduced": "1.0"}, {"last_affected": "1.5"}]) is hit


def test_several_ranges_and_several_pairs_in_one_range():
    two_pairs = [{"introduced": "0"}, {"fixed": "1.2"}, {"introduced": "2.0"}, {"fixed": "2.4.1"}]
    assert [in_range(v(x), two_pairs) for x in ("0.1", "1.2", "1.9", "2.0", "2.4.0", "2.4.1", "3.0")] == \
        [True, False, False, True, True, False, False]
    advisory = {"ranges": [fixed_at("1.0", "1.1"), fixed_at("3.0", "3.2")]}
    assert [affects(advisory, x) for x in ("0.5", "1.0.5", "2.0", "3.1", "3.2")] == [False, True, False, True, False]


def test_pre_releases_order_as_pep_440_says():
    rng = fixed_at("1.0", "2.0")
    assert in_range(v("2.0rc1"), rng) and in_range(v("2.0.0b3"), rng) and in_range(v("2.0.dev4"), rng)
    assert not in_range(v("1.0rc1"), rng)  # before the introducing release
    assert not in_range(v("2.0.post1"), rng)
    assert in_range(v("1.0rc2"), fixed_at("1.0rc1", "1.0"))  # a range between pre-releases


def test_introduced_zero_means_every_version_even_dev_releases_of_zero():
    rng = fixed_at("0", "0.5")
    assert all(in_range(v(x), rng) for x in ("0", "0.dev0", "0a1", "0.0.1", "0.4.99"))
    assert not in_range(v("0.5"), rng)
    assert in_range(v("99.0"), [{"introduced": "0"}])  # no fix yet: every version


def test_limit_bounds_a_range_and_star_is_none():
    assert not in_range(v("5.0"), [{"introduced": "0"}, {"limit": "4.0"}])
    assert in_range(v("3.0"), [{"introduced": "0"}, {"limit": "4.0"}])
    assert in_range(v("5.0"), [{"introduced": "0"}, {"limit": "*"}])


def test_an_explicit_version_list_is_matched_as_pep_440_versions():
    listed = {"ranges": [], "versions": ["1.2.0", "1.3", "weird-tag"]}
    assert affects(listed, "1.2") and affects(listed, "1.3.0") and affects(listed, "weird-tag")
    assert not affects(listed, "1.2.1") and not affects(listed, "1.4")
    both = {"ranges": [fixed_at("2.0", "2.1")], "versions": ["1.7"]}
    assert affects(both, "1.7") and affects(both, "2.0.3") and not affects(both, "1.8")


# ---- findings ----------------------------------------------------------------------------------------------------

FIXTURE = {
    "source": {"repository": advisories.REPOSITORY, "commit": "f" * 40, "date": "2024-10-10", "licence": "CC-BY-4.0"},
    "packages": ["requests", "urllib3"],
    "advisories": [
        {"id": "PYSEC-TEST-1", "package": "requests", "aliases": ["CVE-0000-0001"], "summary": "netrc leak",
         "ranges": [fixed_at("0", "2.3.0")], "versions": [], "fixed": ["2.3.0"]},
        {"id": "PYSEC-TEST-2", "package": "requests", "aliases": ["CVE-0000-0002", "GHSA-aaaa-bbbb-cccc"],
         "summary": "cookie leak", "ranges": [fixed_at("2.1.0", "2.6.0")], "versions": [], "fixed": ["2.6.0"]},
    ],
}


def test_a_known_vulnerable_pin_is_found_and_a_fixed_one_is_not():
    report = audit([("Requests", "2.3.0", "layers/deps/requirements.txt"), ("urllib3", "2.8.0", "venv")],
                   FIXTURE, {})
    assert [(f.package, f.version, f.id, f.fixed) for f in report.findings] == \
        [("requests", "2.3.0", "PYSEC-TEST-2", ("2.6.0",))]
    assert not report.ok and report.audited == 2
    assert audit([("requests", "2.6.0", "venv")], FIXTURE, {}).ok


def test_the_checked_in_snapshot_knows_the_real_advisories_of_an_old_requests():
    data = advisories.load()
    found = {f.id for f in audit([("requests", "2.3.0", "venv")], data, {}).findings}
    assert {"PYSEC-2015-17", "PYSEC-2018-28", "PYSEC-2023-74"} <= found  # CVE-2015-2296, -2018-18074, -2023-32681
    assert "PYSEC-2014-13" not in found  # fixed in 2.3.0 itself
    old_pip = {f.id for f in audit([("pip", "23.2.1", "venv")], data, {}).findings}
    assert "PYSEC-2023-228" in old_pip


def test_an_ignored_finding_needs_its_reason_and_matches_by_id_or_alias():
    installed = [("requests", "2.3.0", "venv")]
    report = audit(installed, FIXTURE, {"GHSA-aaaa-bbbb-cccc": "no cookies are sent", "PYSEC-GONE": "old"})
    assert report.ok and list(report.explained.values()) == ["no cookies are sent"]
    assert report.unused_ignores == ["PYSEC-GONE"]


def test_the_ignore_file_refuses_an_id_without_a_reason(tmp_path):
    path = tmp_path / ".pip-audit-ignore"
    path.write_text("# accepted advisories\n\nPYSEC-TEST-2 the function is never called\n")
    assert read_ignore(path) == {"PYSEC-TEST-2": "the function is never called"}
    path.write_text("PYSEC-TEST-2 the function is never called\nPYSEC-TEST-1   \n")
    with pytest.raises(ValueError, match=r":2: PYSEC-TEST-1 has no reason"):
        read_ignore(path)


def test_a_package_the_extract_does_not_cover_fails_instead_of_passing_as_clean():
    report = audit([("left-pad", "1.0", "venv"), ("incentives-engine", "0.1.0", "venv")], FIXTURE, {})
    assert report.not_covered == [("left-pad", "1.0", "venv")] and not report.ok  # our own package is skipped


def test_the_report_names_its_snapshot_and_says_it_is_not_todays(monkeypatch):
    monkeypatch.setattr(advisories, "snapshot_age_days", lambda data, today=None: 784)
    out = io.StringIO()
    advisories.print_report(audit([("requests", "2.3.0", "venv")], FIXTURE, {}), FIXTURE, out)
    text = out.getvalue()
    assert "requests 2.3.0 [venv]: PYSEC-TEST-2 (CVE-0000-0002, GHSA-aaaa-bbbb-cccc; fixed in 2.6.0)" in text
    assert "snapshot ffffffffffff of 2024-10-10 (784 days old; CC-BY-4.0" in text
    assert "NOT an audit against today's advisories" in text and "1 not explained" in text
    assert advisories.snapshot_age_days(FIXTURE, date(2026, 12, 3)) == 784


def test_the_layer_pins_are_read_from_the_requirements_file(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# deps\naws-lambda-powertools[tracer]==3.37.0\nnumpy>=2\n-r other.txt\nsegno==1.6.6  # qr\n")
    assert advisories.pinned(path) == [("aws-lambda-powertools", "3.37.0", str(path)), ("segno", "1.6.6", str(path))]


def test_the_checked_in_extract_names_its_source_licence_and_covers_the_layer():
    data = advisories.load()
    src = data["source"]
    assert src["repository"] == "https://github.com/pypa/advisory-database" and len(src["commit"]) == 40
    assert src["licence"] == "CC-BY-4.0" and "Creative Commons Attribution 4.0" in src["attribution"]
    date.fromisoformat(src["date"])
    assert {advisories.normalize(n) for n, _, _ in advisories.pinned()} <= set(data["packages"])
    assert {a["package"] for a in data["advisories"]} <= set(data["packages"])  # only our packages


# ---- refresh -----------------------------------------------------------------------------------------------------

OSV = """\
id: PYSEC-2099-1
summary: A fixture advisory
details: Long text.
aliases: [CVE-2099-1]
published: 2099-01-02T00:00:00Z
affected:
- package: {name: Requests, ecosystem: PyPI}
  ranges:
  - type: GIT
    repo: https://example.invalid/requests
    events: [{introduced: abc}]
  - type: ECOSYSTEM
    events: [{introduced: "0"}, {fixed: 2.3.0}]
  versions: [1.0.0, 2.2.1, 2.9.9]
- package: {name: left-pad, ecosystem: PyPI}
  ranges:
  - type: ECOSYSTEM
    events: [{introduced: "0"}]
"""
WITHDRAWN = ("id: PYSEC-2099-2\nwithdrawn: 2099-02-01T00:00:00Z\n"
             "affected:\n- package: {name: requests, ecosystem: PyPI}\n")


def test_extract_keeps_our_package_ecosystem_ranges_and_only_the_versions_no_range_covers():
    import yaml

    [entry] = extract(yaml.safe_load(OSV), "vulns/requests/PYSEC-2099-1.yaml", {"requests"})
    assert entry["package"] == "requests" and entry["aliases"] == ["CVE-2099-1"]
    assert entry["ranges"] == [[{"introduced": "0"}, {"fixed": "2.3.0"}]]  # the GIT range is not ours to read
    assert entry["versions"] == ["2.9.9"] and entry["fixed"] == ["2.3.0"]
    assert entry["published"] == "2099-01-02T00:00:00Z" and entry["summary"] == "A fixture advisory"
    assert [affects(entry, x) for x in ("2.2.1", "2.3.0", "2.9.9")] == [True, False, True]  # the same verdicts
    assert extract(yaml.safe_load(WITHDRAWN), "w.yaml", {"requests"}) == []


def test_refresh_reads_a_directory_of_osv_files(tmp_path):
    (tmp_path / "vulns" / "requests").mkdir(parents=True)
    (tmp_path / "vulns" / "requests" / "PYSEC-2099-1.yaml").write_text(OSV)
    (tmp_path / "vulns" / "requests" / "PYSEC-2099-2.yaml").write_text(WITHDRAWN)
    (tmp_path / "GHSA-x.json").write_text(json.dumps({
        "id": "GHSA-x", "details": "First sentence. Second one.",
        "affected": [{"package": {"name": "urllib3", "ecosystem": "PyPI"}, "versions": ["1.0"]}]}))
    data = build(open_snapshot(tmp_path), {"requests", "urllib3"})
    assert [(a["id"], a["package"]) for a in data["advisories"]] == [("PYSEC-2099-1", "requests"),
                                                                     ("GHSA-x", "urllib3")]
    assert data["advisories"][1]["summary"] == "First sentence." and data["source"]["commit"] is None
    assert data["packages"] == ["requests", "urllib3"] and data["source"]["files_read"] == 3


def test_refresh_reads_the_head_of_a_git_snapshot(tmp_path):
    repo = tmp_path / "db"
    (repo / "vulns" / "requests").mkdir(parents=True)
    (repo / "vulns" / "requests" / "PYSEC-2099-1.yaml").write_text(OSV)
    (repo / "README.md").write_text("not an advisory")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_COMMITTER_DATE": "2030-05-06T07:08:09Z", "HOME": str(tmp_path)}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "advisories"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()
    data = build(open_snapshot(repo), {"requests"})
    assert data["source"]["commit"] == head and data["source"]["date"] == "2030-05-06"
    assert [a["id"] for a in data["advisories"]] == ["PYSEC-2099-1"] and data["source"]["files_read"] == 1


def test_a_built_layer_directory_is_audited_with_its_own_versions(tmp_path, monkeypatch):
    """`audit --path DIR`: a dependency layer resolves its unpinned transitive dependencies when it is built."""
    info = tmp_path / "requests-2.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: requests\nVersion: 2.3.0\n")
    rows = advisories.installed([tmp_path])
    assert ("requests", "2.3.0", str(tmp_path)) in rows
    monkeypatch.setattr(advisories, "load", lambda: FIXTURE)
    monkeypatch.setattr(advisories, "venv_distributions",
                        lambda path=None: [("requests", "2.3.0", str(path))] if path else [])
    monkeypatch.setattr(advisories, "pinned", lambda: [])
    out = io.StringIO()
    assert advisories.run_offline(out, paths=[tmp_path], online=False) == 1
    assert f"requests 2.3.0 [{tmp_path}]: PYSEC-TEST-2" in out.getvalue()


# ---- today's data: PyPI's JSON of the latest release -------------------------------------------------------------

def pypi_doc(latest: str, vulns=(), releases=None) -> dict:
    return {"info": {"version": latest}, "vulnerabilities": list(vulns), "releases": releases or {}}


def test_a_latest_release_is_checked_against_todays_pypi_data_too():
    today = [{"id": "GHSA-new1-xxxx-yyyy", "aliases": ["CVE-2026-1"], "fixed_in": ["2.35.0"], "summary": "new",
              "details": "", "withdrawn": None},
             {"id": "PYSEC-TEST-2", "aliases": ["CVE-0000-0002"], "fixed_in": ["2.6.0"]},  # the snapshot's own
             {"id": "GHSA-gone-xxxx-yyyy", "aliases": [], "fixed_in": [], "withdrawn": "2026-01-01T00:00:00Z"}]
    report = audit([("requests", "2.3.0", "venv"), ("brand-new", "1.0", "venv")], FIXTURE, {},
                   {"requests": pypi_doc("2.3.0", today), "brand-new": pypi_doc("1.0")})
    assert [(f.id, f.fixed) for f in report.findings] == [("PYSEC-TEST-2", ("2.6.0",)),
                                                          ("GHSA-new1-xxxx-yyyy", ("2.35.0",))]
    assert report.findings[1].summary == "new [PyPI, today]"
    # a package the snapshot was not extracted for is covered by today's data when it is the latest release
    assert report.not_covered == [] and [r[0] for r in report.current] == ["requests", "brand-new"]


def test_an_older_release_is_the_snapshots_alone_and_says_when_it_came_out():
    releases = {"2.3.0": [{"upload_time_iso_8601": "2014-05-29T10:00:00Z"}], "2.34.2": []}
    report = audit([("requests", "2.3.0", "venv")], FIXTURE, {},
                   {"requests": pypi_doc("2.34.2", [{"id": "GHSA-latest-only", "aliases": []}], releases)})
    assert report.behind == [("requests", "2.3.0", "venv", "2.34.2", "2014-05-29")] and report.current == []
    assert [f.id for f in report.findings] == ["PYSEC-TEST-2"]  # the latest release's advisories are not ours
    out = io.StringIO()
    advisories.print_report(audit([("requests", "2.7.0", "venv")], FIXTURE, {}, {"requests": pypi_doc(
        "2.34.2", releases={"2.7.0": [{"upload_time": "2030-01-01T00:00:00"}]})}), FIXTURE, out)
    assert "released 2030-01-01, after the snapshot" in out.getvalue()
    assert "NOT an audit against today's advisories" in out.getvalue()


def test_packages_pypi_does_not_answer_for_are_left_to_the_snapshot():
    docs = advisories.latest_documents(["Requests", "urllib3", "incentives-engine"],
                                       lambda name: pypi_doc("2.34.2") if name == "requests" else None)
    assert list(docs) == ["requests"]  # our own package is never asked for


# ---- make scan's entry point (tools/audit_deps.py) ---------------------------------------------------------------

class _Ran:
    def __init__(self, stdout: str, returncode: int = 0):
        self.stdout, self.returncode, self.stderr = stdout, returncode, "no route to host"


def test_make_scan_falls_back_to_the_offline_audit_and_pip_audit_required_fails(monkeypatch, capsys):
    from tools import audit_deps

    offline_runs = []
    monkeypatch.setattr(audit_deps.subprocess, "run", lambda *a, **k: _Ran("", 1))
    monkeypatch.setattr(advisories, "run_offline", lambda: offline_runs.append(1) or 0)
    monkeypatch.delenv("PIP_AUDIT_REQUIRED", raising=False)
    assert audit_deps.main() == 0 and offline_runs == [1]
    assert "cannot be reached" in capsys.readouterr().out
    monkeypatch.setenv("PIP_AUDIT_REQUIRED", "1")
    assert audit_deps.main() == 1 and offline_runs == [1, 1]
    # PyPI answered for no package (the mirror's 404s): the same fallback
    skipped = {"dependencies": [{"name": n, "skip_reason": "Dependency not found on PyPI"} for n in ("a", "b")]}
    monkeypatch.setattr(audit_deps.subprocess, "run", lambda *a, **k: _Ran(json.dumps(skipped)))
    monkeypatch.delenv("PIP_AUDIT_REQUIRED")
    assert audit_deps.main() == 0 and offline_runs == [1, 1, 1]


def test_make_scan_with_pip_audit_fails_on_an_unexplained_vulnerability(monkeypatch, tmp_path):
    from tools import audit_deps

    found = {"dependencies": [{"name": "requests", "version": "2.3.0", "vulns": [
        {"id": "PYSEC-2015-17", "aliases": ["CVE-2015-2296"], "fix_versions": ["2.6.0"]}]},
        {"name": "urllib3", "version": "2.8.0", "vulns": []}]}
    monkeypatch.setattr(audit_deps.subprocess, "run", lambda *a, **k: _Ran(json.dumps(found)))
    ignore = tmp_path / ".pip-audit-ignore"
    monkeypatch.setattr(advisories, "IGNORE_FILE", ignore)
    assert audit_deps.main() == 1
    ignore.write_text("CVE-2015-2296 our client never follows redirects with cookies\n")
    assert audit_deps.main() == 0
    ignore.write_text("CVE-2015-2296\n")
    assert audit_deps.main() == 1
