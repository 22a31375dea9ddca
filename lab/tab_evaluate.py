"""Evaluate tab: run a base model and its checkpoints on the same test rows, as a job, and compare.

The form is generated from EvalConfig's fields (lab.config_form), as the Train form is from
RunConfig's, so the page, `python -m lab eval` and the job read the same settings with the same
defaults. The evaluation runs in a job process (core.eval.evaluation.start_evaluation); this module
submits it, polls its progress file with a gr.Timer, stops it, and shows a finished run's
metrics.json / predictions.jsonl through lab.eval_views.

The handlers are module functions taking the workspace first (`build` binds it), so a test calls
them by name with the values the page would send.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import gradio as gr
import pandas as pd

from core.config.schema import DEMO, EMBEDDED, EvalConfig, FieldSpec, field_specs
from core.config.text import config_from_dict
from core.eval.evaluation import start_evaluation
from core.eval.report import EvalResult
from core.eval.run_defaults import with_run_defaults
from core.jobs.registry import FINAL, UnknownJob
from core.demo.tiny_encoder import EMBEDDED_ENCODER, encoder_dir
from core.workspace import RunDir, Workspace
from lab import config_form, eval_views, resolve
from lab.help_zh import field_help
from lab.i18n import config_error_text, t
from lab.state import TabContext, bind, hide_workspace, poll, registry_for, user_errors

DEFAULT_THRESHOLD = 0.5
POLL_SECONDS = 1.0
LABELS = "evalcfg"  # i18n prefix of the form's field labels
# Shown at the top; the other fields sit in a closed "more options" accordion.
FRONT = ("model", "adapters", "data", "limit", "sample_seed", "with_reason", "mode")
# Fields whose dropdown offers what the workspace holds (and still takes typed paths).
PICKED = frozenset({"model", "adapters", "data", "train_data"})
PER_ROW = 4


# -- the form --------------------------------------------------------------------------------------
def form_specs() -> list[FieldSpec]:
    return field_specs(EvalConfig)


def form_values(cfg: EvalConfig) -> list:
    """The form's values for a config, in `form_specs` order: what the page sends to the handlers."""
    return config_form.form_values(cfg, form_specs(), PICKED)


def _picks(key: str, workspace: Path) -> list | None:
    if key == "model":
        return resolve.model_choices(workspace)
    if key == "adapters":
        return resolve.checkpoint_choices(workspace)
    if key in ("data", "train_data"):
        return resolve.dataset_choices(workspace) + ([""] if key == "train_data" else [])
    return None


def eval_config(workspace: Path, values: Sequence, language: str) -> EvalConfig:
    """The form's values as an EvalConfig: a wrong value is a ConfigError naming its key, and every
    path goes through the workspace check (lab.resolve)."""
    cfg = config_from_dict(config_form.values_to_dict(form_specs(), values), EvalConfig)
    return replace(cfg, model=resolve.base_model(cfg.model, workspace, language),
                   adapters=[str(resolve.checkpoint(item, workspace, language)) for item in cfg.adapters],
                   data=resolve.data_file(cfg.data, workspace, language),
                   train_data=resolve.data_file(cfg.train_data, workspace,
                                                language) if cfg.train_data else None)


def fill_from_checkpoint(workspace: Path, adapters, model: str, data: str, language: str) -> tuple:
    """Checkpoints picked while base and data are at their defaults: the first one's run gives them
    (its base model and test data), so an encoder's or another dataset's run is compared as trained.
    Values the user chose are kept; a checkpoint not from a run changes nothing."""
    chosen = [item for item in (adapters or []) if str(item).strip()]
    if not chosen:
        return gr.skip(), gr.skip()
    try:
        first = resolve.checkpoint(chosen[0], workspace, language)
    except gr.Error:
        return gr.skip(), gr.skip()  # Evaluate says why when it is pressed
    _, taken = with_run_defaults(EvalConfig(model=model or EMBEDDED, data=data or DEMO,
                                            adapters=[str(first)]))
    shown = {}
    # The Train form gives a run the embedded models' folders: shown again by their names.
    named = {str(Workspace(workspace).tiny_model_dir.resolve()): EMBEDDED,
             str(encoder_dir(workspace).resolve()): EMBEDDED_ENCODER}
    for key, value in taken.items():
        path = Path(value)
        if str(path.resolve()) in named:
            shown[key] = named[str(path.resolve())]
        elif not path.is_absolute():
            shown[key] = value  # "demo-reviews", "embedded-encoder", a hub id
        elif path.resolve().is_relative_to(Path(workspace).resolve()):
            shown[key] = resolve.display_path(path, workspace)
    return (gr.update(value=shown["model"]) if "model" in shown else gr.skip(),
            gr.update(value=shown["data"]) if "data" in shown else gr.skip())


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
    # The threshold slider, ROC/PR curves and threshold table read P(true): shown for the fraud
    # schema's true/false only, hidden for a dataset with label names.
    curves: object = None

    def outputs(self) -> tuple:
        return (self.summary, self.metrics, self.confusion, self.roc, self.pr, self.threshold, self.pairs,
                self.rows_filter, self.rows, self.detail, self.run_id,
                gr.update(visible=True) if self.curves is None else self.curves)


def empty_results(language: str, run_id: str = "", summary: str = "",
                  which: str | None = None) -> ResultsView:
    """No results (yet): tables with their headers in the page's language (an empty gr.Dataframe shows
    the headers "1 2 3"), no figures."""
    result = EvalResult(Path("."), {})
    return ResultsView(summary, eval_views.metrics_table(result, language), None, None, None,
                       eval_views.threshold_table(result, DEFAULT_THRESHOLD, language),
                       eval_views.pairs_table(result, language), which or eval_views.DIFFER,
                       eval_views.rows_table(result, eval_views.DIFFER, language), "", run_id)


def results_view(workspace: Path, run_id: str, threshold: float, which: str | None,
                 language: str) -> ResultsView:
    """The results of one evaluation run; `which` None picks the rows filter that fits the run."""
    run_dir = run_folder(workspace, run_id, language)
    result = eval_views.read_result(run_dir)
    if not result.finished:
        note = f"<p>{html.escape(t('eval.not_finished', language, run=run_id))}</p>"
        return empty_results(language, run_id, note, which)
    which = which or default_rows_filter(result)
    data_file = (result.metrics or {}).get("data_file", "")
    roc, pr = eval_views.curve_figures(result, threshold, language)
    return ResultsView(
        summary=hide_workspace(eval_views.summary_html(result,
                                                       resolve.display_path(data_file,
                                                                            workspace) if data_file else "",
                                                       language), workspace),
        metrics=eval_views.metrics_table(result, language),
        confusion=eval_views.confusion_figure(result, language),
        roc=roc, pr=pr,
        threshold=eval_views.threshold_table(result, threshold, language),
        pairs=eval_views.pairs_table(result, language),
        rows_filter=which,
        rows=eval_views.rows_table(result, which, language),
        detail=f"<p>{t('eval.pick_row', language)}</p>",
        run_id=run_id,
        curves=gr.update(visible=not eval_views.class_names(result)))


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
    return eval_views.progress_html(job.id, job.status, result, planned, error,
                                    language), job.status not in FINAL


RESULT_COUNT = len(ResultsView.__dataclass_fields__)


def _skips(count: int = RESULT_COUNT) -> list:
    return [gr.skip()] * count


# -- the handlers ----------------------------------------------------------------------------------
@user_errors
def start_evaluation_job(workspace: Path, language: str, *values):
    """Run: check the form and submit the job; returns (job id, progress, timer, run choices)."""
    config = eval_config(workspace, values, language)
    try:
        job = start_evaluation(config, workspace, registry_for(workspace))
    except ValueError as error:  # ConfigError / ConfigProblems: said before any model loads
        raise gr.Error(hide_workspace(config_error_text(error, language), workspace),
                       print_exception=False) from None
    progress, running = job_progress(workspace, job.id, language)
    return (job.id, progress, gr.Timer(active=running),
            gr.update(choices=eval_run_choices(workspace, language), value=job.id))


def watch_evaluation(workspace: Path, job_id: str, threshold: float, language: str):
    """The timer's tick: progress while the job runs, then its results."""
    if not job_id:
        return ("", gr.Timer(active=False), gr.skip(), *_skips())
    progress, running = job_progress(workspace, job_id, language)
    if running:
        return (progress, gr.Timer(active=True), gr.skip(), *_skips())
    choices = gr.update(choices=eval_run_choices(workspace, language), value=job_id)
    try:
        finished = RunDir(run_folder(workspace, job_id, language)).eval_metrics.is_file()
    except gr.Error:
        finished = False
    if not finished:  # failed before writing results: the progress box shows the error
        return (progress, gr.Timer(active=False), choices, *_skips())
    view = results_view(workspace, job_id, threshold, None, language)
    return (progress, gr.Timer(active=False), choices, *view.outputs())


@user_errors
def stop_evaluation(workspace: Path, job_id: str, language: str):
    if not job_id:
        return gr.skip(), gr.skip()
    registry_for(workspace).stop(job_id)
    progress, running = job_progress(workspace, job_id, language)
    return progress, gr.Timer(active=running)


@user_errors
def show_evaluation(workspace: Path, run_id: str, threshold: float, language: str):
    if not run_id:
        raise gr.Error(t("eval.choose_run", language), print_exception=False)
    return results_view(workspace, run_id, threshold, None, language).outputs()


@user_errors
def move_threshold(workspace: Path, run_id: str, threshold: float, language: str):
    if not run_id:
        return gr.skip(), gr.skip(), gr.skip()
    result = eval_views.read_result(run_folder(workspace, run_id, language))
    if not result.finished:
        return gr.skip(), gr.skip(), gr.skip()
    roc, pr = eval_views.curve_figures(result, threshold, language)
    return roc, pr, eval_views.threshold_table(result, threshold, language)


@user_errors
def filter_evaluation_rows(workspace: Path, run_id: str, which: str, language: str):
    if not run_id:
        return gr.skip(), gr.skip()
    result = eval_views.read_result(run_folder(workspace, run_id, language))
    return eval_views.rows_table(result, which, language), f"<p>{t('eval.pick_row', language)}</p>"


@user_errors
def pick_evaluation_row(workspace: Path, run_id: str, language: str, event: gr.SelectData):
    if not run_id or event is None or not event.row_value:
        return gr.skip()
    result = eval_views.read_result(run_folder(workspace, run_id, language))
    return eval_views.row_detail_html(result, int(event.row_value[0]), language)


@user_errors
def relabel_evaluation(workspace: Path, run_id: str, job_id: str, threshold: float, which: str,
                       language: str):
    progress = job_progress(workspace, job_id, language)[0] if job_id else ""
    if not run_id:
        return (progress, *empty_results(language, which=which).outputs())
    return (progress, *results_view(workspace, run_id, threshold, which, language).outputs())


def refresh_evaluation_choices(workspace: Path, language: str):
    """New runs, checkpoints and data files; and an evaluation still running is watched again."""
    running = [job for job in registry_for(workspace).list(kind="eval") if job.status not in FINAL]
    lists = [gr.update(choices=_picks(key, workspace)) for key in sorted(PICKED)]
    return (*lists, gr.update(choices=eval_run_choices(workspace, language)),
            running[0].id if running else gr.skip(), gr.Timer(active=True) if running else gr.skip())


@user_errors
def show_latest_evaluation(workspace: Path, run_id: str, threshold: float, language: str):
    """On opening the page, the newest finished evaluation is shown (unless one already is)."""
    finished = [job for job in registry_for(workspace).list(kind="eval", status="finished")
                if RunDir(job.run_dir).eval_metrics.is_file()]
    if run_id or not finished:
        return (gr.skip(), *_skips())
    return (finished[0].id, *results_view(workspace, finished[0].id, threshold, None, language).outputs())


# -- the page --------------------------------------------------------------------------------------
def _form(context: TabContext) -> dict:
    """The EvalConfig fields' components, by key: FRONT ones on top, the rest in "more options"."""
    workspace, language = context.workspace, context.language
    components = {}

    def add(specs):
        for begin in range(0, len(specs), PER_ROW):
            with gr.Row():
                for spec in specs[begin:begin + PER_ROW]:
                    label, *named = _labels(spec, language)
                    component = config_form.field_component(spec, label,
                                                            named[0] if named else _picks(spec.key,
                                                                                                      workspace),
                                                            info=field_help(spec.key, spec.help, language,
                                                                            LABELS))
                    components[spec.key] = context.on_language(
                        component, lambda lang,
                        spec=spec: {**dict(zip(("label", "choices"), _labels(spec, lang))),
                                    "info": field_help(spec.key, spec.help, lang, LABELS)})

    add([spec for spec in form_specs() if spec.key in FRONT])
    with context.translated(gr.Accordion(context.t("train.more"), open=False), "train.more"):
        add([spec for spec in form_specs() if spec.key not in FRONT])
    return components


def _labels(spec: FieldSpec, language: str) -> tuple:
    """A field's label and, for the mode, its choices named in the page's language."""
    label = config_form.field_label(spec.key, language, LABELS)
    if spec.key != "mode":
        return (label,)
    return label, [(t(f"eval.mode.{mode}", language), mode) for mode in spec.choices]


def build(context: TabContext) -> None:
    workspace, language = context.workspace, context.language
    components = _form(context)
    fields = [components[spec.key] for spec in form_specs()]
    with gr.Row():
        run_button = context.translated(gr.Button(context.t("eval.run"), variant="primary"), "eval.run",
                                        "value")
        stop_button = context.translated(gr.Button(context.t("eval.stop"), variant="stop"), "eval.stop",
                                         "value")
        refresh = context.translated(gr.Button(context.t("eval.refresh"), scale=0, min_width=120),
                                     "eval.refresh", "value")
    progress_box = gr.HTML()
    timer = gr.Timer(POLL_SECONDS, active=False)
    job_state = gr.State("")
    shown_run = gr.State("")
    _heading(context, "eval.results")
    with gr.Row():
        # The choices carry each run's status word, so a switch words them again too.
        run_box = context.on_language(gr.Dropdown(eval_run_choices(workspace, language), value=None,
                                                  label=context.t("eval.run_choice"), scale=4),
                                      lambda lang: {"label": t("eval.run_choice", lang),
                                                    "choices": eval_run_choices(workspace, lang)})
        show_button = context.translated(gr.Button(context.t("eval.show"), scale=1), "eval.show", "value")
    summary = gr.HTML()
    empty = empty_results(language)
    metrics_table = context.translated(gr.Dataframe(empty.metrics, label=context.t("eval.metrics"),
                                                    interactive=False,
                                                    wrap=True),
                                       "eval.metrics")
    confusion_plot = gr.Plot(show_label=False)
    with gr.Column() as curves_box:
        threshold_slider = context.translated(gr.Slider(0.0, 1.0, value=DEFAULT_THRESHOLD, step=0.01,
                                                        label=context.t("eval.threshold")), "eval.threshold")
        with gr.Row():
            roc_plot, pr_plot = gr.Plot(show_label=False), gr.Plot(show_label=False)
        threshold_table = context.translated(gr.Dataframe(empty.threshold, interactive=False,
                                                          label=context.t("eval.threshold_table")),
                                             "eval.threshold_table")
    pairs_table = context.translated(gr.Dataframe(empty.pairs, label=context.t("eval.pairs"),
                                                  interactive=False, wrap=True),
                                     "eval.pairs")
    rows_filter = context.on_language(
        gr.Radio(_filter_choices(language), value=eval_views.DIFFER, label=context.t("eval.rows_filter")),
        lambda lang: {"choices": _filter_choices(lang), "label": t("eval.rows_filter", lang)})
    rows_table = context.translated(gr.Dataframe(empty.rows, label=context.t("eval.rows"), interactive=False,
                                                 wrap=True,
                                                 max_height=420), "eval.rows")
    detail = gr.HTML()

    result_outputs = [summary, metrics_table, confusion_plot, roc_plot, pr_plot, threshold_table, pairs_table,
                      rows_filter, rows_table, detail, shown_run, curves_box]
    language_input = context.language_input
    run_button.click(bind(start_evaluation_job, workspace), [language_input, *fields],
                     [job_state, progress_box, timer, run_box])
    poll(timer, bind(watch_evaluation, workspace), [job_state, threshold_slider, language_input],
         [progress_box, timer, run_box, *result_outputs], "evaluate")
    stop_button.click(bind(stop_evaluation, workspace), [job_state, language_input], [progress_box, timer])
    show_button.click(bind(show_evaluation, workspace), [run_box, threshold_slider, language_input],
                      result_outputs)
    threshold_slider.change(bind(move_threshold, workspace), [shown_run, threshold_slider, language_input],
                            [roc_plot, pr_plot, threshold_table], trigger_mode="always_last",
                            show_progress="hidden")
    rows_filter.input(bind(filter_evaluation_rows, workspace), [shown_run, rows_filter, language_input],
                      [rows_table, detail])
    rows_table.select(bind(pick_evaluation_row, workspace), [shown_run, language_input], detail)
    language_input.change(bind(relabel_evaluation, workspace),
                          [shown_run, job_state, threshold_slider, rows_filter, language_input],
                          [progress_box, *result_outputs])
    components["adapters"].input(bind(fill_from_checkpoint, workspace),
                                 [components["adapters"], components["model"], components["data"],
                                  language_input], [components["model"], components["data"]])
    refresh_outputs = [components[key] for key in sorted(PICKED)] + [run_box, job_state, timer]
    refresh.click(bind(refresh_evaluation_choices, workspace), language_input, refresh_outputs)
    context.app.load(bind(refresh_evaluation_choices, workspace), language_input, refresh_outputs).then(
        bind(show_latest_evaluation, workspace), [shown_run, threshold_slider, language_input],
        [run_box, *result_outputs])


def _heading(context: TabContext, key: str):
    return context.on_language(gr.Markdown("### " + context.t(key)),
                               lambda lang: {"value": "### " + t(key, lang)})


def _filter_choices(language: str) -> list[tuple[str, str]]:
    return [(t("eval.filter.differ", language), eval_views.DIFFER),
            (t("eval.filter.wrong", language), eval_views.WRONG),
            (t("eval.filter.all", language), eval_views.ALL)]
