"""`make run`'s own pages as static files (local/server.py STATIC, STATIC_PAGES): /claim/{campaign_id} answers the
landing page whatever the campaign id, /dashboard/ the dashboard; no file outside web/ and no CDN is used."""
from __future__ import annotations

import re

from local.server import STATIC, LocalApi


def get(api: LocalApi, path: str):
    r = api.handle("GET", path, [], None)
    return r.status, dict(r.headers), r.body


def test_the_claim_page_answers_any_campaign_id_and_its_own_files(tmp_path):
    api = LocalApi(functions_dir=tmp_path, storefront_key="sk", operator_key="ok")
    page = (STATIC["/claim/"] / "index.html").read_bytes()
    for path in ("/claim/welcome10", "/claim/welcome10?utm=x", "/claim/", "/claim/index.html"):
        status, headers, body = get(api, path)
        assert status == 200 and headers["Content-Type"].startswith("text/html") and body == page, path
    status, headers, body = get(api, "/claim/claim.js")
    assert status == 200 and "javascript" in headers["Content-Type"] and b"/v1/public/campaigns/" in body
    assert get(api, "/claim/a/b")[0] == 404  # one path segment only
    assert get(api, "/claim/..%2f..%2fMakefile")[0] == 404
    assert get(api, "/dashboard")[:2] == (301, {"Location": "/dashboard/", "Content-Type": "text/plain"})
    status, _, body = get(api, "/dashboard/")
    assert status == 200 and b"/dashboard/dashboard.js" in body
    assert get(api, "/dashboard/nope")[0] == 404


def test_the_pages_load_only_their_own_files():
    """Offline: every script, style sheet and image of the pages is one of their own files, no CDN."""
    for prefix in ("/claim/", "/dashboard/"):
        page = (STATIC[prefix] / "index.html").read_text(encoding="utf-8")
        refs = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert refs and all(r.startswith(prefix) and (STATIC[prefix] / r[len(prefix):]).is_file() for r in refs)
        for f in STATIC[prefix].iterdir():
            assert "http://" not in f.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
            assert "https://" not in f.read_text(encoding="utf-8")
