"""The CrossGuard validators, fed the resource args the real program registers under mocks."""

import copy
import sys

import pytest
from conftest import ROOT, Resource, run_stack
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

sys.path.insert(0, str(ROOT / "policy"))
import rules  # noqa: E402  (plain module; importing it starts no policy server)


def options(r: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=r.protect, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def resource_args(r: Resource) -> ResourceValidationArgs:
    # the engine passes props through this proxy (Mapping/Sequence, not dict/list): so do the tests
    return ResourceValidationArgs(resource_type=r.type, props=unknown_checking_proxy(r.inputs), urn=r.urn,
                                  name=r.name, opts=options(r), provider=None)


def stack_args(stack) -> StackValidationArgs:
    return StackValidationArgs(resources=[
        PolicyResource(resource_type=r.type, props=unknown_checking_proxy(r.inputs), urn=r.urn, name=r.name, opts=options(r), provider=None,
                       parent=None, dependencies=[], property_dependencies={}) for r in stack])


def violations(stack) -> list[str]:
    found = []
    for name, _, validate, _ in rules.RESOURCE_RULES:
        for r in stack:
            validate(resource_args(r), lambda message, urn=None, name=name: found.append(f"{name}: {message}"))
    for name, _, validate, _ in rules.STACK_RULES:
        validate(stack_args(stack), lambda message, urn=None, name=name: found.append(f"{name}: {message}"))
    return found


def new_violations(stack, name: str, change) -> list[str]:
    """What one change to one resource adds to the violations the stack already has."""
    before = violations(stack)
    return [v for v in violations(mutated(stack, name, change)) if v not in before]


def mutated(stack, name: str, change) -> list:
    copied = copy.deepcopy(list(stack))
    change(next(r for r in copied if r.name == name))
    return copied


def test_the_real_program_passes_every_policy_in_dev(dev):
    assert violations(dev) == []


def test_the_real_program_passes_every_mandatory_policy_in_prod_and_is_told_to_mirror_images(prod):
    assert violations(prod) == ["prod-images-mirrored: prod Kafka pulls from docker.io (frozen bitnamilegacy images, "
                                "no CVE fixes, Docker Hub rate limits): mirror them and KMinion's, and set "
                                "kafka.images.registry"]
    mirrored = run_stack("prod", {"kafka.images.registry": "123456789012.dkr.ecr.us-east-1.amazonaws.com"})
    assert violations(mirrored) == []
    kminion = mirrored.one("kubernetes:helm.sh/v3:Release", "kminion-release").inputs["values"]["image"]
    assert kminion["repository"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/")  # the same mirror


def test_pack_has_the_mandatory_guardrails():
    assert len(rules.POLICIES) == len(rules.RESOURCE_RULES) + len(rules.STACK_RULES)
    mandatory = {n for n, _, _, level in rules.RESOURCE_RULES + rules.STACK_RULES if level == rules.MANDATORY}
    assert mandatory == {"kafka-prod-durability", "kafka-no-unclean-leader-election", "eks-secrets-encryption",
                         "eks-no-open-endpoint-in-prod", "ebs-storage-class-encrypted", "helm-release-pinned",
                         "no-latest-image-tag", "protect-prod-stateful", "mesh-strict-mtls"}


def set_override(key, value):
    return lambda r: r.inputs["values"]["overrideConfiguration"].__setitem__(key, value)


@pytest.mark.parametrize("name,change,expected", [
    ("kafka-release", set_override("default.replication.factor", "1"),
     "kafka-prod-durability: prod Kafka needs default.replication.factor >= 3 (got '1')"),
    ("kafka-release", set_override("min.insync.replicas", "1"),
     "kafka-prod-durability: prod Kafka needs min.insync.replicas >= 2 (got '1')"),
    ("kafka-release", lambda r: r.inputs["values"]["overrideConfiguration"].pop("unclean.leader.election.enable"),
     "kafka-no-unclean-leader-election: unclean.leader.election.enable must be explicitly 'false' (got None)"),
    ("cluster-eks", lambda r: r.inputs.pop("encryptionConfigKeyArn"),
     "eks-secrets-encryption: EKS secrets must be envelope-encrypted"),
    ("cluster-eks", lambda r: r.inputs.__setitem__("publicAccessCidrs", ["0.0.0.0/0"]),
     "eks-no-open-endpoint-in-prod: the prod EKS API endpoint is open to the whole internet"),
    ("cluster-eks", lambda r: r.inputs.pop("publicAccessCidrs"),
     "eks-no-open-endpoint-in-prod: the prod EKS API endpoint is open to the whole internet"),
    ("cluster-gp3-encrypted", lambda r: r.inputs["parameters"].pop("encrypted"),
     'ebs-storage-class-encrypted: EBS StorageClasses must set parameters.encrypted: "true"'),
    ("mesh-istiod", lambda r: r.inputs.__setitem__("version", "1.31.x"),
     "helm-release-pinned: Helm chart 'oci://ghcr.io/istio/release/charts/istiod' must be pinned to an exact version (got '1.31.x')"),
    ("monitoring-release", lambda r: r.inputs.pop("version"),
     "helm-release-pinned: Helm chart 'kube-prometheus-stack' must be pinned"),
    ("kafka-release", lambda r: r.inputs["values"]["image"].__setitem__("tag", "latest"),
     "no-latest-image-tag: values.image: image 'bitnamilegacy/kafka:latest' must pin a tag other than 'latest'"),
    ("kafka-release", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod kubernetes:helm.sh/v3:Release 'kafka-release' holds data"),
    ("cluster-secrets", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod aws:kms/key:Key 'cluster-secrets'"),
    ("mesh-peer-authentication", lambda r: r.inputs["spec"]["mtls"].__setitem__("mode", "PERMISSIVE"),
     "mesh-strict-mtls: prod PeerAuthentication 'mesh-peer-authentication' relaxes mTLS (PERMISSIVE)"),
    ("kafka-peerauthentication-default",
     lambda r: r.inputs["spec"].__setitem__("portLevelMtls", {"9092": {"mode": "DISABLE"}}),
     "mesh-strict-mtls: prod PeerAuthentication 'kafka-peerauthentication-default' relaxes mTLS (DISABLE)"),
])
def test_each_unsafe_prod_change_is_reported(prod, name, change, expected):
    found = new_violations(prod, name, change)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_missing_mesh_wide_peer_authentication_is_reported(dev):
    stack = [r for r in dev if r.name != "mesh-peer-authentication"]
    assert violations(stack) == ["mesh-strict-mtls: no mesh-wide PeerAuthentication in istio-system: mTLS mode "
                                 "is left to Istio's PERMISSIVE default"]


def test_dev_may_run_permissive_mtls_and_an_open_endpoint():
    stack = run_stack("dev", {"mesh.mtlsMode": "PERMISSIVE"})
    open_endpoint = mutated(stack, "cluster-eks", lambda r: r.inputs.__setitem__("publicAccessCidrs", ["0.0.0.0/0"]))
    assert violations(open_endpoint) == []


def test_advisories_flag_weak_topics_and_per_pod_destination_rule_hosts(prod):
    weak_topic = new_violations(prod, "kafka-access-plan", lambda r: r.inputs["data"].__setitem__(
        "declaration.tsv", r.inputs["data"]["declaration.tsv"].replace("events\t12\t3", "events\t12\t1")))
    assert weak_topic == ["kafka-prod-topics-replicated: prod topic 'events' has replicationFactor 1"]
    wildcard = new_violations(prod, "kafka-destinationrule-kafka-broker-headless", lambda r: r.inputs["spec"]
                              .__setitem__("host", "*.kafka-broker-headless.kafka.svc.cluster.local"))
    assert len(wildcard) == 1 and "matches per-pod names" in wildcard[0]


def test_unknown_values_on_a_first_preview_are_not_misreported(prod):
    assert new_violations(prod, "kafka-release", lambda r: r.inputs.__setitem__("values", None)) == []


def test_validators_also_read_the_aws_eks_cluster_shape():
    urn = "urn:pulumi:prod::kafka-platform::eks:index:Cluster$aws:eks/cluster:Cluster::c"
    bad = Resource(type="aws:eks/cluster:Cluster", name="c", urn=urn, protect=True,
                   inputs={"vpcConfig": {"endpointPublicAccess": True}, "encryptionConfig": {"resources": []}})
    messages = [m.split(":")[0] for m in violations([bad])]
    assert sorted(messages) == ["eks-no-open-endpoint-in-prod", "eks-secrets-encryption", "mesh-strict-mtls"]
