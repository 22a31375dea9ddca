"""Seeded generator of the embedded demo dataset: Chinese dialogues, half of them scams.

Everything random goes through one `random.Random(seed)`, so a seed always gives byte-identical
files. Scripts live in demo_fraud.py (scams), demo_ordinary.py (everyday talk), demo_genuine.py
(genuine calls that sound like scams) and demo_pairs.py (hard pairs: a scam and a genuine
conversation that differ in one turn); names, amounts and padding turns are shared by both
classes (demo_templates.py) so that only the content separates them.
"""

from __future__ import annotations

import random
from pathlib import Path

from core.demo.fraud import FRAUD_SCRIPTS
from core.demo.genuine import GENUINE_SCRIPTS
from core.demo.ordinary import ORDINARY_SCRIPTS
from core.demo.pairs import PAIR_SCRIPTS
from core.demo.templates import (
    ACK_FILLERS, END_FILLERS, MID_FILLERS, SCAMMER, VICTIM, Beat, Script, SlotValues, fill, speaker_names,
)

SPLITS = ("train", "validation", "test")
SPLIT_SHARES = {"validation": 0.1, "test": 0.1}
# Share of all rows that come from hard pairs (half scams, half their genuine twins).
PAIR_SHARE = 0.3
NEGATIVE_SCRIPTS = ORDINARY_SCRIPTS + GENUINE_SCRIPTS
# Drawn once per dialogue for both classes: the turn count alone must not hint at the label.
TURN_WEIGHTS = {2: 6, 3: 9, 4: 11, 5: 12, 6: 12, 7: 11, 8: 10, 9: 8, 10: 7, 11: 6, 12: 5}
MAX_FILLERS = 2
LENGTH_BIN = 20
POOL_FACTOR = 2

TYPE_NOTES = {
    "刷单返利": ("这是典型的刷单返利诈骗", "符合先小额返利、再诱导垫付的刷单骗局特征"),
    "冒充客服": ("这是典型的冒充客服诈骗", "正规客服退款理赔不会要求转账或提供验证码"),
    "投资理财/杀猪盘": ("符合投资理财诈骗的特征", "这是先建立信任再诱导投资的杀猪盘套路"),
    "网络贷款": ("这是典型的网络贷款诈骗", "正规贷款放款前不会收取任何费用"),
    "虚假购物/虚假票务": ("符合虚假购物或票务诈骗的特征", "脱离正规平台私下付款是常见的购物骗局"),
    "冒充公检法": ("这是典型的冒充公检法诈骗", "公检法机关不会在电话里办案，也没有所谓的安全账户"),
    "冒充熟人/领导借钱": ("这是冒充熟人或领导借钱的诈骗", "未经核实身份就要求转账是典型的冒充熟人诈骗"),
    "游戏装备交易": ("这是典型的游戏交易诈骗", "绕开官方平台交易或索要验证码是游戏诈骗的常见手法"),
}
OUTCOME_NOTES = {
    "comply": ("{V}已经准备按要求操作，面临资金损失的风险。", "{V}被说服后打算配合，很可能造成财产损失。"),
    "hesitate": ("{V}虽有疑虑，但仍在被对方不断施压。", "{V}犹豫不决，对方仍在持续诱导。"),
    "refuse": ("{V}识破并拒绝了对方，但{S}的诈骗意图十分明显。", "尽管{V}没有上当，{S}的行为仍属于诈骗。"),
}


def _pick_beats(rng: random.Random, beats: tuple[Beat, ...], target_turns: int) -> list[Beat]:
    """Keep every required beat, then optional units (a beat or a group) while they fit."""
    units: dict[object, list[int]] = {}
    for index, item in enumerate(beats):
        if item.optional:
            units.setdefault(item.group or f"single-{index}", []).append(index)
    budget = target_turns - sum(1 for item in beats if not item.optional)
    chosen: set[int] = set()
    unit_list = list(units.values())
    rng.shuffle(unit_list)
    for unit in unit_list:
        if len(unit) <= budget:
            chosen.update(unit)
            budget -= len(unit)
    return [item for index, item in enumerate(beats) if not item.optional or index in chosen]


def _join_flags(flags: list[str]) -> str:
    if len(flags) == 1:
        return flags[0]
    return "，".join(flags[:-1]) + "，并" + flags[-1]


def _reason(rng: random.Random, script: Script, flags: dict[str, bool], outcome: str, names: dict[str, str]) -> str:
    """One or two sentences from the red flags shown; flags of required beats (the request) stay.

    The closing note comes from the script itself where it has one, so that a reason never
    names a scheme the dialogue does not show.
    """
    ordered = list(flags)
    keep = {flag for flag, required in flags.items() if required}
    others = [flag for flag in ordered if flag not in keep]
    keep.update(rng.sample(others, min(len(others), max(0, 3 - len(keep)))))
    flags = [flag for flag in ordered if flag in keep]
    scammer, victim = names[SCAMMER], names[VICTIM]
    note = rng.choice(script.notes or TYPE_NOTES[script.kind])
    opening = rng.choice(("{S}{F}，{N}。", "对话中{S}{F}，{N}。", "{S}在对话中{F}，{N}。"))
    text = opening.format(S=scammer, F=_join_flags(flags), N=note)
    if outcome in OUTCOME_NOTES and rng.random() < 0.6:
        text += rng.choice(OUTCOME_NOTES[outcome]).format(S=scammer, V=victim)
    return text


def _add_fillers(rng: random.Random, turns: list[tuple[str, str]], main_roles: list[str], count: int) -> None:
    """Back-channel turns ("嗯，你说。") from the listener of a main speaker's turn."""
    fillers = MID_FILLERS + ACK_FILLERS + END_FILLERS
    for _ in range(count):
        gaps = [index for index in range(1, len(turns) + 1)
                if turns[index - 1][0] in main_roles and turns[index - 1][1] not in fillers
                and (index == len(turns) or turns[index][1] not in fillers)]
        if not gaps:
            return
        position = rng.choice(gaps)
        speaker = turns[position - 1][0]
        listener = main_roles[1] if speaker == main_roles[0] else main_roles[0]
        if position == len(turns):
            pool = END_FILLERS
        elif turns[position][0] == speaker:
            pool = MID_FILLERS
        elif turns[position][0] == listener:
            pool = ACK_FILLERS
        else:
            continue
        turns.insert(position, (listener, rng.choice(pool)))


def render_dialogue(rng: random.Random, script: Script, twin: bool = False,
                    names: dict[str, str] | None = None) -> dict:
    """One row from one script: names, kept beats, padding turns, and for scams the reason.

    `twin` renders the genuine twin of a pair script: its beats' `twin` lines replace their
    lines, every other draw is the same, so the same rng state gives the same conversation.
    `names` replaces the drawn speaker names (after drawing them, to keep the draws aligned).
    """
    fraud = script.is_fraud and not twin
    target_turns = rng.choices(list(TURN_WEIGHTS), list(TURN_WEIGHTS.values()))[0]
    drawn = speaker_names(rng, script.roles)
    names = names or drawn
    slots = SlotValues(rng, names, script.slots)
    ending = rng.choice(script.endings) if script.endings else None
    beats = script.beats + (ending.beats if ending else ())
    kept = _pick_beats(rng, beats, target_turns)
    topic = rng.randrange(1 << 30)

    turns: list[tuple[str, str]] = []
    flags: dict[str, bool] = {}  # red flag shown -> shown by a required beat
    for item in kept:
        index = topic % len(item.lines) if item.linked else rng.randrange(len(item.lines))
        lines = item.twin if twin and item.twin else item.lines
        turns.append((item.role, fill(lines[index], slots)))
        for flag in item.flags_of(index):
            flag = fill(flag, slots)
            flags[flag] = flags.get(flag, False) or not item.optional
    _add_fillers(rng, turns, list(script.roles)[:2], min(MAX_FILLERS, target_turns - len(turns)))

    dialogue = "\n".join(f"{names[role]}: {text}" for role, text in turns)
    kind = script.twin_kind if twin else script.kind
    row = {"instruction": "", "input": dialogue, "label": fraud, "fraud_speaker": "", "reason": "",
           "fraud_type": kind}
    if fraud:
        row["fraud_speaker"] = names[SCAMMER]
        row["reason"] = _reason(rng, script, flags, ending.outcome if ending else "", names)
    return row


def render_pair(rng: random.Random, script: Script) -> tuple[dict, dict]:
    """The scam and its genuine twin, rendered from the same draws: the same conversation
    between other people, differing in one turn. (Same names would make the pair a
    near-duplicate with both labels, which the audit rightly calls a labelling error.)"""
    twin_names = speaker_names(random.Random(rng.randrange(1 << 30)), script.roles)
    state = rng.getstate()
    genuine = render_dialogue(rng, script, twin=True, names=twin_names)
    rng.setstate(state)
    return render_dialogue(rng, script), genuine


def _rows_for(rng: random.Random, scripts: tuple[Script, ...], count: int, seen: set[str]) -> list[dict]:
    """`count` rows spread evenly over the scripts' kinds, no input repeated."""
    by_kind: dict[str, list[Script]] = {}
    for script in scripts:
        by_kind.setdefault(script.kind, []).append(script)
    kinds = list(by_kind)
    rows: list[dict] = []
    attempts = 0
    while len(rows) < count:
        attempts += 1
        if attempts > count * 50 + 100:
            raise RuntimeError(f"demo generator could not find {count} distinct dialogues")
        row = render_dialogue(rng, rng.choice(by_kind[kinds[len(rows) % len(kinds)]]))
        if row["input"] not in seen:
            seen.add(row["input"])
            rows.append(row)
    return rows


def _shape(row: dict) -> tuple[int, int]:
    return row["input"].count("\n") + 1, len(row["input"]) // LENGTH_BIN


def _length_matched(rng: random.Random, pairs_needed: int, seen: set[str]) -> tuple[list[dict], list[dict]]:
    """Equal numbers of scam and ordinary rows in every (turn count, length bin) cell.

    Templates alone never make the two length distributions identical, and a length-only
    classifier would pick up the rest; drawing both classes from a larger pool and keeping the
    overlap removes that shortcut by construction.
    """
    pools: tuple[list[dict], list[dict]] = ([], [])
    batch = pairs_needed * POOL_FACTOR
    for _ in range(20):
        pools[0].extend(_rows_for(rng, FRAUD_SCRIPTS, batch, seen))
        pools[1].extend(_rows_for(rng, NEGATIVE_SCRIPTS, batch, seen))
        cells: tuple[dict, dict] = ({}, {})
        for pool, cell in zip(pools, cells):
            for row in pool:
                cell.setdefault(_shape(row), []).append(row)
        pairs = [pair for key in sorted(cells[0], key=str) if key in cells[1]
                 for pair in zip(cells[0][key], cells[1][key])]
        if len(pairs) >= pairs_needed:
            rng.shuffle(pairs)
            chosen = pairs[:pairs_needed]
            return [pair[0] for pair in chosen], [pair[1] for pair in chosen]
    raise RuntimeError(f"demo generator could not length-match {pairs_needed} pairs")


def _hard_pairs(rng: random.Random, count: int, seen: set[str]) -> list[tuple[dict, dict]]:
    """`count` (scam, genuine twin) pairs, spread evenly over the pair scripts."""
    pairs: list[tuple[dict, dict]] = []
    attempts = 0
    while len(pairs) < count:
        attempts += 1
        if attempts > count * 50 + 100:
            raise RuntimeError(f"demo generator could not find {count} distinct hard pairs")
        fraud, genuine = render_pair(rng, PAIR_SCRIPTS[len(pairs) % len(PAIR_SCRIPTS)])
        if fraud["input"] not in seen and genuine["input"] not in seen:
            seen.update((fraud["input"], genuine["input"]))
            pairs.append((fraud, genuine))
    return pairs


def _split_units(rng: random.Random, units: list, splits: dict[str, list[dict]]) -> None:
    """Deal `units` (lists of rows kept together) 80/10/10 into the splits."""
    rng.shuffle(units)
    start = 0
    for name in ("validation", "test"):
        length = round(len(units) * SPLIT_SHARES[name])
        for unit in units[start:start + length]:
            splits[name].extend(unit)
        start += length
    for unit in units[start:]:
        splits["train"].extend(unit)


def generate_demo(seed: int = 42, size: int = 2000) -> dict[str, list[dict]]:
    """Balanced rows split 80/10/10 into train/validation/test, stratified by label.

    Both rows of a hard pair go to the same split, so a test pair is new to the model as a
    whole and its genuine twin never sits in training next to the scam it mirrors.
    """
    if size < 2:
        raise ValueError(f"demo size must be at least 2, got {size}")
    rng = random.Random(seed)
    seen: set[str] = set()
    pair_count = round(size * PAIR_SHARE / 2)
    pairs = _hard_pairs(rng, pair_count, seen)
    fraud_count, ordinary_count = size // 2 - pair_count, size - size // 2 - pair_count
    fraud, ordinary = _length_matched(rng, max(fraud_count, ordinary_count), seen)
    splits: dict[str, list[dict]] = {name: [] for name in SPLITS}
    for rows in (fraud[:fraud_count], ordinary[:ordinary_count]):
        _split_units(rng, [[row] for row in rows], splits)
    _split_units(rng, [list(pair) for pair in pairs], splits)
    for rows in splits.values():
        rng.shuffle(rows)
    return splits


def write_demo(out_dir: Path, seed: int = 42, size: int = 2000) -> dict[str, Path]:
    from core.workspace import write_jsonl

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, rows in generate_demo(seed, size).items():
        # Atomic: a split cut short by a kill would otherwise be taken as the demo from then on.
        paths[name] = write_jsonl(out_dir / f"{name}.jsonl", rows)
    return paths


def ensure_demo_dataset(workspace: Path) -> dict[str, Path]:
    """The demo files under `workspace/demo`, generated with the default seed when any is missing."""
    from core.workspace import Workspace

    out_dir = Workspace(workspace).demo_dir
    paths = {name: out_dir / f"{name}.jsonl" for name in SPLITS}
    if not all(path.is_file() for path in paths.values()):
        return write_demo(out_dir)
    return paths
