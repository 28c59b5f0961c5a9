"""What this stack's last `up` exported: the one memory a program has of what runs now."""

from __future__ import annotations

from typing import Any

import pulumi


def last_up_output(name: str, output: str, parent: pulumi.Resource) -> pulumi.Output[Any]:
    """The stack's own output `output` from its last `up`; None before its first (or before the output existed).

    A StackReference to the stack itself, named by organization/project/stack (self-managed backends need
    project-scoped stacks, the default since Pulumi 3.61: README "State backend for teams: S3 + KMS")."""
    stack = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    return pulumi.StackReference(name, stack_name=stack, opts=pulumi.ResourceOptions(parent=parent)).get_output(output)
