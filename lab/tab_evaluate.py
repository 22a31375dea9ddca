"""Evaluate tab: run a base model and its checkpoints on the same test rows, as a job, and compare.

The evaluation itself runs in a job process (core.eval.evaluation.start_evaluation); this module only
submits it, polls its progress file with a gr.Timer, stops it, and shows a finished run's
metrics.json / predictions.jsonl through lab.eval_views.
"""
from __future__ import annotations

import html
import threading
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from core.eval.evaluation import DEMO, EvalConfig, EvalConfigError, start_evaluation
from core.jobs.registry import FINAL, JobRegistry, UnknownJob
from core.models import EMBEDDED_MODEL
from core.workspace import RunDir
from lab import eval_views
from lab.i18n import t
from lab.model_slot import base_model_choices, checkpoint_choices, resolve_base, resolve_checkpoint
from lab.state import TabContext, choice_path, dataset_choices, display_path, poll, user_errors

DEFAULT_LIMIT = 200
DEFAULT_THRESHOLD = 0.5
POLL_SECONDS = 1.0

_REGISTRIES: dict[str, JobRegistry] = {}
_REGISTRY_LOCK = threading.Lock()


def registry_for(workspace: Path) -> JobRegistry:
    """One registry per workspace in this process: it keeps the job processes it started, so it
    can reap them when they end."""
    key = str(Path(workspace).resolve())
    with _REGISTRY_LOCK:
        if key not in _REGISTRIES:
            _REGISTRIES[key] = JobRegistry(workspace)
        return _REGISTRIES[key]


def eval_config(workspace: Path, base: str, checkpoints: list[str] | None, data: str, limit, seed,
                with_reason: bool, mode: str, language: str) -> EvalConfig:
    """The page's choices as an EvalConfig; every path goes through the workspace guard."""
    data_text = str(data or DEMO).strip() or DEMO
    data_value = DEMO if data_text == DEMO else str(choice_path(data_text, workspace, language))
    if data_value != DEMO and not Path(data_value).is_file():
        raise gr.Error(t("error.not_a_file", language, path=data_text), print_exception=False)
    limit_value = int(limit) if limit not in (None, "") and int(limit) > 0 else None
    return EvalConfig(model=resolve_base(base, workspace, language),
                      adapters=[str(resolve_checkpoint(item, workspace, language)) for item in checkpoints or []],
                      data=data_value, limit=limit_value, sample_seed=int(seed if seed not in (None, "") else 42),
                      with_reason=bool(with_reason), mode=mode or "score")


def hide_workspace(text: str, workspace: Path) -> str:
    """Workspace paths in a message as relative paths: the page never shows where the workspace lies."""
    for root in {str(Path(workspace)), str(Path(workspace).resolve())}:
        text = text.replace(root.rstrip("/") + "/", "").replace(root, ".")
    return text


def eval_run_choices(workspace: Path, language: str) -> list[tuple[str, str]]:
    jobs = registry_for(workspace).list(kind="eval")
    return [(f"{job.id} · {t('eval.status.' + job.status, language)}", job.id) for job in jobs]


def run_folder(workspace: Path, run_id: str, language: str) -> Path:
    """An evaluation job's run folder; only ids the registry knows are accepted."""
    try:
        job = registry_for(workspace).get(str(run_id))
    except UnknownJob:
        job = None
    if job is None or job.kind != "eval":
        raise gr.Error(t("eval.unknown_run", language, run=run_id), print_exception=False)
    return job.run_dir


def default_rows_filter(result) -> str:
    return eval_views.DIFFER if len(eval_views.model_names(result)) > 1 else eval_views.WRONG


@dataclass
class ResultsView:
    """Every output of the results section, in the order of `build`'s `result_outputs`."""

    summary: str
    metrics: pd.DataFrame
    confusion: object
    roc: object
    pr: object
    threshold: pd.DataFrame
    pairs: pd.DataFrame
    rows_filter: str
    rows: pd.DataFrame
    detail: str
    run_id: str

    def outputs(self) -> tuple:
        return (self.summary, self.metrics, self.confusion, self.roc, self.pr, self.threshold, self.pairs,
                self.rows_filter, self.rows, self.detail, self.run_id)


def results_view(workspace: Path, run_id: str, threshold: float, which: str | None, language: str) -> ResultsView:
    """The results of one evaluation run; `which` None picks the rows filter that fits the run."""
    run_dir = run_folder(workspace, run_id, language)
    result = eval_views.read_result(run_dir)
    if not result.finished:
        empty = pd.DataFrame()
        note = f"<p>{html.escape(t('eval.not_finished', language, run=run_id))}</p>"
        return ResultsView(note, empty, None, None, None, empty, empty, which or eval_views.DIFFER, empty, "",
                           run_id)
    which = which or default_rows_filter(result)
    data_file = (result.metrics or {}).get("data_file", "")
    roc, pr = eval_views.curve_figures(result, threshold, language)
    return ResultsView(
        summary=hide_workspace(eval_views.summary_html(result, display_path(data_file, workspace) if data_file else "",
                                                       language), workspace),
        metrics=eval_views.metrics_table(result, language),
        confusion=eval_views.confusion_figure(result, language),
        roc=roc, pr=pr,
        threshold=eval_views.threshold_table(result, threshold, language),
        pairs=eval_views.pairs_table(result, language),
        rows_filter=which,
        rows=eval_views.rows_table(result, which, language),
        detail=f"<p>{t('eval.pick_row', language)}</p>",
        run_id=run_id)


def job_progress(workspace: Path, job_id: str, language: str) -> tuple[str, bool]:
    """The progress HTML of a job and whether it is still running."""
    registry = registry_for(workspace)
    registry.pump()  # marks a lost process, starts queued jobs
    try:
        job = registry.get(job_id)
    except UnknownJob:  # deleted on the Runs tab meanwhile
        return "", False
    result = eval_views.read_result(job.run_dir)
    planned = int(job.config.get("include_base", True)) + len(job.config.get("adapters") or [])
    error = hide_workspace(job.error, workspace) if job.status == "failed" and job.error else None
    return eval_views.progress_html(job.id, job.status, result, planned, error, language), job.status not in FINAL


def build(context: TabContext) -> None:
    workspace, language = context.workspace, context.language
    with gr.Row():
        base_box = context.translated(gr.Dropdown(base_model_choices(workspace), value=EMBEDDED_MODEL,
                                                  allow_custom_value=True, label=context.t("eval.base"), scale=2),
                                      "eval.base")
        checkpoints_box = context.translated(gr.Dropdown(checkpoint_choices(workspace), value=[], multiselect=True,
                                                         label=context.t("eval.checkpoints"), scale=4),
                                             "eval.checkpoints")
        refresh = context.translated(gr.Button(context.t("eval.refresh"), size="sm", scale=0, min_width=120),
                                     "eval.refresh", "value")
    with gr.Row():
        data_box = context.translated(gr.Dropdown(dataset_choices(workspace), value=DEMO, allow_custom_value=True,
                                                  label=context.t("eval.data"), scale=3), "eval.data")
        limit_box = context.translated(gr.Number(DEFAULT_LIMIT, precision=0, minimum=0, label=context.t("eval.limit"),
                                                 scale=1), "eval.limit")
        seed_box = context.translated(gr.Number(42, precision=0, label=context.t("eval.seed"), scale=1), "eval.seed")
        reason_box = context.translated(gr.Checkbox(False, label=context.t("eval.with_reason"), scale=1),
                                        "eval.with_reason")
        mode_box = context.on_language(
            gr.Radio(_mode_choices(language), value="score", label=context.t("eval.mode"), scale=2),
            lambda lang: {"choices": _mode_choices(lang), "label": t("eval.mode", lang)})
    with gr.Row():
        run_button = context.translated(gr.Button(context.t("eval.run"), variant="primary"), "eval.run", "value")
        stop_button = context.translated(gr.Button(context.t("eval.stop"), variant="stop"), "eval.stop", "value")
    progress_box = gr.HTML()
    timer = gr.Timer(POLL_SECONDS, active=False)
    job_state = gr.State("")
    shown_run = gr.State("")
    _heading(context, "eval.results")
    with gr.Row():
        run_box = context.translated(gr.Dropdown(eval_run_choices(workspace, language), value=None,
                                                 label=context.t("eval.run_choice"), scale=4), "eval.run_choice")
        show_button = context.translated(gr.Button(context.t("eval.show"), scale=1), "eval.show", "value")
    summary = gr.HTML()
    metrics_table = context.translated(gr.Dataframe(label=context.t("eval.metrics"), interactive=False, wrap=True),
                                       "eval.metrics")
    confusion_plot = gr.Plot(show_label=False)
    threshold_slider = context.translated(gr.Slider(0.0, 1.0, value=DEFAULT_THRESHOLD, step=0.01,
                                                    label=context.t("eval.threshold")), "eval.threshold")
    with gr.Row():
        roc_plot, pr_plot = gr.Plot(show_label=False), gr.Plot(show_label=False)
    threshold_table = context.translated(gr.Dataframe(label=context.t("eval.threshold_table"), interactive=False),
                                         "eval.threshold_table")
    pairs_table = context.translated(gr.Dataframe(label=context.t("eval.pairs"), interactive=False, wrap=True),
                                     "eval.pairs")
    rows_filter = context.on_language(
        gr.Radio(_filter_choices(language), value=eval_views.DIFFER, label=context.t("eval.rows_filter")),
        lambda lang: {"choices": _filter_choices(lang), "label": t("eval.rows_filter", lang)})
    rows_table = context.translated(gr.Dataframe(label=context.t("eval.rows"), interactive=False, wrap=True,
                                                 max_height=420), "eval.rows")
    detail = gr.HTML()

    result_outputs = [summary, metrics_table, confusion_plot, roc_plot, pr_plot, threshold_table, pairs_table,
                      rows_filter, rows_table, detail, shown_run]

    @user_errors
    def start_evaluation_job(base, checkpoints, data, limit, seed, with_reason, mode, language):
        config = eval_config(workspace, base, checkpoints, data, limit, seed, with_reason, mode, language)
        try:
            job = start_evaluation(config, workspace, registry_for(workspace))
        except EvalConfigError as error:
            raise gr.Error(hide_workspace(str(error), workspace), print_exception=False) from None
        progress, running = job_progress(workspace, job.id, language)
        return (job.id, progress, gr.Timer(active=running),
                gr.update(choices=eval_run_choices(workspace, language), value=job.id))

    run_button.click(start_evaluation_job, [base_box, checkpoints_box, data_box, limit_box, seed_box, reason_box,
                                            mode_box, context.language_input],
                     [job_state, progress_box, timer, run_box])

    def watch_evaluation(job_id, threshold, language):
        if not job_id:
            return ("", gr.Timer(active=False), gr.skip(), *[gr.skip()] * len(result_outputs))
        progress, running = job_progress(workspace, job_id, language)
        if running:
            return (progress, gr.Timer(active=True), gr.skip(), *[gr.skip()] * len(result_outputs))
        choices = gr.update(choices=eval_run_choices(workspace, language), value=job_id)
        try:
            finished = RunDir(run_folder(workspace, job_id, language)).eval_metrics.is_file()
        except gr.Error:
            finished = False
        if not finished:  # failed before writing results: the progress box shows the error
            return (progress, gr.Timer(active=False), choices, *[gr.skip()] * len(result_outputs))
        view = results_view(workspace, job_id, threshold, None, language)
        return (progress, gr.Timer(active=False), choices, *view.outputs())

    poll(timer, watch_evaluation, [job_state, threshold_slider, context.language_input],
         [progress_box, timer, run_box, *result_outputs], "evaluate")

    @user_errors
    def stop_evaluation(job_id, language):
        if not job_id:
            return gr.skip(), gr.skip()
        registry_for(workspace).stop(job_id)
        progress, running = job_progress(workspace, job_id, language)
        return progress, gr.Timer(active=running)

    stop_button.click(stop_evaluation, [job_state, context.language_input], [progress_box, timer])

    @user_errors
    def show_evaluation(run_id, threshold, language):
        if not run_id:
            raise gr.Error(t("eval.choose_run", language), print_exception=False)
        return results_view(workspace, run_id, threshold, None, language).outputs()

    show_button.click(show_evaluation, [run_box, threshold_slider, context.language_input], result_outputs)

    @user_errors
    def move_threshold(run_id, threshold, language):
        if not run_id:
            return gr.skip(), gr.skip(), gr.skip()
        result = eval_views.read_result(run_folder(workspace, run_id, language))
        if not result.finished:
            return gr.skip(), gr.skip(), gr.skip()
        roc, pr = eval_views.curve_figures(result, threshold, language)
        return roc, pr, eval_views.threshold_table(result, threshold, language)

    threshold_slider.change(move_threshold, [shown_run, threshold_slider, context.language_input],
                            [roc_plot, pr_plot, threshold_table], trigger_mode="always_last",
                            show_progress="hidden")

    @user_errors
    def filter_evaluation_rows(run_id, which, language):
        if not run_id:
            return gr.skip(), gr.skip()
        result = eval_views.read_result(run_folder(workspace, run_id, language))
        return eval_views.rows_table(result, which, language), f"<p>{t('eval.pick_row', language)}</p>"

    rows_filter.input(filter_evaluation_rows, [shown_run, rows_filter, context.language_input], [rows_table, detail])

    @user_errors
    def pick_evaluation_row(run_id, language, event: gr.SelectData):
        if not run_id or event is None or not event.row_value:
            return gr.skip()
        result = eval_views.read_result(run_folder(workspace, run_id, language))
        return eval_views.row_detail_html(result, int(event.row_value[0]), language)

    rows_table.select(pick_evaluation_row, [shown_run, context.language_input], detail)

    @user_errors
    def relabel_evaluation(run_id, job_id, threshold, which, language):
        progress = job_progress(workspace, job_id, language)[0] if job_id else ""
        if not run_id:
            return (progress, *[gr.skip()] * len(result_outputs))
        return (progress, *results_view(workspace, run_id, threshold, which, language).outputs())

    context.language_input.change(relabel_evaluation, [shown_run, job_state, threshold_slider, rows_filter,
                                            context.language_input], [progress_box, *result_outputs])

    def refresh_evaluation_choices(language):
        """New runs, checkpoints and data files; and an evaluation still running is watched again."""
        running = [job for job in registry_for(workspace).list(kind="eval") if job.status not in FINAL]
        job_id = running[0].id if running else gr.skip()
        return (gr.update(choices=base_model_choices(workspace)), gr.update(choices=checkpoint_choices(workspace)),
                gr.update(choices=dataset_choices(workspace)),
                gr.update(choices=eval_run_choices(workspace, language)), job_id,
                gr.Timer(active=True) if running else gr.skip())

    refresh_outputs = [base_box, checkpoints_box, data_box, run_box, job_state, timer]
    refresh.click(refresh_evaluation_choices, context.language_input, refresh_outputs)

    @user_errors
    def show_latest_evaluation(run_id, threshold, language):
        """On opening the page, the newest finished evaluation is shown (unless one already is)."""
        finished = [job for job in registry_for(workspace).list(kind="eval", status="finished")
                    if RunDir(job.run_dir).eval_metrics.is_file()]
        if run_id or not finished:
            return (gr.skip(), *[gr.skip()] * len(result_outputs))
        view = results_view(workspace, finished[0].id, threshold, None, language)
        return (finished[0].id, *view.outputs())

    context.app.load(refresh_evaluation_choices, context.language_input, refresh_outputs).then(
        show_latest_evaluation, [shown_run, threshold_slider, context.language_input], [run_box, *result_outputs])


def _heading(context: TabContext, key: str):
    return context.on_language(gr.Markdown("### " + context.t(key)), lambda lang: {"value": "### " + t(key, lang)})


def _mode_choices(language: str) -> list[tuple[str, str]]:
    return [(t("eval.mode.score", language), "score"), (t("eval.mode.generate", language), "generate")]


def _filter_choices(language: str) -> list[tuple[str, str]]:
    return [(t("eval.filter.differ", language), eval_views.DIFFER),
            (t("eval.filter.wrong", language), eval_views.WRONG), (t("eval.filter.all", language), eval_views.ALL)]
