"""The CrossGuard validators, fed the resource args the real program registers under mocks."""

import copy
import sys

import pytest
from conftest import ROOT, Resource, run_stack
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy import policy as engine
from pulumi_policy.proxy import unknown_checking_proxy

sys.path.insert(0, str(ROOT / "policy"))
import rules  # noqa: E402  (plain module; importing it starts no policy server)


class Servicer(engine._PolicyAnalyzerServicer):
    """The pack's own gRPC servicer, with the hook __main__.py installs (on a subclass, to leave the library be)."""


rules.listen_for_the_stack(Servicer)
SERVICER = Servicer("kafka-platform-guardrails", "0.1.0", rules.POLICIES, EnforcementLevel.MANDATORY)


def configure(name: str, config: dict[str, str]) -> None:
    """What the engine does before it analyses a stack: ConfigureStack with the stack's name and config."""
    SERVICER.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=name, project="kafka-platform", organization="organization", dry_run=True, config=config), None)


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


def violations(stack, config: dict[str, str] | None = None) -> list[str]:
    """Every violation the pack reports for the stack, configured as the engine would with the stack's config."""
    configure(getattr(stack, "name", "prod"), getattr(stack, "config", {}) if config is None else config)
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


def mutated(stack, name: str, change):
    """A copy of the stack with one resource changed; `type::name` picks one of two resources with one name."""
    copied = copy.deepcopy(stack)
    type_, _, name = name.rpartition("::")
    change(next(r for r in copied if r.name == name and r.type.startswith(type_)))
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


MANDATORY = {"kafka-prod-durability", "kafka-no-unclean-leader-election", "kafka-prod-config-reviewable",
             "kafka-topics-durable", "kafka-pods-meshed", "namespace-injection", "authorization-rules-name-a-source",
             "destination-rule-keeps-mtls", "eks-secrets-encryption", "eks-no-open-endpoint-in-prod",
             "node-metadata-locked", "ebs-storage-class-encrypted", "prod-storage-class-retains",
             "helm-release-pinned", "no-latest-image-tag", "protect-prod-stateful", "stack-environment-known",
             "mesh-strict-mtls", "mesh-allow-nothing"}


def test_pack_has_the_mandatory_guardrails():
    assert len(rules.POLICIES) == len(rules.RESOURCE_RULES) + len(rules.STACK_RULES)
    mandatory = {n for n, _, _, level in rules.RESOURCE_RULES + rules.STACK_RULES if level == rules.MANDATORY}
    assert mandatory == MANDATORY


# ---------------------------------------------------------------- prod comes from the config, never the name


@pytest.fixture(scope="module")
def production():
    return run_stack("prod", name="production")


@pytest.fixture(scope="module")
def prod_eu_dev():
    return run_stack("dev", name="prod-eu")


def test_the_engine_hands_the_pack_the_stacks_config(prod):
    configure("production", prod.config)
    assert (rules.STACK.name, rules.STACK.environment, rules.STACK.prod) == ("production", "prod", True)
    assert rules.STACK.kafka_namespace == "kafka"
    configure("prod-eu", {**prod.config, "kafka-platform:environment": "dev",
                          "kafka-platform:kafka": '{"namespace": "streams"}'})
    assert (rules.STACK.environment, rules.STACK.prod, rules.STACK.kafka_namespace) == ("dev", False, "streams")


def test_the_pack_reads_kafkas_namespace_default_from_the_model():
    from components.config import KafkaConfig

    configure("prod", {"kafka-platform:environment": "prod"})
    assert rules.STACK.kafka_namespace == KafkaConfig.model_fields["namespace"].default


def test_a_stack_named_production_with_environment_prod_gets_the_prod_rules(production):
    assert violations(production) == violations(run_stack("prod"))  # the mirror advisory, and nothing else
    unretained = mutated(production, "cluster-gp3-encrypted", lambda r: r.inputs.__setitem__("reclaimPolicy", "Delete"))
    assert [v.split(":")[0] for v in violations(unretained)] == ["prod-storage-class-retains", "prod-images-mirrored"]


def test_a_stack_named_prod_eu_with_environment_dev_gets_the_dev_rules(prod_eu_dev):
    assert prod_eu_dev.name == "prod-eu" and prod_eu_dev.config["kafka-platform:environment"] == "dev"
    assert violations(prod_eu_dev) == []  # Delete reclaim, no protect, docker.io: all fine in dev


def test_a_stack_whose_environment_the_pack_cannot_read_gets_the_prod_rules_and_is_told(dev):
    found = violations(dev, config={})
    assert "stack-environment-known: the pack did not receive kafka-platform:environment from the engine " \
           "(got None), so it holds this stack to the prod rules: run Pulumi CLI 3.272 or newer, and set " \
           "environment in the stack file" in found
    assert {v.split(":")[0] for v in found} == {"stack-environment-known", "prod-storage-class-retains",
                                                 "protect-prod-stateful", "prod-images-mirrored"}  # dev fails prod's


# ---------------------------------------------------------------- each rule catches its mutation, once


def set_override(key, value, where=None):
    def change(r):
        values = r.inputs["values"]
        target = values.setdefault(where, {}) if where else values
        target.setdefault("overrideConfiguration", {})[key] = value
    return change


def set_value(path, value):
    def change(r):
        *parents, last = path.split(".")
        node = r.inputs["values"]
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return change


def replace_plan(old, new):
    return lambda r: r.inputs["data"].__setitem__("declaration.tsv", r.inputs["data"]["declaration.tsv"].replace(old, new))


def first_rule(change):
    return lambda r: change(r.inputs["spec"]["rules"][0])


@pytest.mark.parametrize("name,change,expected", [
    # durability, judged on the merged config of every node role, whatever the source
    ("kafka-release", set_override("default.replication.factor", "1"),
     "kafka-prod-durability: prod Kafka needs default.replication.factor >= 3, but the controller and broker nodes "
     "get '1' from overrideConfiguration: set kafka.replicationFactor to 3 or more"),
    ("kafka-release", set_override("min.insync.replicas", "1"),
     "kafka-prod-durability: prod Kafka needs min.insync.replicas >= 2, but the controller and broker nodes get '1' "
     "from overrideConfiguration: set kafka.minInsyncReplicas to 2 or more"),
    ("kafka-release", set_override("min.insync.replicas", 1, where="broker"),
     "kafka-prod-durability: prod Kafka needs min.insync.replicas >= 2, but the broker nodes get 1 from "
     "broker.overrideConfiguration"),
    ("kafka-release", set_value("broker.extraEnvVars", [{"name": "KAFKA_CFG_TRANSACTION_STATE_LOG_MIN_ISR",
                                                          "value": "1"}]),
     "kafka-prod-durability: prod Kafka needs transaction.state.log.min.isr >= 2, but the broker nodes get '1' from "
     "broker.extraEnvVars"),
    ("kafka-release", lambda r: r.inputs["values"]["overrideConfiguration"].pop("unclean.leader.election.enable"),
     "kafka-no-unclean-leader-election: unclean.leader.election.enable must be explicitly 'false', but the "
     "controller and broker nodes get None from nowhere (Kafka's default applies)"),
    ("kafka-release", set_override("unclean.leader.election.enable", "true", where="controller"),
     "kafka-no-unclean-leader-election: unclean.leader.election.enable must be explicitly 'false', but the "
     "controller nodes get 'true' from controller.overrideConfiguration"),
    ("kafka-release", set_value("existingConfigmap", "hand-made"),
     "kafka-prod-config-reviewable: prod Kafka takes configuration from existingConfigmap, which no preview or "
     "review shows: move those settings into overrideConfiguration"),
    ("kafka-release", set_value("controller.existingSecretConfig", "hand-made"),
     "kafka-prod-config-reviewable: prod Kafka takes configuration from controller.existingSecretConfig"),
    ("kafka-release", set_value("broker.extraEnvVarsSecret", "hand-made"),
     "kafka-prod-config-reviewable: prod Kafka takes configuration from broker.extraEnvVarsSecret"),
    # topics
    ("kafka-access-plan", replace_plan("events\t12\t3", "events\t12\t2"),
     "kafka-topics-durable: prod topic 'events' has replicationFactor 2: set kafka.topics[].replicationFactor to 3"),
    ("kafka-access-plan", replace_plan("events\t12\t3\tmin.insync.replicas=2", "events\t12\t3\tmin.insync.replicas=1"),
     "kafka-topics-durable: prod topic 'events' sets min.insync.replicas=1: set it to 2 or more"),
    ("kafka-access-plan", replace_plan("retention.ms=604800000", "retention.ms=604800000,unclean.leader.election.enable=true"),
     "kafka-topics-durable: topic 'events' enables unclean.leader.election.enable: remove it"),
    # the mesh around Kafka
    ("kafka-release", set_value("broker.podLabels", {"sidecar.istio.io/inject": "false"}),
     "kafka-pods-meshed: broker.podLabels.sidecar.istio.io/inject opts Kafka's pods out of the mesh: remove it"),
    ("kafka-release", set_value("podAnnotations", {"sidecar.istio.io/inject": False}),
     "kafka-pods-meshed: podAnnotations.sidecar.istio.io/inject opts Kafka's pods out of the mesh"),
    ("kafka-access-reconcile",
     lambda r: r.inputs["spec"]["template"]["metadata"].setdefault("labels", {}).__setitem__(
         "sidecar.istio.io/inject", "false"),
     "kafka-pods-meshed: template.metadata.labels.sidecar.istio.io/inject opts Kafka's pods out of the mesh"),
    ("kafka-namespace", lambda r: r.inputs["metadata"].pop("labels"),
     "namespace-injection: namespace 'kafka' has istio-injection=None: every namespace this stack creates, but "
     "istio-system, must keep istio-injection: enabled"),
    ("mesh-apps", lambda r: r.inputs["metadata"]["labels"].__setitem__("istio-injection", "disabled"),
     "namespace-injection: namespace 'apps' has istio-injection='disabled'"),
    ("kafka-authorizationpolicy-kafka", first_rule(lambda rule: rule.pop("from")),
     "authorization-rules-name-a-source: AuthorizationPolicy 'kafka' rules[0] has no `from`, so it allows every "
     "caller: name the principals or namespaces it is for"),
    ("kafka-authorizationpolicy-kafka", first_rule(lambda rule: rule.__setitem__("from", [{"source": {
        "notPrincipals": ["cluster.local/ns/kafka/sa/kafka"]}}])),
     "authorization-rules-name-a-source: AuthorizationPolicy 'kafka' rules[0] has a source that names no one"),
    ("kafka-authorizationpolicy-kafka", first_rule(lambda rule: rule.__setitem__("from", [{"source": {
        "namespaces": ["*"]}}])),
     "authorization-rules-name-a-source: AuthorizationPolicy 'kafka' rules[0] has a source with a wildcard or a /0 "
     "block"),
    ("kafka-authorizationpolicy-kafka", first_rule(lambda rule: rule.__setitem__("from", [{"source": {
        "principals": ["cluster.local/ns/*"]}}])),
     "authorization-rules-name-a-source: AuthorizationPolicy 'kafka' rules[0] has a source with a wildcard"),
    ("kafka-authorizationpolicy-kafka", first_rule(lambda rule: rule.__setitem__("from", [{"source": {
        "ipBlocks": ["0.0.0.0/0"]}}])),
     "authorization-rules-name-a-source: AuthorizationPolicy 'kafka' rules[0] has a source with a wildcard or a /0"),
    ("kafka-release", set_value("broker.podAnnotations", {"traffic.sidecar.istio.io/excludeInboundPorts": "5555"}),
     "kafka-pods-meshed: broker.podAnnotations.traffic.sidecar.istio.io/excludeInboundPorts opts Kafka's pods out"),
    ("kafka-namespace", lambda r: r.inputs["metadata"]["labels"].__setitem__("istio.io/rev", "canary"),
     "namespace-injection: namespace 'kafka' sets istio.io/rev='canary': remove it"),
    ("kafka-release", lambda r: r.inputs.__setitem__("valueYamlFiles", ["hidden.yaml"]),
     "kafka-prod-config-reviewable: prod Kafka's release sets valueYamlFiles"),
    ("kafka-release", lambda r: r.inputs.__setitem__("postrender", "./patch.sh"),
     "kafka-prod-config-reviewable: prod Kafka's release sets postrender"),
    ("kafka-release", lambda r: (r.inputs.__setitem__("chart", "oci://mirror.example/charts/kafka-mirrored"),
                                 r.inputs["values"]["overrideConfiguration"].__setitem__("min.insync.replicas", "1")),
     "kafka-prod-durability: prod Kafka needs min.insync.replicas >= 2"),
    ("kafka-destinationrule-kafka", lambda r: r.inputs["spec"]["trafficPolicy"]["tls"].__setitem__("mode", "DISABLE"),
     "destination-rule-keeps-mtls: DestinationRule spec.trafficPolicy.tls.mode: DISABLE sends plaintext where the "
     "mesh requires mTLS: use ISTIO_MUTUAL"),
    ("kafka-destinationrule-kafka", lambda r: r.inputs["spec"]["trafficPolicy"].__setitem__(
        "portLevelSettings", [{"port": {"number": 9092}, "tls": {"mode": "DISABLE"}}]),
     "destination-rule-keeps-mtls: DestinationRule spec.trafficPolicy.portLevelSettings[0].tls.mode: DISABLE"),
    ("mesh-peer-authentication", lambda r: r.inputs["spec"]["mtls"].__setitem__("mode", "PERMISSIVE"),
     "mesh-strict-mtls: prod PeerAuthentication 'mesh-peer-authentication' relaxes mTLS (PERMISSIVE)"),
    ("kafka-peerauthentication-default",
     lambda r: r.inputs["spec"].__setitem__("portLevelMtls", {"9092": {"mode": "DISABLE"}}),
     "mesh-strict-mtls: prod PeerAuthentication 'kafka-peerauthentication-default' relaxes mTLS (DISABLE)"),
    # AWS
    ("cluster-eks", lambda r: r.inputs.pop("encryptionConfigKeyArn"),
     "eks-secrets-encryption: EKS secrets must be envelope-encrypted"),
    ("cluster-eks", lambda r: r.inputs.__setitem__("publicAccessCidrs", ["0.0.0.0/0"]),
     "eks-no-open-endpoint-in-prod: the prod EKS API endpoint is open to the whole internet"),
    ("cluster-eks", lambda r: r.inputs.__setitem__("publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"]),
     "eks-no-open-endpoint-in-prod: the prod EKS API endpoint is open to the whole internet (no CIDRs, or CIDRs "
     "that together cover 0.0.0.0/0): turn cluster.endpointPublicAccess off"),
    ("cluster-eks", lambda r: r.inputs.pop("publicAccessCidrs"),
     "eks-no-open-endpoint-in-prod: the prod EKS API endpoint is open to the whole internet"),
    ("aws:ec2/launchTemplate::cluster-nodes", lambda r: r.inputs["metadataOptions"].__setitem__("httpTokens", "optional"),
     "node-metadata-locked: launch template 'cluster-nodes' metadataOptions.httpTokens is 'optional': set 'required'"),
    ("aws:ec2/launchTemplate::cluster-nodes",
     lambda r: r.inputs["metadataOptions"].__setitem__("httpPutResponseHopLimit", 2),
     "node-metadata-locked: launch template 'cluster-nodes' metadataOptions.httpPutResponseHopLimit is 2: set 1"),
    ("cluster-us-east-1b", lambda r: r.inputs.pop("launchTemplate"),
     "node-metadata-locked: node group 'cluster-us-east-1b' has no launch template"),
    ("cluster-gp3-encrypted", lambda r: r.inputs["parameters"].pop("encrypted"),
     'ebs-storage-class-encrypted: EBS StorageClasses must set parameters.encrypted: "true"'),
    ("cluster-gp3-encrypted", lambda r: r.inputs.pop("reclaimPolicy"),
     "prod-storage-class-retains: prod StorageClass reclaimPolicy is 'Delete': a released Kafka or Prometheus "
     "volume would be deleted with its data. Set storage.reclaimPolicy: Retain"),
    # pinned versions
    ("mesh-istiod", lambda r: r.inputs.__setitem__("version", "1.31.x"),
     "helm-release-pinned: Helm chart 'oci://ghcr.io/istio/release/charts/istiod' must be pinned to an exact version (got '1.31.x')"),
    ("monitoring-release", lambda r: r.inputs.pop("version"),
     "helm-release-pinned: Helm chart 'kube-prometheus-stack' must be pinned"),
    ("kafka-release", lambda r: r.inputs["values"]["image"].__setitem__("tag", "latest"),
     "no-latest-image-tag: values.image: image 'bitnamilegacy/kafka:latest' must pin a tag other than 'latest'"),
    # protect
    ("kafka-release", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod kubernetes:helm.sh/v3:Release 'kafka-release' holds data"),
    ("cluster-secrets", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod aws:kms/key:Key 'cluster-secrets'"),
    ("kafka-namespace", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod kubernetes:core/v1:Namespace 'kafka-namespace' is Kafka's namespace: deleting it "
     "deletes the brokers, their Secrets and volume claims: it must be protected"),
    ("kafka-kraft-ids", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod kubernetes:core/v1:Secret 'kafka-kraft-ids' holds Kafka's own credentials or "
     "cluster identity"),
    ("kafka-sasl-credentials", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod kubernetes:core/v1:Secret 'kafka-sasl-credentials'"),
    ("mesh-istio-base", lambda r: setattr(r, "protect", False),
     "protect-prod-stateful: prod kubernetes:helm.sh/v3:Release 'mesh-istio-base' owns Istio's CRDs: uninstalling "
     "it deletes every PeerAuthentication and AuthorizationPolicy"),
])
def test_each_unsafe_prod_change_is_reported_once_and_says_what_to_change(prod, name, change, expected):
    found = new_violations(prod, name, change)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_secret_config_is_banned_in_prod_and_still_read_for_durability(prod):
    found = new_violations(prod, "kafka-release", set_value("broker.secretConfig", "min.insync.replicas=1\n"))
    assert found == [
        "kafka-prod-durability: prod Kafka needs min.insync.replicas >= 2, but the broker nodes get '1' from "
        "broker.secretConfig: set kafka.minInsyncReplicas to 2 or more and remove any other value. With less, "
        "losing one broker or zone can lose acknowledged writes or stop them",
        "kafka-prod-config-reviewable: prod Kafka takes configuration from broker.secretConfig, which no preview "
        "or review shows: move those settings into overrideConfiguration (secrets belong in the chart's SASL "
        "values)"]


def test_dev_reads_secret_config_too(dev):
    found = new_violations(dev, "kafka-release", set_value("secretConfig", "# hidden\nunclean.leader.election.enable = true"))
    assert found == ["kafka-no-unclean-leader-election: unclean.leader.election.enable must be explicitly 'false', "
                     "but the controller nodes get 'true' from secretConfig: set it to 'false' in "
                     "overrideConfiguration and nowhere else. An unclean leader discards writes the old leader "
                     "acknowledged"]  # dev runs combined nodes: controllers only


def test_a_weak_value_is_reported_in_any_source_even_one_an_override_outranks(prod):
    replaced = set_value("broker.config", {"min.insync.replicas": "1", "process.roles": "broker"})
    assert new_violations(prod, "kafka-release", replaced) == [
        "kafka-prod-durability: prod Kafka needs min.insync.replicas >= 2, but the broker nodes get '1' from "
        "broker.config: set kafka.minInsyncReplicas to 2 or more and remove any other value. With less, losing "
        "one broker or zone can lose acknowledged writes or stop them"]
    roles = rules.broker_settings(mutated(prod, "kafka-release", replaced).named("kafka-release").inputs["values"])
    assert ("min.insync.replicas", "2", "overrideConfiguration") in roles["broker"]
    assert ("process.roles", "broker", "broker.config") in roles["broker"]


def test_keys_are_trimmed_as_java_trims_them(prod):
    found = new_violations(prod, "kafka-release", set_override("min.insync.replicas ", "1", where="broker"))
    assert len(found) == 1 and "broker nodes get '1' from broker.overrideConfiguration" in found[0]


def test_the_verification_may_run_its_unmeshed_pod_outside_kafkas_namespace(prod):
    unmeshed = prod.named("kafka-verify-unmeshed")
    assert unmeshed.inputs["metadata"]["namespace"] != "kafka"
    assert unmeshed.inputs["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"


def test_missing_mesh_wide_policies_are_reported(dev):
    without = [r for r in dev if r.name not in ("mesh-peer-authentication", "mesh-allow-nothing")]
    stack = copy.deepcopy(dev)
    stack[:] = without
    assert violations(stack) == [
        "mesh-strict-mtls: no mesh-wide PeerAuthentication in istio-system: mTLS mode is left to Istio's PERMISSIVE "
        "default",
        "mesh-allow-nothing: no mesh-wide allow-nothing AuthorizationPolicy in istio-system (an ALLOW policy with no "
        "selector and no rules): without it, a workload with no policy of its own accepts every caller"]


def test_older_istio_api_versions_are_judged_too(prod):
    def v1beta1(r):
        r.type = r.type.replace("/v1:", "/v1beta1:")
        r.inputs["spec"]["trafficPolicy"]["tls"]["mode"] = "DISABLE"
    found = new_violations(prod, "kafka-destinationrule-kafka", v1beta1)
    assert len(found) == 1 and found[0].startswith("destination-rule-keeps-mtls:")


def test_a_namespace_patch_cannot_turn_injection_off(prod):
    patch = Resource(type="kubernetes:core/v1:NamespacePatch", name="p", urn="urn:pulumi:prod::p::t::p",
                     inputs={"metadata": {"name": "kafka", "labels": {"istio-injection": "disabled"}}})
    harmless = Resource(type="kubernetes:core/v1:NamespacePatch", name="q", urn="urn:pulumi:prod::p::t::q",
                        inputs={"metadata": {"name": "kafka", "annotations": {"owner": "me"}}})
    stack = copy.deepcopy(prod)
    stack.extend([patch, harmless])
    added = [v for v in violations(stack) if v not in violations(prod)]
    assert added == ["namespace-injection: namespace 'kafka' has istio-injection='disabled': every namespace this "
                     "stack creates, but istio-system, must keep istio-injection: enabled, or its pods run without "
                     "mTLS and without the mesh's authorization"]


def test_an_allow_nothing_aimed_at_one_workload_is_not_mesh_wide(prod):
    found = new_violations(prod, "mesh-allow-nothing", lambda r: r.inputs["spec"].__setitem__(
        "targetRefs", [{"kind": "Service", "name": "x"}]))
    assert [v.split(":")[0] for v in found] == ["mesh-allow-nothing"]


def test_an_allow_nothing_that_allows_everything_is_reported_as_both(prod):
    found = new_violations(prod, "mesh-allow-nothing", lambda r: r.inputs["spec"].__setitem__("rules", [{}]))
    assert [v.split(":")[0] for v in found] == ["authorization-rules-name-a-source", "mesh-allow-nothing"]
    assert "AuthorizationPolicy 'allow-nothing' rules[0] has no `from`, so it allows every caller" in found[0]


def test_dev_may_run_permissive_mtls_an_open_endpoint_and_delete_volumes():
    stack = run_stack("dev", {"mesh.mtlsMode": "PERMISSIVE"})
    open_endpoint = mutated(stack, "cluster-eks", lambda r: r.inputs.__setitem__("publicAccessCidrs", ["0.0.0.0/0"]))
    assert open_endpoint.named("cluster-gp3-encrypted").inputs["reclaimPolicy"] == "Delete"
    assert violations(open_endpoint) == []


def test_per_pod_destination_rule_hosts_get_an_advisory(prod):
    wildcard = new_violations(prod, "kafka-destinationrule-kafka-broker-headless", lambda r: r.inputs["spec"]
                              .__setitem__("host", "*.kafka-broker-headless.kafka.svc.cluster.local"))
    assert len(wildcard) == 1 and "matches per-pod names" in wildcard[0]


def test_unknown_values_on_a_first_preview_are_not_misreported(prod):
    assert new_violations(prod, "kafka-release", lambda r: r.inputs.__setitem__("values", None)) == []


def test_validators_also_read_the_aws_eks_cluster_shape():
    urn = "urn:pulumi:prod::kafka-platform::eks:index:Cluster$aws:eks/cluster:Cluster::c"
    bad = Resource(type="aws:eks/cluster:Cluster", name="c", urn=urn, protect=True,
                   inputs={"vpcConfig": {"endpointPublicAccess": True}, "encryptionConfig": {"resources": []}})
    messages = [m.split(":")[0] for m in violations([bad], config={"kafka-platform:environment": "prod"})]
    assert sorted(messages) == ["eks-no-open-endpoint-in-prod", "eks-secrets-encryption", "mesh-allow-nothing",
                                "mesh-strict-mtls"]


def test_the_pack_installs_the_hook_on_the_servicer_it_serves():
    text = (ROOT / "policy" / "__main__.py").read_text()
    assert "listen_for_the_stack(engine._PolicyAnalyzerServicer)" in text
    assert text.index("listen_for_the_stack(") < text.index("PolicyPack(")


def test_the_pack_runs_the_pulumi_policy_the_tests_exercise():
    """The hook wraps a private class of pulumi-policy: the pack's pin and the tests' pin must be one version."""
    def pin(path):
        return next(line for line in (ROOT / path).read_text().splitlines() if line.startswith("pulumi-policy=="))
    assert pin("policy/requirements.txt") == pin("requirements-dev.txt")
