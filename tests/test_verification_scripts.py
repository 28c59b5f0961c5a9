"""The verification's scripts, executed: each check's pass, and each failure with the reason it must report.

verify_kafka.sh runs against the fake Kafka CLI after the real reconcile script has applied the real declaration
(so the verification user has exactly the grants the access model gives it). kafka_probe.sh and
verify_refused.sh run against real TCP servers on localhost that behave like Kafka, like a sidecar that refuses,
and like Envoy's admin port.
"""

from __future__ import annotations

import http.server
import os
import pathlib
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import ROOT
from test_reconcile_access import ADMIN_PASSWORD, Cluster

from components.access import client_settings
from components.config import VERIFY_NO_ACL_USER, VERIFY_USER

SCRIPTS = ROOT / "components" / "scripts"
BOOTSTRAP = "kafka.kafka.svc.cluster.local:9092"
PASSWORDS = {VERIFY_USER: "verify-pw", VERIFY_NO_ACL_USER: "no-acl-pw"}


# --------------------------------------------------------------------------- verify_kafka.sh

def kafka_reply(request: bytes) -> bytes:
    """An ApiVersions response header: size, then the request's correlation id."""
    body = request[8:12] + b"\x00\x00" + b"\x00" * 8
    return struct.pack(">i", len(body)) + body


def listen(behaviour: str, on_connect=None) -> tuple[socket.socket, int]:
    """A localhost TCP server that, per connection, replies like Kafka ("kafka"), closes at once ("close"),
    resets ("reset") or stays silent ("silent"); runs until the socket is closed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            request = connection.recv(64)
            if on_connect:
                on_connect()
            if behaviour == "kafka":
                connection.sendall(kafka_reply(request))
                time.sleep(0.2)
            elif behaviour == "reset":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif behaviour == "silent":
                time.sleep(5)
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


@pytest.fixture
def server() -> Iterator:
    """Starts listen() servers for a test; yields a function that returns each one's port."""
    sockets = []

    def start(behaviour: str, on_connect=None) -> int:
        listener, port = listen(behaviour, on_connect)
        sockets.append(listener)
        return port

    yield start
    for listener in sockets:
        listener.close()


@pytest.fixture(scope="module")
def kafka_port() -> Iterator[int]:
    """What the allowed pod's probe reaches: Kafka, answering."""
    listener, port = listen("kafka")
    yield port
    listener.close()


@pytest.fixture(scope="module")
def reconciled(tmp_path_factory) -> dict:
    """Kafka after the access Job: the verification's users, ACLs and topic as the prod declaration says."""
    cluster = Cluster(tmp_path_factory.mktemp("reconciled"), {
        "scram": {}, "plain": {"kafka-admin": ADMIN_PASSWORD}, "quotas": {}, "acls": [], "topics": {}})
    result = cluster.run({"kafka.verify.enabled": True}, {**PASSWORDS, "app": "app-pw"})
    assert result.returncode == 0, result.stderr
    return cluster.state


@pytest.fixture
def cluster(tmp_path, reconciled, kafka_port) -> Cluster:
    cluster = Cluster(tmp_path, reconciled)
    cluster.probe_port = kafka_port  # type: ignore[attr-defined]
    for user, password in PASSWORDS.items():  # the Secrets the Job mounts
        folder = tmp_path / user
        folder.mkdir()
        for key, value in client_settings(user, password, BOOTSTRAP).items():
            (folder / key).write_text(value)
    return cluster


def verify(cluster: Cluster, **env: str) -> tuple[subprocess.CompletedProcess, str]:
    result_file = cluster.root / "termination-log"
    environment = cluster.env(**{
        "BOOTSTRAP": BOOTSTRAP, "TOPIC": "platform-verify", "GROUP_PREFIX": "platform-verify-", "RECORDS": "40",
        "REPLICATION_FACTOR": "3", "MIN_INSYNC_REPLICAS": "2", "CLIENT": str(cluster.root / VERIFY_USER),
        "NO_ACL": str(cluster.root / VERIFY_NO_ACL_USER), "WAIT": "10", "RESULT": str(result_file),
        "HOST": "127.0.0.1", "PORT": str(cluster.probe_port), **env})  # type: ignore[attr-defined]
    result = subprocess.run(["bash", str(SCRIPTS / "verify_kafka.sh")], env=environment, capture_output=True,
                            text=True, timeout=120)
    return result, result_file.read_text()


def lines(result: subprocess.CompletedProcess, verdict: str) -> dict[str, str]:
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith(verdict + " "):
            name, _, reason = line.removeprefix(verdict + " ").partition(": ")
            found[name] = reason
    return found


def test_a_sound_cluster_passes_every_check_and_reports_latency(cluster):
    result, summary = verify(cluster)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = lines(result, "PASS")
    assert set(passed) == {"topic", "produce-consume", "no-acl", "wrong-password", "plain", "probe-control"}
    assert passed["topic"] == "platform-verify has 3 partitions, replication factor 3, min.insync.replicas 2"
    assert passed["produce-consume"].startswith("40 records written with acks=all and idempotence, all read back "
                                                "once and unchanged; produce latency avg ")
    assert "; end-to-end latency avg " in passed["produce-consume"]
    assert passed["no-acl"] == "refused as expected: TopicAuthorizationException: Not authorized to access topics: " \
                               "[platform-verify]"
    assert passed["wrong-password"] == "refused as expected: invalid credentials with SASL mechanism SCRAM-SHA-512"
    assert passed["plain"] == "refused as expected: Client SASL mechanism 'PLAIN' not enabled in the server"
    assert passed["probe-control"] == f"answered: Kafka replied on 127.0.0.1:{cluster.probe_port} (correlation id 7)"
    assert summary == "all checks passed\n"
    # what it ran: the verification user produced with acks=all and idempotence, read in its own group
    calls = cluster.calls()
    (perf,) = [c for c in calls if c[0] == "kafka-producer-perf-test.sh"]
    assert {"acks=all", "enable.idempotence=true", "--payload-monotonic"} <= set(perf)
    assert perf[perf.index("--num-records") + 1] == "40"
    (consumer,) = [c for c in calls if c[0] == "kafka-console-consumer.sh"]
    assert consumer[consumer.index("--group") + 1].startswith("platform-verify-")
    # no password on any command line, nor in the output
    assert not [c for c in calls if any(p in " ".join(c) for p in PASSWORDS.values())]
    assert not [p for p in PASSWORDS.values() if p in result.stdout + result.stderr + summary]


FAILURES = {
    # fault -> (check, the reason it must give)
    "lost_record": ({"FAKE_KAFKA_LOSE": "7"}, "produce-consume", "40 records acknowledged, 39 read back; never read: 7"),
    "duplicate": ({"FAKE_KAFKA_DUPLICATE": "3"}, "produce-consume", "40 records acknowledged, 41 read back; read twice: 3"),
    "not_enough_replicas": ({"FAKE_KAFKA_NOT_ENOUGH_REPLICAS": "1"}, "produce-consume",
                            "a record was not acknowledged: org.apache.kafka.common.errors.NotEnoughReplicasException"),
    "acls_not_enforced": ({"FAKE_KAFKA_NO_AUTHORIZER": "1"}, "no-acl",
                          "a user with no ACL wrote to platform-verify, a topic with ACLs: the authorizer does not "
                          "enforce them"),
    "any_password_works": ({"FAKE_KAFKA_ANY_PASSWORD": "1"}, "wrong-password",
                           "platform-verify signed in with a wrong password"),
    "plain_enabled_on_the_client_listener": ({"FAKE_KAFKA_PLAIN_ON_CLIENT": "1"}, "plain",
                                             "PLAIN is enabled on the client listener: the server checked the PLAIN "
                                             "login instead of refusing the mechanism"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_each_broken_promise_fails_its_check_with_its_reason(cluster, case):
    env, check, reason = FAILURES[case]
    result, summary = verify(cluster, **env)
    assert result.returncode == 1
    failed = lines(result, "FAIL")
    assert list(failed) == [check], result.stdout
    assert failed[check].startswith(reason), failed[check]
    # `pulumi up` shows the termination message: the check and its reason
    assert summary.startswith(f"kafka verification failed: {check}: {reason}")


def test_a_probe_that_kafka_does_not_answer_fails_the_control(cluster, server):
    # were the probe wrong, the pod checks would read its silence as a refusal: the allowed pod must get an answer
    port = server("close")
    result, summary = verify(cluster, PORT=str(port))
    assert lines(result, "FAIL") == {"probe-control": "an allowed pod's probe got no answer from Kafka, so the pod "
                                                      f"checks could not tell a refusal: closed: connected to "
                                                      f"127.0.0.1:{port}, then closed with no reply"}


def test_a_check_cut_short_still_says_how_far_it_got(cluster):
    # the Job's deadline kills the pod mid-check: the termination message already names the running check
    result_file = cluster.root / "termination-log"
    process = subprocess.Popen(["bash", str(SCRIPTS / "verify_kafka.sh")], env=cluster.env(**{
        "BOOTSTRAP": BOOTSTRAP, "TOPIC": "platform-verify", "GROUP_PREFIX": "platform-verify-", "RECORDS": "40",
        "REPLICATION_FACTOR": "3", "MIN_INSYNC_REPLICAS": "2", "CLIENT": str(cluster.root / VERIFY_USER),
        "NO_ACL": str(cluster.root / VERIFY_NO_ACL_USER), "WAIT": "10", "RESULT": str(result_file),
        "HOST": "127.0.0.1", "PORT": "1", "FAKE_KAFKA_LOSE": "7"}), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)  # its own group: the kill takes its consumer too
    deadline = time.time() + 30
    while time.time() < deadline and "produce-consume" not in (result_file.read_text() if result_file.exists() else ""):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # as the kubelet would, at the deadline
    process.wait()
    assert result_file.read_text() == ("kafka verification did not finish: it was running produce-consume; "
                                       "passed: topic\n")


def test_a_refusal_for_another_reason_fails_the_negative_checks(cluster):
    # the no-ACL user never got its credential: its refusal is a failed sign-in, not authorization
    state = cluster.state
    del state["scram"][VERIFY_NO_ACL_USER]
    cluster.state_file.write_text(__import__("json").dumps(state))
    result, _ = verify(cluster)
    failed = lines(result, "FAIL")
    assert list(failed) == ["no-acl"]
    assert failed["no-acl"].startswith("refused for another reason: org.apache.kafka.common.errors."
                                       "SaslAuthenticationException: Authentication failed")


def test_an_unreachable_kafka_fails_every_check_for_another_reason(cluster):
    result, summary = verify(cluster, BOOTSTRAP="kafka.elsewhere.svc.cluster.local:9092")
    failed = lines(result, "FAIL")
    assert set(failed) == {"topic", "produce-consume", "no-acl", "wrong-password", "plain"}
    for check in ("no-acl", "wrong-password", "plain"):
        assert failed[check].startswith("refused for another reason: "), failed[check]
        assert "TimeoutException" in failed[check]
    assert summary.startswith("kafka verification failed: topic: cannot describe platform-verify")


def test_a_topic_below_the_clusters_durability_fails(cluster):
    state = cluster.state
    state["topics"]["platform-verify"]["rf"] = 1
    cluster.state_file.write_text(__import__("json").dumps(state))
    result, _ = verify(cluster)
    assert lines(result, "FAIL") == {"topic": "platform-verify has replication factor 1 and min.insync.replicas 2; "
                                              "the cluster's are 3 and 2"}


def test_under_replicated_partitions_are_reported_not_failed(cluster):
    result, _ = verify(cluster, FAKE_KAFKA_UNDER_REPLICATED="1")
    assert result.returncode == 0
    assert lines(result, "PASS")["topic"].endswith("; under-replicated partitions: 0 1 2 ")


# --------------------------------------------------------------------------- kafka_probe.sh

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(port: int, host: str = "127.0.0.1") -> str:
    return subprocess.run(["bash", str(SCRIPTS / "kafka_probe.sh"), host, str(port), "2"], capture_output=True,
                          text=True, timeout=30).stdout.strip()


def test_the_probe_sends_a_real_api_versions_request(server):
    seen = []
    port = server("kafka")
    with socket.socket() as listener:  # a one-off server that records the bytes
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        thread = threading.Thread(target=lambda: seen.append(listener.accept()[0].recv(64)))
        thread.start()
        probe(listener.getsockname()[1])
        thread.join(5)
    # size 22; ApiVersions (18) v0; correlation id 7; client id "kafka-verify"
    assert seen == [b"\x00\x00\x00\x16\x00\x12\x00\x00\x00\x00\x00\x07\x00\x0ckafka-verify"]
    assert probe(port).startswith("answered: Kafka replied")


@pytest.mark.parametrize("behaviour,verdict", [("close", "closed: connected to 127.0.0.1:{port}, then closed with no "
                                                          "reply"),
                                               ("reset", "closed: connected to 127.0.0.1:{port}, then reset with no "
                                                          "reply"),
                                               ("silent", "silent: connected to 127.0.0.1:{port}, no reply and no "
                                                          "close within 2s")])
def test_the_probe_tells_what_the_listener_did(server, behaviour, verdict):
    port = server(behaviour)
    assert probe(port) == verdict.format(port=port)


def test_the_probe_reports_a_port_nobody_listens_on():
    port = free_port()
    assert probe(port) == f"unreachable: /dev/tcp/127.0.0.1/{port}: Connection refused"


# --------------------------------------------------------------------------- verify_refused.sh

class Envoy:
    """A stand-in for a sidecar's admin port: /ready, and /stats with the outbound cluster's counters."""

    def __init__(self, cluster: str, with_stats: bool = True, lazy: bool = False):
        self.counters = {"ssl.handshake": 0, "upstream_cx_connect_fail": 0, "ssl.connection_error": 0}
        envoy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                lines = [f"cluster.{cluster}.{k}: {v}" for k, v in envoy.counters.items()
                         if with_stats and (v or not lazy)]
                body = "\n".join(["cluster.xds-grpc.upstream_cx_total: 3", *lines, "server.live: 1"]) + "\n"
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def count(self, name: str) -> None:
        self.counters[name] += 1


ENVOY_CLUSTER = "outbound|9092||kafka.kafka.svc.cluster.local"


def refused(check: str, port: int, admin: str, tmp_path: pathlib.Path) -> tuple[int, str, str]:
    result_file = tmp_path / "termination-log"
    env = {"CHECK": check, "HOST": "127.0.0.1", "PORT": str(port), "SIDECAR_ADMIN": admin, "ENVOY_CLUSTER": ENVOY_CLUSTER,
           "WAIT": "2", "ATTEMPTS": "2", "RESULT": str(result_file), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(["bash", str(SCRIPTS / "verify_refused.sh")], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result_file.read_text().strip() == result.stdout.strip()  # the verdict is the termination message
    return result.returncode, result.stdout.strip(), result.stderr


def test_unmeshed_passes_when_a_pod_without_sidecar_is_closed_on(server, tmp_path):
    port = server("close")
    code, out, _ = refused("unmeshed", port, f"127.0.0.1:{free_port()}", tmp_path)
    assert (code, out) == (0, f"PASS unmeshed: refused by Kafka's sidecar: a pod without a sidecar connected to "
                              f"127.0.0.1:{port}, then closed with no reply, before Kafka could answer (2 of 2 "
                              "attempts)")


@pytest.mark.parametrize("behaviour,reason", [
    ("kafka", "FAIL unmeshed: Kafka answered a pod without a sidecar in plaintext: mTLS is not STRICT on "
              "127.0.0.1:{port}"),
    ("silent", "FAIL unmeshed: refused for another reason, not by Kafka's sidecar: silent: connected to "
               "127.0.0.1:{port}, no reply and no close within 2s"),
])
def test_unmeshed_fails_when_kafka_answers_or_stays_silent(server, tmp_path, behaviour, reason):
    port = server(behaviour)
    code, out, _ = refused("unmeshed", port, f"127.0.0.1:{free_port()}", tmp_path)
    assert (code, out) == (1, reason.format(port=port))


def test_unmeshed_fails_when_kafka_cannot_be_reached(tmp_path):
    port = free_port()
    code, out, _ = refused("unmeshed", port, f"127.0.0.1:{free_port()}", tmp_path)
    assert (code, out) == (1, f"FAIL unmeshed: refused for another reason, not by Kafka's sidecar: unreachable: "
                              f"/dev/tcp/127.0.0.1/{port}: Connection refused")


def test_unmeshed_cannot_pass_from_a_pod_that_has_a_sidecar(server, tmp_path):
    envoy = Envoy(ENVOY_CLUSTER)
    code, out, _ = refused("unmeshed", server("close"), envoy.address, tmp_path)
    assert code == 1 and out.startswith("FAIL unmeshed: cannot run: an Envoy answers on")


def test_outsider_passes_when_the_sidecar_closes_after_a_completed_handshake(server, tmp_path):
    envoy = Envoy(ENVOY_CLUSTER)
    port = server("close", on_connect=lambda: envoy.count("ssl.handshake"))  # mTLS done, then RBAC closes
    code, out, _ = refused("outsider", port, envoy.address, tmp_path)
    assert (code, out) == (0, "PASS outsider: refused by the AuthorizationPolicy: each of 2 attempts completed mTLS "
                              "with Kafka's sidecar, which then closed the connection before Kafka could answer")


def test_outsider_reads_counters_envoy_creates_only_at_first_use(server, tmp_path):
    envoy = Envoy(ENVOY_CLUSTER, lazy=True)  # deferred stats: nothing for the cluster before its first connection
    port = server("close", on_connect=lambda: envoy.count("ssl.handshake"))
    code, out, _ = refused("outsider", port, envoy.address, tmp_path)
    assert code == 0, out


def test_outsider_fails_when_the_close_came_without_a_handshake(server, tmp_path):
    envoy = Envoy(ENVOY_CLUSTER)
    port = server("close", on_connect=lambda: envoy.count("ssl.connection_error"))  # a TLS failure, not RBAC
    code, out, _ = refused("outsider", port, envoy.address, tmp_path)
    assert code == 1
    assert out == ("FAIL outsider: refused for another reason, not by the AuthorizationPolicy: mTLS with Kafka's "
                   "sidecar did not complete cleanly (ssl.handshake +0, ssl.connection_error +1, "
                   f"upstream_cx_connect_fail +0); closed: connected to 127.0.0.1:{port}, then closed with no reply")


def test_outsider_fails_when_kafka_answers(server, tmp_path):
    envoy = Envoy(ENVOY_CLUSTER)
    code, out, _ = refused("outsider", server("kafka", on_connect=lambda: envoy.count("ssl.handshake")),
                           envoy.address, tmp_path)
    assert (code, out) == (1, "FAIL outsider: Kafka answered a meshed pod whose service account the "
                              "AuthorizationPolicy does not allow: the policy is not enforced")


def test_outsider_cannot_pass_without_a_sidecar_or_its_stats(server, tmp_path):
    port = server("close")
    code, out, _ = refused("outsider", port, f"127.0.0.1:{free_port()}", tmp_path)
    assert code == 1 and out.startswith("FAIL outsider: cannot run: no Envoy answers on")
    code, out, _ = refused("outsider", port, Envoy(ENVOY_CLUSTER, with_stats=False).address, tmp_path)
    assert code == 1 and out.startswith("FAIL outsider: cannot tell why a refusal happens: Envoy keeps no stats for "
                                        f"{ENVOY_CLUSTER}")
