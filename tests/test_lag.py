"""KMinion as registered: its pinned release in its own meshed namespace, signed in as its declared user, scraped
through Istio's metrics merging."""

from __future__ import annotations

import pytest
from conftest import run_stack

from components import versions
from components.config import KMINION_NAMESPACE
from components.mesh import pod_security

RELEASE = "kubernetes:helm.sh/v3:Release"
AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"


def release(stack):
    return stack.one(RELEASE, "kminion-release")


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_the_pinned_release_runs_in_its_own_meshed_namespace(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    r = release(stack)
    assert (r.inputs["chart"], r.inputs["version"]) == ("kminion", "0.15.2") == (versions.KMINION.chart,
                                                                                  versions.KMINION.version)
    assert r.inputs["repositoryOpts"]["repo"] == "https://charts.redpanda.com"
    assert (r.inputs["name"], r.inputs["namespace"]) == ("kminion", KMINION_NAMESPACE)
    namespace = stack.one("kubernetes:core/v1:Namespace", f"mesh-{KMINION_NAMESPACE}")
    assert namespace.inputs["metadata"]["labels"] == {"istio-injection": "enabled", **pod_security("restricted", "1.35")}
    assert r.depends_on(namespace)
    # it starts only once its user, ACLs and probe topic exist: KMinion exits when its topic is missing
    assert r.depends_on(stack.one("kubernetes:batch/v1:Job", "kafka-access-reconcile"))
    image = r.inputs["values"]["image"]
    assert f"{image['repository']}:{image['tag']}" == f"docker.io/{versions.KMINION_IMAGE}"
    assert versions.KMINION_IMAGE.endswith(":v2.3.0")  # the metric names in test_monitoring.py are v2.3.0's


def test_it_signs_in_as_its_declared_user_with_the_password_from_its_secret(prod):
    values = release(prod).inputs["values"]
    kafka = values["kminion"]["config"]["kafka"]
    assert kafka["brokers"] == ["kafka.kafka.svc.cluster.local:9092"]
    assert kafka["sasl"] == {"enabled": True, "mechanism": "SCRAM-SHA-512", "username": "platform-kminion"}
    assert "password" not in str(values["kminion"])  # the config lands in a ConfigMap
    assert values["deployment"]["env"]["secretKeyRefs"] == [
        {"name": "KAFKA_SASL_PASSWORD", "secretName": "kafka-platform-kminion", "secretKey": "password"}]
    secret = prod.one("kubernetes:core/v1:Secret", "kafka-access-platform-kminion-secret")
    assert secret.inputs["metadata"]["namespace"] == KMINION_NAMESPACE
    # the mesh lets exactly its service account through, which the chart creates under that name
    assert values["serviceAccount"] == {"create": True, "name": "kminion"}
    principals = {p for rule in prod.one(AUTHZ, "kafka-authorizationpolicy-kafka").inputs["spec"]["rules"]
                  for s in rule["from"] for p in s["source"].get("principals", [])}
    assert "cluster.local/ns/kminion/sa/kminion" in principals


def test_its_probe_uses_the_declared_topic_and_the_groups_it_is_granted(prod):
    config = release(prod).inputs["values"]["kminion"]["config"]["minion"]
    e2e = config["endToEnd"]
    assert e2e["enabled"] and e2e["topicManagement"] == {"enabled": False, "name": "platform-kminion-end-to-end"}
    assert e2e["producer"]["requiredAcks"] == "all"
    # KMinion names its group <prefix>-<uuid>: the ACL prefix must be exactly that
    assert e2e["consumer"]["groupIdPrefix"] == "platform-kminion-end-to-end"
    declared = prod.one("kubernetes:core/v1:ConfigMap", "kafka-access-plan").inputs["data"]["declaration.tsv"]
    assert "acl\tplatform-kminion\tGROUP\tPREFIXED\tplatform-kminion-end-to-end-\tREAD\n" in declared
    assert "topic\tplatform-kminion-end-to-end\t3\t3\tmin.insync.replicas=2," in declared
    assert config["consumerGroups"]["scrapeMode"] == "adminApi"
    assert config["consumerGroups"]["ignoredGroups"] == ["platform-kminion-end-to-end-.*", "platform-verify-.*"]


# Every key KMinion v2.3.0 reads from its YAML (config.go, kafka/config*.go, minion/config*.go, e2e/config*.go,
# prometheus/config.go, logging/config.go; docs/reference-config.yaml): it rejects any other at start
# (koanf ErrorUnused), which would crash-loop the pod.
KMINION_CONFIG_KEYS = {
    "logger.level", "kafka.brokers", "kafka.clientId", "kafka.rackId", "kafka.retryInitConnection",
    *(f"kafka.tls.{k}" for k in ("enabled", "caFilepath", "certFilepath", "keyFilepath", "ca", "cert", "key",
                                 "passphrase", "insecureSkipTlsVerify")),
    "kafka.sasl.enabled", "kafka.sasl.username", "kafka.sasl.password", "kafka.sasl.mechanism",
    *(f"minion.consumerGroups.{k}" for k in ("enabled", "scrapeMode", "granularity", "allowedGroups", "ignoredGroups")),
    *(f"minion.topics.{k}" for k in ("enabled", "granularity", "allowedTopics", "ignoredTopics", "infoMetric.configKeys")),
    "minion.logDirs.enabled",
    *(f"minion.endToEnd.{k}" for k in (
        "enabled", "probeInterval", "topicManagement.enabled", "topicManagement.name",
        "topicManagement.reconciliationInterval", "topicManagement.replicationFactor",
        "topicManagement.partitionsPerBroker", "topicManagement.rebalancePartitions", "producer.ackSla",
        "producer.requiredAcks", "consumer.groupIdPrefix", "consumer.deleteStaleConsumerGroups",
        "consumer.roundtripSla", "consumer.commitSla")),
    "exporter.namespace", "exporter.host", "exporter.port",
}


def leaves(tree: dict, prefix: str = "") -> set[str]:
    return {path for key, value in tree.items()
            for path in (leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"})}


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_kminion_config_key_is_one_kminion_reads(stack_name, request):
    config = release(request.getfixturevalue(stack_name)).inputs["values"]["kminion"]["config"]
    assert leaves(config) <= KMINION_CONFIG_KEYS, leaves(config) - KMINION_CONFIG_KEYS
    assert leaves({"minion": {"endToEnd": {"producer": {"acks": "all"}}}}) - KMINION_CONFIG_KEYS  # the check can fail


def test_prometheus_scrapes_it_through_istios_merged_metrics(prod):
    values = release(prod).inputs["values"]
    annotations = values["podAnnotations"]
    assert annotations == {"sidecar.istio.io/nativeSidecar": "true", "prometheus.io/scrape": "true",
                           "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}
    assert values["kminion"]["config"]["exporter"] == {"namespace": "kminion", "port": 8080}
    # the envoy-stats PodMonitor keeps any pod's istio-proxy that has prometheus.io/scrape, in every namespace
    monitor = prod.one("kubernetes:monitoring.coreos.com/v1:PodMonitor", "monitoring-envoy-stats-monitor")
    assert monitor.inputs["spec"]["namespaceSelector"] == {"any": True}
    assert "sidecar.istio.io/inject" not in str(values)  # it must get a sidecar to reach Kafka


def test_it_runs_locked_down(prod):
    values = release(prod).inputs["values"]
    assert values["podSecurityContext"]["runAsNonRoot"] is True and values["podSecurityContext"]["runAsUser"] == 99
    assert values["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}}
    assert values["tests"] == {"enabled": False}
    assert values["resources"]["limits"]["memory"]


def test_off_leaves_no_release_namespace_user_or_rule():
    stack = run_stack("dev", {"kafka.lag.enabled": False})
    assert not stack.of_type(RELEASE) or not [r for r in stack.of_type(RELEASE) if r.name == "kminion-release"]
    assert not [r for r in stack if KMINION_NAMESPACE in str(r.inputs.get("metadata", {}).get("namespace", ""))
                or r.name == f"mesh-{KMINION_NAMESPACE}"]
    assert "kminion" not in str(stack.one(AUTHZ, "kafka-authorizationpolicy-kafka").inputs)
