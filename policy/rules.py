"""CrossGuard guardrails for kafka-platform, as plain functions and Policy objects.

Importing this module starts nothing: only `__main__.py` builds the PolicyPack (which serves the
engine), so the tests can call each validator with resource args taken from the real program.
Prod-ness and Kafka's namespace come from the stack's own config (`kafka-platform:environment`,
`kafka-platform:kafka`), which the engine hands the pack before it analyses anything: the pack
and the program read the same keys, so they cannot disagree, and the stack's name means nothing.
The engine hands validators read-only Mapping/Sequence proxies, never dicts and lists: test for those.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The engine's ReportViolation takes (message, urn=None); its type alias makes the urn look required.
Report = Callable[..., None]
PROJECT = "kafka-platform"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHARTS = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart")
PEER_AUTHENTICATION = ("security.istio.io", "PeerAuthentication")
AUTHORIZATION_POLICY = ("security.istio.io", "AuthorizationPolicy")
DESTINATION_RULE = ("networking.istio.io", "DestinationRule")
NAMESPACE = "kubernetes:core/v1:Namespace"
NAMESPACE_PATCH = "kubernetes:core/v1:NamespacePatch"
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
MESH_ROOT = "istio-system"  # Istio's root namespace: its selector-less policies apply mesh-wide
INJECT = "sidecar.istio.io/inject"
# Resources whose loss loses data or access to it.
STATEFUL_TYPES = {
    "eks:index:Cluster", "aws:eks/cluster:Cluster", "aws:kms/key:Key", "aws:cloudwatch/logGroup:LogGroup",
    "random:index/randomId:RandomId", "random:index/randomPassword:RandomPassword",
}
KAFKA_COMPONENT = f"{PROJECT}:index:Kafka$"  # in a URN: a child of the Kafka component


@dataclass
class StackInfo:
    """What the pack keeps of the stack under analysis (`ConfigureStack`): its name and two config values.
    The engine sends the whole config, secrets decrypted: nothing else is kept, and nothing is ever echoed."""

    name: str = ""
    environment: str | None = None
    kafka_namespace: str = "kafka"  # KafkaConfig.namespace's default (a test ties the two)

    @property
    def prod(self) -> bool:
        return self.environment != "dev"  # unknown counts as prod: the stricter rules fail closed


STACK = StackInfo()


def _config_value(config: Mapping[str, str], key: str) -> Any:
    raw = config.get(f"{PROJECT}:{key}")  # strings come raw; objects, numbers and booleans as JSON text
    try:
        return json.loads(raw) if raw is not None else None
    except ValueError:
        return raw


def configure(name: str, config: Mapping[str, str]) -> None:
    environment, kafka = _config_value(config, "environment"), _config_value(config, "kafka")
    STACK.name = name
    STACK.environment = environment if isinstance(environment, str) else None
    STACK.kafka_namespace = str(kafka.get("namespace") or "kafka") if isinstance(kafka, Mapping) else "kafka"


def listen_for_the_stack(servicer_class: Any) -> None:
    """Have the pack's gRPC servicer read the stack's config. pulumi-policy 1.21 keeps only the stack's tags from
    `ConfigureStack`; the engine (3.174+) sends the config with them (AnalyzerStackConfigureRequest.config)."""
    original = servicer_class.ConfigureStack

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        configure(request.stack, request.config)
        return original(self, request, context)

    servicer_class.ConfigureStack = configure_stack


def is_kind(resource_type: str, group_kind: tuple[str, str]) -> bool:
    """Any served version of a group's kind: v1beta1 objects are as good as v1 ones to the API server."""
    group, kind = group_kind
    return re.fullmatch(rf"kubernetes:{re.escape(group)}/[^:]+:{kind}", resource_type) is not None


def is_kafka_release(resource_type: str, props: Mapping[str, Any], urn: str = "") -> bool:
    """The Kafka component's release, wherever its chart comes from (a mirror, a local path)."""
    return resource_type == HELM_RELEASE and (KAFKA_COMPONENT in urn or "kafka" in str(props.get("chart", "")).split(
        "/")[-1])


def kafka_values(args: ResourceValidationArgs) -> Mapping | None:
    """The Kafka release's values; None for other resources, and while a first preview has them unknown
    (they carry the not-yet-generated cluster id); `pulumi up` checks them again once known."""
    if not is_kafka_release(args.resource_type, args.props, args.urn):
        return None
    values = args.props.get("values")
    return values if isinstance(values, Mapping) else None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> Sequence:
    return value if isinstance(value, Sequence) and not isinstance(value, str) else []


def _split_property(line: str) -> tuple[str, str]:
    match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)", line)
    return (match.group(1), match.group(2)) if match else (line, "")


def _properties(text: Any) -> Iterator[tuple[str, str]]:
    """key/value pairs of a Java properties (or flat YAML) text: `=`, `:` or a space separates them."""
    for line in str(text or "").splitlines():
        line = line.strip()
        if line and line[0] not in "#!":
            yield _split_property(line)


def _settings(value: Any) -> Iterator[tuple[str, Any]]:
    """A chart config value: a map, or a YAML/properties text."""
    if isinstance(value, Mapping):
        yield from ((str(k), v) for k, v in value.items())
    elif value:
        yield from _properties(value)


KAFKA_ROLES = ("controller", "broker")
# Where the Bitnami chart (32.x) reads Kafka's server.properties from, in the order it applies them:
# templates/<role>/configmap.yaml (role config or config, then the overrides, merged) and
# _init_containers.tpl (the secret config appended). The image then writes KAFKA_CFG_* variables in.
HIDDEN_CONFIG = ("existingConfigmap", "secretConfig", "existingSecretConfig", "extraEnvVarsCM", "extraEnvVarsSecret")


def _config_variables(env: Any) -> Iterator[tuple[str, Any]]:
    for var in _list(env):
        name = str(_mapping(var).get("name", ""))
        if name.startswith("KAFKA_CFG_"):  # the image's convention: KAFKA_CFG_MIN_INSYNC_REPLICAS=min.insync.replicas
            yield name[len("KAFKA_CFG_"):].lower().replace("_", "."), _mapping(var).get("value")


def broker_settings(values: Mapping) -> dict[str, list[tuple[str, Any, str]]]:
    """Per node role the release runs: every (key, value, source) any source sets, in the chart's order.
    Keys are trimmed as Java's Properties trims them."""
    roles: dict[str, list[tuple[str, Any, str]]] = {}
    for role in KAFKA_ROLES:
        own = _mapping(values.get(role))
        if _int(own.get("replicaCount"), 1) == 0:
            continue  # combined mode: no broker-only nodes
        sources: list[tuple[str, Iterator[tuple[str, Any]]]] = [
            (f"{role}.config" if own.get("config") else "config", _settings(own.get("config") or values.get("config"))),
            ("overrideConfiguration", _settings(values.get("overrideConfiguration"))),
            (f"{role}.overrideConfiguration", _settings(own.get("overrideConfiguration"))),
            ("secretConfig", _properties(values.get("secretConfig"))),
            (f"{role}.secretConfig", _properties(own.get("secretConfig"))),
            ("extraEnvVars", _config_variables(values.get("extraEnvVars"))),
            (f"{role}.extraEnvVars", _config_variables(own.get("extraEnvVars"))),
        ]
        roles[role] = [(key.strip(), value, source) for source, settings in sources for key, value in settings]
    return roles


def _nodes(roles: list[str]) -> str:
    return " and ".join(roles) + " nodes"


def _judge(values: Mapping, key: str, ok: Callable[[Any], bool]) -> Iterator[tuple[Any, str, list[str]]]:
    """Each distinct (value, source) of `key` that fails `ok`, with the roles it reaches: reported once. Every
    source is judged, not only the one that wins: which one wins between the file and the image's variables
    is the image's business, and a weak value anywhere is one edit away from being the one that counts."""
    failing: dict[tuple[str, str], list[str]] = {}
    shown: dict[tuple[str, str], Any] = {}
    for role, settings in broker_settings(values).items():
        found = [(value, source) for k, value, source in settings if k == key] or [
            (None, "nowhere (Kafka's default applies)")]
        for value, source in found:
            if not ok(value):
                failing.setdefault((repr(value), source), []).append(role)
                shown[(repr(value), source)] = value
    for (shown_value, source), roles in failing.items():
        yield shown[(shown_value, source)], source, roles


def topics(plan: Any) -> Iterator[tuple[str, int | None, dict[str, str]]]:
    """(name, replication factor, settings) of each topic in the access plan (components/access.py)."""
    for line in str(plan or "").splitlines():
        fields = line.split("\t")
        if fields[0] == "topic" and len(fields) >= 5:
            settings = dict(_split_property(s) for s in fields[4].split(",") if s != "-")
            yield fields[1], (_int(fields[3]) if fields[3].isdigit() else None), settings


def access_plan(args: ResourceValidationArgs) -> str | None:
    if args.resource_type != "kubernetes:core/v1:ConfigMap":
        return None
    plan = _mapping(args.props.get("data")).get("declaration.tsv")
    return plan if isinstance(plan, str) else None


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every key in a values tree or manifest."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            here = f"{path}.{key}" if path else str(key)
            yield here, str(key), child
            yield from _walk(child, here)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i, child in enumerate(value):
            yield from _walk(child, f"{path}[{i}]")


# --------------------------------------------------------------------------- resource validators

DURABILITY = (("default.replication.factor", 3), ("offsets.topic.replication.factor", 3),
              ("transaction.state.log.replication.factor", 3), ("min.insync.replicas", 2),
              ("transaction.state.log.min.isr", 2))
CONFIG_KEYS = {"default.replication.factor": "kafka.replicationFactor", "offsets.topic.replication.factor":
               "kafka.replicationFactor", "transaction.state.log.replication.factor": "kafka.replicationFactor",
               "min.insync.replicas": "kafka.minInsyncReplicas", "transaction.state.log.min.isr":
               "kafka.minInsyncReplicas"}


def _at_least(minimum: int, value: Any) -> bool:
    return _int(value) >= minimum


def kafka_prod_durability(args: ResourceValidationArgs, report: Report) -> None:
    values = kafka_values(args)
    if values is None or not STACK.prod:
        return
    for key, minimum in DURABILITY:
        for value, source, roles in _judge(values, key, functools.partial(_at_least, minimum)):
            report(f"prod Kafka needs {key} >= {minimum}, but the {_nodes(roles)} get {value!r} from {source}: "
                   f"set {CONFIG_KEYS[key]} to {minimum} or more and remove any other value. With less, losing one "
                   "broker or zone can lose acknowledged writes or stop them")


def kafka_no_unclean_election(args: ResourceValidationArgs, report: Report) -> None:
    values = kafka_values(args)
    if values is None:
        return
    for value, source, roles in _judge(values, "unclean.leader.election.enable", lambda v: str(v).lower() == "false"):
        report(f"unclean.leader.election.enable must be explicitly 'false', but the {_nodes(roles)} get {value!r} "
               f"from {source}: set it to 'false' in overrideConfiguration and nowhere else. An unclean leader "
               "discards writes the old leader acknowledged")


def kafka_prod_config_reviewable(args: ResourceValidationArgs, report: Report) -> None:
    values = kafka_values(args)
    if values is None or not STACK.prod:
        return
    for key in ("valueYamlFiles", "postrender"):
        if args.props.get(key):
            report(f"prod Kafka's release sets {key}, which no preview or review shows: put the values in the "
                   "program, where the policy pack reads them")
    for scope in ("", *(f"{role}." for role in KAFKA_ROLES)):
        settings = _mapping(values.get(scope[:-1])) if scope else values
        for key in HIDDEN_CONFIG:
            if settings.get(key):
                report(f"prod Kafka takes configuration from {scope}{key}, which no preview or review shows: move "
                       "those settings into overrideConfiguration (secrets belong in the chart's SASL values)")


def kafka_topics_durable(args: ResourceValidationArgs, report: Report) -> None:
    """Topics are declared in the access plan (components/access.py): `topic <name> <partitions> <rf> <settings>`."""
    for name, rf, settings in topics(access_plan(args)):
        if str(settings.get("unclean.leader.election.enable", "false")).lower() != "false":
            report(f"topic {name!r} enables unclean.leader.election.enable: remove it from kafka.topics[].config. "
                   "An unclean leader discards writes the old leader acknowledged")
        if not STACK.prod:
            continue
        if rf is not None and rf < 3:
            report(f"prod topic {name!r} has replicationFactor {rf}: set kafka.topics[].replicationFactor to 3 or "
                   "more, so losing a broker or a zone loses none of its writes")
        if "min.insync.replicas" in settings and _int(settings["min.insync.replicas"]) < 2:
            report(f"prod topic {name!r} sets min.insync.replicas={settings['min.insync.replicas']}: set it to 2 or "
                   "more (or remove it to inherit kafka.minInsyncReplicas)")


def eks_secrets_encryption(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "eks:index:Cluster":
        if not args.props.get("encryptionConfigKeyArn"):
            report("EKS secrets must be envelope-encrypted with a KMS key (encryptionConfigKeyArn)")
    elif args.resource_type == "aws:eks/cluster:Cluster":
        config = _mapping(args.props.get("encryptionConfig"))
        if "secrets" not in _list(config.get("resources")):
            report("EKS secrets must be envelope-encrypted with a KMS key (encryptionConfig.resources: secrets)")


def _covers_the_internet(cidrs: Sequence[str]) -> bool:
    try:
        networks = [ipaddress.IPv4Network(str(c), strict=False) for c in cidrs]
    except ValueError:
        return True  # not something EKS accepts either; never pass what cannot be judged
    return not networks or any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(networks))


def eks_no_open_endpoint_in_prod(args: ResourceValidationArgs, report: Report) -> None:
    if not STACK.prod:
        return
    if args.resource_type == "eks:index:Cluster":
        public, cidrs = args.props.get("endpointPublicAccess", True), _list(args.props.get("publicAccessCidrs"))
    elif args.resource_type == "aws:eks/cluster:Cluster":
        vpc = _mapping(args.props.get("vpcConfig"))
        public, cidrs = vpc.get("endpointPublicAccess", True), _list(vpc.get("publicAccessCidrs"))
    else:
        return
    # EKS opens a public endpoint with no CIDRs to 0.0.0.0/0; split ranges can cover it too
    if public and _covers_the_internet(cidrs):
        report("the prod EKS API endpoint is open to the whole internet (no CIDRs, or CIDRs that together cover "
               "0.0.0.0/0): turn cluster.endpointPublicAccess off or list only your deployers' egress in "
               "cluster.publicAccessCidrs")


def ebs_storage_class_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != "kubernetes:storage.k8s.io/v1:StorageClass":
        return
    encrypted = str(_mapping(args.props.get("parameters")).get("encrypted", "")).lower() == "true"
    if args.props.get("provisioner") == "ebs.csi.aws.com" and not encrypted:
        report("EBS StorageClasses must set parameters.encrypted: \"true\"")


def prod_storage_class_retains(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != "kubernetes:storage.k8s.io/v1:StorageClass" or not STACK.prod:
        return
    policy = args.props.get("reclaimPolicy") or "Delete"  # Kubernetes' default
    if policy != "Retain":
        report(f"prod StorageClass reclaimPolicy is {policy!r}: a released Kafka or Prometheus volume would be "
               "deleted with its data. Set storage.reclaimPolicy: Retain")


def helm_release_pinned(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in HELM_CHARTS:
        return
    version = str(args.props.get("version") or "")
    if not EXACT_VERSION.match(version):
        report(f"Helm chart {args.props.get('chart')!r} must be pinned to an exact version (got {version!r})")


def _images(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, image reference) for every image in a values tree or manifest."""
    if isinstance(value, Mapping):
        if "repository" in value and isinstance(value.get("repository"), str):
            yield path, f"{value['repository']}:{value.get('tag') or ''}"
        for key, child in value.items():
            if key == "image" and isinstance(child, str):
                yield f"{path}.image", child
            else:
                yield from _images(child, f"{path}.{key}" if path else key)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i, child in enumerate(value):
            yield from _images(child, f"{path}[{i}]")


def no_latest_image_tag(args: ResourceValidationArgs, report: Report) -> None:
    for path, image in _images(args.props):
        if "{{" in image:  # a chart template that resolves to the chart's pinned image
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if "@sha256:" not in image and tag in ("", "latest"):
            report(f"{path}: image {image!r} must pin a tag other than 'latest'")


def _must_be_protected(args: ResourceValidationArgs) -> str | None:
    """Why this resource must carry `protect` in prod, or None."""
    if args.resource_type in STATEFUL_TYPES or is_kafka_release(args.resource_type, args.props, args.urn):
        # an application user's password is meant to rotate and go with its entry; the access Job re-sets it
        return None if f"{PROJECT}:index:KafkaAccess$" in args.urn else "holds data or the keys to it"
    if args.resource_type == NAMESPACE and KAFKA_COMPONENT in args.urn:
        return "is Kafka's namespace: deleting it deletes the brokers, their Secrets and volume claims"
    if args.resource_type == "kubernetes:core/v1:Secret" and KAFKA_COMPONENT in args.urn:
        return "holds Kafka's own credentials or cluster identity"
    if args.resource_type == HELM_RELEASE and str(args.props.get("chart", "")).endswith("istio/release/charts/base"):
        return "owns Istio's CRDs: uninstalling it deletes every PeerAuthentication and AuthorizationPolicy"
    return None


def protect_prod_stateful(args: ResourceValidationArgs, report: Report) -> None:
    if not STACK.prod:
        return
    reason = _must_be_protected(args)
    if reason and not args.opts.protect:
        report(f"prod {args.resource_type} {args.name!r} {reason}: it must be protected (protect=cfg.protect)")


def namespace_injection(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type not in (NAMESPACE, NAMESPACE_PATCH):
        return
    metadata = _mapping(args.props.get("metadata"))
    name, labels = metadata.get("name"), _mapping(metadata.get("labels"))
    if args.resource_type == NAMESPACE_PATCH and "istio-injection" not in labels and "istio.io/rev" not in labels:
        return  # a patch that leaves injection alone
    if "istio.io/rev" in labels:  # a revision label wins over istio-injection: one this stack never installs
        report(f"namespace {name!r} sets istio.io/rev={labels['istio.io/rev']!r}: remove it; this stack injects "
               "through istio-injection: enabled and installs no revision")
    elif name != MESH_ROOT and labels.get("istio-injection") != "enabled":
        report(f"namespace {name!r} has istio-injection={labels.get('istio-injection')!r}: every namespace this "
               "stack creates, but istio-system, must keep istio-injection: enabled, or its pods run without "
               "mTLS and without the mesh's authorization")


def _opt_outs(value: Any) -> Iterator[str]:
    for path, key, child in _walk(value):
        # no sidecar at all, or a sidecar that lets some inbound ports past it in plaintext
        if (key == INJECT and str(child).lower() != "true") or key.startswith("traffic.sidecar.istio.io/exclude"):
            yield path


def kafka_pods_meshed(args: ResourceValidationArgs, report: Report) -> None:
    if is_kafka_release(args.resource_type, args.props, args.urn):
        found = list(_opt_outs(args.props.get("values")))
    elif args.resource_type.startswith("kubernetes:") and args.resource_type != HELM_RELEASE and \
            _mapping(args.props.get("metadata")).get("namespace") == STACK.kafka_namespace:
        found = list(_opt_outs(args.props.get("spec")))
    else:
        return
    for path in found:
        report(f"{path} opts Kafka's pods out of the mesh: remove it. Without a sidecar (or past it), Kafka's "
               "ports, its unauthenticated JMX included, take plaintext from anyone")


def _allows_anyone(rule: Mapping) -> str | None:
    sources = [_mapping(_mapping(f).get("source")) for f in _list(rule.get("from"))]
    if not sources:
        return "has no `from`"
    for source in sources:
        named = [source.get(k) for k in ("principals", "namespaces", "requestPrincipals", "ipBlocks",
                                         "remoteIpBlocks") if source.get(k)]
        if not named:
            return "has a source that names no one"
        if any("*" in str(v) or str(v).endswith("/0") for n in named for v in _list(n)):
            return "has a source with a wildcard or a /0 block"
    return None


def authorization_rules_name_a_source(args: ResourceValidationArgs, report: Report) -> None:
    if not is_kind(args.resource_type, AUTHORIZATION_POLICY):
        return
    spec = _mapping(args.props.get("spec"))
    if spec.get("action", "ALLOW") != "ALLOW":
        return  # a DENY, AUDIT or CUSTOM rule without a source narrows access; it never widens it
    for i, rule in enumerate(_list(spec.get("rules"))):
        why = _allows_anyone(_mapping(rule))
        if why:
            report(f"AuthorizationPolicy {_mapping(args.props.get('metadata')).get('name')!r} rules[{i}] {why}, "
                   "so it allows every caller: name the principals or namespaces it is for")


def destination_rule_keeps_mtls(args: ResourceValidationArgs, report: Report) -> None:
    if not is_kind(args.resource_type, DESTINATION_RULE):
        return
    for path, key, child in _walk(args.props.get("spec")):
        if key == "mode" and path.endswith("tls.mode") and child == "DISABLE":
            report(f"DestinationRule spec.{path}: DISABLE sends plaintext where the mesh requires mTLS: use "
                   "ISTIO_MUTUAL, or remove the tls block")


NODE_GROUPS = ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup")


def node_metadata_locked(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "aws:ec2/launchTemplate:LaunchTemplate":
        options = _mapping(args.props.get("metadataOptions"))
        if options.get("httpTokens") != "required":
            report(f"launch template {args.name!r} metadataOptions.httpTokens is {options.get('httpTokens')!r}: "
                   "set 'required' (IMDSv2 only)")
        if _int(options.get("httpPutResponseHopLimit"), 2) != 1:
            report(f"launch template {args.name!r} metadataOptions.httpPutResponseHopLimit is "
                   f"{options.get('httpPutResponseHopLimit')!r}: set 1, so pods cannot borrow the node's role "
                   "(they use IRSA)")
    elif args.resource_type in NODE_GROUPS and not args.props.get("launchTemplate"):
        report(f"node group {args.name!r} has no launch template, so its nodes get EKS's defaults (IMDSv1 "
               "on, a hop limit pods can use): give it the cluster's launch template")


# advisory


def prod_images_mirrored(args: ResourceValidationArgs, report: Report) -> None:
    values = kafka_values(args)
    if values is None or not STACK.prod:
        return
    registry = _mapping(values.get("image")).get("registry", "docker.io")
    if registry == "docker.io":
        # kafka.images.registry serves KMinion's image too: one mirror for both
        report("prod Kafka pulls from docker.io (frozen bitnamilegacy images, no CVE fixes, Docker Hub rate "
               "limits): mirror them and KMinion's, and set kafka.images.registry")


def destination_rule_host_is_a_service(args: ResourceValidationArgs, report: Report) -> None:
    if not is_kind(args.resource_type, DESTINATION_RULE):
        return
    host = str(_mapping(args.props.get("spec")).get("host", ""))
    if host.startswith("*.") and "headless" in host:
        report(f"DestinationRule host {host!r} matches per-pod names, which are no Service: Istio ignores it")


# --------------------------------------------------------------------------- stack validators


def stack_environment_known(args: StackValidationArgs, report: Report) -> None:
    if STACK.environment not in ("dev", "prod"):
        report(f"the pack did not receive {PROJECT}:environment from the engine (got {STACK.environment!r}), so "
               "it holds this stack to the prod rules: run Pulumi CLI 3.272 or newer, and set environment in the "
               "stack file")


def mesh_strict_mtls(args: StackValidationArgs, report: Report) -> None:
    policies = [r for r in args.resources if is_kind(r.resource_type, PEER_AUTHENTICATION)]
    if not args.resources:
        return
    mesh_wide = [p for p in policies if _mapping(p.props.get("metadata")).get("namespace") == MESH_ROOT
                 and not _mapping(p.props.get("spec")).get("selector")]
    if not mesh_wide:
        report("no mesh-wide PeerAuthentication in istio-system: mTLS mode is left to Istio's PERMISSIVE default")
    if not STACK.prod:
        return
    for p in policies:
        spec = _mapping(p.props.get("spec"))
        modes = [_mapping(spec.get("mtls")).get("mode", "UNSET")]
        modes += [_mapping(v).get("mode", "UNSET") for v in _mapping(spec.get("portLevelMtls")).values()]
        relaxed = [m for m in modes if m not in ("STRICT", "UNSET")]
        if relaxed or (p in mesh_wide and modes[0] != "STRICT"):
            report(f"prod PeerAuthentication {p.name!r} relaxes mTLS ({', '.join(relaxed or modes)}): "
                   "prod must stay STRICT", p.urn)


def mesh_allow_nothing(args: StackValidationArgs, report: Report) -> None:
    if not args.resources:
        return
    for r in args.resources:
        spec = _mapping(r.props.get("spec"))
        if is_kind(r.resource_type, AUTHORIZATION_POLICY) and _mapping(r.props.get("metadata")).get(
                "namespace") == MESH_ROOT and not any(spec.get(k) for k in ("selector", "targetRef", "targetRefs",
                                                                             "rules")) and \
                spec.get("action", "ALLOW") == "ALLOW":
            return
    report("no mesh-wide allow-nothing AuthorizationPolicy in istio-system (an ALLOW policy with no selector and "
           "no rules): without it, a workload with no policy of its own accepts every caller")


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

# (name, description, validator, enforcement) for each resource policy
RESOURCE_RULES: list[tuple[str, str, Callable[[ResourceValidationArgs, ReportViolation], None], EnforcementLevel]] = [
    ("kafka-prod-durability", "Prod Kafka keeps replication factor >= 3 and min ISR >= 2 on every node, from "
     "every config source.", kafka_prod_durability, MANDATORY),
    ("kafka-no-unclean-leader-election", "Kafka never elects an out-of-sync leader.", kafka_no_unclean_election,
     MANDATORY),
    ("kafka-prod-config-reviewable", "Prod Kafka takes no configuration from sources a review cannot see.",
     kafka_prod_config_reviewable, MANDATORY),
    ("kafka-topics-durable", "Declared topics keep unclean election off; in prod, RF >= 3 and min ISR >= 2.",
     kafka_topics_durable, MANDATORY),
    ("kafka-pods-meshed", "Kafka's pods never opt out of the mesh.", kafka_pods_meshed, MANDATORY),
    ("namespace-injection", "Every namespace the stack creates (but istio-system) has sidecar injection on.",
     namespace_injection, MANDATORY),
    ("authorization-rules-name-a-source", "Every ALLOW rule names who it allows.",
     authorization_rules_name_a_source, MANDATORY),
    ("destination-rule-keeps-mtls", "No DestinationRule turns TLS off.", destination_rule_keeps_mtls, MANDATORY),
    ("eks-secrets-encryption", "EKS secrets are envelope-encrypted with KMS.", eks_secrets_encryption, MANDATORY),
    ("eks-no-open-endpoint-in-prod", "The prod EKS API is not open to the internet.", eks_no_open_endpoint_in_prod,
     MANDATORY),
    ("node-metadata-locked", "Nodes require IMDSv2 with a hop limit of 1.", node_metadata_locked, MANDATORY),
    ("ebs-storage-class-encrypted", "EBS StorageClasses encrypt volumes.", ebs_storage_class_encrypted, MANDATORY),
    ("prod-storage-class-retains", "Prod StorageClasses retain released volumes.", prod_storage_class_retains,
     MANDATORY),
    ("helm-release-pinned", "Every Helm chart is pinned to an exact version.", helm_release_pinned, MANDATORY),
    ("no-latest-image-tag", "No container image uses the 'latest' tag or no tag.", no_latest_image_tag, MANDATORY),
    ("protect-prod-stateful", "Prod stateful resources, Kafka's namespace and Secrets, and istio-base are "
     "protected from deletion.", protect_prod_stateful, MANDATORY),
    ("destination-rule-host-is-a-service", "DestinationRule hosts name Services, not per-pod names.",
     destination_rule_host_is_a_service, ADVISORY),
    ("prod-images-mirrored", "Prod pulls Kafka's images from a registry you control.", prod_images_mirrored,
     ADVISORY),
]
STACK_RULES: list[tuple[str, str, Callable[[StackValidationArgs, ReportViolation], None], EnforcementLevel]] = [
    ("stack-environment-known", "The pack knows the stack's environment from its config.", stack_environment_known,
     MANDATORY),
    ("mesh-strict-mtls", "A mesh-wide STRICT PeerAuthentication exists; prod relaxes mTLS nowhere.",
     mesh_strict_mtls, MANDATORY),
    ("mesh-allow-nothing", "A mesh-wide allow-nothing AuthorizationPolicy exists.", mesh_allow_nothing, MANDATORY),
]

POLICIES = [
    *(ResourceValidationPolicy(name=n, description=d, validate=v, enforcement_level=e) for n, d, v, e in RESOURCE_RULES),
    *(StackValidationPolicy(name=n, description=d, validate=v, enforcement_level=e) for n, d, v, e in STACK_RULES),
]
