"""`make run`'s own pages in headless Chromium (Debian's chromium + chromium-driver, installed by make test through
make/browser.sh): the landing page /claim/{campaign_id} and the read-only operator dashboard /dashboard/, both
static HTML + JS over the HTTP API of `python -m local.run`. Each test saves a screenshot under its tmp dir."""
from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import yaml
import zxingcpp

from tests.e2e.localrun import OPERATOR_KEY, STOREFRONT_KEY, start_local_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TABLE = f"e2e-pages-{uuid.uuid4().hex[:8]}"
WAIT = 20


def _campaign(cid: str, **extra) -> dict:
    return {"id": cid, "name": cid.title(), "enabled": True, "reward": {"type": "percent_off", "percent": 10},
            **extra}


@pytest.fixture(scope="module")
def run(tmp_path_factory, ddb_endpoint):
    workdir = tmp_path_factory.mktemp("run")
    config = workdir / "config" / "campaigns"
    config.mkdir(parents=True)
    unique = {"type": "unique", "pattern": "LAND-####-####", "expires_in_days": 30, "bind_to_customer": True}
    campaigns = [
        # the page's origin is in no allowed_origins list: the engine's own pages may always claim
        _campaign("landing", codes=unique, claims={"allowed_origins": ["https://shop.example"]}),
        _campaign("tight", codes={**unique, "pattern": "TIGHT-####-####"},
                  claims={"rate_limit": {"per_client_per_minute": 1, "per_campaign_per_second": 100}}),
        _campaign("spend", codes={"type": "public", "code": "SPEND5"},
                  reward={"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}}),
    ]
    for c in campaigns:
        (config / f"{c['id']}.yaml").write_text(yaml.safe_dump(c))
    r = start_local_run(workdir, INCENTIVES_CONFIG_DIR=str(config.parent), LOCAL_SCHEDULES="off",
                        DYNAMODB_ENDPOINT=ddb_endpoint, TABLE_NAME=TABLE)
    yield r
    assert r.stop() == 0, r.log()


def _wait(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)


def _text(driver, css: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css).text


def _claim(driver, base: str, campaign_id: str, email: str, consent: bool = True) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/claim/{campaign_id}")
    driver.find_element(By.ID, "email").send_keys(email)
    if consent:
        driver.find_element(By.ID, "consent").click()
    driver.find_element(By.ID, "submit").click()
    _wait(driver, lambda d: _text(d, "#code") or _text(d, "#message"))


def _qr_text(driver) -> str:
    """The QR image as the page shows it, drawn onto a canvas in the browser and decoded with zxing-cpp."""
    size, pixels = driver.execute_script("""
        const img = document.getElementById('qr');
        const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
        const ctx = c.getContext('2d'); ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, c.width, c.height);
        ctx.drawImage(img, 0, 0, c.width, c.height);
        const d = ctx.getImageData(0, 0, c.width, c.height).data; const out = [];
        for (let i = 0; i < d.length; i += 4) out.push(d[i + 1]);
        return [[c.width, c.height], out];""")
    grid = np.array(pixels, dtype=np.uint8).reshape(size[1], size[0])
    return "".join(r.text for r in zxingcpp.read_barcodes(grid))


def test_a_claim_with_consent_shows_the_code_and_its_qr_code_and_the_same_code_again(run, browser, tmp_path):
    _claim(browser, run.base_url, "landing", "ann@example.com")
    code = _text(browser, "#code")
    browser.save_screenshot(str(tmp_path / "claim.png"))
    assert code.startswith("LAND-") and _text(browser, "#message") == ""
    assert browser.execute_script("const i = document.getElementById('qr');"
                                  "return i.complete && i.naturalWidth > 0 && !i.hidden")
    assert _qr_text(browser) == code
    assert _text(browser, "#expires").startswith("Valid until ")
    # the same e-mail again (another spelling, without the box ticked): the same code
    _claim(browser, run.base_url, "landing", "ANN@example.com", consent=False)
    browser.save_screenshot(str(tmp_path / "claim-again.png"))
    assert _text(browser, "#code") == code and _text(browser, "#message") == "You claimed this code before."
    assert (tmp_path / "claim.png").stat().st_size > 0 and (tmp_path / "claim-again.png").stat().st_size > 0


def test_a_throttled_claim_shows_when_to_retry(run, browser, tmp_path):
    if time.time() % 60 > 40:  # the limit counts per calendar minute: both claims must fall in the same one
        time.sleep(60.5 - time.time() % 60)
    _claim(browser, run.base_url, "tight", "first@example.com")
    assert _text(browser, "#code").startswith("TIGHT-")
    _claim(browser, run.base_url, "tight", "second@example.com")
    browser.save_screenshot(str(tmp_path / "claim-429.png"))
    message = _text(browser, "#message")
    # the Retry-After is what is left of the calendar minute: 1 second is said in the singular
    seconds = int(message.split(" in ")[1].split()[0])
    assert seconds >= 1
    assert message == f"Too many requests. Please try again in {seconds} second{'' if seconds == 1 else 's'}."
    assert _text(browser, "#code") == "" or not browser.find_element("id", "result").is_displayed()


def test_an_unknown_campaign_shows_an_error(run, browser, tmp_path):
    _claim(browser, run.base_url, "nope", "x@example.com")
    browser.save_screenshot(str(tmp_path / "claim-404.png"))
    assert _text(browser, "#message") == "This campaign does not exist."


def test_the_dashboard_lists_the_campaigns_with_their_stats_and_draws_the_spend_chart(run, browser, tmp_path):
    from selenium.webdriver.common.by import By

    for i in range(3):
        assert run.request("POST", "/v1/redemptions", headers={"x-api-key": STOREFRONT_KEY}, body={
            "code": "SPEND5", "customer": {"id": f"s{i}"},
            "order": {"id": f"o{i}", "currency": "EUR", "amount": 5_000}}).status == 201
    browser.get(f"{run.base_url}/dashboard/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{run.base_url}/dashboard/")
    _wait(browser, lambda d: d.find_element(By.ID, "key-form").is_displayed())
    browser.find_element(By.ID, "key").send_keys(OPERATOR_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#spend-chart polyline"))
    _wait(browser, lambda d: d.find_element(By.ID, "retention").text)
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
    rows = {tr.get_attribute("data-campaign"): [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#campaigns tbody tr")}
    assert set(rows) == {"landing", "tight", "spend"}
    assert rows["spend"][1:] == ["active", "0", "0", "3", "\u2013", "15.00 EUR"]
    assert rows["landing"][3] == "1" and rows["tight"][3] == "1"  # claims (the e-mails above)
    assert rows["landing"][6] == "0"
    line = browser.find_element(By.CSS_SELECTOR, "#spend-chart polyline")
    points = [tuple(map(float, p.split(","))) for p in line.get_attribute("points").split()]
    assert line.get_attribute("data-currency") == "EUR" and len(points) == 7  # the last 7 days, today last
    assert min(p[1] for p in points) == points[-1][1] < points[0][1]  # today's spend is the peak, before it 0
    assert "15.00" in browser.find_element(By.ID, "spend-chart").text  # the axis' top: the day's spend
    retention = browser.find_element(By.ID, "retention").text
    assert retention == "No orders in the window."  # the retention route answers; no order events were sent
    # the key lives in this tab's session only
    assert browser.execute_script("return sessionStorage.getItem('incentives.operatorKey')") == OPERATOR_KEY
    assert browser.execute_script("return localStorage.length") == 0


def test_the_dashboard_asks_again_for_a_refused_key(run, browser, tmp_path):
    from selenium.webdriver.common.by import By

    # set the key on a page of the same origin that does not use it: the dashboard's own loading (with the
    # previous test's key) would race with the change
    browser.get(f"{run.base_url}/v1/health")
    browser.execute_script("sessionStorage.setItem('incentives.operatorKey', 'wrong')")
    browser.get(f"{run.base_url}/dashboard/")
    # the form shows at once while the page loads; the refusal's message comes with the API's 401
    _wait(browser, lambda d: d.find_element(By.ID, "key-form").is_displayed()
          and d.find_element(By.ID, "message").text.startswith("The key was refused"))
    browser.save_screenshot(str(tmp_path / "dashboard-key.png"))
    assert _text(browser, "#message").startswith("The key was refused")
    assert browser.execute_script("return sessionStorage.getItem('incentives.operatorKey')") is None
