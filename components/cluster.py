"""Cluster: EKS with per-zone managed node groups, optional Fargate, EBS CSI storage and the k8s Provider."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from .config import PROJECT, PlatformConfig
from .last_up import last_up_output
from .mesh import CNI_NOT_READY_TAINT, CNI_NOT_READY_TOLERATION
from .versions import EKS_ADDONS

EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
NODE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")  # the CNI has its own role
POD_IDENTITY_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}]})
CNI_CREDENTIALS_ANNOTATION = "kafka-platform/cni-credentials"  # its change restarts aws-node onto its own role
SSM_POLICY = "AmazonSSMManagedInstanceCore"  # cluster.nodeGroups.ssmAccess: a shell without SSH keys or open ports


# Add-ons that must run before istio-cni exists, on nodes that still carry its not-ready taint. The
# lists replace each add-on's default tolerations, so those are repeated.
CRITICAL_ADDONS_ONLY = {"key": "CriticalAddonsOnly", "operator": "Exists"}
COREDNS_CONFIGURATION = {"tolerations": [
    CRITICAL_ADDONS_ONLY, {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
    CNI_NOT_READY_TOLERATION]}
EBS_CSI_CONFIGURATION = {"controller": {"tolerations": [
    CRITICAL_ADDONS_ONLY, {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    CNI_NOT_READY_TOLERATION]}}


# What `pulumi refresh` reads back: every kind the stack creates, and the Secrets Helm keeps its releases in.
# Named one by one: `*` would also grant subresources such as nodes/proxy, whose `get` reaches into pods.
REFRESH_RESOURCES = {
    "": ("secrets", "configmaps", "namespaces", "serviceaccounts"),
    "apps": ("daemonsets",),  # the aws-node patch
    "batch": ("jobs",),
    "rbac.authorization.k8s.io": ("clusterroles", "clusterrolebindings"),
    "storage.k8s.io": ("storageclasses",),
    "networking.k8s.io": ("networkpolicies",),
    "security.istio.io": ("peerauthentications", "authorizationpolicies"),
    "networking.istio.io": ("destinationrules",),
    "monitoring.coreos.com": ("servicemonitors", "podmonitors", "prometheusrules"),
}


def refresh_rbac() -> tuple[dict, dict]:
    """What `pulumi refresh` reads and EKS's view policy does not grant (Secrets, RBAC, custom resources).
    Read verbs only, on resources only; the group comes from the access entry."""
    role = {"metadata": {"name": REFRESH_GROUP},
            "rules": [{"apiGroups": [group], "resources": list(resources), "verbs": list(READ_VERBS)}
                      for group, resources in REFRESH_RESOURCES.items()]}
    binding = {"metadata": {"name": REFRESH_GROUP},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": REFRESH_GROUP},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": REFRESH_GROUP}]}
    return role, binding


def kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig from values that never change for a cluster's life, so the Provider is never replaced."""
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                     "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region,
                              "--output", "json"]}}
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "users": [{"name": cluster_name, "user": user}],
    })


def node_group_name(name: str, zone: str, generation: int) -> str:
    """Generation 1 keeps the name node groups had before generations existed, so existing stacks keep theirs."""
    return f"{name}-{zone}" if generation == 1 else f"{name}-{zone}-g{generation}"


# Changing these on a node group replaces it (terraform-provider-aws: ForceNew), and EKS terminates a deleted
# group's nodes whatever the PDBs say: every broker would go at once. They apply when a zone's generation is
# bumped instead: a new group with the new settings, created before the old one is drained and deleted.
REPLACING_FIELDS = ["instanceTypes", "capacityType"]
# cluster.access levels: EKS access policies (the map key keeps existing associations in place)
ACCESS_POLICIES = {"admin": ("cluster-admin", "AmazonEKSClusterAdminPolicy"), "edit": ("edit", "AmazonEKSEditPolicy"),
                   "view": ("view", "AmazonEKSViewPolicy")}
REFRESH_GROUP = "kafka-platform:refresh"  # the `refresh` level: a Kubernetes group bound to read-only verbs
READ_VERBS = ("get", "list", "watch")
GENERATIONS_OUTPUT = "nodeGroupGenerations"  # the stack output the next `up` compares its generations with


def refuse_two_zone_replacements(generations: dict[str, int], previous: dict | None) -> dict[str, int]:
    """A new generation deletes the zone's old group at the end of the `up`, whatever the PDBs say: two zones in
    one `up` would take two brokers at once. Prod replaces one zone per `up` (README "Node groups")."""
    if previous is None:
        pulumi.log.warn(f"no {GENERATIONS_OUTPUT} from this stack's last up: the one-zone-per-up check starts with "
                        "the next one")
    last = previous or {}
    # a new generation replaces a zone's group; a zone left out of network.availabilityZones deletes it
    changed = sorted({zone for zone, generation in generations.items()
                      if zone in last and int(last[zone]) != generation} | (set(last) - set(generations)))
    if len(changed) > 1:
        raise pulumi.RunError(
            f"{PROJECT}:cluster.nodeGroups.generations = {generations}: replaces the node groups of "
            f"{', '.join(changed)} in one up; prod replaces one zone per up, once Kafka is back in sync "
            f"(README \"Node groups\"): keep all but one of them as the last up had them")
    return generations


def node_group_rollout(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """pulumi-eks's ManagedNodeGroup has no updateConfig (pulumi-eks#1147): set it on the aws.eks.NodeGroup it
    creates. At most one node of the group unavailable during an update, and never a replacement by config."""
    if args.type_ != "aws:eks/nodeGroup:NodeGroup":
        return None
    return pulumi.ResourceTransformResult(
        props={**args.props, "updateConfig": {"maxUnavailable": 1}},
        opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=REPLACING_FIELDS)))


def assume_role_policy(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def key_policy(partition: str, account: str, *grants: dict) -> str:
    """The account administers the key through IAM; `grants` name who may use it, and how."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"}, *grants]})


def logs_key_grant(partition: str, region: str, account: str, log_group: str) -> dict:
    """CloudWatch Logs may use the key for this one log group only (its encryption context names it)."""
    return {"Sid": "LogGroupEncrypts", "Effect": "Allow", "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*", "Condition": {"ArnEquals": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:{log_group}"}}}


def volume_key_grants(role_arn: str) -> list[dict]:
    """What the EBS CSI driver needs to create, attach and snapshot volumes under the key (its IAM docs): use,
    and grants only for AWS resources (EC2 attaching the volume to a node)."""
    return [
        {"Sid": "EbsCsiUses", "Effect": "Allow", "Principal": {"AWS": role_arn},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*"},
        {"Sid": "EbsCsiGrantsToEc2", "Effect": "Allow", "Principal": {"AWS": role_arn},
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ]


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, subject: str) -> str:
    """Trust one Kubernetes service account, and only for STS tokens (aud), through the cluster's OIDC issuer."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": oidc_provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{oidc_issuer}:sub": subject, f"{oidc_issuer}:aud": "sts.amazonaws.com"}},
    }]})


@dataclass(frozen=True)
class ClusterArgs:
    config: PlatformConfig
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    private_subnet_ids: Sequence[pulumi.Input[str]]  # one per zone, in config order


class Cluster(pulumi.ComponentResource):
    """EKS with private nodes in every zone, secrets in KMS, audit logs, IRSA and an encrypted gp3 default class."""

    provider: k8s.Provider
    cluster_name: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    storage_class_name: pulumi.Output[str]
    node_security_group_id: pulumi.Output[str]
    ready: pulumi.Resource  # nodes up in every zone and the default StorageClass usable
    node_group_generations: pulumi.Output[dict[str, int]]  # per zone, once its group exists

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:Cluster", name, None, opts)
        cfg, c = args.config, args.config.cluster
        addons = EKS_ADDONS[c.kubernetes_version]  # builds pinned per Kubernetes minor
        child = pulumi.ResourceOptions(parent=self)
        self._partition = aws.get_partition_output().partition  # aws, aws-cn, aws-us-gov
        stateful = pulumi.ResourceOptions(parent=self, protect=cfg.protect)
        tags = {**cfg.tags, "kafka-platform/stack": cfg.stack}

        secrets_key = aws.kms.Key(
            f"{name}-secrets", description=f"EKS secrets envelope encryption for {cfg.name}",
            enable_key_rotation=True, deletion_window_in_days=30, tags=tags, opts=stateful)
        aws.kms.Alias(f"{name}-secrets", name=f"alias/{cfg.name}-eks-secrets", target_key_id=secrets_key.key_id,
                      opts=child)
        # EKS would create this group itself with no expiry and no key of ours; owning it bounds both.
        identity = aws.get_caller_identity_output()
        log_group_name = f"/aws/eks/{cfg.name}/cluster"
        logs_key = self._key(f"{name}-logs", f"EKS control-plane logs of {cfg.name}", f"{cfg.name}-eks-logs",
                             pulumi.Output.all(self._partition, identity.account_id).apply(lambda v: key_policy(
                                 v[0], v[1], logs_key_grant(v[0], cfg.region, v[1], log_group_name))), tags, stateful)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=log_group_name, retention_in_days=c.log_retention_days, kms_key_id=logs_key.arn,
            tags=tags, opts=stateful)

        # Only the identity that creates the cluster is admin by default: every other deployer (CI, people)
        # needs an access entry, or its next `pulumi up` is Unauthorized. Each role gets only its level.
        access_entries = {}
        for role_name, level in c.access.items():
            arn = pulumi.Output.concat("arn:", self._partition, ":iam::", identity.account_id, ":role/", role_name)
            if level == "refresh":  # no EKS policy reads Secrets or custom resources: our own ClusterRole does
                access_entries[role_name] = eks.AccessEntryArgs(principal_arn=arn, kubernetes_groups=[REFRESH_GROUP])
                continue
            key, policy = ACCESS_POLICIES[level]
            access_entries[role_name] = eks.AccessEntryArgs(principal_arn=arn, access_policies={
                key: eks.AccessPolicyAssociationArgs(
                    policy_arn=pulumi.Output.concat("arn:", self._partition, ":eks::aws:cluster-access-policy/", policy),
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"))})

        cluster = eks.Cluster(
            f"{name}-eks",
            name=cfg.name,
            version=c.kubernetes_version,
            vpc_id=args.vpc_id,
            public_subnet_ids=args.public_subnet_ids,
            private_subnet_ids=args.private_subnet_ids,
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=c.endpoint_public_access,
            public_access_cidrs=list(c.public_access_cidrs) or None,
            # API from day one: moving off CONFIG_MAP later is one-way and can force replacement.
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=access_entries or None,
            create_oidc_provider=True,
            encryption_config_key_arn=secrets_key.arn,
            enabled_cluster_log_types=list(c.log_types),
            deletion_protection=cfg.protect,
            skip_default_node_group=True,
            # CoreDNS is our own add-on below, created once the node groups exist: created here, before any
            # node, it stays DEGRADED until the add-on times out (pulumi-eks#1819).
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            # pinned: unpinned, pulumi-eks resolves the newest build on every run and rolls every node's agent
            # enable_network_policy: the CNI's agent enforces NetworkPolicies (eBPF on each pod's interface)
            vpc_cni_options=eks.VpcCniOptionsArgs(addon_version=addons.vpc_cni, enable_network_policy=True),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(version=addons.kube_proxy),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=c.upgrade_policy),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect, depends_on=[log_group]),
        )

        # Endpoint and CA, read back once the cluster exists; they never change for its lifetime.
        info = aws.eks.get_cluster_output(name=cfg.name, opts=pulumi.InvokeOutputOptions(depends_on=[cluster]))
        self.cluster_name = info.name
        self.provider = k8s.Provider(
            f"{name}-k8s",
            # replaced only if this changes: a kubeconfig change must never replace everything on the cluster
            cluster_identifier=cfg.name,
            kubeconfig=pulumi.Output.all(info.name, info.endpoint, info.certificate_authorities).apply(
                lambda v: kubeconfig(v[0], cfg.region, v[1], v[2][0]["data"])),  # output types are dicts
            opts=child)
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_issuer = cluster.oidc_issuer
        # Managed node groups run in the EKS-created cluster security group.
        self.node_security_group_id = info.vpc_config.cluster_security_group_id

        cni_identity = self._cni_identity(name, addons.pod_identity_agent, tags)

        generations = {zone: c.node_groups.generations.get(zone, 1) for zone in cfg.network.availability_zones}
        if cfg.is_prod:  # the groups wait for the check: refused, none of them changes
            generations_checked = last_up_output(f"{name}-last-up", GENERATIONS_OUTPUT, self).apply(
                lambda previous: refuse_two_zone_replacements(generations, previous))
        else:
            generations_checked = pulumi.Output.from_input(generations)
        node_groups = self._node_groups(name, cfg, cluster, args.private_subnet_ids, generations,
                                        generations_checked.apply(lambda _: tags), tags, cni_identity)
        # recorded only once every group exists: a refused or failed update never moves the check's baseline
        self.node_group_generations = pulumi.Output.all(*(g.urn for g in node_groups)).apply(lambda _: generations)
        if c.fargate_namespaces:
            self._fargate(name, cfg, args.private_subnet_ids, tags, depends_on=[cluster])

        # CoreDNS stays on the EC2 node groups: Fargate is never given kube-system (config rule).
        aws.eks.Addon(f"{name}-coredns", cluster_name=self.cluster_name, addon_name="coredns",
                      addon_version=addons.coredns, configuration_values=json.dumps(COREDNS_CONFIGURATION),
                      resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE", tags=tags,
                      opts=pulumi.ResourceOptions(parent=self, depends_on=node_groups))
        ebs_csi_role = self._role(
            f"{name}-ebs-csi",
            pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer).apply(
                lambda v: irsa_trust_policy(v[0], v[1], EBS_CSI_SERVICE_ACCOUNT)),
            ["service-role/AmazonEBSCSIDriverPolicy"], tags)
        volume_key = self._key(f"{name}-volumes", f"EBS volumes of {cfg.name}", f"{cfg.name}-ebs",
                               pulumi.Output.all(self._partition, identity.account_id, ebs_csi_role.arn).apply(
                                   lambda v: key_policy(v[0], v[1], *volume_key_grants(v[2]))), tags, stateful)
        ebs_csi = aws.eks.Addon(
            f"{name}-ebs-csi", cluster_name=self.cluster_name, addon_name="aws-ebs-csi-driver",
            addon_version=addons.ebs_csi, configuration_values=json.dumps(EBS_CSI_CONFIGURATION),
            service_account_role_arn=ebs_csi_role.arn, resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE", tags=tags,
            # its controller needs nodes to schedule on, or the add-on stays DEGRADED
            opts=pulumi.ResourceOptions(parent=self, depends_on=node_groups))

        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-{cfg.storage.class_name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=cfg.storage.class_name,
                # EKS >= 1.30 no longer marks gp2 as default, so this is the only default class.
                annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "kmsKeyId": volume_key.arn,
                        "csi.storage.k8s.io/fstype": "ext4"},
            reclaim_policy=cfg.storage.reclaim_policy,
            # EBS is zonal: bind only once the pod is scheduled, so the volume lands in the pod's zone.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,  # Bitnami cannot change a StatefulSet's volume size; expand PVCs instead
            # parameters are immutable and the name is fixed: a new key replaces the class, old one first
            # (volumes already made keep the key they were made with)
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[ebs_csi],
                                        delete_before_replace=True))
        self.storage_class_name = storage_class.metadata.name
        self.ready = storage_class  # it waits for the EBS CSI add-on, which waits for every node group
        if "refresh" in c.access.values():
            self._refresh_role(name)

        self.register_outputs({
            "cluster_name": self.cluster_name, "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_issuer": self.oidc_issuer, "storage_class_name": self.storage_class_name,
            "node_security_group_id": self.node_security_group_id,
        })

    def _refresh_role(self, name: str) -> None:
        opts = pulumi.ResourceOptions(parent=self, provider=self.provider)
        role, binding = refresh_rbac()
        k8s.rbac.v1.ClusterRole(f"{name}-refresh", metadata=role["metadata"], rules=role["rules"], opts=opts)
        k8s.rbac.v1.ClusterRoleBinding(f"{name}-refresh", metadata=binding["metadata"], role_ref=binding["roleRef"],
                                       subjects=binding["subjects"], opts=opts)

    def _cni_identity(self, name: str, agent_version: str, tags: dict[str, str]) -> pulumi.Resource:
        """aws-node's own role through EKS Pod Identity, so the node role needs no ENI rights. Pod Identity
        needs no OIDC provider, which pulumi-eks creates only after the CNI add-on's inputs are fixed."""
        agent = aws.eks.Addon(f"{name}-pod-identity-agent", cluster_name=self.cluster_name,
                              addon_name="eks-pod-identity-agent", addon_version=agent_version,
                              resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
                              tags=tags, opts=pulumi.ResourceOptions(parent=self))
        role = self._role(f"{name}-vpc-cni", POD_IDENTITY_TRUST, ["AmazonEKS_CNI_Policy"], tags)
        association = aws.eks.PodIdentityAssociation(
            f"{name}-vpc-cni", cluster_name=self.cluster_name, namespace="kube-system", service_account="aws-node",
            role_arn=role.arn, tags=tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[agent]))
        # Running aws-node pods keep the node role's credentials until they restart, so restart them here; the
        # node role's CNI policy is detached at the end of the same `up` (Pulumi deletes last). An association
        # takes seconds to reach EKS's pod webhook ("eventually consistent"), so a pod restarted at once may miss
        # it: a second restart, after the first has rolled through every node, catches those.
        restarted: pulumi.Resource = association
        for round_ in (1, 2):
            restarted = k8s.apps.v1.DaemonSetPatch(
                f"{name}-aws-node-restart" if round_ == 1 else f"{name}-aws-node-restart-{round_}",
                metadata={"name": "aws-node", "namespace": "kube-system"},
                spec={"template": {"metadata": {"annotations": {f"{CNI_CREDENTIALS_ANNOTATION}-{round_}": "pod-identity"}}}},
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[restarted]))
        return restarted

    def _key(self, name: str, description: str, alias: str, policy: pulumi.Input[str], tags: dict[str, str],
             opts: pulumi.ResourceOptions) -> aws.kms.Key:
        """A customer-managed key per stack and purpose: rotated yearly, revocable on its own, protected in prod."""
        key = aws.kms.Key(name, description=description, enable_key_rotation=True, deletion_window_in_days=30,
                          policy=policy, tags=tags, opts=opts)
        aws.kms.Alias(name, name=f"alias/{alias}", target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=self))
        return key

    def _role(self, name: str, trust_policy: pulumi.Input[str], aws_managed_policies: list[str] | tuple[str, ...],
              tags: dict[str, str]) -> aws.iam.Role:
        role = aws.iam.Role(name, assume_role_policy=trust_policy, tags=tags, opts=pulumi.ResourceOptions(parent=self))
        for policy in aws_managed_policies:
            aws.iam.RolePolicyAttachment(f"{name}-{policy.rsplit('/', 1)[-1]}", role=role.name,
                                         policy_arn=pulumi.Output.concat("arn:", self._partition,
                                                                         ":iam::aws:policy/", policy),
                                         opts=pulumi.ResourceOptions(parent=self))
        return role

    def _node_groups(self, name: str, cfg: PlatformConfig, cluster: eks.Cluster,
                     private_subnet_ids: Sequence[pulumi.Input[str]], generations: dict[str, int],
                     group_tags: pulumi.Input[dict[str, str]], tags: dict[str, str],
                     cni_identity: pulumi.Resource) -> list[pulumi.Resource]:
        """One managed node group per zone: a broker can only come back in the zone that holds its volume.
        `group_tags` resolve only once the generations passed their check: refused, no group changes.
        The first group waits for aws-node's own role: a node's CNI gets no ENI rights from the node role."""
        ng = cfg.cluster.node_groups
        role = self._role(f"{name}-nodes", assume_role_policy("ec2.amazonaws.com"),
                          (*NODE_POLICIES, *([SSM_POLICY] if ng.ssm_access else [])), tags)
        template = aws.ec2.LaunchTemplate(
            f"{name}-nodes",
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=ng.disk_size_gb, volume_type="gp3", encrypted="true",
                    delete_on_termination="true"))],
            # IMDSv2 only, hop limit 1: pods cannot borrow the node role's credentials.
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(
                resource_type="instance", tags={**tags, "Name": f"{cfg.name}-node"})],
            tags=tags, opts=pulumi.ResourceOptions(parent=self))
        groups: list[pulumi.Resource] = []
        for zone, subnet_id in zip(cfg.network.availability_zones, private_subnet_ids, strict=True):
            groups.append(eks.ManagedNodeGroup(
                node_group_name(name, zone, generations[zone]),
                cluster=cluster,
                node_role=role,
                subnet_ids=[subnet_id],
                ami_type="AL2023_x86_64_STANDARD",
                # with a custom launch template the group keeps its creation version unless told
                version=cfg.cluster.kubernetes_version,
                instance_types=list(ng.instance_types),
                capacity_type=ng.capacity_type,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=ng.min_size, desired_size=ng.desired_size, max_size=ng.max_size),
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)),
                # no pod schedules before the node's istio-cni agent is ready; istiod removes the taint
                taints=[aws.eks.NodeGroupTaintArgs(key=CNI_NOT_READY_TAINT, effect="NO_SCHEDULE")],
                # an update that cannot drain a node within the PDBs fails rather than evict anyway
                force_update_version=False,
                tags=group_tags,
                # One zone after the other: a version or launch-template change rolls one group at a time,
                # each one node at a time (node_group_rollout), so the PDB and in-sync readiness decide the pace.
                opts=pulumi.ResourceOptions(parent=self, depends_on=groups[-1:] or [cni_identity],
                                            transforms=[node_group_rollout])))
        return groups

    def _fargate(self, name: str, cfg: PlatformConfig, private_subnet_ids: Sequence[pulumi.Input[str]],
                 tags: dict[str, str], depends_on: list[pulumi.Resource]) -> None:
        role = self._role(f"{name}-fargate", assume_role_policy("eks-fargate-pods.amazonaws.com"),
                          ["AmazonEKSFargatePodExecutionRolePolicy"], tags)
        aws.eks.FargateProfile(
            f"{name}-fargate",
            cluster_name=self.cluster_name,
            pod_execution_role_arn=role.arn,
            subnet_ids=private_subnet_ids,  # Fargate accepts private subnets only
            selectors=[aws.eks.FargateProfileSelectorArgs(namespace=ns) for ns in cfg.cluster.fargate_namespaces],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on))
