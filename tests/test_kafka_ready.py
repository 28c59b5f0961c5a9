"""Kafka's readiness probe (components/scripts/kafka_ready.sh), executed against a stub JMX exporter.

The stub is a real HTTP server on localhost that serves what the JMX exporter in the pod would: the Prometheus
text format of jmx_exporter 1.x, with the metric names the chart's rules and ours produce. The probe runs
exactly as the kubelet runs it: the registered exec command, with bash and curl.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import threading
from collections.abc import Iterator

import pytest
import yaml

from components.kafka import MIN_READY_SECONDS, READY_SCRIPT, readiness_probe
from components.observability import KRAFT_JMX_RULES

# What the probe reads, as the JMX exporter names it (bean, attribute string as jmx_exporter matches it).
BEANS = {
    "kafka_server_kafkaserver_total_brokerstate_value": "kafka.server<type=KafkaServer, name=BrokerState><>Value",
    'kafka_server_replicafetchermanager_maxlag_value{client_id="Replica"}':
        "kafka.server<type=ReplicaFetcherManager, name=MaxLag, clientId=Replica><>Value",
    'kafka_server_replicafetchermanager_failedpartitionscount_value{client_id="Replica"}':
        "kafka.server<type=ReplicaFetcherManager, name=FailedPartitionsCount, clientId=Replica><>Value",
    "kafka_server_raft_metrics_current_leader": "kafka.server<type=raft-metrics><>current-leader",
    "kafka_controller_kafkacontroller_lastappliedrecordlagms_value":
        "kafka.controller<type=KafkaController, name=LastAppliedRecordLagMs><>Value",
}
SAMPLE_KEYS = ("brokerstate", "maxlag", "failed", "leader", "appliedlag")


def exported(rules: list[dict], bean: str, value: str = "0") -> str | None:
    """The series jmx_exporter would export for one bean attribute: the first rule whose pattern matches
    (unanchored: jmx_exporter wraps it in ^.*(?:...).*$), its name and labels with $n expanded, lowercased as
    the chart's config says (lowercaseOutputName, lowercaseOutputLabelNames)."""
    for rule in rules:
        match = re.match(r"^.*(?:" + rule["pattern"] + r").*$", f"{bean}: {value}")
        if not match:
            continue
        def expand(text: str, found: re.Match = match) -> str:
            return re.sub(r"\$(\d+)", lambda m: found.group(int(m.group(1))), text)

        name = re.sub(r"[^a-zA-Z0-9:_]", "_", expand(rule["name"])).lower()
        labels = ",".join(f'{k.lower()}="{expand(str(v))}"' for k, v in (rule.get("labels") or {}).items())
        return f"{name}{{{labels}}}" if labels else name
    return None


def metrics(**values: str | None) -> str:
    """A scrape as jmx_exporter 1.x prints it, with everything in sync unless overridden (None: absent)."""
    sample = {"brokerstate": "3.0", "maxlag": "0.0", "failed": "0.0", "leader": "1.0", "appliedlag": "412.0",
              **values}
    lines = ["# HELP jvm_info VM version info", "# TYPE jvm_info gauge", 'jvm_info{runtime="OpenJDK"} 1.0',
             'kafka_server_replicafetchermanager_maxlag_value{client_id="ReplicaAlterLogDirs"} 99.0']
    for key, series in zip(SAMPLE_KEYS, BEANS, strict=True):
        if sample[key] is not None:
            lines += [f"# TYPE {series.split('{')[0]} untyped", f"{series} {sample[key]}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def exporter(tmp_path) -> Iterator[dict]:
    """A stub JMX exporter: serves state["body"] on /metrics, or fails with state["status"]."""
    state: dict = {"body": metrics(), "status": 200, "dir": tmp_path}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            body = state["body"].encode()
            self.send_response(state["status"] if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    yield state
    server.shutdown()
    server.server_close()


START = 1_764_600_000  # the probes' clock, in seconds


def probe(exporter: dict, *roles: str, container: str = "4242", at: int = 0) -> subprocess.CompletedProcess:
    """The registered exec command, run as the kubelet would, pointed at the stub. `container` stands for this
    container's instance (PID 1's start time in /proc/1/stat); the latch file stands for the pod's /tmp;
    `at` is the check's time in seconds after START."""
    stat = exporter["dir"] / "stat"
    stat.write_text(f"1 (java) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 {container} 100 200\n")
    command = readiness_probe(list(roles))["exec"]["command"]
    return subprocess.run(command, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "KAFKA_READY_METRICS_URL": exporter["url"],
                               "KAFKA_READY_LATCH": str(exporter["dir"] / "latch"),
                               "KAFKA_READY_PROC_STAT": str(stat), "KAFKA_READY_NOW": str(START + at)})


def settled(exporter: dict, *roles: str, container: str = "4242") -> None:
    """In sync on every check for a minute: what the StatefulSet's minReadySeconds waits for."""
    for at in range(0, MIN_READY_SECONDS + 1, 10):
        assert probe(exporter, *roles, container=container, at=at).returncode == 0


@pytest.mark.parametrize("roles", [("broker",), ("controller",), ("broker", "controller")])
def test_in_sync_is_ready(exporter, roles):
    result = probe(exporter, *roles)
    assert (result.returncode, result.stdout.strip()) == (0, "ready")


@pytest.mark.parametrize("roles,sample,reason", [
    (("broker",), {"maxlag": "1532.0"}, "a followed partition is 1532.0 records behind its leader"),
    (("broker",), {"maxlag": "2.5E7"}, "a followed partition is 2.5E7 records behind its leader"),
    (("broker",), {"failed": "2.0"}, "2.0 followed partitions failed"),
    (("broker",), {"brokerstate": "2.0"}, "broker state 2.0 is not RUNNING (3)"),  # RECOVERY: replaying its log
    (("broker",), {"brokerstate": "6.0"}, "broker state 6.0 is not RUNNING (3)"),  # in controlled shutdown
    (("broker",), {"brokerstate": None}, "BrokerState is missing from the metrics"),
    (("broker",), {"maxlag": None}, "the replica fetchers report no MaxLag or FailedPartitionsCount"),
    (("controller",), {"appliedlag": "1.7337E9"}, "the metadata log is applied only up to 1.7337E9 ms ago"),
    (("controller",), {"appliedlag": "5001.0"}, "the metadata log is applied only up to 5001.0 ms ago"),
    (("controller",), {"leader": "-1.0"}, "no quorum leader is known"),
    (("controller",), {"appliedlag": None}, "the KRaft metrics are missing"),
    # a combined node must be in sync as both
    (("broker", "controller"), {"appliedlag": "60000.0"}, "the metadata log is applied only up to 60000.0 ms"),
    (("broker", "controller"), {"maxlag": "1.0"}, "a followed partition is 1.0 records behind"),
])
def test_a_started_node_that_is_behind_is_not_ready_and_says_why(exporter, roles, sample, reason):
    exporter["body"] = metrics(**sample)
    result = probe(exporter, *roles)
    assert result.returncode == 1
    assert result.stdout.startswith(f"not ready: {reason}"), result.stdout


def test_a_broker_does_not_judge_the_quorum_it_only_observes(exporter):
    exporter["body"] = metrics(leader="-1.0", appliedlag=None)  # a dedicated broker's own raft view does not decide
    assert probe(exporter, "broker").returncode == 0


def test_a_broker_that_stayed_in_sync_stays_ready_while_it_runs(exporter):
    """A reassignment adds replicas that lag for hours: the broker keeps its place in the bootstrap Service."""
    settled(exporter, "broker")
    exporter["body"] = metrics(maxlag="880000.0")
    result = probe(exporter, "broker", at=100)
    assert result.returncode == 0
    assert result.stdout.strip() == ("ready: stayed in sync after this container started; now a followed "
                                     "partition is 880000.0 records behind its leader")
    exporter["status"] = 503  # the exporter restarting does not take it out either
    assert probe(exporter, "broker", at=100).returncode == 0


def test_one_in_sync_reading_is_not_enough_to_keep_ready(exporter):
    """Right after RUNNING, partitions whose first fetch has not returned are missing from MaxLag (0): a lucky
    first check must not hold the broker Ready while it is still behind."""
    assert probe(exporter, "broker", at=0).returncode == 0  # MaxLag 0 too early
    exporter["body"] = metrics(maxlag="1532.0")  # the fetch responses arrive: it is behind
    result = probe(exporter, "broker", at=10)
    assert result.returncode == 1 and "1532.0 records behind" in result.stdout


def test_a_break_in_sync_starts_the_settling_over(exporter):
    for at in (0, 10, 20, 30, 40):
        assert probe(exporter, "broker", at=at).returncode == 0
    exporter["body"] = metrics(maxlag="7.0")
    assert probe(exporter, "broker", at=50).returncode == 1  # a break before it settled
    exporter["body"] = metrics()
    assert probe(exporter, "broker", at=60).returncode == 0  # the run starts again here
    assert probe(exporter, "broker", at=110).returncode == 0
    exporter["body"] = metrics(maxlag="7.0")
    assert probe(exporter, "broker", at=115).returncode == 1  # 55 s of unbroken sync: not yet settled
    exporter["body"] = metrics()
    for at in (120, 130, 140, 150, 160, 170, 180):
        assert probe(exporter, "broker", at=at).returncode == 0
    exporter["body"] = metrics(maxlag="7.0")
    assert probe(exporter, "broker", at=185).returncode == 0  # 65 s: settled, it keeps its place


def test_a_broker_that_stayed_in_sync_leaves_once_it_stops_running(exporter):
    settled(exporter, "broker")
    exporter["body"] = metrics(brokerstate="6.0")  # controlled shutdown: out of the bootstrap Service
    assert probe(exporter, "broker", at=100).returncode == 1


def test_a_restarted_container_must_catch_up_again(exporter):
    """/tmp (and the latch in it) outlives a container restart; PID 1's start time does not."""
    settled(exporter, "broker", container="4242")
    exporter["body"] = metrics(maxlag="1532.0")
    result = probe(exporter, "broker", container="9117", at=100)  # the kafka container restarted
    assert result.returncode == 1 and "1532.0 records behind" in result.stdout


def test_a_broker_that_never_caught_up_does_not_get_the_benefit(exporter):
    exporter["body"] = metrics(maxlag="10.0")
    assert probe(exporter, "broker").returncode == 1
    assert not (exporter["dir"] / "latch").exists()


def test_controllers_never_latch(exporter):
    """Controllers sit behind no client Service: they are Ready only while in sync, so the PDB always sees it."""
    settled(exporter, "controller")
    exporter["body"] = metrics(appliedlag="30000.0")
    assert probe(exporter, "controller", at=100).returncode == 1
    exporter["status"] = 503
    assert probe(exporter, "broker", "controller", at=100).returncode == 1


@pytest.mark.parametrize("status", [500, 503])
def test_no_metrics_is_not_ready(exporter, status):
    exporter["status"] = status
    result = probe(exporter, "broker")
    assert result.returncode == 1 and "no metrics from the JMX exporter" in result.stdout


def test_an_unreachable_exporter_is_not_ready(exporter):
    exporter["url"] = "http://127.0.0.1:1/metrics"
    result = probe(exporter, "controller")
    assert result.returncode == 1 and "no metrics from the JMX exporter" in result.stdout


def test_without_a_role_the_probe_fails_rather_than_pass(exporter):
    result = probe(exporter)
    assert result.returncode == 1 and "no role given" in result.stdout


def test_the_probe_reads_the_names_the_exporter_rules_produce():
    """Our rule gives the KRaft leader; the chart's rules (checked against the rendered chart in
    test_chart_contract.py) give the others."""
    rules = yaml.safe_load(KRAFT_JMX_RULES)
    for series, bean in BEANS.items():
        if "raft-metrics" in bean:
            assert exported(rules, bean) == series
        assert series.split("{")[0] in READY_SCRIPT, series


def test_a_broker_settles_over_the_same_time_the_statefulset_waits():
    """The StatefulSet takes the next pod after minReadySeconds; a relapse within it must still show."""
    assert f'settle="${{KAFKA_READY_SETTLE_SECONDS:-{MIN_READY_SECONDS}}}"' in READY_SCRIPT
    assert readiness_probe(["broker"])["periodSeconds"] * readiness_probe(["broker"])["failureThreshold"] < \
        MIN_READY_SECONDS
