"""YAML for the generated files, written by PyYAML: block style, keys plain unless YAML needs quotes,
string values double-quoted (single-quoted where that spares escaping a PromQL ``"``), no line wrapping.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Key(str):
    """A mapping key: written plain where YAML allows it (PyYAML quotes ``on``, ``a: b`` and the like)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # lists indented under their key


def _value(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "'" if '"' in text and "'" not in text and "\n" not in text else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _mapping(dumper: yaml.SafeDumper, data: dict) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", [(_Key(k), v) for k, v in data.items()])


_Dumper.add_representer(str, _value)
_Dumper.add_representer(_Key, lambda dumper, key: yaml.SafeDumper.represent_str(dumper, str(key)))
_Dumper.add_representer(dict, _mapping)


def dump(doc: Any, header: str = "") -> str:
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=float("inf"), allow_unicode=True,
                     default_flow_style=False)
    return "\n".join([*lines, body.rstrip("\n")]) + "\n"
