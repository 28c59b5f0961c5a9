"""One place decides every version; the EKS calendar drives what config accepts and what a preview warns about."""

from datetime import date, timedelta

import pulumi
import pytest
from conftest import DELETE, load_stack_config, run_stack

import components.config as config_module
from components import versions
from components.config import support_warnings

RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_release_is_a_pinned_atomic_named_release_from_the_versions_table(stack_name, request):
    releases = request.getfixturevalue(stack_name).of_type(RELEASE)
    pinned = {(c.chart, c.version, c.repo) for c in versions.CHARTS}
    assert len(releases) == len(versions.CHARTS)
    for r in releases:
        assert (r.inputs["chart"], r.inputs["version"], r.inputs.get("repositoryOpts", {}).get("repo")) in pinned
        assert r.inputs["atomic"] is True and r.inputs["cleanupOnFail"] is True, r.name
        assert r.inputs["maxHistory"] == 10 and r.inputs["timeout"] >= 600, r.name
    # fixed names: Pulumi would add a random suffix, and every Service DNS name would change with it
    assert {r.inputs["name"] for r in releases} == {
        "istio-base", "istio-cni", "istiod", "kafka", "prometheus-operator-crds", "kube-prometheus-stack", "kminion"}


def test_offered_kubernetes_versions_are_in_standard_support_and_supported_by_istio():
    for version in versions.SUPPORTED_KUBERNETES_VERSIONS:
        addons = versions.EKS_ADDONS[version]
        assert versions.EKS_STANDARD_SUPPORT_ENDS[version] > versions.VERSIONS_REVIEWED, version
        assert version in versions.ISTIO_KUBERNETES_VERSIONS, version
        assert addons.kube_proxy.startswith(f"v{version}."), version  # kube-proxy builds follow the minor
    assert "1.34" not in versions.SUPPORTED_KUBERNETES_VERSIONS


def test_default_kubernetes_version_has_the_longest_standard_support():
    assert versions.DEFAULT_KUBERNETES_VERSION == "1.36"
    assert load_stack_config("prod", {"cluster.kubernetesVersion": DELETE}).cluster.kubernetes_version == "1.36"


def test_no_istio_artifact_comes_from_a_retired_host():
    for ref in (versions.ISTIO_BASE, versions.ISTIO_CNI, versions.ISTIOD):
        assert ref.chart.startswith("oci://ghcr.io/istio/release/charts/")
        assert "googleapis" not in ref.chart and ref.version == versions.ISTIO_VERSION
    assert not versions.ISTIO_IMAGE_HUB.startswith(versions.RETIRED_ISTIO_HUBS)


@pytest.mark.parametrize("days_left,warned", [(91, False), (90, True), (10, True)])
def test_a_preview_warns_ninety_days_before_standard_support_ends(days_left, warned):
    cfg = load_stack_config("prod")
    ends = versions.EKS_STANDARD_SUPPORT_ENDS["1.35"]
    found = support_warnings(cfg, ends - timedelta(days=days_left))
    assert bool(found) is warned
    if warned:
        (message,) = found
        assert message.startswith('kafka-platform:cluster.kubernetesVersion = "1.35": EKS standard support ends on '
                                  "2027-03-27")
        assert "$0.60/h" in message  # what EXTENDED, the default, costs then


def test_standard_policy_warning_says_eks_will_upgrade():
    cfg = load_stack_config("prod", {"cluster.upgradePolicy": "STANDARD"})
    (message,) = support_warnings(cfg, date(2027, 3, 1))
    assert "upgrades the control plane itself" in message


def test_after_the_end_the_warning_says_it_ended():
    (message,) = support_warnings(load_stack_config("prod"), date(2027, 4, 1))
    assert "ended on 2027-03-27" in message and "-" not in message.split("ended on 2027-03-27")[1].split(";")[0]


def test_the_program_emits_the_warning(monkeypatch):
    class Near(date):
        @classmethod
        def today(cls):
            return date(2027, 3, 20)

    warnings: list[str] = []
    monkeypatch.setattr(config_module, "date", Near)
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    run_stack("prod")
    assert any("kubernetesVersion" in w and "2027-03-27 (7 days)" in w for w in warnings), warnings
