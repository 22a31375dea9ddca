"""Time the dataset audit on 30,000 dialogues (~170 characters each, like the real data).

Rows are resampled from ../shared/data/fraud_dialogues/*.jsonl with a few random character
edits when that folder exists, else drawn from a small synthetic generator. Prints each stage's
wall and CPU seconds and the process's peak memory (resident set, sampled every 20 ms while the
audit runs, and the kernel's high-water mark); the last line is the total.

    python -m bench.audit_speed [--rows 30000] [--test-fraction 0.2] [--seed 0]
    python -m bench.audit_speed --rows 200000    # the scale goal: under 4 GB and 2 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import threading
import time
from dataclasses import dataclass

from core.audit.report import audit
from core.env import REPO_ROOT

SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "fraud_dialogues"
EDIT_CHARACTERS = "的了是我你他在有这那个们就也都和"


@dataclass(frozen=True)
class Row:
    input: str
    label: bool
    line: int = 0


def real_rows() -> list[tuple[str, bool]]:
    rows = []
    for path in sorted(SHARED_DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                if isinstance(record.get("input"), str) and record["input"].strip():
                    rows.append((record["input"], bool(record["label"])))
    return rows


def synthetic_rows(rng: random.Random, count: int) -> list[tuple[str, bool]]:
    names = ["张伟", "李娜", "王强", "刘洋", "陈静", "杨磊", "赵敏", "黄军"]
    phrases = [
        "你好，最近怎么样", "我们明天开会讨论一下项目进度", "请把验证码发给我", "您的账户存在风险需要转账",
        "周末一起去爬山吧", "这个投资回报率很高", "快递已经到了楼下", "请点击这个链接领取奖品",
        "孩子的作业写完了吗", "银行卡被冻结了需要解冻费", "晚饭想吃什么", "公司安排了体检",
    ]
    rows = []
    for _ in range(count):
        turns = [f"{rng.choice(names)}: {rng.choice(phrases)}。{rng.choice(phrases)}。"
                 for _ in range(rng.randint(3, 6))]
        rows.append(("\n".join(turns), rng.random() < 0.5))
    return rows


def edited(text: str, rng: random.Random) -> str:
    characters = list(text)
    for _ in range(rng.randint(1, 4)):
        if not characters:
            break
        position = rng.randrange(len(characters))
        action = rng.random()
        if action < 0.5:
            characters[position] = rng.choice(EDIT_CHARACTERS)
        elif action < 0.75:
            del characters[position]
        else:
            characters.insert(position, rng.choice(EDIT_CHARACTERS))
    return "".join(characters)


def build_rows(count: int, seed: int) -> tuple[list[Row], str]:
    rng = random.Random(seed)
    pool = real_rows() if SHARED_DATA.exists() else []
    source = f"resampled from {len(pool)} rows of {SHARED_DATA}" if pool else "synthetic generator"
    if not pool:
        pool = synthetic_rows(rng, 5000)
    rows = []
    for index in range(count):
        text, label = rng.choice(pool)
        rows.append(Row(edited(text, rng), label, index + 1))
    return rows, source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30000)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rows, source = build_rows(args.rows, args.seed)
    test_count = int(round(args.rows * args.test_fraction))
    train, test = rows[test_count:], rows[:test_count] or None
    characters = sum(len(row.input) for row in rows) / max(len(rows), 1)
    print(f"{len(rows)} rows ({len(train)} train, {test_count} test), {characters:.0f} characters each on "
          f"average; {source}")

    with PeakMemory() as memory:
        wall, cpu = time.perf_counter(), time.process_time()
        report = audit(train, test, seed=args.seed)
        total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu

    for stage, seconds in report.timings.items():
        print(f"{stage:20} {seconds:7.2f} s wall  {report.cpu_timings[stage]:7.2f} s cpu")
    print("findings: " + ", ".join(f"{finding.severity}:{finding.kind}" for finding in report.findings))
    print(f"peak memory {memory.peak / 2**20:,.0f} MB resident during the audit "
          f"({memory.before / 2**20:,.0f} MB "
          f"before it, rows included); process high-water mark {memory.high_water() / 2**20:,.0f} MB")
    print(f"total {total_wall:.2f} s wall ({total_cpu:.2f} s cpu)")
    return 0


class PeakMemory:
    """The largest resident set size seen while the block runs, sampled by a thread."""

    def __init__(self, interval: float = 0.02):
        import psutil

        self.process, self.interval = psutil.Process(), interval
        self.before = self.peak = self.process.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @staticmethod
    def high_water() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


if __name__ == "__main__":
    raise SystemExit(main())
