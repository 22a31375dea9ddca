"""Is model B better than model A on the same rows? McNemar's exact test and a paired bootstrap."""
from __future__ import annotations

import numpy as np
from scipy import stats


def _correct(gold: list[bool], predicted: list[bool | None]) -> np.ndarray:
    # An invalid answer (None) is wrong, as in core.eval.metrics.classification_metrics.
    # int(): a bool verdict is class 0/1, a class of a dataset with label names its index.
    return np.array([guess is not None and int(guess) == int(label)
                     for label, guess in zip(gold, predicted)],
                    dtype=bool)


def compare_pair(gold: list[bool], predicted_a: list[bool | None], predicted_b: list[bool | None],
                 seed: int = 0, resamples: int = 2000, confidence: float = 0.95) -> dict:
    """Row-by-row comparison of two models' is_fraud answers on the same rows.

    `fixed`: rows A got wrong and B got right; `broken`: the reverse. McNemar's exact test is
    the two-sided binomial test of the discordant rows against 1/2. The interval is the
    percentile bootstrap of accuracy(B) - accuracy(A) resampling rows (paired: one row
    carries both answers).
    """
    if not (len(gold) == len(predicted_a) == len(predicted_b)):
        raise ValueError(f"lists of different lengths: gold {len(gold)}, a {len(predicted_a)}, "
                         f"b {len(predicted_b)}")
    if not gold:
        raise ValueError("no rows to compare")
    correct_a, correct_b = _correct(gold, predicted_a), _correct(gold, predicted_b)
    fixed = np.flatnonzero(~correct_a & correct_b).tolist()
    broken = np.flatnonzero(correct_a & ~correct_b).tolist()
    discordant = len(fixed) + len(broken)
    p_value = float(stats.binomtest(len(fixed), discordant, 0.5).pvalue) if discordant else 1.0
    accuracy_a, accuracy_b = float(correct_a.mean()), float(correct_b.mean())
    difference = correct_b.astype(float) - correct_a.astype(float)
    if len(gold) > 1 and np.ptp(difference) > 0:
        interval = stats.bootstrap((difference,), np.mean, n_resamples=resamples, method="percentile",
                                   confidence_level=confidence,
                                   rng=np.random.default_rng(seed)).confidence_interval
        low, high = float(interval.low), float(interval.high)
    else:
        # Every resample of a constant difference is that constant.
        low = high = float(difference.mean())
    return {
        "rows": len(gold),
        "accuracy_a": accuracy_a, "accuracy_b": accuracy_b, "difference": accuracy_b - accuracy_a,
        "interval": [low, high], "confidence": confidence, "resamples": resamples, "seed": seed,
        "fixed": fixed, "broken": broken, "discordant": discordant, "mcnemar_p": p_value,
    }
