"""The verification as registered: three Jobs in their own meshed namespace, who they run as, what they mount,
what they wait for, and when they run again."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, run_stack

from components.config import VERIFY_NAMESPACE
from components.mesh import pod_security
from components.verification import SCRIPTS

JOB = "kubernetes:batch/v1:Job"
AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
KINDS = ("client", "unmeshed", "outsider")


def jobs(stack) -> dict[str, dict]:
    return {kind: stack.one(JOB, f"kafka-verify-{kind}") for kind in KINDS}


def pod(stack, kind: str) -> dict:
    return jobs(stack)[kind].inputs["spec"]["template"]


def env(stack, kind: str) -> dict[str, str]:
    (container,) = pod(stack, kind)["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_both_stacks_register_three_jobs_in_the_verification_namespace(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    found = jobs(stack)
    names = {kind: j.inputs["metadata"]["name"] for kind, j in found.items()}
    digest = names["client"].removeprefix("kafka-verify-")
    assert len(digest) == 10 and names == {"client": f"kafka-verify-{digest}",
                                           "unmeshed": f"kafka-verify-unmeshed-{digest}",
                                           "outsider": f"kafka-verify-outsider-{digest}"}
    for j in found.values():
        assert j.inputs["metadata"]["namespace"] == VERIFY_NAMESPACE
        assert j.inputs["metadata"]["annotations"] == {"pulumi.com/replaceUnready": "true"}  # a failure runs again
        spec = j.inputs["spec"]
        assert spec["ttlSecondsAfterFinished"] == 86400 and spec["backoffLimit"] == 0  # a failure is a verdict
        assert "pulumi.com/skipAwait" not in str(j.inputs["metadata"])  # awaited: a failed check fails the up
    namespace = stack.one("kubernetes:core/v1:Namespace", f"mesh-{VERIFY_NAMESPACE}")
    assert namespace.inputs["metadata"] == {"name": VERIFY_NAMESPACE, "labels": {
        "istio-injection": "enabled", **pod_security("restricted", "1.35")}}
    assert not namespace.retain_on_delete  # the platform's own: it goes with the verification
    assert namespace.depends_on(stack.one("kubernetes:helm.sh/v3:Release", "mesh-istiod"))


def test_the_client_checks_run_as_the_declared_user_in_a_meshed_pod(prod):
    template = pod(prod, "client")
    spec = template["spec"]
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/nativeSidecar": "true"}
    assert "sidecar.istio.io/inject" not in template["metadata"]["labels"]
    assert spec["serviceAccountName"] == "platform-verify" and spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["image"] == "docker.io/bitnamilegacy/kafka:4.0.0-debian-12-r10"
    assert container["command"] == ["/bin/bash", "/verify/verify_kafka.sh"]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert env(prod, "client") == {
        "BOOTSTRAP": "kafka.kafka.svc.cluster.local:9092", "TOPIC": "platform-verify",
        "GROUP_PREFIX": "platform-verify-", "RECORDS": "100", "REPLICATION_FACTOR": "3", "MIN_INSYNC_REPLICAS": "2",
        "CLIENT": "/client", "NO_ACL": "/no-acl", "WAIT": "60", "HOST": "kafka.kafka.svc.cluster.local",
        "PORT": "9092", "KAFKA_HEAP_OPTS": "-Xmx256m", "LOG_DIR": "/tmp/kafka-logs"}
    # two JVMs at a time (consumer and producer) within the limit; the steps' timeouts within the deadline
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert jobs(prod)["client"].inputs["spec"]["activeDeadlineSeconds"] == 900
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["client"]["secret"] == {"secretName": "kafka-platform-verify"}
    assert volumes["no-acl"]["secret"] == {"secretName": "kafka-platform-verify-no-acl"}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/client"]["readOnly"] and mounts["/no-acl"]["readOnly"] and mounts["/verify"]["readOnly"]
    # the Secrets it mounts are the access model's, in this namespace
    for user in ("platform-verify", "platform-verify-no-acl"):
        secret = prod.one("kubernetes:core/v1:Secret", f"kafka-access-{user}-secret")
        assert secret.inputs["metadata"]["namespace"] == VERIFY_NAMESPACE


def test_the_record_count_comes_from_config():
    assert env(run_stack("dev", {"kafka.verify.records": 2500}), "client")["RECORDS"] == "2500"


def test_the_unmeshed_pod_really_has_no_sidecar_and_the_outsider_really_has_one(prod):
    unmeshed, outsider = pod(prod, "unmeshed"), pod(prod, "outsider")
    # Istio's injector honours this pod label over the namespace's istio-injection=enabled
    assert unmeshed["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert "sidecar.istio.io/nativeSidecar" not in unmeshed["metadata"].get("annotations", {})
    assert "sidecar.istio.io/inject" not in outsider["metadata"]["labels"]
    assert outsider["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"] == "true"
    # the outsider's proxy keeps the cluster stats its check reads
    proxy = json.loads(outsider["metadata"]["annotations"]["proxy.istio.io/config"])
    assert proxy == {"proxyStatsMatcher": {"inclusionPrefixes": [
        "cluster.outbound|9092||kafka.kafka.svc.cluster.local."]}}
    assert env(prod, "outsider")["ENVOY_CLUSTER"] == "outbound|9092||kafka.kafka.svc.cluster.local"
    assert {env(prod, k)["CHECK"] for k in ("unmeshed", "outsider")} == {"unmeshed", "outsider"}
    assert env(prod, "unmeshed")["HOST"] == "kafka.kafka.svc.cluster.local" and env(prod, "unmeshed")["PORT"] == "9092"


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_only_the_client_identity_is_let_through_to_kafka(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    rules = stack.one(AUTHZ, "kafka-authorizationpolicy-kafka").inputs["spec"]["rules"]
    sources = [s["source"] for r in rules for s in r["from"]]
    principals = {p for s in sources for p in s.get("principals", [])}
    assert "cluster.local/ns/kafka-verify/sa/platform-verify" in principals
    for kind in ("unmeshed", "outsider"):
        account = pod(stack, kind)["spec"]["serviceAccountName"]
        assert f"cluster.local/ns/kafka-verify/sa/{account}" not in principals
    # no rule opens the whole namespace, or the outsider would be let in
    assert not [s for s in sources if VERIFY_NAMESPACE in s.get("namespaces", [])]


def test_the_checks_run_after_kafka_and_access_and_the_refusals_after_the_client_checks(prod):
    found = jobs(prod)
    assert found["client"].depends_on(prod.one("kubernetes:helm.sh/v3:Release", "kafka-release"))
    assert found["client"].depends_on(prod.one(JOB, "kafka-access-reconcile"))
    for kind in ("unmeshed", "outsider"):
        assert found[kind].depends_on(found["client"])


def test_the_scripts_ship_in_a_configmap_named_like_the_jobs(prod):
    scripts = prod.one("kubernetes:core/v1:ConfigMap", "kafka-verify-scripts")
    assert scripts.inputs["metadata"]["name"] == jobs(prod)["client"].inputs["metadata"]["name"]
    assert scripts.inputs["data"] == {name: (ROOT / "components" / "scripts" / name).read_text() for name in SCRIPTS}
    volumes = {v["name"]: v for v in pod(prod, "outsider")["spec"]["volumes"]}
    assert volumes["scripts"]["configMap"] == {"name": scripts.inputs["metadata"]["name"]}


def name_of(stack) -> str:
    return jobs(stack)["client"].inputs["metadata"]["name"]


@pytest.mark.parametrize("change", [
    {"kafka.brokers.heap": "3g"},  # the Kafka release's values
    {"kafka.users": [{"name": "app", "namespace": "apps", "topics": [{"topic": "events", "intents": ["produce"]}]}]},
    {"kafka.topics": [{"name": "events", "partitions": 24}]},  # the access model
    {"mesh.accessLogging": True},  # the mesh
    {"kafka.verify.records": 10},  # the checks
    {"kafka.users": []},  # Kafka's AuthorizationPolicy
])
def test_the_checks_run_again_when_what_they_verify_changes(prod, change):
    assert name_of(run_stack("prod")) == name_of(prod)  # nothing changed: the same Jobs, not run again
    assert name_of(run_stack("prod", change)) != name_of(prod)


def test_a_change_elsewhere_does_not_rerun_them(prod):
    assert name_of(run_stack("prod", {"monitoring.retention": "30d"})) == name_of(prod)


def test_off_leaves_no_jobs_no_namespace_no_users_and_no_rule():
    stack = run_stack("dev", {"kafka.verify.enabled": False})
    assert not [r for r in stack if "kafka-verify" in r.name or VERIFY_NAMESPACE in str(r.inputs.get("metadata"))]
    assert "verificationLogsCommand" not in stack.outputs
    assert "platform-verify" not in json.dumps(stack.one(AUTHZ, "kafka-authorizationpolicy-kafka").inputs)


def test_where_to_read_the_result_is_an_output(prod):
    assert prod.outputs["verificationLogsCommand"] == (
        "kubectl logs -n kafka-verify -l app.kubernetes.io/name=kafka-verify --prefix --tail=-1")

