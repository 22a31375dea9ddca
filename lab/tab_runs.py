"""Runs tab: every job of the registry, curves of several runs overlaid with their config
differences, a run's K-fold / sweep summary, export (merge a LoRA run) and delete.

The handlers (`runs_table`, `compare_runs`, `run_details`, `export_job`, `delete_job`) take the
workspace and return tables, figures and messages; `build(context)` wires them.
"""
from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from core.jobs.registry import FINISHED, JobStateError, UnknownJob
from core.train.export import EXPORT_KIND
from core.train.submit import TRAINING_KINDS
from core.workspace import RunDir
from lab import run_views
from lab.i18n import t
from lab.state import TabContext, bind, hide_workspace, poll, registry_for, user_errors

EXPORTABLE_METHODS = ("lora", "qlora")
DEFAULT_COMPARED = 2


def top_level_jobs(workspace: Path) -> list:
    return registry_for(workspace).list(parent_id=None)


def runs_table(workspace: Path, language: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The registry's top-level jobs (children show in their parent's details) and their choices."""
    registry = registry_for(workspace)
    registry.pump()
    jobs = top_level_jobs(workspace)
    return run_views.jobs_table(jobs, language), run_views.job_choices(jobs, language)


def _jobs(workspace: Path, job_ids, language: str) -> list:
    registry = registry_for(workspace)
    ids = [job_ids] if isinstance(job_ids, str) else list(job_ids or [])
    if not ids:
        raise gr.Error(t("runs.pick_one", language), print_exception=False)
    try:
        jobs = [registry.get(str(job_id)) for job_id in ids]
    except UnknownJob as error:
        raise gr.Error(hide_workspace(str(error), workspace), print_exception=False) from None
    # The table lists top-level jobs (a sweep's trials and a K-fold's folds show in their parent's
    # details): an event called directly (/gradio_api) cannot export or delete a child on its own.
    for job in jobs:
        if job.parent_id is not None:
            raise gr.Error(t("runs.not_listed", language, job=job.id), print_exception=False)
    return jobs


def compare_runs(workspace: Path, job_ids, language: str) -> tuple[go.Figure, pd.DataFrame]:
    """Train and eval loss of the runs overlaid, and only the config keys that differ."""
    jobs = _jobs(workspace, job_ids, language)
    registry = registry_for(workspace)
    return (run_views.compare_figure(jobs, registry, language),
            run_views.differences_table(jobs, workspace, language))


def _summary_frame(job, workspace: Path, language: str) -> pd.DataFrame:
    key, value = t("runs.col.name", language), t("runs.col.value", language)
    rows = [{key: name, value: hide_workspace(str(item), workspace)}
            for name, item in (job.summary or {}).items() if not isinstance(item, (dict, list))]
    return pd.DataFrame(rows, columns=[key, value])


def run_details(workspace: Path, job_id: str | None, language: str) -> tuple[str, pd.DataFrame]:
    """The run's status line and its table: folds with mean ± std, the sweep's trials, or its summary."""
    if not job_id:
        return "", pd.DataFrame()
    job = _jobs(workspace, job_id, language)[0]
    registry = registry_for(workspace)
    if job.kind == "kfold":
        frame = run_views.fold_frame(job, registry, language)
    elif job.kind == "sweep":
        frame = run_views.sweep_frame(job)
    else:
        frame = _summary_frame(job, workspace, language)
    head = ('<div '
            f'style="display:flex;gap:10px;align-items:center">{run_views.status_badge(job.status, language)}'
            f'<code>{html.escape(job.id)}</code><span>{html.escape(job.kind)}</span>'
            f'<span>{html.escape(run_views.summary_text(job.summary))}</span></div>')
    if job.error:
        head += f'<pre style="white-space:pre-wrap;color:#b71c1c">' \
                f'{html.escape(hide_workspace(job.error, workspace))}</pre>'
    return head + run_views.skipped_html(job.summary, language), frame


def export_job(workspace: Path, job_id: str | None, language: str):
    """Submit an `export` job that merges a finished LoRA run into its base (RUN/merged)."""
    job = _jobs(workspace, job_id, language)[0]
    info = RunDir(job.run_dir).run_info_file
    method = ((job.config or {}).get("method") or "")
    if job.kind not in ("train", "kfold") or job.status != FINISHED or not info.is_file():
        raise gr.Error(t("runs.export_not_lora", language, job=job.id, kind=job.kind,
                         status=t(f"runs.status.{job.status}", language)), print_exception=False)
    if method not in EXPORTABLE_METHODS:
        raise gr.Error(t("runs.export_full", language, method=method), print_exception=False)
    registry = registry_for(workspace)
    exported = registry.submit(EXPORT_KIND, {"run": str(job.run_dir)})
    return exported, t("runs.export_started", language, job=exported.id,
                       path=hide_workspace(str(RunDir(job.run_dir).merged_dir), workspace))


def delete_job(workspace: Path, job_id: str | None, confirmed: bool, language: str) -> str:
    """Delete the job, its children and run folders, only once the user ticked the confirmation."""
    job = _jobs(workspace, job_id, language)[0]
    if not confirmed:
        raise gr.Error(t("runs.confirm_first", language), print_exception=False)
    try:
        registry_for(workspace).delete(job.id)
    except JobStateError as error:
        raise gr.Error(str(error), print_exception=False) from None
    return t("runs.deleted", language, job=job.id)


def relabel_runs(workspace: Path, job_ids, job_id: str | None, language: str) -> tuple:
    """What the tab already shows, worded again after a language switch: the comparison of the chosen
    runs and the chosen run's details (nothing is drawn where nothing was chosen)."""
    compared = (gr.skip(), gr.skip())
    if job_ids:
        try:
            compared = compare_runs(workspace, job_ids, language)
        except gr.Error:  # a compared run was deleted meanwhile: the old comparison stays
            pass
    details = (gr.skip(), gr.skip())
    if job_id:
        try:
            details = run_details(workspace, job_id, language)
        except gr.Error:
            pass
    return (*compared, *details)


def _message(text: str) -> str:
    return f'<p style="margin:4px 0">{html.escape(text)}</p>'


def build(context: TabContext) -> None:
    workspace = context.workspace
    with gr.Row(equal_height=True):
        heading = gr.Markdown("### " + context.t("runs.table"))
        context.on_language(heading, lambda lang: {"value": "### " + t("runs.table", lang)})
        refresh = context.translated(gr.Button(context.t("runs.refresh"), scale=0, min_width=120),
                                     "runs.refresh", "value")
    table = gr.Dataframe(interactive=False, wrap=True, max_height=360, show_label=False)
    with gr.Row():
        compare_box = context.translated(gr.Dropdown([], value=[], multiselect=True,
                                                     label=context.t("runs.compare_select"), scale=4),
                                         "runs.compare_select")
        compare_button = context.translated(gr.Button(context.t("runs.compare"), variant="primary", scale=1,
                                                      size="lg"), "runs.compare", "value")
    compare_plot = gr.Plot(show_label=False)
    differences = context.translated(gr.Dataframe(pd.DataFrame(columns=[context.t("runs.col.key")]),
                                                  interactive=False, wrap=True,
                                                  label=context.t("runs.differences")),
                                     "runs.differences")
    heading = gr.Markdown("### " + context.t("runs.selected"))
    context.on_language(heading, lambda lang: {"value": "### " + t("runs.selected", lang)})
    with gr.Row():
        run_box = context.translated(gr.Dropdown([], value=None, label=context.t("runs.run"), scale=3),
                                     "runs.run")
        export_button = context.translated(gr.Button(context.t("runs.export"), scale=1), "runs.export",
                                           "value")
        confirm = context.translated(gr.Checkbox(False, label=context.t("runs.confirm"), scale=2),
                                     "runs.confirm")
        delete_button = context.translated(gr.Button(context.t("runs.delete"), variant="stop", scale=1),
                                           "runs.delete", "value")
    message = gr.HTML()
    details_head = gr.HTML()
    details = gr.Dataframe(pd.DataFrame(columns=[context.t("runs.col.name"), context.t("runs.col.value")]),
                           interactive=False, wrap=True, show_label=False)
    known = gr.State(None)
    timer = gr.Timer(3.0)

    def show_table(language, previous, force=False):
        frame, choices = runs_table(workspace, language)
        digest = (frame.to_json(), choices)
        unchanged = previous is not None and list(previous[1]) == list(digest[1]) and previous[0] == digest[0]
        if not force and unchanged:
            return gr.skip(), gr.skip(), gr.skip(), previous
        return frame, gr.update(choices=choices), gr.update(choices=choices), digest

    table_outputs = [table, compare_box, run_box, known]
    refresh.click(lambda language, previous: show_table(language, previous, force=True),
                  [context.language_input, known], table_outputs)

    def on_load(language):
        """The table, with the newest training runs already compared and the newest job's details."""
        shown = show_table(language, None, force=True)
        jobs = top_level_jobs(workspace)
        recent = [job.id for job in jobs if job.kind in TRAINING_KINDS][:DEFAULT_COMPARED]
        figure, frame = compare_runs(workspace, recent, language) if recent else (gr.skip(), gr.skip())
        head, detail = run_details(workspace, jobs[0].id, language) if jobs else (gr.skip(), gr.skip())
        return (*shown[:1], gr.update(choices=shown[3][1], value=recent),
                gr.update(choices=shown[3][1], value=jobs[0].id if jobs else None), shown[3],
                figure, frame, head, detail)

    context.app.load(on_load, context.language_input,
                     [*table_outputs, compare_plot, differences, details_head, details],
                     show_progress="hidden")
    context.language_input.change(lambda language, previous: show_table(language, previous, force=True),
                                  [context.language_input, known], table_outputs)
    context.language_input.change(bind(relabel_runs, workspace),
                                  [compare_box, run_box, context.language_input],
                                  [compare_plot, differences, details_head, details], show_progress="hidden")
    poll(timer, show_table, [context.language_input, known], table_outputs, "runs")

    @user_errors
    def compare(job_ids, language):
        return compare_runs(workspace, job_ids, language)

    compare_button.click(compare, [compare_box, context.language_input], [compare_plot, differences])

    @user_errors
    def details_of(job_id, language):
        return run_details(workspace, job_id, language)

    run_box.input(details_of, [run_box, context.language_input], [details_head, details])

    @user_errors
    def export(job_id, language):
        _, text = export_job(workspace, job_id, language)
        return _message(text)

    export_button.click(export, [run_box, context.language_input], message).success(
        lambda language, previous: show_table(language, previous, force=True),
        [context.language_input, known], table_outputs)

    @user_errors
    def delete(job_id, confirmed, language):
        text = delete_job(workspace, job_id, confirmed, language)
        return _message(text), False, gr.update(value=None), "", pd.DataFrame()

    delete_button.click(delete, [run_box, confirm, context.language_input],
                        [message, confirm, run_box, details_head, details]).success(
        lambda language, previous: show_table(language, previous, force=True),
        [context.language_input, known], table_outputs)
