"""The Chinese page words every audit finding from its kind and numbers (lab.i18n.finding_text), on
the demo dataset's real audit and on small datasets planted with every other kind of finding."""
from __future__ import annotations

import random
import re

import pytest

from core.audit.report import audit
from core.data.records import Record, load_records
from lab.i18n import finding_text

# Every wording core.audit.findings has: (kind, case); the baseline and length have one each.
CASES = {("balance", "one_label"), ("balance", "skewed"), ("balance", "shift"), ("length", None),
         ("label_word", "best_rule"), ("label_word", "strong_terms"), ("speaker", "rule"),
         ("speaker", "label_words"), ("duplicates", "cross_exact"), ("duplicates", "cross_near"),
         ("duplicates", "within_exact"), ("duplicates", "within_near"), ("duplicates", "within_conflicts"),
         ("duplicates", "cross_conflicts"), ("baseline", None)}
FILLER = "天地人你我他山水火木金土日月星云风雨花草鸟鱼车马书画歌舞春夏秋冬东西南北上下左右"
NAMES = ["张伟", "李娜", "王强", "刘洋", "陈静", "杨磊", "赵敏", "黄军", "周涛", "吴芳"]
MEETING = [f"发言人{number}" for number in range(1, 8)]
# English words the Chinese wording keeps on purpose (a measure's and a unit's names).
KEPT = {"Jaccard", "token", "F1", "macro"}
# The wordings of a dataset with label names (N classes).
CLASS_CASES = {("balance", "empty_classes"), ("balance", "class_skewed"), ("balance", "class_shift"),
               ("label_word", "class_rule"), ("label_word", "class_terms")}


def _dialogue(rng: random.Random, turns: int, names=NAMES, word: str = "") -> str:
    speakers = rng.sample(names, 2)
    lines = ["".join(rng.choice(FILLER) for _ in range(rng.randint(10, 20))) + "。" for _ in range(turns)]
    if word:
        lines[rng.randrange(turns)] += word
    return "\n".join(f"{speakers[turn % 2]}: {line}" for turn, line in enumerate(lines))


def _edit(text: str, rng: random.Random) -> str:
    characters = list(text)
    for _ in range(2):
        characters[rng.randrange(len(characters))] = rng.choice(FILLER)
    return "".join(characters)


@pytest.fixture(scope="module")
def demo_findings(demo_splits):
    train = load_records(demo_splits["train"]).records
    test = load_records(demo_splits["test"]).records
    return audit(train, test, seed=0).findings


@pytest.fixture(scope="module")
def planted_findings():
    """A skewed train split with a label word and speaker names holding one, an all-fraud test split;
    then a split pair with copies inside and across splits, fraud dialogues twice as long and ordinary
    talk mostly between 发言人N."""
    rng = random.Random(0)
    train = []
    for line in range(1, 301):
        label = rng.random() < 0.15
        names = ["骗子甲", "骗子乙"] if label and rng.random() < 0.5 else NAMES
        train.append(Record(input=_dialogue(rng, 4, names, "兑换码" if label else ""), label=label,
                            line=line))
    test = [Record(input=_dialogue(rng, 4, NAMES, "兑换码"), label=True, line=line) for line in range(1, 41)]
    leaks = audit(train, test, seed=0).findings

    def row(index: int) -> Record:  # fraud twice as long; most ordinary talk in a meeting's names
        names = NAMES if index % 2 or rng.random() < 0.3 else MEETING
        return Record(input=_dialogue(rng, 8 if index % 2 else 3, names), label=bool(index % 2),
                      line=index + 1)

    train, test = [row(index) for index in range(300)], [row(index) for index in range(120)]
    for index in range(6):  # exact copies across splits, the first with the other label
        test[index] = Record(input=train[index].input, label=train[index].label != (index == 0),
                             line=index + 1)
    for index in range(6, 12):  # near copies across splits
        test[index] = Record(input=_edit(train[20 + index].input, rng), label=train[20 + index].label,
                             line=index + 1)
    train[299] = Record(input=train[50].input, label=train[50].label, line=300)  # a repeat inside train
    train[298] = Record(input=_edit(train[51].input, rng), label=train[51].label, line=299)  # a near one
    copies = audit(train, test, seed=0).findings
    return leaks + copies


def _case(finding) -> tuple:
    return finding.kind, finding.details.get("case")


def _data_values(details) -> list[str]:
    """Text a finding quotes from the data (split names, terms, speaker names, the baseline's model)."""
    if isinstance(details, dict):
        return [text for key, value in details.items() if key not in ("case", "unit", "term_kind")
                for text in _data_values(value)]
    if isinstance(details, (list, tuple)):
        return [text for value in details for text in _data_values(value)]
    return [details] if isinstance(details, str) else []


def _assert_worded_in_chinese(finding):
    chinese = finding_text(finding, "zh")
    assert chinese != finding.message and re.search(r"[\u4e00-\u9fff]", chinese), finding
    left = chinese
    for value in sorted(_data_values(finding.details), key=len, reverse=True):
        left = left.replace(value.replace(" ", "␣"), "").replace(value, "")
    english = set(re.findall(r"[A-Za-z]{2,}", left)) - KEPT
    assert not english, (english, chinese)
    # It says what core says: every number of core's English wording is in the Chinese one.
    numbers = re.findall(r"\d+(?:\.\d+)?%?", finding.message)
    assert all(number in chinese for number in numbers), (numbers, chinese)
    assert finding_text(finding, "en") == finding.message or finding.kind == "baseline"


def test_the_demo_datasets_findings_are_worded_in_chinese(demo_findings):
    assert len(demo_findings) >= 4 and any(finding.kind == "baseline" for finding in demo_findings)
    for finding in demo_findings:
        _assert_worded_in_chinese(finding)


def test_every_kind_of_finding_is_worded_in_chinese(demo_findings, planted_findings):
    findings = demo_findings + planted_findings
    assert {_case(finding) for finding in findings} == CASES
    for finding in findings:
        _assert_worded_in_chinese(finding)
    leaked = next(finding for finding in planted_findings if _case(finding) == ("speaker", "label_words"))
    assert "骗子甲" in finding_text(leaked, "zh")  # the names themselves, as the data has them
    one_label = next(finding for finding in planted_findings if _case(finding) == ("balance", "one_label"))
    assert finding_text(one_label, "zh").startswith("test 只有正例（诈骗）行（40 行）")


def test_a_finding_this_page_does_not_know_keeps_cores_words():
    from core.audit.findings import Finding

    finding = Finding("low", "something_new", "a new kind of finding", {"value": 3})
    assert finding_text(finding, "zh") == finding_text(finding, "en") == "a new kind of finding"


@pytest.fixture(scope="module")
def class_findings(session_workspace):
    """The review demo's audit (three classes), and a planted one: a rare class, a class absent from
    test, words that give two classes away, copies across splits with another class."""
    from core.demo.reviews import MAPPING, ensure_review_dataset

    paths = ensure_review_dataset(session_workspace)
    reviews = audit(load_records(paths["train"], mapping=MAPPING).records,
                    load_records(paths["test"], mapping=MAPPING).records, seed=0,
                    label_names=MAPPING.label_names).findings
    rng = random.Random(1)

    def row(label: int, line: int) -> Record:
        words = [rng.choice(FILLER) for _ in range(rng.randint(12, 24))]
        if rng.random() < 0.7:
            words.insert(rng.randrange(len(words)), ("兑换码", "退款单", "")[label])
        return Record(input="".join(words) + "。", label=label, line=line)

    train = [row(0 if index % 9 < 5 else 1 if index % 9 < 8 else 2, index + 1) for index in range(270)]
    test = [row(index % 2, index + 1) for index in range(60)]
    for index in range(3):  # copies across splits with another class
        test[index] = Record(input=train[index * 9].input, label=1, line=index + 1)
    train[269] = Record(input=train[1].input, label=2, line=270)  # a copy inside train, another class
    planted = audit(train, test, seed=0, label_names=("甲类", "乙类", "丙类")).findings
    return reviews + planted


def test_a_dataset_with_label_names_has_its_findings_worded_in_chinese(class_findings):
    assert CLASS_CASES <= {_case(finding) for finding in class_findings}
    for finding in class_findings:
        _assert_worded_in_chinese(finding)
    baseline = next(finding for finding in class_findings if finding.kind == "baseline")
    assert "macro-F1" in finding_text(baseline, "zh") and "macro-F1" in finding_text(baseline, "en")
    copies = [finding for finding in class_findings if _case(finding) == ("duplicates", "cross_conflicts")]
    assert copies and all("标签不同" in finding_text(finding, "zh") for finding in copies)
