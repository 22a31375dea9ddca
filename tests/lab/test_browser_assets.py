"""What assets/ gives the page, in a real browser: a recipe fills the Train form, an example dialogue
fills Predict's box and gets an answer. Labels come from lab.i18n, so wording changes do not break it.
"""
from __future__ import annotations

import json


from core.env import ASSETS_DIR
from lab.i18n import t
from lab.tab_train import field_label
from tests.lab.test_browser import CHROMIUM, server  # noqa: F401 (the fixture: `python -m lab serve`)

LANGUAGE = "zh"


def _browser_page(playwright, url):
    from playwright.sync_api import expect

    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
    page = browser.new_page(viewport={"width": 1400, "height": 1800}, locale="zh-CN")
    page.goto(url, wait_until="load")
    expect(page.get_by_role("tab", name=t("tab.train", LANGUAGE), exact=True)).to_be_visible(timeout=60_000)
    return browser, page


def test_a_recipe_fills_the_train_form_and_an_example_is_predicted(server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    examples = [json.loads(line) for line in
                (ASSETS_DIR / "examples" / "dialogues.jsonl").read_text(encoding="utf-8").splitlines()]
    scam = next(row for row in examples if row["label"])
    with sync_playwright() as playwright:
        browser, page = _browser_page(playwright, server)

        # Train: the recipe's values land in the generated form.
        page.get_by_role("tab", name=t("tab.train", LANGUAGE), exact=True).click()
        recipe = page.get_by_label(t("train.recipe", LANGUAGE))
        recipe.click()
        page.get_by_role("option", name="qwen2-1.5b-lora", exact=True).click()
        page.get_by_role("button", name=t("train.recipe_fill", LANGUAGE), exact=True).click()
        model = page.get_by_label(field_label("model", LANGUAGE), exact=True)
        expect(model).to_have_value("Qwen/Qwen2-1.5B-Instruct", timeout=30_000)
        expect(page.get_by_label(field_label("lora.r", LANGUAGE), exact=True)).to_have_value("8")
        expect(page.get_by_label(field_label("train.grad_accum", LANGUAGE), exact=True)).to_have_value("4")
        expect(page.get_by_text("Hardware: one CUDA GPU").filter(visible=True).first).to_be_visible()

        # Predict: an example fills the box; the embedded base model answers it.
        page.get_by_role("tab", name=t("tab.predict", LANGUAGE), exact=True).click()
        page.get_by_text(scam["title"], exact=True).filter(visible=True).first.click()
        box = page.get_by_label(t("predict.dialogue", LANGUAGE), exact=True)
        expect(box).to_have_value(scam["input"], timeout=10_000)
        page.get_by_role("button", name=t("predict.run", LANGUAGE), exact=True).click()
        expect(page.get_by_text(t("predict.p_true", LANGUAGE)).first).to_be_visible(timeout=120_000)
        browser.close()


def test_the_examples_are_valid_rows_of_both_labels():
    from core.data.records import load_records

    loaded = load_records(ASSETS_DIR / "examples" / "dialogues.jsonl", strict=True)
    assert len(loaded.records) >= 4 and {record.label for record in loaded.records} == {True, False}
