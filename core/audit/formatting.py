"""Plain-English text rendering of an AuditReport (the CLI's default output)."""
from __future__ import annotations

from core.audit.findings import percent, shows, short_label

TERMS_SHOWN = 10
EXAMPLES_SHOWN = 6


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _findings(report) -> list[str]:
    lines = ["Findings"]
    if not report.findings:
        lines.append("  none")
    for finding in report.findings:
        lines.append(f"  [{finding.severity.upper():6}] {finding.kind}: {finding.message}")
    return lines


def _balance(report) -> list[str]:
    lines = ["Balance"]
    if report.label_names:
        for split in report.balance:
            counts = "  ".join(f"{name} {count} ({percent(split.shares[name])})"
                               for name, count in split.counts.items())
            lines.append(f"  {split.split:5}  {split.rows:6} rows  {counts}")
        return lines
    for split in report.balance:
        lines.append(f"  {split.split:5}  {split.rows:6} rows  {split.positives:6} positive  "
                     f"{split.negatives:6} negative  ({percent(split.positive_ratio)} positive)")
    return lines


def _length(length) -> list[str]:
    if length is None:
        return []
    lines = [f"Length ({length.unit}) by label"]
    for split, by_label in length.stats.items():
        for label, stats in by_label.items():
            if stats is None:
                continue
            lines.append(
                f"  {split:5} {label:5}  n={stats.count:<6} mean {stats.mean:7.1f}  median "
                f"{stats.median:7.1f}  p25 {stats.p25:7.1f}  p75 {stats.p75:7.1f}  min {stats.minimum}  max "
                f"{stats.maximum}"
            )
    cut = ""
    if length.threshold is not None:
        cut = (f"; depth-1 cut at {length.threshold:.1f} ({short_label(length.label_above)} above, "
               f"train accuracy {_number(length.stump_accuracy)})")
    lines.append(
        f"  length-only tree: CV accuracy {_number(length.cv_accuracy)} ± {_number(length.cv_std)}, test "
        f"{_number(length.test_accuracy)}, majority {_number(length.majority_rate)}{cut}"
    )
    return lines


def _class_words(words) -> list[str]:
    if words is None:
        return []
    lines = ["Label-giving terms per class (each class against the others; log-odds z with informative "
             "Dirichlet prior)"]
    for name, scores in words.by_class.items():
        lines.append(f"  {name} ({words.counts.get(name, 0)} training rows)")
        for score in scores[:TERMS_SHOWN]:
            lines.append(f"    {shows(score.term):12} in {score.positives:5} {name} rows, "
                         f"{score.negatives:5} others  precision {score.precision:.2f}  coverage "
                         f"{score.coverage:.2f}  z {score.z_score:+.1f}")
    for name, best in words.best_rules.items():
        if best is None:
            continue
        test = f", test {_number(best.test_accuracy)}" if best.test_accuracy is not None else ""
        lines.append(f"  best one-term rule for {name}: {shows(best.term)} present -> {name}, absent -> "
                     f"another class; train accuracy {_number(best.rule_accuracy)}{test} (majority "
                     f"{_number(words.majority_rates[name])})")
    return lines


def _terms(title: str, scores) -> list[str]:
    lines = [f"  {title}"]
    for score in scores[:TERMS_SHOWN]:
        lines.append(
            f"    {shows(score.term):12} -> {short_label(score.label):8} pos {score.positives:5} neg "
            f"{score.negatives:5}  precision {score.precision:.2f}  coverage {score.coverage:.2f}  rule "
            f"{score.rule_accuracy:.2f}  z {score.z_score:+.1f}"
        )
    return lines


def _words(words) -> list[str]:
    if words is None:
        return []
    lines = ["Label-giving terms (log-odds z with informative Dirichlet prior)"]
    lines += _terms("character n-grams", words.char_ngrams)
    lines += _terms("jieba words", words.words)
    best = words.best_rule
    if best is not None:
        test = f", test {_number(best.test_accuracy)}" if best.test_accuracy is not None else ""
        lines.append(
            f"  best one-term rule: {shows(best.term)} present -> {short_label(best.label)}, absent -> "
            f"{short_label(best.label_when_absent)}; train accuracy {_number(best.rule_accuracy)}{test} "
            f"(majority {_number(words.majority_rate)})"
        )
    lines += [f"  note: {note}" for note in words.notes]
    return lines


def _speakers(speakers) -> list[str]:
    if speakers is None:  # a dataset with label names: no speaker turns to check
        return []
    lines = [f"Speakers ({speakers.rows_with_speakers} of {speakers.rows} training rows have 'name:' turns)"]
    for pattern in speakers.patterns[:TERMS_SHOWN]:
        flag = " one-class" if pattern.one_class else ""
        word = f" label word {pattern.label_word}" if pattern.label_word else ""
        lines.append(f"    {shows(pattern.pattern):14} pos {pattern.positives:5} neg "
                     f"{pattern.negatives:5}{flag}{word}")
    lines.append(
        f"  speaker rule ({', '.join(speakers.rule_patterns) or 'no leaky pattern'}): CV accuracy "
        f"{_number(speakers.rule_cv_accuracy)} ± {_number(speakers.rule_cv_std)}, test "
        f"{_number(speakers.rule_test_accuracy)}, majority {_number(speakers.majority_rate)}"
    )
    return lines


def _duplicates(duplicates, label_names=None) -> list[str]:
    def named(label) -> str:
        return label_names[int(label)] if label_names else short_label(label)

    lines = [f"Duplicates (exact after normalising; near = Jaccard >= {duplicates.threshold} on char "
             "3-grams)"]
    if duplicates.near_search_capped:
        lines.append("  the near-copy search stopped at its limit of candidate pairs: near counts are "
                     "lower bounds")
    for name, split in duplicates.splits.items():
        lines.append(
            f"  {name:5} exact: {split.exact_extra_rows} repeated rows in {split.exact_groups} groups "
            f"({split.exact_conflicting_groups} with both labels); near: {split.near_pairs} pairs over "
            f"{split.near_rows} rows ({split.near_conflicting_pairs} with both labels)"
        )
    cross = duplicates.cross
    if cross is not None:
        lines.append(
            f"  test vs train: {cross.exact_test_rows} exact ({percent(cross.exact_fraction)}, "
            f"{cross.exact_conflicting_rows} other label), {cross.near_test_rows} near "
            f"({percent(cross.near_fraction)}, {cross.near_conflicting_rows} other label)"
        )
    for pair in duplicates.examples[:EXAMPLES_SHOWN]:
        mark = " CONFLICT" if pair.conflict else ""
        lines.append(f"    {pair.kind} {pair.similarity:.2f}{mark}: {pair.first.split}:{pair.first.line} "
                     f"({named(pair.first.label)}) ~ {pair.second.split}:{pair.second.line} "
                     f"({named(pair.second.label)})  {pair.first.preview[:50]}")
    return lines


def _cv_sample_note(baseline) -> str:
    from core.audit.baseline import BASELINE_CV_MAX_ROWS

    sampled = (baseline.cv_rows or 0) >= BASELINE_CV_MAX_ROWS
    return f" (a stratified sample of {baseline.cv_rows} rows)" if sampled else ""


def _baseline(baseline) -> list[str]:
    lines = [f"Baseline: {baseline.model}"]
    macro = "macro-" if baseline.average == "macro" else ""
    lines.append(
        f"  {baseline.cv_folds}-fold CV on train{_cv_sample_note(baseline)}: "
        f"accuracy {_number(baseline.cv_accuracy)} ± {_number(baseline.cv_accuracy_std)},"
        f" {macro}F1 {_number(baseline.cv_f1)} ± {_number(baseline.cv_f1_std)}"
    )
    if baseline.test is not None:
        test = baseline.test
        lines.append(
            f"  train -> test: accuracy {test['accuracy']:.3f}  {macro}precision {test['precision']:.3f}  "
            f"{macro}recall {test['recall']:.3f}  {macro}F1 {test['f1']:.3f}"
        )
    return lines


def format_text(report) -> str:
    header = f"Dataset audit: {report.train_rows} training rows"
    header += f", {report.test_rows} test rows" if report.test_rows else ""
    sections = [
        [header],
        _findings(report),
        _balance(report),
        _length(report.length_chars),
        _length(report.length_tokens),
        _words(report.label_words),
        _class_words(report.class_words),
        _speakers(report.speakers),
        _duplicates(report.duplicates, report.label_names),
        _baseline(report.baseline),
        ["Timing: " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.timings.items())],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)
