"""The one typed configuration model: parse, default and validate the stack config.

Data flows one way: stack file -> `load_config()` -> frozen dataclasses -> components.
Every rule lives here, runs before any resource is registered, and reports the full
config key (`kafka-platform:cluster.nodeGroups.maxSize`), the bad value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Callable

from .versions import (
    DEFAULT_KUBERNETES_VERSION,
    EKS_RELEASES,
    ISTIO_IMAGE_HUB,
    ISTIO_MINOR,
    ISTIO_VERSION,
    JMX_EXPORTER_IMAGE,
    KAFKA_IMAGE,
    RETIRED_ISTIO_HUBS,
    SUPPORT_WARNING_DAYS,
    SUPPORTED_KUBERNETES_VERSIONS,
)

PROJECT = "kafka-platform"
ENVIRONMENTS = ("dev", "prod")
UPGRADE_POLICIES = ("STANDARD", "EXTENDED")
CLUSTER_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                             2557, 2922, 3288, 3653)
MAX_AVAILABILITY_ZONES = 4  # the VPC is carved into 8 equal blocks: 4 private + 4 public


class ConfigError(ValueError):
    """Raised before any resource exists; each line names the key, the value and what is allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ExistingVpc:
    vpc_id: str
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]  # one per availability zone, in the same order


@dataclass(frozen=True)
class NetworkConfig:
    availability_zones: tuple[str, ...]
    vpc_cidr: str = "10.0.0.0/16"
    nat_gateways: str = "perAz"  # a single NAT is a zone-wide single point of failure
    existing_vpc: ExistingVpc | None = None


@dataclass(frozen=True)
class NodeGroupConfig:
    """Sizing of each per-zone managed node group (EBS volumes are zonal, so every zone needs capacity)."""

    instance_types: tuple[str, ...] = ("m6i.large",)
    capacity_type: str = "ON_DEMAND"
    min_size: int = 1
    desired_size: int = 1
    max_size: int = 3
    disk_size_gb: int = 50


@dataclass(frozen=True)
class ClusterConfig:
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION  # the longest standard support that Istio supports
    # STANDARD: EKS upgrades the control plane itself when standard support ends; EXTENDED: it keeps the
    # version and bills extended support ($0.60/h instead of $0.10/h)
    upgrade_policy: str = "STANDARD"
    endpoint_public_access: bool = False
    public_access_cidrs: tuple[str, ...] = ()
    # IAM roles in the deploying account that get cluster-admin (CI deploy roles, people); ARNs built at run time
    admin_role_names: tuple[str, ...] = ()
    log_types: tuple[str, ...] = CLUSTER_LOG_TYPES
    log_retention_days: int = 90
    node_groups: NodeGroupConfig = field(default_factory=NodeGroupConfig)
    fargate_namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class StorageConfig:
    class_name: str = "gp3-encrypted"
    reclaim_policy: str = "Retain"  # a deleted PVC must not delete a broker's data by default


@dataclass(frozen=True)
class Resources:
    """Container requests; memory limit = request, because memory is not compressible."""

    cpu: str
    memory: str
    cpu_limit: str | None = None  # unset: no CPU limit, so no throttling of latency-sensitive pods

    def to_k8s(self) -> dict:
        limits = {"memory": self.memory, **({"cpu": self.cpu_limit} if self.cpu_limit else {})}
        return {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits}


MTLS_MODES = ("STRICT", "PERMISSIVE", "DISABLE")
OUTBOUND_TRAFFIC_POLICIES = ("ALLOW_ANY", "REGISTRY_ONLY", "ALLOW_ANY_DYNAMIC_DNS")


@dataclass(frozen=True)
class MeshConfig:
    istio_version: str = ISTIO_VERSION
    image_hub: str = ISTIO_IMAGE_HUB  # or a mirror / pull-through cache of it (e.g. an ECR repository prefix)
    mtls_mode: str = "STRICT"
    # REGISTRY_ONLY blocks every external host (AWS APIs included) until a ServiceEntry names it
    outbound_traffic_policy: str = "ALLOW_ANY"
    access_logging: bool = False
    istiod_replicas: int = 2  # the PodDisruptionBudget only renders with more than one replica
    istiod_resources: Resources = Resources(cpu="500m", memory="2Gi")
    namespaces: tuple[str, ...] = ()  # extra application namespaces to mesh (Kafka's clients)


@dataclass(frozen=True)
class KafkaRole:
    """One StatefulSet's sizing: controllers, or dedicated brokers."""

    replicas: int
    storage: str  # the data volume per pod; grow it later by expanding the PVCs, not this value
    resources: Resources
    heap: str  # JVM -Xmx/-Xms, at most half the memory: the rest is page cache and off-heap


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass(frozen=True)
class KafkaImages:
    """repository:tag under `registry`; docker.io/bitnami/* no longer pulls, bitnamilegacy/* is frozen."""

    registry: str = "docker.io"
    kafka: str = KAFKA_IMAGE
    jmx_exporter: str = JMX_EXPORTER_IMAGE

    @property
    def is_bitnami_legacy(self) -> bool:
        """The chart only lets docker.io/bitnamilegacy/* replace its images without allowInsecureImages."""
        return self.registry == "docker.io" and all(
            image.startswith("bitnamilegacy/") for image in (self.kafka, self.jmx_exporter))


@dataclass(frozen=True)
class KafkaConfig:
    controllers: KafkaRole
    brokers: KafkaRole  # replicas 0: the controllers are combined controller+broker nodes (dev)
    replication_factor: int
    min_insync_replicas: int
    client_users: tuple[str, ...]
    namespace: str = "kafka"
    auto_create_topics: bool = False
    rack_awareness: bool = True
    client_namespaces: tuple[str, ...] = ()
    client_service_accounts: tuple[str, ...] = ()  # "namespace/serviceaccount"
    images: KafkaImages = field(default_factory=KafkaImages)
    topics: tuple[Topic, ...] = ()

    @property
    def dedicated_brokers(self) -> bool:
        return self.brokers.replicas > 0

    @property
    def broker_count(self) -> int:
        return self.brokers.replicas if self.dedicated_brokers else self.controllers.replicas


@dataclass(frozen=True)
class MonitoringComponent:
    replicas: int
    storage: str
    resources: Resources


@dataclass(frozen=True)
class AlertReceiver:
    """Where Alertmanager sends alerts; the URL only ever lives as a Pulumi secret."""

    type: str  # slack | webhook
    url: str
    channel: str | None = None  # slack only


PROMETHEUS_DEFAULTS = MonitoringComponent(2, "100Gi", Resources("500m", "4Gi"))
ALERTMANAGER_DEFAULTS = MonitoringComponent(2, "10Gi", Resources("50m", "256Mi"))


@dataclass(frozen=True)
class MonitoringConfig:
    namespace: str = "monitoring"
    retention: str = "15d"
    prometheus: MonitoringComponent = PROMETHEUS_DEFAULTS
    alertmanager: MonitoringComponent = ALERTMANAGER_DEFAULTS
    # one replica: Grafana's state is SQLite; dashboards and data sources come from ConfigMaps anyway
    grafana_resources: Resources = Resources("100m", "512Mi")
    alert_receiver: AlertReceiver | None = None  # none: alerts show in Alertmanager's UI only


@dataclass(frozen=True)
class PlatformConfig:
    stack: str
    region: str
    environment: str
    network: NetworkConfig
    kafka: KafkaConfig
    protect: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def name(self) -> str:
        """Prefix for cloud resource names; unique per stack so dev and prod can share an account."""
        return f"{PROJECT}-{self.stack}"


# --------------------------------------------------------------------------- reading


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, tuple) else json.dumps(list(value))


class _Section:
    """One config object: typed reads with defaults, errors collected with their full key."""

    def __init__(self, raw: Any, key: str, problems: list[str], sep: str = ".", seen: set[str] | None = None):
        self.key, self.sep, self.problems, self._read = key, sep, problems, set()
        self.failed: set[str] = set()  # keys already reported, so rules that depend on them stay quiet
        self.seen = seen if seen is not None else set()  # every full key read, for the README check
        if raw is not None and not isinstance(raw, dict):
            problems.append(f"{key} = {_show(raw)}: must be an object")
            raw = {}
        self.raw: dict = raw or {}

    def fail(self, name: str, value: Any, allowed: str) -> None:
        self.failed.add(name)
        self.problems.append(f"{self.key}{self.sep}{name} = {_show(value)}: {allowed}")

    def get(self, name: str, default: Any, kind: type, check: Callable[[Any], bool] | None = None,
            allowed: str = "") -> Any:
        self._read.add(name)
        self.seen.add(f"{self.key}{self.sep}{name}")
        if name not in self.raw or self.raw[name] is None:
            return default
        value = _coerce(self.raw[name], kind)
        if value is _INVALID:
            self.fail(name, self.raw[name], f"must be {_KIND_NAMES[kind]}")
            return default
        if check is not None and not check(value):
            self.fail(name, value, allowed)
            return default
        return value

    def one_of(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        return self.get(name, default, str, lambda v: v in choices,
                        "must be one of " + ", ".join(_show(c) for c in choices))

    def section(self, name: str) -> "_Section":
        self._read.add(name)
        return _Section(self.raw.get(name), f"{self.key}{self.sep}{name}", self.problems, seen=self.seen)

    def done(self) -> None:
        for name in sorted(set(self.raw) - self._read):
            self.fail(name, self.raw[name], "unknown key; allowed keys are " + ", ".join(sorted(self._read)))


class _Items(list):
    """Kind marker: a list of objects."""


_INVALID = object()
_KIND_NAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list of strings",
               dict: "a map of strings", _Items: "a list of objects"}


def _coerce(value: Any, kind: type) -> Any:
    """Accept what Pulumi config hands over (JSON numbers arrive as floats, flags as strings)."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        return {"true": True, "false": False}.get(str(value).lower(), _INVALID)
    if kind is int:
        if isinstance(value, bool):
            return _INVALID
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        return value if isinstance(value, int) else _INVALID
    if kind is str:
        return value if isinstance(value, str) and value.strip() else _INVALID
    if kind is list:  # empty entries pass here so each key's own rule can say what is allowed
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else _INVALID
    if kind is dict:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        return dict(value) if ok else _INVALID
    if kind is _Items:
        return list(value) if isinstance(value, list) and all(isinstance(v, dict) for v in value) else _INVALID
    raise TypeError(kind)


# --------------------------------------------------------------------------- predicates

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_IAM_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_GRAVITON = re.compile(r"^[a-z]+\d+[a-z]*g[a-z]*\.")  # m7g.large, c6gn.xlarge, t4g.medium


def _is_namespace(name: str) -> bool:
    return bool(_DNS_LABEL.match(name))


_IMAGE_HUB = re.compile(r"^([a-z0-9-]+(\.[a-z0-9-]+)+|localhost)(:\d{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$")


def _is_image_hub(value: str) -> bool:
    """registry-host[:port]/path, as Istio joins it with /<image>:<tag>; a bare name would mean Docker Hub."""
    return _IMAGE_HUB.match(value) is not None


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.IPv4Network(value, strict=True)
        return True
    except ValueError:
        return False


def _is_vpc_cidr(value: str) -> bool:
    if not _is_cidr(value):
        return False
    net = ipaddress.IPv4Network(value)
    return net.is_private and 16 <= net.prefixlen <= 20


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_QUANTITY_FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                     "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def parse_quantity(value: str) -> float:
    """A Kubernetes quantity ("500m", "2Gi", "1.5") as a number of cores or bytes; ValueError if malformed."""
    m = _QUANTITY.match(str(value))
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * _QUANTITY_FACTORS[m.group(2)]


def _is_quantity(value: str) -> bool:
    try:
        return parse_quantity(value) > 0
    except ValueError:
        return False


def _unique(values: tuple) -> bool:
    return len(set(values)) == len(values)


# --------------------------------------------------------------------------- sections


def _resources(s: _Section, default: Resources) -> Resources:
    quantity = "must be a positive Kubernetes quantity such as 500m, 2 or 2Gi"
    cpu = s.get("cpu", default.cpu, str, _is_quantity, quantity)
    memory = s.get("memory", default.memory, str, _is_quantity, quantity)
    cpu_limit = s.get("cpuLimit", default.cpu_limit, str, _is_quantity, quantity)
    if cpu_limit and _is_quantity(cpu) and parse_quantity(cpu_limit) < parse_quantity(cpu):
        s.fail("cpuLimit", cpu_limit, f"must be at least the cpu request ({cpu})")
    s.done()
    return Resources(cpu, memory, cpu_limit)


def _mesh(s: _Section, env: str) -> MeshConfig:
    d = MeshConfig()
    version = s.get("istioVersion", d.istio_version, str,
                    lambda v: re.fullmatch(re.escape(ISTIO_MINOR) + r"\.\d+", v) is not None,
                    f"must be an exact {ISTIO_MINOR}.x release such as {d.istio_version} (the chart values are "
                    f"checked against {ISTIO_MINOR}, and older charts pull from retired hosts; no ranges, no 'latest')")
    hub = s.get("imageHub", d.image_hub, str, _is_image_hub,
                "must be an image registry host and repository path without a scheme or tag, such as "
                f"{ISTIO_IMAGE_HUB} or 123456789012.dkr.ecr.us-east-1.amazonaws.com/istio")
    if _is_image_hub(hub) and any(hub == h or hub.startswith(h + "/") for h in RETIRED_ISTIO_HUBS):
        s.fail("imageHub", hub, f"is retired by Istio (December 2026); use {ISTIO_IMAGE_HUB} or a mirror of it")
    mode = s.one_of("mtlsMode", d.mtls_mode, MTLS_MODES)
    if env == "prod" and mode != "STRICT":
        s.fail("mtlsMode", mode, 'prod must use "STRICT"; PERMISSIVE is for migrating a dev mesh only')
    outbound = s.one_of("outboundTrafficPolicy", d.outbound_traffic_policy, OUTBOUND_TRAFFIC_POLICIES)
    access_logging = s.get("accessLogging", d.access_logging, bool)
    replicas = s.get("istiodReplicas", d.istiod_replicas, int, lambda v: 1 <= v <= 10, "must be from 1 to 10")
    if env == "prod" and replicas < 2:
        s.fail("istiodReplicas", replicas, "prod needs at least 2 so the injector survives a node loss")
    resources = _resources(s.section("istiodResources"), d.istiod_resources)
    namespaces = s.get("namespaces", d.namespaces, list, lambda v: _unique(v) and all(map(_is_namespace, v)),
                       "must be distinct Kubernetes namespace names")
    s.done()
    return MeshConfig(version, hub, mode, outbound, access_logging, replicas, resources, namespaces)


def _network(s: _Section, env: str, region: str) -> NetworkConfig:
    zones = s.get("availabilityZones", (), list)
    minimum = 3 if env == "prod" else 2
    if not _unique(zones) or not all(z.startswith(region) and len(z) == len(region) + 1 for z in zones):
        s.fail("availabilityZones", zones, f"must be distinct zones of the stack's region {region} (e.g. {region}a)")
    elif not minimum <= len(zones) <= MAX_AVAILABILITY_ZONES:
        s.fail("availabilityZones", zones,
               f"{env} needs {minimum} to {MAX_AVAILABILITY_ZONES} availability zones"
               + (" so that 3 Kafka replicas survive the loss of a zone" if env == "prod" else ""))
    nat = s.one_of("natGateways", "perAz", ("single", "perAz"))
    if env == "prod" and nat != "perAz":
        s.fail("natGateways", nat, 'prod must use "perAz": a single NAT gateway takes every zone\'s egress down with it')
    cidr = s.get("vpcCidr", "10.0.0.0/16", str, _is_vpc_cidr,
                 "must be a private (RFC 1918) IPv4 CIDR with a prefix from /16 to /20, e.g. 10.0.0.0/16")
    existing = None
    e = s.section("existingVpc")
    if e.raw:
        vpc_id = e.get("vpcId", "", str, lambda v: re.fullmatch(r"vpc-[0-9a-f]{8,17}", v) is not None,
                       "must be a VPC id such as vpc-0123456789abcdef0")
        subnet = lambda v: _unique(v) and all(re.fullmatch(r"subnet-[0-9a-f]{8,17}", x) for x in v)  # noqa: E731
        msg = "must be distinct subnet ids such as subnet-0123456789abcdef0"
        public = e.get("publicSubnetIds", (), list, subnet, msg)
        private = e.get("privateSubnetIds", (), list, subnet, msg)
        if len(private) != len(zones):
            e.fail("privateSubnetIds", private,
                   f"needs exactly one private subnet per availability zone ({len(zones)}), in the same order")
        if "vpcId" not in e.raw:
            e.fail("vpcId", None, "is required when existingVpc is set")
        e.done()
        existing = ExistingVpc(vpc_id, public, private)
    s.done()
    return NetworkConfig(availability_zones=zones, vpc_cidr=cidr, nat_gateways=nat, existing_vpc=existing)


def _node_groups(s: _Section, env: str) -> NodeGroupConfig:
    d = NodeGroupConfig()
    instance_types = s.get("instanceTypes", d.instance_types, list,
                           lambda v: len(v) > 0 and all(v) and not any(_GRAVITON.match(t) for t in v),
                           "must list at least one x86_64 EC2 instance type (the nodes run AL2023_x86_64_STANDARD)")
    capacity = s.one_of("capacityType", d.capacity_type, ("ON_DEMAND", "SPOT"))
    if env == "prod" and capacity != "ON_DEMAND":
        s.fail("capacityType", capacity, 'prod must use "ON_DEMAND": a spot reclaim can take a broker and its zone\'s quorum')
    min_size = s.get("minSize", d.min_size, int, lambda v: v >= 1,
                     "must be at least 1: every zone needs a node for the brokers whose volumes live there")
    max_size = s.get("maxSize", d.max_size, int, lambda v: 1 <= v <= 100, "must be from 1 to 100")
    desired = s.get("desiredSize", d.desired_size, int)
    if not min_size <= desired <= max_size:
        s.fail("desiredSize", desired, f"must satisfy minSize ({min_size}) <= desiredSize <= maxSize ({max_size})")
    disk = s.get("diskSizeGb", d.disk_size_gb, int, lambda v: 20 <= v <= 16384, "must be from 20 to 16384 GiB")
    s.done()
    return NodeGroupConfig(instance_types, capacity, min_size, desired, max_size, disk)


def _cluster(s: _Section, env: str, meshed: tuple[str, ...]) -> ClusterConfig:
    d = ClusterConfig()
    version = s.get("kubernetesVersion", d.kubernetes_version, str)
    if version not in SUPPORTED_KUBERNETES_VERSIONS:
        ended = EKS_RELEASES[version].standard_support_ends if version in EKS_RELEASES else None
        s.fail("kubernetesVersion", version, "must be one of " + ", ".join(SUPPORTED_KUBERNETES_VERSIONS)
               + " (in EKS standard support and supported by Istio " + ISTIO_MINOR + ")"
               + (f"; EKS standard support for {version} ends on {ended.isoformat()}, then it costs $0.60/h "
                  "instead of $0.10/h" if ended else ""))
        version = d.kubernetes_version
    upgrade_policy = s.one_of("upgradePolicy", d.upgrade_policy, UPGRADE_POLICIES)
    public = s.get("endpointPublicAccess", d.endpoint_public_access, bool)
    cidrs = s.get("publicAccessCidrs", d.public_access_cidrs, list, lambda v: all(_is_cidr(c) for c in v),
                  "must be IPv4 CIDRs such as 203.0.113.0/24")
    if cidrs and not public:
        s.fail("publicAccessCidrs", cidrs, "must be empty when endpointPublicAccess is false")
    if public and not cidrs and "publicAccessCidrs" not in s.failed:
        s.fail("publicAccessCidrs", cidrs,
               "must list the networks allowed to reach a public endpoint (EKS would otherwise open it to 0.0.0.0/0)")
    if env == "prod" and any(ipaddress.IPv4Network(c).prefixlen == 0 for c in cidrs if _is_cidr(c)):
        s.fail("publicAccessCidrs", cidrs, "prod must not open the API endpoint to the whole internet")
    admins = s.get("adminRoleNames", d.admin_role_names, list,
                   lambda v: _unique(v) and all(_IAM_ROLE_NAME.match(r) for r in v),
                   "must be distinct IAM role names (not ARNs), e.g. [KafkaPlatformAdmin, KafkaPlatformDeploy]")
    logs = s.get("logTypes", d.log_types, list, lambda v: _unique(v) and set(v) <= set(CLUSTER_LOG_TYPES),
                 "must be distinct values from " + ", ".join(CLUSTER_LOG_TYPES))
    if env == "prod" and "audit" not in logs:
        s.fail("logTypes", logs, 'prod must keep "audit" logging on')
    retention = s.get("logRetentionDays", d.log_retention_days, int, lambda v: v in CLOUDWATCH_RETENTION_DAYS,
                      "must be a CloudWatch retention: " + ", ".join(map(str, CLOUDWATCH_RETENTION_DAYS)))
    node_groups = _node_groups(s.section("nodeGroups"), env)
    fargate = s.get("fargateNamespaces", d.fargate_namespaces, list,
                    lambda v: _unique(v) and len(v) <= 5 and all(map(_is_namespace, v)),
                    "must be at most 5 distinct Kubernetes namespace names (one Fargate profile's selectors)")
    for ns in fargate:
        if ns in meshed:
            s.fail("fargateNamespaces", fargate,
                   f"cannot select {ns!r}: Fargate pods cannot run Istio sidecars (istio-init needs NET_ADMIN, "
                   "istio-cni is a DaemonSet) and cannot mount EBS volumes; select only namespaces that are "
                   f"neither meshed ({', '.join(meshed)}) nor need EBS")
        elif ns == "kube-system":
            s.fail("fargateNamespaces", fargate,
                   "cannot select 'kube-system': CoreDNS, the EBS CSI node driver and istio-cni run on the "
                   "managed node groups")
    s.done()
    return ClusterConfig(version, upgrade_policy, public, cidrs, admins, logs, retention, node_groups, fargate)


def _storage(s: _Section, env: str) -> StorageConfig:
    d = StorageConfig()
    name = s.get("className", d.class_name, str, _is_namespace, "must be a DNS label such as gp3-encrypted")
    reclaim = s.one_of("reclaimPolicy", d.reclaim_policy, ("Retain", "Delete"))
    if env == "prod" and reclaim != "Retain":
        s.fail("reclaimPolicy", reclaim, 'prod must use "Retain" so a deleted claim keeps the broker\'s data')
    s.done()
    return StorageConfig(name, reclaim)


_HEAP = re.compile(r"^(\d+)([mMgG])$")
_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_IMAGE = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
CONTROLLER_DEFAULTS = KafkaRole(3, "10Gi", Resources("500m", "2Gi"), "1g")
BROKER_DEFAULTS = KafkaRole(3, "100Gi", Resources("1", "4Gi"), "2g")


def _heap_bytes(heap: str) -> int:
    number, unit = _HEAP.match(heap).groups()
    return int(number) * (2**20 if unit in "mM" else 2**30)


def _kafka_role(s: _Section, default: KafkaRole, minimum: int) -> KafkaRole:
    replicas = s.get("replicas", default.replicas, int, lambda v: minimum <= v <= 30, f"must be from {minimum} to 30")
    storage = s.get("storage", default.storage, str, lambda v: _is_quantity(v) and parse_quantity(v) >= 2**30,
                    "must be a Kubernetes quantity of at least 1Gi, such as 100Gi")
    resources = _resources(s.section("resources"), default.resources)
    heap = s.get("heap", default.heap, str, lambda v: _HEAP.match(v) is not None and _heap_bytes(v) > 0,
                 "must be a JVM size such as 1024m or 2g")
    if _HEAP.match(heap) and _is_quantity(resources.memory) and _heap_bytes(heap) > parse_quantity(resources.memory) / 2:
        s.fail("heap", heap, f"must be at most half of resources.memory ({resources.memory}); the broker needs the "
                             "rest for page cache and off-heap buffers")
    s.done()
    return KafkaRole(replicas, storage, resources, heap)


def _image(s: _Section, name: str, default: str) -> str:
    image = s.get(name, default, str, lambda v: _IMAGE.match(v) is not None,
                  "must be repository:tag with an explicit tag, such as bitnamilegacy/kafka:4.0.0-debian-12-r10")
    if image.rsplit(":", 1)[-1] == "latest":
        s.fail(name, image, "must pin a tag: 'latest' changes under a running cluster")
    return image


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _topics(s: _Section, name: str, brokers: int, default_rf: int) -> tuple[Topic, ...]:
    raw = s.get(name, [], _Items)
    topics = []
    for i, item in enumerate(raw):
        t = _Section(item, f"{s.key}.{name}[{i}]", s.problems, seen=s.seen)
        topic = t.get("name", "", str, lambda v: _TOPIC.match(v) is not None and v not in (".", ".."),
                      "must be 1-249 characters of letters, digits, '.', '_' and '-'")
        if "name" not in t.raw:
            t.fail("name", None, "is required")
        partitions = t.get("partitions", 3, int, lambda v: 1 <= v <= 10000, "must be from 1 to 10000")
        rf = t.get("replicationFactor", default_rf, int)
        if not 1 <= rf <= brokers:
            t.fail("replicationFactor", rf, f"must be from 1 to the broker count ({brokers})")
        config = t.get("config", {}, dict)
        if _int_or_none(config.get("min.insync.replicas")) is not None and int(config["min.insync.replicas"]) > rf:
            t.fail("config", config, f"min.insync.replicas must not exceed the topic's replicationFactor ({rf}): "
                                     "no write could ever succeed")
        t.done()
        topics.append(Topic(topic, partitions, rf, config))
    names = [t.name for t in topics]
    if not _unique(tuple(names)):
        s.fail(name, names, "topic names must be distinct")
    return tuple(topics)


def _kafka(s: _Section, env: str, meshed: tuple[str, ...]) -> KafkaConfig:
    prod = env == "prod"
    namespace = _namespace(s, "kafka")
    controllers = _kafka_role(s.section("controllers"), CONTROLLER_DEFAULTS, 1)
    controller_count = controllers.replicas
    if controller_count not in ((3,) if prod else (1, 3)):
        s.fail("controllers.replicas", controller_count,
               "must be 3 (a KRaft quorum that survives one loss); 1 is allowed in dev only")
        controller_count = 3  # later rules judge against a valid quorum, so only the root cause is reported
    brokers = _kafka_role(s.section("brokers"), BROKER_DEFAULTS, 0)
    broker_count = brokers.replicas or controller_count
    if prod and brokers.replicas < 3:
        s.fail("brokers.replicas", brokers.replicas,
               "prod needs at least 3 dedicated brokers (0 means combined controller+broker nodes, dev only)")
        broker_count = 3

    rf = s.get("replicationFactor", min(3, broker_count), int)
    min_isr = s.get("minInsyncReplicas", max(1, min(2, rf - 1)), int)
    if not 1 <= rf <= broker_count:
        s.fail("replicationFactor", rf, f"must be from 1 to the broker count ({broker_count})")
        rf = min(3, broker_count)
    elif prod and rf < 3:
        s.fail("replicationFactor", rf, "prod needs 3 replicas so that a zone can be lost without losing data")
    elif not 1 <= min_isr <= rf:
        s.fail("minInsyncReplicas", min_isr, f"must be from 1 to replicationFactor ({rf})")
    elif prod and not 2 <= min_isr < rf:
        s.fail("minInsyncReplicas", min_isr,
               f"prod needs 2 <= minInsyncReplicas < replicationFactor ({rf}): an acknowledged write is on two "
               "replicas, and one replica can be down without blocking producers")
    auto_create = s.get("autoCreateTopics", False, bool)
    if prod and auto_create:
        s.fail("autoCreateTopics", auto_create, "prod must be false: a typo in a client would create a topic")
    rack = s.get("rackAwareness", True, bool)
    if prod and not rack:
        s.fail("rackAwareness", rack, "prod must spread each partition's replicas over zones")

    users = s.get("clientUsers", ("app",), list, lambda v: len(v) >= 1 and _unique(v) and all(map(_USER.match, v)),
                  "must list at least one distinct user name of letters, digits, '.', '_' and '-' (the first one "
                  "also provisions topics)")
    client_namespaces = s.get("clientNamespaces", (), list, lambda v: _unique(v) and all(map(_is_namespace, v)),
                              "must be distinct namespace names")
    for ns in client_namespaces:
        if ns not in meshed:
            s.fail("clientNamespaces", client_namespaces,
                   f"{ns!r} is not meshed: under STRICT mTLS only meshed clients can connect; add it to mesh.namespaces")
    service_accounts = s.get(
        "clientServiceAccounts", (), list,
        lambda v: _unique(v) and all(len(p := x.split("/")) == 2 and all(map(_is_namespace, p)) for x in v),
        'must be "namespace/serviceaccount" entries')

    images_s = s.section("images")
    images = KafkaImages(
        registry=images_s.get("registry", KafkaImages.registry, str,
                              lambda v: re.fullmatch(r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*", v) is not None,
                              "must be a registry host such as docker.io or an ECR registry"),
        kafka=_image(images_s, "kafka", KafkaImages.kafka),
        jmx_exporter=_image(images_s, "jmxExporter", KafkaImages.jmx_exporter))
    images_s.done()
    topics = _topics(s, "topics", broker_count, rf)
    s.done()
    return KafkaConfig(controllers=controllers, brokers=brokers, replication_factor=rf, min_insync_replicas=min_isr,
                       client_users=users, namespace=namespace, auto_create_topics=auto_create, rack_awareness=rack,
                       client_namespaces=client_namespaces, client_service_accounts=service_accounts,
                       images=images, topics=topics)


def _monitoring_component(s: _Section, default: MonitoringComponent, env: str) -> MonitoringComponent:
    minimum = 2 if env == "prod" else 1
    replicas = s.get("replicas", default.replicas, int, lambda v: minimum <= v <= 5,
                     f"must be from {minimum} to 5" + (" (prod runs two, so one can be lost)" if minimum == 2 else ""))
    storage = s.get("storage", default.storage, str, lambda v: _is_quantity(v) and parse_quantity(v) >= 2**30,
                    "must be a Kubernetes quantity of at least 1Gi, such as 50Gi")
    resources = _resources(s.section("resources"), default.resources)
    s.done()
    return MonitoringComponent(replicas, storage, resources)


def _monitoring(s: _Section, env: str) -> MonitoringConfig:
    d = MonitoringConfig()
    namespace = _namespace(s, d.namespace)
    retention = s.get("retention", d.retention, str, lambda v: re.fullmatch(r"[1-9]\d*(h|d|w|y)", v) is not None,
                      "must be a number with a unit, such as 36h, 15d, 4w or 1y")
    prometheus = _monitoring_component(s.section("prometheus"), PROMETHEUS_DEFAULTS, env)
    alertmanager = _monitoring_component(s.section("alertmanager"), ALERTMANAGER_DEFAULTS, env)
    grafana = s.section("grafana")
    grafana_resources = _resources(grafana.section("resources"), d.grafana_resources)
    grafana.done()
    s.done()
    return MonitoringConfig(namespace, retention, prometheus, alertmanager, grafana_resources)


def _alert_receiver(s: _Section, is_secret: bool) -> AlertReceiver | None:
    if not s.raw:
        return None
    kind = s.one_of("type", "webhook", ("slack", "webhook"))
    url = s.get("url", "", str)
    hidden = f"{s.key}.url = (not shown)"  # the URL carries the receiver's credentials: never echo it
    if "url" not in s.raw:
        s.fail("url", None, "is required")
    elif not is_secret:
        s.problems.append(f"{hidden}: must be a secret, it carries the receiver's credentials; "
                          f"set it with: pulumi config set --secret --path alertReceiver.url <url>")
    elif not url.startswith("https://"):
        s.problems.append(f"{hidden}: must be an https:// URL")
    channel = s.get("channel", None, str, lambda v: v.startswith("#"), "must be a Slack channel such as #kafka-alerts")
    if channel and kind != "slack":
        s.fail("channel", channel, 'is only used with type "slack"')
    s.done()
    return AlertReceiver(kind, url, channel)


def _namespace(s: _Section, default: str) -> str:
    return s.get("namespace", default, str, _is_namespace, "must be a Kubernetes namespace name (a DNS label)")


# --------------------------------------------------------------------------- entry points



def parse_config(raw: dict[str, Any], *, stack: str, region: str | None,
                 secret_keys: set[str] | None = None, seen: set[str] | None = None) -> PlatformConfig:
    """Build the validated model from raw values keyed without the project prefix."""
    problems: list[str] = []
    top = _Section(raw, PROJECT, problems, sep=":", seen=seen)

    if not region:
        problems.append('aws:region is not set: set it in the stack file, e.g. "aws:region: us-east-1"')
        raise ConfigError(problems)
    env = top.one_of("environment", "", ENVIRONMENTS)
    if "environment" not in raw:
        problems.append(f"{PROJECT}:environment is not set: must be one of " + ", ".join(ENVIRONMENTS))
    protect = top.get("protect", True, bool)
    if env == "prod" and not protect:
        top.fail("protect", protect, "prod must protect its cluster and stateful resources")
    tags = top.get("tags", {}, dict)

    mesh_s, kafka_s, mon_s = top.section("mesh"), top.section("kafka"), top.section("monitoring")
    mesh = _mesh(mesh_s, env)
    monitoring = _monitoring(mon_s, env)
    receiver = _alert_receiver(top.section("alertReceiver"), f"{PROJECT}:alertReceiver" in (secret_keys or ()))
    monitoring = replace(monitoring, alert_receiver=receiver)
    kafka_namespace = kafka_s.raw.get("namespace", "kafka")
    meshed = ("istio-system", kafka_namespace, monitoring.namespace, *mesh.namespaces)
    taken = {"istio-system": "Istio", kafka_namespace: "kafka.namespace"}
    for key, ns in (("monitoring.namespace", monitoring.namespace),
                    *(("mesh.namespaces", n) for n in mesh.namespaces)):
        if ns in taken:
            problems.append(f"{PROJECT}:{key} = {_show(ns)}: already used by {taken[ns]}; each component needs its "
                            "own namespace")
        taken.setdefault(ns, key)

    network = _network(top.section("network"), env, region)
    cluster = _cluster(top.section("cluster"), env, meshed)
    kafka = _kafka(kafka_s, env, meshed)
    storage = _storage(top.section("storage"), env)
    top.done()
    if problems:
        raise ConfigError(problems)
    return PlatformConfig(stack=stack, region=region, environment=env, network=network, protect=protect,
                          tags=tags, cluster=cluster, storage=storage, mesh=mesh, kafka=kafka,
                          monitoring=monitoring)


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


def support_warnings(config: PlatformConfig, today: date) -> list[str]:
    """Warnings for a preview: the chosen Kubernetes version is close to the end of its standard support."""
    version = config.cluster.kubernetes_version
    ends = EKS_RELEASES[version].standard_support_ends
    days = (ends - today).days
    if days > SUPPORT_WARNING_DAYS:
        return []
    policy = ("EKS will then upgrade the control plane itself (upgradePolicy STANDARD)"
              if config.cluster.upgrade_policy == "STANDARD" else "extended support then costs $0.60/h instead of $0.10/h")
    return [f"{PROJECT}:cluster.kubernetesVersion = {json.dumps(version)}: EKS standard support ends on "
            f"{ends.isoformat()} ({days} days); {policy}. Plan the upgrade to the next minor (README \"Upgrades\")."]


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
