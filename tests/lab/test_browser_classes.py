"""The generic path in a real browser: the second demo dataset (three-class reviews) in the Data tab,
the embedded encoder trained on it from its recipe, and its 3×3 confusion matrix in Evaluate.
Labels come from lab.i18n, so wording changes do not break it."""
from __future__ import annotations

import time
from pathlib import Path

from core.jobs.registry import Job, JobRegistry
from core.demo.reviews import DEMO_REVIEWS, LABEL_NAMES
from lab.i18n import t
from tests.lab.test_browser import CHROMIUM, SHOTS, server  # noqa: F401 (the fixture: `python -m lab serve`)

LANGUAGE = "en"
RECIPE = "demo-reviews-encoder"
VISIBLE_TRACES = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(plot => plot.offsetParent !== null)
    .flatMap(plot => (plot.data || []).map(trace => ({type: trace.type || 'scatter', name: trace.name || '',
                                                      z: trace.z || null})))"""


def test_reviews_demo_encoder_training_and_its_confusion_matrix(server, session_workspace,  # noqa: F811
                                                                tiny_encoder_dir):
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(server, wait_until="load")
        expect(page.get_by_role("tab", name="数据", exact=True)).to_be_visible(timeout=60_000)
        page.get_by_label("English").check()
        data_tab = page.get_by_role("tab", name=t("tab.data", LANGUAGE), exact=True)
        expect(data_tab).to_be_visible(timeout=20_000)

        # Data: the review demo, its columns detected, one bar trace per class.
        dataset = page.get_by_label(t("data.dataset", LANGUAGE))
        dataset.click()
        page.get_by_role("option", name=DEMO_REVIEWS, exact=True).click()
        page.get_by_role("button", name=t("data.load", LANGUAGE), exact=True).click()
        expect(page.get_by_text("3 classes: 正面、中性、负面").filter(visible=True).first).to_be_visible(
            timeout=60_000)
        page.wait_for_timeout(1500)
        bars = [trace["name"] for trace in page.evaluate(VISIBLE_TRACES) if trace["type"] == "bar"]
        assert bars[:3] == list(LABEL_NAMES), bars
        page.screenshot(path=str(SHOTS / "data-reviews.png"), full_page=True)

        # Train: the recipe fills the form with the encoder on the reviews; the run finishes.
        page.get_by_role("tab", name=t("tab.train", LANGUAGE), exact=True).click()
        recipe = page.get_by_label(t("train.recipe", LANGUAGE))
        recipe.click()
        page.get_by_role("option", name=RECIPE, exact=True).click()
        page.get_by_role("button", name=t("train.recipe_fill", LANGUAGE), exact=True).click()
        page.wait_for_timeout(1500)
        # Other tests' jobs share this workspace (and the Train tab may show one of them as finished).
        registry = JobRegistry(session_workspace)
        job = finished_job_of_click(registry, "train", 400,
                                    page.get_by_role("button", name=t("train.start", LANGUAGE), exact=True))
        assert Path(job.config["model"]) == tiny_encoder_dir, job.config  # the embedded encoder, resolved
        run_id = job.id
        expect(page.get_by_text(run_id).filter(visible=True).first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(SHOTS / "train-encoder.png"), full_page=True)

        # Evaluate: this run's checkpoint brings its base and test data; 3×3 matrix.
        page.get_by_role("tab", name=t("tab.evaluate", LANGUAGE), exact=True).click()
        page.get_by_role("button", name=t("eval.refresh", LANGUAGE), exact=True).click()
        page.wait_for_timeout(1500)
        checkpoints = page.get_by_label(t("evalcfg.adapters", LANGUAGE))
        checkpoints.click()
        checkpoints.fill(run_id)  # the dropdown filters its options by what is typed
        page.get_by_role("option").filter(has_text=run_id).first.click()
        page.keyboard.press("Escape")
        expect(page.get_by_label(t("evalcfg.model", LANGUAGE))).to_have_value("embedded-encoder",
                                                                               timeout=20_000)
        expect(page.get_by_label(t("evalcfg.data", LANGUAGE))).to_have_value(DEMO_REVIEWS)
        # The tab may first show an older evaluation (another test's, 2×2): follow this one's job.
        finished_job_of_click(registry, "eval", 300,
                              page.get_by_role("button", name=t("eval.run", LANGUAGE), exact=True))
        deadline = time.time() + 60
        while True:
            heatmaps = [trace for trace in page.evaluate(VISIBLE_TRACES) if trace["type"] == "heatmap"]
            if heatmaps and all(len(trace["z"]) == 3 for trace in heatmaps) or time.time() > deadline:
                break
            page.wait_for_timeout(1000)
        assert heatmaps, "no confusion matrix drawn"
        for trace in heatmaps:
            assert len(trace["z"]) == 3 and all(len(row) == 3 for row in trace["z"]), trace
        # The test split has 50 rows of each class: every matrix's cells add up to them (a row a model
        # answered with no class is not in its matrix, so at most 150).
        assert all(sum(map(sum, trace["z"])) <= 150 for trace in heatmaps)
        assert any(sum(map(sum, trace["z"])) == 150 for trace in heatmaps)
        page.screenshot(path=str(SHOTS / "evaluate-encoder.png"), full_page=True)
        browser.close()


def finished_job_of_click(registry: JobRegistry, kind: str, timeout: float, button) -> Job:
    """Clicks the button and follows, by the registry, the job of `kind` the click started until it
    finishes: other tests' jobs share the workspace, so the page's text alone can name another run."""
    earlier = {job.id for job in registry.list(kind=kind)}
    button.click()
    deadline = time.time() + 60
    while not (started := [job for job in registry.list(kind=kind) if job.id not in earlier]):
        assert time.time() < deadline, f"the click started no {kind} job"
        time.sleep(0.5)
    job = registry.wait(started[0].id, timeout=timeout)
    assert job.status == "finished", (job.status, job.error)
    return job
