"""The page: a language switch on top, then one `gr.Tab` per tab module.

A tab module exposes `build(context: lab.state.TabContext) -> None`, called inside its gr.Tab.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from core.config.schema import DEMO
from core.env import workspace_dir
from lab import tab_data, tab_evaluate, tab_predict, tab_runs, tab_tokenize, tab_train
from lab.i18n import DEFAULT_LANGUAGE, LANGUAGES, t
from lab.state import TabContext

# (label key in lab/i18n.py, module), in page order.
TABS = (
    ("tab.data", tab_data),
    ("tab.tokenize", tab_tokenize),
    ("tab.train", tab_train),
    ("tab.evaluate", tab_evaluate),
    ("tab.predict", tab_predict),
    ("tab.runs", tab_runs),
)

# Plotly sizes a figure to its container when it draws it. A figure drawn while its tab is hidden
# (a language switch, a timer, the page's load) finds a 0 px container, takes plotly's 700 px default
# and keeps it when the tab is shown: cut on the right in a half-width column, half as wide as a
# full-width one. Gradio's Plot resizes only on a window resize, so each plot's own box is watched
# and the figure resized to it whenever the two differ.
PLOT_RESIZE_JS = """
() => {
  const watched = new WeakSet();
  const fit = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const plot = entry.target, width = plot.clientWidth, drawn = plot._fullLayout && plot._fullLayout.width;
      if (width > 0 && drawn && Math.abs(width - drawn) > 1 && window.Plotly) {
        window.Plotly.Plots.resize(plot);
      }
    }
  });
  const watch = () => document.querySelectorAll('.js-plotly-plot').forEach((plot) => {
    if (!watched.has(plot)) { watched.add(plot); fit.observe(plot); }
  });
  new MutationObserver(watch).observe(document.body, {childList: true, subtree: true});
  watch();
}
"""

# Gradio's screen-reader status announces a finished event with the key "common.complete", which its
# own translation tables lack (they hold "chatbot.complete"), so it read the raw key. Gradio words
# its own texts in the browser's language, not the page's switch.
STATUS_TRANSLATIONS = gr.I18n(**{"en": {"common.complete": "Complete"},
                                 "zh-CN": {"common.complete": "已完成"},
                                 "zh-TW": {"common.complete": "已完成"}})

# The Data tab's rows keep their line breaks: a dialogue is one turn per line.
# Gradio draws body cells as div[role=gridcell] > .cell-wrap > span (not td).
PAGE_CSS = "#data-rows [role=gridcell] .cell-wrap span { white-space: pre-wrap !important; }"

# Keyword arguments of Blocks.launch: no footer (API docs, "built with Gradio", settings) and no
# run history, since the page is a tool, not a public API demo.
LAUNCH_OPTIONS = {"footer_links": [], "run_history": False, "ssr_mode": False, "mcp_server": False,
                  "pwa": False, "share": False, "js": PLOT_RESIZE_JS, "i18n": STATUS_TRANSLATIONS,
                  "css": PAGE_CSS}


def build_app(workspace: Path | str | None = None, language: str = DEFAULT_LANGUAGE) -> gr.Blocks:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {sorted(LANGUAGES)}, got {language!r}")
    workspace = workspace_dir(workspace)
    with gr.Blocks(title=t("app.title", language), analytics_enabled=False) as app:
        context = TabContext(workspace=workspace, language=language, app=app)
        with gr.Row(equal_height=True):
            context.translated(gr.Markdown(t("app.heading", language)), "app.heading", "value")
            context.language_input = gr.Radio([(name, code) for code, name in LANGUAGES.items()],
                                              value=language,
                                              label=t("app.language", language), scale=0, min_width=220)
        context.dataset = gr.State({"choice": DEMO, "compare": ""})
        for key, module in TABS:
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
