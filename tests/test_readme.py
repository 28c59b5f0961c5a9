"""The README's configuration reference must list exactly the keys the config model reads."""

import re

from conftest import ROOT, stack_config

from components.config import parse_config


def documented_keys() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([\w.:\[\]]+)` \|", section, re.M)}


def read_keys() -> set[str]:
    raw = {k.split(":", 1)[1]: v for k, v in stack_config("prod").items() if k.startswith("kafka-platform:")}
    raw["network"]["existingVpc"] = {"vpcId": "vpc-0123456789abcdef0", "publicSubnetIds": [],
                                     "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1",
                                                          "subnet-0123456789abcdef2"]}
    raw["alertReceiver"] = {"type": "slack", "url": "https://hooks.slack.com/services/x", "channel": "#kafka"}
    seen: set[str] = set()
    parse_config(raw, stack="prod", region="us-east-1", secret_keys={"kafka-platform:alertReceiver"}, seen=seen)
    return {re.sub(r"\[\d+\]", "[]", k.removeprefix("kafka-platform:")) for k in seen} | {"aws:region"}


def test_readme_documents_every_config_key_and_no_other():
    assert documented_keys() == read_keys()


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci
    assert "python -m pytest -q" in (ROOT / "README.md").read_text()
