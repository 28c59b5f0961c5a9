"""The CrossGuard pack: `pulumi preview --policy-pack policy`. The rules live in rules.py."""

from pulumi_policy import EnforcementLevel, PolicyPack
from pulumi_policy import policy as engine
from rules import POLICIES, listen_for_the_stack

listen_for_the_stack(engine._PolicyAnalyzerServicer)  # prod-ness comes from the stack's config
PolicyPack(name="kafka-platform-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
