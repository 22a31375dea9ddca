"""Label-giving words per class of the three-class review demo: each class's strongest terms come
from its own opinion phrases, never from another class's."""
from __future__ import annotations

from core.audit.class_words import class_label_words
from core.demo.reviews import LABEL_NAMES, OPINIONS, generate_reviews


def test_each_class_is_given_away_by_its_own_opinion_words():
    rows = generate_reviews()["train"]
    labels = [LABEL_NAMES.index(row["label"]) for row in rows]
    found = class_label_words([row["review"] for row in rows], labels, LABEL_NAMES)
    assert list(found) == list(LABEL_NAMES)
    for name, terms in found.items():
        assert all(term.z_score > 0 for term in terms), name
        certain = [term.term.strip("，。！") for term in terms[:8] if term.precision == 1.0]
        assert len(certain) >= 3, (name, certain)
        own = "|".join(OPINIONS[name])
        others = "|".join("|".join(phrases) for other, phrases in OPINIONS.items() if other != name)
        for term in certain:  # a term that only this class's rows hold is one of its opinion words
            assert term in own and term not in others, (name, term)
