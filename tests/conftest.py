"""The suite's fixtures; the harness itself is tools/offline.py (the plan uses it too).

`run_stack("prod", overrides={"cluster.nodeGroups.maxSize": 1})` loads Pulumi.prod.yaml, applies the
overrides (dotted paths below `kafka-platform:`, like `pulumi config set --path`), runs __main__.py
under Pulumi's mocks and returns a `Stack` of every registered resource with its inputs and options.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from tools.offline import (  # noqa: E402,F401  (re-exported for the tests)
    ACCOUNT_ID,
    DELETE,
    EXISTING_VPC_CIDR,
    EXISTING_VPC_SECONDARY_CIDR,
    LAST_OUTPUTS,
    PROJECT,
    ROOT,
    RecordingMocks,
    RecordingMonitor,
    Resource,
    Stack,
    load_stack_config,
    random_id,
    run_program,
    run_stack,
    stack_config,
)


@pytest.fixture(scope="session")
def dev() -> Stack:
    return run_stack("dev")


@pytest.fixture(scope="session")
def prod() -> Stack:
    return run_stack("prod")
