"""The embedded demo dataset: format, determinism, balance, and above all no shortcut features.

The leak tests train real sklearn models on the generated rows: if a speaker-name, length or
single-word rule could tell scams from ordinary talk, a fine-tuned model would learn that
instead of reading the dialogue. The audit's own TF-IDF baseline must score well but not
solve the demo: the hard pairs leave it at chance, so a fine-tuned model has something to add.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

from core.demo.dataset import SPLITS, ensure_demo_dataset, generate_demo, render_pair, write_demo
from core.demo.fraud import FRAUD_SCRIPTS
from core.demo.pairs import PAIR_SCRIPTS

REPO = Path(__file__).resolve().parents[2]
FIELDS = {"instruction", "input", "label", "fraud_speaker", "reason", "fraud_type"}
FRAUD_TYPES = {"刷单返利", "冒充客服", "投资理财/杀猪盘", "网络贷款", "虚假购物/虚假票务", "冒充公检法",
               "冒充熟人/领导借钱", "游戏装备交易", "冒充工作人员收费"}
PAIR_KINDS = {"冒充工作人员收费", "日常-亲友借钱"}


@pytest.fixture(scope="module")
def demo():
    return generate_demo(seed=42, size=2000)


@pytest.fixture(scope="module")
def rows(demo):
    return [row for name in SPLITS for row in demo[name]]


def turns_of(row):
    return [line.split(": ", 1) for line in row["input"].split("\n")]


def speakers_of(row):
    return [speaker for speaker, _ in turns_of(row)]


# ---------------------------------------------------------------- format and determinism
def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path):
    first = write_demo(tmp_path / "a", seed=3, size=300)
    second = write_demo(tmp_path / "b", seed=3, size=300)
    other = write_demo(tmp_path / "c", seed=4, size=300)
    for name in SPLITS:
        assert first[name].read_bytes() == second[name].read_bytes()
        assert first[name].read_bytes() != other[name].read_bytes()


def test_output_does_not_depend_on_the_interpreter_hash_seed():
    script = ("import hashlib, json; from core.demo.dataset import generate_demo; "
              "print(hashlib.sha256(json.dumps(generate_demo(5, 200), "
              "ensure_ascii=False).encode()).hexdigest())")
    digests = set()
    for hash_seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=environment,
                                capture_output=True, text=True, check=True)
        digests.add(result.stdout.strip())
    local = hashlib.sha256(json.dumps(generate_demo(5, 200), ensure_ascii=False).encode()).hexdigest()
    assert digests == {local}


def test_rows_have_the_data_format(rows):
    for row in rows:
        assert set(row) == FIELDS
        assert row["instruction"] == ""
        assert isinstance(row["label"], bool)
        turns = turns_of(row)
        assert 2 <= len(turns) <= 12, row["input"]
        for turn in turns:
            assert len(turn) == 2 and turn[0] and turn[1].strip(), row["input"]
        assert "{" not in row["input"] and "}" not in row["input"], row["input"]


def test_split_sizes_and_label_balance(demo):
    assert [len(demo[name]) for name in SPLITS] == [1600, 200, 200]
    for name in SPLITS:
        positives = sum(row["label"] for row in demo[name])
        assert abs(positives - len(demo[name]) / 2) <= 2, (name, positives)


def test_small_and_odd_sizes_keep_the_total(tmp_path):
    for size in (2, 11, 51):
        splits = generate_demo(seed=1, size=size)
        all_rows = [row for name in SPLITS for row in splits[name]]
        assert len(all_rows) == size
        assert sum(row["label"] for row in all_rows) == size // 2
    with pytest.raises(ValueError, match="at least 2"):
        generate_demo(size=1)


def test_no_duplicate_inputs(rows):
    counts = Counter(row["input"] for row in rows)
    assert [text for text, count in counts.items() if count > 1] == []


def test_generating_2000_rows_is_fast():
    started = time.process_time()
    generate_demo(seed=9, size=2000)
    assert time.process_time() - started < 2.0


# ---------------------------------------------------------------- labels, speakers, reasons
def test_positive_rows_name_a_speaker_of_the_dialogue_and_a_reason(rows):
    positives = [row for row in rows if row["label"]]
    for row in positives:
        assert row["fraud_speaker"] in speakers_of(row), row
        assert row["fraud_type"] in FRAUD_TYPES
        assert len(row["reason"]) >= 20 and row["fraud_speaker"] in row["reason"], row
    # Reasons come from each script's red flags, not one fixed sentence.
    distinct = {row["reason"].replace(row["fraud_speaker"], "某人") for row in positives}
    assert len(distinct) > 200
    assert {row["fraud_type"] for row in positives} == FRAUD_TYPES


def test_negative_rows_have_no_speaker_or_reason(rows):
    for row in (row for row in rows if not row["label"]):
        assert row["fraud_speaker"] == "" and row["reason"] == ""
        assert row["fraud_type"].startswith("日常-")


def test_every_fraud_script_gives_its_scammer_a_required_turn():
    for script in FRAUD_SCRIPTS + PAIR_SCRIPTS:
        assert any(item.role == "S" and not item.optional for item in script.beats), script.kind


def test_reasons_name_only_schemes_the_dialogue_shows(rows):
    # Test row 13 of the old generator: an order-risk-control scam whose reason said 游戏诈骗.
    evidence = {"游戏": ("王者荣耀", "原神", "和平精英", "梦幻西游", "英雄联盟", "逆水寒"),
                "公检法": ("公安", "检察院", "民警", "警官", "社保局", "经侦"),
                "刷单": ("刷单", "任务", "佣金", "返利"), "贷款": ("贷", "放款", "借款"),
                "投资": ("投资", "理财", "收益", "股票", "外汇", "项目", "黄金", "数字货币", "分红", "荐股",
                       "涨停")}
    for row in (row for row in rows if row["label"]):
        for word, signs in evidence.items():
            if word in row["reason"]:
                assert any(sign in row["input"] for sign in signs), (word, row)


def test_no_placeholder_text_is_left_in_dialogues_or_reasons(rows):
    # The old generator left 「〇〇」 in 66% of positive rows: a mark of the class that no real
    # dialogue has. Nor may an unfilled template slot ({name}) or a stand-in name (某某, XX) remain.
    marks = ("〇", "某某", "XX", "{", "}", "None")
    for row in rows:
        text = row["input"] + row["reason"] + row["fraud_speaker"]
        assert not [mark for mark in marks if mark in text], row


def test_every_type_gets_a_fair_share(rows):
    for label in (True, False):
        counts = Counter(row["fraud_type"] for row in rows if row["label"] == label)
        assert min(counts.values()) >= 0.4 * (1000 / len(counts)), counts


def test_hard_negatives_share_the_scam_vocabulary(rows):
    ordinary = [row["input"] for row in rows if not row["label"]]
    scams = [row["input"] for row in rows if row["label"]]
    for word in ("转账", "验证码", "安全账户", "保证金", "解冻", "退款", "客服", "下载", "贷款", "投资",
                 "账户", "平台"):
        assert sum(word in text for text in ordinary) >= 0.02 * len(ordinary), word
        assert sum(word in text for text in scams) > 0, word


def test_both_classes_use_the_same_kinds_of_speaker_names(rows):
    def share(label, test):
        selected = [row for row in rows if row["label"] == label]
        return sum(any(test(name) for name in speakers_of(row)) for row in selected) / len(selected)

    def numbered(name):
        return name.startswith("发言人")

    def titled(name):
        return name.startswith("客服") or name.endswith(("总", "经理", "警官", "老师", "专员"))

    for test in (numbered, titled):
        scam_share, ordinary_share = share(True, test), share(False, test)
        assert scam_share > 0.05 and ordinary_share > 0.05
        assert abs(scam_share - ordinary_share) < 0.08


# ---------------------------------------------------------------- no shortcut features
def test_speaker_names_alone_do_not_predict_the_label(rows):
    features = CountVectorizer(analyzer=speakers_of).fit_transform(rows)
    labels = [row["label"] for row in rows]
    accuracy = cross_val_score(LogisticRegression(max_iter=1000), features, labels, cv=5).mean()
    assert accuracy < 0.65, accuracy


def test_length_alone_does_not_predict_the_label(rows):
    features = np.array([[len(row["input"]), len(turns_of(row))] for row in rows])
    labels = [row["label"] for row in rows]
    accuracy = cross_val_score(DecisionTreeClassifier(max_depth=4, random_state=0), features, labels,
                               cv=5).mean()
    assert accuracy < 0.65, accuracy
    lengths = {label: np.array([len(row["input"]) for row in rows if row["label"] == label])
               for label in (True, False)}
    for quantile in (10, 25, 50, 75, 90):
        scam, ordinary = (np.percentile(lengths[label], quantile) for label in (True, False))
        assert abs(scam - ordinary) <= 0.05 * ordinary, (quantile, scam, ordinary)


def test_no_single_character_ngram_gives_the_label_away(rows):
    positives = sum(row["label"] for row in rows)
    negatives = len(rows) - positives
    in_scams, in_ordinary = Counter(), Counter()
    for row in rows:
        text = row["input"]
        grams = {text[start:start + n] for n in (1, 2, 3) for start in range(len(text) - n + 1)}
        (in_scams if row["label"] else in_ordinary).update(grams)
    # Rule "contains w -> scam": right on scams with w and on ordinary rows without w.
    best_scam_rule = max((in_scams[w] + negatives - in_ordinary[w], w) for w in in_scams)
    best_ordinary_rule = max((in_ordinary[w] + positives - in_scams[w], w) for w in in_ordinary)
    assert best_scam_rule[0] / len(rows) <= 0.75, best_scam_rule
    assert best_ordinary_rule[0] / len(rows) <= 0.75, best_ordinary_rule


def test_the_audit_baseline_scores_well_but_does_not_solve_the_demo(demo):
    from core.audit.baseline import baseline_predictions
    from core.data.records import Record

    def records(split):
        return [Record(input=row["input"], label=row["label"]) for row in demo[split]]

    predictions, _ = baseline_predictions(records("train"), records("test"))
    correct = [guess == row["label"] for guess, row in zip(predictions, demo["test"])]
    accuracy = sum(correct) / len(correct)
    paired = [ok for ok, row in zip(correct, demo["test"]) if row["fraud_type"] in PAIR_KINDS
              or (row["label"] and "亲友的身份" in row["reason"]) or row["fraud_type"] == "冒充工作人员收费"]
    print(f"TF-IDF baseline: test accuracy {accuracy:.3f}, "
          f"on {len(paired)} hard-pair rows {sum(paired) / len(paired):.3f}")
    assert 0.75 <= accuracy <= 0.92
    assert sum(paired) / len(paired) < 0.65  # chance on the rows that need reading


def test_the_rows_of_a_hard_pair_differ_in_one_turn_and_in_no_ngram_count():
    import random

    rng = random.Random(3)
    for index in range(200):
        scam, genuine = render_pair(rng, PAIR_SCRIPTS[index % len(PAIR_SCRIPTS)])
        assert (scam["label"], genuine["label"]) == (True, False)
        texts = [[line.split(": ", 1)[1] for line in row["input"].split("\n")] for row in (scam, genuine)]
        assert len(texts[0]) == len(texts[1])
        assert sum(first != second for first, second in zip(*texts)) == 1

        def grams(lines):
            text = "\n".join(lines)
            return Counter(text[start:start + n] for n in (1, 2, 3) for start in range(len(text) - n + 1))

        # Speaker names aside, a bag of character 1-3-grams cannot tell the two rows apart.
        assert grams(texts[0]) == grams(texts[1])


# ---------------------------------------------------------------- files
def test_ensure_demo_dataset_writes_once_and_loads(tmp_path):
    from core.data.records import load_records

    paths = ensure_demo_dataset(tmp_path)
    assert set(paths) == set(SPLITS)
    assert all(path.parent == tmp_path / "demo" for path in paths.values())
    lines = paths["train"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1600
    first = json.loads(lines[0])
    assert first["fraud_type"] in lines[0] and "\\u" not in lines[0]  # Chinese as is, not escapes

    for name, path in paths.items():
        loaded = load_records(path, strict=True)
        assert len(loaded.records) == {"train": 1600, "validation": 200, "test": 200}[name]
        assert loaded.label_counts()["true"] == len(loaded.records) // 2

    # Existing files are kept (a user may have edited them); a missing one brings regeneration.
    paths["test"].write_text(paths["test"].read_text(encoding="utf-8").splitlines()[0] + "\n",
                             encoding="utf-8")
    assert ensure_demo_dataset(tmp_path) == paths
    assert len(paths["test"].read_text(encoding="utf-8").splitlines()) == 1
    paths["validation"].unlink()
    ensure_demo_dataset(tmp_path)
    assert len(paths["test"].read_text(encoding="utf-8").splitlines()) == 200
    assert len(paths["validation"].read_text(encoding="utf-8").splitlines()) == 200
