"""The configs' text forms: YAML, `--set key=value`, the command line, and the values of a form.

`coerce` reads a value from any of them (YAML gives numbers or text, a form gives strings, numbers
or bools, `--set` gives text) as its field's type. Structure and types are checked here (an unknown
key with a suggestion, a wrong type); values against the world are checked in core.config.checks.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from core.config.schema import (EPOCH, SECTIONS, ConfigError, RunConfig, SweepSection, field_specs, get_value,
                                spec_table, unknown_key)


# -- coercion --------------------------------------------------------------------------------------
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _type_name(kind) -> str:
    return getattr(kind, "__name__", str(kind))


def coerce(key: str, value: Any, kind) -> Any:
    """`value` (from YAML, a form or a `--set` string) as the field's type, or ConfigError."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(kind)
        if type(None) in members:
            if value is None or (isinstance(value, str) and value.strip() in ("null", "~")):
                return None
            (inner,) = [member for member in members if member is not type(None)]
            return coerce(key, value, inner)
        # int | str: the only such fields take a step count or the word "epoch".
        if isinstance(value, str) and value.strip().lower() == EPOCH:
            return EPOCH
        try:
            return coerce(key, value, int)
        except ConfigError:
            raise ConfigError(key, f"expected a whole number of steps or '{EPOCH}', got {value!r}") from None
    if origin is list or kind is list:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}")
        (inner,) = typing.get_args(kind) or (str,)
        return [coerce(key, item, inner) for item in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(key, f"expected a whole number, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads "2e-4" (no dot) as text, so text numbers are normal here.
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(key, f"expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(key, f"expected text, got {value!r}")
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(key, f"cannot read a value of type {_type_name(kind)}")


# -- dict <-> config -------------------------------------------------------------------------------
def _section_from_dict(prefix: str, cls, data: Any, known_keys=()):
    """A dataclass of flat fields from a mapping; `prefix` ("lora") names the keys in errors."""
    if isinstance(data, cls):
        data = dataclasses.asdict(data)
    if not isinstance(data, dict):
        raise ConfigError(prefix,
                          f"expected a mapping of {', '.join(f.name for f in dataclasses.fields(cls))}, got "
                          f"{data!r}")
    hints = typing.get_type_hints(cls)
    known = {leaf.name for leaf in dataclasses.fields(cls)}
    name = (lambda key: f"{prefix}.{key}") if prefix else str
    values = {}
    for key, value in data.items():
        if key not in known:
            raise unknown_key(name(key), [name(other) for other in known] + list(known_keys))
        values[key] = coerce(name(key), value, hints[key])
    return cls(**values)


def _sweep_from_dict(data: Any) -> SweepSection | None:
    if data is None:
        return None
    sweep = _section_from_dict("sweep", SweepSection, data, spec_table())
    table = spec_table()
    for part in ("grid", "random"):
        normalized = {}
        for key, values in getattr(sweep, part).items():
            if key not in table or key.startswith("sweep."):
                raise unknown_key(f"sweep.{part}.{key}", [f"sweep.{part}.{other}" for other in table])
            normalized[key] = _sweep_values(f"sweep.{part}.{key}", values, table[key].type, part)
        setattr(sweep, part, normalized)
    return sweep


def _sweep_values(key: str, values: Any, kind, part: str):
    if part == "random" and isinstance(values, dict):
        unknown = set(values) - {"low", "high", "log"}
        if unknown:
            unknown_names = ", ".join(sorted(unknown))
            raise ConfigError(key, f"a random range takes low, high and log; unknown: {unknown_names}")
        if "low" not in values or "high" not in values:
            raise ConfigError(key, "a random range needs both low and high")
        return {"low": coerce(f"{key}.low", values["low"], kind),
                "high": coerce(f"{key}.high", values["high"], kind),
                "log": coerce(f"{key}.log", values.get("log", False), bool)}
    if isinstance(values, str):
        values = yaml.safe_load(values) if values.strip().startswith("[") else values.split(",")
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [coerce(key, value, kind) for value in values]


def config_from_dict(data: dict | None, cls=None):
    """A config (RunConfig unless `cls` says otherwise) from nested dicts; missing keys take their
    defaults, and ConfigError names a bad key."""
    cls = cls or RunConfig
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError("", f"a config is a mapping of keys, got {type(data).__name__}")
    if cls is not RunConfig:
        return _section_from_dict("", cls, data)
    hints = typing.get_type_hints(RunConfig)
    top_known = {top.name for top in dataclasses.fields(RunConfig)}
    values = {}
    for key, value in data.items():
        if key not in top_known:
            raise unknown_key(str(key), list(top_known) + list(spec_table()))
        if key == "sweep":
            values[key] = _sweep_from_dict(value)
        elif key in SECTIONS:
            values[key] = _section_from_dict(key, SECTIONS[key], value if value is not None else {},
                                             spec_table())
        else:
            values[key] = coerce(key, value, hints[key])
    return RunConfig(**values)


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


# -- YAML ------------------------------------------------------------------------------------------
def to_yaml(cfg) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)


def parse_yaml(text: str, source: str = "") -> Any:
    """YAML text as data; ConfigError names the line (and `source`, a file) where it is not YAML."""
    try:
        return yaml.safe_load(text or "")
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        prefix = f"{source}: " if source else ""
        raise ConfigError("", f"{prefix}{where}not valid YAML: {getattr(error, 'problem', error)}") from None


def config_from_yaml(text: str, cls=None):
    return config_from_dict(parse_yaml(text), cls)


def save_config(cfg, path: str | Path) -> Path:
    from core.workspace import write_text

    return write_text(path, to_yaml(cfg))


def load_config(path: str | Path, cls=None):
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", f"{path}: config file not found")
    data = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    try:
        return config_from_dict(data, cls)
    except ConfigError as error:
        raise ConfigError(error.key, f"{error.message} (in {path})") from None


# -- --set overrides and the command line ----------------------------------------------------------
def _set_nested(data: dict, key: str, value: Any) -> None:
    head, _, leaf = key.partition(".")
    if not leaf:
        data[head] = value
    else:
        data.setdefault(head, {})[leaf] = value


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """A copy of cfg with each `key=value` applied; the value is read as the field's type.

    Sweep entries: `sweep.grid.train.learning_rate=1e-4,2e-4`, `sweep.random.KEY=[..]` or
    `{low: .., high: .., log: true}`, `sweep.draws=N`, `sweep.metric=NAME`, `sweep=null`.
    """
    data = config_to_dict(cfg)
    table = spec_table()
    for item in overrides:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals:
            raise ConfigError(key, f"expected KEY=VALUE, got {item!r}")
        if key == "sweep":
            data["sweep"] = None if text.strip() in ("", "null", "~", "none") else yaml.safe_load(text)
            continue
        if key.startswith("sweep."):
            sweep = data.get("sweep") or dataclasses.asdict(SweepSection())
            rest = key[len("sweep."):]
            part, _, target = rest.partition(".")
            if part in ("grid", "random") and target:
                if target not in table:
                    raise unknown_key(key, [f"sweep.{part}.{other}" for other in table])
                parsed = yaml.safe_load(text) if part == "random" and text.strip().startswith(("{",
                                                                                               "[")) else text
                sweep[part][target] = _sweep_values(key, parsed, table[target].type, part)
            elif rest in ("draws", "metric"):
                sweep[rest] = text
            else:
                raise unknown_key(key, ["sweep.grid", "sweep.random", "sweep.draws", "sweep.metric"])
            data["sweep"] = sweep
            continue
        if key not in table:
            raise unknown_key(key, table)
        _set_nested(data, key, coerce(key, text, table[key].type))
    return config_from_dict(data)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (list, dict)) for item in value):
            return yaml.safe_dump(list(value), default_flow_style=True).strip()
        return ",".join(_format_value(item) for item in value)
    if isinstance(value, dict):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def to_cli_command(cfg: RunConfig) -> str:
    """`python -m lab train --set ...` with only the keys that differ from the defaults."""
    default = RunConfig()
    parts = ["python", "-m", "lab", "train"]
    for spec in field_specs():
        value = get_value(cfg, spec.key)
        if value != get_value(default, spec.key):
            parts += ["--set", f"{spec.key}={_format_value(value)}"]
    if cfg.sweep is not None:
        for part in ("grid", "random"):
            for key, values in getattr(cfg.sweep, part).items():
                parts += ["--set", f"sweep.{part}.{key}={_format_value(values)}"]
        if cfg.sweep.draws:
            parts += ["--set", f"sweep.draws={cfg.sweep.draws}"]
        parts += ["--set", f"sweep.metric={cfg.sweep.metric}"]
    return " ".join(shlex.quote(part) for part in parts)


def add_config_arguments(parser: argparse.ArgumentParser, cls, only: tuple[str, ...] | None = None) -> None:
    """One command-line flag per field of a flat config class (EvalConfig, or the `only` fields of a
    section): `--batch-size N`, `--with-reason` / `--no-with-reason`, a list field as `--adapters A B`
    (repeatable). Values are read by `coerce`, so the CLI accepts exactly what YAML and the form accept."""
    for spec in field_specs(cls):
        if only is not None and spec.key not in only:
            continue
        flag = "--" + spec.key.replace("_", "-")
        shown = "empty" if spec.default in (None, [], "") else spec.default
        common = {"dest": spec.key, "default": argparse.SUPPRESS, "help": f"{spec.help} (default: {shown})"}
        if spec.base_type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif typing.get_origin(spec.base_type) is list:
            parser.add_argument(flag, nargs="+", action="extend", metavar=spec.key.upper(), **common)
        else:
            parser.add_argument(flag, choices=spec.choices,
                                metavar=None if spec.choices else spec.key.upper(), **common)


def config_from_arguments(arguments: argparse.Namespace, cls):
    """The config the flags of `add_config_arguments` describe (flags not given take the defaults)."""
    names = {spec.key for spec in field_specs(cls)}
    return config_from_dict({name: value for name, value in vars(arguments).items() if name in names}, cls)
