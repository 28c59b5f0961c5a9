"""Alert rules and Grafana dashboards for Kafka and the mesh, as plain data.

Kafka metric names are what the Bitnami chart 32.4.3's JMX exporter config produces (its rules rename
the beans and lowercase everything), plus the latency percentiles we add with `metrics.jmx.extraRules`.
KMinion's are those of redpanda-data/kminion v2.3.0 (prometheus/exporter.go, e2e/service.go; the `kminion_`
prefix is its exporter.namespace). All reach Prometheus through Istio's metrics merging on :15020, with
`namespace` and `pod` labels.
"""

from __future__ import annotations

import json

# Appended to the chart's rules: its own RequestMetrics rule keeps only Count|Value, not percentiles.
LATENCY_JMX_RULES = """\
- pattern: kafka.network<type=(RequestMetrics), name=(TotalTimeMs), request=(Produce|FetchConsumer|FetchFollower)><>(99thPercentile|Mean)
  name: kafka_network_$1_$2_$4
  labels:
    request: "$3"
"""

# Whether this node knows the KRaft quorum's leader (kafka.server:type=raft-metrics, which the chart's rules
# leave out): the readiness probe (scripts/kafka_ready.sh) requires one on controllers.
KRAFT_JMX_RULES = """\
- pattern: kafka.server<type=raft-metrics><>current-leader
  name: kafka_server_raft_metrics_current_leader
"""

UNDER_REPLICATED = "kafka_server_replicamanager_total_underreplicatedpartitions_value"
OFFLINE_PARTITIONS = "kafka_controller_kafkacontroller_offlinepartitionscount_value"
ACTIVE_CONTROLLERS = "kafka_controller_kafkacontroller_activecontrollercount_value"
LEADER_COUNT = "kafka_server_replicamanager_total_leadercount_value"  # one series per broker
ISR_SHRINKS = "kafka_server_replicamanager_total_isrshrinkspersec_count"
# what the readiness probe judges (scripts/kafka_ready.sh): a broker's follower lag, a controller's metadata lag
FETCH_LAG = "kafka_server_replicafetchermanager_maxlag_value"  # {client_id="Replica"}: records
METADATA_LAG = "kafka_controller_kafkacontroller_lastappliedrecordlagms_value"  # ms
PRODUCE_P99 = "kafka_network_requestmetrics_totaltimems_99thpercentile"
BYTES_IN = "kafka_server_brokertopicmetrics_total_bytesinpersec_count"
BYTES_OUT = "kafka_server_brokertopicmetrics_total_bytesoutpersec_count"
VOLUME_USED, VOLUME_CAPACITY = "kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes"
GROUP_LAG = "kminion_kafka_consumer_group_topic_lag"  # {group_id, topic_name}: summed over the partitions
ROUNDTRIP = "kminion_end_to_end_roundtrip_latency_seconds_bucket"  # produce -> consume through Kafka
PROBE_FAILED = "kminion_end_to_end_messages_produced_failed_total"
PROBE_LOST = "kminion_end_to_end_messages_lost_total"
PROBE_PRODUCED = "kminion_end_to_end_messages_produced_total"  # created with the two above, in one callback
EXPORTER_UP = "kminion_exporter_up"  # 0 when any of its requests to Kafka failed in a scrape
BROKER_LOG_DIRS = "kminion_kafka_broker_log_dir_size_total_bytes"  # {broker_id}


def _rule(alert: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict:
    return {"alert": alert, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def kafka_alert_rules(namespace: str, brokers: int) -> list[dict]:
    ns = f'namespace="{namespace}"'
    return [
        _rule("KafkaUnderReplicatedPartitions", f"sum({UNDER_REPLICATED}{{{ns}}}) > 0", "5m", "warning",
              "Kafka has under-replicated partitions",
              "{{ $value }} partitions have fewer in-sync replicas than their replication factor; one more "
              "broker loss may make them unavailable. Check for a down or lagging broker."),
        _rule("KafkaOfflinePartitions", f"sum({OFFLINE_PARTITIONS}{{{ns}}}) > 0", "1m", "critical",
              "Kafka has offline partitions",
              "{{ $value }} partitions have no leader: producers and consumers of them are failing."),
        # `or vector(0)`: with every controller down there is no series at all, which must alert too
        _rule("KafkaActiveControllerCount", f"(sum({ACTIVE_CONTROLLERS}{{{ns}}}) or vector(0)) != 1", "1m",
              "critical", "Kafka does not have exactly one active controller",
              "{{ $value }} active controllers: the KRaft quorum has lost its leader or is split."),
        _rule("KafkaBrokerDown", f"(count({LEADER_COUNT}{{{ns}}}) or vector(0)) < {brokers}", "5m", "critical",
              "A Kafka broker is down",
              f"{{{{ $value }}}} of {brokers} brokers report metrics. Check the broker pods and their nodes."),
        _rule("KafkaIsrShrinking", f"sum(rate({ISR_SHRINKS}{{{ns}}}[5m])) > 0", "10m", "warning",
              "Kafka in-sync replica sets keep shrinking",
              "Followers are falling out of sync: look for a slow broker, disk or network."),
        _rule("KafkaVolumeAlmostFull", f"{VOLUME_USED}{{{ns}}} / {VOLUME_CAPACITY}{{{ns}}} > 0.8", "10m", "warning",
              "A Kafka volume is more than 80% full",
              "{{ $labels.persistentvolumeclaim }} is {{ $value | humanizePercentage }} full. Expand the PVC "
              "or lower retention before the broker stops."),
        _rule("KafkaProduceLatencyHigh", f'max({PRODUCE_P99}{{{ns},request="Produce"}}) > 500', "10m", "warning",
              "Kafka produce latency is high",
              "The 99th percentile produce request time is {{ $value }} ms (threshold 500 ms)."),
    ]


def lag_alert_rules(namespace: str, max_lag: int, growing_for: str, max_end_to_end_seconds: float) -> list[dict]:
    """Consumer lag and end-to-end latency, from KMinion; thresholds from kafka.lag."""
    ns = f'namespace="{namespace}"'
    by_group = "max by (group_id, topic_name)"  # one KMinion replica, but never double-count after a restart
    return [
        _rule("KafkaConsumerLagHigh", f"{by_group} ({GROUP_LAG}{{{ns}}}) > {max_lag}", "10m", "warning",
              "A consumer group is far behind",
              "{{ $labels.group_id }} trails {{ $labels.topic_name }} by {{ $value | humanize }} records "
              f"(threshold {max_lag}, kafka.lag.maxLag)."),
        # the slope of the lag (one series per group and topic, so a KMinion restart leaves no stale series)
        # stays upward over a whole window, for a whole window, and the lag is no longer small
        _rule("KafkaConsumerLagGrowing",
              f"deriv(({by_group} ({GROUP_LAG}{{{ns}}}))[{growing_for}:1m]) > 0 "
              f"and {by_group} ({GROUP_LAG}{{{ns}}}) > {max(1, max_lag // 10)}",
              growing_for, "warning", "A consumer group's lag keeps growing",
              "{{ $labels.group_id }} on {{ $labels.topic_name }} has trended further behind for "
              f"{growing_for} (kafka.lag.growingFor) and trails by more than {max(1, max_lag // 10)} records: "
              "its consumers are slower than its producers, or stuck."),
        _rule("KafkaEndToEndLatencyHigh",
              f"histogram_quantile(0.99, sum by (le) (rate({ROUNDTRIP}{{{ns}}}[5m]))) > {max_end_to_end_seconds}",
              "10m", "warning", "Kafka's end-to-end latency is high",
              "The 99th percentile from KMinion's produce to its consume through Kafka is {{ $value | humanize }} s "
              f"(threshold {max_end_to_end_seconds} s, kafka.lag.maxEndToEndSeconds)."),
        # a share, not a count: a leader election during a roll may cost the probe (10 records/s) a record
        _rule("KafkaEndToEndProbeFailing",
              f"(sum(increase({PROBE_FAILED}{{{ns}}}[10m])) + sum(increase({PROBE_LOST}{{{ns}}}[10m]))) "
              f"/ sum(increase({PROBE_PRODUCED}{{{ns}}}[10m])) > 0.01", "5m",
              "critical", "KMinion's probe records fail or get lost",
              "{{ $value | humanizePercentage }} of the probe's records were refused, timed out or never consumed "
              "in 10 minutes: writes to Kafka are failing for clients too."),
        # no series at all (KMinion down, not scraped) must alert as much as a failing one
        _rule("KMinionDown", f"(max({EXPORTER_UP}{{{ns}}}) or vector(0)) < 1", "10m", "warning",
              "KMinion is down or cannot read Kafka",
              "Consumer lag and end-to-end latency are not measured: KMinion is not scraped, or a request to "
              "Kafka failed (an ACL, an unreachable broker). Check the kminion pod's log."),
    ]


def _panel(title: str, expr: str, x: int, y: int, unit: str = "short", legend: str = "") -> dict:
    return {"type": "timeseries", "title": title, "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y}, "fieldConfig": {"defaults": {"unit": unit}},
            "targets": [{"expr": expr, "legendFormat": legend, "refId": "A"}]}


def _dashboard(uid: str, title: str, panels: list[tuple[str, str, str, str]]) -> str:
    return json.dumps({
        "uid": uid, "title": title, "schemaVersion": 39, "editable": False, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "tags": ["kafka-platform"],
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]},
        "panels": [_panel(title, expr, 12 * (i % 2), 8 * (i // 2), unit, legend)
                   for i, (title, expr, unit, legend) in enumerate(panels)],
    }, indent=1)


def kafka_dashboard(namespace: str) -> str:
    ns = f'namespace="{namespace}"'
    return _dashboard("kafka-platform-kafka", "Kafka", [
        ("Under-replicated partitions", f"sum({UNDER_REPLICATED}{{{ns}}})", "short", ""),
        ("Offline partitions", f"sum({OFFLINE_PARTITIONS}{{{ns}}})", "short", ""),
        ("Active controllers", f"sum({ACTIVE_CONTROLLERS}{{{ns}}})", "short", ""),
        ("Partition leaders per broker", f"{LEADER_COUNT}{{{ns}}}", "short", "{{pod}}"),
        ("Bytes in", f"sum by (pod) (rate({BYTES_IN}{{{ns}}}[5m]))", "Bps", "{{pod}}"),
        ("Bytes out", f"sum by (pod) (rate({BYTES_OUT}{{{ns}}}[5m]))", "Bps", "{{pod}}"),
        ("ISR shrinks", f"sum by (pod) (rate({ISR_SHRINKS}{{{ns}}}[5m]))", "short", "{{pod}}"),
        # a restarted or replaced node catching up: what its readiness probe waits for
        ("Replica fetch lag per broker", f'max by (pod) ({FETCH_LAG}{{{ns},client_id="Replica"}})', "short",
         "{{pod}}"),
        ("Controller metadata lag", f"max by (pod) ({METADATA_LAG}{{{ns}}})", "ms", "{{pod}}"),
        ("Produce p99 latency", f'{PRODUCE_P99}{{{ns},request="Produce"}}', "ms", "{{pod}}"),
        ("Volume usage", f"{VOLUME_USED}{{{ns}}} / {VOLUME_CAPACITY}{{{ns}}}", "percentunit",
         "{{persistentvolumeclaim}}"),
    ])


def lag_dashboard(namespace: str) -> str:
    ns = f'namespace="{namespace}"'
    return _dashboard("kafka-platform-lag", "Kafka consumer lag", [
        ("Lag per group and topic", f"max by (group_id, topic_name) ({GROUP_LAG}{{{ns}}})", "short",
         "{{group_id}} / {{topic_name}}"),
        ("Lag trend (records per second)", f"max by (group_id, topic_name) (deriv({GROUP_LAG}{{{ns}}}[15m]))",
         "short", "{{group_id}} / {{topic_name}}"),
        ("End-to-end latency p99",
         f"histogram_quantile(0.99, sum by (le) (rate({ROUNDTRIP}{{{ns}}}[5m])))", "s", "p99"),
        ("Log-dir size per broker", f"max by (broker_id) ({BROKER_LOG_DIRS}{{{ns}}})", "bytes", "broker {{broker_id}}"),
    ])


def istio_dashboard(kafka_namespace: str) -> str:
    """Kafka speaks TCP, so the TCP metrics matter; connection_security_policy (set on the destination's
    report) shows mTLS is really on."""
    # both sidecars report each connection: count the destination's report only
    dest = f'reporter="destination",destination_workload_namespace="{kafka_namespace}"'
    return _dashboard("kafka-platform-mesh", "Mesh traffic to Kafka", [
        ("TCP connections opened to Kafka", f"sum by (source_workload) (rate(istio_tcp_connections_opened_total{{{dest}}}[5m]))",
         "cps", "{{source_workload}}"),
        ("Bytes received by Kafka", f"sum by (source_workload) (rate(istio_tcp_received_bytes_total{{{dest}}}[5m]))",
         "Bps", "{{source_workload}}"),
        ("Bytes sent by Kafka", f"sum by (destination_workload) (rate(istio_tcp_sent_bytes_total{{{dest}}}[5m]))",
         "Bps", "{{destination_workload}}"),
        ("Connections by security policy",
         f"sum by (connection_security_policy) (rate(istio_tcp_connections_opened_total{{{dest}}}[5m]))",
         "cps", "{{connection_security_policy}}"),
        ("Mesh HTTP/gRPC requests",
         'sum by (destination_workload_namespace) (rate(istio_requests_total{reporter="destination"}[5m]))',
         "reqps", "{{destination_workload_namespace}}"),
        ("istiod pushes", "sum(rate(pilot_xds_pushes[5m]))", "short", ""),
    ])
