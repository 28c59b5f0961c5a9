"""Mesh: Istio from its official Helm charts (base -> cni -> istiod), STRICT mTLS, default-deny, meshed namespaces.

Every values key below was checked against the charts of the pinned minor (1.31) in istio/istio
(branch release-1.31, manifests/charts/{base,istio-cni,istio-control/istio-discovery}). Users pass keys at
the top level; the charts merge them over `_internal_defaults_do_not_set`, and accept the legacy `pilot.`
prefix. The chart contract test (tests/test_chart_contract.py) renders them with these values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from .config import MeshConfig
from .helm import pinned_release
from .versions import ISTIO_BASE, ISTIO_CNI, ISTIOD, ChartRef

ROOT_NAMESPACE = "istio-system"  # Istio's root namespace: policies here apply mesh-wide
INJECTION_LABEL = {"istio-injection": "enabled"}
PodSecurity = Literal["restricted", "baseline", "privileged"]


def pod_security(level: PodSecurity, kubernetes_version: str) -> dict[str, str]:
    """Pod Security Admission labels: `level` is enforced; anything short of restricted is still warned about
    and audited. The version is the cluster's minor, so an upgrade never changes the rules unreviewed."""
    version = f"v{kubernetes_version}"
    labels = {"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": version}
    for mode in ("warn", "audit"):
        labels |= {f"pod-security.kubernetes.io/{mode}": "restricted",
                   f"pod-security.kubernetes.io/{mode}-version": version}
    return labels
ISTIOD_LABELS = {"app": "istiod", "istio": "pilot"}  # the istiod chart's pod labels and PDB selector
# New nodes carry this taint until their istio-cni agent is ready (the node groups set it, istiod's untaint
# controller removes it): a meshed pod scheduled earlier would start without its traffic redirection.
CNI_NOT_READY_TAINT = "cni.istio.io/not-ready"
CNI_NOT_READY_TOLERATION = {"key": CNI_NOT_READY_TAINT, "operator": "Exists", "effect": "NoSchedule"}


def image_values(cfg: MeshConfig) -> dict:
    """Set in every Istio chart that has images (base has none, and no hub key): the published 1.30 charts
    default to registry.istio.io, retired in December 2026."""
    return {"global": {"hub": cfg.image_hub, "tag": cfg.istio_version}}


def cni_values(cfg: MeshConfig) -> dict:
    # Defaults (/opt/cni/bin, /etc/cni/net.d, chained) match the Amazon VPC CNI; there is no "eks" platform.
    # Its tolerations accept every taint (so it runs on not-ready nodes), so keep it off Fargate explicitly.
    return {**image_values(cfg), "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["fargate"]}]}]}}}}


def istiod_values(cfg: MeshConfig) -> dict:
    pilot: dict = {
        "autoscaleEnabled": False,  # a fixed count: replicaCount is ignored while the HPA is on
        "replicaCount": cfg.istiod_replicas,
        "resources": cfg.istiod_resources.to_k8s(),
        "cni": {"enabled": True},  # pods get istio-validation instead of istio-init: no NET_ADMIN
        "seccompProfile": {"type": "RuntimeDefault"},  # the one field istiod lacked for restricted Pod Security
        # native sidecars: Jobs (Kafka's topic provisioning) exit under STRICT mTLS; every kubelet is >= 1.35.
        # 1.31 also sends not-ready endpoints by default; with no outlierDetection it then turns Envoy's panic
        # mode off (panic threshold 0), so a starting broker still gets no bootstrap traffic: no override.
        "env": {"ENABLE_NATIVE_SIDECARS": "true"},
        # the untaint controller; istiod's Deployment itself tolerates the taint (hard-coded in the chart)
        "taint": {"enabled": True},
    }
    if cfg.istiod_replicas > 1:
        pilot["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": ISTIOD_LABELS}}]
    return {
        "pilot": pilot,
        # the PDB renders only with more than one replica (templates/poddisruptionbudget.yaml); hub and tag
        # also reach the injector, so every sidecar pulls proxyv2 from the same hub
        "global": {**image_values(cfg)["global"], "defaultPodDisruptionBudget": {"enabled": True}},
        "pdb": {"minAvailable": 1},
        "meshConfig": {
            "enablePrometheusMerge": True,  # app + Envoy metrics on :15020, scrapeable under STRICT mTLS
            "outboundTrafficPolicy": {"mode": cfg.outbound_traffic_policy},
            "accessLogFile": "/dev/stdout" if cfg.access_logging else "",
            "defaultConfig": {"holdApplicationUntilProxyStarts": True},  # for pods that opt out of native
        },
    }


def peer_authentication(namespace: str, mode: str) -> dict:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": namespace}, "spec": {"mtls": {"mode": mode}}}


def allow_nothing(namespace: str) -> dict:
    """An ALLOW policy that matches nothing: in the root namespace, every meshed workload denies by default."""
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-nothing", "namespace": namespace}, "spec": {}}


def custom_resource(name: str, manifest: dict, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        name, api_version=manifest["apiVersion"], kind=manifest["kind"], metadata=manifest["metadata"],
        spec=manifest["spec"], opts=opts)


@dataclass(frozen=True)
class MeshArgs:
    config: MeshConfig
    cluster_ready: pulumi.Resource  # istiod cannot schedule before the nodes exist
    platform_namespaces: tuple[str, ...] = ()  # meshed namespaces of the platform's own clients (verification, KMinion)
    protect: bool = False  # istio-base owns the CRDs: uninstalling it deletes every mesh policy with them
    kubernetes_version: str = "1.35"  # the Pod Security Admission rules the namespaces pin


class Mesh(pulumi.ComponentResource):
    """Istio at a pinned version; `namespace()` hands other components a namespace that is meshed for sure."""

    istio_version: str
    root_namespace: str
    ready: pulumi.Resource  # istiod's release: depend on it before creating pods that need a sidecar

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:Mesh", name, None, opts)
        cfg = args.config
        self.istio_version, self.root_namespace = cfg.istio_version, ROOT_NAMESPACE
        self._kubernetes_version = args.kubernetes_version

        # privileged: istio-cni's node agent needs host paths and NET_ADMIN (that is what spares every meshed pod)
        system = k8s.core.v1.Namespace(f"{name}-{ROOT_NAMESPACE}", metadata={
            "name": ROOT_NAMESPACE, "labels": pod_security("privileged", args.kubernetes_version)},
                                       opts=pulumi.ResourceOptions(parent=self, depends_on=[args.cluster_ready]))
        base = self._release(name, ISTIO_BASE, "istio-base", {"defaultRevision": "default"}, [system],
                             protect=args.protect)
        cni = self._release(name, ISTIO_CNI, "istio-cni", cni_values(cfg), [base])
        # istiod after cni: with cni.enabled, injected pods fail their istio-validation check until the agent runs
        istiod = self._release(name, ISTIOD, "istiod", istiod_values(cfg), [cni])
        self.ready = istiod

        after_istiod = pulumi.ResourceOptions(parent=self, depends_on=[istiod])
        custom_resource(f"{name}-peer-authentication", peer_authentication(ROOT_NAMESPACE, cfg.mtls_mode), after_istiod)
        custom_resource(f"{name}-allow-nothing", allow_nothing(ROOT_NAMESPACE), after_istiod)
        # Teams' namespaces: labelled and created here, but never deleted with a removed line (retain on delete):
        # they hold the teams' own workloads, which this stack does not own.
        self.app_namespaces: dict[str, pulumi.Resource] = {
            namespace: self.namespace(f"{name}-{namespace}", namespace, parent=self, retain_on_delete=True,
                                      pod_security_level=cfg.namespaces_pod_security)  # the teams' workloads
            for namespace in cfg.namespaces}
        # the platform's own client namespaces hold nothing but what the stack puts there: they go with it
        self.app_namespaces.update({namespace: self.namespace(f"{name}-{namespace}", namespace, parent=self)
                                    for namespace in args.platform_namespaces})

        self.register_outputs({"istio_version": self.istio_version, "root_namespace": self.root_namespace})

    def _release(self, name: str, chart: ChartRef, release: str, values: dict,
                 depends_on: list[pulumi.Resource], protect: bool = False) -> k8s.helm.v3.Release:
        return pinned_release(f"{name}-{release}", ChartRef(chart.chart, self.istio_version), release=release,
                              namespace=ROOT_NAMESPACE, values=values,
                              opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on, protect=protect))

    def namespace(self, resource_name: str, namespace: str, parent: pulumi.Resource, protect: bool = False,
                  retain_on_delete: bool = False, pod_security_level: PodSecurity = "restricted") -> k8s.core.v1.Namespace:
        """A namespace labelled for injection, created only once istiod is ready: a pod started earlier
        silently runs without a sidecar, and nothing reports it. istio-cni spares meshed pods NET_ADMIN, so
        they can be held to the restricted Pod Security level."""
        return k8s.core.v1.Namespace(
            resource_name,
            metadata={"name": namespace, "labels": {**INJECTION_LABEL,
                                                    **pod_security(pod_security_level, self._kubernetes_version)}},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[self.ready], protect=protect,
                                        retain_on_delete=retain_on_delete))
