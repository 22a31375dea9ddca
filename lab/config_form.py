"""Forms generated from a config's field specs: one component per field, values to and from a config.

The Train form (RunConfig), the Evaluate form (EvalConfig) and the Tokenize tab's prompt options
(DataSection's PROMPT_KEYS) each iterate `core.config.schema.field_specs` once: a field's type and
choices pick its component, its help becomes the component's info line, and `values_to_dict` turns
the components' values (in spec order) back into the mapping `config_from_dict` reads, so a wrong
value is a ConfigError naming its key, as in YAML or on the command line.
"""
from __future__ import annotations

import typing
from dataclasses import MISSING
from typing import Any, Sequence

import gradio as gr

from core.config.schema import FieldSpec, get_value
from lab.i18n import t


def field_label(key: str, language: str, prefix: str = "cfg") -> str:
    """The translated name of a field and its key, e.g. "Learning rate · train.learning_rate"."""
    name = t(f"{prefix}.{key}", language)
    return key if name == f"{prefix}.{key}" else f"{name} · {key}"


def _is_list(spec: FieldSpec) -> bool:
    return typing.get_origin(spec.base_type) is list


def _is_text(spec: FieldSpec) -> bool:
    """Shown in a Textbox: text, lists, floats and 'steps or epoch' fields."""
    return spec.base_type not in (bool, int) and not spec.choices


def to_form_value(spec: FieldSpec, value: Any, picked: bool = False) -> Any:
    """A config value as its component shows it; `picked` lists stay lists (a multiselect)."""
    if isinstance(value, (list, tuple)):
        return list(value) if picked else ",".join(str(item) for item in value)
    if value is None:
        return None if spec.base_type is int else ""
    if _is_text(spec) and not isinstance(value, str):
        return str(value)
    return value


def from_form_value(spec: FieldSpec, value: Any) -> Any:
    """A component's value as config_from_dict reads it. An empty optional field is "not set"; so is
    0 in an optional whole-number field (a Number box cannot be emptied on every browser)."""
    if spec.optional:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if spec.base_type is int and value == 0:
            return None
    if spec.base_type is float and isinstance(value, str):
        return value.strip()
    return value


def form_values(cfg, specs: Sequence[FieldSpec], picked: frozenset[str] = frozenset()) -> list:
    """The components' values for a config, in spec order."""
    return [to_form_value(spec, get_value(cfg, spec.key), spec.key in picked) for spec in specs]


def values_to_dict(specs: Sequence[FieldSpec], values: Sequence) -> dict:
    """The components' values (in spec order) as the nested mapping config_from_dict reads."""
    if len(values) != len(specs):
        raise ValueError(f"the form has {len(specs)} fields, got {len(values)} values")
    data: dict = {}
    for spec, value in zip(specs, values):
        *sections, leaf = spec.key.split(".")
        target = data
        for section in sections:
            target = target.setdefault(section, {})
        target[leaf] = from_form_value(spec, value)
    return data


def field_component(spec: FieldSpec, label: str, choices: list | None = None, default: Any = MISSING,
                    **extra):
    """The component of one field, showing `default` (the spec's own default unless given). For a text
    or list field, `choices` offers picks (a Dropdown that also takes typed values; a list field
    becomes a multiselect); for a field with a closed set of choices, `choices` may give them as
    (label, value) pairs in the page's language."""
    common = {"label": label, "info": spec.help, **extra}
    value = to_form_value(spec, spec.default if default is MISSING else default,
                          picked=choices is not None and not spec.choices)
    if spec.choices:
        return gr.Dropdown(choices or list(spec.choices), value=value, **common)
    if choices is not None:
        if _is_list(spec):
            return gr.Dropdown(choices, value=value or [], multiselect=True, allow_custom_value=True,
                               **common)
        return gr.Dropdown(choices, value=value, allow_custom_value=True, **common)
    if spec.base_type is bool:
        return gr.Checkbox(value, **common)
    if spec.base_type is int:
        return gr.Number(value, precision=0, **common)
    lines = 2 if spec.key.endswith(("instruction", "system", "prompt_template")) else 1
    return gr.Textbox(value, lines=lines, **common)
