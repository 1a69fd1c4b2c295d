#!/usr/bin/env python3
"""The operator console in a real browser: Debian's chromium driven by Playwright, against a running adworker.

  AD_CONSOLE_URL=http://127.0.0.1:PORT AD_CONSOLE_OPERATOR_TOKEN=adt_... AD_CONSOLE_READER_TOKEN=adt_... \
  DATABASE_URL=postgres://... "$(scripts/lib/api-venv.sh)" Tests/browser/console_test.py

What it needs: the worker serving the console at AD_CONSOLE_URL and scoring AD_CONSOLE_SOURCE (default src-a),
which has history enough to score and an alert rule that covers it; an operator token attributed to a person
(AD_CONSOLE_OPERATOR_PERSON, default Olga Operator) and, optionally, a reader token; psql on PATH and a
DATABASE_URL that may insert points and read ad.* (the test's own login). AD_CONSOLE_SCREENSHOTS names a folder
for a PNG of each page. AD_CHROMIUM overrides /usr/bin/chromium.

What it does, as a person would: logs in with the operator token (and checks the cookie is HttpOnly, SameSite=Strict,
Path=/console, unreadable from script); waits for the live feed to connect; inserts a spike with psql; watches the
anomaly arrive in the live feed without the page reloading; finds the alert the worker raised and acknowledges it
with a note; marks its anomaly a false positive; reads the alert's audit trail; draws the source page's chart;
undoes the tolerance the false positive taught; then checks each change in SQL (status, who, notes, audit rows).
Then the refusals: a form without its CSRF token, a post from another origin, a reader's acknowledgement (the
database's permission error on the page), and a page without JavaScript, whose forms still work. Finally logs out.

Waits are deadlines for things that must happen (the worker scoring, the feedback loop learning), never speed
claims: each is generous, and the test passes however slowly the machine runs within them. Exits non-zero on the
first failure, naming it.
"""
import os
import re
import subprocess
import sys
import time
import urllib.parse

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["AD_CONSOLE_URL"].rstrip("/")
OPERATOR = os.environ["AD_CONSOLE_OPERATOR_TOKEN"]
READER = os.environ.get("AD_CONSOLE_READER_TOKEN")
PERSON = os.environ.get("AD_CONSOLE_OPERATOR_PERSON", "Olga Operator")
SOURCE = os.environ.get("AD_CONSOLE_SOURCE", "src-a")
DATABASE_URL = os.environ["DATABASE_URL"]
SHOTS = os.environ.get("AD_CONSOLE_SCREENSHOTS")
CHROMIUM = os.environ.get("AD_CHROMIUM", "/usr/bin/chromium")
# Deadlines (ms) for what the worker must do; generous so a loaded machine passes.
LONG = 180_000
SHORT = 60_000


def sql(query):
    """The rows of a query, by psql as the test's login; each row's columns joined by |."""
    out = subprocess.run(
        ["psql", DATABASE_URL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", query],
        check=True, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)


def step(text):
    print("console_test:", text, flush=True)


def until(what, deadline_ms, probe, every=1.0):
    """Calls probe until it returns something truthy, or fails naming what did not happen by the deadline."""
    end = time.monotonic() + deadline_ms / 1000
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline_ms / 1000:.0f} s")
        time.sleep(every)


def log_in(page, token):
    page.goto(BASE + "/console")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.fill("#token", token)
    page.click("section.login button[type=submit]")
    expect(page.locator("p.flash")).to_have_text("Logged in.")


def main():
    expect.set_options(timeout=SHORT)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            run(browser)
        finally:
            browser.close()
    print("console_test: passed", flush=True)


def run(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(SHORT)
    page = context.new_page()

    step("a bad token is refused on the login page")
    page.goto(BASE + "/console/login")
    page.fill("#token", "adt_" + "0" * 64)
    page.click("section.login button[type=submit]")
    expect(page.locator("p.problem")).to_contain_text("unknown, revoked or expired")
    assert not context.cookies(), context.cookies()

    step("logging in with the operator token")
    log_in(page, OPERATOR)
    expect(page.locator("header.top .who")).to_contain_text(PERSON)
    cookies = [c for c in context.cookies() if c["name"] == "ad_console"]
    assert len(cookies) == 1, cookies
    c = cookies[0]
    assert c["httpOnly"] and c["sameSite"] == "Strict" and c["path"] == "/console", c
    assert page.evaluate("document.cookie") == "", "the session cookie is readable from script"

    step("the live feed connects")
    expect(page.locator("#feed-state")).to_have_text("live", timeout=SHORT)
    shot(page, "1-overview-before")
    page.evaluate("window.__notReloaded = true")

    step("a spike is injected with psql")
    last = sql(f"SELECT max(p.\"timestamp\") FROM ad.data_points p JOIN ad.data_sources s ON s.id = p.source_id "
               f"WHERE s.name = {literal(SOURCE)}")[0]
    sql(f"""INSERT INTO ad.data_points (source_id, "timestamp", values)
            SELECT s.id, timestamptz {literal(last)} + interval '1 minute', '{{"x": 500}}'
              FROM ad.data_sources s WHERE s.name = {literal(SOURCE)}""")

    step("the anomaly appears in the live feed, without a reload")
    # The row of this source whose actual value (the 7th cell) is the spike's.
    row = page.locator("#feed-rows tr", has_text=SOURCE).filter(
        has=page.locator("td:nth-child(7)", has_text=re.compile(r"^500$"))).first
    expect(row).to_be_visible(timeout=LONG)
    assert page.evaluate("window.__notReloaded === true"), "the page reloaded; the row did not come by the feed"
    anomaly = row.get_attribute("id").removeprefix("anomaly-")
    assert sql(f"SELECT count(*) FROM ad.anomalies WHERE id = {literal(anomaly)} AND status = 'detected'") == ["1"]
    shot(page, "2-overview-spike-live")

    step("the worker's alert for it is on the page (reloading until it is raised)")
    card_selector = f"article.alert:has(form[action='/console/anomalies/{anomaly}'])"

    def alert_shown():
        page.goto(BASE + "/console")
        return page.locator(card_selector).count() == 1
    until("an open alert for the spike's anomaly", LONG, alert_shown)
    card = page.locator(card_selector)
    alert = card.get_attribute("id").removeprefix("alert-")

    step("acknowledging the alert with a note")
    alert_form = card.locator(f"form[action='/console/alerts/{alert}']")
    alert_form.locator("input[name=notes]").fill("on it <b>now</b>")
    alert_form.locator("button[value=acknowledged]").click()
    expect(page.locator("p.flash")).to_have_text("Alert acknowledged.")
    card = page.locator(f"#alert-{alert}")
    expect(card.locator(".alert-status")).to_have_text("acknowledged")
    expect(card.locator(".notes")).to_have_text("Notes: on it <b>now</b>")  # shown as text, not markup
    expect(card).to_contain_text("acknowledged by " + PERSON)

    step("marking its anomaly a false positive")
    anomaly_form = card.locator(f"form[action='/console/anomalies/{anomaly}']")
    anomaly_form.locator("input[name=notes]").fill("a deploy, not an incident")
    anomaly_form.locator("button[value=false_positive]").click()
    expect(page.locator("p.flash")).to_have_text("Anomaly marked a false positive.")
    expect(page.locator(f"#alert-{alert} .anomaly-status")).to_have_text("false_positive")
    shot(page, "3-overview-after-actions")

    step("the changes are in SQL, attributed to the person")
    assert sql(f"""SELECT al.status || '|' || u.name || '|' || al.notes FROM ad.alerts al
                     JOIN ad.users u ON u.id = al.acknowledged_by WHERE al.id = {literal(alert)}""") == [
        f"acknowledged|{PERSON}|on it <b>now</b>"]
    assert sql(f"SELECT status || '|' || notes FROM ad.anomalies WHERE id = {literal(anomaly)}") == [
        "false_positive|a deploy, not an incident"]
    assert sql(f"""SELECT count(*) FROM ad.audit_log l JOIN ad.users u ON u.id = l.user_id
                    WHERE l.entity = 'alert' AND l.entity_id = {literal(alert)} AND u.name = {literal(PERSON)}
                      AND l.new_value ->> 'status' = 'acknowledged'""") == ["1"]

    step("the alert's audit trail names the person")
    page.goto(BASE + f"/console/alerts/{alert}")
    audit = page.locator("table.audit tbody")
    expect(audit).to_contain_text(PERSON)
    expect(audit).to_contain_text("acknowledged")
    shot(page, "4-alert-audit")

    step("the source page draws values, band, score and the anomaly")
    page.goto(BASE + "/console/sources")
    page.click(f"a:text-is('{SOURCE}')")
    expect(page.locator("svg.chart")).to_be_visible()
    assert page.locator("svg.chart polyline.values").count() >= 1
    assert page.locator("svg.chart polygon.band").count() >= 1
    assert page.locator("svg.chart polyline.score").count() == 1
    assert page.locator("svg.chart circle.anomaly.false_positive").count() >= 1
    expect(page.locator("figcaption")).to_contain_text("robust standard deviations")
    shot(page, "5-source")

    step("the false positive's tolerance appears, and undo takes it back")
    def adjustment_shown():
        page.goto(BASE + "/console/tolerances")
        return page.locator("table.adjustments form button:text-is('Undo')").count() >= 1
    until("an adjustment learned from the false positive", LONG, adjustment_shown)
    shot(page, "6-tolerances")
    undo = page.locator("table.adjustments tr", has=page.locator("button:text-is('Undo')")).first
    adjustment = undo.get_attribute("id").removeprefix("adjustment-")
    undo.locator("input[name=notes]").fill("too broad")
    undo.locator("button:text-is('Undo')").click()
    expect(page.locator("p.flash")).to_contain_text("Adjustment undone")
    expect(page.locator(f"#adjustment-{adjustment}")).to_contain_text("by " + PERSON)
    assert sql(f"""SELECT a.undo_reason || '|' || u.name FROM ad.scoring_adjustments a
                     JOIN ad.users u ON u.id = a.undone_by WHERE a.id = {adjustment}""") == [f"too broad|{PERSON}"]

    step("a form without its CSRF token is refused")
    origin = {"Origin": BASE}
    r = page.request.post(BASE + f"/console/alerts/{alert}", form={"status": "resolved"}, headers=origin,
                          max_redirects=0)
    assert r.status == 403 and "CSRF" in r.text(), (r.status, r.text()[:300])
    step("a post from another origin is refused")
    token = page.locator("form.who input[name=csrf]").get_attribute("value")
    r = page.request.post(BASE + f"/console/alerts/{alert}", form={"status": "resolved", "csrf": token},
                          headers={"Origin": "http://evil.example"}, max_redirects=0)
    assert r.status == 403 and "evil.example" in r.text(), (r.status, r.text()[:300])
    assert sql(f"SELECT status FROM ad.alerts WHERE id = {literal(alert)}") == ["acknowledged"]

    if READER:
        step("a reader sees the pages, and the database refuses the reader's action on the page")
        reader = browser.new_context()
        reader.set_default_timeout(SHORT)
        rp = reader.new_page()
        log_in(rp, READER)
        rp.goto(BASE + f"/console/alerts/{alert}")
        with rp.expect_response(lambda resp: resp.request.method == "POST") as posted:
            rp.locator(f"form[action='/console/alerts/{alert}'] button[value=resolved]").click()
        assert posted.value.status == 403, posted.value.status
        expect(rp.locator("p.problem")).to_contain_text("permission denied")
        shot(rp, "7-reader-refused")
        rp.goto(BASE + "/console/tolerances")
        expect(rp.locator("p.problem")).to_contain_text("permission denied")
        reader.close()
        assert sql(f"SELECT status FROM ad.alerts WHERE id = {literal(alert)}") == ["acknowledged"]

    step("without JavaScript the pages and forms still work")
    nojs = browser.new_context(java_script_enabled=False)
    nojs.set_default_timeout(SHORT)
    np = nojs.new_page()
    log_in(np, OPERATOR)
    expect(np.locator(f"#anomaly-{anomaly}")).to_be_visible()  # rendered by the server
    np.goto(BASE + f"/console/alerts/{alert}")
    form = np.locator(f"form[action='/console/alerts/{alert}']")
    form.locator("input[name=notes]").fill("checked without script")
    form.locator("button.quiet").click()
    expect(np.locator("p.flash")).to_have_text("Alert notes saved.")
    nojs.close()
    assert sql(f"SELECT notes FROM ad.alerts WHERE id = {literal(alert)}") == ["checked without script"]

    step("logging out clears the cookie")
    page.goto(BASE + "/console")
    page.click("form.who button[type=submit]")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    assert not [c for c in context.cookies() if c["name"] == "ad_console"], context.cookies()
    page.goto(BASE + "/console/tolerances")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    context.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - one line naming the failure, then the traceback
        print(f"console_test: FAILED: {e}", file=sys.stderr, flush=True)
        raise
