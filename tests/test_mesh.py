import pytest
from conftest import run_stack

from components.mesh import pod_security

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
ISTIO_CHARTS = "oci://ghcr.io/istio/release/charts"  # off Istio's retired GCP hosts


def releases(stack):
    return {r.inputs["name"]: r for r in stack.of_type(RELEASE) if r.inputs["namespace"] == "istio-system"}


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_istio_charts_are_pinned_and_installed_base_then_cni_then_istiod(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    r = releases(stack)
    assert {n: (x.inputs["chart"], x.inputs["version"]) for n, x in r.items()} == {
        "istio-base": (f"{ISTIO_CHARTS}/base", "1.31.1"),
        "istio-cni": (f"{ISTIO_CHARTS}/cni", "1.31.1"),
        "istiod": (f"{ISTIO_CHARTS}/istiod", "1.31.1"),
    }
    assert not any("repositoryOpts" in x.inputs for x in r.values())  # OCI: no Helm repository index
    assert r["istio-cni"].depends_on(r["istio-base"])
    assert r["istiod"].depends_on(r["istio-cni"])
    system = stack.one(NAMESPACE, "mesh-istio-system")
    assert r["istio-base"].depends_on(system)
    assert system.depends_on(stack.one("kubernetes:storage.k8s.io/v1:StorageClass"))  # nodes exist first
    assert all(x.inputs["atomic"] and x.inputs["timeout"] >= 600 for x in r.values())


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_istiod_uses_cni_native_sidecars_and_metrics_merging(stack_name, request):
    values = releases(request.getfixturevalue(stack_name))["istiod"].inputs["values"]
    assert values["pilot"]["cni"] == {"enabled": True}
    assert values["pilot"]["env"] == {"ENABLE_NATIVE_SIDECARS": "true"}
    mesh = values["meshConfig"]
    assert mesh["enablePrometheusMerge"] is True
    assert mesh["defaultConfig"] == {"holdApplicationUntilProxyStarts": True}
    assert mesh["outboundTrafficPolicy"] == {"mode": "ALLOW_ANY"}


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_istio_chart_with_images_pulls_them_from_docker_hub_at_the_chart_version(stack_name, request):
    found = releases(request.getfixturevalue(stack_name))
    assert "global" not in found["istio-base"].inputs["values"]  # CRDs and a webhook: no image, no hub key
    for release in (found["istio-cni"], found["istiod"]):
        assert release.inputs["values"]["global"]["hub"] == "docker.io/istio", release.name
        assert release.inputs["values"]["global"]["tag"] == release.inputs["version"], release.name


def test_image_hub_can_point_at_a_mirror():
    mirror = "123456789012.dkr.ecr.us-east-1.amazonaws.com/istio"
    found = releases(run_stack("prod", {"mesh.imageHub": mirror}))
    for release in (found["istio-cni"], found["istiod"]):
        assert release.inputs["values"]["global"]["hub"] == mirror, release.name


def test_istiod_removes_the_cni_taint_from_ready_nodes(prod):
    assert releases(prod)["istiod"].inputs["values"]["pilot"]["taint"] == {"enabled": True}


def test_prod_istiod_is_highly_available(prod):
    values = releases(prod)["istiod"].inputs["values"]
    pilot = values["pilot"]
    assert pilot["autoscaleEnabled"] is False and pilot["replicaCount"] == 2
    assert values["global"]["defaultPodDisruptionBudget"] == {"enabled": True} and values["pdb"] == {"minAvailable": 1}
    assert pilot["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    (spread,) = pilot["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["labelSelector"]["matchLabels"] == {"app": "istiod", "istio": "pilot"}
    assert values["meshConfig"]["accessLogFile"] == ""


def test_dev_runs_one_istiod_with_access_logs(dev):
    values = releases(dev)["istiod"].inputs["values"]
    assert values["pilot"]["replicaCount"] == 1 and "topologySpreadConstraints" not in values["pilot"]
    assert values["meshConfig"]["accessLogFile"] == "/dev/stdout"


def test_cni_daemonset_stays_off_fargate(prod):
    values = releases(prod)["istio-cni"].inputs["values"]
    (term,) = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [
        {"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["fargate"]}]


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_mesh_wide_strict_mtls_and_default_deny_after_istiod(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    istiod = releases(stack)["istiod"]
    pa = stack.one("kubernetes:security.istio.io/v1:PeerAuthentication", "mesh-peer-authentication")
    assert pa.inputs["metadata"] == {"name": "default", "namespace": "istio-system"}
    assert pa.inputs["spec"] == {"mtls": {"mode": "STRICT"}}
    deny = stack.one("kubernetes:security.istio.io/v1:AuthorizationPolicy", "mesh-allow-nothing")
    assert deny.inputs["metadata"]["namespace"] == "istio-system" and deny.inputs["spec"] == {}
    assert pa.depends_on(istiod) and deny.depends_on(istiod)


def test_dev_can_run_permissive_for_a_migration():
    stack = run_stack("dev", {"mesh.mtlsMode": "PERMISSIVE"})
    pa = stack.one("kubernetes:security.istio.io/v1:PeerAuthentication", "mesh-peer-authentication")
    assert pa.inputs["spec"] == {"mtls": {"mode": "PERMISSIVE"}}


def test_meshed_namespace_is_labelled_and_waits_for_istiod():
    stack = run_stack("dev", {"mesh.namespaces": ["apps", "payments"]})
    ns = stack.one(NAMESPACE, "mesh-payments")
    assert ns.inputs["metadata"] == {"name": "payments", "labels": {"istio-injection": "enabled",
                                                                    **pod_security("baseline", "1.35")}}
    assert ns.depends_on(releases(stack)["istiod"])


def test_a_teams_namespace_is_never_deleted_with_its_line(prod):
    # removing a line from mesh.namespaces must not delete the team's namespace and every workload in it
    apps = prod.one(NAMESPACE, "mesh-apps")
    assert apps.retain_on_delete and apps.inputs["metadata"]["labels"] == {"istio-injection": "enabled",
                                                                           **pod_security("baseline", "1.35")}
    assert not prod.one(NAMESPACE, "kafka-namespace").retain_on_delete  # the platform's own: protected instead


def test_istio_system_is_not_injected(prod):
    labels = prod.one(NAMESPACE, "mesh-istio-system").inputs["metadata"]["labels"]
    assert "istio-injection" not in labels and labels == pod_security("privileged", "1.35")


def test_mesh_resources_use_the_cluster_provider(prod):
    provider = prod.one("pulumi:providers:kubernetes").urn
    mesh = prod.one("kafka-platform:index:Mesh")
    assert all(r.provider.startswith(provider) for r in prod if r.parent == mesh.urn)


def test_pod_security_is_enforced_at_the_strictest_level_each_namespace_passes(prod):
    assert pod_security("restricted", "1.35") == {
        "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "v1.35",
        "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "v1.35",
        "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/audit-version": "v1.35"}
    enforced = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
                for r in prod.of_type("kubernetes:core/v1:Namespace")}
    assert enforced == {"istio-system": "privileged", "monitoring": "privileged", "apps": "baseline",
                        "kafka": "restricted", "kminion": "restricted", "kafka-verify": "restricted"}


def test_pod_security_follows_the_clusters_minor():
    stack = run_stack("prod", {"cluster.kubernetesVersion": "1.36"})
    versions = {r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"]
                for r in stack.of_type("kubernetes:core/v1:Namespace")}
    assert versions == {"v1.36"}


def test_the_teams_namespaces_take_the_level_their_workloads_need():
    stack = run_stack("prod", {"mesh.namespacesPodSecurity": "privileged"})
    apps = stack.one("kubernetes:core/v1:Namespace", "mesh-apps").inputs["metadata"]["labels"]
    assert apps == {"istio-injection": "enabled", **pod_security("privileged", "1.35")}
    kafka = stack.one("kubernetes:core/v1:Namespace", "kafka-namespace").inputs["metadata"]["labels"]
    assert kafka["pod-security.kubernetes.io/enforce"] == "restricted"  # only the teams' namespaces follow it
