"""Train tab: a form generated from RunConfig's fields, its YAML and CLI, and the live job.

The form is built by iterating RunConfig's field specs once (lab.config_form): each field's type
and choices pick its component, its prefix picks the accordion. `config_from_form` / `form_values`
convert between the components' values (in spec order) and a RunConfig, so the YAML preview, the
CLI line and the started job all come from the same RunConfig. Training never runs in the server:
Start submits a job (its own process) and a 2 s timer reads what the job appends.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import gradio as gr
import plotly.graph_objects as go
import yaml

from core.config.checks import PATH_KEYS, validate
from core.config.presets import PRESETS, Preset, default_config, preset_for
from core.config.recipes import recipe_names, recipe_summary, recipe_text
from core.config.schema import ConfigError, FieldSpec, RunConfig, SweepSection, field_specs, get_value
from core.config.text import apply_overrides, config_from_dict, config_from_yaml, to_cli_command, to_yaml
from core.jobs.registry import JobStateError, UnknownJob
from core.models import EMBEDDED_ALIASES
from core.train.submit import TRAINING_KINDS, job_kind
from lab import config_form, resolve, run_views
from lab.help_zh import field_help
from lab.i18n import config_error_text, preset_description, t
from lab.state import (TabContext, bind, error_html, hide_workspace, poll, registry_for, shown_errors,
                       user_errors)

# (accordion label key, key prefixes), in page order; the first prefix that matches wins.
FORM_GROUPS = (
    ("train.group.model", ("model", "head", "method", "trust_remote_code", "lora.")),
    ("train.group.data", ("data.",)),
    ("train.group.hyper", ("train.",)),
    ("train.group.kfold", ("kfold.",)),
)
DATA_KEYS = ("data.train", "data.validation", "data.test")
PER_ROW = 3
LOG_LINES = 16
# Fields most runs leave alone: shown in a closed accordion inside their group.
ADVANCED = {"trust_remote_code", "data.system", "data.truncation", "data.validation_split", "data.bad_rows",
            "train.save_every", "train.logging_steps", "train.report_to", "train.device", "train.num_gpus",
            "data.prompt_template"}
MAX_YAML_BYTES = 200_000


def form_specs() -> list[FieldSpec]:
    """The fields the form shows, in its order (every RunConfig leaf except the sweep's)."""
    return field_specs(include_sweep=False)


def group_of(key: str) -> str:
    for group, prefixes in FORM_GROUPS:
        if any(key == prefix or (prefix.endswith(".") and key.startswith(prefix)) for prefix in prefixes):
            return group
    return FORM_GROUPS[-1][0]


def field_label(key: str, language: str) -> str:
    return config_form.field_label(key, language)


# -- form <-> config -------------------------------------------------------------------------------
def form_values(cfg: RunConfig) -> list:
    return config_form.form_values(cfg, form_specs())


def initial_values() -> list:
    """The untouched form: the run `python -m lab train` starts without --set (the embedded model's
    preset), so pressing Start without a change runs exactly the default recipe."""
    return form_values(default_config())


# -- presets ---------------------------------------------------------------------------------------
def preset_note(preset: Preset, method: str, language: str, reason: str = "train.preset_filled") -> str:
    """Which preset filled the form, with its description (escaped HTML)."""
    text = t(reason, language, name=preset.name, description=preset_description(preset, method, language))
    return f'<p style="margin:4px 0">{html.escape(text)}</p>'


def preset_html(note: dict | None, language: str) -> str:
    """The note over the form, kept as {"key", "preset", "method"} (or the YAML's {"key"}) so that a
    language switch words it again instead of leaving it in the language it was drawn in."""
    if not note:
        return ""
    if note.get("preset") in PRESETS:
        return preset_note(PRESETS[note["preset"]], note.get("method", "lora"), language, note["key"])
    return f'<p style="margin:4px 0">{html.escape(t(note["key"], language))}</p>'


def _model_for_preset(text: str, workspace: Path) -> str:
    """The model field as preset_for reads it: a workspace folder by its path, else the text itself."""
    text = str(text or "").strip()
    if text in EMBEDDED_ALIASES:
        return text
    try:
        folder = resolve.user_path(text, workspace)
    except gr.Error:
        return text
    return str(folder) if folder.is_dir() else text


def refill_from_preset(workspace: Path, values: Sequence) -> tuple[list, dict]:
    """The form re-filled by the preset of its model and method, and a note saying so (for `preset_html`).

    Only the preset's fields change (the data files and everything else the user typed stay), and
    every field stays editable: the preset is a starting point, not a lock.
    """
    specs = form_specs()
    keys = [spec.key for spec in specs]
    preset = preset_for(_model_for_preset(values[keys.index("model")], workspace))
    method = values[keys.index("method")]
    filled = list(values)
    for key, value in preset.values_for(method).items():
        index = keys.index(key)
        filled[index] = config_form.to_form_value(specs[index], value)
    return filled, {"key": "train.preset_refilled", "preset": preset.name, "method": method}


def _sweep_values_text(values) -> str:
    if isinstance(values, list) and all(isinstance(item, (str, int, float)) for item in values) \
            and not any("," in str(item) for item in values):
        return ",".join(str(item).lower() if isinstance(item, bool) else str(item) for item in values)
    return yaml.safe_dump(values, default_flow_style=True).strip()


def sweep_text(cfg: RunConfig) -> str:
    """The sweep as the form's lines: `key=v1,v2` (grid), `sweep.random.key=...`, `sweep.draws=N`."""
    sweep = cfg.sweep
    if sweep is None:
        return ""
    lines = [f"{key}={_sweep_values_text(values)}" for key, values in sweep.grid.items()]
    lines += [f"sweep.random.{key}={_sweep_values_text(values)}" for key, values in sweep.random.items()]
    if sweep.draws:
        lines.append(f"sweep.draws={sweep.draws}")
    if sweep.metric != SweepSection().metric or not lines:
        lines.append(f"sweep.metric={sweep.metric}")
    return "\n".join(lines)


def sweep_overrides(text: str) -> list[str]:
    """Form lines as `--set` overrides; a bare `key=values` line is a grid entry."""
    overrides = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigError("sweep", f"line {number}: expected KEY=VALUE1,VALUE2, got {line!r}")
        overrides.append(line if line.startswith("sweep.") else f"sweep.grid.{line}")
    return overrides


def config_from_form(values: Sequence, sweep: str = "") -> RunConfig:
    """The RunConfig the form's values describe; ConfigError names the key of a wrong value."""
    cfg = config_from_dict(config_form.values_to_dict(form_specs(), values))
    overrides = sweep_overrides(sweep)
    return apply_overrides(cfg, overrides) if overrides else cfg


@dataclass
class Preview:
    yaml: str
    command: str
    note: str  # escaped HTML


def preview(workspace: Path, values: Sequence, sweep: str, language: str) -> Preview:
    """YAML, CLI and a quick check (no file reads) of the form; a problem is shown, not raised."""
    try:
        cfg = config_from_form(values, sweep)
    except ConfigError as error:
        return Preview("", "", _note(t("train.invalid", language, error=config_error_text(error, language)),
                                     ok=False))
    try:
        validate(cfg, workspace, deep=False)
        note = _note(t("train.valid", language, kind=job_kind(cfg)), ok=True)
    except ConfigError as error:
        note = _note(t("train.invalid", language, error=config_error_text(error, language)), ok=False)
    return Preview(to_yaml(cfg), to_cli_command(cfg), note)


def _note(text: str, ok: bool) -> str:
    color = "#2e7d32" if ok else "#b71c1c"
    return f'<p style="color:{color};margin:4px 0">{html.escape(text)}</p>'


# -- starting and controlling jobs -----------------------------------------------------------------
def _checked_path(key: str, value, workspace: Path, language: str):
    """One model or data value through the workspace check (lab.resolve), made absolute for the job."""
    text = str(value if value is not None else "").strip()
    if key == "model":
        if text in EMBEDDED_ALIASES:  # the embedded model is resolved by the job itself
            resolve.embedded_model(workspace, language)  # a gr.Error while the tiny model is being built
            return text
        return resolve.base_model(text, workspace, language)
    return resolve.data_file(text, workspace, language) if text else text


def with_checked_paths(cfg: RunConfig, workspace: Path, language: str) -> RunConfig:
    """Data files and the model only from the workspace or assets (lab.resolve), made absolute for the
    job: the form's values and every value a sweep line gives those keys, before any trial starts."""
    data = cfg.data
    for key in DATA_KEYS:
        split = key.split(".")[1]
        data = replace(data, **{split: _checked_path(key, getattr(data, split), workspace, language)})
    cfg = replace(cfg, model=_checked_path("model", cfg.model, workspace, language), data=data)
    if cfg.sweep is None:
        return cfg
    tables = {}
    for table in ("grid", "random"):
        values = dict(getattr(cfg.sweep, table))
        for key in [key for key in values if key in PATH_KEYS]:
            if not isinstance(values[key], list):
                raise ConfigError(f"sweep.{table}.{key}", "list the files or folders to try")
            values[key] = [_checked_path(key, value, workspace, language) for value in values[key]]
        tables[table] = values
    return replace(cfg, sweep=replace(cfg.sweep, **tables))


def start_job(workspace: Path, values: Sequence, sweep: str, language: str):
    """Validate the form's config (gr.Error naming the key) and submit it as a job."""
    from core.train.submit import start_training

    try:
        cfg = validate(config_from_form(values, sweep), workspace, deep=False)  # a wrong value first
        cfg = with_checked_paths(cfg, workspace, language)
        return start_training(cfg, workspace, registry_for(workspace))
    except ConfigError as error:
        raise gr.Error(hide_workspace(config_error_text(error, language), workspace),
                       print_exception=False) from None


def training_jobs(workspace: Path) -> list:
    return [job for job in registry_for(workspace).list(parent_id=None) if job.kind in TRAINING_KINDS]


def pick_job(workspace: Path) -> str | None:
    """The job a freshly opened page shows: the newest running one, else queued, else the newest."""
    jobs = training_jobs(workspace)
    for group in ([job for job in jobs if job.is_active], [job for job in jobs if not job.is_final], jobs):
        if group:
            return group[0].id
    return None


def control_job(workspace: Path, job_id: str | None, action: str, language: str) -> str:
    """Stop or resume; returns the message shown under the buttons."""
    if not job_id:
        raise gr.Error(t("train.no_selection", language), print_exception=False)
    registry = registry_for(workspace)
    try:
        job = registry.get(str(job_id))
        # Only what the job list offers: an event called directly (/gradio_api) gets no more.
        if job.kind not in TRAINING_KINDS or job.parent_id is not None:
            raise UnknownJob(f"{job_id}: not a training job of the list")
        if action not in ("stop", "resume"):
            raise JobStateError(f"unknown action {action!r}")
        if action == "stop":
            registry.stop(job_id)
            return t("train.stop_requested", language, job=job_id)
        registry.resume(job_id)
        return t("train.resumed", language, job=job_id)
    except (JobStateError, UnknownJob) as error:
        raise gr.Error(hide_workspace(str(error), workspace), print_exception=False) from None


@dataclass
class LiveView:
    figure: go.Figure | None  # None: the points did not change since the last poll
    progress: str
    log: str
    curves: dict
    active: bool
    choices: list


def live_view(workspace: Path, job_id: str | None, curves: dict | None, language: str,
              redraw: bool = False) -> LiveView:
    """Read what the job appended since the last poll (`curves` holds the position)."""
    registry = registry_for(workspace)
    registry.pump()  # starts queued jobs and notices lost processes even when no job process is left
    choices = run_views.job_choices(training_jobs(workspace), language)
    job = None
    if job_id:
        try:
            job = registry.get(job_id)
        except UnknownJob:
            job = None
    if job is None:
        return LiveView(run_views.live_figure(run_views.new_curves(None), None, language),
                        run_views.progress_html(None, {}, language), "", run_views.new_curves(None), False,
                        choices)
    if not curves or curves.get("job") != job.id:
        curves, redraw = run_views.new_curves(job.id), True
    changed = run_views.update_curves(curves, job, registry)
    log = hide_workspace(registry.log_tail(job.id, LOG_LINES), workspace)
    figure = run_views.live_figure(curves, job, language) if changed or redraw else None
    return LiveView(figure, run_views.progress_html(job, curves, language), log, curves, not job.is_final,
                    choices)


def live_outputs_of(workspace: Path, job_id: str | None, curves: dict | None, language: str,
                    redraw: bool = False) -> tuple:
    """The job panel's outputs: plot, progress, log, curves state, timer, job dropdown."""
    view = live_view(workspace, job_id, curves, language, redraw)
    # The dropdown and the log are sent only when they changed: an update closes an open menu
    # and scrolls the log.
    known_choices, known_log = (curves or {}).get("choices"), (curves or {}).get("log")
    view.curves["choices"], view.curves["log"] = view.choices, view.log
    same_job = view.curves.get("job") == (curves or {}).get("job")
    value = job_id if any(choice[1] == job_id for choice in view.choices) else None
    choices = gr.skip() if redraw is False and same_job and known_choices == view.choices else gr.update(
        choices=view.choices, value=value)
    log = gr.skip() if redraw is False and same_job and known_log == view.log else view.log
    return (gr.skip() if view.figure is None else view.figure, view.progress, log, view.curves,
            gr.Timer(active=view.active), choices)


def note_html(note: dict | None, language: str) -> str:
    """A message under the buttons, kept as {"key", "values"} (or an error's {"text"}) so that a
    language switch words it again instead of leaving it in the old language."""
    if not note:
        return ""
    if "text" in note:
        return error_html(note["text"])
    return _note(t(note["key"], language, **note.get("values", {})), ok=True)


def _start_failed(message: str) -> tuple:
    # The job panel keeps showing the job it showed; the message under Start says why nothing started
    # (and no longer says that the previous job was submitted).
    return (*[gr.skip()] * 6, error_html(message), {"text": message})


@shown_errors(_start_failed)
def start_outputs(workspace: Path, language: str, sweep: str, *values) -> tuple:
    """The Start button: submit the form's config as a job and show it, or say what is wrong."""
    job = start_job(workspace, values, sweep, language)
    note = {"key": "train.started", "values": {"job": job.id}}
    return (*live_outputs_of(workspace, job.id, None, language, redraw=True), note_html(note, language), note)


# -- the page --------------------------------------------------------------------------------------
def field_component(spec: FieldSpec, workspace: Path, language: str, default: RunConfig):
    choices = None
    if spec.key == "model":
        choices = resolve.model_choices(workspace)
    elif spec.key in DATA_KEYS:
        choices = resolve.dataset_choices(workspace) + ([""] if spec.key != "data.train" else [])
    return config_form.field_component(spec, field_label(spec.key, language), choices,
                                       default=get_value(default, spec.key),
                                       info=field_help(spec.key, spec.help, language))


def _form(context: TabContext, specs: list[FieldSpec], default: RunConfig) -> tuple[dict, Any]:
    """The accordions of fields, showing `default`; rarely changed fields sit in a closed "more options"
    accordion."""
    components: dict[str, Any] = {}

    def add(row_specs):
        for begin in range(0, len(row_specs), PER_ROW):
            with gr.Row():
                for spec in row_specs[begin:begin + PER_ROW]:
                    component = field_component(spec, context.workspace, context.language, default)
                    components[spec.key] = context.on_language(
                        component, lambda lang, spec=spec: {"label": field_label(spec.key, lang),
                                                            "info": field_help(spec.key, spec.help, lang)})

    sweep_box = None
    for group, _ in FORM_GROUPS:
        members = [spec for spec in specs if group_of(spec.key) == group]
        with context.translated(gr.Accordion(context.t(group), open=group != "train.group.kfold"), group):
            add([spec for spec in members if spec.key not in ADVANCED])
            advanced = [spec for spec in members if spec.key in ADVANCED]
            if advanced:
                with context.translated(gr.Accordion(context.t("train.more"), open=False), "train.more"):
                    add(advanced)
            if group == "train.group.kfold":
                sweep_box = context.translated(gr.Textbox(lines=3, label=context.t("train.sweep"),
                                                          placeholder="train.learning_rate=1e-4,3e-4"),
                                               "train.sweep")
    return components, sweep_box


def build(context: TabContext) -> None:
    workspace, language = context.workspace, context.language
    specs = form_specs()
    # The job first: a reloaded page shows the running job and its curve without scrolling.
    with gr.Row():
        job_box = context.translated(gr.Dropdown([], value=None, label=context.t("train.job"), scale=4),
                                     "train.job")
        refresh_button = context.translated(gr.Button(context.t("train.refresh"), scale=1), "train.refresh",
                                            "value")
        stop_button = context.translated(gr.Button(context.t("train.stop"), variant="stop", scale=1),
                                         "train.stop", "value")
        resume_button = context.translated(gr.Button(context.t("train.resume"), scale=1), "train.resume",
                                           "value")
    control_message = gr.HTML()
    progress = gr.HTML(run_views.progress_html(None, {}, language))
    with gr.Row():
        plot = gr.Plot(show_label=False, scale=3)
        log_box = context.translated(gr.Textbox(lines=LOG_LINES, max_lines=LOG_LINES, interactive=False,
                                                autoscroll=True, label=context.t("train.log"), scale=2),
                                     "train.log")
    heading = gr.Markdown("### " + context.t("train.new_run"))
    context.on_language(heading, lambda lang: {"value": "### " + t("train.new_run", lang)})
    default = default_config()
    first_note = {"key": "train.preset_filled", "preset": preset_for(default.model).name,
                  "method": default.method}
    preset_box, preset_state = gr.HTML(preset_html(first_note, language)), gr.State(first_note)
    context.language_input.change(preset_html, [preset_state, context.language_input], preset_box,
                                  show_progress="hidden")
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row(equal_height=True):
                recipe_box = context.translated(gr.Dropdown(recipe_names(), value=None, scale=4,
                                                            label=context.t("train.recipe")), "train.recipe")
                recipe_fill = context.translated(gr.Button(context.t("train.recipe_fill"), scale=1),
                                                 "train.recipe_fill", "value")
            recipe_note = gr.Markdown()
            components, sweep_box = _form(context, specs, default)
            with context.translated(gr.Accordion(context.t("train.yaml_section"), open=False),
                                    "train.yaml_section"):
                yaml_input = context.translated(gr.Textbox(lines=8, label=context.t("train.yaml_text")),
                                                "train.yaml_text")
                with gr.Row():
                    yaml_upload = context.translated(gr.UploadButton(context.t("train.yaml_upload"),
                                                                     file_types=[".yaml", ".yml"]),
                                                     "train.yaml_upload")
                    yaml_fill = context.translated(gr.Button(context.t("train.yaml_fill")), "train.yaml_fill",
                                                   "value")
        with gr.Column(scale=2):
            start_button = context.translated(gr.Button(context.t("train.start"), variant="primary",
                                                        size="lg"),
                                              "train.start", "value")
            message = gr.HTML()
            note = gr.HTML()
            yaml_box = context.translated(gr.Code(language="yaml", interactive=False, lines=12, max_lines=30,
                                                  label=context.t("train.preview_yaml")),
                                          "train.preview_yaml")
            command_box = context.translated(gr.Code(language="shell", interactive=False, lines=3,
                                                     wrap_lines=True,
                                                     label=context.t("train.preview_cli")),
                                             "train.preview_cli")
    curves_state = gr.State(None)
    timer = gr.Timer(2.0, active=False)

    fields = [components[spec.key] for spec in specs]

    def show_preview(language, sweep, *values):
        shown = preview(workspace, values, sweep, language)
        return shown.yaml, shown.command, shown.note

    preview_inputs = [context.language_input, sweep_box, *fields]
    gr.on([component.change for component in [*fields, sweep_box]] + [context.language_input.change],
          show_preview, preview_inputs, [yaml_box, command_box, note], trigger_mode="always_last",
          show_progress="hidden")
    context.app.load(show_preview, preview_inputs, [yaml_box, command_box, note], show_progress="hidden")

    def refresh_choices():
        """Files uploaded and models exported since the page was built."""
        data = resolve.dataset_choices(workspace)
        return (gr.update(choices=resolve.model_choices(workspace)),
                *[gr.update(choices=data + ([""] if key != "data.train" else [])) for key in DATA_KEYS])

    context.app.load(refresh_choices, None, [components["model"], *[components[key] for key in DATA_KEYS]],
                     show_progress="hidden")

    def refill(language, *values):
        filled, note = refill_from_preset(workspace, values)
        return (*filled, preset_html(note, language), note)

    # `.input`: only the user's own change re-fills; a form filled from YAML keeps the YAML's values.
    for key in ("model", "method"):
        components[key].input(refill, [context.language_input, *fields], [*fields, preset_box, preset_state],
                              trigger_mode="always_last", show_progress="hidden")

    @user_errors
    def fill(text, language):
        if not (text or "").strip():
            raise gr.Error(t("train.yaml_empty", language), print_exception=False)
        cfg = config_from_yaml(text)
        note = {"key": "train.preset_yaml"}
        return [*form_values(cfg), sweep_text(cfg), preset_html(note, language), note]

    yaml_fill.click(fill, [yaml_input, context.language_input],
                    [*fields, sweep_box, preset_box, preset_state])

    @user_errors
    def fill_from_recipe(name, language):
        if not name:
            raise gr.Error(t("train.recipe_none", language), print_exception=False)
        text = recipe_text(name)
        return [*fill(text, language), text, recipe_summary(text)]

    recipe_fill.click(fill_from_recipe, [recipe_box, context.language_input],
                      [*fields, sweep_box, preset_box, preset_state, yaml_input, recipe_note])

    @user_errors
    def take_yaml(file, language):
        path = Path(file)
        if path.stat().st_size > MAX_YAML_BYTES:
            raise gr.Error(t("train.yaml_too_big", language), print_exception=False)
        return path.read_text(encoding="utf-8")

    yaml_upload.upload(take_yaml, [yaml_upload, context.language_input], yaml_input).success(
        fill, [yaml_input, context.language_input], [*fields, sweep_box, preset_box, preset_state])

    def show_live(job_id, curves, language, redraw=False):
        return live_outputs_of(workspace, job_id, curves, language, redraw)

    live_outputs = [plot, progress, log_box, curves_state, timer, job_box]

    def on_load(language):
        return show_live(pick_job(workspace), None, language, redraw=True)

    context.app.load(on_load, context.language_input, live_outputs, show_progress="hidden")

    message_note, control_note = gr.State(None), gr.State(None)
    start_button.click(bind(start_outputs, workspace), preview_inputs, [*live_outputs, message, message_note],
                       concurrency_id="train-control")
    for shown, note_state in ((message, message_note), (control_message, control_note)):
        context.language_input.change(note_html, [note_state, context.language_input], shown,
                                      show_progress="hidden")

    @shown_errors(_start_failed)
    def control(job_id, curves, language, action):
        control_job(workspace, job_id, action, language)
        key = "train.stop_requested" if action == "stop" else "train.resumed"
        note = {"key": key, "values": {"job": job_id}}
        return (*show_live(job_id, curves, language), note_html(note, language), note)

    control_inputs = [job_box, curves_state, context.language_input]
    stop_button.click(lambda *values: control(*values, "stop"), control_inputs,
                      [*live_outputs, control_message, control_note], concurrency_id="train-control")
    resume_button.click(lambda *values: control(*values, "resume"), control_inputs,
                        [*live_outputs, control_message, control_note], concurrency_id="train-control")
    job_box.input(lambda job_id, language: show_live(job_id, None, language, redraw=True),
                  [job_box, context.language_input], live_outputs, show_progress="hidden")
    refresh_button.click(lambda job_id, curves, language: show_live(job_id, curves, language, redraw=True),
                         control_inputs, live_outputs, show_progress="hidden")
    context.language_input.change(lambda job_id, curves,
                                  language: show_live(job_id, curves, language, redraw=True),
                                  control_inputs, live_outputs, show_progress="hidden")
    poll(timer, show_live, control_inputs, live_outputs, "train")
