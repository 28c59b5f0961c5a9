"""The reconcile script, executed against a fake Kafka CLI that keeps state and answers like Kafka 4.0 does."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
from conftest import ROOT, load_stack_config

from components.access import declaration

SCRIPT = ROOT / "components" / "scripts" / "reconcile_access.sh"
FAKE = ROOT / "tests" / "fake_kafka_cli.py"
ADMIN_PASSWORD = "admin-secret"
APP = {"name": "app", "namespace": "apps", "topics": [{"topic": "events", "intents": ["produce", "consume"]}],
       "consumerGroups": ["app-*"]}


class Cluster:
    """A fake cluster on disk, and a way to run the script against it."""

    def __init__(self, root: pathlib.Path, state: dict):
        self.root, self.bin, self.credentials = root, root / "bin", root / "credentials"
        self.bin.mkdir()
        self.credentials.mkdir()
        for tool in ("kafka-configs.sh", "kafka-acls.sh", "kafka-topics.sh", "kafka-console-producer.sh",
                     "kafka-console-consumer.sh", "kafka-producer-perf-test.sh"):
            path = self.bin / tool
            path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$0" "$@"\n')
            path.chmod(0o755)
        self.state_file, self.log = root / "state.json", root / "calls.log"
        self.state_file.write_text(json.dumps(state))
        (self.credentials / "_admin").write_text(ADMIN_PASSWORD)

    @property
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def changes(self) -> list[list[str]]:
        return [c for c in self.calls() if any(a in c for a in ("--alter", "--add", "--remove", "--create", "--delete"))]

    def env(self, **env: str) -> dict[str, str]:
        return {**os.environ, "KAFKA_BIN": str(self.bin), "FAKE_KAFKA_STATE": str(self.state_file),
                "FAKE_KAFKA_LOG": str(self.log), "TMPDIR": str(self.root), **env}

    def run(self, overrides: dict, passwords: dict[str, str], **env: str) -> subprocess.CompletedProcess:
        # the verification's own users and topic have their own tests (test_verification.py)
        cfg = load_stack_config("prod", {"kafka.verify.enabled": False, "kafka.lag.enabled": False,
                                         **overrides}).kafka
        plan = self.root / "declaration.tsv"
        plan.write_text(declaration(cfg))
        for user, password in passwords.items():
            (self.credentials / user).write_text(password)
        self.log.unlink(missing_ok=True)
        env = self.env(BOOTSTRAP="kafka.kafka.svc.cluster.local:9092",
                       INTERNAL_BOOTSTRAP="kafka-broker-headless.kafka.svc.cluster.local:9094", ADMIN_USER="kafka-admin",
                       KEEP_USERS="inter_broker_user controller_user", DECLARATION=str(plan),
                       PLATFORM_USERS="platform-verify platform-verify-no-acl platform-kminion",
                       CREDENTIALS=str(self.credentials), **env)
        return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def fresh_cluster(tmp_path) -> Cluster:
    """Formatted before the platform admin had a SCRAM credential: only its static PLAIN login works."""
    return Cluster(tmp_path, {"scram": {}, "plain": {"kafka-admin": ADMIN_PASSWORD}, "quotas": {}, "acls": [],
                              "topics": {"__consumer_offsets": {"partitions": 50, "rf": 3, "configs": {}}}})


def test_a_fresh_install_gets_the_admin_users_acls_and_topics(tmp_path):
    cluster = fresh_cluster(tmp_path)
    result = cluster.run({"kafka.users": [APP | {"quotas": {"producerByteRate": 1048576}}]}, {"app": "app-pw"})
    assert result.returncode == 0, result.stderr
    state = cluster.state
    assert state["scram"] == {"kafka-admin": ADMIN_PASSWORD, "app": "app-pw"}
    assert state["quotas"] == {"app": {"producer_byte_rate": "1048576"}}
    assert sorted(state["acls"]) == sorted([
        ["User:app", "TOPIC", "LITERAL", "events", op] for op in ("WRITE", "DESCRIBE", "READ")] + [
        ["User:app", "GROUP", "PREFIXED", "app-", "READ"]])
    assert state["topics"]["events"] == {"partitions": 12, "rf": 3,
                                         "configs": {"min.insync.replicas": "2", "retention.ms": "604800000"}}
    # the admin's first credential went through the inter-broker listener, everything else through the client one
    servers = [c[c.index("--bootstrap-server") + 1] for c in cluster.calls()]
    assert [s for s in servers if s.endswith(":9094")] == ["kafka-broker-headless.kafka.svc.cluster.local:9094"]
    assert all(s.endswith((":9092", ":9094")) for s in servers)
    calls = " ".join(" ".join(c) for c in cluster.calls())
    assert "admin-secret" not in calls and "app-pw" not in calls  # never on a command line that ps shows
    assert "app-pw" not in result.stdout + result.stderr


def test_a_second_run_with_the_same_declaration_changes_nothing_but_the_passwords(tmp_path):
    cluster = fresh_cluster(tmp_path)
    assert cluster.run({"kafka.users": [APP]}, {"app": "app-pw"}).returncode == 0
    before = cluster.state
    assert cluster.run({"kafka.users": [APP]}, {"app": "app-pw"}).returncode == 0
    assert cluster.state == before
    # what it still writes is the SCRAM credentials (Kafka cannot compare a password), nothing else
    assert {c[0] for c in cluster.changes()} == {"kafka-configs.sh"}
    assert all("--add-config-file" in c for c in cluster.changes())


def test_a_change_set_is_applied_with_additions_and_removals(tmp_path):
    cluster = fresh_cluster(tmp_path)
    billing = {"name": "billing", "namespace": "apps", "topics": [{"topic": "events", "intents": ["consume"]}],
               "consumerGroups": ["billing"], "quotas": {"consumerByteRate": 2097152}}
    first = {"kafka.users": [APP, billing], "mesh.namespaces": ["apps"],
             "kafka.topics": [{"name": "events", "partitions": 12, "config": {
                 "min.insync.replicas": "2", "retention.ms": "604800000", "segment.ms": "3600000"}}]}
    assert cluster.run(first, {"app": "app-pw", "billing": "billing-pw"}).returncode == 0

    # billing goes; app loses consume (an ACL removed) and rotates its password; a new user comes;
    # partitions rise, retention changes, segment.ms is dropped
    audit = {"name": "audit", "namespace": "apps", "topics": [{"topic": "events", "intents": ["admin"]}],
             "consumerGroups": ["audit-*"]}
    second = {"kafka.users": [APP | {"topics": [{"topic": "events", "intents": ["produce"]}],
                                     "consumerGroups": []}, audit],
              "kafka.topics": [{"name": "events", "partitions": 24, "config": {
                  "min.insync.replicas": "2", "retention.ms": "86400000"}}]}
    result = cluster.run(second, {"app": "app-pw-2", "audit": "audit-pw"})
    assert result.returncode == 0, result.stderr
    state = cluster.state
    assert state["scram"] == {"kafka-admin": ADMIN_PASSWORD, "app": "app-pw-2", "audit": "audit-pw"}
    assert state["quotas"].get("billing", {}) == {}
    assert sorted(state["acls"]) == sorted(
        [["User:app", "TOPIC", "LITERAL", "events", op] for op in ("WRITE", "DESCRIBE")]
        + [["User:audit", "TOPIC", "LITERAL", "events", op] for op in ("DESCRIBE", "DESCRIBE_CONFIGS")]
        + [["User:audit", "GROUP", "PREFIXED", "audit-", op] for op in ("DESCRIBE", "DELETE")])
    assert state["topics"]["events"] == {"partitions": 24, "rf": 3,
                                         "configs": {"min.insync.replicas": "2", "retention.ms": "86400000"}}
    assert "user billing: no longer declared" in result.stdout


def test_topics_are_deleted_only_when_the_entry_says_so(tmp_path):
    cluster = fresh_cluster(tmp_path)
    both = [{"name": "events", "partitions": 12}, {"name": "scratch", "partitions": 1}]
    assert cluster.run({"kafka.users": [APP], "kafka.topics": both}, {"app": "pw"}).returncode == 0
    # the entry vanishes: the topic stays
    assert cluster.run({"kafka.users": [APP], "kafka.topics": both[:1]}, {"app": "pw"}).returncode == 0
    assert "scratch" in cluster.state["topics"]
    # the entry says delete: it goes
    gone = [*both[:1], {"name": "scratch", "delete": True}]
    assert cluster.run({"kafka.users": [APP], "kafka.topics": gone}, {"app": "pw"}).returncode == 0
    assert "scratch" not in cluster.state["topics"] and "__consumer_offsets" in cluster.state["topics"]


def test_lowering_partitions_fails_the_run_and_says_why(tmp_path):
    cluster = fresh_cluster(tmp_path)
    assert cluster.run({"kafka.users": [APP]}, {"app": "pw"}).returncode == 0
    result = cluster.run({"kafka.users": [APP], "kafka.topics": [{"name": "events", "partitions": 6}]}, {"app": "pw"})
    assert result.returncode == 1
    assert ("topic events: has 12 partitions and the declaration says 6; Kafka cannot remove partitions"
            in result.stderr)
    assert cluster.state["topics"]["events"]["partitions"] == 12


def test_acls_of_kafkas_own_principals_are_never_removed(tmp_path):
    cluster = fresh_cluster(tmp_path)
    state = cluster.state
    state["acls"] = [["User:inter_broker_user", "TOPIC", "LITERAL", "x", "READ"],
                     ["User:intruder", "TOPIC", "LITERAL", "*", "ALTER_CONFIGS"]]
    state["scram"]["intruder"] = "x"
    cluster.state_file.write_text(json.dumps(state))
    assert cluster.run({"kafka.users": [APP]}, {"app": "pw"}).returncode == 0
    acls = cluster.state["acls"]
    assert ["User:inter_broker_user", "TOPIC", "LITERAL", "x", "READ"] in acls
    assert not [a for a in acls if a[0] == "User:intruder"] and "intruder" not in cluster.state["scram"]


def test_a_wrong_admin_password_fails_before_any_change(tmp_path):
    cluster = fresh_cluster(tmp_path)
    (cluster.credentials / "_admin").write_text("wrong")
    result = cluster.run({"kafka.users": [APP]}, {"app": "pw"})
    assert result.returncode == 1 and "kafka-admin cannot sign in with SCRAM" in result.stderr
    assert "wrong" not in result.stdout + result.stderr
    assert cluster.changes() == [] or all("--bootstrap-server" in c for c in cluster.changes())
    assert cluster.state["scram"] == {}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_stack_declaration_reconciles_cleanly(tmp_path, stack):
    cluster = fresh_cluster(tmp_path)
    assert cluster.run({}, {"app": "pw"}).returncode == 0


def test_a_cluster_formatted_with_the_admin_never_uses_the_inter_broker_listener(tmp_path):
    cluster = fresh_cluster(tmp_path)
    state = cluster.state
    state["scram"]["kafka-admin"] = ADMIN_PASSWORD  # created at storage format
    cluster.state_file.write_text(json.dumps(state))
    assert cluster.run({"kafka.users": [APP]}, {"app": "pw"}).returncode == 0
    assert not [c for c in cluster.calls() if any(a.endswith(":9094") for a in c)]


def test_topic_names_are_literal_not_patterns(tmp_path):
    cluster = fresh_cluster(tmp_path)
    state = cluster.state
    state["topics"]["orders-v1"] = {"partitions": 3, "rf": 3, "configs": {}}
    state["topics"]["orders.v1"] = {"partitions": 3, "rf": 3, "configs": {}}
    cluster.state_file.write_text(json.dumps(state))
    topics = [{"name": "events"}, {"name": "orders.v1", "delete": True}]
    assert cluster.run({"kafka.users": [APP], "kafka.topics": topics}, {"app": "pw"}).returncode == 0
    assert "orders-v1" in cluster.state["topics"] and "orders.v1" not in cluster.state["topics"]


def test_only_managed_principals_and_resource_types_are_pruned(tmp_path):
    cluster = fresh_cluster(tmp_path)
    state = cluster.state
    foreign = [["User:kminion", "CLUSTER", "LITERAL", "kafka-cluster", "DESCRIBE"],  # someone else's, no SCRAM here
               ["User:kminion", "TOPIC", "LITERAL", "*", "DESCRIBE"]]
    state["acls"] = [*foreign, ["User:old", "TOPIC", "LITERAL", "events", "READ"]]
    state["scram_256"] = ["old"]  # a user of ours, with a SCRAM-SHA-256 credential only
    cluster.state_file.write_text(json.dumps(state))
    result = cluster.run({"kafka.users": [APP]}, {"app": "pw"})
    assert result.returncode == 0, result.stderr
    acls = cluster.state["acls"]
    assert all(a in acls for a in foreign) and not [a for a in acls if a[0] == "User:old"]
    assert cluster.state["scram_256"] == []


def test_a_rejected_password_is_never_printed(tmp_path):
    cluster = fresh_cluster(tmp_path)
    result = cluster.run({"kafka.users": [APP]}, {"app": "app-pw-xyz"}, FAKE_KAFKA_REJECT_SCRAM="1")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Invalid credential property" in output and "password=(hidden)" in output
    assert ADMIN_PASSWORD not in output and "app-pw-xyz" not in output


def test_kminions_cluster_and_wildcard_acls_are_applied_and_kept(tmp_path):
    cluster = fresh_cluster(tmp_path)
    lag = {"kafka.users": [APP], "kafka.lag.enabled": True}
    result = cluster.run(lag, {"app": "app-pw", "platform-kminion": "kminion-pw"})
    assert result.returncode == 0, result.stderr
    acls = {tuple(a) for a in cluster.state["acls"] if a[0] == "User:platform-kminion"}
    assert ("User:platform-kminion", "CLUSTER", "LITERAL", "kafka-cluster", "DESCRIBE") in acls
    assert ("User:platform-kminion", "TOPIC", "LITERAL", "*", "DESCRIBE_CONFIGS") in acls
    assert ("User:platform-kminion", "GROUP", "LITERAL", "*", "DESCRIBE") in acls
    cluster_call = next(c for c in cluster.calls() if c[0] == "kafka-acls.sh" and "--cluster" in c)
    assert cluster_call[cluster_call.index("--cluster") + 1].startswith("--")  # the flag takes no name
    before = cluster.state
    assert cluster.run(lag, {"app": "app-pw", "platform-kminion": "kminion-pw"}).returncode == 0
    assert cluster.state["acls"] == before["acls"]  # nothing re-added, nothing removed
    # a team's CLUSTER ACL, granted by hand, is not the platform's to remove
    state = cluster.state
    state["acls"].append(["User:app", "CLUSTER", "LITERAL", "kafka-cluster", "DESCRIBE"])
    cluster.state_file.write_text(json.dumps(state))
    # lag off: KMinion's user goes, and with it every ACL it had, the cluster one included
    assert cluster.run({"kafka.users": [APP]}, {"app": "app-pw"}).returncode == 0
    assert not [a for a in cluster.state["acls"] if a[0] == "User:platform-kminion"]
    assert ["User:app", "CLUSTER", "LITERAL", "kafka-cluster", "DESCRIBE"] in cluster.state["acls"]
