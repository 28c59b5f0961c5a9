import json
import re

import promql_parser
import pytest
from conftest import run_stack

from components.mesh import pod_security
from components.observability import KRAFT_JMX_RULES, LATENCY_JMX_RULES

RELEASE = "kubernetes:helm.sh/v3:Release"
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}

# Metric names the Bitnami chart 32.4.3 JMX exporter produces (its rules, lowercased), checked by hand
# against templates/metrics/jmx-configmap.yaml, plus the latency percentiles from our extra rule.
JMX_METRICS = {
    "kafka_server_replicamanager_total_underreplicatedpartitions_value",  # kafka.server<type,name><>(Value)
    "kafka_server_replicamanager_total_leadercount_value",
    "kafka_server_replicamanager_total_isrshrinkspersec_count",
    "kafka_server_brokertopicmetrics_total_bytesinpersec_count",
    "kafka_server_brokertopicmetrics_total_bytesoutpersec_count",
    "kafka_controller_kafkacontroller_offlinepartitionscount_value",  # kafka.controller<KafkaController>
    "kafka_controller_kafkacontroller_activecontrollercount_value",
    "kafka_network_requestmetrics_totaltimems_99thpercentile",  # LATENCY_JMX_RULES
    "kafka_server_replicafetchermanager_maxlag_value",  # kafka.server<ReplicaFetcherManager, clientId>
    "kafka_controller_kafkacontroller_lastappliedrecordlagms_value",
}
KUBELET_METRICS = {"kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes"}
# Every metric KMinion v2.3.0 exports (redpanda-data/kminion at tag v2.3.0: prometheus/exporter.go BuildFQName
# with exporter.namespace "kminion"; e2e/service.go Subsystem "end_to_end" under WrapRegistererWithPrefix
# "kminion_"; histograms add _bucket, _sum, _count). v2.3.1-v2.3.5 change no Go file.
KMINION_METRICS = {
    "kminion_exporter_up", "kminion_exporter_offset_consumer_records_consumed_total",
    "kminion_kafka_cluster_info", "kminion_kafka_broker_info", "kminion_kafka_broker_log_dir_size_total_bytes",
    "kminion_kafka_topic_log_dir_size_total_bytes", "kminion_kafka_topic_info",
    "kminion_kafka_topic_partition_low_water_mark", "kminion_kafka_topic_low_water_mark_sum",
    "kminion_kafka_topic_partition_high_water_mark", "kminion_kafka_topic_high_water_mark_sum",
    "kminion_kafka_consumer_group_info", "kminion_kafka_consumer_group_members",
    "kminion_kafka_consumer_group_empty_members", "kminion_kafka_consumer_group_topic_members",
    "kminion_kafka_consumer_group_topic_assigned_partitions", "kminion_kafka_consumer_group_topic_offset_sum",
    "kminion_kafka_consumer_group_topic_partition_lag", "kminion_kafka_consumer_group_topic_lag",
    "kminion_kafka_consumer_group_offset_commits_total",
    "kminion_end_to_end_messages_produced_in_flight", "kminion_end_to_end_messages_produced_total",
    "kminion_end_to_end_messages_produced_failed_total", "kminion_end_to_end_messages_received_total",
    "kminion_end_to_end_messages_lost_total", "kminion_end_to_end_offset_commits_total",
    "kminion_end_to_end_offset_commits_failed_total",
    *(f"kminion_end_to_end_{h}_latency_seconds_{s}" for h in ("produce", "roundtrip", "offset_commit")
      for s in ("bucket", "sum", "count")),
}
ISTIO_METRICS = {"istio_tcp_connections_opened_total", "istio_tcp_received_bytes_total", "istio_tcp_sent_bytes_total",
                 "istio_requests_total", "pilot_xds_pushes"}
PROMQL_WORDS = {"sum", "by", "rate", "count", "max", "or", "vector", "pod", "source_workload", "destination_workload",
                "connection_security_policy", "destination_workload_namespace", "and", "deriv", "increase",
                "histogram_quantile", "le", "group_id", "topic_name", "broker_id"}


def parse(expr: str) -> None:
    """Prometheus' own grammar (promql-parser, a port of its parser): a typo fails here, not in the cluster."""
    promql_parser.parse(expr)


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^]]*\]", "", expr)  # range selectors
    return {w for w in re.findall(r"[a-z_][a-z0-9_]*", expr) if w not in PROMQL_WORDS}


def release(stack):
    return stack.one(RELEASE, "monitoring-release")


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_release_is_the_pinned_chart_in_the_monitoring_namespace(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    r = release(stack)
    assert (r.inputs["chart"], r.inputs["version"], r.inputs["name"], r.inputs["namespace"]) == (
        "kube-prometheus-stack", "88.5.3", "kube-prometheus-stack", "monitoring")
    assert r.inputs["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    ns = stack.one("kubernetes:core/v1:Namespace", "monitoring-namespace")
    assert ns.inputs["metadata"]["labels"] == {"istio-injection": "enabled", **pod_security("privileged", "1.35")}
    assert r.depends_on(stack.one("kubernetes:core/v1:Secret", "monitoring-grafana-admin"))


@pytest.mark.parametrize("stack_name,replicas,retention,size,zone_spread", [
    ("dev", 1, "3d", "20Gi", False), ("prod", 2, "15d", "100Gi", True)])
def test_prometheus_storage_retention_replicas(stack_name, replicas, retention, size, zone_spread, request):
    spec = release(request.getfixturevalue(stack_name)).inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["replicas"] == replicas and spec["retention"] == retention
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3-encrypted" and claim["resources"]["requests"]["storage"] == size
    assert spec["retentionSize"] == f"{int(int(size[:-2]) * 0.85)}GiB"
    assert (spec["podAntiAffinityTopologyKey"] == "topology.kubernetes.io/zone") is zone_spread
    assert (spec["podAntiAffinity"] == "hard") is zone_spread


def test_prometheus_picks_up_every_monitor_and_rule(prod):
    spec = release(prod).inputs["values"]["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False


def test_prod_alertmanager_runs_two_replicas_on_volumes(prod):
    am = release(prod).inputs["values"]["alertmanager"]
    assert am["enabled"] is True
    spec = am["alertmanagerSpec"]
    assert spec["replicas"] == 2
    assert spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert spec["resources"] == {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}
    assert "config" not in am and "secrets" not in spec  # no receiver configured: the chart's 'null' receiver


def test_a_secret_slack_receiver_is_mounted_never_put_in_values():
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    stack = run_stack("prod", {"alertReceiver": {"type": "slack", "url": url, "channel": "#kafka"}},
                      secrets=("alertReceiver",))
    am = release(stack).inputs["values"]["alertmanager"]
    assert am["alertmanagerSpec"]["secrets"] == ["alertmanager-receivers"]
    assert am["config"]["route"] == {"receiver": "default"}
    assert am["config"]["receivers"][1] == {"name": "default", "slack_configs": [{
        "api_url_file": "/etc/alertmanager/secrets/alertmanager-receivers/url", "channel": "#kafka",
        "send_resolved": True}]}
    assert url not in json.dumps(release(stack).inputs["values"])
    secret = stack.one("kubernetes:core/v1:Secret", "monitoring-alert-receiver")
    assert secret.inputs["stringData"] == {"url": url} and "stringData" in secret.secret_inputs
    assert release(stack).depends_on(secret)


def test_webhook_receiver_uses_url_file():
    stack = run_stack("dev", {"alertReceiver": {"type": "webhook", "url": "https://hooks.example.com/x"}},
                      secrets=("alertReceiver",))
    default = release(stack).inputs["values"]["alertmanager"]["config"]["receivers"][1]
    assert default["webhook_configs"] == [{"url_file": "/etc/alertmanager/secrets/alertmanager-receivers/url",
                                           "send_resolved": True}]


def test_grafana_admin_password_is_generated_and_secret(prod):
    grafana = release(prod).inputs["values"]["grafana"]
    assert grafana["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user",
                                "passwordKey": "admin-password"}
    secret = prod.one("kubernetes:core/v1:Secret", "monitoring-grafana-admin")
    assert secret.inputs["stringData"]["admin-password"] == "monitoring-grafana-admin-password"
    assert "stringData" in secret.secret_inputs
    assert grafana["sidecar"]["dashboards"] == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}


def test_grafana_reads_configmaps_and_secrets_in_its_own_namespace_only(prod):
    grafana = release(prod).inputs["values"]["grafana"]
    assert grafana["rbac"] == {"namespaced": True}  # a Role, not a ClusterRole over every Secret
    assert "searchNamespace" not in grafana["sidecar"]["dashboards"]  # the sidecar's default: its own namespace
    dashboards = [r for r in prod.of_type("kubernetes:core/v1:ConfigMap")
                  if r.inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert dashboards and {d.inputs["metadata"]["namespace"] for d in dashboards} == {"monitoring"}


def test_monitoring_pods_stay_out_of_the_sidecar_capture_they_would_break(prod):
    v = release(prod).inputs["values"]
    assert v["prometheus"]["prometheusSpec"]["podMetadata"] == {"labels": NO_SIDECAR}
    assert v["alertmanager"]["alertmanagerSpec"]["podMetadata"] == {"labels": NO_SIDECAR}
    assert v["prometheusOperator"]["podLabels"] == NO_SIDECAR
    assert v["prometheusOperator"]["admissionWebhooks"]["patch"]["podAnnotations"] == NO_SIDECAR
    assert v["grafana"]["podLabels"] == NO_SIDECAR and v["kube-state-metrics"]["podLabels"] == NO_SIDECAR


def test_eks_hidden_control_plane_is_not_scraped(prod):
    v = release(prod).inputs["values"]
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert v[component] == {"enabled": False}


def custom_resources(stack, kind):
    return {r.inputs["metadata"]["name"]: r for r in stack.of_type(f"kubernetes:monitoring.coreos.com/v1:{kind}")}


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_monitors_and_rules_wait_for_the_release_that_installs_the_crds(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    objects = [*custom_resources(stack, "PodMonitor").values(), *custom_resources(stack, "ServiceMonitor").values(),
               *custom_resources(stack, "PrometheusRule").values()]
    assert len(objects) == 3
    assert all(o.depends_on(release(stack)) and o.depends_on(crds_release(stack)) for o in objects)


def crds_release(stack):
    return stack.one(RELEASE, "monitoring-crds")


@pytest.mark.parametrize("stack_name,protected", [("dev", False), ("prod", True)])
def test_operator_crds_are_their_own_release_so_they_upgrade_with_a_version_bump(stack_name, protected, request):
    stack = request.getfixturevalue(stack_name)
    crds = crds_release(stack)
    assert (crds.inputs["chart"], crds.inputs["version"], crds.inputs["name"]) == (
        "prometheus-operator-crds", "31.0.1", "prometheus-operator-crds")
    assert crds.inputs["repositoryOpts"]["repo"] == "https://prometheus-community.github.io/helm-charts"
    # an uninstall must not delete every monitor and rule in the cluster with the CRDs
    assert crds.inputs["values"] == {"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}
    assert crds.inputs["takeOwnership"] is True  # adopts the CRDs an older stack installed from crds/
    assert crds.protect is protected
    # the stack's own crds/ would never upgrade: they are off, and the stack waits for the CRD release
    assert release(stack).inputs["values"]["crds"] == {"enabled": False}
    assert release(stack).depends_on(crds)


def test_envoy_pod_monitor_scrapes_merged_metrics_on_15020_in_every_namespace(prod):
    spec = custom_resources(prod, "PodMonitor")["envoy-stats-monitor"].inputs["spec"]
    assert spec["namespaceSelector"] == {"any": True}
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["path"] == "/stats/prometheus"
    assert "port" not in endpoint and "portNumber" not in endpoint  # 15020 is no declared container port
    relabel = endpoint["relabelings"]
    assert relabel[0] == {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_container_name"],
                          "regex": "istio-proxy"}
    address = [r for r in relabel if r.get("targetLabel") == "__address__"]
    assert len(address) == 2 and all(r["sourceLabels"][0] == "__meta_kubernetes_pod_annotation_prometheus_io_port"
                                      for r in address)
    assert {"action": "replace", "sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace"} in relabel


def test_istiod_service_monitor_uses_the_monitoring_port(prod):
    spec = custom_resources(prod, "ServiceMonitor")["istio-component-monitor"].inputs["spec"]
    assert spec["selector"] == {"matchExpressions": [{"key": "istio", "operator": "In", "values": ["pilot"]}]}
    assert spec["endpoints"] == [{"port": "http-monitoring", "interval": "15s"}]


@pytest.mark.parametrize("stack_name,brokers", [("dev", 3), ("prod", 3)])
def test_kafka_alerts_cover_data_loss_and_availability_risks(stack_name, brokers, request):
    rule = custom_resources(request.getfixturevalue(stack_name), "PrometheusRule")["kafka"]
    (group,) = rule.inputs["spec"]["groups"]
    rules = {r["alert"]: r for r in group["rules"]}
    lag = {"KafkaConsumerLagHigh", "KafkaConsumerLagGrowing", "KafkaEndToEndLatencyHigh", "KafkaEndToEndProbeFailing",
           "KMinionDown"}
    assert set(rules) == {"KafkaUnderReplicatedPartitions", "KafkaOfflinePartitions", "KafkaActiveControllerCount",
                          "KafkaBrokerDown", "KafkaIsrShrinking", "KafkaVolumeAlmostFull", "KafkaProduceLatencyHigh",
                          *lag}
    for name, r in rules.items():
        assert r["labels"]["severity"] in ("warning", "critical")
        assert re.fullmatch(r"\d+m", r["for"]) and r["annotations"]["summary"] and r["annotations"]["description"]
        parse(r["expr"])
        if name in lag:  # KMinion's, from its own namespace
            assert 'namespace="kminion"' in r["expr"] and metric_names(r["expr"]) <= KMINION_METRICS, r["expr"]
        else:
            assert 'namespace="kafka"' in r["expr"] and metric_names(r["expr"]) <= JMX_METRICS | KUBELET_METRICS
    assert rules["KafkaBrokerDown"]["expr"].endswith(f"< {brokers}")
    assert "> 0.8" in rules["KafkaVolumeAlmostFull"]["expr"]
    assert rules["KafkaActiveControllerCount"]["expr"].endswith("!= 1")


def test_latency_alert_metric_comes_from_our_extra_jmx_rule(prod):
    kafka = prod.one(RELEASE, "kafka-release").inputs["values"]
    assert kafka["metrics"]["jmx"]["extraRules"] == LATENCY_JMX_RULES + KRAFT_JMX_RULES
    assert "name: kafka_network_$1_$2_$4" in LATENCY_JMX_RULES and "99thPercentile" in LATENCY_JMX_RULES


def test_dashboards_are_provisioned_for_grafanas_sidecar_with_known_metrics(prod):
    maps = {r.inputs["metadata"]["name"]: r for r in prod.of_type("kubernetes:core/v1:ConfigMap")
            if r.parent == prod.one("kafka-platform:index:Monitoring").urn}
    assert set(maps) == {"dashboard-kafka", "dashboard-mesh", "dashboard-lag"}
    mesh = json.loads(maps["dashboard-mesh"].inputs["data"]["mesh.json"])
    istio_exprs = [t["expr"] for p in mesh["panels"] for t in p["targets"] if "istio_" in t["expr"]]
    assert istio_exprs and all('reporter="destination"' in e for e in istio_exprs)  # no double counting
    for cm in maps.values():
        assert cm.inputs["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert cm.inputs["metadata"]["namespace"] == "monitoring"
        (key,) = cm.inputs["data"]
        assert key.endswith(".json")
        dashboard = json.loads(cm.inputs["data"][key])
        assert dashboard["uid"] and dashboard["panels"]
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                parse(target["expr"])
                assert metric_names(target["expr"]) <= JMX_METRICS | KUBELET_METRICS | ISTIO_METRICS | KMINION_METRICS


def test_stack_tells_how_to_open_grafana_and_keeps_its_password_secret(prod):
    assert prod.outputs["grafanaCommand"] == "kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80"
    assert prod.outputs["grafanaAdminPassword"] == "monitoring-grafana-admin-password"
    assert "grafanaAdminPassword" in prod.secret_outputs


def test_lag_alerts_take_their_thresholds_from_config():
    stack = run_stack("dev", {"kafka.lag": {"maxLag": 500, "growingFor": "30m", "maxEndToEndSeconds": 2.5}})
    (group,) = custom_resources(stack, "PrometheusRule")["kafka"].inputs["spec"]["groups"]
    rules = {r["alert"]: r for r in group["rules"]}
    assert rules["KafkaConsumerLagHigh"]["expr"].endswith("> 500")
    growing = rules["KafkaConsumerLagGrowing"]
    assert "[30m:1m]" in growing["expr"] and growing["for"] == "30m" and growing["expr"].endswith("> 50")
    assert rules["KafkaEndToEndLatencyHigh"]["expr"].endswith("> 2.5")
    assert rules["KMinionDown"]["expr"] == '(max(kminion_exporter_up{namespace="kminion"}) or vector(0)) < 1'
    assert rules["KafkaEndToEndProbeFailing"]["expr"].endswith("> 0.01")  # a share of the probe, not one record


def test_without_kminion_no_lag_alerts_nor_dashboard():
    stack = run_stack("dev", {"kafka.lag.enabled": False})
    (group,) = custom_resources(stack, "PrometheusRule")["kafka"].inputs["spec"]["groups"]
    assert not [r for r in group["rules"] if "kminion" in r["expr"]]
    assert not [r for r in stack.of_type("kubernetes:core/v1:ConfigMap") if r.name.endswith("dashboard-lag")]


def test_a_misspelt_promql_expression_is_caught():
    with pytest.raises(ValueError):
        parse("max by (group_id (kminion_kafka_consumer_group_topic_lag) > 1")
