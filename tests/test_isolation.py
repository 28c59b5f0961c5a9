"""NetworkPolicies: every namespace the stack owns denies ingress, then admits only its callers."""

import pytest
from conftest import EXISTING_VPC_CIDR, EXISTING_VPC_SECONDARY_CIDR, run_stack

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def policies(stack) -> dict[tuple[str, str], dict]:
    return {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["spec"]
            for r in stack.of_type(NETWORK_POLICY)}


def admitted(spec: dict) -> dict[int, list[dict]]:
    """port -> the sources admitted to it."""
    found: dict[int, list[dict]] = {}
    for rule in spec["ingress"]:
        for port in rule["ports"]:
            found.setdefault(port["port"], []).extend(rule["from"])
    return found


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_owned_namespace_denies_ingress_by_default(stack_name, request):
    found = policies(request.getfixturevalue(stack_name))
    denied = {ns for (ns, name), spec in found.items() if name == "default-deny-ingress"}
    assert denied == {"kafka", "monitoring", "istio-system", "kafka-verify", "kminion"}  # apps is the teams'
    for ns in denied:
        assert found[(ns, "default-deny-ingress")] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    assert all(spec["policyTypes"] == ["Ingress"] for spec in found.values())  # egress stays open


def test_istiod_serves_meshed_namespaces_the_api_server_and_monitoring_only(prod):
    ports = admitted(policies(prod)[("istio-system", "istiod")])
    assert ports == {15012: [{"namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}}],
                     15017: [{"ipBlock": {"cidr": "10.30.0.0/16"}}],  # prod's VPC: the control plane's ENIs
                     15014: [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}
    assert 15010 not in ports and 8080 not in ports  # plaintext xDS and debug: closed


def test_the_monitoring_plane_admits_only_its_own_callers(prod):
    found = policies(prod)
    prometheus = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
    grafana = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "grafana"}}}
    alertmanager = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}}}
    assert admitted(found[("monitoring", "prometheus")]) == {9090: [grafana, prometheus], 8080: [grafana, prometheus]}
    assert admitted(found[("monitoring", "alertmanager")]) == {
        9093: [prometheus, grafana], 8080: [prometheus, grafana], 9094: [alertmanager, alertmanager]}
    assert admitted(found[("monitoring", "grafana")]) == {3000: [prometheus]}
    assert admitted(found[("monitoring", "prometheus-operator")]) == {
        10250: [prometheus, {"ipBlock": {"cidr": "10.30.0.0/16"}}]}  # the API server calls its webhook
    assert admitted(found[("monitoring", "kube-state-metrics")]) == {8080: [prometheus], 8081: [prometheus]}


def test_kminion_is_scraped_and_nothing_else(prod):
    spec = policies(prod)[("kminion", "metrics")]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "kminion"}}
    assert admitted(spec) == {15020: [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}]}


def test_an_existing_vpc_admits_every_cidr_it_has():
    stack = run_stack("dev", {"network.existingVpc": {
        "vpcId": "vpc-0123456789abcdef0", "publicSubnetIds": ["subnet-0cccccccccccccccc"],
        "privateSubnetIds": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]}})
    assert admitted(policies(stack)[("istio-system", "istiod")])[15017] == [
        {"ipBlock": {"cidr": EXISTING_VPC_CIDR}}, {"ipBlock": {"cidr": EXISTING_VPC_SECONDARY_CIDR}}]


def test_turning_a_platform_client_off_drops_its_policies():
    stack = run_stack("dev", {"kafka.verify.enabled": False, "kafka.lag.enabled": False})
    assert {ns for ns, _ in policies(stack)} == {"kafka", "monitoring", "istio-system"}


def test_policies_wait_for_their_namespaces(prod):
    kafka_ns = prod.one("kubernetes:core/v1:Namespace", "kafka-namespace")
    assert all(r.depends_on(kafka_ns) for r in prod.of_type(NETWORK_POLICY))
