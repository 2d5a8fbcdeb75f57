"""A small YAML writer for the generated files: block style, every string double-quoted (valid YAML)."""

from __future__ import annotations

import json
from typing import Any


def dump(doc: Any, header: str = "") -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += _node(doc, 0)
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if '"' in text and "'" not in text and "\n" not in text:
        return f"'{text}'"  # PromQL reads better without escaped double quotes
    return json.dumps(text, ensure_ascii=False)


def _node(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{key}:")
                out += _node(item, indent + 2)
            else:
                out.append(f"{pad}{key}: {_scalar(item) if not isinstance(item, dict | list) else json.dumps(item)}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            inner = _node(item, indent + 2)
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}- {inner[0].lstrip()}")
                out += inner[1:]
            else:
                out.append(f"{pad}- {_scalar(item)}")
        return out
    return [f"{pad}{_scalar(value)}"]
