"""`python -m lab ...`: the same core functions the page calls, for scripts and notebooks.

Each command prints human text, or one JSON object with --json. Bad input exits non-zero with
a message that names the file, line and field (or the config key), never a bare traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _print_json(payload) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def _run_or_path(text: str, workspace: Path) -> str:
    """A folder as given, else the run of that id in the workspace (what `train` printed)."""
    from core.workspace import Workspace

    if Path(text).expanduser().exists() or "/" in text or "\\" in text:
        return text
    run_dir = Workspace(workspace).run(text).path
    return str(run_dir) if run_dir.is_dir() else text


def cmd_serve(args) -> int:
    from lab.server import serve

    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    if args.auth and len(auth) != 2:
        raise SystemExit("--auth must be USER:PASS")
    serve(host=args.host, port=args.port, auth=auth, workspace=args.workspace,
          allowed_hosts=args.allowed_host or ())
    return 0


def _check_mapping(args, file=None, data_key: str = ""):
    """The mapping given by --text-column / --label-column / --label-names, else the review demo's for
    its data key, else the one proposed from the file (the fraud schema when it cannot be read)."""
    from core.data.mapping import FRAUD, DataMapping, propose_mapping
    from core.data.records import DataError
    from core.demo.reviews import DEMO_REVIEWS, MAPPING

    names = [name.strip() for name in (args.label_names or "").split(",") if name.strip()]
    if args.text_column or args.label_column or names:
        return DataMapping(args.text_column or "input", args.label_column or "label", tuple(names))
    if data_key == DEMO_REVIEWS:
        return MAPPING
    try:
        return propose_mapping(file or args.file)
    except DataError:
        return FRAUD


def cmd_check_data(args) -> int:
    from core.data.records import DataError, load_records

    mapping = _check_mapping(args)
    try:
        result = load_records(args.file, strict=False, mapping=mapping)
        records, problems, warnings = result.records, result.problems, result.warnings
    except DataError as error:
        records, problems, warnings = [], error.problems, []
    counts = {name: sum(int(record.label) == index for record in records)
              for index, name in enumerate(mapping.names)}
    if mapping.is_fraud:
        counts = {"true": counts["true"], "false": counts["false"]}
    report = {"file": args.file, "rows": len(records), "labels": counts,
              "mapping": {"text_column": mapping.text_column, "label_column": mapping.label_column,
                          "label_names": list(mapping.label_names)},
              "problems": [problem.to_dict() for problem in problems],
              "warnings": [warning.to_dict() for warning in warnings]}
    if args.json:
        _print_json(report)
    else:
        shown = ", ".join(f"{name} {count}" for name, count in counts.items())
        if not mapping.is_fraud:
            print(f"text column {mapping.text_column!r}, label column {mapping.label_column!r}, label names "
                  f"{', '.join(mapping.label_names)} (change with --text-column, --label-column, "
                  "--label-names)")
        print(f"{args.file}: {len(records)} good rows ({shown})")
        for problem in problems:
            print(f"  {problem}")
        for warning in warnings:
            print(f"  warning: {warning}")
        cleaned = f", {len(warnings)} warning(s) (values cleaned)" if warnings else ""
        print(f"{len(problems)} problem(s){cleaned}")
    return 1 if problems else 0


def _preview_record(args):
    from core.data.records import DataError, load_records, row_to_record

    if args.record:
        try:
            row = json.loads(args.record)
        except json.JSONDecodeError as error:
            raise SystemExit(f"--record is not valid JSON: {error.msg}") from None
        row.setdefault("label", False)
        record, problems = row_to_record(row, "--record", 1)
        if problems:
            raise DataError(problems)
        return record
    records = load_records(args.data, strict=False).records
    if not 0 <= args.row < len(records):
        raise SystemExit(f"--row {args.row} is out of range: {args.data} has {len(records)} good rows")
    return records[args.row]


def cmd_preview(args) -> int:
    from core.config.schema import ConfigError, DataSection, prompt_options
    from core.config.text import config_from_arguments
    from core.data.encoding import encode, token_view
    from core.env import workspace_dir
    from core.models import load_tokenizer, resolve_model_path

    if not args.record and not args.data:
        raise SystemExit("preview needs --data FILE --row N, or --record JSON")
    tokenizer = load_tokenizer(resolve_model_path(args.model, workspace_dir(args.workspace)),
                               trust_remote_code=args.trust_remote_code)
    try:
        options = prompt_options(config_from_arguments(args, DataSection))
        encoded = encode(tokenizer, _preview_record(args), options)
    except ConfigError:
        raise
    except ValueError as error:  # a max_length too small for the prompt, a bad prompt template
        raise ConfigError("", str(error)) from None
    tokens = token_view(tokenizer, encoded)
    payload = {"text": encoded.text, "input_ids": encoded.input_ids, "labels": encoded.labels,
               "tokens": [{"id": t["id"], "text": t["text"], "trained": t["trained"]} for t in tokens],
               "num_tokens": len(encoded.input_ids), "num_trained": encoded.num_trained,
               "truncated": encoded.truncated, "untruncated_length": encoded.untruncated_length}
    if args.json:
        _print_json(payload)
    else:
        print(encoded.text)
        print(f"\n{payload['num_tokens']} tokens, {payload['num_trained']} trained, "
              f"truncated: {encoded.truncated}")
    return 0


def cmd_build_tiny(args) -> int:
    from core.env import workspace_dir
    from core.demo.tiny_model import ensure_tiny_model, ensure_tiny_model_for_file

    workspace = workspace_dir(args.workspace)
    if args.data:
        path = ensure_tiny_model_for_file(workspace, args.data, rebuild=args.rebuild)
        print(f"tiny model built from the dialogues of {args.data} (text only); train it with "
              f"--set model={path}", file=sys.stderr)
    else:
        path = ensure_tiny_model(workspace)
    print(path)
    return 0


def cmd_train(args) -> int:
    from core.config.text import apply_overrides, load_config
    from core.env import workspace_dir
    from core.data.records import Problem
    from core.train.submit import train_and_wait

    if args.config:
        config = apply_overrides(load_config(args.config), args.set or [])
    else:
        from core.config.presets import default_config

        # No config file: start from the preset of the model named on the command line.
        config = default_config(args.set or [])
    result = train_and_wait(config, workspace_dir(args.workspace), progress=sys.stderr)
    if args.json:
        _print_json(result)
    else:
        print(f"run {result['run_id']}: {result['status']} ({result['run_dir']})")
        if result.get("error"):
            print(f"  reason: {result['error']}")
            print(f"  (the job's full log: {Path(result['run_dir']) / 'log.txt'})")
        metrics = dict(result.get("metrics") or {})
        problems = metrics.pop("skipped_problems", [])
        for key, value in metrics.items():
            print(f"  {key}: {value}")
        if metrics.get("skipped_rows"):
            print(f"WARNING: {metrics['skipped_rows']} bad row(s) were skipped (data.bad_rows=skip; "
                  "data.bad_rows=error refuses such a file):")
            for problem in problems:
                print(f"  {Problem(**problem)}")
    return 0 if result["status"] == "finished" else 1


def cmd_eval(args) -> int:
    from core.config.schema import EvalConfig
    from core.config.text import config_from_arguments
    from core.env import workspace_dir
    from core.eval.evaluation import evaluate_and_wait
    from core.eval.run_defaults import with_run_defaults

    workspace = workspace_dir(args.workspace)
    config = config_from_arguments(args, EvalConfig)
    config.adapters = [_run_or_path(text, workspace) for text in config.adapters]
    config, taken = with_run_defaults(config)
    if taken:  # --model / --data left at embedded / demo: the checkpoint's run says what it was trained on
        print("from the checkpoint's run: " + ", ".join(f"--{key} {value}" for key, value in taken.items()),
              file=sys.stderr)
    result = evaluate_and_wait(config, workspace)
    if args.json:
        _print_json(result)
    else:
        _print_json(result.get("metrics", result))
    return 0 if result.get("status") == "finished" else 1


def cmd_audit(args) -> int:
    from core.audit.report import audit, format_report
    from core.config.checks import data_file
    from core.config.schema import DEMO
    from core.data.records import load_records
    from core.demo.reviews import DEMO_REVIEWS
    from core.env import workspace_dir

    workspace = workspace_dir(args.workspace)
    key = args.train.strip() if args.train.strip() in (DEMO, DEMO_REVIEWS) else ""
    files = {"train": data_file(args.train, "train", workspace)}
    if args.test or key:  # a demo data key brings its own test split
        files["test"] = data_file(args.test or key, "test", workspace)
    mapping = _check_mapping(args, files["train"], key)
    loaded = {split: load_records(path, strict=False, mapping=mapping) for split, path in files.items()}
    if not mapping.is_fraud and not args.json:
        print(f"text column {mapping.text_column!r}, label column {mapping.label_column!r}, label names "
              f"{', '.join(mapping.label_names)} (change with --text-column, --label-column, --label-names)")
    report = audit(loaded["train"].records, loaded["test"].records if "test" in loaded else None,
                   label_names=mapping.label_names)
    # The audit describes the good rows only: the rows it could not read are named beside it.
    skipped = {split: result.problems for split, result in loaded.items() if result.problems}
    if args.json:
        _print_json({**report.to_dict(), "skipped_rows": {
            split: {"rows": len(result.skipped_lines),
                    "problems": [problem.to_dict() for problem in result.problems]}
            for split, result in loaded.items()}})
    else:
        for split in skipped:
            print(f"WARNING: {loaded[split].skipped_text()}")
        print(format_report(report))
    return 0


def cmd_export(args) -> int:
    from core.env import workspace_dir
    from core.train.export import export_run

    run_dir = Path(_run_or_path(args.run, workspace_dir(args.workspace)))
    print(export_run(run_dir, Path(args.out) if args.out else None))
    return 0


def _add_mapping_arguments(parser: argparse.ArgumentParser) -> None:
    """The column mapping flags `check-data` and `audit` share (read by `_check_mapping`)."""
    parser.add_argument("--text-column", help="the column holding the text (default: detected)")
    parser.add_argument("--label-column", help="the column holding the label (default: detected)")
    parser.add_argument("--label-names", help="the label names in class order, comma-separated "
                        "(default: detected; none = the fraud schema)")


def build_parser() -> argparse.ArgumentParser:
    from core.config.schema import PROMPT_KEYS, DataSection, EvalConfig
    from core.config.text import add_config_arguments

    parser = argparse.ArgumentParser(prog="python -m lab", description="fraud-lab: fine-tune and evaluate "
                                     "chat LLMs as classifiers of Chinese dialogues")
    _add_common_options(parser, default=None)
    # The common options are accepted after the sub-command too (`serve --workspace DIR`, as the README
    # writes it) and listed in its help; there they default to SUPPRESS so as not to undo a value given
    # before the sub-command.
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", parents=[common], help="serve the lab page (the default command)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--auth", help="USER:PASS required for every page and API call")
    serve.add_argument("--allowed-host", action="append", metavar="NAME",
                       help="also answer requests addressed to this host name (repeatable; '*' = any); "
                       "loopback names and the --host value are always accepted")
    serve.set_defaults(handler=cmd_serve)

    check = commands.add_parser("check-data", parents=[common], help="validate a dataset file")
    check.add_argument("file")
    _add_mapping_arguments(check)
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=cmd_check_data)

    preview = commands.add_parser("preview", parents=[common],
                                  help="show the exact tokens and label mask of one row")
    preview.add_argument("--model", default="embedded", help="a folder holding a tokenizer, or 'embedded'")
    preview.add_argument("--data")
    preview.add_argument("--row", type=int, default=0)
    preview.add_argument("--record", help="one row as JSON")
    add_config_arguments(preview, DataSection, only=PROMPT_KEYS)  # the training config's prompt fields
    preview.add_argument("--trust-remote-code", action="store_true")
    preview.add_argument("--json", action="store_true")
    preview.set_defaults(handler=cmd_preview)

    build = commands.add_parser("build-tiny", parents=[common],
                                help="build the embedded tiny model into the workspace")
    build.add_argument("--data",
                       help="build it from the dialogues of this training file instead of the demo's "
                       "(its input texts only; labels are never read)")
    build.add_argument("--rebuild", action="store_true", help="with --data: build again even if built")
    build.set_defaults(handler=cmd_build_tiny)

    train = commands.add_parser("train", parents=[common],
                                help="train a run (LoRA, full, K-fold, sweep) as a job and wait")
    train.add_argument("config", nargs="?", help="config.yaml (default: the embedded default)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key")
    train.add_argument("--json", action="store_true")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("eval", parents=[common],
                                   help="evaluate a base model and checkpoints side by side")
    add_config_arguments(evaluate, EvalConfig)  # one flag per EvalConfig field, with its help and choices
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=cmd_eval)

    audit = commands.add_parser("audit", parents=[common],
                                help="find shortcuts, leakage and duplicates; the baseline to beat")
    audit.add_argument("train", help="the training file, or demo / demo-reviews (with their test split)")
    audit.add_argument("--test")
    _add_mapping_arguments(audit)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=cmd_audit)

    export = commands.add_parser("export", parents=[common], help="merge a LoRA run into a standalone model")
    export.add_argument("run", help="run id or run folder")
    export.add_argument("--out")
    export.set_defaults(handler=cmd_export)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_argument_group("common options (before or after the sub-command)")
    group.add_argument("--workspace", default=default,
                       help="lab workspace folder (default: ./workspace or $FRAUD_LAB_WORKSPACE)")


def _user_errors() -> tuple:
    """Errors that carry a message meant for the user: print it, no traceback."""
    from core.config.schema import ConfigError
    from core.env import PathOutsideWorkspace
    from core.models import ModelError
    from core.data.records import DataError

    return DataError, ModelError, PathOutsideWorkspace, FileNotFoundError, ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.command is None:  # `python -m lab` alone serves the page
        args = parser.parse_args([*argv, "serve"])
    try:
        return args.handler(args)
    except _user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a bug, not bad input: still one line, the traceback on request
        if os.environ.get("FRAUD_LAB_TRACEBACK"):
            raise
        print(f"error: {type(error).__name__}: {error}\n(unexpected; FRAUD_LAB_TRACEBACK=1 shows where it "
              "happened)", file=sys.stderr)
        return 3
