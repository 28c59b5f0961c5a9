import json

import pulumi
import pytest
from conftest import run_program, run_stack

CLUSTER = "eks:index:Cluster"
NODE_GROUP = "eks:index:ManagedNodeGroup"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"


def test_prod_cluster_is_private_encrypted_logged_and_protected(prod):
    c = prod.one(CLUSTER)
    i = c.inputs
    assert i["name"] == "kafka-platform-prod" and i["version"] == "1.35"
    assert i["authenticationMode"] == "API"
    assert i["endpointPrivateAccess"] is True
    assert i["publicAccessCidrs"] == ["198.51.100.0/24"]
    assert i["nodeAssociatePublicIpAddress"] is False
    assert i["skipDefaultNodeGroup"] is True and i["createOidcProvider"] is True
    assert set(i["enabledClusterLogTypes"]) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    key = prod.one("aws:kms/key:Key", "cluster-secrets")
    assert key.inputs["enableKeyRotation"] is True
    assert i["encryptionConfigKeyArn"] == "arn:aws:mock:::aws:kms/key:Key/cluster-secrets"
    assert c.protect and key.protect and i["deletionProtection"] is True
    assert prod.one("aws:cloudwatch/logGroup:LogGroup").inputs == {
        "name": "/aws/eks/kafka-platform-prod/cluster", "retentionInDays": 90,
        "kmsKeyId": "arn:aws:mock:::aws:kms/key:Key/cluster-logs",
        "tags": {"environment": "prod", "owner": "platform-team", "kafka-platform/stack": "prod"}}
    assert c.depends_on(prod.one("aws:cloudwatch/logGroup:LogGroup"))


def policy_of(stack, key: str) -> dict:
    return json.loads(stack.one("aws:kms/key:Key", key).inputs["policy"])


@pytest.mark.parametrize("key,alias", [("cluster-logs", "alias/kafka-platform-prod-eks-logs"),
                                       ("cluster-volumes", "alias/kafka-platform-prod-ebs")])
def test_logs_and_volumes_have_customer_keys_rotated_and_protected_in_prod(prod, dev, key, alias):
    k = prod.one("aws:kms/key:Key", key)
    assert k.inputs["enableKeyRotation"] is True and k.inputs["deletionWindowInDays"] == 30 and k.protect
    assert prod.one("aws:kms/alias:Alias", key).inputs["name"] == alias
    assert not dev.one("aws:kms/key:Key", key).protect
    admin, *_ = policy_of(prod, key)["Statement"]
    assert admin == {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                     "Action": "kms:*", "Resource": "*"}


def test_only_cloudwatch_logs_for_this_log_group_may_use_the_logs_key(prod):
    _, logs = policy_of(prod, "cluster-logs")["Statement"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn":
                                               "arn:aws:logs:us-east-1:000000000000:log-group:"
                                               "/aws/eks/kafka-platform-prod/cluster"}}
    assert not any(a.startswith("kms:Create") or a == "kms:*" for a in logs["Action"])


def test_only_the_ebs_csi_role_may_use_the_volume_key_and_grant_it_to_aws_only(prod):
    _, use, grant = policy_of(prod, "cluster-volumes")["Statement"]
    role = "arn:aws:mock:::aws:iam/role:Role/cluster-ebs-csi"
    assert use["Principal"] == grant["Principal"] == {"AWS": role}
    assert set(use["Action"]) == {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                                  "kms:DescribeKey"}
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    parameters = prod.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs["parameters"]
    assert parameters["kmsKeyId"] == "arn:aws:mock:::aws:kms/key:Key/cluster-volumes"
    assert parameters["encrypted"] == "true"


def test_prod_admin_role_gets_cluster_admin_without_an_account_id_in_config(prod):
    entry = prod.one(CLUSTER).inputs["accessEntries"]["KafkaPlatformAdmin"]
    assert entry["principalArn"] == "arn:aws:iam::000000000000:role/KafkaPlatformAdmin"  # from the caller identity
    policy = entry["accessPolicies"]["cluster-admin"]
    assert policy["policyArn"].endswith("/AmazonEKSClusterAdminPolicy") and policy["accessScope"] == {"type": "cluster"}


def test_each_role_gets_only_its_level(prod):
    entries = prod.one(CLUSTER).inputs["accessEntries"]
    assert {name: e["principalArn"] for name, e in entries.items()} == {
        role: f"arn:aws:iam::000000000000:role/{role}"
        for role in ("KafkaPlatformAdmin", "KafkaPlatformProdPreview", "KafkaPlatformProdReader")}
    granted = {name: [p["policyArn"].rsplit("/", 1)[1] for p in e.get("accessPolicies", {}).values()]
               for name, e in entries.items()}
    assert granted == {"KafkaPlatformAdmin": ["AmazonEKSClusterAdminPolicy"],
                       "KafkaPlatformProdPreview": ["AmazonEKSViewPolicy"], "KafkaPlatformProdReader": []}
    assert entries["KafkaPlatformProdReader"]["kubernetesGroups"] == ["kafka-platform:refresh"]
    assert "kubernetesGroups" not in entries["KafkaPlatformProdPreview"]


def test_edit_is_eks_edit_policy_at_cluster_scope():
    stack = run_stack("prod", {"cluster.access": {"Operators": "edit"}})
    (policy,) = stack.one(CLUSTER).inputs["accessEntries"]["Operators"]["accessPolicies"].values()
    assert policy == {"policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
                      "accessScope": {"type": "cluster"}}
    assert "cluster-refresh" not in {r.name for r in stack}  # no `refresh` role left: no read-everything role


def plural(kind: str) -> str:
    lower = kind.removesuffix("Patch").lower()  # a patch reads back the object it patches
    return lower[:-1] + "ies" if lower.endswith("y") else lower + ("es" if lower.endswith("s") else "s")


def test_refresh_reads_every_kind_the_stack_creates_and_nothing_else(prod, dev):
    role = prod.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "cluster-refresh")
    granted = {(g, r) for rule in role.inputs["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in role.inputs["rules"])
    assert not any("*" in g or "*" in r or "/" in r for g, r in granted)  # no wildcard, no subresource
    types = {r.type for stack in (prod, dev) for r in stack
             if r.type.startswith("kubernetes:") and "helm.sh" not in r.type and "apiextensions" not in r.type}
    groups = {t: t.split(":")[1].rsplit("/", 1)[0] for t in types}  # kubernetes:<group>/<version>:<Kind>
    created = {("" if groups[t] == "core" else groups[t], plural(t.rsplit(":", 1)[1])) for t in types}
    assert created <= granted, created - granted
    assert ("", "secrets") in granted  # Helm's releases: a refresh of a Release lists them
    binding = prod.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "cluster-refresh")
    assert binding.inputs["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                           "name": "kafka-platform:refresh"}]
    assert binding.inputs["roleRef"]["name"] == role.inputs["metadata"]["name"]


def test_coredns_is_our_add_on_and_waits_for_the_nodes(prod):
    assert prod.one(CLUSTER).inputs["corednsAddonOptions"]["enabled"] is False  # pulumi-eks would add it too early
    coredns = prod.one("aws:eks/addon:Addon", "cluster-coredns")
    assert coredns.inputs["addonName"] == "coredns"
    assert all(coredns.depends_on(g) for g in prod.of_type(NODE_GROUP))


def test_node_groups_follow_the_cluster_version(prod):
    assert {g.inputs["version"] for g in prod.of_type(NODE_GROUP)} == {"1.35"}


def test_dev_lets_only_its_preview_role_in_and_is_not_protected(dev):
    c = dev.one(CLUSTER)
    assert list(c.inputs["accessEntries"]) == ["KafkaPlatformDevPreview"]
    assert not c.protect and c.inputs["deletionProtection"] is False
    assert not any(r.protect for r in dev)


@pytest.mark.parametrize("stack,zones", [("dev", 2), ("prod", 3)])
def test_one_private_node_group_per_zone(stack, zones, request):
    registered = request.getfixturevalue(stack)
    groups = registered.of_type(NODE_GROUP)
    assert len(groups) == zones
    subnets = [g.inputs["subnetIds"] for g in groups]
    assert all(len(s) == 1 and "private" in s[0] for s in subnets)
    assert len({s[0] for s in subnets}) == zones
    assert all(g.inputs["amiType"] == "AL2023_x86_64_STANDARD" for g in groups)


def test_prod_nodes_are_on_demand_and_sized_from_config(prod):
    for g in prod.of_type(NODE_GROUP):
        assert g.inputs["capacityType"] == "ON_DEMAND"
        assert g.inputs["instanceTypes"] == ["m6i.xlarge"]
        assert g.inputs["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 4}


def test_dev_nodes_are_spot(dev):
    assert {g.inputs["capacityType"] for g in dev.of_type(NODE_GROUP)} == {"SPOT"}


def test_nodes_require_imdsv2_and_encrypt_their_root_volume(prod):
    template = prod.one("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"] == {
        "httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
    (disk,) = template.inputs["blockDeviceMappings"]
    assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["volumeType"] == "gp3" and disk["ebs"]["volumeSize"] == 100
    assert all(g.inputs["launchTemplate"]["id"] == "cluster-nodes-id" for g in prod.of_type(NODE_GROUP))


def test_ebs_csi_addon_uses_an_irsa_role_scoped_to_its_service_account(prod):
    addon = prod.one("aws:eks/addon:Addon", "cluster-ebs-csi")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    role = prod.one("aws:iam/role:Role", "cluster-ebs-csi")
    assert addon.inputs["serviceAccountRoleArn"] == "arn:aws:mock:::aws:iam/role:Role/cluster-ebs-csi"
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = "oidc.eks.us-east-1.amazonaws.com/id/CLUSTER-EKS"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(f"oidc-provider/{issuer}")
    assert statement["Condition"] == {"StringEquals": {
        f"{issuer}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa", f"{issuer}:aud": "sts.amazonaws.com"}}
    attached = [a.inputs["policyArn"] for a in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.name.startswith("cluster-ebs-csi")]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]
    assert all(addon.depends_on(g) for g in prod.of_type(NODE_GROUP))


@pytest.mark.parametrize("stack,reclaim", [("dev", "Delete"), ("prod", "Retain")])
def test_default_storage_class_is_encrypted_gp3_bound_on_first_consumer(stack, reclaim, request):
    registered = request.getfixturevalue(stack)
    sc = registered.one(STORAGE_CLASS)
    assert sc.inputs["metadata"] == {"name": "gp3-encrypted",
                                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["parameters"]["type"] == "gp3" and sc.inputs["parameters"]["encrypted"] == "true"
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["allowVolumeExpansion"] is True
    assert sc.inputs["reclaimPolicy"] == reclaim
    assert sc.depends_on(registered.one("aws:eks/addon:Addon", "cluster-ebs-csi"))
    assert sc.provider.startswith(registered.one("pulumi:providers:kubernetes").urn)


def test_kubernetes_provider_is_built_only_from_stable_cluster_facts(prod):
    provider = prod.one("pulumi:providers:kubernetes")
    kubeconfig = json.loads(provider.inputs["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"] == {
        "server": "https://MOCK.gr7.us-east-1.eks.amazonaws.com", "certificate-authority-data": "Q0EK"}
    exec_ = kubeconfig["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"] == ["eks", "get-token", "--cluster-name", "kafka-platform-prod", "--region", "us-east-1",
                             "--output", "json"]
    assert "env" not in exec_  # no AWS_PROFILE: a different deployer must not replace every k8s resource


def test_no_fargate_profile_unless_configured(prod):
    assert prod.of_type("aws:eks/fargateProfile:FargateProfile") == []


def test_fargate_profile_selects_configured_namespaces_on_private_subnets_with_its_own_role():
    stack = run_stack("dev", {"cluster.fargateNamespaces": ["batch"]})
    profile = stack.one("aws:eks/fargateProfile:FargateProfile")
    assert profile.inputs["selectors"] == [{"namespace": "batch"}]
    assert profile.inputs["subnetIds"] == ["network-private-us-east-1a-id", "network-private-us-east-1b-id"]
    role = stack.one("aws:iam/role:Role", "cluster-fargate")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "eks-fargate-pods.amazonaws.com"}
    assert profile.inputs["podExecutionRoleArn"] == "arn:aws:mock:::aws:iam/role:Role/cluster-fargate"


def test_children_are_parented_to_their_component(prod):
    components = {r.urn for r in prod if r.type.startswith("kafka-platform:index:")}
    assert all(r.parent in components for r in prod if not r.type.startswith("kafka-platform:index:"))


ADDONS_135 = {"vpc-cni": "v1.23.2-eksbuild.1", "kube-proxy": "v1.35.3-eksbuild.29",
              "coredns": "v1.14.6-eksbuild.4", "aws-ebs-csi-driver": "v1.66.0-eksbuild.1", "eks-pod-identity-agent": "v1.3.10-eksbuild.3"}


def addon_versions(stack) -> dict[str, str]:
    """Every add-on's pinned build: vpc-cni and kube-proxy through pulumi-eks, the others as our own Addons."""
    cluster = stack.one(CLUSTER).inputs
    found = {"vpc-cni": cluster["vpcCniOptions"]["addonVersion"], "kube-proxy": cluster["kubeProxyAddonOptions"]["version"]}
    found.update({a.inputs["addonName"]: a.inputs["addonVersion"] for a in stack.of_type("aws:eks/addon:Addon")})
    return found


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_every_addon_is_pinned_for_the_clusters_kubernetes_minor(stack_name, request):
    assert addon_versions(request.getfixturevalue(stack_name)) == ADDONS_135


def test_addon_builds_follow_a_kubernetes_upgrade():
    found = addon_versions(run_stack("prod", {"cluster.kubernetesVersion": "1.36"}))
    assert found == {"vpc-cni": "v1.23.2-eksbuild.1", "kube-proxy": "v1.36.0-eksbuild.45",
                     "coredns": "v1.14.7-eksbuild.11", "aws-ebs-csi-driver": "v1.66.0-eksbuild.1",
                     "eks-pod-identity-agent": "v1.3.10-eksbuild.3"}


def test_aws_node_has_its_own_role_and_the_node_role_no_eni_rights(prod, dev):
    association = prod.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("kube-system", "aws-node")
    role = prod.one("aws:iam/role:Role", "cluster-vpc-cni")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]}]
    attached = {r.name: r.inputs["policyArn"].rsplit("/", 1)[1]
                for r in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached["cluster-vpc-cni-AmazonEKS_CNI_Policy"] == "AmazonEKS_CNI_Policy"
    assert {v for k, v in attached.items() if k.startswith("cluster-nodes-")} == {
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"}  # no CNI, no SSM in prod
    assert {v for k, v in {r.name: r.inputs["policyArn"].rsplit("/", 1)[1] for r in dev.of_type(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment")}.items() if k.startswith("cluster-nodes-")} == {
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"}
    first_restart, second = (prod.named("cluster-aws-node-restart"), prod.named("cluster-aws-node-restart-2"))
    for patch, key in ((first_restart, "kafka-platform/cni-credentials-1"), (second, "kafka-platform/cni-credentials-2")):
        assert patch.inputs["metadata"] == {"name": "aws-node", "namespace": "kube-system"}
        assert patch.inputs["spec"] == {"template": {"metadata": {"annotations": {key: "pod-identity"}}}}
    assert first_restart.depends_on(association) and second.depends_on(first_restart)  # after the first rolled
    restart = second
    first = min(prod.of_type(NODE_GROUP), key=lambda g: len([o for o in prod.of_type(NODE_GROUP) if g.depends_on(o)]))
    assert first.depends_on(restart)  # nodes join once aws-node has its role


def test_the_cni_enforces_network_policies(prod):
    assert prod.one(CLUSTER).inputs["vpcCniOptions"]["enableNetworkPolicy"] is True


def test_nodes_start_tainted_until_their_istio_cni_agent_is_ready(prod):
    for group in prod.of_type(NODE_GROUP):
        assert group.inputs["taints"] == [{"key": "cni.istio.io/not-ready", "effect": "NO_SCHEDULE"}]


def test_addons_that_run_before_istio_tolerate_the_cni_taint(prod):
    taint = {"key": "cni.istio.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}
    coredns = json.loads(prod.one("aws:eks/addon:Addon", "cluster-coredns").inputs["configurationValues"])
    ebs_csi = json.loads(prod.one("aws:eks/addon:Addon", "cluster-ebs-csi").inputs["configurationValues"])
    assert taint in coredns["tolerations"] and taint in ebs_csi["controller"]["tolerations"]
    # the add-ons' own defaults are kept, since a configured list replaces them
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in coredns["tolerations"]
    assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in ebs_csi["controller"]["tolerations"]


@pytest.mark.parametrize("policy", ["STANDARD", "EXTENDED"])
def test_upgrade_policy_is_explicit(policy):
    stack = run_stack("prod", {"cluster.upgradePolicy": policy})
    assert stack.one(CLUSTER).inputs["upgradePolicy"] == {"supportType": policy}


def test_default_upgrade_policy_keeps_the_version_rather_than_let_eks_upgrade_it(prod):
    # EKS's own default: no surprise upgrade to a minor Istio does not support, and no diff on existing clusters
    assert prod.one(CLUSTER).inputs["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_kubernetes_provider_is_replaced_only_if_the_cluster_is(prod):
    assert prod.one("pulumi:providers:kubernetes").inputs["clusterIdentifier"] == "kafka-platform-prod"


# --------------------------------------------------------------------------- rolling the nodes


def test_node_groups_update_one_zone_after_the_other(prod):
    a, b, c = (prod.one(NODE_GROUP, f"cluster-us-east-1{z}") for z in "abc")
    assert b.depends_on(a) and c.depends_on(b)
    assert not a.depends_on(b) and not a.depends_on(c) and not b.depends_on(c)


def test_every_node_group_rolls_one_node_at_a_time_and_never_forces_a_drain(prod, dev):
    for g in [*prod.of_type(NODE_GROUP), *dev.of_type(NODE_GROUP)]:
        assert g.transforms == 1, g.name  # node_group_rollout, on the aws.eks.NodeGroup pulumi-eks creates
        assert g.inputs["forceUpdateVersion"] is False


class _TransformArgs:
    def __init__(self, type_, props):
        import pulumi
        self.type_, self.props, self.opts = type_, props, pulumi.ResourceOptions(ignore_changes=["tags"])


def test_the_rollout_transform_sets_the_update_config_and_keeps_replacing_fields_from_replacing():
    from components.cluster import node_group_rollout

    props = {"clusterName": "kafka-platform-prod", "instanceTypes": ["m6i.xlarge"], "capacityType": "ON_DEMAND"}
    result = node_group_rollout(_TransformArgs("aws:eks/nodeGroup:NodeGroup", props))
    assert result.props == {**props, "updateConfig": {"maxUnavailable": 1}}
    # a change of either would replace every node group at once (ForceNew); a new generation applies it
    assert result.opts.ignore_changes == ["tags", "instanceTypes", "capacityType"]
    # pulumi-eks's other children (the component itself, roles, the aws-auth mapping) are left alone
    assert node_group_rollout(_TransformArgs("eks:index:ManagedNodeGroup", props)) is None
    assert node_group_rollout(_TransformArgs("aws:ec2/launchTemplate:LaunchTemplate", props)) is None


def test_a_new_generation_replaces_only_its_zones_node_group():
    stack = run_stack("prod", {"cluster.nodeGroups.generations": {"us-east-1b": 2}})
    names = sorted(g.name for g in stack.of_type(NODE_GROUP))
    # generation 1 keeps the name groups had before generations existed: an existing stack keeps its groups
    assert names == ["cluster-us-east-1a", "cluster-us-east-1b-g2", "cluster-us-east-1c"]
    assert stack.one(NODE_GROUP, "cluster-us-east-1c").depends_on(stack.one(NODE_GROUP, "cluster-us-east-1b-g2"))


PROD_ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def test_prod_records_each_zones_generation_for_the_next_up(prod, dev):
    assert prod.outputs["nodeGroupGenerations"] == {zone: 1 for zone in PROD_ZONES}
    ref = prod.one("pulumi:pulumi:StackReference", "cluster-last-up")
    assert ref.inputs["name"] == "organization/kafka-platform/prod"
    assert not dev.of_type("pulumi:pulumi:StackReference")  # dev may replace what it likes


@pytest.mark.parametrize("last", [None, {"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1},
                                  {"us-east-1a": 1, "us-east-1b": 1}])
def test_prod_replaces_one_zone_per_up(last):
    stack = run_stack("prod", {"cluster.nodeGroups.generations": {"us-east-1b": 2}},
                      last_outputs={"nodeGroupGenerations": last} if last else {})
    assert stack.outputs["nodeGroupGenerations"]["us-east-1b"] == 2


def test_prod_refuses_two_zones_in_one_up():
    with pytest.raises(pulumi.RunError) as refused:
        run_stack("prod", {"cluster.nodeGroups.generations": {"us-east-1a": 2, "us-east-1b": 2}},
                  last_outputs={"nodeGroupGenerations": {zone: 1 for zone in PROD_ZONES}})
    message = str(refused.value)
    assert "replaces the node groups of us-east-1a, us-east-1b in one up" in message
    assert 'README "Node groups"' in message and "keep all but one of them as the last up had them" in message
    reached = refused.value.registered
    assert not reached.of_type(NODE_GROUP) and reached.outputs.get("nodeGroupGenerations") is None


def test_prod_counts_a_dropped_zone_as_a_replacement():
    """Leaving a zone out deletes its group: with another zone's new generation, two zones in one up."""
    with pytest.raises(pulumi.RunError, match="replaces the node groups of us-east-1a, us-east-1d in one up"):
        run_stack("prod", {"cluster.nodeGroups.generations": {"us-east-1a": 2}},
                  last_outputs={"nodeGroupGenerations": {**{zone: 1 for zone in PROD_ZONES}, "us-east-1d": 1}})


def test_dev_may_replace_every_zone_at_once():
    stack = run_stack("dev", {"cluster.nodeGroups.generations": {"us-east-1a": 2, "us-east-1b": 3}},
                      last_outputs={"nodeGroupGenerations": {"us-east-1a": 1, "us-east-1b": 1}})
    assert sorted(g.name for g in stack.of_type(NODE_GROUP)) == ["cluster-us-east-1a-g2", "cluster-us-east-1b-g3"]


def test_a_refused_generation_change_leaves_the_recorded_generations_alone():
    """Only the cluster: the stack's other outputs (which a refused run also never records) cannot hide it."""
    def program():
        from components.cluster import GENERATIONS_OUTPUT, Cluster, ClusterArgs
        from components.config import load_config
        from components.network import Network, NetworkArgs

        config = load_config()
        network = Network("network", NetworkArgs(config=config.network, name=config.name, tags=config.tags))
        cluster = Cluster("cluster", ClusterArgs(config=config, vpc_id=network.vpc_id,
                                                 public_subnet_ids=network.public_subnet_ids,
                                                 private_subnet_ids=network.private_subnet_ids))
        pulumi.export(GENERATIONS_OUTPUT, cluster.node_group_generations)
        pulumi.export("zones", config.network.availability_zones)
        root = pulumi.runtime.settings.get_root_resource()  # as run_stack does: mocks finished it already
        root.register_outputs(dict(root.outputs))

    last = {"nodeGroupGenerations": {zone: 1 for zone in PROD_ZONES}}
    with pytest.raises(pulumi.RunError) as refused:
        run_program(program, "prod", {"cluster.nodeGroups.generations": {"us-east-1a": 2, "us-east-1c": 2}}, last)
    assert refused.value.registered.outputs.get("nodeGroupGenerations") is None
