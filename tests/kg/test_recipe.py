"""kg/recipe.yaml documents the default KG: it must parse and name code that exists."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_recipe_parses_and_its_modules_exist() -> None:
    recipe = yaml.safe_load((ROOT / "kg" / "recipe.yaml").read_text(encoding="utf-8"))
    assert recipe["name"] == "default" and recipe["sources"]
    modules = [s["module"] for s in recipe["sources"] if "module" in s]
    assert modules and all((ROOT / m).is_file() for m in modules), modules
