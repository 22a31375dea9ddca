"""The command line: real subprocesses, exit codes and JSON a script can read."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.paths import REPO_ROOT, QWEN_TOKENIZER, require_shared


def run_lab(*args, workspace=None):
    env = dict(os.environ)
    if workspace:
        env["FRAUD_LAB_WORKSPACE"] = str(workspace)
    return subprocess.run([sys.executable, "-m", "lab", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=300)


def test_check_data_reports_problems_and_exit_status(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"input": "甲: 你好", "label": "是"}\n{"input": "乙: 再见", "label": 0}\n',
                    encoding="utf-8")
    result = run_lab("check-data", good, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rows"] == 2 and report["labels"] == {"true": 1, "false": 1} and report["problems"] == []

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "甲: 你好", "label": "是"}\n{"input": "乙"}\n{broken\n', encoding="utf-8")
    result = run_lab("check-data", bad, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["rows"] == 1
    assert [(p["line"], p["field"]) for p in report["problems"]] == [(2, "label"), (3, "")]
    text = run_lab("check-data", bad)
    assert f"{bad}:2: label: missing (required)" in text.stdout


def test_check_data_on_a_missing_file_is_a_message_not_a_traceback(tmp_path):
    result = run_lab("check-data", tmp_path / "nope.jsonl")
    assert result.returncode == 1
    assert "file not found" in result.stdout and "Traceback" not in result.stderr


def test_preview_json_with_the_real_qwen_tokenizer(tmp_path):
    tokenizer = require_shared(QWEN_TOKENIZER)
    record = {"input": "张三: 请把验证码发给我\n李四: 好的", "label": True, "fraud_speaker": "张三",
              "reason": "索要验证码"}
    result = run_lab("preview", "--model", tokenizer, "--record", json.dumps(record, ensure_ascii=False),
                     "--with-reason", "--json")
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    assert set(preview) >= {"text", "input_ids", "labels", "tokens", "num_tokens", "num_trained", "truncated"}
    assert preview["num_tokens"] == len(preview["input_ids"]) == len(preview["tokens"])
    trained = [t["id"] for t in preview["tokens"] if t["trained"]]
    assert trained == [i for i, label in zip(preview["input_ids"], preview["labels"]) if label != -100]
    assert trained[-1] == 151645 and preview["num_trained"] == len(trained)
    assert preview["text"].endswith('{"is_fraud": true, "fraud_speaker": "张三", "reason": '
                                    '"索要验证码"}<|im_end|>')


def test_preview_of_a_data_row_with_truncation(tmp_path):
    tokenizer = require_shared(QWEN_TOKENIZER)
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"input": "甲: " + "今天天气很好。" * 200, "label": False},
                               ensure_ascii=False),
                    encoding="utf-8")
    result = run_lab("preview", "--model", tokenizer, "--data", data, "--row", 0, "--max-length", 100,
                     "--json")
    preview = json.loads(result.stdout)
    assert preview["truncated"] is True and preview["num_tokens"] <= 100
    missing = run_lab("preview", "--model", tmp_path / "no-such-model", "--data", data)
    assert missing.returncode == 2 and "model folder not found" in missing.stderr


def test_eval_flags_are_generated_from_the_eval_config():
    from core.config.schema import EvalConfig, field_specs
    from core.config.text import config_from_arguments
    from lab.cli import build_parser

    parser = build_parser()
    arguments = parser.parse_args(["eval", "--adapter", "runs/a/adapter", "runs/b", "--limit", "5",
                                   "--no-include-base", "--with-reason", "--mode", "generate", "--batch-size",
                                   "4"])
    assert config_from_arguments(arguments, EvalConfig) == EvalConfig(
        adapters=["runs/a/adapter", "runs/b"], limit=5, include_base=False, with_reason=True, mode="generate",
        batch_size=4)
    # No flag given: every value is the config's own default (one default for the mode everywhere).
    assert config_from_arguments(parser.parse_args(["eval"]), EvalConfig) == EvalConfig()
    help_text = parser._subparsers._group_actions[0].choices["eval"].format_help()
    for spec in field_specs(EvalConfig):
        assert "--" + spec.key.replace("_", "-") in help_text, spec.key
    result = run_lab("eval", "--mode", "guess")
    assert result.returncode == 2 and "invalid choice: 'guess'" in result.stderr


def _rows_with_two_bad(source, target, rows: int):
    """`rows` demo rows with an empty input at line 3 and a broken \\u escape at line 7 inserted."""
    lines = source.read_text(encoding="utf-8").splitlines()[:rows]
    lines.insert(2, '{"input": "", "label": true}')
    lines.insert(6, '{"input": "甲: \\ud800", "label": false}')
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def test_audit_names_the_rows_it_skipped(tmp_path, demo_splits):
    data = _rows_with_two_bad(demo_splits["train"], tmp_path / "train.jsonl", 60)
    text = run_lab("audit", data)
    assert text.returncode == 0 and "Traceback" not in text.stderr, text.stderr
    assert f"skipped 2 bad row(s) of {data} (lines 3, 7); 60 good rows are used" in text.stdout
    assert f"{data}:7: input: not valid Unicode" in text.stdout
    report = json.loads(run_lab("audit", data, "--json").stdout)
    assert report["train_rows"] == 60
    skipped = report["skipped_rows"]["train"]
    assert skipped["rows"] == 2
    assert [(p["line"], p["field"]) for p in skipped["problems"]] == [(3, "input"), (7, "input")]


def test_audit_of_a_dataset_with_label_names(tmp_path, session_workspace):
    from core.demo.reviews import LABEL_NAMES

    result = run_lab("audit", "demo-reviews", "--json", workspace=session_workspace)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["label_names"] == list(LABEL_NAMES) and report["speakers"] is None
    assert [split["split"] for split in report["balance"]] == ["train", "test"]  # its own test split
    for split in report["balance"]:
        assert list(split["counts"]) == list(LABEL_NAMES) and sum(split["counts"].values()) == split["rows"]
    assert list(report["class_words"]["by_class"]) == list(LABEL_NAMES)
    # A CSV of 0/1 reviews through the mapping flags, worded with the given label names.
    rows = ["review,label"] + [f"{'很好用' if index % 2 else '太差了'}第{index}次,{index % 2}"
                               for index in range(40)]
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = run_lab("audit", data, "--text-column", "review", "--label-column", "label", "--label-names",
                   "0,1")
    assert text.returncode == 0 and "Traceback" not in text.stderr, text.stderr
    assert "label names 0, 1" in text.stdout
    assert re.search(r"train +40 rows +0 20 \(50%\) +1 20 \(50%\)", text.stdout), text.stdout


def test_train_skips_bad_rows_loudly_or_refuses_them(tmp_path, session_workspace, tiny_model_dir,
                                                     demo_splits):
    data = _rows_with_two_bad(demo_splits["train"], tmp_path / "train.jsonl", 40)
    settings = ["--set", f"data.train={data}", "--set", "data.validation=", "--set", "data.test=",
                "--set", "train.max_steps=2", "--set", "train.eval_every=0", "--set", "data.max_length=128"]
    refused = run_lab("train", *settings, "--set", "data.bad_rows=error", workspace=session_workspace)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"data.train: 2 problem(s) in the data:\n  {data}:3: input: empty text" in refused.stderr

    result = run_lab("train", *settings, workspace=session_workspace)  # data.bad_rows=skip is the default
    assert result.returncode == 0, result.stderr
    # Said while the run starts (echoed from the job's log) and again with the result.
    assert f"WARNING (data.bad_rows=skip): skipped 2 bad row(s) of {data} (lines 3, 7)" in result.stderr
    assert "WARNING: 2 bad row(s) were skipped" in result.stdout and f"{data}:7: input" in result.stdout
    run_dir = result.stdout.split("(", 1)[1].split(")", 1)[0]
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    assert summary["skipped_rows"] == 2 and summary["train_rows"] + summary["eval_rows"] == 40
    assert [(p["line"], p["field"]) for p in summary["skipped_problems"]] == [(3, "input"), (7, "input")]
    assert "skipped 2 bad row(s)" in (Path(run_dir) / "log.txt").read_text(encoding="utf-8")


# The seeds' row of issue 11: its own instruction starts and ends with a line break.
SEED_RECORD = {"instruction": "\n下面是一段对话文本, 请分析对话内容是否有诈骗风险，"
                              "以json格式输出你的判断结果(is_fraud: true/false)。\n",
               "input": "发言人3: 现在我所在这个哪里能够工艺能够去把屈光做得很好的，去到这个省级医院"
                        "是自治区医院跟广西医科大学这个附属医院他们还可以，他们一直保持比较好的一个一个"
                        "手术量。\n发言人1: 就是",
               "label": False}


def test_preview_of_a_seed_row_gives_the_seeds_ids():
    tokenizer = require_shared(QWEN_TOKENIZER)
    result = run_lab("preview", "--model", tokenizer, "--record", json.dumps(SEED_RECORD, ensure_ascii=False),
                     "--json")
    assert result.returncode == 0, result.stderr
    preview = json.loads(result.stdout)
    prompt = [i for i, label in zip(preview["input_ids"], preview["labels"]) if label == -100]
    answer = [i for i, label in zip(preview["input_ids"], preview["labels"]) if label != -100]
    assert len(prompt) == 102
    assert prompt[:15] == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 271,
                           100431]
    assert prompt[-5:] == [151645, 198, 151644, 77091, 198]
    assert answer == [4913, 285, 761, 97957, 788, 895, 92, 151645]


def test_common_options_work_after_the_sub_command_and_are_in_its_help():
    from lab.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve", "--workspace", "after"]).workspace == "after"
    assert parser.parse_args(["--workspace", "before", "serve"]).workspace == "before"
    assert parser.parse_args(["audit", "train.jsonl"]).workspace is None
    for name, command in parser._subparsers._group_actions[0].choices.items():
        assert "--workspace" in command.format_help(), name


def test_preview_that_cannot_fit_is_a_message(capsys, session_workspace, demo_splits, tiny_model_dir):
    from lab.cli import main

    code = main(["preview", "--workspace", str(session_workspace), "--data", str(demo_splits["test"]),
                 "--row", "0", "--with-reason", "--max-length", "64"])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("error: max_length 64 is too small"), error
    code = main(["preview", "--workspace", str(session_workspace), "--data", str(demo_splits["test"]),
                 "--prompt-template", "{dialogue}"])
    error = capsys.readouterr().err
    assert code == 2 and "{dialogue}" in error and "{input}" in error, error


def test_eval_takes_a_run_id_and_lists_every_problem(capsys, tmp_path, session_workspace, tiny_model_dir):
    from core.workspace import Workspace
    from lab.cli import main

    run = Workspace(session_workspace).run("cli-run-without-adapter").path
    run.mkdir(parents=True, exist_ok=True)
    code = main(["eval", "--workspace", str(session_workspace), "--adapter", run.name,
                 "--data", str(tmp_path / "missing.jsonl")])
    error = capsys.readouterr().err
    problems = [line for line in error.splitlines() if line.startswith("  - ")]
    assert code == 2 and error.startswith("error: cannot evaluate:"), error
    assert any(str(tmp_path / "missing.jsonl") in line for line in problems), problems
    # The id was taken for the run folder of that id, as `export` takes it.
    assert any(line.startswith(f"  - adapter {run}:") for line in problems), problems


def test_train_names_every_problem_at_once(capsys, tmp_path, session_workspace):
    from lab.cli import main

    code = main(["train", "--workspace", str(session_workspace), "--set", f"model={tmp_path / 'no-model'}",
                 "--set", f"data.train={tmp_path / 'no-data.jsonl'}"])
    error = capsys.readouterr().err
    assert code == 2, error
    assert "\n  - model: model folder not found" in error and "\n  - data.train: file not found" in error


def test_train_without_json_prints_why_the_run_failed(capsys, tmp_path, session_workspace, tiny_model_dir):
    from lab.cli import main

    # The check encodes the first row; a later row's reason is too long for max_length: the job fails.
    rows = [{"input": "甲: 请把验证码发给我", "label": True, "fraud_speaker": "甲", "reason": "索要验证码"},
            {"input": "乙: 明天见", "label": False},
            {"input": "甲: 转账吧", "label": True, "fraud_speaker": "甲", "reason": "要求转账。" * 60}]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    code = main(["train", "--workspace", str(session_workspace), "--set", f"data.train={data}",
                 "--set", "data.validation=", "--set", "data.validation_split=0", "--set", "data.test=",
                 "--set", "data.with_reason=true", "--set", "data.instruction=判断。",
                 "--set", "data.max_length=128", "--set", "train.max_steps=1", "--set", "train.eval_every=0"])
    output = capsys.readouterr().out
    assert code == 1 and ": failed (" in output, output
    assert "  reason: ValueError: max_length 128 is too small" in output, output


def test_a_runs_prompt_template_follows_it_to_evaluation_and_predict(capsys, tmp_path, session_workspace,
                                                                     tiny_model_dir, demo_splits):
    from core.config.schema import EvalConfig
    from core.eval.evaluation import validate_eval
    from lab import tab_predict
    from lab.cli import main

    template = "对话如下：\n{input}\n请回答：{instruction}"
    code = main(["train", "--workspace", str(session_workspace), "--json",
                 "--set", f"data.prompt_template={template}", "--set", "train.max_steps=2",
                 "--set", "train.eval_every=0", "--set", "data.max_length=128"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["status"] == "finished", result
    plan = validate_eval(EvalConfig(adapters=[result["run_dir"]], limit=2), session_workspace)
    assert [model.options.prompt_template for model in plan.models] == [template, template]
    options = tab_predict.prompt_options(Path(result["run_dir"]) / "adapter", False)
    assert options.prompt_template == template


def test_check_data_detects_or_takes_a_column_mapping(tmp_path):
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("review,label\n房间很干净,1\n太吵了,0\n还不错,1\n", encoding="utf-8")
    report = json.loads(run_lab("check-data", reviews, "--json").stdout)
    assert report["mapping"] == {"text_column": "review", "label_column": "label", "label_names": ["0", "1"]}
    assert report["rows"] == 3 and report["labels"] == {"0": 1, "1": 2}
    result = run_lab("check-data", reviews, "--text-column", "review", "--label-names", "1,2")
    assert result.returncode == 1
    assert f"{reviews}:3: label: unknown label value '0' (expected one of: 1, 2)" in result.stdout
