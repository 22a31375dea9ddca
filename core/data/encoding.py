"""Record -> chat-template token ids with label masks.

The prompt is rendered by the tokenizer's own chat template, so the ids are exactly what the
model sees at inference (`apply_chat_template(..., add_generation_prompt=True)`). `labels` are
-100 on every prompt token and equal `input_ids` on the answer tokens and on the end-of-turn
token that closes the answer; what the template puts after that token (Qwen's "\n") is dropped,
since the model never has to predict it.

When prompt + answer exceed `max_length`, the dialogue is shortened and the answer kept whole:
cutting the sequence's tail (what the notebooks did) drops the answer and trains on nothing.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field, replace

from core.data.answers import answer_text
from core.data.records import Record

IGNORE_INDEX = -100

DEFAULT_INSTRUCTION = (
    "你是一个分析诈骗案例的专家，你的任务是分析下面对话内容是否存在经济诈骗(is_fraud:<bool>)，"
    "最后以json格式输出你的判断结果。"
)
DEFAULT_INSTRUCTION_WITH_REASON = (
    "你是一个分析诈骗案例的专家，你的任务是分析下面对话内容是否存在经济诈骗(is_fraud:<bool>)，"
    "如果存在经济诈骗，请找出正在进行诈骗行为的发言者姓名(fraud_speaker:<str>)，"
    "并给出你的分析理由(reason:<str>)，最后以json格式输出。"
)
TRUNCATION_SIDES = ("keep_end", "keep_start")
# The user message is a template over the instruction and the dialogue. A row that carries its own
# instruction is kept byte for byte as the seeds' notebooks built it (instruction + input, e.g. an
# instruction that starts and ends with "\n"): a checkpoint trained there must see the same prompt here.
ROW_TEMPLATE = "{instruction}{input}"
# The lab's default instruction (or one set for the whole run) is a bare sentence: a line break parts
# it from the dialogue.
LAB_TEMPLATE = "{instruction}\n{input}"
TEMPLATE_FIELDS = ("instruction", "input")


def check_prompt_template(template: str) -> None:
    """ValueError in words unless `template` is a str.format text over {instruction} and {input}."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise ValueError(f"prompt template {template!r} cannot be read ({error}); a literal brace is "
                         "written {{ or }}") from None
    unknown = sorted(set(names) - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValueError(f"prompt template {template!r} names {', '.join('{' + n + '}' for n in unknown)}; "
                         "only {instruction} and {input} are filled in (a literal brace is written {{ or }})")
    if "input" not in names:
        raise ValueError(f"prompt template {template!r} has no {{input}}: the dialogue would be left out")


def generic_instruction(label_names) -> str:
    """The default instruction of a dataset with label names (no fraud wording)."""
    return (f"请判断下面文本属于哪一类（label: {' / '.join(label_names)}），"
            "最后以json格式输出你的判断结果。")


@dataclass(frozen=True)
class EncodeOptions:
    with_reason: bool = False
    instruction: str | None = None  # overrides the row's own instruction for a whole run
    system: str | None = None  # None: the template's default system prompt
    max_length: int = 1024
    truncation: str = "keep_end"  # which part of a too-long dialogue survives
    # None: ROW_TEMPLATE for a row's own instruction, LAB_TEMPLATE for the default or a run's instruction.
    prompt_template: str | None = None
    label_names: tuple[str, ...] = ()  # a non-fraud dataset's classes (core.data.mapping); empty = fraud

    def __post_init__(self):
        if self.prompt_template is not None:
            check_prompt_template(self.prompt_template)
        if self.truncation not in TRUNCATION_SIDES:
            raise ValueError(f"truncation must be one of {TRUNCATION_SIDES}, got {self.truncation!r}")
        if self.max_length < 16:
            raise ValueError(f"max_length must be at least 16, got {self.max_length}")


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    prompt_length: int
    truncated: bool
    text: str
    dialogue: str  # the dialogue as encoded (shortened when truncated)
    untruncated_length: int  # tokens the row needs without truncation
    attention_mask: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.attention_mask:
            self.attention_mask = [1] * len(self.input_ids)

    @property
    def num_trained(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def instruction_for(record: Record, options: EncodeOptions) -> str:
    if options.instruction is not None and options.instruction.strip():
        return options.instruction.strip()
    if record.instruction.strip():
        return record.instruction  # verbatim: its leading and trailing line breaks are part of the prompt
    if options.label_names:
        return generic_instruction(options.label_names)
    return DEFAULT_INSTRUCTION_WITH_REASON if options.with_reason else DEFAULT_INSTRUCTION


def template_for(record: Record, options: EncodeOptions) -> str:
    """The prompt template this row is rendered with (the run's, else the default for its instruction)."""
    if options.prompt_template is not None:
        return options.prompt_template
    own = record.instruction.strip() and not (options.instruction and options.instruction.strip())
    return ROW_TEMPLATE if own else LAB_TEMPLATE


def user_message(record: Record, options: EncodeOptions, dialogue: str | None = None) -> str:
    return template_for(record, options).format(instruction=instruction_for(record, options),
                                                input=record.input if dialogue is None else dialogue)


def build_messages(record: Record, options: EncodeOptions, dialogue: str | None = None,
                   with_answer: bool = True) -> list[dict]:
    messages = []
    if options.system is not None:
        messages.append({"role": "system", "content": options.system})
    messages.append({"role": "user", "content": user_message(record, options, dialogue)})
    if with_answer:
        messages.append({"role": "assistant",
                         "content": answer_text(record, options.with_reason, options.label_names)})
    return messages


def _template_ids(tokenizer, messages: list[dict], generation_prompt: bool) -> list[int]:
    # transformers 5 returns a BatchEncoding unless return_dict=False.
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False,
                                              add_generation_prompt=generation_prompt))


def _answer_ids(tokenizer, prompt_ids: list[int], full_ids: list[int], answer: str) -> list[int]:
    """Answer tokens plus the end-of-turn token, as the template tokenizes them in context."""
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError("this chat template renders the prompt differently with and without the "
                         "answer; its masks cannot be aligned")
    answer_only = tokenizer.encode(answer, add_special_tokens=False)
    tail = full_ids[len(prompt_ids):]
    if tail[: len(answer_only)] != answer_only or len(tail) <= len(answer_only):
        raise ValueError("the answer does not tokenize the same inside the chat template")
    return tail[: len(answer_only) + 1]


def _shorten(tokenizer, dialogue: str, drop_tokens: int, side: str) -> str:
    ids = tokenizer.encode(dialogue, add_special_tokens=False)
    keep = max(0, len(ids) - drop_tokens)
    kept = ids[len(ids) - keep:] if side == "keep_end" else ids[:keep]
    # A byte-level cut can split a character; drop the broken piece rather than show U+FFFD.
    return tokenizer.decode(kept).strip("\ufffd")


def _fit(tokenizer, record: Record, options: EncodeOptions, budget: int, with_answer: bool):
    """Render, shortening the dialogue until the ids fit in `budget`. Returns ids and the dialogue."""
    dialogue = record.input
    prompt_ids = _template_ids(tokenizer, build_messages(record, options, dialogue, False), True)
    extra = 0
    if with_answer:
        answer = answer_text(record, options.with_reason, options.label_names)
        full_ids = _template_ids(tokenizer, build_messages(record, options, dialogue, True), False)
        extra = len(_answer_ids(tokenizer, prompt_ids, full_ids, answer))
    needed = len(prompt_ids) + extra
    untruncated = needed
    attempts = 0
    while needed > budget:
        attempts += 1
        if not dialogue or attempts > 8:
            raise ValueError(f"max_length {options.max_length} is too small: the instruction and answer "
                             f"alone need {needed} tokens")
        dialogue = _shorten(tokenizer, dialogue, needed - budget + attempts - 1, options.truncation)
        prompt_ids = _template_ids(tokenizer, build_messages(record, options, dialogue, False), True)
        needed = len(prompt_ids) + extra
    return prompt_ids, dialogue, untruncated


def encode(tokenizer, record: Record, options: EncodeOptions) -> Encoded:
    """Prompt + answer + end-of-turn, labels masked on the prompt, never longer than max_length."""
    prompt_ids, dialogue, untruncated = _fit(tokenizer, record, options, options.max_length, True)
    answer = answer_text(record, options.with_reason, options.label_names)
    full_ids = _template_ids(tokenizer, build_messages(record, options, dialogue, True), False)
    answer_ids = _answer_ids(tokenizer, prompt_ids, full_ids, answer)
    input_ids = prompt_ids + answer_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + answer_ids
    return Encoded(input_ids=input_ids, labels=labels, prompt_length=len(prompt_ids),
                   truncated=dialogue != record.input, text=tokenizer.decode(input_ids),
                   dialogue=dialogue, untruncated_length=untruncated)


def answer_reserve(options: EncodeOptions) -> int:
    """Tokens kept free after a prompt for the model's answer at inference."""
    return 192 if options.with_reason else 16


def special_wrapping(tokenizer) -> tuple[list[int], list[int]]:
    """The special ids the tokenizer puts before and after a text (BERT: [CLS] / [SEP]), read off
    one probe: transformers 5 tokenizers no longer expose build_inputs_with_special_tokens."""
    probe = tokenizer.encode("a", add_special_tokens=False)
    full = tokenizer.encode("a", add_special_tokens=True)
    for start in range(len(full) - len(probe) + 1):
        if full[start:start + len(probe)] == probe:
            return full[:start], full[start + len(probe):]
    return [], []


def encode_text(tokenizer, record: Record, options: EncodeOptions) -> Encoded:
    """An encoder's input: `[CLS] text [SEP]` (the tokenizer's own special tokens), the text cut to
    max_length on the `truncation` side. No instruction: an encoder learns the task in its head."""
    ids = tokenizer.encode(record.input, add_special_tokens=False)
    before, after = special_wrapping(tokenizer)
    specials = len(before) + len(after)
    keep = max(0, options.max_length - specials)
    if len(ids) <= keep:
        kept = ids
    else:
        kept = ids[len(ids) - keep:] if options.truncation == "keep_end" else ids[:keep]
    input_ids = before + kept + after
    dialogue = record.input if len(kept) == len(ids) else tokenizer.decode(kept)
    return Encoded(input_ids=input_ids, labels=[IGNORE_INDEX] * len(input_ids), prompt_length=len(input_ids),
                   truncated=len(kept) < len(ids), text=tokenizer.decode(input_ids), dialogue=dialogue,
                   untruncated_length=len(ids) + specials)


def prompt_budget(options: EncodeOptions) -> int:
    """Most tokens of a generation prompt: max_length less the room kept for the answer."""
    return max(8, options.max_length - answer_reserve(options))


def encode_prompt(tokenizer, record: Record, options: EncodeOptions) -> Encoded:
    """The generation prompt alone (ends with the assistant header), room left for the answer.
    A tokenizer without a chat template (an encoder's) gets the plain text (`encode_text`)."""
    if not getattr(tokenizer, "chat_template", None):
        return encode_text(tokenizer, record, options)
    budget = prompt_budget(options)
    prompt_ids, dialogue, untruncated = _fit(tokenizer, record, options, budget, False)
    return Encoded(input_ids=prompt_ids, labels=[IGNORE_INDEX] * len(prompt_ids),
                   prompt_length=len(prompt_ids), truncated=dialogue != record.input,
                   text=tokenizer.decode(prompt_ids), dialogue=dialogue, untruncated_length=untruncated)


def token_view(tokenizer, encoded: Encoded) -> list[dict]:
    """One entry per token: id, its text, trained or masked, special or not (for the Tokenize tab).

    A Chinese character often spans several byte-level tokens, and decoding one such token alone
    gives U+FFFD. So text is decoded from the last clean boundary: a token that ends mid-character
    gets "" and the token that completes the character carries it. The texts join to the full text.
    """
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    view = []
    boundary = 0
    for position, (token_id, label) in enumerate(zip(encoded.input_ids, encoded.labels)):
        pending = tokenizer.decode(encoded.input_ids[boundary: position + 1])
        if pending.endswith("\ufffd") and position + 1 < len(encoded.input_ids):
            piece = ""
        else:
            emitted = "".join(entry["text"] for entry in view[boundary:])
            piece = pending[len(emitted):]
            boundary = position + 1
        view.append({"id": token_id, "text": piece, "trained": label != IGNORE_INDEX,
                     "special": token_id in special})
    return view


def with_options(options: EncodeOptions, **changes) -> EncodeOptions:
    return replace(options, **changes)
