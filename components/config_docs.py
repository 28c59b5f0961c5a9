"""Generate the README's configuration reference and the stack files' JSON Schema from the config model.

    python -m components.config_docs          # rewrite both
    python -m components.config_docs --check  # exit 1 if either is stale (tests/test_config_docs.py does this)

The model (components/config.py) is the only place a key, its type, default and rule are written down.
"""

from __future__ import annotations

import json
import pathlib
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .config import LOADER_FIELDS, PROJECT, PlatformConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SCHEMA = ROOT / "schema" / "stack-config.schema.json"
BEGIN, END = "<!-- config-reference:begin (python -m components.config_docs) -->", "<!-- config-reference:end -->"
STACKS = ("dev", "prod")


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (tuple, list)


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (tuple, list):
        inner = _type_name(args[0]) if args else "string"
        return f"list of {inner}s" if not inner.startswith("one of") else "list, each " + inner
    if origin is dict:
        if not args:
            return "map of strings"
        inner = _type_name(args[1])
        return f"map of {inner}s" if not inner.startswith("one of") else "map, each value " + inner
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation, getattr(annotation, "__name__", "?"))


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "–"
    if isinstance(value, (tuple, list)):
        return "`[" + ", ".join(map(str, value)) + "]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict):
        return "`{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}`"
    return f"`{value}`"


def _default(field: Any, parent_default: Any, name: str) -> str:
    extra = field.json_schema_extra or {}
    if "defaultDoc" in extra:
        return extra["defaultDoc"]
    if parent_default is not None:
        return _show(getattr(parent_default, name))
    if field.default is PydanticUndefined and field.default_factory is None:
        return "(required)"
    return _show(field.get_default(call_default_factory=True))


def _stack_value(stack: dict, key: str) -> str:
    top, _, rest = key.partition(".")
    node: Any = stack.get(f"{PROJECT}:{top}")
    values = [node]
    for part in rest.split(".") if rest else []:
        many = part.endswith("[]")
        part = part.removesuffix("[]")
        values = [v.get(part) if isinstance(v, dict) else None for v in values]
        if many:
            values = [item for v in values if isinstance(v, list) for item in v]
    shown = [v for v in values if v is not None]
    if not shown:
        return "–"
    if len(shown) > 1 or key.endswith("[]"):
        return ", ".join(_show(v) for v in shown)
    value = shown[0]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return f"{len(value)} item" + ("s" if len(value) > 1 else "")
    return _show(value)


def rows(model: type[BaseModel] = PlatformConfig, prefix: str = "", parent_default: Any = None,
         context: str = "") -> Iterator[dict]:
    """One row per key a stack file can set, in the model's order; a described section's rule leads its first row."""
    for name, field in model.model_fields.items():
        if model is PlatformConfig and name in LOADER_FIELDS:
            continue
        key = prefix + (field.alias or name)
        submodels = _models(field.annotation)
        if submodels and not _is_list(field.annotation):
            default = parent_default if parent_default is None else getattr(parent_default, name)
            if default is None and isinstance(field.default, BaseModel):
                default = field.default
            elif default is None and field.default_factory is not None:
                default = field.get_default(call_default_factory=True)
            yield from rows(submodels[0], key + ".", default, field.description or "")
            continue
        rule = "; ".join(filter(None, (context, field.description)))
        context = ""
        row = {"key": key, "type": _type_name(field.annotation), "default": _default(field, parent_default, name),
               "rule": rule}
        if submodels:
            row["type"] = "list of objects"
            yield row
            yield from rows(submodels[0], key + "[].")
            continue
        yield row


def reference_table() -> str:
    stacks = {s: yaml.safe_load((ROOT / f"Pulumi.{s}.yaml").read_text())["config"] for s in STACKS}
    lines = ["| Key | Type | Default | dev | prod | Rule |", "|---|---|---|---|---|---|",
             "| `aws:region` | string | (required) | " + " | ".join(f"`{stacks[s]['aws:region']}`" for s in STACKS)
             + " | the AWS region; the zones must belong to it |"]
    for row in rows():
        values = [_stack_value(stacks[s], row["key"]) for s in STACKS]
        lines.append(f"| `{row['key']}` | {row['type']} | {row['default']} | {' | '.join(values)} | "
                     f"{row['rule'].replace('|', '/')} |")
    return "\n".join(lines)


def readme_text(current: str) -> str:
    head, _, rest = current.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{reference_table()}\n{END}{tail}"


def _secure_anywhere(schema: Any) -> Any:
    """A value set with `pulumi config set --secret` is stored as {secure: ...} in the stack file."""
    if isinstance(schema, dict):
        schema = {k: _secure_anywhere(v) for k, v in schema.items()}
        if schema.pop("secret", False):
            schema = {"anyOf": [schema, {"type": "object", "properties": {"secure": {"type": "string"}},
                                         "required": ["secure"], "additionalProperties": False}],
                      "description": schema.get("description", "")}
        return schema
    if isinstance(schema, list):
        return [_secure_anywhere(v) for v in schema]
    return schema


# Objects a stack file may give in part: the model fills the rest from the section's default.
PARTIAL = ("KafkaRole", "MonitoringComponent", "Resources")


def _optional_where_defaulted(definitions: dict) -> dict:
    for name, definition in definitions.items():
        derived = {k for k, v in definition.get("properties", {}).items() if "defaultDoc" in v}
        required = [] if name in PARTIAL else [k for k in definition.get("required", []) if k not in derived]
        definition.pop("required", None)
        if required:
            definition["required"] = required
    return definitions


def stack_schema() -> dict:
    model = _secure_anywhere(PlatformConfig.model_json_schema(by_alias=True))
    properties = {f"{PROJECT}:{k}": v for k, v in model["properties"].items() if k not in LOADER_FIELDS}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kafka-platform.invalid/stack-config.schema.json",
        "title": "kafka-platform stack file (Pulumi.<stack>.yaml)",
        "description": "Generated from components/config.py by `python -m components.config_docs`; do not edit.",
        "type": "object",
        "properties": {"config": {
            "type": "object",
            "properties": {"aws:region": {"type": "string", "description": "the AWS region"}, **properties},
            "required": ["aws:region", *(f"{PROJECT}:{k}" for k in model.get("required", []))],
            # other namespaces (aws:, kubernetes:) are Pulumi's or the providers'; ours is closed
            "patternProperties": {f"^(?!{PROJECT}:)[^:]+:.+$": {}},
            "additionalProperties": False,
        }},
        "$defs": _optional_where_defaulted(model.get("$defs", {})),
    }


def schema_text() -> str:
    return json.dumps(stack_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    readme, schema = readme_text(README.read_text()), schema_text()
    stale = [p.name for p, text in ((README, readme), (SCHEMA, schema)) if not p.is_file() or p.read_text() != text]
    if "--check" in argv:
        if stale:
            print(f"stale: {', '.join(stale)}; run python -m components.config_docs", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA.parent.mkdir(exist_ok=True)
    README.write_text(readme)
    SCHEMA.write_text(schema)
    print(f"wrote {README.name} (configuration reference) and {SCHEMA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
