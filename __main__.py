"""kafka-platform: Kafka on EKS inside an Istio mesh.

    stack config ─▶ Network ─▶ Cluster (EKS, node group per zone, EBS CSI, gp3)
                            └─▶ Mesh (Istio base ─▶ cni ─▶ istiod, STRICT mTLS, default deny)
                                  ├─▶ Kafka (Bitnami KRaft chart in a meshed namespace, SCRAM, ACLs, mTLS rules)
                                  │     └─▶ KafkaAccess (declared users, ACLs, quotas, topics; a reconcile Job)
                                  │           ├─▶ Verification (Jobs: produce/consume, and refusals; `up` fails on one)
                                  │           └─▶ ConsumerLag (KMinion: group lag, end-to-end latency)
                                  ├─▶ Monitoring (kube-prometheus-stack, Kafka alerts, dashboards) ─▶ outputs
                                  └─▶ Isolation (NetworkPolicies: each owned namespace denies, then admits its callers)
"""

import pulumi

from components.access import KafkaAccess, KafkaAccessArgs
from components.cluster import GENERATIONS_OUTPUT, Cluster, ClusterArgs
from components.config import KMINION_NAMESPACE, VERIFY_NAMESPACE, load_config
from components.isolation import Isolation, IsolationArgs
from components.kafka import BROKER_IDS_OUTPUT, SASL_MECHANISM, SECURITY_PROTOCOL, Kafka, KafkaArgs
from components.lag import ConsumerLag, ConsumerLagArgs
from components.mesh import Mesh, MeshArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.verification import Verification, VerificationArgs

config = load_config()  # validates everything before any resource is registered

network = Network("network", NetworkArgs(config=config.network, name=config.name, tags=config.tags))
cluster = Cluster("cluster", ClusterArgs(
    config=config,
    vpc_id=network.vpc_id,
    public_subnet_ids=network.public_subnet_ids,
    private_subnet_ids=network.private_subnet_ids,
))

on_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
mesh = Mesh("mesh", MeshArgs(config=config.mesh, cluster_ready=cluster.ready,
                             platform_namespaces=config.kafka.platform_namespaces, protect=config.protect,
                             kubernetes_version=config.cluster.kubernetes_version), on_cluster)
kafka = Kafka("kafka", KafkaArgs(
    config=config.kafka,
    mesh=mesh,
    storage_class=cluster.storage_class_name,
    monitoring_namespace=config.monitoring.namespace,
    strict_placement=config.is_prod,
    protect=config.protect,
    guard_broker_removal=config.is_prod,  # against this stack's last BROKER_IDS_OUTPUT
), on_cluster)
access = KafkaAccess("kafka-access", KafkaAccessArgs(
    config=config.kafka, kafka=kafka, namespaces=mesh.app_namespaces), on_cluster)
if config.kafka.verify.enabled:  # README "Did it work?"
    verification = Verification("kafka-verify", VerificationArgs(
        config=config.kafka, mesh=config.mesh, kafka=kafka, access=access,
        namespace=mesh.app_namespaces[VERIFY_NAMESPACE]), on_cluster)
    pulumi.export("verificationLogsCommand", verification.logs_command)
if config.kafka.lag.enabled:
    ConsumerLag("kminion", ConsumerLagArgs(
        config=config.kafka, kafka=kafka, access=access, namespace=mesh.app_namespaces[KMINION_NAMESPACE]), on_cluster)
monitoring = Monitoring("monitoring", MonitoringArgs(
    config=config.monitoring,
    alert_receiver=config.alert_receiver,
    mesh=mesh,
    storage_class=cluster.storage_class_name,
    kafka_namespace=config.kafka.namespace,
    kafka_brokers=config.kafka.broker_count,
    lag=config.kafka.lag if config.kafka.lag.enabled else None,
    spread_zones=config.is_prod,
    protect=config.protect,
), on_cluster)

Isolation("isolation", IsolationArgs(
    kafka_namespace=config.kafka.namespace,
    monitoring_namespace=config.monitoring.namespace,
    mesh_namespace=mesh.root_namespace,
    verify_namespace=VERIFY_NAMESPACE if config.kafka.verify.enabled else None,
    kminion_namespace=KMINION_NAMESPACE if config.kafka.lag.enabled else None,
    vpc_cidrs=network.vpc_cidrs,  # the EKS control plane calls webhooks from its ENIs in the VPC
    namespaces=[kafka.namespace_resource, monitoring.namespace_resource, mesh],
), on_cluster)

pulumi.export("environment", config.environment)
pulumi.export("vpcId", network.vpc_id)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export(GENERATIONS_OUTPUT, cluster.node_group_generations)  # read back by the next prod up
pulumi.export("oidcProviderArn", cluster.oidc_provider_arn)
pulumi.export("storageClass", cluster.storage_class_name)
pulumi.export("istioVersion", mesh.istio_version)
pulumi.export("kafkaBootstrapServers", kafka.bootstrap_servers)
pulumi.export(BROKER_IDS_OUTPUT, kafka.broker_ids)  # read back by the next prod up
pulumi.export("kafkaSaslMechanism", SASL_MECHANISM)
pulumi.export("kafkaSecurityProtocol", SECURITY_PROTOCOL)  # inside the mesh's mTLS
pulumi.export("kafkaUserSecrets", access.user_secrets)  # user -> namespace/secret with everything a client needs
pulumi.export("grafanaCommand", monitoring.grafana_command)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)  # a secret
pulumi.export("kubeconfigCommand", pulumi.Output.concat(
    "aws eks update-kubeconfig --region ", config.region, " --name ", cluster.cluster_name))
