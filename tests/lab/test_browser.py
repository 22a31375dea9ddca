"""The page in a real browser: Playwright driving Debian's Chromium against `python -m lab serve`.

It opens every tab on the embedded default, starts a short training job and watches the loss plot
gain points, stops it, runs a prediction, renders a row holding <script> and checks no dialog
fired, switches the language, and saves a screenshot of every tab under test-output/browser/.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.paths import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO_ROOT / "test-output" / "browser"
XSS_DIALOGUE = "<script>alert(1)</script>张三: 你好\n李四: <img src=x onerror=alert(2)>转账吗？"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(session_workspace, tiny_model_dir, demo_splits):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); .ci/run installs it")
    pytest.importorskip("playwright.sync_api")
    uploads = session_workspace / "uploads"
    uploads.mkdir(exist_ok=True)
    row = {"input": XSS_DIALOGUE, "label": True, "fraud_speaker": "李四", "reason": "<b>要求转账</b>"}
    (uploads / "xss.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    port = free_port()
    log = open(session_workspace / "browser-server.log", "w")
    env = dict(os.environ, FRAUD_LAB_WORKSPACE=str(session_workspace))
    process = subprocess.Popen([sys.executable, "-m", "lab", "serve", "--port", str(port)], cwd=REPO_ROOT,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError((session_workspace / "browser-server.log").read_text())
            time.sleep(0.5)
    else:
        process.kill()
        raise RuntimeError("the lab did not start serving within 120 s")
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()
    # Jobs the page started may still run (the Evaluate tab can show an older result first): let them
    # end here, so the tests after this module find the session's queue idle.
    from core.jobs.registry import JobRegistry

    registry = JobRegistry(session_workspace)
    for job in registry.list():
        if not job.is_final:
            registry.wait(job.id, timeout=600)


def plot_points(page) -> int:
    """Points drawn in the Train tab's loss plot (plotly keeps its data on the div)."""
    return page.evaluate("""() => {
        const plots = [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.offsetParent !== null);
        let points = 0;
        for (const plot of plots) for (const trace of (plot.data || [])) points += (trace.x || []).length;
        return points;
    }""")


def test_every_tab_in_a_real_browser(server):
    from playwright.sync_api import expect, sync_playwright

    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    dialogs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        # Gradio keeps event streams open, so "networkidle" never comes: wait for load, then for content.
        page.goto(server, wait_until="load")
        expect(page.get_by_role("tab", name="数据", exact=True)).to_be_visible(timeout=60_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "data-zh.png"), full_page=True)

        page.get_by_label("English").check()
        expect(page.get_by_role("tab", name="Data", exact=True)).to_be_visible(timeout=20_000)

        # Data: a row holding <script> and <img onerror> shows as text, and no dialog fires.
        dataset = page.get_by_label("Dataset (demo, a file in the workspace, or a path)")
        dataset.click()
        dataset.fill("uploads/xss.jsonl")
        page.get_by_role("option", name="uploads/xss.jsonl").click()
        page.get_by_role("button", name="Load", exact=True).click()
        # Gradio's table draws cells as spans; a hidden copy is kept for editing, hence filter(visible).
        expect(page.get_by_text("<script>alert(1)</script>张三").filter(visible=True).first).to_be_visible(
            timeout=30_000)
        expect(page.get_by_text("<b>要求转账</b>").filter(visible=True).first).to_be_visible()
        page.screenshot(path=str(SHOTS / "data-xss.png"), full_page=True)

        page.get_by_role("tab", name="Tokenize", exact=True).click()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "tokenize.png"), full_page=True)

        # Train: start the default run, watch the curve gain points, stop it.
        page.get_by_role("tab", name="Train", exact=True).click()
        page.get_by_role("button", name="Start training", exact=True).click()
        deadline = time.time() + 240
        first = 0
        while time.time() < deadline and first == 0:
            page.wait_for_timeout(2000)
            first = plot_points(page)
        assert first > 0, "the loss plot never showed a point"
        later = first
        while time.time() < deadline and later <= first:
            page.wait_for_timeout(2000)
            later = plot_points(page)
        assert later > first, "the loss plot did not gain points while the job ran"
        page.screenshot(path=str(SHOTS / "train.png"), full_page=True)
        page.get_by_role("button", name="Stop", exact=True).click()
        expect(page.get_by_text("stopped",
                                exact=True).filter(visible=True).first).to_be_visible(timeout=120_000)
        # Resume: it continues from the checkpoint and finishes, leaving an adapter to evaluate.
        page.get_by_role("button", name="Resume", exact=True).click()
        expect(page.get_by_text("finished",
                                exact=True).filter(visible=True).first).to_be_visible(timeout=300_000)

        # Predict: paste a dialogue, the base model answers.
        page.get_by_role("tab", name="Predict", exact=True).click()
        box = page.get_by_label("Dialogue (paste one, or take a row of the demo test split)")
        box.fill("王经理: 你好，你的快递丢了，我们给你双倍理赔。\n小张: 好的，怎么操作？\n王经理: "
                 "请下载这个会议软件，共享屏幕。")
        page.get_by_role("button", name="Predict", exact=True).click()
        expect(page.get_by_text("P(true)").first).to_be_visible(timeout=120_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "predict.png"), full_page=True)

        # Evaluate: base model vs the stopped run's adapter on 40 rows, as a job; results appear.
        page.get_by_role("tab", name="Evaluate", exact=True).click()
        page.get_by_role("button", name="Refresh lists", exact=True).click()
        page.wait_for_timeout(1500)
        checkpoints = page.get_by_label("Fine-tuned checkpoints (several: runs/*/adapter, fold adapters)")
        checkpoints.click()
        page.get_by_role("option").filter(has_text="adapter").first.click()
        page.keyboard.press("Escape")
        rows = page.get_by_label("Rows to sample (0 = all)")
        rows.fill("40")
        rows.press("Enter")
        page.get_by_role("button", name="Evaluate", exact=True).click()
        # The baseline's row (its model cell), not the table's label, which shows from the start.
        expect(page.get_by_text("TF-IDF + LR", exact=True).filter(visible=True).first).to_be_visible(
            timeout=240_000)
        expect(page.locator(".js-plotly-plot").filter(visible=True).first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "evaluate.png"), full_page=True)

        for name in ("Runs",):
            page.get_by_role("tab", name=name, exact=True).click()
            page.wait_for_timeout(2000)
            page.screenshot(path=str(SHOTS / f"{name.lower()}.png"), full_page=True)
        browser.close()
    assert dialogs == [], f"dataset text ran as script: {dialogs}"
    assert sorted(p.name for p in SHOTS.glob("*.png")) == sorted(
        ["data-zh.png", "data-xss.png", "tokenize.png", "train.png", "predict.png", "evaluate.png",
         "runs.png"])


VISIBLE_PLOTS = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(plot => plot.offsetParent !== null && plot.querySelector('.main-svg'))
    .map(plot => ({drawn: plot.querySelector('.main-svg').getBoundingClientRect().width,
                   box: plot.parentElement.getBoundingClientRect().width}))"""
ERROR_PILLS = """() => [...document.querySelectorAll('[data-testid="status-tracker"] .error')]
    .filter(pill => pill.offsetParent !== null).length"""


def assert_plots_fit(page, at_least: int):
    """Every visible plot is as wide as its container: none drawn at plotly's default in a hidden tab."""
    plots = page.evaluate(VISIBLE_PLOTS)
    assert len(plots) >= at_least, plots
    for plot in plots:
        assert abs(plot["drawn"] - plot["box"]) <= 4, f"drawn {plot['drawn']} px in a {plot['box']} px box"


def test_language_switch_and_errors_leave_nothing_stale(server):
    """Charts drawn in a hidden tab by a language switch fit their container; after a refused action
    the page says why without red "Error" pills, and the next success leaves no trace of the error."""
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server, wait_until="load")
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1000)

        # The Data tab is hidden while the switch redraws its charts in English.
        page.get_by_role("tab", name="分词", exact=True).click()
        page.get_by_label("English").check()
        expect(page.get_by_role("tab", name="Data", exact=True)).to_be_visible(timeout=20_000)
        page.wait_for_timeout(2000)
        page.get_by_role("tab", name="Data", exact=True).click()
        expect(page.get_by_text("Labels per split").first).to_be_visible(timeout=20_000)
        page.wait_for_timeout(1500)
        assert_plots_fit(page, at_least=4)
        page.screenshot(path=str(SHOTS / "data-after-switch.png"), full_page=True)

        # Tokenize: a max_length too small for the answer, then a fitting one.
        page.get_by_role("tab", name="Tokenize", exact=True).click()
        max_length = page.get_by_label("Max length · data.max_length")
        max_length.fill("20")
        page.get_by_role("button", name="Tokenize", exact=True).click()
        expect(page.get_by_text("is too small").filter(visible=True).first).to_be_visible(timeout=30_000)
        assert page.evaluate(ERROR_PILLS) == 0
        page.screenshot(path=str(SHOTS / "tokenize-error.png"), full_page=True)
        max_length.fill("384")
        page.get_by_role("button", name="Tokenize", exact=True).click()
        expect(page.get_by_text("(", exact=False).filter(has_text="used").filter(visible=True).first) \
            .to_be_visible(timeout=30_000)
        expect(page.get_by_text("is too small").filter(visible=True)).to_have_count(0)
        assert page.evaluate(ERROR_PILLS) == 0
        assert page.get_by_label("Dialogue", exact=True).input_value().strip(), "row mode left the box empty"

        # Data: a path outside the workspace is refused above the dataset still shown; demo loads again.
        page.get_by_role("tab", name="Data", exact=True).click()
        dataset = page.get_by_label("Dataset (demo, a file in the workspace, or a path)")
        dataset.fill("../../etc/passwd")
        dataset.press("Enter")
        page.get_by_role("button", name="Load", exact=True).click()
        refused = page.get_by_text("is outside the workspace").filter(visible=True)
        expect(refused.first).to_be_visible(timeout=30_000)
        assert page.evaluate(ERROR_PILLS) == 0
        dataset.fill("demo")
        dataset.press("Enter")
        page.get_by_role("button", name="Load", exact=True).click()
        expect(refused).to_have_count(0, timeout=30_000)
        assert page.evaluate(ERROR_PILLS) == 0

        # Train: a refused model path says why under Start, once, and no job is said to be submitted.
        page.get_by_role("tab", name="Train", exact=True).click()
        model = page.get_by_label("Base model · model")
        model.fill("../../etc")
        model.press("Enter")
        page.get_by_role("button", name="Start training", exact=True).click()
        expect(page.get_by_text("is outside the workspace").filter(visible=True).first).to_be_visible(
            timeout=30_000)
        page.wait_for_timeout(1000)
        assert page.evaluate(ERROR_PILLS) == 0
        assert page.locator(".toast-body").count() <= 1
        submitted = page.get_by_text("submitted (it runs in its own process)").filter(visible=True)
        expect(submitted).to_have_count(0)
        page.screenshot(path=str(SHOTS / "train-refused.png"), full_page=True)
        browser.close()
