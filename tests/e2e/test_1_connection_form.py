"""Scenario 1: a user creates the LinkedIn connection in the Airflow UI, in headless Chromium, and tests it.

Only the fields a user fills are touched (API URL and its port, client id and secret, refresh token, ad
account); the rest stay at the form's defaults. The port is one of them because the Test button of Airflow
3.3's connection list posts ``port: 0`` for a connection stored without a port, which the API refuses as
"the host or port to test differs from the stored connection" (fixed upstream in apache/airflow#73298);
the form shows the port, labelled and with a placeholder, for that reason. The filled form is photographed
into the test's output directory (``connection-form.png``, the standard fields, of which
docs/connection-form.png is a copy, and ``connection-form-extra-fields.png``).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from airflow_provider_linkedin_capi.get_provider_info import API_PORT_LABEL
from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN
from e2e.conftest import require_chromium

CONN_ID = "linkedin_capi_ui"
UI_TIMEOUT_MS = 60_000


def _field(page, label: str):
    """The input under a visible label: the form's provider fields carry no ``for`` link to their input."""
    by_label = page.get_by_label(label, exact=True)
    if by_label.count() == 1:
        return by_label
    return (
        page.locator("label", has_text=label).first.locator("xpath=ancestor::div[.//input][1]//input").first
    )


def test_connection_created_in_the_ui_tests_green(deployment, sandbox, tmp_path):
    chromium = require_chromium()
    from playwright.sync_api import expect, sync_playwright

    deployment.api("DELETE", f"connections/{CONN_ID}")
    api_port = urlsplit(sandbox.rest_url).port
    posted: dict[str, dict] = {}  # what the page POSTs: the Save, then the Test button

    def record(request) -> None:
        if request.method == "POST" and "/api/v2/connections" in request.url:
            posted[request.url.rpartition("/api/v2/")[2]] = json.loads(request.post_data or "{}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.on("request", record)
            page.goto(f"{deployment.api_url}/connections", wait_until="networkidle")
            page.get_by_role("button", name="Add Connection").click()
            page.get_by_label("Connection ID").fill(CONN_ID)
            page.get_by_role("combobox").first.fill("LinkedIn Conversions API")
            page.keyboard.press("Enter")
            _field(page, "API base URL (including /rest)").fill(sandbox.rest_url)
            _field(page, API_PORT_LABEL).fill(str(api_port))
            _field(page, "Client ID").fill(CLIENT_ID)
            _field(page, "Client Secret").fill(CLIENT_SECRET)
            page.get_by_role("dialog").screenshot(path=str(tmp_path / "connection-form.png"))
            page.get_by_role("button", name="Extra Fields", exact=True).click()
            _field(page, "Refresh token").fill(REFRESH_TOKEN)
            _field(page, "Default ad account").fill(AD_ACCOUNT_ID)
            page.get_by_role("dialog").screenshot(path=str(tmp_path / "connection-form-extra-fields.png"))
            page.get_by_role("button", name="Save").click()

            row = page.locator("tr").filter(has_text=CONN_ID)
            expect(row).to_be_visible()
            with page.expect_response(lambda r: r.url.endswith("/connections/test")) as answer:
                row.get_by_role("button", name="Test Connection").click()
            test_answer = (
                f"{answer.value.status} {answer.value.text()[:500]} for {answer.value.request.post_data}"
            )
            outcome = page.get_by_text("Test Connection Successful").or_(
                page.get_by_text("Test Connection Failed")
            )
            expect(outcome.first).to_be_visible()
            page.screenshot(path=str(tmp_path / "connection-tested.png"))
            shown = page.locator("body").inner_text()
        finally:
            browser.close()

    saved = deployment.get(f"connections/{CONN_ID}")
    assert saved["conn_type"] == "linkedin_capi"
    assert saved["host"] == sandbox.rest_url
    assert saved["login"] == CLIENT_ID
    assert saved["port"] == api_port
    # The Test button posts the stored port back (Number(port): 0 had it been left empty).
    assert posted["connections"]["port"] == posted["connections/test"]["port"] == api_port, {
        url: body.get("port") for url, body in posted.items()
    }
    extra = json.loads(saved["extra"] or "{}")
    assert extra.get("ad_account_id") == AD_ACCOUNT_ID
    assert "Test Connection Successful" in shown, test_answer
    # The test reached the sandbox: a token was minted and the API called with it.
    assert sandbox.admin.stats()["tokens_issued"] > 0
