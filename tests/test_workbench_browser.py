"""The workbench in a real browser: headless Chromium (Debian's chromium and chromedriver,
installed by scripts/install_browser.sh) drives the page served by a real HTTP server.

Set WORKBENCH_SCREENSHOT=docs/workbench.png to refresh the screenshot in the docs.
"""
import csv
import io
import os
import re
import shutil
import threading

import pytest

from tests.conftest import SLICE_QUERIES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    message = "the browser tests need chromium and chromedriver (scripts/install_browser.sh installs Debian's)"
    if os.environ.get("CI"):
        raise RuntimeError(message)  # CI installs them: their absence is a broken install, not a skip
    pytest.skip(message, allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
WAIT_S = 60


@pytest.fixture
def server(app):
    from werkzeug.serving import make_server

    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for downloads
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No sandbox as root in a container; no background networking on a machine without internet.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1400,2400", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait(browser, condition, message):
    # A page that is still navigating or re-rendering may drop an element between finding and reading it.
    return WebDriverWait(browser, WAIT_S, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda _: condition(), message=message)


def ready(browser):
    # The message is read only on a timeout: right after a login the old page may still be there.
    try:
        wait(browser, lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true",
             "the page never finished loading")
    except TimeoutException:
        raise AssertionError("the page never finished loading: " + browser.find_element(By.ID, "status").text)


def cards(browser, side):
    return browser.find_elements(By.CSS_SELECTOR, f"#results-{side} .card")


def status(browser):
    return browser.find_element(By.ID, "status").text


def assert_changes_summarized(browser):
    """The badges on B's cards agree with the summary line, and the two lists differ."""
    counts = {kind: len(browser.find_elements(By.CSS_SELECTOR, f"#results-b .change.{kind}"))
              for kind in ("up", "down", "new")}
    counts["dropped"] = len(browser.find_elements(By.CSS_SELECTOR, "#results-a .change.dropped"))
    summary = browser.find_element(By.ID, "changes-summary").text
    for kind, label in (("up", "moved up"), ("down", "moved down"), ("new", "new"), ("dropped", "dropped")):
        assert f"{counts[kind]} {label}" in summary, (kind, summary)
    assert counts["new"] == counts["dropped"] and counts["up"] + counts["down"] + counts["new"] > 0


def test_search_compare_judge_pin_and_evaluate_in_chromium(browser, server, app, judgments, tmp_path):
    browser.get(f"{server}/workbench")
    browser.find_element(By.ID, "token").send_keys("test-token")
    browser.find_element(By.ID, "login").click()
    ready(browser)

    # Search and compare: hybrid (A) against keyword (B), then against dense.
    browser.find_element(By.ID, "q").send_keys("wireless mouse")
    browser.find_element(By.ID, "compare").click()
    wait(browser, lambda: len(cards(browser, "a")) == 10 and len(cards(browser, "b")) == 10, "no results: " + status(browser))
    assert "keyword" in browser.find_element(By.ID, "b-describe").text
    # Hybrid's top result has a score and rank from both legs; keyword mode has no dense score.
    assert re.search(r"dense \d\.\d{3} \(#\d+\).*keyword \d+\.\d{3} \(#\d+\)",
                     cards(browser, "a")[0].find_element(By.CLASS_NAME, "scores").text, re.S)
    assert all("dense –" in c.find_element(By.CLASS_NAME, "scores").text for c in cards(browser, "b"))
    assert_changes_summarized(browser)
    Select(browser.find_element(By.ID, "b-mode")).select_by_visible_text("dense")
    browser.find_element(By.ID, "compare").click()
    wait(browser, lambda: "dense" in browser.find_element(By.ID, "b-describe").text, "B never became dense")
    assert_changes_summarized(browser)

    # Facets of A's matched set: a brand filters both sides and still offers the other brands;
    # an attribute value shows as a chip, A's total is its count, and the chip takes it away.
    first_brand = browser.find_elements(By.CSS_SELECTOR, "#facets button[data-facet='brand']")[0]
    brand = first_brand.get_attribute("data-value")
    first_brand.click()
    wait(browser, lambda: all(c.find_element(By.CLASS_NAME, "meta").text.startswith(brand)
                              for side in ("a", "b") for c in cards(browser, side)), "the brand did not filter")
    assert browser.find_element(By.ID, "brand").get_attribute("value") == brand
    assert len(browser.find_elements(By.CSS_SELECTOR, "#facets button[data-facet='brand']")) > 1
    browser.find_element(By.ID, "brand").clear()
    browser.find_element(By.ID, "compare").click()
    wait(browser, lambda: not browser.find_elements(By.CSS_SELECTOR, "#facets button.selected"),
         "the brand filter did not go")
    colour = browser.find_elements(By.CSS_SELECTOR, "#facets button[data-facet='attr.product_colour']")[0]
    value, count = colour.get_attribute("data-value"), re.search(r"\((\d+)\)", colour.text).group(1)
    colour.click()
    wait(browser, lambda: value in browser.find_element(By.ID, "attribute-filters").text, "no chip for the colour")
    assert f"{count} matching products" in browser.find_element(By.ID, "a-describe").text
    browser.find_element(By.CSS_SELECTOR, "#attribute-filters .chip").click()
    wait(browser, lambda: not browser.find_elements(By.CSS_SELECTOR, "#attribute-filters .chip") and
         len(cards(browser, "a")) == 10, "the chip did not go")

    # Judge the first result 3; the mark is stored and still shown after a reload.
    product_id = cards(browser, "a")[0].get_attribute("data-id")
    cards(browser, "a")[0].find_element(By.CSS_SELECTOR, "button[data-grade='3']").click()
    wait(browser, lambda: "Marked" in status(browser), "the mark was not acknowledged: " + status(browser))
    assert app.extensions["judgment_store"].judgments_for("wireless mouse") == {product_id: 3}
    browser.refresh()
    ready(browser)
    wait(browser, lambda: len(cards(browser, "a")) == 10, "the reloaded page did not search again")
    card = next(c for c in cards(browser, "a") if c.get_attribute("data-id") == product_id)
    assert card.find_element(By.CSS_SELECTOR, "button[data-grade='3']").get_attribute("class") == "grade selected"
    assert browser.find_element(By.ID, "b-mode").get_attribute("value") == "dense"  # the configuration came back too
    marks = browser.find_elements(By.CSS_SELECTOR, "#marks tbody tr")
    assert [(m.get_attribute("data-id"), m.find_elements(By.TAG_NAME, "td")[2].text) for m in marks] == [(product_id, "3")]
    judged = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#judged-queries tbody tr")]
    assert judged == ["wireless mouse 1"]

    # Pin the fifth result to the top; it is applied and explained.
    fifth = cards(browser, "a")[4]
    pinned = fifth.get_attribute("data-id")
    fifth.find_element(By.CLASS_NAME, "pin").click()
    position = browser.find_element(By.ID, "rule-position")
    position.clear()
    position.send_keys("1")
    browser.find_element(By.ID, "rule-save").click()
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#rules-table tbody tr")) == 1,
         "the rule was not listed: " + status(browser))
    wait(browser, lambda: cards(browser, "a")[0].get_attribute("data-id") == pinned, "the pin was not applied")
    assert "pin" in cards(browser, "a")[0].find_element(By.CLASS_NAME, "rule-note").text
    assert cards(browser, "b")[0].get_attribute("data-id") == pinned  # rules apply to every configuration
    assert [r.product_id for r in app.extensions["rule_store"].rules()] == [pinned]

    # Import the judgments of the test slice's queries and evaluate A against B.
    upload = tmp_path / "judgments.csv"
    upload.write_text("query,docid,rating\n" + "".join(
        f"{q},{p},{int(g)}\n" for q in SLICE_QUERIES for p, g in judgments[q].items()), encoding="utf-8")
    browser.find_element(By.ID, "import-file").send_keys(str(upload))
    browser.find_element(By.ID, "import").click()
    wait(browser, lambda: "Imported" in status(browser), "the import failed: " + status(browser))
    assert f"for {len(SLICE_QUERIES)} queries" in browser.find_element(By.ID, "judgment-count").text
    # A judged query from the list opens in the comparison, its marks with it.
    next(b for b in browser.find_elements(By.CSS_SELECTOR, "#judged-queries button") if b.text == "usb hub").click()
    wait(browser, lambda: "usb hub" in browser.find_element(By.ID, "marks-title").text, "the judged query did not open")
    assert browser.find_element(By.ID, "q").get_attribute("value") == "usb hub"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#marks tbody tr")) == len(judgments["usb hub"])
    browser.find_element(By.ID, "evaluate").click()
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#eval-table tbody tr")) == 2,
         "no evaluation table: " + status(browser))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#plot circle")) == len(SLICE_QUERIES)
    rows = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#eval-table tbody tr")]
    assert rows[0].startswith("A ") and rows[1].startswith("B ")
    cells = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#eval-table tbody tr:first-child td")]
    assert len(cells) == 6 and 0 < float(cells[5]) <= 1  # ... judged only: nDCG@10, Judged@10
    # What to judge next: the page's CSV is the one search-evaluate --unjudged writes.
    assert "are not judged yet" in browser.find_element(By.ID, "eval-unjudged-count").text
    to_judge = browser.execute_async_script(
        "fetch(document.getElementById('eval-unjudged-csv').href).then(r => r.text()).then(arguments[0])")
    lines = list(csv.reader(io.StringIO(to_judge)))
    assert lines[0] == ["query", "docid", "rating", "title", "found_by"] and len(lines) > 1
    assert all(row[1] not in judgments[row[0]] and row[2] == "" and set(row[4].split()) <= {"A", "B"}
               for row in lines[1:])

    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(tmp_path / "workbench.png"))
    if os.environ.get("WORKBENCH_SCREENSHOT"):
        browser.save_screenshot(os.environ["WORKBENCH_SCREENSHOT"])


def test_synonyms_suggestions_analytics_and_experiments_in_chromium(browser, server, app):
    browser.get(f"{server}/workbench")
    browser.find_element(By.ID, "token").send_keys("test-token")
    browser.find_element(By.ID, "login").click()
    ready(browser)

    # A synonym: the comparison on "knapsack" finds nothing as typed, then backpacks.
    browser.find_element(By.ID, "q").send_keys("knapsack")
    Select(browser.find_element(By.ID, "b-mode")).select_by_visible_text("keyword")
    browser.find_element(By.ID, "compare").click()
    wait(browser, lambda: cards(browser, "a"), "no results: " + status(browser))
    assert not any("backpack" in c.text.lower() for c in cards(browser, "b"))
    browser.find_element(By.ID, "synonym-text").send_keys("knapsack => backpack")
    browser.find_element(By.ID, "synonym-save").click()
    wait(browser, lambda: [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#synonyms-table tbody tr")] ==
         [f"{app.extensions['synonym_store'].rules()[0].id} knapsack => backpack one-way api delete"],
         "the synonym was not listed: " + status(browser))
    wait(browser, lambda: all("backpack" in c.text.lower() for c in cards(browser, "b")[:5]),
         "the synonym did not reach the comparison")

    # Suggestions as a shopper types; block the first, pin another.
    box = browser.find_element(By.ID, "suggest-q")
    box.send_keys("wirel")

    def shown():
        return [li.get_attribute("data-suggestion") for li in browser.find_elements(By.CSS_SELECTOR, "#suggest-list li")]

    wait(browser, lambda: shown() and shown()[0] == "wireless", "no suggestions: " + status(browser))
    assert "wireless" in browser.find_element(By.ID, "suggest-leads").text
    browser.find_element(By.CSS_SELECTOR, "#suggest-list li[data-suggestion='wireless'] button.block").click()
    wait(browser, lambda: shown() and "wireless" not in shown(), "the block did not apply: " + status(browser))
    last = shown()[-1]
    browser.find_element(By.CSS_SELECTOR, f"#suggest-list li[data-suggestion='{last}'] button.pin").click()
    wait(browser, lambda: shown() and shown()[0] == last, "the pin did not apply: " + status(browser))
    rules = [(r.text, r.action) for r in app.extensions["suggestions"].rules.rules()]
    assert rules == [("wireless", "block"), (last, "pin")]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#suggestion-rules-table tbody tr")) == 2

    # Analytics over a hand-made log: the summary, the daily line and the query bars.
    from search_engine.types import Event

    day = 1788220800.0  # 2026-09-01
    app.extensions["event_store"].add(
        [Event("a", "s1", day + 10, "search", query="usb hub", search_id="x1", shown=("p1",)),
         Event("a", "s1", day + 20, "click", product_id="p1", search_id="x1", position=1),
         Event("b", "s2", day + 86400, "search", query="zzz", search_id="x2")])
    browser.execute_script("document.getElementById('analytics-from').value = '2026-09-01';"
                           "document.getElementById('analytics-to').value = '2026-09-02';")
    browser.find_element(By.ID, "analytics-show").click()
    wait(browser, lambda: browser.find_element(By.ID, "analytics-result").is_displayed(),
         "no analytics: " + status(browser))
    figures = {r.get_attribute("data-figure"): r.find_element(By.TAG_NAME, "td").text
               for r in browser.find_elements(By.CSS_SELECTOR, "#analytics-summary tr")}
    assert (figures["searches"], figures["shoppers"], figures["zero results"], figures["click-through"]) == \
        ("2", "2", "0.500", "0.500")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#analytics-daily circle")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "#analytics-top rect")) == 2
    assert browser.find_element(By.ID, "analytics-zero").text == "zzz (1 of 1)"

    # An experiment defined on the page, served to shoppers, its results read back.
    definition = ('{"name": "keyword against hybrid", "variants": [{"name": "control", "share": 0.5, "config": {}}, '
                  '{"name": "keyword", "share": 0.5, "config": {"mode": "keyword"}}]}')
    browser.execute_script("document.getElementById('experiment-definition').value = arguments[0];", definition)
    browser.find_element(By.ID, "experiment-save").click()
    wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#experiments-table tbody tr"),
         "the experiment was not listed: " + status(browser))
    row = browser.find_element(By.CSS_SELECTOR, "#experiments-table tbody tr")
    assert "keyword against hybrid" in row.text and "running" in row.text
    shoppers = app.test_client()
    for user in ("e1", "e2", "e3", "e4", "e5", "e6"):
        assert "experiment" in shoppers.get(f"/search?q=usb+hub&user={user}").get_json()
    row.find_element(By.CSS_SELECTOR, "button.results").click()
    wait(browser, lambda: browser.find_element(By.ID, "experiment-result").is_displayed(),
         "no experiment results: " + status(browser))
    rows = browser.find_elements(By.CSS_SELECTOR, "#experiment-figures tbody tr")
    assert [r.get_attribute("data-variant") for r in rows] == ["control", "keyword"]
    assert sum(int(r.find_elements(By.TAG_NAME, "td")[2].text) for r in rows) == 6  # searches
    row.find_element(By.CSS_SELECTOR, "button.stop").click()
    wait(browser, lambda: "stopped" in browser.find_element(By.CSS_SELECTOR, "#experiments-table tbody tr").text,
         "the experiment did not stop: " + status(browser))

    # Recommendations for a shopper and a product, with their reasons.
    mouse, battery = "3484708", "778555"
    app.extensions["event_store"].add([Event(f"r{i}", f"rs{i}", day + i, kind, product_id=product)
                                       for i in range(3) for kind, product in (("purchase", mouse),
                                                                               ("purchase", battery))])
    app.extensions["recommendations"].refresh()
    browser.find_element(By.ID, "recommend-user").send_keys("r0")
    browser.find_element(By.ID, "recommend-product").send_keys(mouse)
    browser.find_element(By.ID, "recommend").click()

    def listed(list_id):
        return [li.get_attribute("data-recommended") for li in browser.find_elements(By.CSS_SELECTOR, f"#{list_id} > li")]

    wait(browser, lambda: listed("bought-together-list")[:1] == [battery], "no bought-together: " + status(browser))
    assert "bought together" in browser.find_element(By.CSS_SELECTOR, "#bought-together-list .reasons").text
    assert listed("for-you-list") and mouse not in listed("for-you-list")
    assert "history" in browser.find_element(By.ID, "for-you-source").text
    assert set(listed("trending-list")[:2]) == {mouse, battery}
