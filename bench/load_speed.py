"""Rows per second of `load_records` on 200,000-row JSONL, JSON-list and CSV files.

The files are written to a temporary folder (never into the repository), rows resampled from
../shared/data/fraud_dialogues when it exists, else synthetic. Each format is timed side by side
with the plain library parse of the same file (json.loads per line, json.load, csv.DictReader),
which validates nothing: the floor any loader stands on. The last line is the worst ratio
lab / plain over the three formats (rows/s, higher is better, 1.0 = as fast as the bare parse).

    python -m bench.load_speed [--rows 200000] [--repeat 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import random
import tempfile
import time
from pathlib import Path

from bench.audit_speed import build_rows
from core.data.records import load_records

FIELDS = ("instruction", "input", "label", "fraud_speaker", "reason")


def full_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows, _ = build_rows(count, seed)
    speakers = ["张伟", "李娜", "王强", "刘洋"]
    return [{"instruction": "下面是一段对话，判断其中是否存在诈骗。", "input": row.input, "label": row.label,
             "fraud_speaker": rng.choice(speakers) if row.label else "",
             "reason": "对方要求转账并索要验证码。" if row.label else ""} for row in rows]


def write_files(rows: list[dict], folder: Path) -> dict[str, Path]:
    jsonl = folder / "rows.jsonl"
    jsonl.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    json_list = folder / "rows.json"
    json_list.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    csv_file = folder / "rows.csv"
    csv_file.write_text(buffer.getvalue(), encoding="utf-8")
    return {"JSONL": jsonl, "JSON list": json_list, "CSV": csv_file}


def plain_parse(kind: str, path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    if kind == "JSONL":
        return len([json.loads(line) for line in text.split("\n") if line.strip()])
    if kind == "JSON list":
        return len(json.loads(text))
    return len(list(csv.DictReader(io.StringIO(text))))


def best_seconds(work, repeat: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - started)
    return best, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N, alternating lab and plain")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path,
                        help="write the files here and keep them (default: a temp folder)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fraud-lab-load-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        files = write_files(full_rows(args.rows, args.seed), folder)
        ratios = []
        for kind, path in files.items():
            lab = plain = (float("inf"), 0)
            for _ in range(args.repeat):  # alternating, so machine load hits both alike
                lab = min(lab, best_seconds(lambda: len(load_records(path).records), 1))
                plain = min(plain, best_seconds(lambda: plain_parse(kind, path), 1))
            assert lab[1] == plain[1] == args.rows, (kind, lab, plain)
            lab_speed, plain_speed = args.rows / lab[0], args.rows / plain[0]
            ratios.append(lab_speed / plain_speed)
            print(f"{kind:9} {path.stat().st_size / 1e6:6.1f} MB  load_records {lab[0]:6.2f} s = "
                  f"{lab_speed:9,.0f} rows/s   plain parse {plain[0]:6.2f} s = {plain_speed:9,.0f} rows/s   "
                  f"ratio {lab_speed / plain_speed:.2f}")
    print(f"worst ratio lab/plain (rows/s): {min(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
