"""`make run`'s /docs: Swagger UI (npm swagger-ui-dist) over GET /v1/openapi.json, served by the local server's
static hook (local/server.py STATIC) before route matching."""
from __future__ import annotations

import re

import pytest

from local.server import STATIC, LocalApi


@pytest.fixture
def api(tmp_path) -> LocalApi:
    dist = tmp_path / "swagger-ui-dist"
    dist.mkdir()
    (dist / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = function () {};", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not served", encoding="utf-8")
    api = LocalApi(functions_dir=tmp_path, storefront_key="sk", operator_key="ok")
    api.static["/docs/swagger-ui/"] = dist  # the npm package's folder, here a stand-in
    return api  # not ready: static files do not wait for DynamoDB Local


def get(api: LocalApi, path: str, method: str = "GET"):
    r = api.handle(method, path, [], None)
    return r.status, dict(r.headers), r.body


def test_docs_is_swagger_ui_over_the_openapi_document(api):
    assert get(api, "/docs")[:2] == (301, {"Location": "/docs/", "Content-Type": "text/plain"})
    status, headers, body = get(api, "/docs/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert 'url: "/v1/openapi.json"' in page and "SwaggerUIBundle(" in page
    assert get(api, "/docs/index.html")[2] == body


def test_the_swagger_ui_files_come_from_the_npm_package_folder(api):
    status, headers, body = get(api, "/docs/swagger-ui/swagger-ui-bundle.js?v=1")
    assert status == 200 and "javascript" in headers["Content-Type"] and body.startswith(b"window.SwaggerUIBundle")
    assert get(api, "/docs/swagger-ui/nope.js")[0] == 404
    assert get(api, "/docs/swagger-ui/../../secret.txt")[0] == 404
    assert get(api, "/docs/swagger-ui/%2e%2e/%2e%2e/secret.txt")[0] == 404
    assert get(api, "/docs/", "POST")[0] == 405
    # everything else is still the API's (here: not ready yet)
    assert get(api, "/v1/health")[0] == 503
    assert get(api, "/documents")[0] == 503


def test_the_page_loads_only_files_the_package_ships():
    """Every /docs/swagger-ui/ file the page names is in swagger-ui-dist (package.json pins the version)."""
    page = (STATIC["/docs/"] / "index.html").read_text(encoding="utf-8")
    names = re.findall(r'"/docs/swagger-ui/([^"]+)"', page)
    assert set(names) == {"swagger-ui.css", "favicon-32x32.png", "swagger-ui-bundle.js",
                          "swagger-ui-standalone-preset.js"}
    dist = STATIC["/docs/swagger-ui/"]
    if not (dist / "package.json").exists():
        pytest.skip("node_modules/swagger-ui-dist is not installed yet (make setup runs npm ci)")
    assert all((dist / n).is_file() for n in names)
