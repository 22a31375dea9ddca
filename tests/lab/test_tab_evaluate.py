"""Evaluate tab: a real evaluation job started and watched through the page's handlers, and its
tables, figures, threshold, differing rows and row detail checked against its own files."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from core.config.schema import EvalConfig
from core.eval.metrics import metrics_at_threshold
from lab import eval_views, tab_evaluate
from lab.i18n import t
from lab.state import registry_for
from tests.lab.test_tab_predict import random_adapter

SCRIPT = "<script>alert(1)</script>"
ROWS = 30
JOB_TIMEOUT = 400


def start(workspace: Path, language: str = "en", **settings):
    """The Run button: the form holds EvalConfig(**settings), as form_values puts it in the page."""
    return tab_evaluate.start_evaluation_job(workspace, language,
                                             *tab_evaluate.form_values(EvalConfig(**settings)))


def watch_until_done(workspace: Path, job_id: str) -> tuple:
    """The timer's handler, polled as the page polls it, until it switches the timer off."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        outputs = tab_evaluate.watch_evaluation(workspace, job_id, 0.5, "en")
        if not outputs[1].active:
            return outputs
        assert time.monotonic() < deadline, registry_for(workspace).log_tail(job_id)
        time.sleep(1.0)


def test_the_page_wires_the_module_handlers(session_workspace):
    from lab.app import build_app

    app = build_app(session_workspace, "en")
    wired = {function.name for function in app.fns.values()}
    assert {"start_evaluation_job", "watch_evaluation", "stop_evaluation", "show_evaluation",
            "move_threshold",
            "filter_evaluation_rows", "pick_evaluation_row", "relabel_evaluation",
            "refresh_evaluation_choices", "show_latest_evaluation"} <= wired
    # Every EvalConfig field has its component, labelled with its key.
    labels = {component["props"].get("label") for component in app.config["components"]}
    for spec in tab_evaluate.form_specs():
        assert any(label and label.endswith(f" · {spec.key}") for label in labels), spec.key


@pytest.fixture(scope="module")
def test_file(session_workspace, demo_splits) -> Path:
    """29 demo test rows and one fraud row whose dialogue and speaker carry a script tag."""
    lines = Path(demo_splits["test"]).read_text(encoding="utf-8").splitlines()[: ROWS - 1]
    planted = {"instruction": "", "input": f"骗子: {SCRIPT} 点这个链接领取退款\n用户: 好的", "label": True,
               "fraud_speaker": "骗子", "reason": f"诱导点击链接 {SCRIPT}"}
    lines.insert(7, json.dumps(planted, ensure_ascii=False))
    path = session_workspace / "ui-eval" / "test.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def finished(session_workspace, tiny_model_dir, test_file) -> dict:
    """Start an evaluation of the base and two adapters with the page's Run handler, then poll
    with the timer's handler until it reports the end, as the page does."""
    checkpoints = []
    for name, seed in (("20990101-000000-train-ui-a", 0), ("20990101-000001-train-ui-b", 1)):
        adapter = random_adapter(session_workspace, tiny_model_dir, name, seed)
        checkpoints.append(adapter.relative_to(session_workspace).as_posix())
    job_id, progress, timer, runs = start(session_workspace, adapters=checkpoints, data="ui-eval/test.jsonl")
    assert timer.active and runs["value"] == job_id
    job = registry_for(session_workspace).get(job_id)
    assert job.kind == "eval" and job.config["data"] == str(test_file) and job.config["limit"] is None
    assert job.config["mode"] == "score" == EvalConfig().mode  # the config's default, as on the CLI
    outputs = watch_until_done(session_workspace, job_id)
    job = registry_for(session_workspace).get(job_id)
    assert job.status == "finished", job.error
    assert job.pid not in (None, os.getpid())  # it ran in a process of its own
    run_dir = job.run_dir
    return {"job_id": job_id, "outputs": outputs, "run_dir": run_dir,
            "metrics": json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")),
            "predictions": [json.loads(line) for line in
                            (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]}


def _labels(answer: dict):
    return bool(answer["is_fraud"]) if answer["valid"] and answer["is_fraud"] is not None else None


def test_progress_comes_from_the_job_progress_file(finished):
    progress = finished["outputs"][0]
    assert "finished (3 of 3 models started)" in progress
    lines = [json.loads(line) for line in (finished["run_dir"] / "metrics.jsonl").read_text().splitlines()]
    for name in ("base", "20990101-000000-train-ui-a", "20990101-000001-train-ui-b"):
        last = [line for line in lines if line["model"] == name][-1]
        assert last["done"] == last["total"] == ROWS
        assert f"{name}: {ROWS}/{ROWS} rows, {last['rows_per_second']:.1f} rows/s" in progress


def test_metrics_table_equals_metrics_json(finished):
    metrics = finished["metrics"]
    result = eval_views.read_result(finished["run_dir"])
    frame = eval_views.metrics_frame(result, "en")
    expected = [(entry["name"], entry["classification"], entry["rows_per_second"])
                for entry in metrics["models"]]
    assert metrics["baseline"] is not None  # the adapter run's config.yaml names the training file
    expected.append(("TF-IDF + LR", metrics["baseline"]["classification"], None))
    assert list(frame["model"]) == [name for name, _, _ in expected]
    shown = finished["outputs"][4]
    for index, (name, classification, speed) in enumerate(expected):
        row = frame.iloc[index]
        for column, key in (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall"),
                            ("F1", "f1"), ("invalid", "invalid"), ("ROC AUC", "roc_auc"),
                            ("PR AUC", "pr_auc")):
            assert row[column] == classification[key], (name, column)
            text = shown.iloc[index][column]
            assert text == (str(classification[key]) if key == "invalid" else f"{classification[key]:.3f}")
        assert row["rows/s"] == speed if speed is not None else pd.isna(row["rows/s"])
        assert shown.iloc[index]["speaker accuracy"] == "—"  # score mode: no speakers
    # The table's accuracy is what the predictions say, recomputed by hand (invalid counts as wrong).
    for entry in metrics["models"]:
        right = sum(_labels(row["models"][entry["name"]]) == row["gold"]["is_fraud"]
                    for row in finished["predictions"])
        assert entry["classification"]["accuracy"] == pytest.approx(right / ROWS)


def test_confusion_heatmaps_hold_each_models_counts(finished):
    figure = finished["outputs"][5]
    entries = [entry["classification"] for entry in finished["metrics"]["models"]]
    entries.append(finished["metrics"]["baseline"]["classification"])
    assert len(figure.data) == len(entries) == 4
    for trace, counts in zip(figure.data, entries):
        assert [list(row) for row in trace.z] == [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    gold = [row["gold"]["is_fraud"] for row in finished["predictions"]]
    base = [_labels(row["models"]["base"]) for row in finished["predictions"]]
    tp = sum(label and guess is True for label, guess in zip(gold, base))
    assert figure.data[0].z[1][1] == tp


def test_threshold_moves_precision_and_recall_as_core_metrics_says(session_workspace, finished):
    gold = [row["gold"]["is_fraud"] for row in finished["predictions"]]
    names = [entry["name"] for entry in finished["metrics"]["models"]]
    p_true = {name: [row["models"][name]["p_true"] for row in finished["predictions"]] for name in names}
    p_true["TF-IDF + LR"] = [row["baseline"]["p_true"] for row in finished["predictions"]]
    tables = {}
    for threshold in (0.3, 0.5, 0.7):
        roc, pr, table = tab_evaluate.move_threshold(session_workspace, finished["job_id"], threshold, "en")
        tables[threshold] = table
        assert list(table["model"]) == list(p_true)
        for index, (name, scores) in enumerate(p_true.items()):
            expected = metrics_at_threshold(gold, scores, threshold)
            for column, key in (("precision", "precision"), ("recall", "recall"), ("F1", "f1")):
                assert table.iloc[index][column] == f"{expected[key]:.3f}", (threshold, name, column)
            assert table.iloc[index]["TP"] == str(expected["tp"])
            # The dot on each curve sits at the threshold's point.
            dots = [trace for trace in roc.data if trace.mode == "markers"]
            negatives = expected["fp"] + expected["tn"]
            assert dots[index].x[0] == pytest.approx(expected["fp"] / negatives)
            assert dots[index].y[0] == pytest.approx(expected["recall"])
            pr_dots = [trace for trace in pr.data if trace.mode == "markers"]
            assert (pr_dots[index].x[0], pr_dots[index].y[0]) == pytest.approx((expected["recall"],
                                                                                 expected["precision"]))
    # The slider really changes the numbers (recomputed: the scores spread across these thresholds).
    moved = [name for name, scores in p_true.items()
             if metrics_at_threshold(gold, scores, 0.3)["recall"] != metrics_at_threshold(gold, scores,
                                                                                          0.7)["recall"]]
    assert moved
    assert not tables[0.3]["recall"].equals(tables[0.7]["recall"])


def test_differing_rows_are_exactly_the_rows_where_answers_differ(session_workspace, finished):
    expected = [row["row"] for row in finished["predictions"]
                if len({_labels(answer) for answer in row["models"].values()}) > 1]
    assert expected, "the random adapters should disagree with the base somewhere"
    rows_filter, table = finished["outputs"][10], finished["outputs"][11]
    assert rows_filter == eval_views.DIFFER
    assert [int(value) for value in table["row"]] == expected
    wrong = [row["row"] for row in finished["predictions"]
             if any(_labels(answer) != row["gold"]["is_fraud"] for answer in row["models"].values())]
    table, _ = tab_evaluate.filter_evaluation_rows(session_workspace, finished["job_id"], eval_views.WRONG,
                                                   "en")
    assert [int(value) for value in table["row"]] == wrong


def test_pairs_count_fixed_and_broken_rows(finished):
    table = finished["outputs"][9]
    predictions = finished["predictions"]
    first = table.iloc[0]
    assert first["pair (A → B)"] == "base → 20990101-000000-train-ui-a"
    right = {name: [_labels(row["models"][name]) == row["gold"]["is_fraud"] for row in predictions]
             for name in ("base", "20990101-000000-train-ui-a")}
    fixed = sum(not a and b for a, b in zip(right["base"], right["20990101-000000-train-ui-a"]))
    broken = sum(a and not b for a, b in zip(right["base"], right["20990101-000000-train-ui-a"]))
    assert (first["fixed by B"], first["broken by B"]) == (str(fixed), str(broken))
    pair = finished["metrics"]["pairs"][0]
    assert first["McNemar p"] == f"{pair['mcnemar_p']:.4f}"
    assert (first["95% CI low"], first["95% CI high"]) == tuple(f"{value:.3f}" for value in pair["interval"])
    assert len(table) == 3 + 3  # three model pairs, then the baseline against each model


def test_choosing_a_row_shows_its_dialogue_and_answers_escaped(session_workspace, finished):
    table, _ = tab_evaluate.filter_evaluation_rows(session_workspace, finished["job_id"], eval_views.ALL,
                                                   "en")
    planted = next(row for row in finished["predictions"] if SCRIPT in row["input"])
    position = [int(value) for value in table["row"]].index(planted["row"])
    assert SCRIPT in table.iloc[position]["dialogue"]  # a Dataframe cell: shown as text by the page
    event = gr.SelectData(None, {"index": [position, 3], "value": table.iloc[position, 3],
                                 "row_value": list(table.iloc[position])})
    detail = tab_evaluate.pick_evaluation_row(session_workspace, finished["job_id"], "en", event)
    assert "<script" not in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 点这个链接领取退款" in detail
    assert f"Row {planted['row']} (line {planted['line']} of the file)" in detail
    for name, answer in planted["models"].items():
        cell = '<td style="vertical-align:top;padding:4px 8px;border-top:1px solid #ddd">'
        assert f"{cell}{name}</td>" in detail
        assert f"{answer['p_true']:.3f}" in detail
    # Score mode (the fixture's): no answer text is shown as if the model had written it.
    assert finished["metrics"]["config"]["mode"] == "score"
    assert detail.count("score mode: the model generated no text") == len(planted["models"])
    assert "&quot;is_fraud&quot;" not in detail


def test_bad_choices_are_refused_before_a_job_starts(session_workspace, tiny_model_dir):
    before = len(registry_for(session_workspace).list())
    with pytest.raises(gr.Error, match="outside"):
        start(session_workspace, adapters=["../../etc"], limit=10)
    with pytest.raises(gr.Error, match="file not found"):
        start(session_workspace, data="ui-eval/missing.jsonl", limit=10)
    with pytest.raises(gr.Error, match="no adapter_config.json"):
        start(session_workspace, adapters=["ui-eval"], limit=10)
    with pytest.raises(gr.Error, match="batch_size: expected a whole number"):
        values = tab_evaluate.form_values(EvalConfig())
        values[[spec.key for spec in tab_evaluate.form_specs()].index("batch_size")] = "many"
        tab_evaluate.start_evaluation_job(session_workspace, "en", *values)
    assert len(registry_for(session_workspace).list()) == before


def test_stop_ends_a_running_evaluation(session_workspace, finished):
    job_id, _, timer, _ = start(session_workspace, limit=10)
    progress, timer = tab_evaluate.stop_evaluation(session_workspace, job_id, "en")
    assert registry_for(session_workspace).get(job_id).status in ("stopping", "stopped")
    outputs = watch_until_done(session_workspace, job_id)
    assert registry_for(session_workspace).get(job_id).status == "stopped"
    assert f"Evaluation job {job_id}: stopped" in outputs[0]


def test_show_and_switch_language(session_workspace, finished):
    outputs = tab_evaluate.show_evaluation(session_workspace, finished["job_id"], 0.5, "zh")
    assert list(outputs[1].columns)[:2] == ["模型", "准确率"]
    assert finished["job_id"] in outputs[0]
    with pytest.raises(gr.Error, match="no evaluation run"):
        tab_evaluate.show_evaluation(session_workspace, "not-a-run", 0.5, "en")


def test_the_run_dropdown_words_each_runs_status_in_the_switched_language(session_workspace, finished):
    """The dropdown's choices carry the run's status word: a switch words them again (it used to say
    已完成 on the English page)."""
    from lab.app import build_app

    context = build_app(session_workspace, "zh").lab_context
    [relabel] = [update for component, update in context.translations
                 if getattr(component, "label", None) == t("eval.run_choice", "zh")]
    for language in ("en", "zh"):
        shown = relabel(language)
        assert shown["label"] == t("eval.run_choice", language)
        named = {value: name for name, value in shown["choices"]}
        assert named[finished["job_id"]] == f"{finished['job_id']} · {t('eval.status.finished', language)}"
    assert t("eval.status.finished", "zh") not in str(relabel("en")["choices"])


def test_tables_before_any_run_have_their_headers_in_the_page_language(session_workspace):
    """Not Gradio's "1 2 3": the headers each table will have, worded again on a language switch."""
    outputs = tab_evaluate.relabel_evaluation(session_workspace, "", "", 0.5, eval_views.DIFFER, "zh")
    metrics, threshold, pairs, rows = outputs[2], outputs[6], outputs[7], outputs[9]
    assert list(metrics.columns)[:2] == ["模型", "准确率"] and metrics.empty
    assert "模型" in threshold.columns and pairs.empty and "对话" in rows.columns
    english = tab_evaluate.empty_results("en")
    assert list(english.metrics.columns)[:2] == ["model", "accuracy"]


def test_a_running_evaluation_shows_each_models_rate_and_time_left(tmp_path):
    lines = [{"model": "base", "done": 300, "total": 300, "rows_per_second": 12.0, "elapsed": 25.0},
             {"model": "run-a", "done": 0, "total": 300, "rows_per_second": None, "elapsed": 0.0},
             {"model": "run-a", "done": 100, "total": 300, "rows_per_second": 2.5, "elapsed": 40.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines),
                                            encoding="utf-8")
    progress = eval_views.progress_html("job-1", "running", eval_views.read_result(tmp_path), 3, None, "en")
    assert "base: 300/300 rows, 12.0 rows/s, ETA 0:00" in progress
    assert "run-a: 100/300 rows, 2.5 rows/s, ETA 1:20" in progress  # 200 rows left at 2.5 rows/s
    assert eval_views.eta_text({"done": 0, "total": 300, "rows_per_second": None}) == "—"
    assert eval_views.eta_text({"done": 1, "total": 9001, "rows_per_second": 2.0}) == "1:15:00"
