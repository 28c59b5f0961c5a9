"""The README's configuration reference and the stack files' JSON Schema come from the config model."""

import copy
import json
import re

import jsonschema
import pytest
import yaml
from conftest import ROOT

from components import config_docs

README = ROOT / "README.md"


def test_reference_and_schema_are_generated_from_the_current_model():
    # stale when a default, rule or key changed in components/config.py: python -m components.config_docs
    assert config_docs.main(["--check"]) == 0


def test_every_key_has_a_type_a_default_and_a_rule():
    rows = list(config_docs.rows())
    assert len(rows) > 70
    assert all(row["type"] and row["default"] and row["rule"] for row in rows), [
        row["key"] for row in rows if not row["rule"]]


def test_a_hand_edited_reference_is_stale():
    readme = (ROOT / "README.md").read_text()
    edited = readme.replace("| `cluster.nodeGroups.maxSize` | integer | `3` |", "| `cluster.nodeGroups.maxSize` | integer | `5` |")
    assert edited != readme and config_docs.readme_text(edited) == readme


def schema():
    return json.loads((ROOT / "schema" / "stack-config.schema.json").read_text())


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_stack_file_points_editors_at_the_schema_and_validates(stack):
    text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./schema/stack-config.schema.json"
    jsonschema.validate(yaml.safe_load(text), schema())


@pytest.mark.parametrize("path,value", [
    (("kafka-platform:network", "natGateway"), "single"),           # a typo in a section
    (("kafka-platform:netwrok",), {}),                              # a typo in a top-level key
    (("kafka-platform:kafka", "controllers", "replica"), 3),        # a typo in a nested object
    (("kafka-platform:mesh", "mtlsMode"), "strict"),                # not one of the allowed values
])
def test_the_schema_flags_what_an_editor_should_underline(path, value):
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    node = doc["config"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema())


def test_the_schema_accepts_pulumi_secrets_and_other_namespaces():
    doc = copy.deepcopy(yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text()))
    doc["config"]["kafka-platform:alertReceiver"] = {"type": "slack", "channel": "#kafka", "url": {"secure": "v1:abc"}}
    doc["config"]["kubernetes:enableServerSideApply"] = True
    jsonschema.validate(doc, schema())


@pytest.mark.parametrize("command", ["ruff check .", "mypy", "python -m pytest -q"])
def test_readme_shows_what_ci_runs(command):
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in (ROOT / "README.md").read_text()


def test_every_readme_section_the_code_points_to_exists():
    """Error messages, config descriptions and scripts send people to README "Some heading": it must exist."""
    headings = {line.lstrip("#").strip() for line in README.read_text().splitlines() if line.startswith("#")}
    sources = [*ROOT.glob("components/**/*.py"), *ROOT.glob("components/scripts/*.sh"), ROOT / "__main__.py",
               *ROOT.glob("policy/*.py")]
    pointers = {(path.relative_to(ROOT).as_posix(), name) for path in sources
                for name in re.findall(r'README \\?"([^"\\]+)\\?"', path.read_text())}
    assert pointers, "no README pointer found: the pattern is wrong"
    missing = sorted((path, name) for path, name in pointers if name not in headings
                     and not any(h.startswith(name) for h in headings))
    assert not missing, missing
