"""Every version the platform pins, decided here and nowhere else.

A bump is a one-line change in this file: the config model, the components, the chart contract
test (tests/test_chart_contract.py) and the chart pull script (scripts/pull_charts.py) all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# --------------------------------------------------------------------------- Istio

# Istio moved off its GCP hosts in December 2026: charts from GitHub's registry, images from Docker Hub.
ISTIO_VERSION = "1.31.1"  # newest 1.31 patch (2026-09-21); carries 1.30.4's Envoy CVE and istio-cni fixes
ISTIO_MINOR = "1.31"  # the mesh values were checked against this minor's charts (istio/istio release-1.31)
ISTIO_CHART_REPO = "oci://ghcr.io/istio/release/charts"
ISTIO_IMAGE_HUB = "docker.io/istio"
RETIRED_ISTIO_HUBS = ("gcr.io/istio-release", "registry.istio.io")  # removed after 2026-12-09
ISTIO_KUBERNETES_VERSIONS = ("1.32", "1.33", "1.34", "1.35", "1.36")  # Istio 1.31's supported range

# --------------------------------------------------------------------------- EKS


# AWS's EKS release calendar: when standard support ends per Kubernetes minor. An older minor stays listed
# so that rejecting it can say when its standard support ends.
EKS_STANDARD_SUPPORT_ENDS = {"1.34": date(2026, 12, 2), "1.35": date(2027, 3, 27), "1.36": date(2027, 8, 2)}


@dataclass(frozen=True)
class EksAddons:
    """The add-on builds installed for one Kubernetes minor: pulumi-eks would otherwise resolve the newest
    vpc-cni and kube-proxy on every run and roll aws-node cluster-wide, unreviewed. Builds as listed by
    `aws eks describe-addon-versions --kubernetes-version <minor>` (README "Upgrades")."""

    vpc_cni: str
    kube_proxy: str
    coredns: str
    ebs_csi: str
    pod_identity_agent: str  # gives aws-node its own role (EKS Pod Identity) instead of the node's


EKS_ADDONS = {
    "1.35": EksAddons(vpc_cni="v1.23.2-eksbuild.1", kube_proxy="v1.35.3-eksbuild.29", coredns="v1.14.6-eksbuild.4",
                      ebs_csi="v1.66.0-eksbuild.1", pod_identity_agent="v1.3.10-eksbuild.3"),
    "1.36": EksAddons(vpc_cni="v1.23.2-eksbuild.1", kube_proxy="v1.36.0-eksbuild.45", coredns="v1.14.7-eksbuild.11",
                      ebs_csi="v1.66.0-eksbuild.1", pod_identity_agent="v1.3.10-eksbuild.3"),
}
VERSIONS_REVIEWED = date(2026, 12, 1)  # the day the table above was last checked
# Offered to new config: in standard support on VERSIONS_REVIEWED with time to spare (1.34 ends the next
# day), and supported by Istio 1.31. tests/test_versions.py keeps this consistent with the table.
SUPPORTED_KUBERNETES_VERSIONS = ("1.35", "1.36")
# The longest standard support among the versions Istio supports.
DEFAULT_KUBERNETES_VERSION = max(SUPPORTED_KUBERNETES_VERSIONS, key=lambda v: EKS_STANDARD_SUPPORT_ENDS[v])
SUPPORT_WARNING_DAYS = 90  # a preview warns this long before standard support ends

# --------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class ChartRef:
    """A Helm chart at a pinned version, from a Helm repository (`repo`) or an OCI registry (chart = oci://...)."""

    chart: str
    version: str
    repo: str | None = None

    @property
    def name(self) -> str:
        return self.chart.rsplit("/", 1)[-1]


ISTIO_BASE = ChartRef(f"{ISTIO_CHART_REPO}/base", ISTIO_VERSION)
ISTIO_CNI = ChartRef(f"{ISTIO_CHART_REPO}/cni", ISTIO_VERSION)
ISTIOD = ChartRef(f"{ISTIO_CHART_REPO}/istiod", ISTIO_VERSION)
# The last Bitnami release (2025-08-26): Kafka 4.0, KRaft only.
KAFKA = ChartRef("oci://registry-1.docker.io/bitnamicharts/kafka", "32.4.3")
PROMETHEUS_COMMUNITY = "https://prometheus-community.github.io/helm-charts"
# The Prometheus Operator CRDs as templates, so they upgrade with the release (Helm never upgrades crds/).
# Both ship Prometheus Operator v0.93.1: bump them together (the CRDs chart's version tracks the operator's).
# 88.5.3 (2026-08-21) is the newest kube-prometheus-stack whose source could be fetched and rendered here;
# newer majors exist upstream: bump in a pull request of its own, which the chart contract job renders.
PROMETHEUS_OPERATOR_CRDS = ChartRef("prometheus-operator-crds", "31.0.1", PROMETHEUS_COMMUNITY)
KUBE_PROMETHEUS_STACK = ChartRef("kube-prometheus-stack", "88.5.3", PROMETHEUS_COMMUNITY)
# Consumer lag and end-to-end latency (redpanda-data/helm-charts, charts/kminion; image: its appVersion).
KMINION = ChartRef("kminion", "0.15.2", "https://charts.redpanda.com")

CHARTS = (ISTIO_BASE, ISTIO_CNI, ISTIOD, KAFKA, PROMETHEUS_OPERATOR_CRDS, KUBE_PROMETHEUS_STACK, KMINION)

# --------------------------------------------------------------------------- images

# docker.io/bitnami/* no longer pulls (bitnami/charts#35164); bitnamilegacy/* is frozen: mirror it for prod.
KAFKA_IMAGE = "bitnamilegacy/kafka:4.0.0-debian-12-r10"
JMX_EXPORTER_IMAGE = "bitnamilegacy/jmx-exporter:1.4.0-debian-12-r0"
KMINION_IMAGE = "redpandadata/kminion:v2.3.0"  # chart 0.15.2's appVersion; metric names checked at this tag
