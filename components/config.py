"""The one typed configuration model: every stack key's type, default, constraints and description.

Data flows one way: stack file -> `load_config()` -> frozen pydantic models -> components.
Validation runs in two passes, both before any resource is registered:
1. pydantic checks structure, types and each key's own constraints (every error in every section);
2. semantic rules judge what values mean in AWS, Kubernetes, Istio and Kafka, section by section; a rule
   runs only when the sections it reads parsed cleanly, so it never piles onto a root cause.
Each problem is one line: `kafka-platform:<key> = <value>: <what is allowed>`. The README's reference
and `schema/stack-config.schema.json` are generated from these models (`python -m components.config_docs`).
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from .versions import (
    DEFAULT_KUBERNETES_VERSION,
    EKS_STANDARD_SUPPORT_ENDS,
    ISTIO_IMAGE_HUB,
    ISTIO_MINOR,
    ISTIO_VERSION,
    JMX_EXPORTER_IMAGE,
    KAFKA_IMAGE,
    KMINION_IMAGE,
    RETIRED_ISTIO_HUBS,
    SUPPORT_WARNING_DAYS,
    SUPPORTED_KUBERNETES_VERSIONS,
)

PROJECT = "kafka-platform"
# The first node id of each StatefulSet: chart 32.4.3's controller.minId and broker.minId defaults, which the
# project leaves alone ("Do not change after first initialization"); the chart contract test checks them.
CONTROLLER_MIN_ID, BROKER_MIN_ID = 0, 100
ENVIRONMENTS = ("dev", "prod")
MAX_AVAILABILITY_ZONES = 4  # the VPC is carved into 8 equal blocks: 4 private + 4 public
LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]
AccessLevel = Literal["admin", "edit", "view", "refresh"]
CLUSTER_LOG_TYPES: tuple[LogType, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                             2557, 2922, 3288, 3653)
# Namespaces Kubernetes, EKS and Istio already own: a component placed there shares their RBAC, quotas and
# admission settings, and a `pulumi destroy` would try to delete them.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "istio-system",
                       "amazon-cloudwatch", "aws-observability", "amazon-guardduty")
SECRET_SECTIONS = ("alertReceiver",)  # values under these keys are never echoed, even under a misspelt key
# Kafka 4.0 topic-level settings (org.apache.kafka.common.config.TopicConfig): anything else is a typo,
# which `kafka-topics.sh --config` would reject only at run time.
KAFKA_TOPIC_CONFIGS = frozenset({
    "cleanup.policy", "compression.type", "compression.gzip.level", "compression.lz4.level",
    "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms",
    "follower.replication.throttled.replicas", "index.interval.bytes", "leader.replication.throttled.replicas",
    "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
    "message.timestamp.after.max.ms", "message.timestamp.before.max.ms", "message.timestamp.type",
    "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "preallocate",
    "remote.storage.enable", "remote.log.copy.disable", "remote.log.delete.on.disable", "retention.bytes",
    "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
    "unclean.leader.election.enable"})


class ConfigError(ValueError):
    """Raised before any resource exists; each line names the key, the value and what is allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


# --------------------------------------------------------------------------- value types


def _check(test: Callable[[Any], bool], allowed: str) -> AfterValidator:
    def validate(value: Any) -> Any:
        if not test(value):
            raise ValueError(allowed)
        return value
    return AfterValidator(validate)


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_QUANTITY_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                     "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_quantity(value: str) -> float:
    """A Kubernetes quantity ("500m", "2Gi", "1.5") as a number of cores or bytes; ValueError if malformed."""
    m = _QUANTITY.fullmatch(str(value))
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * _QUANTITY_FACTORS[m.group(2)]


def _unit(value: str) -> str | None:
    m = _QUANTITY.fullmatch(value)
    return m.group(2) if m else None


def _is_cpu(value: str) -> bool:  # cores, or millicores; a byte suffix on a CPU is a mistake
    return _QUANTITY.fullmatch(value) is not None and _unit(value) in (None, "m") and parse_quantity(value) >= 0.001


def _is_memory(value: str) -> bool:  # bytes; "512m" would be 0.512 bytes, which no container can run in
    return _QUANTITY.fullmatch(value) is not None and _unit(value) != "m" and parse_quantity(value) >= 2**20


def _is_volume(value: str) -> bool:  # gp3 volumes are 1 GiB to 16 TiB
    return _QUANTITY.fullmatch(value) is not None and _unit(value) != "m" and 2**30 <= parse_quantity(value) <= 16 * 2**40


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IMAGE_HUB = re.compile(r"^([a-z0-9-]+(\.[a-z0-9-]+)+|localhost)(:\d{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")
_IMAGE = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.IPv4Network(value, strict=True)
        return True
    except ValueError:
        return False


def _names_a_registry(image: str) -> bool:
    first = image.split("/", 1)[0]
    return "/" in image and ("." in first or ":" in first or first == "localhost")


def _unique(values: tuple) -> bool:
    return len(set(values)) == len(values)


Cpu = Annotated[str, _check(_is_cpu, "must be a Kubernetes quantity of CPU in cores or millicores, such as 500m "
                                     "or 2 (not bytes)")]
Memory = Annotated[str, _check(_is_memory, "must be a Kubernetes quantity of memory in bytes, at least 1Mi, such as "
                                           "512Mi or 2Gi (the suffix m would mean thousandths of a byte)")]
Volume = Annotated[str, _check(_is_volume, "must be a Kubernetes quantity of storage, at least 1Gi and at most 16Ti "
                                           "(one gp3 volume), such as 100Gi")]
Namespace = Annotated[str, _check(lambda v: _DNS_LABEL.fullmatch(v) is not None,
                                  "must be a Kubernetes namespace name (a DNS label: namespace names are lowercase "
                                  "letters, digits and '-')")]
Image = Annotated[str, _check(lambda v: _IMAGE.fullmatch(v) is not None,
                              "must be repository:tag with an explicit tag, such as " + KAFKA_IMAGE)]
NonEmpty = Annotated[str, Field(min_length=1)]


class Model(BaseModel):
    """Frozen, closed to unknown keys, camelCase in the stack file."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        """A partly given object keeps the rest of its default: `brokers: {replicas: 0}` keeps the sizing."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, field in cls.model_fields.items():
            alias = field.alias or name
            if isinstance(merged.get(alias), dict) and isinstance(field.default, BaseModel):
                merged[alias] = _deep_merge(field.default.model_dump(by_alias=True, exclude_none=True), merged[alias])
        return merged


def _deep_merge(base: dict, over: dict) -> dict:
    return {**base, **{k: _deep_merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                       for k, v in over.items()}}


# --------------------------------------------------------------------------- the model


class ExistingVpc(Model):
    """Bring your own VPC instead of creating one."""

    vpc_id: Annotated[str, _check(lambda v: re.fullmatch(r"vpc-[0-9a-f]{8,17}", v) is not None,
                                  "must be a VPC id such as vpc-0123456789abcdef0")] = Field(
        description="the VPC's id")
    public_subnet_ids: tuple[str, ...] = Field((), description="public subnet ids (for internet-facing load balancers)")
    private_subnet_ids: tuple[str, ...] = Field(
        description="private subnet ids, one per zone, in the order of `network.availabilityZones`")


class NetworkConfig(Model):
    availability_zones: tuple[str, ...] = Field(
        description="distinct zones of the stack's region; 2-4, prod 3-4 (a zone can be lost with RF 3)")
    vpc_cidr: Annotated[str, _check(lambda v: _is_cidr(v) and ipaddress.IPv4Network(v).is_private
                                    and 16 <= ipaddress.IPv4Network(v).prefixlen <= 20,
                                    "must be a private (RFC 1918) IPv4 CIDR with a prefix from /16 to /20, e.g. "
                                    "10.0.0.0/16")] = Field(
        "10.0.0.0/16", description="private IPv4, /16-/20; split into 8 equal subnets (4 private, 4 public)")
    nat_gateways: Literal["single", "perAz"] = Field(
        "perAz", description="`single` or `perAz`; prod must be `perAz` (a single NAT is a zone-wide single point "
                             "of failure)")
    existing_vpc: ExistingVpc | None = Field(None, description="use an existing VPC's subnets instead of a new VPC")


class NodeGroupConfig(Model):
    """Sizing of each per-zone managed node group (EBS volumes are zonal, so every zone needs capacity)."""

    instance_types: tuple[Annotated[str, _check(
        lambda v: re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", v) is not None
        and not re.match(r"^[a-z]+\d+[a-z]*g[a-z]*\.", v),
        "must be an x86_64 EC2 instance type such as m6i.large (the nodes run AL2023_x86_64_STANDARD)")], ...] = Field(
        ("m6i.large",), min_length=1, description="x86_64 instance types (AL2023 x86_64 AMI); at least one")
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(
        "ON_DEMAND", description="prod must be `ON_DEMAND` (a spot reclaim can take a broker and its zone's quorum)")
    min_size: int = Field(1, ge=1, le=100, description="per zone; at least 1, so every zone can host its brokers")
    desired_size: int = Field(1, ge=1, le=100, description="per zone; minSize <= desiredSize <= maxSize")
    max_size: int = Field(3, ge=1, le=100, description="per zone; 1-100")
    disk_size_gb: int = Field(50, ge=20, le=16384, description="encrypted gp3 root volume in GiB, 20-16384")
    ssm_access: bool = Field(False, description="Session Manager shell on the nodes (AmazonSSMManagedInstanceCore, "
                                                "which also reads every SSM parameter in the account); prod must "
                                                "be `false`: use `kubectl debug node/...`")
    generations: dict[str, int] = Field(
        default_factory=dict,
        description="per zone, the node group generation (default 1): bump one zone per `up` to apply "
                    "`instanceTypes` or `capacityType`, which never replace a running group (README \"Node groups\")")


class ClusterConfig(Model):
    kubernetes_version: Annotated[str, _check(lambda v: v in SUPPORTED_KUBERNETES_VERSIONS, "")] = Field(
        DEFAULT_KUBERNETES_VERSION,
        description="in EKS standard support and supported by Istio " + ISTIO_MINOR + ": "
                    + ", ".join(f"`{v}`" for v in SUPPORTED_KUBERNETES_VERSIONS)
                    + "; a preview warns 90 days before standard support ends")
    upgrade_policy: Literal["STANDARD", "EXTENDED"] = Field(
        "EXTENDED", description="what EKS does when standard support ends: `EXTENDED` (EKS's own default) keeps "
                                "the version at $0.60/h instead of $0.10/h; `STANDARD` upgrades the control plane "
                                "itself, possibly to a minor Istio does not support yet")
    endpoint_public_access: bool = Field(False, description="a public API endpoint besides the private one")
    public_access_cidrs: tuple[Annotated[str, _check(_is_cidr, "must be IPv4 CIDRs such as 203.0.113.0/24")],
                               ...] = Field(
        (), description="who may reach a public endpoint; required when public; prod never the whole internet")
    access: dict[Annotated[str, _check(lambda v: re.fullmatch(r"[\w+=,.@-]{1,64}", v) is not None,
                                       "must be IAM role names (not ARNs), e.g. KafkaPlatformAdmin")],
                 AccessLevel] = Field(
        default_factory=dict,
        description="IAM role *name* → `admin` (cluster-admin: deployers, break-glass), `edit`, `view` (EKS's "
                    "access policies) or `refresh` (reads every object, Secrets included: drift checks); the "
                    "cluster's creator is admin anyway")
    log_types: tuple[LogType, ...] = Field(
        CLUSTER_LOG_TYPES, description="control-plane logs to CloudWatch; prod keeps `audit`")
    log_retention_days: int = Field(90, description="a CloudWatch retention value: "
                                                    + ", ".join(map(str, CLOUDWATCH_RETENTION_DAYS)))
    node_groups: NodeGroupConfig = Field(default_factory=NodeGroupConfig)
    fargate_namespaces: tuple[Namespace, ...] = Field(
        (), max_length=5, description="at most 5; never a meshed namespace nor `kube-system` (Fargate runs no "
                                      "sidecar, no DaemonSet, no EBS)")


class StorageConfig(Model):
    class_name: Annotated[str, _check(lambda v: _DNS_LABEL.fullmatch(v) is not None,
                                      "must be a DNS label such as gp3-encrypted")] = Field(
        "gp3-encrypted", description="the default StorageClass's name")
    reclaim_policy: Literal["Retain", "Delete"] = Field(
        "Retain", description="what a released volume does; prod must be `Retain` (a deleted claim keeps the data)")


class Resources(Model):
    """Container requests; memory limit = request, because memory is not compressible."""

    cpu: Cpu = Field(description="CPU request")
    memory: Memory = Field(description="memory request and limit")
    cpu_limit: Cpu | None = Field(None, description="optional CPU limit, at least the request (unset: no "
                                                    "throttling of latency-sensitive pods)")

    def to_k8s(self) -> dict:
        limits = {"memory": self.memory, **({"cpu": self.cpu_limit} if self.cpu_limit else {})}
        return {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits}


class MeshConfig(Model):
    istio_version: Annotated[str, _check(
        lambda v: re.fullmatch(re.escape(ISTIO_MINOR) + r"\.\d+", v) is not None,
        f"must be an exact {ISTIO_MINOR}.x release such as {ISTIO_VERSION} (the chart values are checked against "
        f"{ISTIO_MINOR}, and older charts pull from retired hosts; no ranges, no 'latest')")] = Field(
        ISTIO_VERSION, description=f"an exact {ISTIO_MINOR}.x release; the default comes from components/versions.py")
    image_hub: Annotated[str, _check(lambda v: _IMAGE_HUB.fullmatch(v) is not None,
                                     "must be an image registry host and repository path without a scheme or tag, "
                                     f"such as {ISTIO_IMAGE_HUB} or 123456789012.dkr.ecr.us-east-1.amazonaws.com/istio"
                                     )] = Field(
        ISTIO_IMAGE_HUB, description="registry host and path of Istio's images, e.g. an ECR pull-through cache; "
                                     "never `gcr.io/istio-release` or `registry.istio.io` (retired)")
    mtls_mode: Literal["STRICT", "PERMISSIVE", "DISABLE"] = Field(
        "STRICT", description="mesh-wide mTLS; prod must be `STRICT`")
    outbound_traffic_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY", "ALLOW_ANY_DYNAMIC_DNS"] = Field(
        "ALLOW_ANY", description="`REGISTRY_ONLY` blocks every external host (AWS APIs too) until a ServiceEntry "
                                 "names it")
    access_logging: bool = Field(False, description="Envoy access logs to stdout")
    istiod_replicas: int = Field(2, ge=1, le=10, description="1-10; prod at least 2 (a PodDisruptionBudget comes "
                                                             "with more than one)")
    istiod_resources: Resources = Field(Resources(cpu="500m", memory="2Gi"))
    namespaces: tuple[Namespace, ...] = Field(
        (), description="extra application namespaces to create meshed (Kafka's clients)")
    namespaces_pod_security: Literal["restricted", "baseline", "privileged"] = Field(
        "baseline", description="the Pod Security level enforced in `namespaces` (the teams' workloads; "
                                "`restricted` is warned about and audited either way)")


class KafkaRole(Model):
    """One StatefulSet's sizing: controllers, or dedicated brokers."""

    replicas: int = Field(ge=0, le=30, description="pods in this StatefulSet")
    storage: Volume = Field(description="data volume per pod; grow it later by expanding the PVCs, not this value")
    resources: Resources
    heap: Annotated[str, _check(lambda v: re.fullmatch(r"[1-9]\d*[mMgG]", v) is not None,
                                "must be a JVM size such as 1024m or 2g")] = Field(
        description="JVM heap (-Xmx/-Xms); at most half of the memory, the rest is page cache")


class Topic(Model):
    name: Annotated[str, _check(lambda v: re.fullmatch(r"[A-Za-z0-9._-]{1,249}", v) is not None
                                and v not in (".", ".."),
                                "must be 1-249 characters of letters, digits, '.', '_' and '-'")] = Field(
        description="letters, digits, `.`, `_`, `-`")
    partitions: int = Field(3, ge=1, le=10000, description="1-10000")
    replication_factor: int = Field(description="1 to the broker count; defaults to `kafka.replicationFactor`; "
                                                "prod at least 3", json_schema_extra={"defaultDoc": "kafka RF"})
    config: dict[str, str] = Field(
        {}, description="Kafka 4.0 topic settings (strings); prod never below the cluster's durability; a setting "
                        "removed here is removed from the topic")
    delete: bool = Field(False, description="`true` deletes the topic; a topic whose entry is removed is left alone")


class KafkaImages(Model):
    """repository:tag under `registry`; docker.io/bitnami/* no longer pulls, bitnamilegacy/* is frozen."""

    registry: Annotated[str, _check(lambda v: re.fullmatch(r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*", v) is not None,
                                    "must be a registry host such as docker.io or an ECR registry")] = Field(
        "docker.io", description="set to your mirror (ECR) in prod")
    kafka: Image = Field(KAFKA_IMAGE, description="`repository:tag` without a registry, never `latest`")
    jmx_exporter: Image = Field(JMX_EXPORTER_IMAGE, description="`repository:tag` without a registry, never `latest`")
    kminion: Image = Field(KMINION_IMAGE, description="`repository:tag` without a registry, never `latest`")

    @property
    def is_bitnami_legacy(self) -> bool:
        """The chart only lets docker.io/bitnamilegacy/* replace its images without allowInsecureImages."""
        return self.registry == "docker.io" and all(
            image.startswith("bitnamilegacy/") for image in (self.kafka, self.jmx_exporter))


ADMIN_USER = "kafka-admin"  # the platform's admin: a super user that no application uses
INTERNAL_USERS = ("inter_broker_user", "controller_user")  # the chart's PLAIN users of the internal listeners
# A name, or a prefix of at least 3 characters ending in *; never Kafka's internal __ topics.
_PATTERN = re.compile(r"(?!__)([A-Za-z0-9._-]{1,249}|[A-Za-z0-9._-]{3,248}\*)")


class TopicGrant(Model):
    topic: Annotated[str, _check(lambda v: _PATTERN.fullmatch(v) is not None and v != "*",
                                 "must be a topic name, or a prefix of 3 or more characters ending in * such as orders.* (not an "
                                 "internal __ topic)")] = Field(
        description="a declared topic's name, or a prefix ending in `*` (`orders.*`)")
    intents: tuple[Literal["produce", "consume", "admin"], ...] = Field(
        min_length=1, description="`produce` (Write, Describe), `consume` (Read, Describe; Read on the consumer "
                                  "groups), `admin` (Describe, DescribeConfigs; Describe and Delete on the groups)")


class Quotas(Model):
    producer_byte_rate: int | None = Field(None, ge=1024, description="bytes/s this user may produce per broker")
    consumer_byte_rate: int | None = Field(None, ge=1024, description="bytes/s this user may fetch per broker")
    request_percentage: int | None = Field(None, ge=1, le=10000,
                                           description="percent of one request-handler thread per broker")


class KafkaUser(Model):
    """One client: who it is (namespace, service account), what it may do, and its own credentials Secret."""

    name: Annotated[str, _check(lambda v: re.fullmatch(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?", v) is not None,
                                "must be a lowercase DNS name (it names the user and its Secret)")] = Field(
        description="the SCRAM user name; its Secret is `kafka-<name>` in its namespace")
    namespace: Namespace = Field(description="the client's namespace; must be meshed (`mesh.namespaces`)")
    service_account: Annotated[str, _check(lambda v: _DNS_LABEL.fullmatch(v) is not None,
                                           "must be a service account name (a DNS label)")] | None = Field(
        None, description="only this service account may connect (else any pod of the namespace)")
    topics: tuple[TopicGrant, ...] = Field(min_length=1, description="what the user may do on which topics")
    consumer_groups: tuple[Annotated[str, _check(lambda v: _PATTERN.fullmatch(v) is not None and v != "*",
                                                 "must be group names, or prefixes of 3 or more characters ending in *")], ...] = Field(
        (), description="groups it consumes in (names or prefixes ending in `*`); required with `consume`")
    transactional_ids: tuple[Annotated[str, _check(
        lambda v: _PATTERN.fullmatch(v) is not None and v != "*",
        "must be transactional ids, or prefixes of 3 or more characters ending in *")], ...] = Field(
        (), description="transactional ids it may use (names or prefixes ending in `*`); needs `produce`")
    quotas: Quotas | None = Field(None, description="optional produce, fetch and request quotas")
    password_rotation: Annotated[str, StringConstraints(max_length=64)] = Field(
        "", description="set or change it (any string) to generate a new password; the old one stops working at "
                        "once")


class Verify(Model):
    """The in-cluster proof after `up` (components/verification.py, README "Did it work?")."""

    enabled: bool = Field(True, description="run the verification Jobs on every `up` that changes Kafka, the mesh "
                                            "or the access model; `up` fails when a check fails")
    records: int = Field(100, ge=1, le=10000, description="records produced with acks=all and read back")


# The verification's own names: declared through the access model like any client, and reserved for it.
VERIFY_NAMESPACE = "kafka-verify"
VERIFY_USER = "platform-verify"  # produces and consumes on its own topic only
VERIFY_NO_ACL_USER = "platform-verify-no-acl"  # signs in, and has no ACL anywhere
VERIFY_USERS = (VERIFY_USER, VERIFY_NO_ACL_USER)
VERIFY_TOPIC = "platform-verify"
VERIFY_GROUPS = "platform-verify-*"
VERIFY_SERVICE_ACCOUNT = "platform-verify"  # the only identity the mesh lets through from its namespace
# KMinion's (components/lag.py): the same, for the lag exporter and its end-to-end probe.
KMINION_NAMESPACE = "kminion"
KMINION_USER = "platform-kminion"
KMINION_SERVICE_ACCOUNT = "kminion"
KMINION_TOPIC = "platform-kminion-end-to-end"
KMINION_GROUPS = "platform-kminion-end-to-end-*"  # KMinion names its group <prefix>-<uuid>
PLATFORM_USERS = (*VERIFY_USERS, KMINION_USER)
PLATFORM_TOPICS = (VERIFY_TOPIC, KMINION_TOPIC)
PLATFORM_GROUPS = (VERIFY_GROUPS, KMINION_GROUPS)
PLATFORM_NAMESPACES = {VERIFY_NAMESPACE: "the verification (kafka.verify)", KMINION_NAMESPACE: "KMinion (kafka.lag)"}
_DURATION = re.compile(r"[1-9]\d*[smh]")


class Lag(Model):
    """Consumer lag and end-to-end latency from KMinion (components/lag.py, README "Consumer lag")."""

    enabled: bool = Field(True, description="run KMinion in its own meshed namespace, with its alerts and dashboard")
    max_lag: int = Field(10000, ge=1, description="records a consumer group may trail a topic (summed over its "
                                                  "partitions) before `KafkaConsumerLagHigh`")
    growing_for: Annotated[str, _check(lambda v: _DURATION.fullmatch(v) is not None,
                                       "must be a duration such as 15m, 1h or 900s")] = Field(
        "15m", description="`KafkaConsumerLagGrowing` when a group's lag has trended upward for this long (a "
                           "duration: `15m`, `1h`, `900s`)")
    max_end_to_end_seconds: float = Field(1.0, gt=0, le=20, description="p99 of produce-to-consume through Kafka "
                                                                        "(seconds, at most 20) before "
                                                                        "`KafkaEndToEndLatencyHigh`")


class Authorization(Model):
    allow_everyone_if_no_acl: bool = Field(
        False, description="migration only: `true` lets any authenticated user use a resource that has no ACL yet "
                           "(README \"Turning authorization on\")")


CONTROLLER_DEFAULTS = {"replicas": 3, "storage": "10Gi", "resources": {"cpu": "500m", "memory": "2Gi"}, "heap": "1g"}
BROKER_DEFAULTS = {"replicas": 3, "storage": "100Gi", "resources": {"cpu": "1", "memory": "4Gi"}, "heap": "2g"}


class KafkaConfig(Model):
    namespace: Namespace = Field("kafka", description="where Kafka runs (meshed)")
    controllers: KafkaRole = Field(
        KafkaRole.model_validate(CONTROLLER_DEFAULTS),
        description="KRaft controllers: 3, or 1 in dev only")
    brokers: KafkaRole = Field(
        KafkaRole.model_validate(BROKER_DEFAULTS),
        description="dedicated brokers; 0 makes the controllers combined controller+broker nodes (dev only); "
                    "prod at least 3")
    drained_brokers: tuple[int, ...] = Field(
        (), description="node ids of brokers being removed whose partitions were moved off (README \"Removing "
                        "brokers\"); prod lowers `brokers.replicas` only for brokers named here")
    replication_factor: int = Field(description="1 to the broker count; prod 3 or more",
                                    json_schema_extra={"defaultDoc": "min(3, brokers)"})
    min_insync_replicas: int = Field(description="1 to RF; prod 2 <= min ISR < RF",
                                     json_schema_extra={"defaultDoc": "min(2, RF - 1), at least 1"})
    auto_create_topics: bool = Field(False, description="prod must be `false`: a typo in a client would create a topic")
    rack_awareness: bool = Field(True, description="`broker.rack` = the broker's zone; prod must be `true`")
    users: tuple[KafkaUser, ...] = Field(
        (), description="Kafka's clients, declared: each gets a password, a Secret in its namespace, its ACLs and "
                        "its mesh permission; a removed entry loses all of them")
    authorization: Authorization = Field(default_factory=Authorization)
    images: KafkaImages = Field(default_factory=KafkaImages)
    topics: tuple[Topic, ...] = Field((), description="topics, kept as declared by every `pulumi up`: created, "
                                                      "partitions raised, settings applied and removed")
    verify: Verify = Field(default_factory=Verify)
    lag: Lag = Field(default_factory=Lag)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """RF and min ISR default from the broker count, and a topic's RF from the cluster's."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        brokers = _int(_dig(data, "brokers", "replicas"), 3)
        controllers = _int(_dig(data, "controllers", "replicas"), 3)
        count = (brokers if brokers else controllers) or 3  # an invalid count is reported on its own key
        if data.get("replicationFactor") is None:
            data["replicationFactor"] = min(3, count)
        rf = _int(data.get("replicationFactor"), None)
        if data.get("minInsyncReplicas") is None and rf is not None:
            data["minInsyncReplicas"] = max(1, min(2, rf - 1))
        if isinstance(data.get("topics"), list) and rf is not None:
            data["topics"] = [{"replicationFactor": rf, **t} if isinstance(t, dict) and t.get("replicationFactor")
                              is None else t for t in data["topics"]]
        return data

    @property
    def dedicated_brokers(self) -> bool:
        return self.brokers.replicas > 0

    @property
    def broker_count(self) -> int:
        return self.brokers.replicas if self.dedicated_brokers else self.controllers.replicas

    @property
    def first_broker_id(self) -> int:
        """The chart's node ids, one per StatefulSet ordinal from its role's minId."""
        return BROKER_MIN_ID if self.dedicated_brokers else CONTROLLER_MIN_ID

    @property
    def broker_ids(self) -> tuple[int, ...]:
        return tuple(range(self.first_broker_id, self.first_broker_id + self.broker_count))

    @property
    def platform_namespaces(self) -> tuple[str, ...]:
        """The meshed namespaces of the platform's own clients: the verification's and KMinion's."""
        return (*((VERIFY_NAMESPACE,) if self.verify.enabled else ()),
                *((KMINION_NAMESPACE,) if self.lag.enabled else ()))

    @property
    def access_users(self) -> tuple[KafkaUser, ...]:
        """The declared users, and the verification's two while it is on: the access model applies them all."""
        if not self.verify.enabled:
            return (*self.users, *self._kminion_user())
        verify = KafkaUser(name=VERIFY_USER, namespace=VERIFY_NAMESPACE, service_account=VERIFY_SERVICE_ACCOUNT,
                           topics=(TopicGrant(topic=VERIFY_TOPIC, intents=("produce", "consume", "admin")),),
                           consumer_groups=(VERIFY_GROUPS,))
        # no grant at all: built without validation, which requires one for a client's entry
        no_acl = KafkaUser.model_construct(name=VERIFY_NO_ACL_USER, namespace=VERIFY_NAMESPACE,
                                           service_account=VERIFY_SERVICE_ACCOUNT, topics=(), consumer_groups=(),
                                           transactional_ids=(), quotas=None, password_rotation="")
        return (*self.users, verify, no_acl, *self._kminion_user())

    def _kminion_user(self) -> tuple[KafkaUser, ...]:
        """KMinion's probe topic and groups; what it reads of every topic and group comes in access.py."""
        if not self.lag.enabled:
            return ()
        return (KafkaUser(name=KMINION_USER, namespace=KMINION_NAMESPACE, service_account=KMINION_SERVICE_ACCOUNT,
                          topics=(TopicGrant(topic=KMINION_TOPIC, intents=("produce", "consume")),),
                          consumer_groups=(KMINION_GROUPS,)),)

    @property
    def access_topics(self) -> tuple[Topic, ...]:
        """The declared topics, and the verification's: the cluster's RF and min ISR, an hour of records."""
        durable = {"min.insync.replicas": str(self.min_insync_replicas)}
        verify = Topic(name=VERIFY_TOPIC, partitions=3, replication_factor=self.replication_factor,
                       config={**durable, "retention.ms": "3600000", "segment.ms": "3600000"})
        # KMinion's probe needs its records for seconds (its roundtrip SLA is 20 s): an hour, like the verification's
        kminion = Topic(name=KMINION_TOPIC, partitions=3, replication_factor=self.replication_factor,
                        config={**durable, "retention.ms": "3600000", "segment.ms": "3600000"})
        return (*self.topics, *((verify,) if self.verify.enabled else ()), *((kminion,) if self.lag.enabled else ()))


class MonitoringComponent(Model):
    replicas: int = Field(ge=1, le=5, description="1-5; prod at least 2, at most one per zone")
    storage: Volume = Field(description="volume per replica")
    resources: Resources


class GrafanaConfig(Model):
    # one replica: Grafana's state is SQLite; dashboards and data sources come from ConfigMaps anyway
    resources: Resources = Field(Resources(cpu="100m", memory="512Mi"))


class MonitoringConfig(Model):
    namespace: Namespace = Field("monitoring", description="where monitoring runs (meshed; its pods opt out of "
                                                          "sidecars, see \"Monitoring\")")
    retention: Annotated[str, _check(lambda v: re.fullmatch(r"[1-9]\d*(h|d|w|y)", v) is not None,
                                     "must be a number with a unit, such as 36h, 15d, 4w or 1y")] = Field(
        "15d", description="Prometheus retention (`h`, `d`, `w`, `y`); it also stops at 85% of its volume")
    prometheus: MonitoringComponent = Field(MonitoringComponent(
        replicas=2, storage="100Gi", resources=Resources(cpu="500m", memory="4Gi")))
    alertmanager: MonitoringComponent = Field(MonitoringComponent(
        replicas=2, storage="10Gi", resources=Resources(cpu="50m", memory="256Mi")))
    grafana: GrafanaConfig = Field(default_factory=GrafanaConfig)

    @property
    def grafana_resources(self) -> Resources:
        return self.grafana.resources


class AlertReceiver(Model):
    """Where Alertmanager sends alerts; the URL only ever lives as a Pulumi secret."""

    type: Literal["slack", "webhook"] = Field("webhook", description="`slack` or `webhook`")
    url: str = Field(description="https URL; **must be set as a secret**: `pulumi config set --secret --path "
                                 "alertReceiver.url ...`", json_schema_extra={"secret": True})
    channel: Annotated[str, _check(lambda v: v.startswith("#"), "must be a Slack channel such as #kafka-alerts")] | \
        None = Field(None, description="Slack channel such as `#kafka-alerts` (slack only)")


class PlatformConfig(Model):
    environment: Literal["dev", "prod"] = Field(description="`dev` or `prod`; prod turns on the stricter rules")
    protect: bool = Field(True, description="Pulumi `protect` on stateful resources plus EKS deletion protection; "
                                            "prod must be `true`")
    tags: dict[Annotated[str, _check(lambda k: 1 <= len(k) <= 128 and not k.lower().startswith("aws:"),
                                     "tag keys must be 1-128 characters and not start with aws:")],
               Annotated[str, StringConstraints(max_length=256)]] = Field({}, description="added to every AWS resource")
    network: NetworkConfig
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mesh: MeshConfig = Field(default_factory=MeshConfig)
    kafka: KafkaConfig = Field(default_factory=lambda: KafkaConfig.model_validate({}))
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    alert_receiver: AlertReceiver | None = Field(None, description="none: alerts show in Alertmanager's UI only")

    # Set by the loader, not by the stack file.
    stack: Annotated[str, Field(exclude=True)] = ""
    region: Annotated[str, Field(exclude=True)] = ""

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def name(self) -> str:
        """Prefix for cloud resource names; unique per stack so dev and prod can share an account."""
        return f"{PROJECT}-{self.stack}"

    @property
    def meshed_namespaces(self) -> tuple[str, ...]:
        return ("istio-system", self.kafka.namespace, self.monitoring.namespace, *self.mesh.namespaces,
                *self.kafka.platform_namespaces)


LOADER_FIELDS = ("stack", "region")  # PlatformConfig fields the stack file may not set
_USERS_NOW = ("is replaced by kafka.users: one entry per client names its namespace, service account and topic "
              "grants (README \"Connecting a client\")")
RETIRED_KEYS = {
    ("kafka", "clientUsers"): _USERS_NOW, ("kafka", "clientNamespaces"): _USERS_NOW,
    ("kafka", "clientServiceAccounts"): _USERS_NOW,
    ("cluster", "adminRoleNames"): "is replaced by cluster.access, which names each role's access: "
                                   "{KafkaPlatformAdmin: admin} grants what adminRoleNames did",
}


# --------------------------------------------------------------------------- semantic rules


@dataclass(frozen=True)
class Problem:
    key: str  # below kafka-platform:, e.g. cluster.nodeGroups.maxSize
    value: Any
    allowed: str


@dataclass(frozen=True)
class Context:
    """What every rule may read besides its sections: the environment comes from the model's own key."""

    environment: str | None
    region: str
    secret_keys: frozenset[str]

    @property
    def prod(self) -> bool:
        return self.environment == "prod"


Rule = Callable[..., Iterator[Problem]]
RULES: list[tuple[tuple[str, ...], Rule]] = []


def rule(fn: Rule) -> Rule:
    """Register a semantic rule. Its parameters after the context name the sections it reads; it runs only
    when every one of them parsed cleanly, so it never piles onto a root cause reported already."""
    RULES.append((tuple(inspect.signature(fn).parameters)[1:], fn))
    return fn


@rule
def _protect(p: Context, protect: bool) -> Iterator[Problem]:
    if p.prod and not protect:
        yield Problem("protect", protect, "prod must protect its cluster and stateful resources")


@rule
def _zones(p: Context, network: NetworkConfig) -> Iterator[Problem]:
    n = network
    zones, region = n.availability_zones, p.region
    if not _unique(zones) or not all(z.startswith(region) and len(z) == len(region) + 1 for z in zones):
        yield Problem("network.availabilityZones", zones,
                      f"must be distinct zones of the stack's region {region} (e.g. {region}a)")
    elif not (3 if p.prod else 2) <= len(zones) <= MAX_AVAILABILITY_ZONES:
        yield Problem("network.availabilityZones", zones,
                      f"{p.environment} needs {3 if p.prod else 2} to {MAX_AVAILABILITY_ZONES} availability zones"
                      + (" so that 3 Kafka replicas survive the loss of a zone" if p.prod else ""))
    if p.prod and n.nat_gateways != "perAz":
        yield Problem("network.natGateways", n.nat_gateways,
                      'prod must use "perAz": a single NAT gateway takes every zone\'s egress down with it')
    vpc = n.existing_vpc
    if vpc is not None:
        for key, ids in (("publicSubnetIds", vpc.public_subnet_ids), ("privateSubnetIds", vpc.private_subnet_ids)):
            if not _unique(ids) or not all(re.fullmatch(r"subnet-[0-9a-f]{8,17}", x) for x in ids):
                yield Problem(f"network.existingVpc.{key}", ids,
                              "must be distinct subnet ids such as subnet-0123456789abcdef0")
        if len(vpc.private_subnet_ids) != len(zones):
            yield Problem("network.existingVpc.privateSubnetIds", vpc.private_subnet_ids,
                          f"needs exactly one private subnet per availability zone ({len(zones)}), in the same order")


@rule
def _cluster(p: Context, cluster: ClusterConfig) -> Iterator[Problem]:
    c, ng = cluster, cluster.node_groups
    if c.public_access_cidrs and not c.endpoint_public_access:
        yield Problem("cluster.publicAccessCidrs", c.public_access_cidrs,
                      "must be empty when endpointPublicAccess is false")
    if c.endpoint_public_access and not c.public_access_cidrs:
        yield Problem("cluster.publicAccessCidrs", c.public_access_cidrs,
                      "must list the networks allowed to reach a public endpoint (EKS would otherwise open it to "
                      "0.0.0.0/0)")
    networks = [ipaddress.IPv4Network(cidr) for cidr in c.public_access_cidrs]
    if p.prod and any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(networks)):
        yield Problem("cluster.publicAccessCidrs", c.public_access_cidrs,
                      "prod must not open the API endpoint to the whole internet (together these CIDRs cover "
                      "0.0.0.0/0)")
    for key, values in (("publicAccessCidrs", c.public_access_cidrs),
                        ("logTypes", c.log_types), ("fargateNamespaces", c.fargate_namespaces)):
        if not _unique(values):
            yield Problem(f"cluster.{key}", values, "must not repeat an entry")
    if p.prod and "audit" not in c.log_types:
        yield Problem("cluster.logTypes", c.log_types, 'prod must keep "audit" logging on')
    if c.log_retention_days not in CLOUDWATCH_RETENTION_DAYS:
        yield Problem("cluster.logRetentionDays", c.log_retention_days,
                      "must be a CloudWatch retention: " + ", ".join(map(str, CLOUDWATCH_RETENTION_DAYS)))
    if p.prod and ng.ssm_access:
        yield Problem("cluster.nodeGroups.ssmAccess", ng.ssm_access,
                      "prod must be false: the SSM policy reads every SSM parameter in the account; reach a node "
                      "with `kubectl debug node/<name>` instead")
    if p.prod and ng.capacity_type != "ON_DEMAND":
        yield Problem("cluster.nodeGroups.capacityType", ng.capacity_type,
                      'prod must use "ON_DEMAND": a spot reclaim can take a broker and its zone\'s quorum')
    if not ng.min_size <= ng.desired_size <= ng.max_size:
        yield Problem("cluster.nodeGroups.desiredSize", ng.desired_size,
                      f"must satisfy minSize ({ng.min_size}) <= desiredSize <= maxSize ({ng.max_size})")
    if "kube-system" in c.fargate_namespaces:
        yield Problem("cluster.fargateNamespaces", c.fargate_namespaces,
                      "cannot select 'kube-system': CoreDNS, the EBS CSI node driver and istio-cni run on the "
                      "managed node groups")


def _kubernetes_version_message(version: str) -> str:
    allowed = (", ".join(SUPPORTED_KUBERNETES_VERSIONS) + f" (in EKS standard support and supported by Istio "
               f"{ISTIO_MINOR})")
    ends = EKS_STANDARD_SUPPORT_ENDS.get(version)
    if ends:
        allowed += (f"; EKS standard support for {version} ends on {ends.isoformat()}, "
                    "then it costs $0.60/h instead of $0.10/h")
    return "must be one of " + allowed


@rule
def _mesh(p: Context, mesh: MeshConfig) -> Iterator[Problem]:
    m = mesh
    host, _, path = m.image_hub.partition("/")
    hub = f"{host.split(':')[0]}/{path}"  # registry.istio.io:443/release is still registry.istio.io
    if any(hub == h or hub.startswith(h + "/") or host.split(":")[0] == h for h in RETIRED_ISTIO_HUBS):
        yield Problem("mesh.imageHub", m.image_hub,
                      f"is retired by Istio (December 2026); use {ISTIO_IMAGE_HUB} or a mirror of it")
    if p.prod and m.mtls_mode != "STRICT":
        yield Problem("mesh.mtlsMode", m.mtls_mode, 'prod must use "STRICT"; PERMISSIVE is for migrating a dev mesh only')
    if p.prod and m.istiod_replicas < 2:
        yield Problem("mesh.istiodReplicas", m.istiod_replicas,
                      "prod needs at least 2 so the injector survives a node loss")
    if not _unique(m.namespaces):
        yield Problem("mesh.namespaces", m.namespaces, "must not repeat an entry")
    yield from _cpu_limits("mesh.istiodResources", m.istiod_resources)


def _cpu_limits(key: str, r: Resources) -> Iterator[Problem]:
    if r.cpu_limit and parse_quantity(r.cpu_limit) < parse_quantity(r.cpu):
        yield Problem(f"{key}.cpuLimit", r.cpu_limit, f"must be at least the cpu request ({r.cpu})")


@rule
def _namespaces(p: Context, mesh: MeshConfig, kafka: KafkaConfig, monitoring: MonitoringConfig) -> Iterator[Problem]:
    """Every component gets its own namespace, never one that Kubernetes, EKS or Istio owns."""
    taken = {"istio-system": "Istio", **PLATFORM_NAMESPACES}
    for key, ns in (("kafka.namespace", kafka.namespace), ("monitoring.namespace", monitoring.namespace),
                    *(("mesh.namespaces", n) for n in dict.fromkeys(mesh.namespaces))):  # repeats: see _mesh
        if ns in taken:
            yield Problem(key, ns, f"already used by {taken[ns]}; each component needs its own namespace")
        elif ns in RESERVED_NAMESPACES or ns.startswith("kube-"):
            yield Problem(key, ns, "is owned by Kubernetes, EKS or Istio; choose a namespace of your own")
        taken.setdefault(ns, key)


@rule
def _fargate(p: Context, cluster: ClusterConfig, mesh: MeshConfig, kafka: KafkaConfig,
             monitoring: MonitoringConfig) -> Iterator[Problem]:
    meshed = ("istio-system", kafka.namespace, monitoring.namespace, *mesh.namespaces, *kafka.platform_namespaces)
    for ns in cluster.fargate_namespaces:
        if ns in meshed:
            yield Problem("cluster.fargateNamespaces", cluster.fargate_namespaces,
                          f"cannot select {ns!r}: Fargate pods cannot run Istio sidecars (istio-init needs NET_ADMIN, "
                          "istio-cni is a DaemonSet) and cannot mount EBS volumes; select only namespaces that are "
                          f"neither meshed ({', '.join(meshed)}) nor need EBS")


def _heap_bytes(heap: str) -> float:
    return int(heap[:-1]) * (2**20 if heap[-1] in "mM" else 2**30)


@rule
def _lag(p: Context, kafka: KafkaConfig) -> Iterator[Problem]:
    """KMinion's wildcard ACLs give every topic and group an ACL: allow.everyone.if.no.acl.found then opens
    nothing, and every client not yet declared would be refused in the middle of the migration."""
    if kafka.lag.enabled and kafka.authorization.allow_everyone_if_no_acl:
        yield Problem("kafka.lag.enabled", True, "must be false while kafka.authorization.allowEveryoneIfNoAcl is "
                                                 "true: KMinion's Describe ACLs on every topic and group would end "
                                                 "the open access the migration relies on; turn it on after step 3 "
                                                 "of README \"Turning authorization on\"")


@rule
def _kafka(p: Context, kafka: KafkaConfig) -> Iterator[Problem]:
    k = kafka
    if k.controllers.replicas not in ((3,) if p.prod else (1, 3)):
        yield Problem("kafka.controllers.replicas", k.controllers.replicas,
                      "must be 3 (a KRaft quorum that survives one loss); 1 is allowed in dev only")
        return  # the rules below judge against a valid quorum
    if p.prod and k.brokers.replicas < 3:
        yield Problem("kafka.brokers.replicas", k.brokers.replicas,
                      "prod needs at least 3 dedicated brokers (0 means combined controller+broker nodes, dev only)")
        return
    for broker in k.drained_brokers:
        if broker in k.broker_ids or broker < k.first_broker_id:
            yield Problem("kafka.drainedBrokers", broker,
                          f"must name only brokers this config removes: it runs node ids {k.broker_ids[0]}-"
                          f"{k.broker_ids[-1]}, so a drained broker is {k.broker_ids[-1] + 1} or above")
    if not _unique(k.drained_brokers):
        yield Problem("kafka.drainedBrokers", k.drained_brokers, "must not repeat an entry")
    for role in ("controllers", "brokers"):
        r: KafkaRole = getattr(k, role)
        if r.replicas and _heap_bytes(r.heap) > parse_quantity(r.resources.memory) / 2:
            yield Problem(f"kafka.{role}.heap", r.heap,
                          f"must be at most half of resources.memory ({r.resources.memory}); the broker needs the "
                          "rest for page cache and off-heap buffers")
        yield from _cpu_limits(f"kafka.{role}.resources", r.resources)
    brokers, rf, min_isr = k.broker_count, k.replication_factor, k.min_insync_replicas
    if not 1 <= rf <= brokers:
        yield Problem("kafka.replicationFactor", rf, f"must be from 1 to the broker count ({brokers})")
        return
    durability = [Problem("kafka.replicationFactor", rf, "prod needs 3 replicas so that a zone can be lost without "
                                                         "losing data")] if p.prod and rf < 3 else []
    if not durability and not 1 <= min_isr <= rf:
        durability.append(Problem("kafka.minInsyncReplicas", min_isr, f"must be from 1 to replicationFactor ({rf})"))
    elif not durability and p.prod and not 2 <= min_isr < rf:
        durability.append(Problem(
            "kafka.minInsyncReplicas", min_isr,
            f"prod needs 2 <= minInsyncReplicas < replicationFactor ({rf}): an acknowledged write is on two "
            "replicas, and one replica can be down without blocking producers"))
    yield from durability
    if p.prod and k.auto_create_topics:
        yield Problem("kafka.autoCreateTopics", k.auto_create_topics,
                      "prod must be false: a typo in a client would create a topic")
    if p.prod and not k.rack_awareness:
        yield Problem("kafka.rackAwareness", k.rack_awareness, "prod must spread each partition's replicas over zones")
    for key, image in (("kafka", k.images.kafka), ("jmxExporter", k.images.jmx_exporter)):
        if image.rsplit(":", 1)[-1] == "latest":
            yield Problem(f"kafka.images.{key}", image, "must pin a tag: 'latest' changes under a running cluster")
        elif _names_a_registry(image):
            yield Problem(f"kafka.images.{key}", image,
                          "must not name a registry: the chart prefixes kafka.images.registry, so set that instead")
    if not durability:  # topics are judged against the cluster's durability only once that is sound
        yield from _topics(p, k, rf, min_isr)


def _topics(p: Context, k: KafkaConfig, cluster_rf: int, cluster_min_isr: int) -> Iterator[Problem]:
    names = [t.name for t in k.topics]
    if not _unique(tuple(names)):
        yield Problem("kafka.topics", names, "topic names must be distinct")
    granted = {g.topic for u in k.users for g in u.topics}
    for i, t in enumerate(k.topics):
        key = f"kafka.topics[{i}]"
        if t.name in PLATFORM_TOPICS:
            yield Problem(f"{key}.name", t.name, "is the platform's own topic (kafka.verify, kafka.lag); choose another "
                                                 "name")
        if t.delete and t.name in granted:
            yield Problem(f"{key}.delete", t.delete, f"a user is still granted {t.name!r}; remove the grant first")
        if not 1 <= t.replication_factor <= k.broker_count:
            yield Problem(f"{key}.replicationFactor", t.replication_factor,
                          f"must be from 1 to the broker count ({k.broker_count})")
            continue
        if p.prod and t.replication_factor < cluster_rf:
            yield Problem(f"{key}.replicationFactor", t.replication_factor,
                          f"prod topics keep the cluster's replicationFactor ({cluster_rf}) or more")
        listed = sorted(k for k, v in t.config.items() if "," in v)
        if listed:
            yield Problem(f"{key}.config", t.config, f"{', '.join(listed)} must be one value: the reconciler does not "
                                                     "apply list values such as compact,delete yet")
            continue
        unknown = sorted(set(t.config) - KAFKA_TOPIC_CONFIGS)
        if unknown:
            yield Problem(f"{key}.config", t.config, f"{', '.join(unknown)} is not a Kafka 4.0 topic setting")
            continue
        min_isr = t.config.get("min.insync.replicas")
        if min_isr is not None and not min_isr.isdigit():
            yield Problem(f"{key}.config", t.config, "min.insync.replicas must be a whole number")
        elif min_isr is not None and int(min_isr) > t.replication_factor:
            yield Problem(f"{key}.config", t.config, "min.insync.replicas must not exceed the topic's "
                                                     f"replicationFactor ({t.replication_factor}): no write could "
                                                     "ever succeed")
        elif p.prod and min_isr is not None and int(min_isr) < cluster_min_isr:
            yield Problem(f"{key}.config", t.config, f"prod topics keep min.insync.replicas >= {cluster_min_isr}: "
                                                     "fewer would acknowledge writes a single loss can erase")
        if t.config.get("unclean.leader.election.enable", "false").lower() != "false" and p.prod:
            yield Problem(f"{key}.config", t.config, "prod topics must not enable unclean.leader.election.enable: "
                                                     "it elects replicas that miss acknowledged writes")


@rule
def _kafka_users(p: Context, kafka: KafkaConfig, mesh: MeshConfig) -> Iterator[Problem]:
    """Each user entry must be something Kafka and the mesh can carry out."""
    names = [u.name for u in kafka.users]
    if not _unique(tuple(names)):
        yield Problem("kafka.users", names, "user names must be distinct (each gets one password and one Secret)")
    declared = {t.name for t in kafka.topics}  # a deleted one is reported by its own rule
    for i, user in enumerate(kafka.users):
        key = f"kafka.users[{i}]"
        if user.name in (ADMIN_USER, *INTERNAL_USERS, *PLATFORM_USERS):
            yield Problem(f"{key}.name", user.name, "is the platform's own user; choose another name")
        taken = [g for g in user.consumer_groups if any(_overlap(g, ours) for ours in PLATFORM_GROUPS)]
        if taken:
            yield Problem(f"{key}.consumerGroups", taken, f"overlaps the platform's own groups "
                                                          f"({', '.join(PLATFORM_GROUPS)}); choose groups of the "
                                                          "user's own")
        if user.namespace not in mesh.namespaces:
            yield Problem(f"{key}.namespace", user.namespace,
                          "is not meshed: under STRICT mTLS only meshed clients can connect; add it to mesh.namespaces")
        intents = {intent for grant in user.topics for intent in grant.intents}
        for j, grant in enumerate(user.topics):
            if any(_overlap(grant.topic, ours) for ours in PLATFORM_TOPICS):
                yield Problem(f"{key}.topics[{j}].topic", grant.topic,
                              f"covers the platform's own topics ({', '.join(PLATFORM_TOPICS)}); grant topics of the "
                              "user's own")
            elif not grant.topic.endswith("*") and grant.topic not in declared:
                yield Problem(f"{key}.topics[{j}].topic", grant.topic,
                              "is not a declared topic (kafka.topics); grant a declared topic, or a prefix ending in *")
            if not _unique(grant.intents):
                yield Problem(f"{key}.topics[{j}].intents", grant.intents, "must not repeat an intent")
        if "consume" in intents and not user.consumer_groups:
            yield Problem(f"{key}.consumerGroups", user.consumer_groups,
                          "must name at least one group (or prefix ending in *) when a grant says consume")
        if user.transactional_ids and "produce" not in intents:
            yield Problem(f"{key}.transactionalIds", user.transactional_ids, "needs a grant that says produce")
        for other in kafka.users[:i]:  # a group (or transactional id) another user can join is not its own
            for field, label in (("consumer_groups", "consumerGroups"), ("transactional_ids", "transactionalIds")):
                shared = [p for p in getattr(user, field) if any(_overlap(p, q) for q in getattr(other, field))]
                if shared and other.name != user.name:
                    yield Problem(f"{key}.{label}", shared, f"overlaps the {label} of user {other.name!r}; each "
                                                            "user's groups and transactional ids must be its own")


def _overlap(a: str, b: str) -> bool:
    """Two names or prefixes (ending in *) that some name matches both."""
    a_prefix, b_prefix = a.endswith("*"), b.endswith("*")
    a_stem, b_stem = a.removesuffix("*"), b.removesuffix("*")
    if a_prefix and b_prefix:
        return a_stem.startswith(b_stem) or b_stem.startswith(a_stem)
    if a_prefix or b_prefix:
        return (b.startswith(a_stem)) if a_prefix else a.startswith(b_stem)
    return a == b


@rule
def _kafka_placement(p: Context, kafka: KafkaConfig, network: NetworkConfig, cluster: ClusterConfig) -> Iterator[Problem]:
    """Prod places Kafka pods one per node (hard anti-affinity): each role must fit on the nodes that can exist."""
    if not p.prod:
        return
    zones, ng = len(network.availability_zones), cluster.node_groups
    for role in ("controllers", "brokers"):
        replicas = getattr(kafka, role).replicas
        if replicas > zones * ng.max_size:
            yield Problem(f"kafka.{role}.replicas", replicas,
                          f"prod runs one per node and at most {zones * ng.max_size} nodes can exist ({zones} zones "
                          f"x cluster.nodeGroups.maxSize {ng.max_size})")


@rule
def _node_group_generations(p: Context, cluster: ClusterConfig, network: NetworkConfig) -> Iterator[Problem]:
    for zone in cluster.node_groups.generations:
        if zone not in network.availability_zones:
            yield Problem(f"cluster.nodeGroups.generations.{zone}", zone,
                          "must be one of network.availabilityZones: " + ", ".join(network.availability_zones))
        elif not 1 <= cluster.node_groups.generations[zone] <= 99:
            yield Problem(f"cluster.nodeGroups.generations.{zone}", cluster.node_groups.generations[zone],
                          "must be from 1 to 99 (1 is the group a stack starts with)")


@rule
def _monitoring(p: Context, monitoring: MonitoringConfig, network: NetworkConfig) -> Iterator[Problem]:
    zones = len(network.availability_zones)
    for key in ("prometheus", "alertmanager"):
        component: MonitoringComponent = getattr(monitoring, key)
        if p.prod and component.replicas < 2:
            yield Problem(f"monitoring.{key}.replicas", component.replicas,
                          "must be from 2 to 5 (prod runs two, so one can be lost)")
        elif p.prod and component.replicas > zones:
            yield Problem(f"monitoring.{key}.replicas", component.replicas,
                          f"prod places one per zone (hard anti-affinity), and the stack has {zones} zones")
        yield from _cpu_limits(f"monitoring.{key}.resources", component.resources)
    yield from _cpu_limits("monitoring.grafana.resources", monitoring.grafana.resources)


@rule
def _storage(p: Context, storage: StorageConfig) -> Iterator[Problem]:
    if p.prod and storage.reclaim_policy != "Retain":
        yield Problem("storage.reclaimPolicy", storage.reclaim_policy,
                      'prod must use "Retain" so a deleted claim keeps the broker\'s data')


@rule
def _alert_receiver(p: Context, alert_receiver: AlertReceiver) -> Iterator[Problem]:
    r = alert_receiver
    if f"{PROJECT}:alertReceiver" not in p.secret_keys:
        yield Problem("alertReceiver.url", HIDDEN, "must be a secret, it carries the receiver's credentials; set it "
                                                   "with: pulumi config set --secret --path alertReceiver.url <url>")
    elif not r.url.startswith("https://"):
        yield Problem("alertReceiver.url", HIDDEN, "must be an https:// URL")
    if r.channel and r.type != "slack":
        yield Problem("alertReceiver.channel", r.channel, 'is only used with type "slack"')


# --------------------------------------------------------------------------- errors as lines

HIDDEN = object()  # a value that is never shown
_TYPE_MESSAGES = {
    "string_type": "must be a string", "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "list_type": "must be a list", "tuple_type": "must be a list",
    "dict_type": "must be a map of strings", "model_type": "must be an object", "model_attributes_type":
    "must be an object", "missing": "is required", "string_too_short": "must not be empty",
}


def _show(value: Any) -> str:
    if value is HIDDEN:
        return "(not shown)"
    return json.dumps(list(value) if isinstance(value, tuple) else value, default=str)


def _key(loc: tuple) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _dig(data: Any, *path: Any) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _int(value: Any, default: int | None) -> int | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return default if value is None else None


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class that owns the key at `loc`, to list its allowed keys."""
    model: Any = PlatformConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        candidates = [a for a in _flatten(field.annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return None
        model = candidates[0]
    return model


def _flatten(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _flatten(arg)


def _field_at(loc: tuple) -> Any:
    model = _model_at(loc)
    if model is None:
        return None
    return next((f for n, f in model.model_fields.items() if (f.alias or n) == loc[-1]), None)


def _bounds(loc: tuple) -> str:
    field = _field_at(loc)
    low = high = None
    for meta in getattr(field, "metadata", []):
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    bounds = f"must be from {low} to {high}" if high is not None else f"must be at least {low}"
    return bounds + (f" ({field.description})" if field and field.description else "")


def _error_line(error: ErrorDetails, raw: dict, secret: set[str]) -> str:
    loc = tuple(error["loc"])
    # an element's error carries its index or map key: name the list or map itself
    inside = False
    while len(loc) > 1 and error["type"] != "extra_forbidden" and (
            isinstance(loc[-1], int) or loc[-1] not in _known(loc)):
        loc, inside = loc[:-1], True
    value = HIDDEN if loc and (loc[0] in SECRET_SECTIONS or f"{PROJECT}:{loc[0]}" in secret) else _dig(raw, *loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        allowed = sorted((f.alias or n) for n, f in model.model_fields.items()
                         if n not in LOADER_FIELDS) if model else []
        message = "unknown key; allowed keys are " + ", ".join(allowed)
    elif kind == "literal_error":
        message = "must be one of " + error["ctx"]["expected"].replace("'", '"').replace(" or ", ", ")
    elif kind in ("greater_than_equal", "less_than_equal"):
        message = _bounds(loc)
    elif kind in ("too_short", "too_long"):
        field = _field_at(loc)
        message = (f"must list at most {error['ctx'].get('max_length')}" if kind == "too_long"
                   else "must list at least one") + (f" ({field.description})" if field and field.description else "")
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
        if loc == ("cluster", "kubernetesVersion"):
            message = _kubernetes_version_message(str(value))
    elif kind == "string_too_long":
        message = f"must be at most {error['ctx']['max_length']} characters"
    elif inside:
        message = "must be " + _collection(loc)
    else:
        message = _TYPE_MESSAGES.get(kind, error["msg"])
        if kind == "string_type" and loc == ("cluster", "kubernetesVersion"):
            message += ' such as "1.36" (quote it: YAML reads 1.30 as the number 1.3)'
    if kind == "missing":
        return f"{PROJECT}:{_key(loc)} {message}" if len(loc) == 1 else f"{PROJECT}:{_key(loc)} = null: {message}"
    return f"{PROJECT}:{_key(loc)} = {_show(value)}: {message}"


def _collection(loc: tuple) -> str:
    field = _field_at(loc)
    annotation = str(getattr(field, "annotation", ""))
    if annotation.startswith("dict"):
        return "a map of whole numbers" if annotation.endswith("int]") else "a map of strings"
    return "a list of objects" if "Topic" in annotation else "a list of strings"


def _known(loc: tuple) -> set[str]:
    model = _model_at(loc)
    return {(f.alias or n) for n, f in model.model_fields.items()} if model else set()


# --------------------------------------------------------------------------- entry points


def parse_config(raw: dict[str, Any], *, stack: str, region: str | None,
                 secret_keys: set[str] | None = None) -> PlatformConfig:
    """Build the validated model from raw values keyed without the project prefix."""
    if not region:
        raise ConfigError(['aws:region is not set: set it in the stack file, e.g. "aws:region: us-east-1"'])
    secret = set(secret_keys or ())
    raw = {k: v for k, v in raw.items()}
    problems: list[str] = []
    if "environment" not in raw:
        problems.append(f"{PROJECT}:environment is not set: must be one of " + ", ".join(ENVIRONMENTS))
    for name in LOADER_FIELDS:
        if name in raw:
            problems.append(f"{PROJECT}:{name} = {_show(raw.pop(name))}: unknown key; the {name} comes from Pulumi")
    for (section, key), instead in RETIRED_KEYS.items():
        if isinstance(raw.get(section), dict) and key in raw[section]:
            problems.append(f"{PROJECT}:{section}.{key} = {_show(raw[section][key])}: {instead}")
            raw[section] = {k: v for k, v in raw[section].items() if k != key}
    config: PlatformConfig | None = None
    failed: set[str] = set()
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        for error in errors:
            if error["type"] == "missing" and tuple(error["loc"]) == ("environment",):
                continue  # said above
            if error["type"] == "too_short" and any(  # pydantic counts a list without its invalid items
                    len(other["loc"]) > len(error["loc"]) and other["loc"][:len(error["loc"])] == error["loc"]
                    for other in errors):
                continue
            line = _error_line(error, raw, secret)
            if not any(line.split(" ", 1)[0] == p.split(" ", 1)[0] for p in problems):  # one line per key
                problems.append(line)
            failed.add(str(error["loc"][0]))

    # Semantic rules, on every section that parsed cleanly.
    environment = raw.get("environment") if raw.get("environment") in ENVIRONMENTS else None
    context = Context(environment=environment, region=region, secret_keys=frozenset(secret))
    sections = _sections(config, raw, failed)
    for needs, check in RULES:
        if all(sections.get(name) is not None for name in needs):
            for problem in check(context, *(sections[name] for name in needs)):
                problems.append(f"{PROJECT}:{problem.key} = {_show(problem.value)}: {problem.allowed}")
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config.model_copy(update={"stack": stack, "region": region})


def _sections(config: PlatformConfig | None, raw: dict, failed: set[str]) -> dict[str, Any]:
    """Every top-level value that parsed cleanly, by field name; when the whole model failed, each one alone."""
    if config is not None:
        return {name: getattr(config, name) for name in PlatformConfig.model_fields}
    found: dict[str, Any] = {}
    for name, field in PlatformConfig.model_fields.items():
        alias = field.alias or name
        if alias in failed or name in LOADER_FIELDS:
            continue
        try:
            found[name] = TypeAdapter(field.annotation or Any).validate_python(raw[alias]) if alias in raw else \
                field.get_default(call_default_factory=True)
        except ValidationError:
            continue
    return found


def support_warnings(config: PlatformConfig, today: date) -> list[str]:
    """Warnings for a preview: the chosen Kubernetes version is close to the end of its standard support."""
    version = config.cluster.kubernetes_version
    ends = EKS_STANDARD_SUPPORT_ENDS[version]
    days = (ends - today).days
    if days > SUPPORT_WARNING_DAYS:
        return []
    policy = ("EKS then upgrades the control plane itself (upgradePolicy STANDARD)"
              if config.cluster.upgrade_policy == "STANDARD" else "extended support costs $0.60/h instead of $0.10/h")
    when = f"ends on {ends.isoformat()} ({days} days)" if days >= 0 else f"ended on {ends.isoformat()}"
    return [f"{PROJECT}:cluster.kubernetesVersion = {json.dumps(version)}: EKS standard support {when}; {policy}. "
            "Plan the upgrade to the next minor (README \"Upgrades\")."]


def _project_keys() -> dict[str, Any]:
    import pulumi.runtime.config as runtime_config  # the SDK has no public API to list config keys

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {key: value for key, value in values.items() if key.partition(":")[0] == PROJECT}


def _project_config() -> dict[str, Any]:
    """Every `kafka-platform:*` value the stack sets, so unknown top-level keys can be rejected too."""
    raw: dict[str, Any] = {}
    for key, value in _project_keys().items():
        name = key.partition(":")[2]
        try:
            raw[name] = json.loads(value)
        except (TypeError, ValueError):
            raw[name] = value  # plain strings such as `environment: dev`
    return raw


def load_config() -> PlatformConfig:
    """Read and validate this stack's configuration; raises ConfigError before any resource exists.
    Warnings (a Kubernetes version near the end of its support) show in every preview and up."""
    import pulumi
    import pulumi.runtime.config as runtime_config

    secret_keys = {key for key in _project_keys() if runtime_config.is_config_secret(key)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    config = parse_config(_project_config(), stack=pulumi.get_stack(), region=pulumi.Config("aws").get("region"),
                          secret_keys=secret_keys)
    for warning in support_warnings(config, date.today()):
        pulumi.log.warn(warning)
    return config
