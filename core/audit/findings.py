"""Turn the audit's measurements into findings a user can act on, with named thresholds.

A dataset with label names (report.label_names) gets the same kinds of finding worded for N classes;
each finding's `kind` and `details` (the numbers) let the page word it in its own language.
"""
from __future__ import annotations

from dataclasses import dataclass, field

HIGH, MEDIUM, LOW, INFO = "high", "medium", "low", "info"
SEVERITY_ORDER = {HIGH: 0, MEDIUM: 1, LOW: 2, INFO: 3}

# A shortcut only counts when it beats always answering the majority label by this much:
# on a 85/15 split every rule "scores" 85%.
MIN_GAIN_OVER_MAJORITY = 0.10
WORD_RULE_HIGH = 0.80
WORD_RULE_HIGH_WITH_COVERAGE = 0.75
WORD_RULE_HIGH_COVERAGE = 0.30
WORD_RULE_MEDIUM = 0.65
# Terms nearly exclusive to one label in a good share of its rows, listed even when no single
# one makes a strong rule: together they still teach the model a shortcut.
STRONG_TERM_PRECISION = 0.95
STRONG_TERM_COVERAGE = 0.15
STRONG_TERMS_LISTED = 5
STRONG_TERM_MAX_SHARED_WITH_BEST = 0.5  # beyond this a term is the best rule's shortcut again
LENGTH_HIGH = 0.75
LENGTH_MEDIUM = 0.65
SPEAKER_RULE_HIGH = 0.75
SPEAKER_RULE_MEDIUM = 0.65
SPEAKER_LABEL_WORD_FRACTION = 0.01  # names holding label words in >= 1% of rows
CROSS_EXACT_HIGH = 0.01  # share of test rows whose exact text is in train
CROSS_NEAR_MEDIUM = 0.05  # share of test rows with a near copy in train
WITHIN_EXACT_MEDIUM = 0.05  # share of a split's rows that repeat an earlier row
MINORITY_MEDIUM = 0.20
MINORITY_LOW = 0.35
RATIO_SHIFT_MEDIUM = 0.15  # |positive share of train - of test|
BASELINE_EASY = 0.95  # the bag-of-n-grams baseline already solves the task


@dataclass
class Finding:
    severity: str  # "high" | "medium" | "low" | "info"
    kind: str  # balance, length, label_word, speaker, duplicates, baseline
    message: str
    # The numbers behind the message; where a kind has several wordings, `case` names the one (the page
    # words each finding in its own language from these, lab.i18n.finding_text).
    details: dict = field(default_factory=dict)


def label_name(label: bool) -> str:
    return "positive (fraud)" if label else "negative"


def short_label(label: bool | str) -> str:
    """A bool label of the fraud schema in words; a class name (a dataset with label names) as it is."""
    if isinstance(label, str):
        return label
    return "positive" if label else "negative"


def percent(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if 0 < value < 0.1 else f"{100 * value:.0f}%"


def shows(term: str) -> str:
    return "「" + term.replace(" ", "␣") + "」"


def _rule_severity(accuracy, majority, high, medium, coverage=None) -> str:
    if accuracy is None or accuracy - majority < MIN_GAIN_OVER_MAJORITY:
        return INFO
    if accuracy >= high:
        return HIGH
    if (coverage is not None and accuracy >= WORD_RULE_HIGH_WITH_COVERAGE
            and coverage >= WORD_RULE_HIGH_COVERAGE):
        return HIGH
    return MEDIUM if accuracy >= medium else INFO


def class_balance_findings(balances) -> list[Finding]:
    """Balance of N classes: an empty class, a small class, class shares that differ between splits."""
    findings = []
    for split in balances:
        details = {"split": split.split, "rows": split.rows, "counts": split.counts, "shares": split.shares}
        if not split.rows:
            continue
        empty = [name for name, count in split.counts.items() if count == 0]
        if empty:
            effect = ("a classifier cannot learn them" if split.split == "train"
                      else "scores on it say nothing about them")
            findings.append(Finding(HIGH, "balance",
                                    f"{split.split} has no rows of class {', '.join(empty)}; {effect} — add "
                                    "rows of every class",
                                    {**details, "case": "empty_classes", "empty": empty}))
            continue
        smallest = min(split.shares, key=split.shares.get)
        # The binary thresholds scaled to N classes: a share compared with an even split's 1/N, as a
        # minority share is compared with 1/2 (the two agree for N = 2).
        scaled = split.shares[smallest] * len(split.shares) / 2
        severity = MEDIUM if scaled < MINORITY_MEDIUM else LOW if scaled < MINORITY_LOW else None
        if severity:
            findings.append(Finding(severity, "balance",
                                    f"{split.split} is skewed: class {smallest} has "
                                    f"{percent(split.shares[smallest])} of the rows "
                                    f"({split.counts[smallest]}); report macro-F1, not accuracy, or "
                                    "rebalance",
                                    {**details, "case": "class_skewed", "class": smallest}))
    if len(balances) == 2 and all(split.rows for split in balances):
        first, second = balances
        shifted = max(first.shares, key=lambda name: abs(first.shares[name] - second.shares[name]))
        shift = abs(first.shares[shifted] - second.shares[shifted])
        if shift >= RATIO_SHIFT_MEDIUM:
            findings.append(Finding(MEDIUM, "balance",
                                    f"the share of class {shifted} differs between {first.split} "
                                    f"({percent(first.shares[shifted])}) and {second.split} "
                                    f"({percent(second.shares[shifted])}); test scores will not reflect "
                                    "training conditions",
                                    {"case": "class_shift", "shift": shift, "class": shifted,
                                     "splits": [first.split, second.split],
                                     "shares": [first.shares[shifted], second.shares[shifted]]}))
    return findings


def balance_findings(balances) -> list[Finding]:
    findings = []
    for split in balances:
        details = {"split": split.split, "rows": split.rows, "positive_ratio": split.positive_ratio}
        if split.rows and (split.positives == 0 or split.negatives == 0):
            only = label_name(split.positives > 0)
            effect = ("a classifier cannot learn from it" if split.split == "train"
                      else "scores on it say nothing about the other label")
            findings.append(Finding(HIGH, "balance",
                                    f"{split.split} has only {only} rows ({split.rows}); {effect} — add rows "
                                    "of the other label",
                                    {**details, "case": "one_label", "label": split.positives > 0}))
            continue
        minority = min(split.positive_ratio, 1 - split.positive_ratio)
        severity = MEDIUM if minority < MINORITY_MEDIUM else LOW if minority < MINORITY_LOW else None
        if severity:
            findings.append(Finding(severity, "balance",
                                    f"{split.split} is skewed: {percent(split.positive_ratio)} positive "
                                    "rows; report F1/balanced accuracy, not accuracy, or rebalance",
                                    {**details, "case": "skewed"}))
    if len(balances) == 2 and all(split.rows for split in balances):
        shift = abs(balances[0].positive_ratio - balances[1].positive_ratio)
        if shift >= RATIO_SHIFT_MEDIUM:
            findings.append(Finding(MEDIUM, "balance",
                                    f"the positive share differs between {balances[0].split} "
                                    f"({percent(balances[0].positive_ratio)}) and {balances[1].split} "
                                    f"({percent(balances[1].positive_ratio)}); test scores will not reflect "
                                    "training conditions",
                                    {"case": "shift", "shift": shift,
                                     "splits": [balances[0].split, balances[1].split],
                                     "positive_ratios": [balances[0].positive_ratio,
                                                         balances[1].positive_ratio]}))
    return findings


def length_findings(report) -> list[Finding]:
    if report is None or report.cv_accuracy is None:
        return []
    severity = _rule_severity(report.cv_accuracy, report.majority_rate, LENGTH_HIGH, LENGTH_MEDIUM)
    side = ""
    if report.threshold is not None:
        side = (f"; rows longer than {report.threshold:.0f} {report.unit} are mostly "
                f"{short_label(report.label_above)}")
    test = f", {percent(report.test_accuracy)} on test" if report.test_accuracy is not None else ""
    unit = {"chars": "character", "tokens": "token"}.get(report.unit, report.unit)
    message = (f"{unit} length alone predicts the label with {percent(report.cv_accuracy)} accuracy "
               f"(CV{test}; majority {percent(report.majority_rate)}){side}")
    if severity in (HIGH, MEDIUM):
        message += " — balance lengths across labels or a model will learn length"
    return [Finding(severity, "length", message,
                    {"cv_accuracy": report.cv_accuracy, "threshold": report.threshold,
                     "test_accuracy": report.test_accuracy, "unit": report.unit,
                     "majority": report.majority_rate, "label_above": report.label_above})]


def _term_details(score) -> dict:
    """What `_term_message` says of a term, as numbers."""
    return {"term": score.term, "label": bool(score.label), "coverage": score.coverage,
            "other_rows": score.negatives if score.label else score.positives}


def _term_message(score, prefix="") -> str:
    other = score.negatives if score.label else score.positives
    other_label = short_label(not score.label)
    other_rows = f"in no {other_label} row" if other == 0 else f"in {other} {other_label} rows"
    return (f"{prefix}{shows(score.term)} appears in {percent(score.coverage)} of {short_label(score.label)} "
            f"rows and {other_rows}")


def word_findings(report) -> list[Finding]:
    findings = []
    best = report.best_rule if report else None
    if best is not None:
        severity = _rule_severity(best.rule_accuracy, report.majority_rate, WORD_RULE_HIGH, WORD_RULE_MEDIUM,
                                  best.coverage)
        test = f" ({percent(best.test_accuracy)} on test)" if best.test_accuracy is not None else ""
        rule = (f"predicting {short_label(best.label)} when it is present and "
                f"{short_label(best.label_when_absent)} otherwise scores {percent(best.rule_accuracy)}{test}")
        message = f"{_term_message(best, 'the ' + ('word ' if best.kind == 'word' else 'text '))}; {rule}"
        if severity in (HIGH, MEDIUM):
            message += " — a model can score this by looking for it alone; remove or balance it"
        else:
            message = f"best single-term rule: {message} (majority {percent(report.majority_rate)})"
        findings.append(Finding(severity, "label_word", message,
                                {**_term_details(best), "case": "best_rule",
                                 "rule_accuracy": best.rule_accuracy, "precision": best.precision,
                                 "test_accuracy": best.test_accuracy,
                                 "term_kind": best.kind, "label_when_absent": bool(best.label_when_absent),
                                 "majority": report.majority_rate}))
    strong = [
        score
        for score in (report.char_ngrams + report.words if report else [])
        if score.precision >= STRONG_TERM_PRECISION
        and score.coverage >= STRONG_TERM_COVERAGE
        and (best is None or (score.shared_with_best_rule or 0.0) <= STRONG_TERM_MAX_SHARED_WITH_BEST)
    ]
    listed, seen = [], set()
    for score in sorted(strong, key=lambda s: -s.coverage):
        if score.term not in seen and not any(score.term in other or other in score.term for other in seen):
            listed.append(score)
            seen.add(score.term)
    if listed[:STRONG_TERMS_LISTED]:
        parts = "; ".join(_term_message(score) for score in listed[:STRONG_TERMS_LISTED])
        findings.append(Finding(MEDIUM, "label_word", f"terms almost exclusive to one label: {parts}",
                                {"case": "strong_terms",
                                 "terms": [score.term for score in listed[:STRONG_TERMS_LISTED]],
                                 "scores": [_term_details(score) for score in listed[:STRONG_TERMS_LISTED]]}))
    return findings


def class_word_findings(report) -> list[Finding]:
    """Label-giving words of N classes: per class, its best one-term rule against the other classes
    (the binary thresholds, against that split's majority rate), and terms nearly exclusive to one class
    in a good share of its rows."""
    if report is None:
        return []
    findings, ruled = [], set()
    judged = []
    for name, best in report.best_rules.items():
        if best is None:
            continue
        majority = report.majority_rates[name]
        severity = _rule_severity(best.rule_accuracy, majority, WORD_RULE_HIGH, WORD_RULE_MEDIUM,
                                  best.coverage)
        judged.append((severity, name, best, majority))
    shown = [entry for entry in judged if entry[0] in (HIGH, MEDIUM)]
    if not shown and judged:  # nothing to act on: the strongest rule, said as information
        shown = [max(judged, key=lambda entry: entry[2].rule_accuracy - entry[3])]
    for severity, name, best, majority in shown:
        test = f" ({percent(best.test_accuracy)} on test)" if best.test_accuracy is not None else ""
        others = ("in no other class's row" if best.negatives == 0
                  else f"in {best.negatives} rows of other classes")
        message = (f"the text {shows(best.term)} points to class {name} in {percent(best.precision)} of its "
                   f"rows: it is in {percent(best.coverage)} of {name} rows and {others}; telling {name} "
                   f"from the other classes by it alone scores {percent(best.rule_accuracy)}{test} (majority "
                   f"{percent(majority)})")
        if severity in (HIGH, MEDIUM):
            message += " — a model can score this by looking for it alone; remove or balance it"
        else:
            message = f"best single-term rule: {message}"
        ruled.add(best.term)
        findings.append(Finding(severity, "label_word", message,
                                {"case": "class_rule", "term": best.term, "class": name,
                                 "rule_accuracy": best.rule_accuracy,
                                 "precision": best.precision, "coverage": best.coverage,
                                 "class_rows_with_term": best.positives,
                                 "other_rows_with_term": best.negatives,
                                 "test_accuracy": best.test_accuracy, "majority_rate": majority}))
    strong = []
    for name, scores in report.by_class.items():
        seen: set[str] = set(ruled)
        for score in sorted(scores, key=lambda s: -s.coverage):
            if (score.precision >= STRONG_TERM_PRECISION and score.coverage >= STRONG_TERM_COVERAGE
                    and not any(score.term in other or other in score.term for other in seen)):
                strong.append((name, score))
                seen.add(score.term)
    strong = sorted(strong, key=lambda pair: -pair[1].coverage)[:STRONG_TERMS_LISTED]
    if strong:
        parts = "; ".join(f"{shows(score.term)} points to class {name} in {percent(score.precision)} of its "
                          f"rows (in {percent(score.coverage)} of {name} rows)" for name, score in strong)
        findings.append(Finding(MEDIUM, "label_word", f"terms almost exclusive to one class: {parts}",
                                {"case": "class_terms",
                                 "terms": [{"term": score.term, "class": name, "precision": score.precision,
                                            "coverage": score.coverage} for name, score in strong]}))
    return findings


def _pattern_counts(pattern) -> str:
    label = pattern.positives > pattern.negatives
    other = min(pattern.positives, pattern.negatives)
    return (
        f"{shows(pattern.pattern)} names occur in {max(pattern.positives, pattern.negatives)} "
        f"{short_label(label)} rows and {other or 'no'} {short_label(not label)} "
        f"row{'' if other == 1 else 's'}"
    )


def speaker_findings(report) -> list[Finding]:
    if report is None or not report.rows_with_speakers:
        return []
    findings = []
    accuracy = max((value for value in (report.rule_cv_accuracy, report.rule_test_accuracy)
                    if value is not None), default=None)
    severity = _rule_severity(accuracy, report.majority_rate, SPEAKER_RULE_HIGH, SPEAKER_RULE_MEDIUM)
    if report.rule_patterns and severity in (HIGH, MEDIUM):
        leaky = [pattern for pattern in report.leaky if pattern.pattern in report.rule_patterns][:3]
        named = "; ".join(_pattern_counts(pattern) for pattern in leaky)
        test = (f", {percent(report.rule_test_accuracy)} on test" if report.rule_test_accuracy is not None
                else "")
        findings.append(Finding(severity, "speaker",
                                f"speaker names give the label away: {named}; a rule on speaker names scores "
                                f"{percent(report.rule_cv_accuracy)} (CV{test}) — rename speakers "
                                "consistently (e.g. A/B) in both labels",
                                {"case": "rule", "rule_patterns": report.rule_patterns,
                                 "cv_accuracy": report.rule_cv_accuracy,
                                 "test_accuracy": report.rule_test_accuracy,
                                 "named": [{"pattern": pattern.pattern, "positives": pattern.positives,
                                            "negatives": pattern.negatives} for pattern in leaky]}))
    worded = [p for p in report.label_word_names
              if p.positives + p.negatives >= SPEAKER_LABEL_WORD_FRACTION * report.rows]
    if worded:
        named = "; ".join(f"{shows(p.pattern)} ({', '.join(p.examples)}): {p.positives} positive / "
                          f"{p.negatives} negative rows" for p in worded[:4])
        findings.append(Finding(MEDIUM, "speaker",
                                f"speaker names contain label words: {named} — the answer is written in the "
                                "name; rename these speakers",
                                {"case": "label_words", "patterns": [p.pattern for p in worded],
                                 "named": [{"pattern": p.pattern, "examples": list(p.examples),
                                            "positives": p.positives, "negatives": p.negatives}
                                           for p in worded[:4]]}))
    return findings


def duplicate_findings(report, classes: bool = False) -> list[Finding]:
    """`classes`: a dataset with label names, whose conflicts are copies with different classes."""
    if report is None:
        return []
    both, other, rows = (("different labels", "another label", "texts") if classes
                         else ("both labels", "the other label", "dialogues"))
    findings = []
    cross = report.cross
    if cross is not None and cross.exact_test_rows:
        severity = HIGH if cross.exact_fraction > CROSS_EXACT_HIGH else MEDIUM
        conflict = (f" ({cross.exact_conflicting_rows} with {other} in train)"
                    if cross.exact_conflicting_rows else "")
        findings.append(Finding(severity, "duplicates",
                                f"{cross.exact_test_rows} test rows ({percent(cross.exact_fraction)}) also "
                                f"appear in train{conflict}; remove them from test or its scores measure "
                                "memory, not skill",
                                {"case": "cross_exact", "classes": classes,
                                 "exact_test_rows": cross.exact_test_rows,
                                 "fraction": cross.exact_fraction,
                                 "conflicting_rows": cross.exact_conflicting_rows}))
    if cross is not None and cross.near_test_rows:
        severity = MEDIUM if cross.near_fraction > CROSS_NEAR_MEDIUM else LOW
        findings.append(Finding(severity, "duplicates",
                                f"{cross.near_test_rows} more test rows ({percent(cross.near_fraction)}) are "
                                f"near copies (Jaccard >= {report.threshold}) of train rows; consider "
                                "removing them from test",
                                {"case": "cross_near", "near_test_rows": cross.near_test_rows,
                                 "fraction": cross.near_fraction, "threshold": report.threshold}))
    for name, split in report.splits.items():
        if split.exact_extra_rows:
            share = split.exact_extra_rows / max(split.rows, 1)
            severity = MEDIUM if share > WITHIN_EXACT_MEDIUM else LOW
            findings.append(Finding(severity, "duplicates",
                                    f"{name} repeats {split.exact_extra_rows} rows ({percent(share)}) in "
                                    f"{split.exact_groups} groups; deduplicate so repeated dialogues do not "
                                    "weigh more",
                                    {"case": "within_exact", "split": name,
                                     "extra_rows": split.exact_extra_rows, "share": share,
                                     "groups": split.exact_groups}))
        if split.near_pairs:
            effect = ("cross-validation folds will share them" if name == "train"
                      else "they count twice in its scores")
            findings.append(Finding(LOW, "duplicates",
                                    f"{name} has {split.near_pairs} near-duplicate pairs ({split.near_rows} "
                                    f"rows); {effect}",
                                    {"case": "within_near", "split": name, "near_pairs": split.near_pairs,
                                     "near_rows": split.near_rows}))
        conflicts = split.exact_conflicting_groups + split.near_conflicting_pairs
        if conflicts:
            findings.append(Finding(MEDIUM, "duplicates",
                                    f"{name} has {conflicts} duplicated {rows} with {both} "
                                    f"({split.exact_conflicting_groups} exact, "
                                    f"{split.near_conflicting_pairs} near); fix those labels",
                                    {"case": "within_conflicts", "classes": classes, "split": name,
                                     "conflicts": conflicts,
                                     "exact": split.exact_conflicting_groups,
                                     "near": split.near_conflicting_pairs}))
    if cross is not None and (cross.exact_conflicting_rows or cross.near_conflicting_rows):
        findings.append(Finding(MEDIUM, "duplicates",
                                f"{cross.exact_conflicting_rows + cross.near_conflicting_rows} test rows "
                                f"have a copy in train with {other}; one of each pair is mislabelled",
                                {"case": "cross_conflicts", "classes": classes,
                                 "exact": cross.exact_conflicting_rows,
                                 "near": cross.near_conflicting_rows}))
    return findings


def baseline_findings(report) -> list[Finding]:
    if report is None or report.cv_accuracy is None and report.test is None:
        return []
    parts = []
    f1 = "macro-F1" if getattr(report, "average", "binary") == "macro" else "F1"
    if report.cv_accuracy is not None:
        parts.append(f"accuracy {report.cv_accuracy:.3f} ± {report.cv_accuracy_std:.3f}, {f1} "
                     f"{report.cv_f1:.3f} ({report.cv_folds}-fold CV on train)")
    if report.test is not None:
        parts.append(f"accuracy {report.test['accuracy']:.3f}, {f1} {report.test['f1']:.3f} on test")
    best = max(value for value in (report.cv_accuracy, (report.test or {}).get("accuracy"))
               if value is not None)
    # A bag of n-grams that (nearly) solves the test set is the most important finding there is: the
    # labels can be read off surface wording, so a fine-tuned model's high accuracy on this data proves
    # nothing about reading the dialogue.
    severity = HIGH if best >= BASELINE_EASY else INFO
    tail = (" — the labels can be read off surface wording (label words, names, templates): a model that "
            "only matches words scores as well here, so accuracy on this test set cannot show that a "
            "fine-tuned model understands the dialogue; find what the baseline reads (the findings above) "
            "and fix the data, or test on dialogues written differently"
            if severity == HIGH else " — a fine-tuned model must beat this")
    if f1 == "macro-F1":  # a dataset with label names holds texts of any kind, not dialogues
        tail = tail.replace("the dialogue", "the text").replace("dialogues", "texts")
    return [Finding(severity, "baseline", f"baseline to beat ({report.model}): {'; '.join(parts)}{tail}",
                    {"model": report.model, "cv_accuracy": report.cv_accuracy,
                     "cv_accuracy_std": report.cv_accuracy_std, "cv_f1": report.cv_f1,
                     "cv_folds": report.cv_folds, "test": report.test, "best": best,
                     "average": getattr(report, "average", "binary")})]


def all_findings(report) -> list[Finding]:
    classes = bool(getattr(report, "label_names", None))
    findings = (
        (class_balance_findings(report.balance) if classes else balance_findings(report.balance))
        + speaker_findings(report.speakers)
        + (class_word_findings(report.class_words) if classes else word_findings(report.label_words))
        + length_findings(report.length_chars)
        + length_findings(report.length_tokens)
        + duplicate_findings(report.duplicates, classes)
        + baseline_findings(report.baseline)
    )
    return sorted(findings, key=lambda finding: SEVERITY_ORDER[finding.severity])
