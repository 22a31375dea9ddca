"""The recipes shipped in assets/recipes: one RunConfig YAML per procedure, by name.

The Train tab fills its form from one and `python -m lab train assets/recipes/<name>.yaml` runs one;
only the names listed here are read, so a name typed into the page cannot reach another file.
"""
from __future__ import annotations

from pathlib import Path

from core.config.schema import ConfigError, RunConfig
from core.config.text import config_from_yaml
from core.env import ASSETS_DIR

RECIPES_DIR = ASSETS_DIR / "recipes"


def recipe_names(folder: Path = RECIPES_DIR) -> list[str]:
    """The recipes' names (file names without .yaml), demo-cpu first: it runs anywhere."""
    names = sorted(path.stem for path in folder.glob("*.yaml"))
    return sorted(names, key=lambda name: not name.startswith("demo-cpu"))


def recipe_text(name: str, folder: Path = RECIPES_DIR) -> str:
    if name not in recipe_names(folder):
        known = ", ".join(recipe_names(folder))
        raise ConfigError("recipe", f"no recipe named {name!r}; the recipes are {known}")
    return (folder / f"{name}.yaml").read_text(encoding="utf-8")


def load_recipe(name: str, folder: Path = RECIPES_DIR) -> RunConfig:
    return config_from_yaml(recipe_text(name, folder))


def recipe_summary(text: str) -> str:
    """The recipe's opening comment (what it is and the hardware it needs), without the '#' marks."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return " ".join(line for line in lines if line)
