"""Consumer lag and end-to-end latency: KMinion (versions.KMINION) in its own meshed namespace.

KMinion signs in as its own Kafka user, declared through the access model (config.KMINION_USER, its probe
topic and groups; access.platform_acls adds the Describe it needs on every topic and group). It reaches Kafka
through its sidecar like any client; Prometheus scrapes it the way it scrapes Kafka, through Istio's metrics
merging on :15020 (the prometheus.io annotations below). Every values key exists in the pinned chart; every
`kminion.config` key exists in KMinion v2.3.0, which rejects unknown keys at start.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .access import KafkaAccess, secret_name
from .config import KMINION_GROUPS, KMINION_NAMESPACE, KMINION_SERVICE_ACCOUNT, KMINION_TOPIC, KMINION_USER, KafkaConfig
from .helm import pinned_release
from .kafka import NATIVE_SIDECAR, Kafka
from .versions import KMINION

RELEASE = "kminion"
PORT = 8080  # the chart's service.port: container port, readiness probe and KMinion's exporter.port
SCRAPE = {"prometheus.io/scrape": "true", "prometheus.io/port": str(PORT), "prometheus.io/path": "/metrics"}


def kminion_values(cfg: KafkaConfig, bootstrap: str) -> dict:
    repository, tag = cfg.images.kminion.rsplit(":", 1)
    group_prefix = KMINION_GROUPS.removesuffix("-*")  # KMinion adds "-<uuid>"
    return {
        "image": {"repository": f"{cfg.images.registry}/{repository}", "tag": tag},
        "serviceAccount": {"create": True, "name": KMINION_SERVICE_ACCOUNT},  # the identity Kafka's policy names
        # Istio's merging reads these from the pod and serves KMinion's metrics with Envoy's on :15020
        "podAnnotations": {**NATIVE_SIDECAR, **SCRAPE},
        "podSecurityContext": {"runAsUser": 99, "runAsGroup": 99, "fsGroup": 99, "runAsNonRoot": True,
                               "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "tests": {"enabled": False},  # a `helm test` pod with an unpinned image, that would not exit in the mesh
        # the password from the access model's Secret, never in the ConfigMap (KMinion reads env over YAML)
        "deployment": {"env": {"secretKeyRefs": [
            {"name": "KAFKA_SASL_PASSWORD", "secretName": secret_name(KMINION_USER), "secretKey": "password"}]}},
        "kminion": {"config": {
            "kafka": {"brokers": [bootstrap], "clientId": RELEASE,
                      "sasl": {"enabled": True, "mechanism": "SCRAM-SHA-512", "username": KMINION_USER}},
            "minion": {
                # lag from the Admin API; its own probe groups and the verification's are not a team's lag
                # (KMinion anchors a pattern itself: "x-.*" is compiled as ^x-.*$)
                "consumerGroups": {"enabled": True, "scrapeMode": "adminApi", "granularity": "partition",
                                   "ignoredGroups": [f"{group_prefix}-.*", "platform-verify-.*"]},
                "logDirs": {"enabled": True},
                "endToEnd": {
                    "enabled": True,
                    "probeInterval": "100ms",
                    # the topic is declared in the access model, at the cluster's durability: no Create or Alter
                    "topicManagement": {"enabled": False, "name": KMINION_TOPIC},
                    "producer": {"requiredAcks": "all", "ackSla": "5s"},
                    "consumer": {"groupIdPrefix": group_prefix, "deleteStaleConsumerGroups": True,
                                 "roundtripSla": "20s", "commitSla": "10s"},
                },
            },
            "exporter": {"namespace": "kminion", "port": PORT},  # the metric prefix the alerts use
        }},
    }


@dataclass(frozen=True)
class ConsumerLagArgs:
    config: KafkaConfig
    kafka: Kafka
    access: KafkaAccess  # creates KMinion's user, ACLs, probe topic and Secret, which it needs to start
    namespace: pulumi.Resource  # KMinion's meshed namespace (Mesh.app_namespaces)


class ConsumerLag(pulumi.ComponentResource):
    """KMinion: consumer-group lag, end-to-end latency and log-dir sizes, as Prometheus metrics."""

    def __init__(self, name: str, args: ConsumerLagArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:ConsumerLag", name, None, opts)
        self.release = pinned_release(
            f"{name}-release", KMINION, release=RELEASE, namespace=KMINION_NAMESPACE,
            values=kminion_values(args.config, args.kafka.bootstrap_servers),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.namespace, args.access.job]))
        self.register_outputs({})
