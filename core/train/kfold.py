"""K-fold training: one parent job (kind `kfold`), one inline child job (kind `fold`) per fold.

Folds run inside the parent's process, one after another, each in `run_dir/fold-<i>/` through
`core.train.training.train_run`. Inline rather than one process per fold: a fold is then stopped by
the very STOP file the registry writes into the running fold's folder when the parent is
stopped, and a chained fold needs the previous fold's adapter on disk before it starts anyway.

Modes:
- `chained` (the notebooks' method): one adapter carried from fold to fold. From the second
  fold on, the held-out part was trained on by an earlier fold, so the validation losses are
  not an unbiased estimate; the run says so in its summary, log and NOTICE.txt. The last
  fold's adapter is copied to `run_dir/adapter/`, so the run can be evaluated like a train run.
- `independent` (cross-validation): a fresh adapter per fold; every row is scored once by the
  fold that held it out (`oof_predictions.jsonl`), with per-fold and mean ± std metrics.

Files: folds.json (row indices of each fold), fold-<i>/ (a training run each, metrics lines
carry `fold`), metrics.jsonl (all folds' lines, rebuilt after each fold), summary.json,
oof_predictions.jsonl (independent), NOTICE.txt (chained).

A dataset with label names (data.label_names) stratifies on the class index; its out-of-fold rows
hold the gold and predicted class (index and name) and the class probabilities, and folds are scored
by accuracy and macro-F1 (core.eval.metrics.multiclass_metrics) instead of the fraud schema's
P(true), F1 of true and ROC AUC.
"""
from __future__ import annotations

import gc
import json
import shutil
import statistics
from dataclasses import replace
from pathlib import Path

from core.config.checks import data_file
from core.config.schema import RunConfig, encode_options
from core.config.text import config_from_dict, save_config
from core.data.mapping import mapping_of
from core.data.records import Record
from core.env import is_main_process, workspace_dir
from core.jobs.kinds import CONFIG_GPUS, register_job_kind
from core.train.submit import KFOLD
from core.workspace import RunDir, read_json, read_jsonl, write_json, write_jsonl, write_text

FOLD_KIND = "fold"
CHAINED_NOTICE = (
    "Chained K-fold: one adapter is carried from fold to fold, so from the second fold on each "
    "fold validates on rows that earlier folds trained on. These validation losses are NOT an "
    "unbiased estimate of performance on unseen data. For cross-validation use "
    "kfold.mode=independent; to judge the final adapter, evaluate it on a held-out test file.")


# -- folds -----------------------------------------------------------------------------------------
def make_folds(records: list[Record], k: int, seed: int, label_names: tuple[str, ...] = ()) -> list[dict]:
    """k stratified folds as {"fold", "train", "validation"} row-index lists (sorted); with label
    names, stratified on the class index."""
    from sklearn.model_selection import StratifiedKFold

    if label_names:
        labels = [int(record.label) for record in records]
        counts = {name: labels.count(index) for index, name in enumerate(label_names)}
        if min(counts.values()) < k:
            shown = ", ".join(f"{count} {name}" for name, count in counts.items())
            raise ValueError(f"kfold.k: {k} stratified folds need at least {k} rows of each label; the "
                             f"training file has {shown} rows")
    else:
        labels = [record.label for record in records]
        smallest = min(labels.count(True), labels.count(False))
        if smallest < k:
            raise ValueError(f"kfold.k: {k} stratified folds need at least {k} rows of each label; the "
                             f"training file has {labels.count(True)} fraud and {labels.count(False)} normal "
                             "rows")
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [{"fold": index, "train": sorted(int(i) for i in train),
             "validation": sorted(int(i) for i in held_out)}
            for index, (train, held_out) in enumerate(splitter.split(list(range(len(records))), labels))]


def load_or_make_folds(run_dir: Path, records: list[Record], cfg: RunConfig, source: Path) -> list[dict]:
    """The saved folds of this run (a resumed run must hold out the same rows), else new ones."""
    path = RunDir(run_dir).folds_file
    if path.is_file():
        saved = read_json(path)
        if saved["rows"] != len(records) or saved["k"] != cfg.kfold.k:
            raise ValueError(f"{path}: saved for {saved['rows']} rows and k={saved['k']}, but the training "
                             f"file {source} now has {len(records)} rows and k={cfg.kfold.k}; start a new "
                             "run")
        return saved["folds"]
    folds = make_folds(records, cfg.kfold.k, cfg.train.seed, mapping_of(cfg.data).label_names)
    if is_main_process():  # every rank runs this job; rank 0 alone writes files and the registry
        write_json(path,
                   {"source": str(source), "rows": len(records), "k": cfg.kfold.k, "seed": cfg.train.seed,
                          "mode": cfg.kfold.mode, "folds": folds}, indent=None)
    return folds


# -- the job ---------------------------------------------------------------------------------------
def run_kfold_job(run_dir: Path, config: dict, context) -> dict:
    """Entry point of a `kfold` job (KFOLD_KIND, below)."""
    from core.train.training import load_run_file, skipped_summary

    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    cfg = config_from_dict(config)
    if cfg.kfold.mode not in ("chained", "independent"):
        raise ValueError(f"kfold.mode: a kfold job needs chained or independent, got {cfg.kfold.mode!r}")
    workspace = Path(context.registry.workspace) if context is not None else workspace_dir()
    main = is_main_process()
    if main and not run.config_file.is_file():
        save_config(cfg, run.config_file)
    source = data_file(cfg.data.train, "train", workspace)
    records, skipped = load_run_file(source, cfg)
    folds = load_or_make_folds(run_dir, records, cfg, source)
    chained = cfg.kfold.mode == "chained"
    print(f"K-fold ({cfg.kfold.mode}), k={cfg.kfold.k}, {len(records)} rows of {source}; "
          "the validation file is not used: each fold validates on its held-out part", flush=True)
    if chained:
        print(f"NOTICE: {CHAINED_NOTICE}", flush=True)
        if main:
            write_text(run.notice_file, CHAINED_NOTICE + "\n")

    children = _children_by_fold(context)
    summaries: list[dict] = []
    for fold in folds:
        index = fold["fold"]
        directory = run.fold(index)
        child = children.get(index)
        if child is not None and child.status == "finished" and directory.summary_file.is_file():
            summaries.append(directory.read_summary())
            print(f"fold {index}: finished in an earlier attempt, kept", flush=True)
            continue
        if context is not None and context.stop_requested():
            return _stopped(index, summaries)
        if child is None and context is not None and main:
            child = context.record_child(FOLD_KIND, {"fold": index, "mode": cfg.kfold.mode,
                                                     "train_rows": len(fold["train"]),
                                                     "validation_rows": len(fold["validation"])},
                                         run_dir=directory.path)
        if child is not None and main:
            context.registry.set_status(child.id, "running")
            # A stop that came between the check above and this status reached only the parent's
            # folder; from here on the registry writes STOP into this fold's folder too.
            if context.stop_requested():
                context.registry.set_status(child.id, "stopped")
                return _stopped(index, summaries)
        try:
            summary = run_fold(cfg, run_dir, workspace, fold, records, chained)
        except BaseException as error:
            if child is not None and main:
                status = "stopped" if isinstance(error, KeyboardInterrupt) else "failed"
                context.registry.set_status(child.id, status, error=f"{type(error).__name__}: {error}")
            raise
        finally:
            _free_memory()
            if main:
                _write_combined_metrics(run_dir)
        if summary.get("stopped"):
            if child is not None and main:
                context.registry.set_status(child.id, "stopped", summary=summary)
            return _stopped(index, summaries)
        if child is not None and main:
            context.registry.set_status(child.id, "finished", summary=summary)
        summaries.append(summary)

    if not main:
        return {"stopped": False, "folds_done": len(summaries)}  # rank 0 reports the run
    result = {**summarize(run_dir, cfg, folds, summaries), **skipped_summary(skipped)}
    if chained:
        _publish_last_adapter(run_dir, len(folds) - 1)
    else:
        write_oof_predictions(run_dir, len(folds), len(records))
    run.write_summary(result)
    if chained:
        print(f"NOTICE: {CHAINED_NOTICE}", flush=True)
    print(f"K-fold finished: {json.dumps(_headline(result), ensure_ascii=False)}", flush=True)
    return result


KFOLD_KIND = register_job_kind(KFOLD, run_kfold_job, gpus=CONFIG_GPUS)


def _children_by_fold(context) -> dict:
    if context is None:
        return {}
    return {child.config.get("fold"): child for child in context.registry.children(context.job_id)
            if child.kind == FOLD_KIND}


def _stopped(fold: int, summaries: list[dict]) -> dict:
    print(f"K-fold stopped at fold {fold}; a resume continues there", flush=True)
    return {"stopped": True, "fold": fold, "folds_done": len(summaries)}


def run_fold(cfg: RunConfig, run_dir: Path, workspace: Path, fold: dict, records: list[Record],
             chained: bool) -> dict:
    """Train one fold (resuming its own checkpoint when it has one); score its held-out rows."""
    from core.train.training import train_run

    index = fold["fold"]
    directory = RunDir(run_dir).fold(index)
    train = [records[i] for i in fold["train"]]
    validation = [records[i] for i in fold["validation"]]
    fold_cfg, init_adapter = cfg, None
    if chained and index > 0:
        previous = RunDir(run_dir).fold(index - 1)
        if cfg.method == "full":
            fold_cfg = replace(cfg, model=str(previous.model_dir))
        else:
            init_adapter = previous.adapter_dir
    # Either file means an earlier attempt ran this fold: resuming truncates its metrics lines to
    # its last checkpoint instead of appending a second copy of the same steps.
    resume = directory.metrics_lines.is_file() or directory.checkpoints_dir.is_dir()
    if is_main_process():
        save_config(fold_cfg, directory.config_file)
    print(f"=== fold {index + 1}/{cfg.kfold.k}: {len(train)} training rows, {len(validation)} held out"
          f"{' (from fold ' + str(index - 1) + ')' if chained and index > 0 else ''}"
          f"{', resuming' if resume else ''} ===", flush=True)
    summary = train_run(fold_cfg, directory.path, workspace, resume=resume, fold=index,
                        records=(train, validation), init_adapter=init_adapter)
    if summary.get("stopped") or chained or not is_main_process():
        return summary
    predictions = score_fold(fold_cfg, directory.path, workspace, fold, records)
    summary.update(fold_classification(predictions, mapping_of(cfg.data).label_names))
    directory.write_summary(summary)
    return summary


def score_fold(cfg: RunConfig, directory: Path, workspace: Path, fold: dict,
               records: list[Record]) -> list[dict]:
    """P(true) and label of each held-out row from this fold's model (with label names: the class and
    the class probabilities, as Evaluate's score mode gives them); saved as fold-<i>/oof.jsonl."""
    from core.eval.predict import load_predictor

    label_names = mapping_of(cfg.data).label_names
    if cfg.method == "full":
        predictor = load_predictor(str(RunDir(directory).model_dir), device=cfg.train.device,
                                   workspace=workspace, trust_remote_code=cfg.trust_remote_code,
                                   label_names=label_names)
    else:
        predictor = load_predictor(cfg.model, adapter=directory, device=cfg.train.device, workspace=workspace,
                                   trust_remote_code=cfg.trust_remote_code, label_names=label_names)
    held_out = [records[i] for i in fold["validation"]]
    try:
        scored = predictor.score(held_out, encode_options(cfg), batch_size=cfg.train.batch_size)
    finally:
        predictor.free()
    if label_names:
        rows = [{"row": row, "line": records[row].line, "fold": fold["fold"], "gold": int(records[row].label),
                 "gold_label": label_names[int(records[row].label)], "predicted": prediction.label,
                 "predicted_label": None if prediction.label is None else label_names[prediction.label],
                 "probabilities": prediction.probabilities}
                for row, prediction in zip(fold["validation"], scored)]
    else:
        rows = [{"row": row, "line": records[row].line, "fold": fold["fold"],
                 "gold": bool(records[row].label), "predicted": prediction.is_fraud,
                 "p_true": prediction.p_true}
                for row, prediction in zip(fold["validation"], scored)]
    write_jsonl(RunDir(directory).fold_oof_file, rows)
    return rows


def _class_metrics(rows: list[dict], label_names: tuple[str, ...]) -> dict:
    from core.eval.metrics import multiclass_metrics

    return multiclass_metrics([row["gold"] for row in rows], [row["predicted"] for row in rows], label_names,
                              [row["probabilities"] for row in rows])


def fold_classification(rows: list[dict], label_names: tuple[str, ...] = ()) -> dict:
    """A fold's scores of its held-out rows: accuracy, F1 and ROC AUC of true; with label names,
    accuracy, macro-F1 and one-vs-rest ROC AUC."""
    if label_names:
        metrics = _class_metrics(rows, label_names)
        return {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                "roc_auc": metrics["roc_auc"], "scored_rows": len(rows)}
    from core.eval.metrics import classification_metrics

    metrics = classification_metrics([row["gold"] for row in rows], [row["predicted"] for row in rows],
                                     [row["p_true"] for row in rows])
    return {"accuracy": metrics["accuracy"], "f1": metrics["f1"], "roc_auc": metrics["roc_auc"],
            "scored_rows": len(rows)}


def read_oof(run_dir: Path, folds: int) -> list[dict]:
    rows = []
    for index in range(folds):
        path = RunDir(run_dir).fold(index).fold_oof_file
        if not path.is_file():
            raise FileNotFoundError(f"{path}: fold {index} has no out-of-fold predictions")
        rows += read_jsonl(path)
    return sorted(rows, key=lambda row: row["row"])


def write_oof_predictions(run_dir: Path, folds: int, rows: int) -> Path:
    """One out-of-fold prediction per row of the training file, in row order."""
    predictions = read_oof(run_dir, folds)
    covered = [row["row"] for row in predictions]
    if covered != list(range(rows)):
        raise RuntimeError(f"out-of-fold predictions cover {len(set(covered))} distinct rows "
                           f"({len(covered)} lines) of {rows}: the folds do not partition the file")
    return write_jsonl(RunDir(run_dir).oof_file, predictions)


# -- summary ---------------------------------------------------------------------------------------
def mean_std(values: list[float | None]) -> dict:
    """Mean and population std (numpy's default, as `cross_val_score(...).std()` reports it)."""
    present = [float(value) for value in values if value is not None]
    if not present:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(present), "std": statistics.pstdev(present), "n": len(present)}


def summarize(run_dir: Path, cfg: RunConfig, folds: list[dict], summaries: list[dict]) -> dict:
    keys = ("fold", "eval_loss", "train_loss", "best_eval_loss", "steps", "seconds", "train_rows",
            "eval_rows", "accuracy", "f1", "macro_f1", "roc_auc")
    per_fold = [{key: summary.get(key) for key in keys} for summary in summaries]
    result = {"stopped": False, "mode": cfg.kfold.mode, "k": cfg.kfold.k, "per_fold": per_fold,
              "eval_loss_mean_std": mean_std([fold["eval_loss"] for fold in per_fold]),
              "seconds": round(sum(fold["seconds"] or 0 for fold in per_fold), 1)}
    # Flat names, so a sweep ranks K-fold trials by the same metric names as train trials.
    result["eval_loss"] = result["eval_loss_mean_std"]["mean"]
    result["train_loss"] = mean_std([fold["train_loss"] for fold in per_fold])["mean"]
    if cfg.kfold.mode == "chained":
        result["unbiased"] = False
        result["notice"] = CHAINED_NOTICE
        result["adapter"] = f"fold-{len(folds) - 1}/{'model' if cfg.method == 'full' else 'adapter'}"
        return result
    predictions = read_oof(run_dir, len(folds))
    label_names = mapping_of(cfg.data).label_names
    if label_names:
        pooled = _class_metrics(predictions, label_names)
        result.update(
            unbiased=True,
            accuracy_mean_std=mean_std([fold["accuracy"] for fold in per_fold]),
            macro_f1_mean_std=mean_std([fold["macro_f1"] for fold in per_fold]),
            oof={key: pooled[key] for key in ("rows", "labels", "accuracy", "macro_f1", "macro_precision",
                                              "macro_recall", "roc_auc", "confusion", "per_class",
                                              "invalid")},
            oof_file=RunDir(run_dir).oof_file.name)
        result["accuracy"] = result["accuracy_mean_std"]["mean"]
        # "f1" is the flat name sweeps rank by; for N classes it is the macro-F1.
        result["macro_f1"] = result["f1"] = result["macro_f1_mean_std"]["mean"]
        return result
    from core.eval.metrics import classification_metrics

    pooled = classification_metrics([row["gold"] for row in predictions],
                                    [row["predicted"] for row in predictions],
                                    [row["p_true"] for row in predictions])
    result.update(
        unbiased=True,
        accuracy_mean_std=mean_std([fold["accuracy"] for fold in per_fold]),
        f1_mean_std=mean_std([fold["f1"] for fold in per_fold]),
        oof={key: pooled[key]
             for key in ("rows", "accuracy", "f1", "precision", "recall", "roc_auc", "pr_auc",
                                          "tn", "fp", "fn", "tp")},
        oof_file=RunDir(run_dir).oof_file.name)
    result["accuracy"] = result["accuracy_mean_std"]["mean"]
    result["f1"] = result["f1_mean_std"]["mean"]
    return result


def _headline(result: dict) -> dict:
    return {key: result.get(key)
            for key in ("mode", "k", "eval_loss_mean_std", "accuracy_mean_std", "f1_mean_std",
                        "macro_f1_mean_std")
            if key in result}


def _publish_last_adapter(run_dir: Path, last: int) -> None:
    """The chained run's product is the last fold's model: put it where a train run keeps its own."""
    run = RunDir(run_dir)
    source = run.fold(last)
    for name in ("adapter_dir", "model_dir"):
        if getattr(source, name).is_dir():
            shutil.copytree(getattr(source, name), getattr(run, name), dirs_exist_ok=True)
    if source.run_info_file.is_file():
        run.write_run_info(source.read_run_info())


def kfold_metrics(run_dir: Path) -> list[dict]:
    """Every fold's metrics lines in fold order, read live from the fold folders."""
    return [line for fold in RunDir(run_dir).folds() for line in fold.read_metrics()]


def _write_combined_metrics(run_dir: Path) -> None:
    RunDir(run_dir).rewrite_metrics(kfold_metrics(run_dir))


def _free_memory() -> None:
    """Give the finished fold's GPU memory back before the next fold loads its model."""
    import torch

    if torch.cuda.is_available():
        gc.collect()  # the Trainer holds reference cycles; on a CPU the next collection suffices
        torch.cuda.empty_cache()
