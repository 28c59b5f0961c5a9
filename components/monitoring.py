"""Monitoring: kube-prometheus-stack that sees Kafka and Istio through STRICT mTLS.

Prometheus scrapes Istio's merged metrics port 15020 (Envoy stats plus Kafka's JMX metrics, via the pod
annotations the Kafka component sets). The target's sidecar never captures 15020, so the scrape is
plain HTTP outside mTLS and authorization. As in Istio's own Prometheus sample, the monitoring pods
run without sidecars: a sidecar would only break their direct pod-IP scrapes under STRICT mTLS, and the
API server (which has no mesh identity) could not call the operator's admission webhook.
Every values key below exists in the pinned chart (checked against its values.yaml and templates).
The Prometheus Operator CRDs come from their own release (prometheus-operator-crds), installed first:
Helm never upgrades a chart's crds/ directory, so with the stack's own CRDs they would stay at their
first version forever.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .config import KMINION_NAMESPACE, AlertReceiver, Lag, MonitoringComponent, MonitoringConfig, parse_quantity
from .helm import pinned_release
from .mesh import Mesh, custom_resource
from .observability import istio_dashboard, kafka_alert_rules, kafka_dashboard, lag_alert_rules, lag_dashboard
from .versions import KUBE_PROMETHEUS_STACK, PROMETHEUS_OPERATOR_CRDS

CRDS_RELEASE = "prometheus-operator-crds"
# Kept on uninstall: deleting the CRDs would delete every monitor and rule in the cluster with them.
CRDS_VALUES = {"crds": {"annotations": {"helm.sh/resource-policy": "keep"}}}
RELEASE = "kube-prometheus-stack"  # fixed: Service names (and the port-forward command) derive from it
GRAFANA_SERVICE = f"{RELEASE}-grafana"
GRAFANA_SECRET = "grafana-admin"
RECEIVER_SECRET = "alertmanager-receivers"
RECEIVER_URL_FILE = f"/etc/alertmanager/secrets/{RECEIVER_SECRET}/url"  # where alertmanagerSpec.secrets mount
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}
SELECT_EVERY_MONITOR = ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig")


def _volume(size: str, storage_class: str) -> dict:
    return {"volumeClaimTemplate": {"spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                                             "resources": {"requests": {"storage": size}}}}}


def _ha(component: MonitoringComponent, spread_zones: bool) -> dict:
    # replicas in different zones in prod; each keeps its own zonal volume
    return {"replicas": component.replicas, "resources": component.resources.to_k8s(),
            "podAntiAffinity": "hard" if spread_zones else "soft",
            "podAntiAffinityTopologyKey": "topology.kubernetes.io/zone" if spread_zones else "kubernetes.io/hostname",
            "podMetadata": {"labels": NO_SIDECAR}}


def receiver_config(receiver_type: str, channel: str | None) -> dict:
    """Merged over the chart's default config (routes, inhibit rules); the URL is read from a mounted file."""
    if receiver_type == "slack":
        notify = {"slack_configs": [{"api_url_file": RECEIVER_URL_FILE, "channel": channel, "send_resolved": True}]}
    else:
        notify = {"webhook_configs": [{"url_file": RECEIVER_URL_FILE, "send_resolved": True}]}
    return {"route": {"receiver": "default"}, "receivers": [{"name": "null"}, {"name": "default", **notify}]}


def monitoring_values(cfg: MonitoringConfig, *, storage_class: str, spread_zones: bool,
                      alert_receiver: AlertReceiver | None = None) -> dict:
    prometheus = cfg.prometheus
    # stop at 85% of the volume, so old data goes before the disk fills
    retention_size = f"{int(parse_quantity(prometheus.storage) * 0.85 / 2**30)}GiB"
    alertmanager_spec = {**_ha(cfg.alertmanager, spread_zones),
                         "storage": _volume(cfg.alertmanager.storage, storage_class)}
    alertmanager: dict = {"enabled": True, "alertmanagerSpec": alertmanager_spec}
    if alert_receiver:
        alertmanager_spec["secrets"] = [RECEIVER_SECRET]
        alertmanager["config"] = receiver_config(alert_receiver.type, alert_receiver.channel)
    return {
        "crds": {"enabled": False},  # installed and upgraded by the prometheus-operator-crds release
        # EKS runs the control plane: there is nothing of it to scrape
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "defaultRules": {"create": True, "rules": {
            "etcd": False, "kubeControllerManager": False, "kubeSchedulerAlerting": False,
            "kubeSchedulerRecording": False, "kubeProxy": False}},
        "prometheusOperator": {
            "podLabels": NO_SIDECAR,  # the API server calls its admission webhook without a mesh identity
            "admissionWebhooks": {"patch": {"podAnnotations": NO_SIDECAR}},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        },
        "prometheus": {"prometheusSpec": {
            **_ha(prometheus, spread_zones),
            "retention": cfg.retention,
            "retentionSize": retention_size,
            "storageSpec": _volume(prometheus.storage, storage_class),
            # pick up every monitor and rule, not only those labelled with this release
            **{f"{kind}SelectorNilUsesHelmValues": False for kind in SELECT_EVERY_MONITOR},
        }},
        "alertmanager": alertmanager,
        "grafana": {
            "admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "podLabels": NO_SIDECAR,
            "resources": cfg.grafana_resources.to_k8s(),
            "persistence": {"enabled": False},  # dashboards and data sources are provisioned from ConfigMaps
            # a Role in its own namespace, not a ClusterRole reading every Secret in the cluster: the
            # dashboards are ConfigMaps in this namespace, which is where the sidecar looks by default
            "rbac": {"namespaced": True},
            "testFramework": {"enabled": False},  # a `helm test` pod that runs as root: nothing here runs it
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
        },
        "kube-state-metrics": {"podLabels": NO_SIDECAR},
    }


def envoy_stats_pod_monitor(namespace: str) -> dict:
    """Istio's `envoy-stats-monitor` (samples/addons/extras/prometheus-operator.yaml, 1.30 and 1.31).

    It keeps the istio-proxy container of every pod that has prometheus.io/scrape (the injector rewrote
    the annotations to :15020/stats/prometheus) and rewrites the address to that port. A PodMonitor with
    `portNumber: 15020` would select nothing: no container declares that port.
    """
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {"name": "envoy-stats-monitor", "namespace": namespace},
            "spec": {
                "selector": {"matchExpressions": [{"key": "istio-prometheus-ignore", "operator": "DoesNotExist"}]},
                "namespaceSelector": {"any": True},
                "jobLabel": "envoy-stats",
                "podMetricsEndpoints": [{"path": "/stats/prometheus", "interval": "15s", "relabelings": [
                    {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_container_name"],
                     "regex": "istio-proxy"},
                    {"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape"]},
                    {"action": "replace", "regex": r"(\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})",
                     "replacement": "[$2]:$1", "targetLabel": "__address__",
                     "sourceLabels": ["__meta_kubernetes_pod_annotation_prometheus_io_port",
                                      "__meta_kubernetes_pod_ip"]},
                    {"action": "replace", "regex": r"(\d+);((([0-9]+?)(\.|$)){4})", "replacement": "$2:$1",
                     "targetLabel": "__address__",
                     "sourceLabels": ["__meta_kubernetes_pod_annotation_prometheus_io_port",
                                      "__meta_kubernetes_pod_ip"]},
                    {"action": "labeldrop", "regex": "__meta_kubernetes_pod_label_(.+)"},
                    {"action": "replace", "sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace"},
                    {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod"},
                ]}],
            }}


def istiod_service_monitor(namespace: str) -> dict:
    """Istio's `istio-component-monitor`: istiod's Service (labels istio=pilot) port http-monitoring (15014)."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "istio-component-monitor", "namespace": namespace},
            "spec": {"jobLabel": "istio", "targetLabels": ["app"],
                     "selector": {"matchExpressions": [{"key": "istio", "operator": "In", "values": ["pilot"]}]},
                     "namespaceSelector": {"any": True},
                     "endpoints": [{"port": "http-monitoring", "interval": "15s"}]}}


def kafka_prometheus_rule(namespace: str, kafka_namespace: str, brokers: int, lag: Lag | None) -> dict:
    rules = kafka_alert_rules(kafka_namespace, brokers)
    if lag:
        rules += lag_alert_rules(KMINION_NAMESPACE, lag.max_lag, lag.growing_for, lag.max_end_to_end_seconds)
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "kafka", "namespace": namespace},
            "spec": {"groups": [{"name": "kafka", "rules": rules}]}}


@dataclass(frozen=True)
class MonitoringArgs:
    config: MonitoringConfig
    alert_receiver: AlertReceiver | None  # none: alerts show in Alertmanager's UI only
    mesh: Mesh
    storage_class: pulumi.Input[str]
    kafka_namespace: str
    kafka_brokers: int
    lag: Lag | None  # KMinion's thresholds, when it runs
    spread_zones: bool  # prod: replicas in different zones
    protect: bool


class Monitoring(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana, with Kafka alerts and Kafka and mesh dashboards."""

    grafana_command: str
    grafana_admin_password: pulumi.Output[str]  # secret
    namespace_resource: pulumi.Resource

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:Monitoring", name, None, opts)
        cfg, ns = args.config, args.config.namespace
        # privileged: node-exporter reads the host (hostNetwork, hostPID, host paths); the rest would pass restricted
        namespace = args.mesh.namespace(f"{name}-namespace", ns, parent=self, pod_security_level="privileged")
        self.namespace_resource = namespace  # other components' objects in it wait for it
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
        secrets = [k8s.core.v1.Secret(
            f"{name}-grafana-admin", metadata={"name": GRAFANA_SECRET, "namespace": ns},
            string_data={"admin-user": "admin", "admin-password": password.result}, opts=in_namespace)]
        if args.alert_receiver:
            secrets.append(k8s.core.v1.Secret(
                f"{name}-alert-receiver", metadata={"name": RECEIVER_SECRET, "namespace": ns},
                string_data={"url": pulumi.Output.secret(args.alert_receiver.url)}, opts=in_namespace))

        # take_ownership: on a stack that ran the stack chart's crds/ directory, the CRDs exist without
        # Helm's ownership labels, and Helm would refuse to install over them.
        crds = pinned_release(f"{name}-crds", PROMETHEUS_OPERATOR_CRDS, release=CRDS_RELEASE, namespace=ns,
                              values=CRDS_VALUES, take_ownership=True,
                              opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace], protect=args.protect))
        values = pulumi.Output.from_input(args.storage_class).apply(lambda storage_class: monitoring_values(
            cfg, storage_class=storage_class, spread_zones=args.spread_zones, alert_receiver=args.alert_receiver))
        release = pinned_release(
            f"{name}-release", KUBE_PROMETHEUS_STACK, release=RELEASE, namespace=ns, values=values, timeout=900,
            # the operator needs its CRDs; the secrets are mounted by name, so pods would wait on them forever
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, crds, *secrets]))

        # Every monitor and rule waits for the CRDs and the operator, so a fresh `pulumi up` succeeds in one pass.
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[crds, release])
        for manifest in (envoy_stats_pod_monitor(ns), istiod_service_monitor(ns),
                         kafka_prometheus_rule(ns, args.kafka_namespace, args.kafka_brokers, args.lag)):
            custom_resource(f"{name}-{manifest['metadata']['name']}", manifest, after_crds)

        dashboards = {"kafka": kafka_dashboard(args.kafka_namespace), "mesh": istio_dashboard(args.kafka_namespace)}
        if args.lag:
            dashboards["lag"] = lag_dashboard(KMINION_NAMESPACE)
        for key, dashboard in dashboards.items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{key}",
                metadata={"name": f"dashboard-{key}", "namespace": ns, "labels": {"grafana_dashboard": "1"}},
                data={f"{key}.json": dashboard}, opts=in_namespace)

        self.grafana_command = f"kubectl -n {ns} port-forward svc/{GRAFANA_SERVICE} 3000:80"
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.register_outputs({"grafana_command": self.grafana_command})
