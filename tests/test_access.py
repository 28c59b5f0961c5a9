"""Kafka access as code: one user entry expands to a password, a Secret, ACLs and a mesh rule; a Job applies it."""

import pytest
from conftest import load_stack_config, run_stack

from components.access import Acl, declaration, user_acls

JOB = "kubernetes:batch/v1:Job"
SECRET = "kubernetes:core/v1:Secret"
APP = {"name": "app", "namespace": "apps", "topics": [{"topic": "events", "intents": ["produce", "consume"]}],
       "consumerGroups": ["app-*"]}


def user(overrides: dict | None = None, **fields):
    cfg = load_stack_config("prod", {"kafka.users": [APP | fields], **(overrides or {})}).kafka
    return cfg.users[0]


def test_produce_and_consume_expand_to_topic_and_group_acls():
    assert user_acls(user()) == sorted([
        Acl("app", "GROUP", "PREFIXED", "app-", "READ"),
        Acl("app", "TOPIC", "LITERAL", "events", "DESCRIBE"),
        Acl("app", "TOPIC", "LITERAL", "events", "READ"),
        Acl("app", "TOPIC", "LITERAL", "events", "WRITE")])


def test_admin_and_transactions_and_prefixes():
    acls = user_acls(user(topics=[{"topic": "events.*", "intents": ["admin", "produce"]}],
                          consumerGroups=["ops"], transactionalIds=["app-tx-*"]))
    assert Acl("app", "TOPIC", "PREFIXED", "events.", "DESCRIBE_CONFIGS") in acls
    assert Acl("app", "GROUP", "LITERAL", "ops", "DELETE") in acls
    assert {a for a in acls if a.resource_type == "TRANSACTIONAL_ID"} == {
        Acl("app", "TRANSACTIONAL_ID", "PREFIXED", "app-tx-", "WRITE"),
        Acl("app", "TRANSACTIONAL_ID", "PREFIXED", "app-tx-", "DESCRIBE")}


@pytest.mark.parametrize("intents", [["produce"], ["consume"], ["admin"], ["produce", "consume", "admin"]])
def test_no_intent_lets_a_client_change_delete_or_reconfigure_a_topic(intents):
    # topic settings carry the durability rules: only the platform changes them
    acls = user_acls(user(topics=[{"topic": "events", "intents": intents}], consumerGroups=["g"]))
    assert not {a.operation for a in acls if a.resource_type == "TOPIC"} & {"ALTER", "ALTER_CONFIGS", "DELETE", "ALL"}
    assert not [a for a in acls if a.resource_type == "CLUSTER"]


def test_the_prod_declaration_is_the_whole_desired_state():
    assert declaration(load_stack_config("prod").kafka) == (
        "user\tapp\t-\n"
        "user\tplatform-kminion\t-\n"
        "user\tplatform-verify\t-\n"
        "user\tplatform-verify-no-acl\t-\n"
        "acl\tapp\tGROUP\tPREFIXED\tapp-\tREAD\n"
        "acl\tapp\tTOPIC\tLITERAL\tevents\tDESCRIBE\n"
        "acl\tapp\tTOPIC\tLITERAL\tevents\tREAD\n"
        "acl\tapp\tTOPIC\tLITERAL\tevents\tWRITE\n"
        # the verification's user: its own topic and groups, nothing else; its no-ACL user: no line at all
        "acl\tplatform-verify\tGROUP\tPREFIXED\tplatform-verify-\tDELETE\n"
        "acl\tplatform-verify\tGROUP\tPREFIXED\tplatform-verify-\tDESCRIBE\n"
        "acl\tplatform-verify\tGROUP\tPREFIXED\tplatform-verify-\tREAD\n"
        "acl\tplatform-verify\tTOPIC\tLITERAL\tplatform-verify\tDESCRIBE\n"
        "acl\tplatform-verify\tTOPIC\tLITERAL\tplatform-verify\tDESCRIBE_CONFIGS\n"
        "acl\tplatform-verify\tTOPIC\tLITERAL\tplatform-verify\tREAD\n"
        "acl\tplatform-verify\tTOPIC\tLITERAL\tplatform-verify\tWRITE\n"
        # KMinion: its probe topic and groups like any client; then what only it gets (access.platform_acls):
        # Describe everywhere (lag, high watermarks, log dirs) and topic settings, no Read nor Write beyond its own
        "acl\tplatform-kminion\tGROUP\tPREFIXED\tplatform-kminion-end-to-end-\tREAD\n"
        "acl\tplatform-kminion\tTOPIC\tLITERAL\tplatform-kminion-end-to-end\tDESCRIBE\n"
        "acl\tplatform-kminion\tTOPIC\tLITERAL\tplatform-kminion-end-to-end\tREAD\n"
        "acl\tplatform-kminion\tTOPIC\tLITERAL\tplatform-kminion-end-to-end\tWRITE\n"
        "acl\tplatform-kminion\tCLUSTER\tLITERAL\tkafka-cluster\tDESCRIBE\n"
        "acl\tplatform-kminion\tGROUP\tLITERAL\t*\tDESCRIBE\n"
        "acl\tplatform-kminion\tGROUP\tPREFIXED\tplatform-kminion-end-to-end-\tDELETE\n"
        "acl\tplatform-kminion\tTOPIC\tLITERAL\t*\tDESCRIBE\n"
        "acl\tplatform-kminion\tTOPIC\tLITERAL\t*\tDESCRIBE_CONFIGS\n"
        "topic\tevents\t12\t3\tmin.insync.replicas=2,retention.ms=604800000\n"
        "topic\tplatform-kminion-end-to-end\t3\t3\tmin.insync.replicas=2,retention.ms=3600000,segment.ms=3600000\n"
        # the cluster's RF and min ISR, and an hour of records
        "topic\tplatform-verify\t3\t3\tmin.insync.replicas=2,retention.ms=3600000,segment.ms=3600000\n")


def test_without_the_verification_its_users_and_topic_leave_the_declaration():
    text = declaration(load_stack_config("prod", {"kafka.verify.enabled": False}).kafka)
    assert "platform-verify" not in text


def test_without_kminion_its_user_acls_and_topic_leave_the_declaration():
    text = declaration(load_stack_config("prod", {"kafka.lag.enabled": False}).kafka)
    assert "kminion" not in text and "\t*\t" not in text  # no wildcard ACL for anyone


def test_quotas_and_deleted_topics_reach_the_declaration():
    cfg = load_stack_config("prod", {"kafka.users": [APP | {"quotas": {"consumerByteRate": 2048,
                                                                       "requestPercentage": 50}}],
                                     "kafka.topics": [{"name": "events"}, {"name": "old", "delete": True}]}).kafka
    text = declaration(cfg)
    assert "user\tapp\tconsumer_byte_rate=2048,request_percentage=50\n" in text
    assert "delete-topic\told\n" in text


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_each_user_gets_its_own_secret_in_its_own_namespace(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    secret = stack.one(SECRET, "kafka-access-app-secret")
    assert secret.inputs["metadata"]["name"] == "kafka-app" and secret.inputs["metadata"]["namespace"] == "apps"
    data = secret.inputs["stringData"]
    assert "stringData" in secret.secret_inputs
    assert data["bootstrap.servers"] == "kafka.kafka.svc.cluster.local:9092"
    assert (data["security.protocol"], data["sasl.mechanism"]) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert data["sasl.jaas.config"] == ('org.apache.kafka.common.security.scram.ScramLoginModule required '
                                        'username="app" password="kafka-access-app-password";')
    assert data["client.properties"].splitlines() == [
        "bootstrap.servers=kafka.kafka.svc.cluster.local:9092", "security.protocol=SASL_PLAINTEXT",
        "sasl.mechanism=SCRAM-SHA-512", f"sasl.jaas.config={data['sasl.jaas.config']}"]
    assert secret.depends_on(stack.one("kubernetes:core/v1:Namespace", "mesh-apps"))


def test_passwords_keep_the_first_rounds_and_rotate_on_request(prod):
    password = prod.named("kafka-access-app")
    assert not password.protect  # protected, prod could neither rotate nor remove a user
    assert "keepers" not in password.inputs  # adding keepers would replace the password a client uses today
    assert any('name: "kafka-app"' in alias for alias in password.aliases)
    rotated = run_stack("prod", {"kafka.users": [APP | {"passwordRotation": "2026-12"}]}).named("kafka-access-app")
    assert rotated.inputs["keepers"] == {"rotation": "2026-12"}


def job(stack):
    return stack.one(JOB, "kafka-access-reconcile")


def test_the_reconcile_job_runs_the_script_as_the_admin_after_kafka(prod):
    j = job(prod)
    assert j.depends_on(prod.one("kubernetes:helm.sh/v3:Release", "kafka-release"))
    pod = j.inputs["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/nativeSidecar": "true"}  # exits under STRICT mTLS
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "kafka-access" and spec["restartPolicy"] == "Never"
    (container,) = spec["containers"]
    assert container["image"] == "docker.io/bitnamilegacy/kafka:4.0.0-debian-12-r10"  # the CLI the brokers run
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["BOOTSTRAP"] == "kafka.kafka.svc.cluster.local:9092"
    assert env["INTERNAL_BOOTSTRAP"] == "kafka-broker-headless.kafka.svc.cluster.local:9094"
    assert env["ADMIN_USER"] == "kafka-admin"
    assert env["PLATFORM_USERS"] == "platform-verify platform-verify-no-acl platform-kminion"
    plan = prod.one("kubernetes:core/v1:ConfigMap", "kafka-access-plan")
    assert plan.inputs["data"]["declaration.tsv"] == declaration(load_stack_config("prod").kafka)
    assert plan.inputs["data"]["reconcile.sh"].startswith("#!/usr/bin/env bash")
    assert "password" not in plan.inputs["data"]["declaration.tsv"]
    credentials = prod.one(SECRET, "kafka-access-credentials")
    assert set(credentials.inputs["stringData"]) == {"_admin", "app", "platform-verify", "platform-verify-no-acl",
                                                     "platform-kminion"}
    assert "stringData" in credentials.secret_inputs
    assert j.inputs["metadata"]["annotations"] == {"pulumi.com/replaceUnready": "true"}  # a failed Job runs again


def test_the_job_runs_again_exactly_when_what_it_applies_changes(prod):
    name = job(prod).inputs["metadata"]["name"]
    assert name.startswith("kafka-access-") and len(name) == len("kafka-access-") + 10
    assert job(run_stack("prod")).inputs["metadata"]["name"] == name  # nothing changed: same Job, not re-run
    changed_access = run_stack("prod", {"kafka.users": [APP | {"consumerGroups": ["app"]}]})
    changed_topic = run_stack("prod", {"kafka.topics": [{"name": "events", "partitions": 24}]})
    changed_kafka = run_stack("prod", {"kafka.brokers.heap": "3g"})
    rotated = run_stack("prod", {"kafka.users": [APP | {"passwordRotation": "2"}]})
    names = {job(s).inputs["metadata"]["name"] for s in (changed_access, changed_topic, changed_kafka, rotated)}
    assert len(names) == 4 and name not in names


def test_the_job_may_take_its_time_and_a_failure_fails_the_up(prod):
    spec = job(prod).inputs["spec"]
    assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == 900
    assert "pulumi.com/skipAwait" not in str(job(prod).inputs["metadata"])  # Pulumi awaits it


@pytest.mark.parametrize("patterns,key", [
    ({"topics": [{"topic": "__consumer_offsets", "intents": ["consume"]}]}, "topics[0].topic"),
    ({"topics": [{"topic": "__*", "intents": ["consume"]}]}, "topics[0].topic"),
    ({"topics": [{"topic": "e*", "intents": ["consume"]}]}, "topics[0].topic"),
    ({"consumerGroups": ["-*"]}, "consumerGroups"),
])
def test_grants_never_reach_internal_topics_or_everything(patterns, key):
    from components.config import ConfigError

    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", {"kafka.users": [APP | patterns]})
    assert err.value.problems[0].startswith(f"kafka-platform:kafka.users[0].{key} = ")


def test_a_users_groups_are_its_own():
    from components.config import ConfigError

    billing = APP | {"name": "billing", "consumerGroups": ["app-billing"]}
    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", {"kafka.users": [APP, billing]})
    (problem,) = err.value.problems
    assert problem.startswith("kafka-platform:kafka.users[1].consumerGroups = ") and "overlaps" in problem
