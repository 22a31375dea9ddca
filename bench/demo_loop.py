"""The embedded default's whole loop, as a new user runs it, with the figures that judge it.

In a fresh temporary workspace: build the tiny model (`python -m lab build-tiny`), train the
default run (`python -m lab train`, no --set), evaluate base vs fine-tuned on the demo test split
in generate and score mode (`python -m lab eval`, which also fits the TF-IDF baseline on the
training file), and check the demo's shortcuts (speaker names and length alone). Prints build
and train seconds (wall and CPU, with the load average), each accuracy and valid-answer rate,
McNemar p, and as its last line `fine-tuned accuracy X` (generate mode).

    python bench/demo_loop.py                       # the demo, default recipe
    python bench/demo_loop.py --seed 7              # another training seed (--set train.seed=7)
    python bench/demo_loop.py --data TRAIN --test TEST [--steps N]
        # your own data: tiny model built from TRAIN's dialogues, the tiny preset, TEST held out

Each step runs the lab's CLI in a subprocess, so the figures are those a user gets.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lab(workspace: Path, *arguments: str) -> tuple[str, float, float]:
    """Run `python -m lab --workspace W ...`; returns (stdout, wall s, CPU s of it and its jobs)."""
    command = [sys.executable, "-m", "lab", "--workspace", str(workspace), *arguments]
    cpu_before, started = children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu_before
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}")
    return result.stdout, wall, cpu


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def shortcut_checks(train_file: Path) -> dict:
    """Cross-validated accuracy of speaker names alone and of length alone (chance is 0.5)."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    rows = [json.loads(line) for line in train_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    labels = [bool(row["label"]) for row in rows]
    speakers = CountVectorizer(
        analyzer=lambda row: [line.split(":", 1)[0] for line in row["input"].split("\n")])
    speaker_accuracy = cross_val_score(LogisticRegression(max_iter=1000), speakers.fit_transform(rows),
                                       labels, cv=5)
    lengths = np.array([[len(row["input"]), row["input"].count("\n") + 1] for row in rows])
    length_accuracy = cross_val_score(DecisionTreeClassifier(max_depth=4, random_state=0), lengths, labels,
                                      cv=5)
    return {"speaker_names": float(speaker_accuracy.mean()), "length": float(length_accuracy.mean())}


def evaluate(workspace: Path, run_dir: str, data: str, mode: str, model: str) -> dict:
    output, wall, cpu = lab(workspace, "eval", "--model", model, "--adapter", run_dir, "--data", data,
                            "--mode", mode, "--json")
    metrics = json.loads(output)["metrics"]
    base, tuned = metrics["models"][0]["classification"], metrics["models"][1]["classification"]
    baseline = metrics["baseline"]["classification"]["accuracy"] if metrics.get("baseline") else None
    return {"rows": metrics["rows"], "base": base["accuracy"], "base_valid": 1 - base["invalid_rate"],
            "tuned": tuned["accuracy"], "tuned_valid": 1 - tuned["invalid_rate"],
            "tuned_roc_auc": tuned["roc_auc"], "mcnemar_p": metrics["pairs"][0]["mcnemar_p"],
            "tfidf": baseline,
            "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", help="use this workspace instead of a fresh temporary one")
    parser.add_argument("--seed", type=int, help="training seed (train.seed)")
    parser.add_argument("--data", help="your own training file (then --test is needed)")
    parser.add_argument("--test", help="your own test file")
    parser.add_argument("--steps", type=int, help="optimizer steps (train.max_steps; the preset's otherwise)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra training override")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args()
    if bool(args.data) != bool(args.test):
        parser.error("--data and --test go together")
    workspace = Path(args.workspace) if args.workspace else Path(tempfile.mkdtemp(prefix="fraud-lab-loop-"))
    print(f"workspace {workspace}; {os.cpu_count()} cores; {load()}", flush=True)
    overrides = list(args.set) + ([f"train.seed={args.seed}"] if args.seed is not None else []) + (
        [f"train.max_steps={args.steps}"] if args.steps is not None else [])
    try:
        if args.data:
            data, test = str(Path(args.data).resolve()), str(Path(args.test).resolve())
            output, build_wall, build_cpu = lab(workspace, "build-tiny", "--data", data)
            model = output.strip().splitlines()[-1]
            overrides = [f"model={model}", f"data.train={data}", "data.validation=",
                         f"data.test={test}"] + overrides
            eval_data = test
        else:
            model, eval_data = "embedded", "demo"
            output, build_wall, build_cpu = lab(workspace, "build-tiny")
        built = Path(model if args.data else output.strip().splitlines()[-1])
        info = json.loads((built / "build_info.json").read_text())
        print(f"build: {build_wall:.1f} s wall, {build_cpu:.1f} s CPU "
              f"({info['parameters'] / 1e6:.2f}M parameters, "
              f"{info['steps']} steps, loss {info['loss_start']:.2f} -> {info['loss_end']:.2f}, "
              f"{info['torch_threads']} threads); {load()}", flush=True)
        train_arguments = ["train", "--json"] + [part for item in overrides for part in ("--set", item)]
        output, train_wall, train_cpu = lab(workspace, *train_arguments)
        result = json.loads(output)
        summary = result["metrics"]
        # The job runs in a process of its own session that this one does not reap: its CPU time
        # comes from its summary.
        train_cpu += summary.get("cpu_seconds") or 0.0
        print(f"train: {train_wall:.1f} s wall, {train_cpu:.1f} s CPU ({summary.get('steps')} steps in "
              f"{summary.get('train_seconds')} s, loss {summary.get('train_loss'):.4f}, eval_loss "
              f"{summary.get('eval_loss'):.4f}); {load()}", flush=True)
        print(f"build + train: {build_wall + train_wall:.1f} s wall, {build_cpu + train_cpu:.1f} s CPU",
              flush=True)
        scores = {}
        for mode in ("generate", "score"):
            scores[mode] = evaluate(workspace, result["run_dir"], eval_data, mode, model)
            figures = scores[mode]
            print(f"{mode}: {figures['rows']} rows; base accuracy {figures['base']:.3f} "
                  f"(valid {figures['base_valid']:.3f}); "
                  f"fine-tuned accuracy {figures['tuned']:.3f} (valid {figures['tuned_valid']:.3f}, "
                  f"ROC AUC {figures['tuned_roc_auc']}); McNemar p {figures['mcnemar_p']:.2e}; "
                  f"TF-IDF baseline {figures['tfidf']}; {figures['seconds']} s", flush=True)
        if not args.data:
            checks = shortcut_checks(workspace / "demo" / "train.jsonl")
            print("shortcut checks (5-fold CV on train, chance 0.5): "
                  f"speaker names {checks['speaker_names']:.3f}, "
                  f"length {checks['length']:.3f}", flush=True)
        print(f"fine-tuned accuracy {scores['generate']['tuned']:.3f}")
    finally:
        if not args.workspace and not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
