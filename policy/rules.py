"""CrossGuard guardrails for kafka-platform, as plain functions and Policy objects.

Importing this module starts nothing: only `__main__.py` builds the PolicyPack (which serves the
engine), so the tests can call each validator with resource args taken from the real program.
A stack is treated as prod when its name is `prod` or starts with `prod-` (read from the URN).
The engine hands validators read-only Mapping/Sequence proxies, never dicts and lists: test for those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
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
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHARTS = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart")
PEER_AUTHENTICATION = "kubernetes:security.istio.io/v1:PeerAuthentication"
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
# Resources whose loss loses data or access to it.
STATEFUL_TYPES = {
    "eks:index:Cluster", "aws:eks/cluster:Cluster", "aws:kms/key:Key", "aws:cloudwatch/logGroup:LogGroup",
    "random:index/randomId:RandomId", "random:index/randomPassword:RandomPassword",
}


def stack_of(urn: str) -> str:
    return urn.split("::")[0].split(":")[-1]  # urn:pulumi:<stack>::<project>::<type>::<name>


def is_prod(urn: str) -> bool:
    stack = stack_of(urn)
    return stack == "prod" or stack.startswith("prod-")


def is_kafka_release(resource_type: str, props: Mapping[str, Any]) -> bool:
    return resource_type == HELM_RELEASE and str(props.get("chart", "")).endswith("bitnamicharts/kafka")


def kafka_values(args: ResourceValidationArgs) -> Mapping | None:
    """The Kafka release's values; None for other resources, and while a first preview has them unknown
    (they carry the not-yet-generated cluster id); `pulumi up` checks them again once known."""
    if not is_kafka_release(args.resource_type, args.props):
        return None
    values = args.props.get("values")
    return values if isinstance(values, Mapping) else None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------- resource validators


def kafka_prod_durability(args: ResourceValidationArgs, report: Report) -> None:
    values = kafka_values(args)
    if values is None or not is_prod(args.urn):
        return
    settings = values.get("overrideConfiguration") or {}
    for key, minimum in (("default.replication.factor", 3), ("offsets.topic.replication.factor", 3),
                         ("transaction.state.log.replication.factor", 3), ("min.insync.replicas", 2),
                         ("transaction.state.log.min.isr", 2)):
        if _int(settings.get(key)) < minimum:
            report(f"prod Kafka needs {key} >= {minimum} (got {settings.get(key)!r}): with less, losing one "
                   "broker or zone can lose acknowledged writes or stop them")


def kafka_no_unclean_election(args: ResourceValidationArgs, report: Report) -> None:
    values = kafka_values(args)
    if values is None:
        return
    value = (values.get("overrideConfiguration") or {}).get("unclean.leader.election.enable")
    if str(value).lower() != "false":
        report(f"unclean.leader.election.enable must be explicitly 'false' (got {value!r}): an unclean leader "
               "discards writes the old leader acknowledged")


def eks_secrets_encryption(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type == "eks:index:Cluster":
        if not args.props.get("encryptionConfigKeyArn"):
            report("EKS secrets must be envelope-encrypted with a KMS key (encryptionConfigKeyArn)")
    elif args.resource_type == "aws:eks/cluster:Cluster":
        config = args.props.get("encryptionConfig") or {}
        if "secrets" not in (config.get("resources") or []):
            report("EKS secrets must be envelope-encrypted with a KMS key (encryptionConfig.resources: secrets)")


def eks_no_open_endpoint_in_prod(args: ResourceValidationArgs, report: Report) -> None:
    if not is_prod(args.urn):
        return
    if args.resource_type == "eks:index:Cluster":
        public, cidrs = args.props.get("endpointPublicAccess", True), args.props.get("publicAccessCidrs") or []
    elif args.resource_type == "aws:eks/cluster:Cluster":
        vpc = args.props.get("vpcConfig") or {}
        public, cidrs = vpc.get("endpointPublicAccess", True), vpc.get("publicAccessCidrs") or []
    else:
        return
    # EKS opens a public endpoint with no CIDRs to 0.0.0.0/0
    if public and (not cidrs or "0.0.0.0/0" in cidrs):
        report("the prod EKS API endpoint is open to the whole internet: turn public access off or "
               "list the allowed CIDRs (cluster.publicAccessCidrs)")


def ebs_storage_class_encrypted(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != "kubernetes:storage.k8s.io/v1:StorageClass":
        return
    encrypted = str((args.props.get("parameters") or {}).get("encrypted", "")).lower() == "true"
    if args.props.get("provisioner") == "ebs.csi.aws.com" and not encrypted:
        report("EBS StorageClasses must set parameters.encrypted: \"true\"")


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


def protect_prod_stateful(args: ResourceValidationArgs, report: Report) -> None:
    if not is_prod(args.urn):
        return
    stateful = args.resource_type in STATEFUL_TYPES or is_kafka_release(args.resource_type, args.props)
    # an application user's password is meant to rotate and go with its entry; the access Job re-sets it
    rotatable = "kafka-platform:index:KafkaAccess$" in args.urn
    if stateful and not rotatable and not args.opts.protect:
        report(f"prod {args.resource_type} {args.name!r} holds data or the keys to it and must be protected")


# advisory


def kafka_topics_replicated(args: ResourceValidationArgs, report: Report) -> None:
    """Topics are declared in the access plan (components/access.py): `topic <name> <partitions> <rf> ...` lines."""
    if args.resource_type != "kubernetes:core/v1:ConfigMap" or not is_prod(args.urn):
        return
    plan = (args.props.get("data") or {}).get("declaration.tsv")
    if not isinstance(plan, str):
        return
    for line in plan.splitlines():
        fields = line.split("\t")
        if fields[0] == "topic" and len(fields) >= 4 and _int(fields[3], 3) < 3:
            report(f"prod topic {fields[1]!r} has replicationFactor {fields[3]}")


def prod_images_mirrored(args: ResourceValidationArgs, report: Report) -> None:
    values = kafka_values(args)
    if values is None or not is_prod(args.urn):
        return
    registry = (values.get("image") or {}).get("registry", "docker.io")
    if registry == "docker.io":
        # kafka.images.registry serves KMinion's image too: one mirror for both
        report("prod Kafka pulls from docker.io (frozen bitnamilegacy images, no CVE fixes, Docker Hub rate "
               "limits): mirror them and KMinion's, and set kafka.images.registry")


def destination_rule_host_is_a_service(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type != "kubernetes:networking.istio.io/v1:DestinationRule":
        return
    host = str((args.props.get("spec") or {}).get("host", ""))
    if host.startswith("*.") and "headless" in host:
        report(f"DestinationRule host {host!r} matches per-pod names, which are no Service: Istio ignores it")


# --------------------------------------------------------------------------- stack validators


def mesh_strict_mtls(args: StackValidationArgs, report: Report) -> None:
    policies = [r for r in args.resources if r.resource_type == PEER_AUTHENTICATION]
    if not args.resources:
        return
    prod = is_prod(args.resources[0].urn)
    mesh_wide = [p for p in policies if (p.props.get("metadata") or {}).get("namespace") == "istio-system"
                 and not (p.props.get("spec") or {}).get("selector")]
    if not mesh_wide:
        report("no mesh-wide PeerAuthentication in istio-system: mTLS mode is left to Istio's PERMISSIVE default")
    if not prod:
        return
    for p in policies:
        spec = p.props.get("spec") or {}
        modes = [(spec.get("mtls") or {}).get("mode", "UNSET")]
        modes += [(v or {}).get("mode", "UNSET") for v in (spec.get("portLevelMtls") or {}).values()]
        relaxed = [m for m in modes if m not in ("STRICT", "UNSET")]
        if relaxed or (p in mesh_wide and modes[0] != "STRICT"):
            report(f"prod PeerAuthentication {p.name!r} relaxes mTLS ({', '.join(relaxed or modes)}): "
                   "prod must stay STRICT", p.urn)


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

# (name, description, validator, enforcement) for each resource policy
RESOURCE_RULES: list[tuple[str, str, Callable[[ResourceValidationArgs, ReportViolation], None], EnforcementLevel]] = [
    ("kafka-prod-durability", "Prod Kafka keeps replication factor >= 3 and min ISR >= 2.", kafka_prod_durability,
     MANDATORY),
    ("kafka-no-unclean-leader-election", "Kafka never elects an out-of-sync leader.", kafka_no_unclean_election,
     MANDATORY),
    ("eks-secrets-encryption", "EKS secrets are envelope-encrypted with KMS.", eks_secrets_encryption, MANDATORY),
    ("eks-no-open-endpoint-in-prod", "The prod EKS API is not open to 0.0.0.0/0.", eks_no_open_endpoint_in_prod,
     MANDATORY),
    ("ebs-storage-class-encrypted", "EBS StorageClasses encrypt volumes.", ebs_storage_class_encrypted, MANDATORY),
    ("helm-release-pinned", "Every Helm chart is pinned to an exact version.", helm_release_pinned, MANDATORY),
    ("no-latest-image-tag", "No container image uses the 'latest' tag or no tag.", no_latest_image_tag, MANDATORY),
    ("protect-prod-stateful", "Prod stateful resources are protected from deletion.", protect_prod_stateful,
     MANDATORY),
    ("kafka-prod-topics-replicated", "Prod topics are declared with replication factor >= 3.",
     kafka_topics_replicated, ADVISORY),
    ("destination-rule-host-is-a-service", "DestinationRule hosts name Services, not per-pod names.",
     destination_rule_host_is_a_service, ADVISORY),
    ("prod-images-mirrored", "Prod pulls Kafka's images from a registry you control.", prod_images_mirrored,
     ADVISORY),
]
STACK_RULES: list[tuple[str, str, Callable[[StackValidationArgs, ReportViolation], None], EnforcementLevel]] = [
    ("mesh-strict-mtls", "A mesh-wide STRICT PeerAuthentication exists; prod relaxes mTLS nowhere.",
     mesh_strict_mtls, MANDATORY),
]

POLICIES = [
    *(ResourceValidationPolicy(name=n, description=d, validate=v, enforcement_level=e) for n, d, v, e in RESOURCE_RULES),
    *(StackValidationPolicy(name=n, description=d, validate=v, enforcement_level=e) for n, d, v, e in STACK_RULES),
]
