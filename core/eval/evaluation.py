"""Side-by-side evaluation: a base model and its checkpoints answer the same rows, one after the other.

`start_evaluation` checks everything that can be checked without loading a model (data labels,
adapter/base match, device) and submits an `eval` job; the job process calls
`run_evaluation_job`, which writes into its run folder:
    metrics.jsonl     progress lines {"model", "done", "total", "rows_per_second", "elapsed"}
    predictions.jsonl one line per row: gold answer and every model's answer (core.eval.report)
    metrics.json      per-model metrics, pairwise comparisons, the audit baseline
"""
from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.config.checks import absolute_path_value, check_eval_values, data_file
from core.config.schema import DEMO, ConfigError, ConfigProblems, EvalConfig
from core.config.text import config_from_dict, config_to_dict
from core.data.encoding import EncodeOptions
from core.data.mapping import FRAUD, DataMapping
from core.data.records import DataError, LoadResult, Problem, Record, load_records
from core.demo.reviews import DEMO_REVIEWS
from core.demo.reviews import MAPPING as REVIEW_MAPPING
from core.env import workspace_dir
from core.eval.predict import AdapterInfo, find_adapter, fingerprint_mismatch, load_predictor
from core.eval.report import build_metrics, prediction_rows, write_report
from core.eval.vllm_backend import resolve_backend
from core.jobs.kinds import register_job_kind
from core.models import ModelError, model_fingerprint, pick_device, pick_dtype, resolve_model_path
from core.workspace import (ADAPTER_CONFIG_FILE, ADAPTER_DIR, CHECKPOINTS_DIR, CONFIG_FILE, MODEL_DIR, RunDir,
                            read_json, run_folder_of, run_info_of)

BASE_NAME = "base"
DEFAULT_MAX_LENGTH = 1024  # a base model without a checkpoint's own max_length
SHOWN_SKIPPED = 100  # skipped rows listed in the job summary; metrics.json lists every one


@dataclass
class ModelPlan:
    """One model of the comparison, resolved: what to load and which prompt it is given."""

    name: str
    model: str  # resolved base path (or a full fine-tune's model/ folder)
    adapter: str | None
    options: EncodeOptions
    run_info: dict = field(default_factory=dict)


@dataclass
class EvalPlan:
    config: EvalConfig
    data_file: Path
    records: list[Record]  # the rows evaluated (the sample when limit is set)
    row_indices: list[int]  # their positions in the file's rows
    total_rows: int
    models: list[ModelPlan]
    train_file: Path | None
    warnings: list[str] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)  # rows of the data file left out (bad_rows=skip)
    skipped_report: str = ""  # says how many and which, for the job's log
    mapping: DataMapping = FRAUD  # the data's columns and label names (core.data.mapping)


def _data_path(text: str, split: str, workspace: Path) -> Path | None:
    """The file a data setting names, as a training config's data key is read (core.config.checks)."""
    path = data_file(text, split, workspace)
    return path.resolve() if path is not None else None


def _load_labelled(path: Path, bad_rows: str, mapping: DataMapping = FRAUD) -> LoadResult:
    """The rows to evaluate; `skip` leaves out the rows without input or usable label (listed in
    `problems`), `error` raises ConfigProblems naming every such row. A file with no good row at all,
    or broken as a whole, is refused either way."""
    try:
        result = load_records(path, strict=bad_rows == "error", mapping=mapping)
        if result.records:
            return result
        problems = result.problems
    except DataError as error:
        problems = error.problems
    label_problems = [problem for problem in problems if problem.field == mapping.label_column]
    if not problems:
        head = ConfigError("", f"{path}: the file holds no rows", "eval_no_rows", {"path": str(path)})
    elif label_problems:
        head = ConfigError("", f"{path}: {len(label_problems)} row(s) have no usable label; evaluation "
                           "compares answers with the gold label of every row", "eval_no_label",
                           {"path": str(path), "rows": len(label_problems)})
    else:
        head = ConfigError("", f"{path}: the data cannot be read", "eval_unreadable", {"path": str(path)})
    # Each problem as an error of its own, so the page words it in its language (lab.i18n).
    shown = [ConfigError("", str(problem), "data_problem", {"problem": problem.to_dict()})
             for problem in problems[:20]]
    more = [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
    raise ConfigProblems("evaluate", [str(head), *map(str, shown), *more], [head, *shown])


def _sample(count: int, limit: int | None, seed: int) -> list[int]:
    if limit is None or limit >= count:
        return list(range(count))
    return sorted(random.Random(seed).sample(range(count), limit))


def _mapping(cfg: EvalConfig, run_infos: list[dict]) -> DataMapping:
    """The test data's mapping: the one the checkpoints were trained with, else the review demo's for
    its data key, else the fraud schema."""
    for run_info in run_infos:
        if run_info.get("label_names"):
            return DataMapping(run_info.get("text_column") or "input",
                               run_info.get("label_column") or "label", tuple(run_info["label_names"]))
    if (cfg.data or "").strip() == DEMO_REVIEWS:
        return REVIEW_MAPPING
    return FRAUD


def _options(cfg: EvalConfig, run_info: dict, mapping: DataMapping = FRAUD) -> EncodeOptions:
    """The prompt a model was trained with, unless the evaluation overrides it."""
    def pick(name: str, default):
        value = getattr(cfg, name)
        return value if value is not None else run_info.get(name, default)

    return EncodeOptions(with_reason=cfg.with_reason, instruction=pick("instruction", None) or None,
                         system=pick("system", None), prompt_template=pick("prompt_template", None) or None,
                         max_length=int(pick("max_length", DEFAULT_MAX_LENGTH) or DEFAULT_MAX_LENGTH),
                         truncation=run_info.get("truncation") or "keep_end",
                         label_names=mapping.label_names)


def _checkpoint(path_text: str) -> tuple[str | None, AdapterInfo | None, dict]:
    """A full fine-tune's model/ folder, or an adapter: (model folder, adapter info, run info)."""
    path = Path(path_text).expanduser()
    run = RunDir(path)
    if (run.model_dir / "config.json").is_file() and not run.adapter_dir.exists():
        path = run.model_dir
    if (path / "config.json").is_file() and not (path / ADAPTER_CONFIG_FILE).is_file():
        path = path.resolve()
        return str(path), None, run_info_of(path)
    info = find_adapter(path)
    return None, info, info.run_info


def _display_name(path_text: str, taken: set[str]) -> str:
    path = Path(path_text).expanduser().resolve()
    parts = [part for part in path.parts if part not in (ADAPTER_DIR, MODEL_DIR)]
    name = parts[-1] if parts else str(path)
    if path.parent.name == CHECKPOINTS_DIR and len(parts) >= 3:
        name = f"{parts[-3]}/{parts[-1]}"
    unique, number = name, 2
    while unique in taken:
        unique, number = f"{name} ({number})", number + 1
    taken.add(unique)
    return unique


def _train_file(cfg: EvalConfig, plans: list[ModelPlan], workspace: Path) -> Path | None:
    if cfg.train_data:
        return _data_path(cfg.train_data, "train", workspace)
    if (cfg.data or "").strip() in (DEMO, DEMO_REVIEWS):
        return _data_path(cfg.data.strip(), "train", workspace)
    for plan in plans:
        run = run_folder_of(plan.adapter or plan.model, marker=CONFIG_FILE)
        train = _training_file_of_run(run.config_file) if run is not None else None
        if train:
            path = _data_path(train, "train", workspace)
            return path if path.is_file() else None
    return None


def _training_file_of_run(config_file: Path) -> str | None:
    """data.train of a training run's config.yaml; None when it cannot be read (the baseline is optional)."""
    import yaml

    try:
        values = yaml.safe_load(config_file.read_text("utf-8")) or {}
        train = (values.get("data") or {}).get("train")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return train.strip() if isinstance(train, str) and train.strip() else None


def validate_eval(cfg: EvalConfig, workspace: str | Path | None = None) -> EvalPlan:
    """Everything checkable before a model is loaded; raises ConfigProblems listing each problem."""
    workspace = workspace_dir(workspace)
    errors = check_eval_values(cfg)  # the lines a page can word in its language (lab.i18n)
    problems = [str(error) for error in errors]
    try:
        device = pick_device(cfg.device)
        if cfg.precision not in (None, "", "auto"):
            pick_dtype(cfg.precision, device)
        resolve_backend(cfg.backend, device)
    except ModelError as error:
        problems.append(str(error))
    records: list[Record] = []
    skipped: list[Problem] = []
    data_path = _data_path(cfg.data, "test", workspace)
    if data_path is None:
        problems.append("data: give a labelled test file, or 'demo'")
    base_path = None
    try:
        base_path = resolve_model_path(cfg.model, workspace)
    except ModelError as error:
        problems.append(str(error))
    plans: list[ModelPlan] = []
    warnings: list[str] = []
    taken: set[str] = {BASE_NAME}
    for text in cfg.adapters:
        try:
            model_folder, info, run_info = _checkpoint(text)
        except (ValueError, OSError) as error:  # ModelError, or a run file that is not JSON
            problems.append(f"adapter {text}: {error}")
            continue
        if info is not None and base_path is not None:
            mismatch = fingerprint_mismatch(info.fingerprint, model_fingerprint(base_path))
            if mismatch:
                saved = info.fingerprint.get("name", "?") if info.fingerprint else "?"
                problems.append(f"adapter {text} was trained on base {saved}, which does not match "
                                f"the base model {cfg.model}: " + "; ".join(mismatch))
                continue
        if bool(run_info.get("with_reason", cfg.with_reason)) != cfg.with_reason:
            warnings.append(f"{text} was trained {'with' if run_info.get('with_reason') else 'without'} "
                            f"reasons; this evaluation runs {'with' if cfg.with_reason else 'without'} them")
        plans.append(ModelPlan(name=_display_name(text, taken), model=model_folder or base_path or cfg.model,
                               adapter=str(info.path) if info is not None else None,
                               options=_options(cfg, run_info), run_info=run_info))
    mapping = _mapping(cfg, [plan.run_info for plan in plans])
    for plan in plans:
        plan.options = _options(cfg, plan.run_info, mapping)
    if data_path is not None:
        try:
            loaded = _load_labelled(data_path, cfg.bad_rows, mapping)
            records, skipped = loaded.records, loaded.problems
        except ConfigProblems as error:
            problems.extend(error.problems)
            errors.extend(error.errors)
    if problems:
        raise ConfigProblems("evaluate", problems, errors)
    if cfg.include_base:
        # The base gets the checkpoints' prompt: the comparison then measures the fine-tuning alone.
        first_run = plans[0].run_info if plans else {}
        plans.insert(0,
                     ModelPlan(name=BASE_NAME, model=base_path, adapter=None,
                               options=_options(cfg, first_run, mapping)))
    skipped_report = LoadResult(records, skipped).skipped_text(str(data_path)) if skipped else ""
    if skipped:  # the page shows the warnings: the file's name only, not where the workspace lies
        warnings.insert(0, LoadResult(records, skipped).skipped_text(data_path.name).splitlines()[0]
                        + " (bad_rows=skip; bad_rows=error refuses such a file)")
    indices = _sample(len(records), cfg.limit, cfg.sample_seed)
    return EvalPlan(config=cfg, data_file=data_path, records=[records[index] for index in indices],
                    row_indices=indices, total_rows=len(records), models=plans,
                    train_file=_train_file(cfg, plans, workspace), warnings=warnings, skipped=skipped,
                    skipped_report=skipped_report, mapping=mapping)


# -- the job ---------------------------------------------------------------------------------------
class _Stopped(Exception):
    """Raised from the progress callback when the user asked the job to stop."""


def _run_model(plan: ModelPlan, eval_plan: EvalPlan, run_dir: Path, workspace: Path) -> tuple[list, dict]:
    cfg = eval_plan.config
    run = RunDir(run_dir)
    total = len(eval_plan.records)
    loading = time.perf_counter()
    predictor = load_predictor(plan.model, plan.adapter, device=cfg.device, precision=cfg.precision,
                               workspace=workspace, trust_remote_code=cfg.trust_remote_code,
                               backend=cfg.backend, label_names=plan.options.label_names)
    started = time.perf_counter()
    info = {"name": plan.name, "model": plan.model, "adapter": plan.adapter, "device": predictor.device,
            "precision": predictor.precision, "head": predictor.head, "mode": cfg.mode,
            "backend": predictor.backend,
            "load_seconds": round(started - loading, 3), "options": asdict(plan.options)}
    print(f"{plan.name}: loaded on {predictor.device} ({predictor.precision}, {predictor.backend}) in "
          f"{info['load_seconds']} s", flush=True)

    def progress(done: int, _total: int) -> None:
        elapsed = time.perf_counter() - started
        run.append_metrics({"model": plan.name, "done": done, "total": total,
                                "rows_per_second": round(done / elapsed, 3) if elapsed > 0 else None,
                                "elapsed": round(elapsed, 3), "time": time.time()})
        if run.stop_requested():
            raise _Stopped()

    run.append_metrics({"model": plan.name, "done": 0, "total": total, "rows_per_second": None,
                            "elapsed": 0.0, "time": time.time()})
    try:
        if cfg.mode == "score":
            predictions = predictor.score(eval_plan.records, plan.options,
                                          batch_size=cfg.batch_size * 2 if cfg.batch_size else 32,
                                          progress=progress)
        else:
            predictions = predictor.generate(eval_plan.records, plan.options, batch_size=cfg.batch_size,
                                             progress=progress)
    finally:
        predictor.free()
    info["seconds"] = round(time.perf_counter() - started, 3)
    info["rows_per_second"] = round(total / info["seconds"], 3) if info["seconds"] > 0 else None
    return predictions, info


def _baseline(plan: EvalPlan) -> tuple[list, list, str] | None:
    if plan.train_file is None or not plan.train_file.is_file():
        return None
    from core.audit.baseline import baseline_predictions, class_baseline_predictions

    if not plan.mapping.is_fraud:
        train = load_records(plan.train_file, strict=False, mapping=plan.mapping).records
        labels, probabilities = class_baseline_predictions(train, plan.records, plan.mapping.num_classes)
        return labels, probabilities, str(plan.train_file)

    train = load_records(plan.train_file, strict=False).records
    labels, p_true = baseline_predictions(train, plan.records)
    return labels, p_true, str(plan.train_file)


def run_evaluation_job(run_dir: Path, config: dict, context) -> dict:
    """Entry point of an `eval` job (EVAL_KIND, below)."""
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    workspace = Path(context.registry.workspace) if context is not None else workspace_dir()
    cfg = config_from_dict(config, EvalConfig)
    plan = validate_eval(cfg, workspace)
    for warning in plan.warnings:
        print(f"warning: {warning}", flush=True)
    if plan.skipped_report:
        print(f"WARNING (bad_rows=skip): {plan.skipped_report}", flush=True)
    print(f"evaluating {len(plan.records)} of {plan.total_rows} rows of {plan.data_file} with "
          f"{', '.join(model.name for model in plan.models)} ({cfg.mode})", flush=True)
    run.metrics_lines.unlink(missing_ok=True)  # a resumed job starts over: it has no checkpoint
    results: dict[str, list] = {}
    infos: list[dict] = []
    stopped = False
    for model_plan in plan.models:
        if run.stop_requested():
            stopped = True
            break
        try:
            predictions, info = _run_model(model_plan, plan, run_dir, workspace)
        except _Stopped:
            stopped = True
            break
        results[model_plan.name] = predictions
        infos.append(info)
        print(f"{model_plan.name}: {len(predictions)} rows in {info['seconds']} s "
              f"({info['rows_per_second']} rows/s)", flush=True)
    baseline = None if stopped else _baseline(plan)
    metrics = build_metrics(plan, infos, results, baseline, stopped)
    write_report(run_dir, prediction_rows(plan, results, baseline), metrics)
    summary = {"rows": len(plan.records), "stopped": stopped, "skipped_rows": metrics["skipped_rows"],
               "skipped_lines": metrics["skipped_lines"][:SHOWN_SKIPPED], "models": {}}
    for entry in metrics["models"]:
        classification = entry["classification"]
        summary["models"][entry["name"]] = {
            "accuracy": classification["accuracy"], "f1": classification["f1"],
            "invalid": classification["invalid"], "rows_per_second": entry["rows_per_second"],
            "backend": entry.get("backend")}
    return summary


EVAL_KIND = register_job_kind("eval", run_evaluation_job)


# -- submitting ------------------------------------------------------------------------------------
def start_evaluation(cfg: EvalConfig, workspace: str | Path | None = None, registry=None):
    """Validate (no model loaded), then submit the `eval` job; returns the Job."""
    from core.jobs.registry import JobRegistry

    workspace = workspace_dir(workspace)
    plan = validate_eval(cfg, workspace)
    values = config_to_dict(cfg)
    # The job process may run from another folder: give it absolute paths.
    values["data"] = str(plan.data_file)
    values["model"] = absolute_path_value("model", cfg.model, workspace)
    values["adapters"] = [str(Path(item).expanduser().resolve()) for item in cfg.adapters]
    if plan.train_file is not None:
        values["train_data"] = str(plan.train_file)
    registry = registry or JobRegistry(workspace)
    return registry.submit(EVAL_KIND, values)


def evaluate_and_wait(cfg: EvalConfig, workspace: str | Path | None = None, registry=None,
                      timeout: float | None = None) -> dict:
    """Run an evaluation job to its end: {"run_id", "run_dir", "status", "error", "metrics"}."""
    from core.jobs.registry import JobRegistry

    workspace = workspace_dir(workspace)
    registry = registry or JobRegistry(workspace)
    job = start_evaluation(cfg, workspace, registry)
    job = registry.wait(job.id, timeout=timeout)
    metrics = read_json(RunDir(job.run_dir).eval_metrics)
    return {"run_id": job.id, "run_dir": str(job.run_dir), "status": job.status, "error": job.error,
            "summary": job.summary, "metrics": metrics}
