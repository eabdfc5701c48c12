"""The landing page as infra/pages.py hosts it, in headless Chromium: served from its own origin with the stack's
Content-Security-Policy and a /claim/config.js naming the API's URL, it claims a code from the API on another
origin (CORS) and shows the code and its QR image. With the API's origin left out of connect-src the browser
blocks the call: the policy is really enforced here."""
from __future__ import annotations

import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from infra.pages import API_CONFIG_KEY, content_security_policy
from tests.e2e.localrun import ROOT, start_local_run
from tests.e2e.test_pages_browser import _claim, _qr_text, _text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class PagesHandler(SimpleHTTPRequestHandler):
    """web/ as the distribution serves it: /claim/<id> answers the landing page, every answer has the policy."""

    csp = ""

    def translate_path(self, path: str) -> str:
        parts = path.split("?", 1)[0].split("/")
        if len(parts) == 3 and parts[1] == "claim" and "." not in parts[2]:
            path = "/claim/index.html"
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", self.csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")  # each test's policy, not a cached page's
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hosted-run")
    config = workdir / "config" / "campaigns"
    config.mkdir(parents=True)
    pages = ThreadingHTTPServer(("127.0.0.1", 0), PagesHandler)  # bound first: the campaign names its origin
    page_origin = f"http://localhost:{pages.server_address[1]}"  # another origin than the API's 127.0.0.1
    campaign = {"id": "hosted", "name": "Hosted", "enabled": True, "reward": {"type": "percent_off", "percent": 10},
                "codes": {"type": "unique", "pattern": "HOST-####-####", "expires_in_days": 30},
                "claims": {"allowed_origins": [page_origin]}}  # deployed: the distribution is in ENGINE_ORIGINS
    (config / "hosted.yaml").write_text(yaml.safe_dump(campaign))
    run = start_local_run(workdir, INCENTIVES_CONFIG_DIR=str(config.parent), LOCAL_SCHEDULES="off")
    yield run, pages, page_origin
    pages.server_close()
    assert run.stop() == 0, run.log()


def serve(pages: ThreadingHTTPServer, web: Path, csp: str) -> threading.Thread:
    pages.RequestHandlerClass = partial(type("Handler", (PagesHandler,), {"csp": csp}), directory=str(web))
    thread = threading.Thread(target=pages.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def hosted_web(api, tmp_path) -> Path:
    run, _, _ = api
    web = tmp_path / "web"
    shutil.copytree(ROOT / "web", web)
    (web / API_CONFIG_KEY).write_text(f'window.INCENTIVES_API_URL = "{run.base_url}";\n')  # as the deployment does
    return web


def test_the_hosted_landing_page_claims_from_the_apis_origin_under_the_stacks_policy(api, hosted_web, browser,
                                                                                     tmp_path):
    run, pages, page_origin = api
    thread = serve(pages, hosted_web, content_security_policy(run.base_url))
    try:
        _claim(browser, page_origin, "hosted", "hosted@example.com")
        browser.save_screenshot(str(tmp_path / "hosted-claim.png"))
        code = _text(browser, "#code")
        assert code.startswith("HOST-"), _text(browser, "#message")
        assert _qr_text(browser) == code  # the data: image the policy allows
    finally:
        pages.shutdown()
        thread.join(5)


def test_without_the_apis_origin_in_connect_src_the_browser_blocks_the_claim(api, hosted_web, browser, tmp_path):
    _, pages, page_origin = api
    thread = serve(pages, hosted_web, content_security_policy("https://elsewhere.example"))
    try:
        _claim(browser, page_origin, "hosted", "blocked@example.com")
        browser.save_screenshot(str(tmp_path / "hosted-blocked.png"))
        assert _text(browser, "#code") == ""
        assert _text(browser, "#message") == "The service cannot be reached. Please try again."
    finally:
        pages.shutdown()
        thread.join(5)
