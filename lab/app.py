"""The page: a language switch on top, then one `gr.Tab` per tab module.

A tab module exposes `build(context: lab.state.TabContext) -> None`, called inside its gr.Tab.
Modules that do not exist yet are left out, so the page works while tabs are being added.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import gradio as gr

from core.env import workspace_dir
from lab.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from lab.state import DEMO, TabContext

# (label key in lab/i18n.py, module), in page order.
TABS = (
    ("tab.data", "lab.tab_data"),
    ("tab.tokenize", "lab.tab_tokenize"),
    # --- Train / Evaluate / Predict / Runs: modules added by their own helper; each exposes
    # --- build(context). A missing module is skipped, a broken one fails loudly.
    ("tab.train", "lab.tab_train"),
    ("tab.evaluate", "lab.tab_evaluate"),
    ("tab.predict", "lab.tab_predict"),
    ("tab.runs", "lab.tab_runs"),
)

# Keyword arguments of Blocks.launch: no footer (API docs, "built with Gradio", settings) and no
# run history, since the page is a tool, not a public API demo.
LAUNCH_OPTIONS = {"footer_links": [], "run_history": False, "ssr_mode": False, "mcp_server": False,
                  "pwa": False, "share": False}


def tab_modules() -> list[tuple[str, object]]:
    found = []
    for key, name in TABS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        found.append((key, module))
    return found


def build_app(workspace: Path | str | None = None, language: str = DEFAULT_LANGUAGE) -> gr.Blocks:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {sorted(LANGUAGES)}, got {language!r}")
    workspace = workspace_dir(workspace)
    with gr.Blocks(title=t("app.title", language), analytics_enabled=False) as app:
        context = TabContext(workspace=workspace, language=language, app=app)
        with gr.Row(equal_height=True):
            context.translated(gr.Markdown(t("app.heading", language)), "app.heading", "value")
            context.language_input = gr.Radio([(name, code) for code, name in LANGUAGES.items()], value=language,
                                              label=t("app.language", language), scale=0, min_width=220)
        context.dataset = gr.State({"choice": DEMO, "compare": ""})
        for key, module in tab_modules():
            with gr.Tab(t(key, language)) as tab:
                context.translated(tab, key)
                module.build(context)
        context.language_input.change(context.relabel, context.language_input,
                                      [component for component, _ in context.translations],
                                      show_progress="hidden")
    # Gradio 6 embeds the API description (endpoint names, input labels) in the page it serves even
    # before login. The lab has no public API (scripts use `python -m lab`), so every event is
    # private: the page still calls them, the description lists none.
    for function in app.fns.values():
        function.api_visibility = "private"
    app.lab_context = context
    return app
