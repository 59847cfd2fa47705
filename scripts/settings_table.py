"""Print the README's settings tables from the settings classes (the README must stay in step).

Usage: .venv/bin/python scripts/settings_table.py  (paste between the SETTINGS markers of README.md,
or pass --write to replace that block in place)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from ingestion.settings import IngestionSettings
from retrieval.settings import RetrievalSettings

BEGIN, END = "<!-- SETTINGS:BEGIN -->", "<!-- SETTINGS:END -->"


def _default(field: Any) -> str:
    value = field.default_factory() if field.default_factory else field.default
    if hasattr(value, "get_secret_value"):
        return "(empty)" if not value.get_secret_value() else "(set)"
    if value is None or value == [] or value == {}:
        return "(none)"
    return f"`{str(value).replace(str(Path.home()), '~')}`"


def table(cls: type[BaseSettings], title: str) -> str:
    prefix = str(cls.model_config.get("env_prefix", ""))
    rows = [f"**{title}**", "", "| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in cls.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name.upper()}` | {_default(field)} | {description} |")
    return "\n".join(rows)


def block() -> str:
    parts = [
        table(IngestionSettings, "Store, ticketing, relay, webhooks, sync, learning (`ingestion`)"),
        table(RetrievalSettings, "Index, encoders, fusion and verdict (`retrieval`)"),
    ]
    return "\n\n".join([BEGIN, *parts, END])


if __name__ == "__main__":
    if "--write" in sys.argv:
        readme = Path(__file__).resolve().parents[1] / "README.md"
        text = readme.read_text(encoding="utf-8")
        start, end = text.index(BEGIN), text.index(END) + len(END)
        readme.write_text(text[:start] + block() + text[end:], encoding="utf-8")
    else:
        print(block())
