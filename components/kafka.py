"""Kafka: the Bitnami chart (versions.KAFKA) in KRaft mode, inside the mesh, with SASL/SCRAM and durable settings.

Every values key below exists in the pinned chart's values.yaml (the chart has no values schema, so a
misspelt key would be ignored silently); names of Services, labels, volumes and Secret keys are the
ones its templates render for a release named `kafka`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .config import (
    ADMIN_USER,
    BROKER_MIN_ID,
    CONTROLLER_MIN_ID,
    INTERNAL_USERS,
    PROJECT,
    KafkaConfig,
    KafkaRole,
)
from .helm import pinned_release
from .last_up import last_up_output
from .mesh import Mesh, custom_resource, peer_authentication
from .observability import KRAFT_JMX_RULES, LATENCY_JMX_RULES
from .versions import KAFKA

RELEASE = "kafka"  # fixed: Service DNS names, and so every client's bootstrap address, derive from it
CLIENT_PORT, CONTROLLER_PORT, INTERBROKER_PORT = 9092, 9093, 9094
ISTIO_METRICS_PORT = 15020  # Istio's merged metrics: the sidecar's and, through it, the JMX exporter's
# Kafka's default JMX options (kafka-run-class.sh) plus the bind address: registry and connector on loopback only.
# kafka-run-class.sh appends the port and RMI port from the chart's JMX_PORT.
JMX_LOCALHOST_ONLY = ("-Dcom.sun.management.jmxremote=true -Dcom.sun.management.jmxremote.authenticate=false "
                      "-Dcom.sun.management.jmxremote.ssl=false -Dcom.sun.management.jmxremote.host=127.0.0.1 "
                      "-Djava.rmi.server.hostname=127.0.0.1")
SASL_SECRET = "kafka-sasl-credentials"
# The cluster id and the controllers' directory ids (existingKraftSecret). Not the chart's own `kafka-kraft`,
# which Helm deletes once existingKraftSecret is set.
KRAFT_SECRET = "kafka-kraft-ids"
BROKER_IDS_OUTPUT = "kafkaBrokerIds"  # the stack output the next `up` compares its brokers with
SASL_MECHANISM = "SCRAM-SHA-512"
SECURITY_PROTOCOL = "SASL_PLAINTEXT"  # inside the mesh's mTLS
RECONCILER = f"{RELEASE}-access"  # the access Job's service account (components/access.py)
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"  # KRaft's ACL authorizer
# Labels the chart puts on every controller and broker pod (not on the provisioning Job's).
POD_SELECTOR = {"app.kubernetes.io/name": "kafka", "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/part-of": "kafka"}
# Istio metrics merging reads these from the pod; the chart puts them only on its metrics Service.
METRICS_ANNOTATIONS = {"prometheus.io/scrape": "true", "prometheus.io/port": "5556", "prometheus.io/path": "/metrics"}
# The proxy starts before the app and does not keep a Job's pod alive (istiod enables this mesh-wide too).
NATIVE_SIDECAR = {"sidecar.istio.io/nativeSidecar": "true"}
# Kafka waits up to 5 minutes for the controller to approve its controlled shutdown (KafkaBroker.shutdown()),
# then closes its logs; 30 s more for that close, so a slow controlled shutdown is not cut by SIGKILL and the
# logs close clean (no recovery at start).
SHUTDOWN_GRACE_SECONDS = 330
# A rolled pod must stay Ready (in sync) this long before the StatefulSet takes the next one: longer than
# the probe needs (3 x 10 s) to notice a relapse, and as long as a broker must stay in sync before it keeps
# its Ready state (kafka_ready.sh settle).
MIN_READY_SECONDS = 60
READY_SCRIPT = (pathlib.Path(__file__).parent / "scripts" / "kafka_ready.sh").read_text()


def readiness_probe(roles: list[str]) -> dict:
    """Ready = caught up (scripts/kafka_ready.sh), not the chart's TCP check on the client port."""
    return {"exec": {"command": ["/bin/bash", "-c", READY_SCRIPT, "kafka-ready", *roles]},
            # 30 s of failures before a running node counts as out of sync: a leader election or a slow
            # scrape does not flap it; the JMX exporter answers within the 10 s timeout
            "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 10, "failureThreshold": 3,
            "successThreshold": 1}


def roll_timeout(cfg: KafkaConfig) -> int:
    """Helm's wait for a rolling restart, one node at a time per StatefulSet (the two roll side by side):
    a full shutdown grace, then start, catch-up and minReadySeconds, within 10 minutes per node. The release
    is atomic, so a timeout would roll everything back, and roll it again."""
    return 600 * max(cfg.controllers.replicas, cfg.brokers.replicas)


def unannounced_removals(cfg: KafkaConfig, previous_ids: list | None) -> list[int]:
    """Brokers the last `up` ran that this config drops without naming them in kafka.drainedBrokers."""
    return sorted({int(i) for i in previous_ids or []} - set(cfg.broker_ids) - set(cfg.drained_brokers))


def refuse_undrained_removals(cfg: KafkaConfig, previous_ids: list | None) -> None:
    """Prod removes a broker only once its partitions are elsewhere: a removed broker's replicas would be
    under-replicated until reassigned, and with a second loss offline (README "Removing brokers")."""
    if previous_ids is None:
        pulumi.log.warn(f"no {BROKER_IDS_OUTPUT} from this stack's last up: the broker-removal check starts with "
                        "the next one")
    removed = unannounced_removals(cfg, previous_ids)
    if removed:
        # a RunError, not a ValueError: the SDK would wrap a ValueError in its own "While processing" text
        raise pulumi.RunError(
            f"{PROJECT}:kafka.brokers.replicas = {cfg.brokers.replicas}: removes broker(s) "
            f"{', '.join(map(str, removed))}, which the last update ran; prod removes a broker only once its "
            f"partitions are moved off: reassign them (README \"Removing brokers\"), then list "
            f"{removed} in kafka.drainedBrokers")


def release_broker_ids(values: Mapping[str, Any] | None) -> list[int]:
    """The broker node ids a Kafka release's values run (the chart numbers them as KafkaConfig.broker_ids does)."""
    if not values:
        return []
    dedicated = bool(values["controller"]["controllerOnly"])
    first, count = ((BROKER_MIN_ID, values["broker"]["replicaCount"]) if dedicated
                    else (CONTROLLER_MIN_ID, values["controller"]["replicaCount"]))
    return list(range(first, first + int(count)))


def kraft_directory_id(b64_url: str) -> str:
    """A controller's directory id from 16 random bytes, as Kafka's Uuid.randomUuid() would accept it:
    no leading "-", which Kafka's tools would read as an option (only the first 6 bits change)."""
    return "A" + b64_url[1:] if b64_url.startswith("-") else b64_url


def _image(registry: str, image: str) -> dict:
    repository, tag = image.rsplit(":", 1)
    return {"registry": registry, "repository": repository, "tag": tag}


RACK_TOKEN_DIR = "/var/run/secrets/kafka-rack"
# A short-lived token for the rack lookup only; the Kafka containers themselves mount no token.
RACK_TOKEN_VOLUME = {"name": "rack-api-access", "projected": {"sources": [
    {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
]}}


def set_broker_rack() -> dict:
    """broker.rack = the broker's zone, with no instance-metadata access from the pod.

    The chart mounts its own server.properties, so the image never maps KAFKA_CFG_BROKER_RACK; this
    runs after the chart's prepare-config and edits the prepared file in the shared `kafka-config`
    volume. The zone comes from the pod's label (Kubernetes >= 1.35 copies it from the node at
    binding, if the API server runs PodTopologyLabels), else from the node's own label through the
    API server. With neither, the broker does not start rather than run without a rack.
    """
    script = r"""zone="${BROKER_RACK:-}"
if [[ -z "$zone" ]]; then
  token="$(cat TOKEN_DIR/token)"
  zone="$(curl -sSf --max-time 10 --retry 5 --cacert TOKEN_DIR/ca.crt -H "Authorization: Bearer ${token}" \
    "https://kubernetes.default.svc/api/v1/nodes/${NODE_NAME}" \
    | grep -o '"topology.kubernetes.io/zone": *"[^"]*"' | head -n 1 | sed -e 's/.*"\([^"]*\)"$/\1/')"
fi
if [[ -z "$zone" ]]; then
  echo "cannot determine the zone of node ${NODE_NAME}" >&2
  exit 1
fi
if grep -q '^broker.rack=' /config/server.properties; then
  sed -i "s|^broker.rack=.*|broker.rack=${zone}|" /config/server.properties
else
  printf '\nbroker.rack=%s\n' "${zone}" >> /config/server.properties
fi
echo "broker.rack=${zone}"
""".replace("TOKEN_DIR", RACK_TOKEN_DIR)
    return {
        "name": "set-broker-rack",
        "image": '{{ include "kafka.image" . }}',  # initContainers are rendered with tpl
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-ec"],
        "args": [script],
        "env": [
            {"name": "BROKER_RACK", "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.labels['topology.kubernetes.io/zone']"}}},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "securityContext": {"runAsUser": 1001, "runAsGroup": 1001, "runAsNonRoot": True,
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "kafka-config", "mountPath": "/config"},
                         {"name": RACK_TOKEN_VOLUME["name"], "mountPath": RACK_TOKEN_DIR, "readOnly": True}],
    }


def node_reader(namespace: str) -> tuple[dict, dict]:
    """RBAC for the rack lookup: read nodes (cluster-scoped), for Kafka's service account only."""
    name = f"{namespace}-{RELEASE}-node-reader"
    role = {"metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}
    binding = {"metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": RELEASE, "namespace": namespace}]}
    return role, binding


def _role(role: KafkaRole, component: str, *, ready_as: list[str], storage_class: str, strict_placement: bool,
          rack: bool) -> dict:
    values = {
        "replicaCount": role.replicas,
        "resources": role.resources.to_k8s(),  # set, so resourcesPreset is ignored
        "heapOpts": f"-Xmx{role.heap} -Xms{role.heap}",
        "persistence": {"enabled": True, "size": role.storage, "storageClass": storage_class},
        "podAnnotations": {**NATIVE_SIDECAR, **METRICS_ANNOTATIONS},
        "podAntiAffinityPreset": "hard" if strict_placement else "soft",  # on kubernetes.io/hostname
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule" if strict_placement else "ScheduleAnyway",
            "labelSelector": {"matchLabels": {**POD_SELECTOR, "app.kubernetes.io/component": component}},
            # a lost zone's nodes carry the unreachable/not-ready NoSchedule taints, which Kafka's pods do not
            # tolerate: Honor leaves that zone out of the skew, so a replacement can schedule elsewhere
            "nodeTaintsPolicy": "Honor",
            "nodeAffinityPolicy": "Honor",  # the default, stated
        }],
        "pdb": {"create": True, "maxUnavailable": 1},  # counts Ready pods, and Ready means in sync
        "customReadinessProbe": readiness_probe(ready_as),
        "terminationGracePeriodSeconds": SHUTDOWN_GRACE_SECONDS,
        "minReadySeconds": MIN_READY_SECONDS,
    }
    if rack:
        values["initContainers"] = [set_broker_rack()]
        values["extraVolumes"] = [RACK_TOKEN_VOLUME]
    return values


def durability(cfg: KafkaConfig) -> dict[str, str]:
    """server.properties overrides; the chart sets none, so Kafka's own defaults (RF 1) would apply."""
    rf, min_isr = str(cfg.replication_factor), str(cfg.min_insync_replicas)
    return {
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "unclean.leader.election.enable": "false",  # never elect a replica that misses acknowledged writes
        "auto.create.topics.enable": "true" if cfg.auto_create_topics else "false",
    }


def authorization(cfg: KafkaConfig) -> dict[str, str]:
    """ACLs decide: no authenticated principal is a super user except Kafka's own and the platform admin."""
    return {
        "authorizer.class.name": STANDARD_AUTHORIZER,
        # true only while migrating a running cluster (README "Turning authorization on")
        "allow.everyone.if.no.acl.found": "true" if cfg.authorization.allow_everyone_if_no_acl else "false",
        "super.users": ";".join(f"User:{user}" for user in (*INTERNAL_USERS, ADMIN_USER)),
        # clients: SCRAM only, checked against the credentials in the metadata log, so a rotated password
        # stops working at once; PLAIN stays on the internal listeners (SCRAM fails there, KAFKA-15513)
        "listener.name.client.sasl.enabled.mechanisms": SASL_MECHANISM,
        # connections re-authenticate every 5 minutes: a removed or rotated credential is refused within
        # that time even on a connection opened before (the default, 0, never re-checks)
        "connections.max.reauth.ms": "300000",
    }


def kafka_values(cfg: KafkaConfig, *, storage_class: str, monitoring_namespace: str, strict_placement: bool) -> dict:
    """The whole values tree for the pinned chart."""
    dedicated = cfg.dedicated_brokers
    controller = _role(cfg.controllers, "controller-eligible", storage_class=storage_class,
                       ready_as=["controller"] if dedicated else ["broker", "controller"],
                       strict_placement=strict_placement, rack=cfg.rack_awareness and not dedicated)
    controller["controllerOnly"] = dedicated
    if dedicated:
        broker = _role(cfg.brokers, "broker", ready_as=["broker"], storage_class=storage_class,
                       strict_placement=strict_placement, rack=cfg.rack_awareness)
    else:
        broker = {"replicaCount": 0, "pdb": {"create": False}}  # the chart renders an empty PDB otherwise
    small = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "192Mi"}}
    return {
        # anything but docker.io/bitnamilegacy/* (an ECR mirror) fails the chart's NOTES check otherwise
        "global": {"security": {"allowInsecureImages": not cfg.images.is_bitnami_legacy}},
        "image": _image(cfg.images.registry, cfg.images.kafka),
        # cluster id and controller directory ids, generated once by Pulumi: a reinstall on existing volumes
        # presents the same cluster id, and a retried first install the same initial voter set
        "existingKraftSecret": KRAFT_SECRET,
        "controller": controller,
        "broker": broker,
        "overrideConfiguration": {**durability(cfg), **authorization(cfg)},
        # SASL inside STRICT mTLS: the sidecars encrypt and authenticate pods, SCRAM authenticates clients.
        "listeners": {name: {"protocol": "SASL_PLAINTEXT"} for name in ("client", "controller", "interbroker")},
        "sasl": {
            "enabledMechanisms": f"PLAIN,{SASL_MECHANISM}",
            # SCRAM on the KRaft controller listener fails at runtime (KAFKA-15513); PLAIN stays internal
            "interBrokerMechanism": "PLAIN",
            "controllerMechanism": "PLAIN",
            "existingSecret": SASL_SECRET,
            # the chart keeps only the platform admin: application users are reconciled (components/access.py),
            # because the chart's list restarts every broker and only takes effect at storage format
            "client": {"users": [ADMIN_USER]},
        },
        "defaultInitContainers": {"prepareConfig": {"resources": small}},
        "metrics": {"jmx": {
            "enabled": True,
            "image": _image(cfg.images.registry, cfg.images.jmx_exporter),
            "resources": {"requests": {"cpu": "50m", "memory": "384Mi"}, "limits": {"memory": "384Mi"}},
            # produce/fetch latency percentiles for the alert rules; the KRaft quorum's state for readiness
            "extraRules": LATENCY_JMX_RULES + KRAFT_JMX_RULES,
        }},
        "provisioning": {"enabled": False},  # create-only; topics are reconciled instead (components/access.py)
        # Only the pods named here reach Kafka (the chart's own rule admits Kafka's pods on every Kafka port):
        # each declared client's namespace on the client port, the access Job, and Prometheus on Istio's
        # merged metrics port. Egress stays open (the chart's allowExternalEgress: false would cut the
        # brokers off from the controllers, istiod and the API server).
        "networkPolicy": {"enabled": True, "allowExternal": False, "extraIngress": network_policy_ingress(
            cfg, monitoring_namespace)},
        # JMX is unauthenticated: only the exporter next to it, in the same pod, may reach it
        "extraEnvVars": [{"name": "KAFKA_JMX_OPTS", "value": JMX_LOCALHOST_ONLY}],
    }


def client_namespaces(cfg: KafkaConfig) -> list[str]:
    """Every namespace a declared user (or the platform's own verification and KMinion) connects from."""
    return sorted({u.namespace for u in cfg.access_users} - {cfg.namespace})


def network_policy_ingress(cfg: KafkaConfig, monitoring_namespace: str) -> list[dict]:
    rules = [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": RECONCILER}}}],
              "ports": [{"port": p, "protocol": "TCP"} for p in (CLIENT_PORT, INTERBROKER_PORT)]},
             {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}}}],
              "ports": [{"port": ISTIO_METRICS_PORT, "protocol": "TCP"}]}]
    if client_namespaces(cfg):
        rules.insert(0, {"from": [{"namespaceSelector": {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name", "operator": "In", "values": client_namespaces(cfg)}]}}],
            "ports": [{"port": CLIENT_PORT, "protocol": "TCP"}]})
    return rules


def service_hosts(cfg: KafkaConfig) -> list[str]:
    """The FQDNs of the Services the chart renders: the client Service and each headless Service."""
    names = [RELEASE, f"{RELEASE}-controller-headless"]
    if cfg.dedicated_brokers:
        names.append(f"{RELEASE}-broker-headless")  # dedicated brokers advertise this name
    return [f"{name}.{cfg.namespace}.svc.cluster.local" for name in names]


def destination_rule(cfg: KafkaConfig, host: str) -> dict:
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": host.split(".")[0], "namespace": cfg.namespace},
            "spec": {"host": host, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}


def _principal(namespace: str, service_account: str) -> str:
    return f"cluster.local/ns/{namespace}/sa/{service_account}"


def authorization_policy(cfg: KafkaConfig) -> dict:
    """Kafka's pods on every Kafka port; the access Job on the client port; each declared client on the
    client port, and nobody else."""
    all_ports = [str(p) for p in (CLIENT_PORT, CONTROLLER_PORT, INTERBROKER_PORT)]
    client_port = {"operation": {"ports": [str(CLIENT_PORT)]}}
    rules = [
        {"from": [{"source": {"principals": [_principal(cfg.namespace, RELEASE)]}}],
         "to": [{"operation": {"ports": all_ports}}]},
        # the access Job; the inter-broker port only while migrating, where kafka-admin may lack its SCRAM
        # credential and gets it through its PLAIN login there (a new cluster creates it at storage format)
        {"from": [{"source": {"principals": [_principal(cfg.namespace, RECONCILER)]}}],
         "to": [{"operation": {"ports": [str(CLIENT_PORT), *(
             [str(INTERBROKER_PORT)] if cfg.authorization.allow_everyone_if_no_acl else [])]}}]},
    ]
    principals = sorted({_principal(u.namespace, u.service_account) for u in cfg.access_users if u.service_account})
    if principals:
        rules.append({"from": [{"source": {"principals": principals}}], "to": [client_port]})
    namespaces = sorted({u.namespace for u in cfg.access_users if not u.service_account})
    if namespaces:
        rules.append({"from": [{"source": {"namespaces": namespaces}}], "to": [client_port]})
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": RELEASE, "namespace": cfg.namespace},
            "spec": {"selector": {"matchLabels": POD_SELECTOR}, "action": "ALLOW", "rules": rules}}


def mesh_policies(cfg: KafkaConfig) -> list[dict]:
    """Kafka's own mTLS, authorization and TLS-origination rules, as applied (and as the verification hashes)."""
    return [peer_authentication(cfg.namespace, "STRICT"), authorization_policy(cfg),
            *(destination_rule(cfg, host) for host in service_hosts(cfg))]


@dataclass(frozen=True)
class KafkaArgs:
    config: KafkaConfig
    mesh: Mesh
    storage_class: pulumi.Input[str]
    monitoring_namespace: str  # allowed to scrape Istio's merged metrics port
    strict_placement: bool  # hard zone spread and hard anti-affinity (prod)
    protect: bool
    # compare the brokers with the ones the last `up` ran (this stack's own BROKER_IDS_OUTPUT), and refuse
    # to drop one that kafka.drainedBrokers does not name (prod)
    guard_broker_removal: bool = False


class Kafka(pulumi.ComponentResource):
    """Kafka in KRaft mode from the Bitnami chart, inside the mesh."""

    bootstrap_servers: str
    broker_ids: pulumi.Output[list[int]]  # node ids of the broker-capable nodes, once the release runs them
    internal_host: str  # the headless Service of the nodes that serve the inter-broker listener
    admin_password: pulumi.Output[str]  # secret; the platform admin's
    values: pulumi.Output[dict]
    release: pulumi.Resource
    namespace_resource: pulumi.Resource

    def __init__(self, name: str, args: KafkaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:Kafka", name, None, opts)
        cfg = args.config
        keep = pulumi.ResourceOptions(parent=self, protect=args.protect)

        # deleting the namespace would take the StatefulSets and volume claims with it
        namespace = args.mesh.namespace(f"{name}-namespace", cfg.namespace, parent=self, protect=args.protect)
        self.namespace_resource = namespace  # other components' objects in it wait for it
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        # Generated once and kept in state as secrets: losing them would orphan the volumes and the users.
        cluster_id = random.RandomId(f"{name}-cluster-id", byte_length=16, opts=keep)
        admin = self._password(f"{name}-admin", keep)
        inter_broker = self._password(f"{name}-inter-broker", keep)
        controller = self._password(f"{name}-controller", keep)
        credentials = k8s.core.v1.Secret(
            f"{name}-sasl-credentials",
            metadata={"name": SASL_SECRET, "namespace": cfg.namespace},
            # the keys sasl.existingSecret must hold (no provisioning Job, so no system-user-password)
            string_data={"client-passwords": admin, "inter-broker-password": inter_broker,
                         "controller-password": controller},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace], protect=args.protect))
        # The controllers' directory ids, pinned like the cluster id: the chart would draw new ones whenever its
        # Secret is recreated, and a retried first install could then format controllers with different voter
        # sets. A controller that lost its volume formats with its pinned id again (README "Lost controller volume").
        directory_ids = [random.RandomId(f"{name}-controller-{i}-directory-id", byte_length=16, opts=keep).b64_url
                         for i in range(cfg.controllers.replicas)]
        kraft = k8s.core.v1.Secret(
            f"{name}-kraft-ids",
            metadata={"name": KRAFT_SECRET, "namespace": cfg.namespace},
            string_data=pulumi.Output.all(cluster_id.b64_url, *directory_ids).apply(lambda ids: {
                "cluster-id": ids[0],
                **{f"controller-{i}-id": kraft_directory_id(d) for i, d in enumerate(ids[1:])}}),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace], protect=args.protect))

        rbac = []
        if cfg.rack_awareness:
            role, binding = node_reader(cfg.namespace)
            rbac = [k8s.rbac.v1.ClusterRole(f"{name}-node-reader", metadata=role["metadata"], rules=role["rules"],
                                            opts=pulumi.ResourceOptions(parent=self)),
                    k8s.rbac.v1.ClusterRoleBinding(f"{name}-node-reader", metadata=binding["metadata"],
                                                   role_ref=binding["roleRef"], subjects=binding["subjects"],
                                                   opts=pulumi.ResourceOptions(parent=self))]

        # mTLS and authorization exist before the first broker boots (and go only after it on destroy)
        policies = [custom_resource(f"{name}-{m['kind'].lower()}-{m['metadata']['name']}", m, in_namespace)
                    for m in mesh_policies(cfg)]

        previous_ids = last_up_output(f"{name}-last-up", BROKER_IDS_OUTPUT, self) if args.guard_broker_removal else None

        def values(storage_class: str, previous: list | None) -> dict:
            if args.guard_broker_removal:
                refuse_undrained_removals(cfg, previous)  # before the release could scale the brokers down
            return kafka_values(cfg, storage_class=storage_class, monitoring_namespace=args.monitoring_namespace,
                                strict_placement=args.strict_placement)

        self.values = pulumi.Output.all(args.storage_class, previous_ids).apply(lambda v: values(*v))
        # values not secret: a reviewer must see replication and image changes in the preview; the ids and
        # the passwords stay in the Secrets above
        self.release = pinned_release(
            f"{name}-release", KAFKA, release=RELEASE, namespace=cfg.namespace, values=self.values,
            timeout=roll_timeout(cfg),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, credentials, kraft, *rbac, *policies],
                                        protect=args.protect))

        # read from the release as it stands (a targeted up that skips it keeps the old ones), and only once it
        # exists: a refused or failed update never moves the guard's baseline
        self.broker_ids = self.release.values.apply(release_broker_ids)
        self.bootstrap_servers = f"{RELEASE}.{cfg.namespace}.svc.cluster.local:{CLIENT_PORT}"
        self.internal_host = service_hosts(cfg)[-1]  # kafka-broker-headless, or the combined nodes' one
        self.admin_password = pulumi.Output.secret(admin)
        self.register_outputs({"bootstrap_servers": self.bootstrap_servers})

    def _password(self, name: str, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        # no special characters: the chart splices passwords into server.properties and splits on commas
        return random.RandomPassword(name, length=32, special=False, opts=opts).result
