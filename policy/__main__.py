"""The CrossGuard pack: `pulumi preview --policy-pack policy`. The rules live in rules.py."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(name="kafka-platform-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
