"""Run the real program offline, under Pulumi's mocks, and record what it registers.

The test suite (tests/conftest.py) and the plan (tools/plan.py) both use it: no CLI, no cloud, no cluster.

`run_stack("prod", overrides={"cluster.nodeGroups.maxSize": 1})` loads Pulumi.prod.yaml, applies the
overrides (dotted paths below `kafka-platform:`, like `pulumi config set --path`), runs __main__.py
under Pulumi's mocks and returns a `Stack` of every registered resource with its inputs and options.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import pathlib
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = pathlib.Path(__file__).resolve().parent.parent  # the project
PROJECT = "kafka-platform"
ACCOUNT_ID = "000000000000"  # a fake account for mocks
EXISTING_VPC_CIDR, EXISTING_VPC_SECONDARY_CIDR = "10.50.0.0/16", "100.64.0.0/16"  # the mocked existing VPC's
DELETE = object()  # an override value that removes the key

sys.path.insert(0, str(ROOT))


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict[str, Any]
    urn: str
    parent: str = ""
    provider: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    aliases: list[str] = field(default_factory=list)  # alias URNs, or "name=<old name>" for a name alias
    dependencies: list[str] = field(default_factory=list)
    secret_inputs: set[str] = field(default_factory=set)  # top-level inputs that carry a Pulumi secret
    transforms: int = 0  # transforms registered on it (they also apply to its children, remote ones included)

    def depends_on(self, other: Resource) -> bool:
        return other.urn in self.dependencies


class Stack(list):
    """The registered resources (in no fixed order: the runtime registers concurrently) and the exports."""

    outputs: dict[str, Any]
    secret_outputs: set[str]
    name: str  # the stack's name
    config: dict[str, str]  # its config as the engine holds it: full keys, objects as JSON text

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Resource:
        found = [r for r in self if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        return next(r for r in self if r.urn == urn)


LAST_OUTPUTS: dict[str, Any] = {}  # what a StackReference to the stack itself reads: its last up's outputs


def random_id(name: str) -> str:
    """What a 16-byte RandomId's b64Url looks like (22 URL-safe characters), different per resource name."""
    return base64.urlsafe_b64encode(hashlib.sha256(name.encode()).digest()[:16]).decode().rstrip("=")


# Outputs that remote components and data sources would return; only what the code reads.
def _outputs(type_: str, name: str, inputs: dict) -> dict:
    if type_ == "eks:index:Cluster":
        issuer = f"oidc.eks.us-east-1.amazonaws.com/id/{name.upper()}"
        return {"oidcProviderArn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{issuer}", "oidcIssuer": issuer,
                "oidcProviderUrl": f"https://{issuer}", "kubeconfigJson": "{}"}
    if type_ == "pulumi:pulumi:StackReference":
        return {"outputs": dict(LAST_OUTPUTS), "secretOutputNames": []}
    if type_ == "random:index/randomId:RandomId":
        return {"b64Url": random_id(name), "hex": "6f1c2d3e"}
    if type_ == "random:index/randomPassword:RandomPassword":
        return {"result": f"{name}-password"}
    if type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1}
    if type_.startswith("kubernetes:") and "metadata" in inputs:
        return {"metadata": {"name": name, **inputs["metadata"]}}
    return {"arn": f"arn:aws:mock:::{type_}/{name}", "name": inputs.get("name", name), "keyId": f"{name}-key-id"}


def _unwrap(value: Any) -> tuple[Any, bool]:
    """Strip Pulumi's secret envelopes; report whether any were found."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _unwrap(value["value"])[0], True
        fields = {k: _unwrap(v) for k, v in value.items()}
        return {k: v for k, (v, _) in fields.items()}, any(secret for _, secret in fields.values())
    if isinstance(value, list):
        items = [_unwrap(v) for v in value]
        return [v for v, _ in items], any(secret for _, secret in items)
    return value, False


class RecordingMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", {**args.inputs, **_outputs(args.typ, args.name, args.inputs)}

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci", "userId": "ci"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}
        if args.token == "aws:eks/getCluster:getCluster":
            return {"name": args.args["name"], "endpoint": "https://MOCK.gr7.us-east-1.eks.amazonaws.com",
                    "certificateAuthorities": [{"data": "Q0EK"}],
                    "vpcConfig": {"clusterSecurityGroupId": "sg-0cluster"}}
        if args.token == "aws:ec2/getVpc:getVpc":  # an existing VPC
            return {"id": args.args["id"], "cidrBlock": EXISTING_VPC_CIDR, "cidrBlockAssociations": [
                {"associationId": "a1", "cidrBlock": EXISTING_VPC_CIDR, "state": "associated"},
                {"associationId": "a2", "cidrBlock": EXISTING_VPC_SECONDARY_CIDR, "state": "associated"}]}
        raise AssertionError(f"unexpected invoke {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Records options too, and sends resource objects as URNs (the stock monitor fails on them, field notes)."""

    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.registered = Stack()
        self.registered.outputs, self.registered.secret_outputs = {}, set()

    def RegisterResourceOutputs(self, request):
        if "::pulumi:pulumi:Stack::" in request.urn:
            outputs = {k: _unwrap(v) for k, v in rpc.deserialize_properties(request.outputs, keep_internal=True).items()}
            self.registered.outputs = {k: v for k, (v, _) in outputs.items()}
            self.registered.secret_outputs = {k for k, (_, secret) in outputs.items() if secret}
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = rpc.deserialize_properties(request.object, keep_internal=True)
            unwrapped = {k: _unwrap(v) for k, v in raw.items()}
            self.registered.append(Resource(
                type=request.type, name=request.name, urn=response.urn,
                inputs={k: v for k, (v, _) in unwrapped.items()},
                secret_inputs={k for k, (_, secret) in unwrapped.items() if secret},
                parent=request.parent, provider=request.provider, protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                aliases=[*request.aliasURNs, *(str(a).replace("\n", " ").strip() for a in request.aliases)],
                dependencies=list(request.dependencies), transforms=len(request.transforms)))
        return response

    def ReadResource(self, request):
        """A read (a StackReference, a `get`): recorded with its id among the inputs."""
        response = super().ReadResource(request)
        inputs = {k: _unwrap(v)[0] for k, v in rpc.deserialize_properties(request.properties, keep_internal=True).items()}
        self.registered.append(Resource(type=request.type, name=request.name, urn=response.urn,
                                        inputs={**inputs, "id": request.id}, parent=request.parent,
                                        provider=request.provider, dependencies=list(request.dependencies)))
        return response

    def SupportsFeature(self, request):
        if request.id == "resourceReferences":
            return type("SupportsFeatureResponse", (object,), {"hasSupport": False})
        return super().SupportsFeature(request)

    def GetDeploymentInfo(self, request):
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures
                    if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)


def stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def _apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    for path, value in overrides.items():
        top, *rest = path.split(".")
        key = top if ":" in top else f"{PROJECT}:{top}"
        if not rest:
            config.pop(key, None) if value is DELETE else config.__setitem__(key, value)
            continue
        node = config.setdefault(key, {})
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node.pop(rest[-1], None) if value is DELETE else node.__setitem__(rest[-1], value)
    return config


def _run(stack: str, config: dict[str, Any], program: Callable[[], Any], secrets: tuple[str, ...] = ()) -> Stack:
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi_settings.ROOT.set(None)  # a fresh root Stack for every run
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor,
                             organization="organization")  # what a self-managed backend reports
    engine_config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    pulumi.runtime.set_all_config(engine_config, secret_keys=[_full_key(k) for k in secrets])
    monitor.registered.name, monitor.registered.config = stack, engine_config
    try:
        _sync_await(run_pulumi_func(program))
    except BaseException as failed:
        _settle()  # a program that failed mid-run leaves registrations pending: never let them reach the next run
        failed.registered = monitor.registered  # type: ignore[attr-defined]  # what it got to, outputs included
        raise
    return monitor.registered


def _quiet_refused_futures(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """The Outputs of a refused run hold its exception, which nothing retrieves: asyncio would log each one."""
    if "never retrieved" not in context.get("message", ""):
        loop.default_exception_handler(context)


def _settle() -> None:
    loop = asyncio.get_event_loop()
    loop.set_exception_handler(_quiet_refused_futures)
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    with pulumi_settings.SETTINGS.lock:  # the runtime keeps the failed outputs, and would await them again
        pulumi_settings.SETTINGS.outputs.clear()


def _full_key(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def run_stack(stack: str, overrides: dict[str, Any] | None = None, secrets: tuple[str, ...] = (),
              last_outputs: dict[str, Any] | None = None, name: str | None = None) -> Stack:
    """Run the real __main__.py against Pulumi.<stack>.yaml (plus overrides) under mocks.

    `secrets` names top-level keys to treat as set with `pulumi config set --secret`; `last_outputs` are the
    outputs of the stack's previous up (none: a first up); `name` runs it as a stack of another name."""
    def program():
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        root: Any = pulumi_settings.get_root_resource()  # set_mocks finished it before the program exported anything
        root.register_outputs(dict(root.outputs))

    config = _apply_overrides(stack_config(stack), overrides or {})
    LAST_OUTPUTS.clear()
    LAST_OUTPUTS.update(last_outputs or {})
    return _run(name or stack, config, program, secrets)


def run_program(program: Callable[[], Any], stack: str = "dev", overrides: dict[str, Any] | None = None,
                last_outputs: dict[str, Any] | None = None) -> Stack:
    """Build one component (or any function) under mocks, with the stack's config available."""
    config = _apply_overrides(stack_config(stack), overrides or {})
    LAST_OUTPUTS.clear()
    LAST_OUTPUTS.update(last_outputs or {})
    return _run(stack, config, program)


def load_stack_config(stack: str, overrides: dict[str, Any] | None = None, secrets: tuple[str, ...] = ()):
    """The validated config model for a stack file, without running the program."""
    from components.config import parse_config

    raw = _apply_overrides(stack_config(stack), overrides or {})
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{PROJECT}:")}
    return parse_config(values, stack=stack, region=raw.get("aws:region"), secret_keys={_full_key(k) for k in secrets})
