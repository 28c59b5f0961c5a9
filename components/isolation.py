"""Network isolation inside the cluster: NetworkPolicies for every namespace the stack owns.

The VPC CNI enforces them (components/cluster.py). Each namespace denies all ingress, then admits only
what its pods need; egress stays open. What a policy cannot see: traffic from the pod's own node (kubelet
probes, hostNetwork pods on that node), which the CNI always admits, and hostNetwork pods, which no
policy selects (node-exporter, istio-cni). The EKS control plane calls webhooks from its ENIs in the
VPC, so webhook ports admit the VPC's CIDR. Kafka's own policy comes from its chart (components/kafka.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .kafka import ISTIO_METRICS_PORT
from .mesh import INJECTION_LABEL

# Pod labels as the pinned charts render them (tests/test_chart_contract.py checks each one selects pods)
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
ALERTMANAGER = {"app.kubernetes.io/name": "alertmanager"}
GRAFANA = {"app.kubernetes.io/name": "grafana"}
OPERATOR = {"app": "kube-prometheus-stack-operator"}
KUBE_STATE_METRICS = {"app.kubernetes.io/name": "kube-state-metrics"}
ISTIOD = {"app": "istiod"}
KMINION = {"app.kubernetes.io/name": "kminion"}
MESHED_NAMESPACES = INJECTION_LABEL  # the label every meshed namespace carries


def tcp(*ports: int) -> list[dict]:
    return [{"port": p, "protocol": "TCP"} for p in ports]


def pods(labels: dict[str, str]) -> dict:
    return {"podSelector": {"matchLabels": labels}}


def namespace(name: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def policy(name: str, ns: str, selected: dict[str, str], rules: list[tuple[Any, list[dict]]]) -> dict:
    """Admit `rules` (sources, ports) to the pods with `selected` labels; an empty selection is every pod."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": {"matchLabels": selected} if selected else {}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": sources, "ports": ports} for sources, ports in rules]}}


def deny_ingress(ns: str) -> dict:
    return policy("default-deny-ingress", ns, {}, [])


def vpc(cidrs: pulumi.Input[list[str]]) -> pulumi.Output[list[dict]]:
    """The VPC's addresses: the control plane's ENIs call webhooks from there (and so can every pod, whose IPs
    come from the same VPC: the webhook ports answer TLS admission requests and metrics, nothing more)."""
    return pulumi.Output.from_input(cidrs).apply(lambda cs: [{"ipBlock": {"cidr": c}} for c in cs])


def monitoring_policies(ns: str, vpc_cidrs: pulumi.Input[list[str]]) -> list[dict]:
    """Prometheus, Alertmanager and Grafana opt out of the mesh (they scrape it): these are their only fence."""
    scrape = [pods(PROMETHEUS)]
    return [
        deny_ingress(ns),
        policy("prometheus", ns, PROMETHEUS, [([pods(GRAFANA), *scrape], tcp(9090, 8080))]),
        # Prometheus sends alerts and Grafana reads them; the replicas gossip to each other on 9094
        policy("alertmanager", ns, ALERTMANAGER, [([*scrape, pods(GRAFANA)], tcp(9093, 8080)),
                                                 ([pods(ALERTMANAGER)], [*tcp(9094), {"port": 9094, "protocol": "UDP"}])]),
        policy("grafana", ns, GRAFANA, [(scrape, tcp(3000))]),  # people reach it through port-forward only
        policy("prometheus-operator", ns, OPERATOR, [(scrape, tcp(10250)),
                                                    (vpc(vpc_cidrs), tcp(10250))]),  # admission webhook
        policy("kube-state-metrics", ns, KUBE_STATE_METRICS, [(scrape, tcp(8080, 8081))]),
    ]


def istio_policies(ns: str, monitoring_namespace: str, vpc_cidrs: pulumi.Input[list[str]]) -> list[dict]:
    """istiod: certificates and config over mTLS (15012) to meshed namespaces, injection and validation (15017)
    to the API server, metrics (15014) to monitoring. Plaintext xDS (15010) and debug (8080) to no one."""
    return [
        deny_ingress(ns),
        policy("istiod", ns, ISTIOD, [([{"namespaceSelector": {"matchLabels": MESHED_NAMESPACES}}], tcp(15012)),
                                     (vpc(vpc_cidrs), tcp(15017)),
                                     ([namespace(monitoring_namespace)], tcp(15014))]),
    ]


def client_namespace_policies(ns: str, monitoring_namespace: str, scraped: dict[str, str] | None) -> list[dict]:
    """The platform's own client namespaces: nothing comes in but Prometheus, to what it scrapes."""
    found = [deny_ingress(ns)]
    if scraped:
        found.append(policy("metrics", ns, scraped, [([namespace(monitoring_namespace)], tcp(ISTIO_METRICS_PORT))]))
    return found


@dataclass(frozen=True)
class IsolationArgs:
    kafka_namespace: str
    monitoring_namespace: str
    mesh_namespace: str
    verify_namespace: str | None  # the verification's, when it runs
    kminion_namespace: str | None  # KMinion's, when it runs
    vpc_cidrs: pulumi.Input[list[str]]
    namespaces: list[pulumi.Resource]  # the policies wait for the namespaces they live in


def all_policies(args: IsolationArgs) -> list[dict]:
    return [
        deny_ingress(args.kafka_namespace),  # the chart's own policies admit Kafka's traffic
        *monitoring_policies(args.monitoring_namespace, args.vpc_cidrs),
        *istio_policies(args.mesh_namespace, args.monitoring_namespace, args.vpc_cidrs),
        *(client_namespace_policies(args.verify_namespace, args.monitoring_namespace, None)
          if args.verify_namespace else []),
        *(client_namespace_policies(args.kminion_namespace, args.monitoring_namespace, KMINION)
          if args.kminion_namespace else []),
    ]


class Isolation(pulumi.ComponentResource):
    def __init__(self, name: str, args: IsolationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:Isolation", name, None, opts)
        for m in all_policies(args):
            meta = m["metadata"]
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{meta['namespace']}-{meta['name']}", metadata=meta, spec=m["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=args.namespaces))
        self.register_outputs({})
