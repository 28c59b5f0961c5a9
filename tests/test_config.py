"""Bad stack config fails before any resource exists, with one line naming the key, the value and the rule."""

import pytest
from conftest import DELETE, load_stack_config, run_stack

from components.config import ConfigError

NO_USERS = {"kafka.users": []}  # for cases that replace the topics or namespaces the stack's user needs
USER = {"name": "app", "namespace": "apps", "topics": [{"topic": "events", "intents": ["produce", "consume"]}],
        "consumerGroups": ["app-*"]}
# (stack, overrides, the key the message must name, a fragment of what is allowed[, secret keys])
BAD_INPUTS = {
    "unknown_environment": ("dev", {"environment": "staging"}, "kafka-platform:environment", '"dev", "prod"'),
    "typo_in_section_key": ("dev", {"network.natGateway": "single"}, "kafka-platform:network.natGateway",
                            "unknown key"),
    "unknown_top_level_key": ("dev", {"netwrok": {}}, "kafka-platform:netwrok", "unknown key"),
    "min_above_desired": ("dev", {"cluster.nodeGroups.minSize": 3, "cluster.nodeGroups.desiredSize": 2},
                          "kafka-platform:cluster.nodeGroups.desiredSize", "minSize (3) <= desiredSize"),
    "desired_above_max": ("dev", {"cluster.nodeGroups.maxSize": 1}, "kafka-platform:cluster.nodeGroups.desiredSize",
                          "desiredSize <= maxSize (1)"),
    "zero_min_size": ("dev", {"cluster.nodeGroups.minSize": 0}, "kafka-platform:cluster.nodeGroups.minSize",
                      "at least 1"),
    "size_not_a_number": ("dev", {"cluster.nodeGroups.maxSize": "lots"}, "kafka-platform:cluster.nodeGroups.maxSize",
                          "a whole number"),
    "one_zone": ("dev", {"network.availabilityZones": ["us-east-1a"]}, "kafka-platform:network.availabilityZones",
                 "2 to 4 availability zones"),
    "prod_two_zones": ("prod", {"network.availabilityZones": ["us-east-1a", "us-east-1b"]},
                       "kafka-platform:network.availabilityZones", "prod needs 3 to 4"),
    "zone_outside_region": ("dev", {"network.availabilityZones": ["eu-west-1a", "eu-west-1b"]},
                            "kafka-platform:network.availabilityZones", "region us-east-1"),
    "duplicate_zones": ("dev", {"network.availabilityZones": ["us-east-1a", "us-east-1a"]},
                        "kafka-platform:network.availabilityZones", "distinct zones"),
    "prod_single_nat": ("prod", {"network.natGateways": "single"}, "kafka-platform:network.natGateways",
                        'prod must use "perAz"'),
    "unknown_nat_mode": ("dev", {"network.natGateways": "none"}, "kafka-platform:network.natGateways",
                         '"single", "perAz"'),
    "public_vpc_cidr": ("dev", {"network.vpcCidr": "8.8.0.0/16"}, "kafka-platform:network.vpcCidr", "RFC 1918"),
    "tiny_vpc_cidr": ("dev", {"network.vpcCidr": "10.0.0.0/24"}, "kafka-platform:network.vpcCidr", "/16 to /20"),
    "malformed_vpc_cidr": ("dev", {"network.vpcCidr": "10.0.0.300/16"}, "kafka-platform:network.vpcCidr",
                           "IPv4 CIDR"),
    "existing_vpc_subnets_per_zone": ("dev", {"network.existingVpc": {
        "vpcId": "vpc-0123456789abcdef0", "publicSubnetIds": ["subnet-0123456789abcdef0"],
        "privateSubnetIds": ["subnet-0123456789abcdef1"]}},
        "kafka-platform:network.existingVpc.privateSubnetIds", "one private subnet per availability zone (2)"),
    "existing_vpc_bad_id": ("dev", {"network.existingVpc": {
        "vpcId": "my-vpc", "publicSubnetIds": [], "privateSubnetIds": ["subnet-0123456789abcdef0",
                                                                       "subnet-0123456789abcdef1"]}},
        "kafka-platform:network.existingVpc.vpcId", "vpc-0123456789abcdef0"),
    "kubernetes_too_old": ("dev", {"cluster.kubernetesVersion": "1.32"}, "kafka-platform:cluster.kubernetesVersion",
                           "supported by Istio 1.31"),
    "kubernetes_not_a_version": ("dev", {"cluster.kubernetesVersion": "latest"},
                                 "kafka-platform:cluster.kubernetesVersion", "standard support"),
    "public_endpoint_without_cidrs": ("dev", {"cluster.publicAccessCidrs": []},
                                      "kafka-platform:cluster.publicAccessCidrs", "0.0.0.0/0"),
    "cidrs_without_public_endpoint": ("dev", {"cluster.endpointPublicAccess": False},
                                      "kafka-platform:cluster.publicAccessCidrs", "must be empty"),
    "prod_endpoint_open_to_world": ("prod", {"cluster.publicAccessCidrs": ["0.0.0.0/0"]},
                                    "kafka-platform:cluster.publicAccessCidrs", "whole internet"),
    "access_role_given_as_arn": ("prod", {"cluster.access": {"arn:aws:iam::123:role/x": "admin"}},
                                 "kafka-platform:cluster.access", "not ARNs"),
    "access_unknown_level": ("prod", {"cluster.access": {"KafkaPlatformAdmin": "owner"}},
                             "kafka-platform:cluster.access", 'must be one of "admin", "edit", "view", "refresh"'),
    "retired_admin_role_names": ("prod", {"cluster.adminRoleNames": ["KafkaPlatformAdmin"]},
                                 "kafka-platform:cluster.adminRoleNames", "{KafkaPlatformAdmin: admin} grants what"),
    "unknown_log_type": ("dev", {"cluster.logTypes": ["api", "everything"]}, "kafka-platform:cluster.logTypes",
                         "controllerManager"),
    "prod_without_audit_log": ("prod", {"cluster.logTypes": ["api"]}, "kafka-platform:cluster.logTypes",
                               '"audit"'),
    "odd_log_retention": ("dev", {"cluster.logRetentionDays": 10}, "kafka-platform:cluster.logRetentionDays",
                          "CloudWatch retention"),
    "arm_instance_type": ("dev", {"cluster.nodeGroups.instanceTypes": ["m7g.large"]},
                          "kafka-platform:cluster.nodeGroups.instanceTypes", "x86_64"),
    "unknown_pod_security_level": ("dev", {"mesh.namespacesPodSecurity": "strict"},
                                   "kafka-platform:mesh.namespacesPodSecurity", '"restricted", "baseline", "privileged"'),
    "prod_ssm_access": ("prod", {"cluster.nodeGroups.ssmAccess": True}, "kafka-platform:cluster.nodeGroups.ssmAccess",
                        "prod must be false"),
    "prod_on_spot": ("prod", {"cluster.nodeGroups.capacityType": "SPOT"},
                     "kafka-platform:cluster.nodeGroups.capacityType", 'prod must use "ON_DEMAND"'),
    "tiny_root_disk": ("dev", {"cluster.nodeGroups.diskSizeGb": 8}, "kafka-platform:cluster.nodeGroups.diskSizeGb",
                       "20 to 16384"),
    "fargate_selects_kafka": ("dev", {"cluster.fargateNamespaces": ["batch", "kafka"]},
                              "kafka-platform:cluster.fargateNamespaces", "cannot run Istio sidecars"),
    "fargate_selects_the_verification": ("dev", {"cluster.fargateNamespaces": ["kafka-verify"]},
                                         "kafka-platform:cluster.fargateNamespaces", "cannot select 'kafka-verify'"),
    "fargate_selects_monitoring": ("dev", {"cluster.fargateNamespaces": ["monitoring"]},
                                   "kafka-platform:cluster.fargateNamespaces", "cannot mount EBS volumes"),
    "fargate_selects_istio_system": ("dev", {"cluster.fargateNamespaces": ["istio-system"]},
                                     "kafka-platform:cluster.fargateNamespaces", "'istio-system'"),
    "fargate_selects_meshed_app": ("dev", {**NO_USERS, "mesh.namespaces": ["payments"], "cluster.fargateNamespaces": ["payments"]},
                                   "kafka-platform:cluster.fargateNamespaces", "cannot select 'payments'"),
    "fargate_selects_renamed_kafka_ns": ("dev", {"kafka.namespace": "streaming",
                                                 "cluster.fargateNamespaces": ["streaming"]},
                                         "kafka-platform:cluster.fargateNamespaces", "cannot select 'streaming'"),
    "fargate_selects_kube_system": ("dev", {"cluster.fargateNamespaces": ["kube-system"]},
                                    "kafka-platform:cluster.fargateNamespaces", "CoreDNS"),
    "prod_unprotected": ("prod", {"protect": False}, "kafka-platform:protect", "prod must protect"),
    "prod_deletes_volumes": ("prod", {"storage.reclaimPolicy": "Delete"}, "kafka-platform:storage.reclaimPolicy",
                             '"Retain"'),
    "unknown_mtls_mode": ("dev", {"mesh.mtlsMode": "MUTUAL"}, "kafka-platform:mesh.mtlsMode",
                          '"STRICT", "PERMISSIVE", "DISABLE"'),
    "prod_permissive_mtls": ("prod", {"mesh.mtlsMode": "PERMISSIVE"}, "kafka-platform:mesh.mtlsMode",
                             'prod must use "STRICT"'),
    "prod_mtls_disabled": ("prod", {"mesh.mtlsMode": "DISABLE"}, "kafka-platform:mesh.mtlsMode",
                           'prod must use "STRICT"'),
    "istio_version_range": ("dev", {"mesh.istioVersion": "1.31"}, "kafka-platform:mesh.istioVersion",
                            "exact 1.31.x release"),
    "istio_1_30": ("dev", {"mesh.istioVersion": "1.30.5"}, "kafka-platform:mesh.istioVersion",
                   "older charts pull from retired hosts"),
    "kubernetes_1_34": ("prod", {"cluster.kubernetesVersion": "1.34"}, "kafka-platform:cluster.kubernetesVersion",
                        "standard support for 1.34 ends on 2026-12-02"),
    "upgrade_policy_unknown": ("prod", {"cluster.upgradePolicy": "AUTO"}, "kafka-platform:cluster.upgradePolicy",
                               '"STANDARD", "EXTENDED"'),
    "image_hub_with_scheme": ("dev", {"mesh.imageHub": "https://docker.io/istio"}, "kafka-platform:mesh.imageHub",
                              "registry host and repository path"),
    "image_hub_bare_name": ("dev", {"mesh.imageHub": "istio"}, "kafka-platform:mesh.imageHub",
                            "registry host and repository path"),
    "image_hub_with_tag": ("dev", {"mesh.imageHub": "docker.io/istio:1.31.1"}, "kafka-platform:mesh.imageHub",
                           "without a scheme or tag"),
    "image_hub_retired": ("prod", {"mesh.imageHub": "gcr.io/istio-release"}, "kafka-platform:mesh.imageHub",
                          "retired by Istio"),
    "image_hub_retired_registry": ("prod", {"mesh.imageHub": "registry.istio.io/release"},
                                   "kafka-platform:mesh.imageHub", "retired by Istio"),
    "image_hub_retired_with_port": ("prod", {"mesh.imageHub": "registry.istio.io:443/release"},
                                    "kafka-platform:mesh.imageHub", "retired by Istio"),
    "image_hub_trailing_newline": ("dev", {"mesh.imageHub": "docker.io/istio\n"}, "kafka-platform:mesh.imageHub",
                                   "registry host and repository path"),
    "istio_version_latest": ("dev", {"mesh.istioVersion": "latest"}, "kafka-platform:mesh.istioVersion",
                             "no ranges"),
    "istio_other_minor": ("dev", {"mesh.istioVersion": "1.29.2"}, "kafka-platform:mesh.istioVersion",
                          "checked against 1.31"),
    "prod_single_istiod": ("prod", {"mesh.istiodReplicas": 1}, "kafka-platform:mesh.istiodReplicas",
                           "at least 2"),
    "unknown_outbound_policy": ("dev", {"mesh.outboundTrafficPolicy": "DENY"},
                                "kafka-platform:mesh.outboundTrafficPolicy", '"ALLOW_ANY", "REGISTRY_ONLY"'),
    "istiod_memory_not_a_quantity": ("dev", {"mesh.istiodResources.memory": "2 gigs"},
                                     "kafka-platform:mesh.istiodResources.memory", "Kubernetes quantity"),
    "cpu_limit_below_request": ("dev", {"mesh.istiodResources.cpuLimit": "50m"},
                                "kafka-platform:mesh.istiodResources.cpuLimit", "at least the cpu request (100m)"),
    "kafka_rf_above_brokers": ("dev", {"kafka.replicationFactor": 4}, "kafka-platform:kafka.replicationFactor",
                               "from 1 to the broker count (3)"),
    "prod_rf_two": ("prod", {"kafka.replicationFactor": 2, "kafka.minInsyncReplicas": 1},
                    "kafka-platform:kafka.replicationFactor", "prod needs 3 replicas"),
    "prod_min_isr_equals_rf": ("prod", {"kafka.minInsyncReplicas": 3}, "kafka-platform:kafka.minInsyncReplicas",
                               "2 <= minInsyncReplicas < replicationFactor (3)"),
    "min_isr_zero": ("dev", {"kafka.minInsyncReplicas": 0}, "kafka-platform:kafka.minInsyncReplicas",
                     "from 1 to replicationFactor (3)"),
    "two_controllers": ("dev", {"kafka.controllers.replicas": 2}, "kafka-platform:kafka.controllers.replicas",
                        "must be 3"),
    "prod_one_controller": ("prod", {"kafka.controllers.replicas": 1}, "kafka-platform:kafka.controllers.replicas",
                            "1 is allowed in dev only"),
    "prod_two_brokers": ("prod", {"kafka.brokers.replicas": 2}, "kafka-platform:kafka.brokers.replicas",
                         "at least 3 dedicated brokers"),
    "prod_combined_nodes": ("prod", {"kafka.brokers.replicas": 0}, "kafka-platform:kafka.brokers.replicas",
                            "combined controller+broker nodes, dev only"),
    "heap_over_half_the_memory": ("prod", {"kafka.brokers.heap": "6g"}, "kafka-platform:kafka.brokers.heap",
                                  "at most half of resources.memory (8Gi)"),
    "heap_unparsable": ("dev", {"kafka.controllers.heap": "lots"}, "kafka-platform:kafka.controllers.heap",
                        "JVM size"),
    "negative_volume": ("prod", {"kafka.brokers.storage": "-100Gi"}, "kafka-platform:kafka.brokers.storage",
                        "Kubernetes quantity"),
    "unparsable_volume": ("dev", {"kafka.controllers.storage": "20 gigabytes"},
                          "kafka-platform:kafka.controllers.storage", "such as 100Gi"),
    "tiny_volume": ("dev", {"kafka.controllers.storage": "512Mi"}, "kafka-platform:kafka.controllers.storage",
                    "at least 1Gi"),
    "topic_rf_above_brokers": ("prod", {**NO_USERS, "kafka.topics": [{"name": "orders", "replicationFactor": 5}]},
                               "kafka-platform:kafka.topics[0].replicationFactor", "broker count (3)"),
    "topic_without_name": ("dev", {"kafka.topics": [{"partitions": 3}]}, "kafka-platform:kafka.topics[0].name",
                           "is required"),
    "topic_zero_partitions": ("dev", {"kafka.topics": [{"name": "orders", "partitions": 0}]},
                              "kafka-platform:kafka.topics[0].partitions", "from 1 to 10000"),
    "topic_typo_key": ("dev", {"kafka.topics": [{"name": "orders", "partition": 3}]},
                       "kafka-platform:kafka.topics[0].partition", "unknown key"),
    "duplicate_topics": ("dev", {**NO_USERS, "kafka.topics": [{"name": "a"}, {"name": "a"}]}, "kafka-platform:kafka.topics",
                         "distinct"),
    "image_tag_latest": ("dev", {"kafka.images.kafka": "bitnamilegacy/kafka:latest"},
                         "kafka-platform:kafka.images.kafka", "'latest'"),
    "image_without_tag": ("dev", {"kafka.images.jmxExporter": "bitnamilegacy/jmx-exporter"},
                          "kafka-platform:kafka.images.jmxExporter", "explicit tag"),
    "prod_auto_create_topics": ("prod", {"kafka.autoCreateTopics": True}, "kafka-platform:kafka.autoCreateTopics",
                                "prod must be false"),
    "prod_without_rack_awareness": ("prod", {"kafka.rackAwareness": False}, "kafka-platform:kafka.rackAwareness",
                                    "spread each partition's replicas over zones"),
    "retention_without_unit": ("dev", {"monitoring.retention": "15"}, "kafka-platform:monitoring.retention",
                               "number with a unit"),
    "prometheus_volume_not_a_quantity": ("dev", {"monitoring.prometheus.storage": "100GB"},
                                         "kafka-platform:monitoring.prometheus.storage", "Kubernetes quantity"),
    "alertmanager_volume_not_a_quantity": ("prod", {"monitoring.alertmanager.storage": "ten"},
                                           "kafka-platform:monitoring.alertmanager.storage", "Kubernetes quantity"),
    "zero_prometheus_replicas": ("dev", {"monitoring.prometheus.replicas": 0},
                                 "kafka-platform:monitoring.prometheus.replicas", "from 1 to 5"),
    "prod_single_prometheus": ("prod", {"monitoring.prometheus.replicas": 1},
                               "kafka-platform:monitoring.prometheus.replicas", "from 2 to 5"),
    "prod_single_alertmanager": ("prod", {"monitoring.alertmanager.replicas": 1},
                                 "kafka-platform:monitoring.alertmanager.replicas", "prod runs two"),
    "receiver_url_in_plain_config": ("prod", {"alertReceiver": {"type": "webhook", "url": "https://hooks.example.com/x"}},
                                     "kafka-platform:alertReceiver.url", "must be a secret"),
    "receiver_unknown_type": ("dev", {"alertReceiver": {"type": "pagerduty", "url": "https://x.example.com"}},
                              "kafka-platform:alertReceiver.type", '"slack", "webhook"', ("alertReceiver",)),
    "fargate_selects_renamed_monitoring_ns": ("dev", {"monitoring.namespace": "observability",
                                                      "cluster.fargateNamespaces": ["observability"]},
                                              "kafka-platform:cluster.fargateNamespaces", "cannot select 'observability'"),
    "environment_missing": ("dev", {"environment": DELETE}, "kafka-platform:environment", "is not set"),
    "section_not_an_object": ("dev", {"storage": "gp3"}, "kafka-platform:storage", "must be an object"),
    "tags_not_strings": ("dev", {"tags": {"cost-center": 42}}, "kafka-platform:tags", "a map of strings"),
    "existing_vpc_bad_subnet_id": ("dev", {"network.existingVpc": {
        "vpcId": "vpc-0123456789abcdef0", "publicSubnetIds": ["public-a"],
        "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}},
        "kafka-platform:network.existingVpc.publicSubnetIds", "subnet-0123456789abcdef0"),
    "existing_vpc_without_id": ("dev", {"network.existingVpc": {
        "publicSubnetIds": [], "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}},
        "kafka-platform:network.existingVpc.vpcId", "is required"),
    "no_instance_types": ("dev", {"cluster.nodeGroups.instanceTypes": []},
                          "kafka-platform:cluster.nodeGroups.instanceTypes", "at least one"),
    "generation_for_another_zone": ("dev", {"cluster.nodeGroups.generations": {"us-east-1c": 2}},
                                    "kafka-platform:cluster.nodeGroups.generations.us-east-1c",
                                    "one of network.availabilityZones: us-east-1a, us-east-1b"),
    "generation_zero": ("dev", {"cluster.nodeGroups.generations": {"us-east-1a": 0}},
                        "kafka-platform:cluster.nodeGroups.generations.us-east-1a", "from 1 to 99"),
    "generation_not_a_number": ("dev", {"cluster.nodeGroups.generations": {"us-east-1a": "next"}},
                                "kafka-platform:cluster.nodeGroups.generations", "a map of whole numbers"),
    "drained_broker_still_runs": ("prod", {"kafka.drainedBrokers": [102]}, "kafka-platform:kafka.drainedBrokers",
                                  "runs node ids 100-102, so a drained broker is 103 or above"),
    "drained_broker_not_a_broker_id": ("prod", {"kafka.drainedBrokers": [7]}, "kafka-platform:kafka.drainedBrokers",
                                       "must name only brokers this config removes"),
    "drained_broker_listed_twice": ("prod", {"kafka.drainedBrokers": [103, 103]},
                                    "kafka-platform:kafka.drainedBrokers", "must not repeat an entry"),
    "unknown_capacity_type": ("dev", {"cluster.nodeGroups.capacityType": "RESERVED"},
                              "kafka-platform:cluster.nodeGroups.capacityType", '"ON_DEMAND", "SPOT"'),
    "max_size_out_of_range": ("dev", {"cluster.nodeGroups.maxSize": 500}, "kafka-platform:cluster.nodeGroups.maxSize",
                              "from 1 to 100"),
    "malformed_public_cidr": ("dev", {"cluster.publicAccessCidrs": ["my office"]},
                              "kafka-platform:cluster.publicAccessCidrs", "IPv4 CIDRs"),
    "too_many_fargate_namespaces": ("dev", {"cluster.fargateNamespaces": ["a", "b", "c", "d", "e", "f"]},
                                    "kafka-platform:cluster.fargateNamespaces", "at most 5"),
    "storage_class_name_not_a_label": ("dev", {"storage.className": "GP3_Encrypted"},
                                       "kafka-platform:storage.className", "DNS label"),
    "unknown_reclaim_policy": ("dev", {"storage.reclaimPolicy": "Recycle"}, "kafka-platform:storage.reclaimPolicy",
                               '"Retain", "Delete"'),
    "access_logging_not_a_flag": ("dev", {"mesh.accessLogging": "sometimes"}, "kafka-platform:mesh.accessLogging",
                                  "true or false"),
    "istiod_replicas_out_of_range": ("dev", {"mesh.istiodReplicas": 0}, "kafka-platform:mesh.istiodReplicas",
                                     "from 1 to 10"),
    "meshed_namespace_not_a_label": ("dev", {"mesh.namespaces": ["Payments"]}, "kafka-platform:mesh.namespaces",
                                     "namespace names"),
    "kafka_namespace_not_a_label": ("dev", {"kafka.namespace": "kafka_ns"}, "kafka-platform:kafka.namespace",
                                    "DNS label"),
    "image_registry_with_scheme": ("dev", {"kafka.images.registry": "https://docker.io"},
                                   "kafka-platform:kafka.images.registry", "registry host"),
    "topic_config_not_strings": ("dev", {"kafka.topics": [{"name": "orders", "config": {"retention.ms": 1000}}]},
                                 "kafka-platform:kafka.topics[0].config", "a map of strings"),
    "receiver_url_not_https": ("dev", {"alertReceiver": {"type": "webhook", "url": "http://hooks.example.com"}},
                               "kafka-platform:alertReceiver.url", "https://", ("alertReceiver",)),
    "receiver_without_url": ("dev", {"alertReceiver": {"type": "webhook"}}, "kafka-platform:alertReceiver.url",
                             "is required", ("alertReceiver",)),
    "slack_channel_without_hash": ("dev", {"alertReceiver": {"type": "slack", "url": "https://hooks.slack.com/x",
                                                             "channel": "kafka"}},
                                   "kafka-platform:alertReceiver.channel", "#kafka-alerts", ("alertReceiver",)),
    "channel_on_a_webhook": ("dev", {"alertReceiver": {"type": "webhook", "url": "https://hooks.example.com",
                                                       "channel": "#kafka"}},
                             "kafka-platform:alertReceiver.channel", 'only used with type "slack"', ("alertReceiver",)),
    "monitoring_in_the_kafka_namespace": ("dev", {"monitoring.namespace": "kafka"},
                                          "kafka-platform:monitoring.namespace", "already used by kafka.namespace"),
    "meshed_app_namespace_is_istio_system": ("dev", {**NO_USERS, "mesh.namespaces": ["istio-system"]},
                                             "kafka-platform:mesh.namespaces", "already used by Istio"),
    "topic_min_isr_above_its_rf": ("dev", {**NO_USERS, "kafka.topics": [{"name": "orders", "replicationFactor": 2,
                                                             "config": {"min.insync.replicas": "3"}}]},
                                   "kafka-platform:kafka.topics[0].config", "must not exceed the topic's "
                                   "replicationFactor (2)"),
    "no_region": ("dev", {"aws:region": DELETE}, "aws:region", "is not set"),
    # semantic rules: values that type-check but mean something else in Kubernetes, AWS, Istio or Kafka
    "memory_in_millibytes": ("prod", {"kafka.brokers.resources.memory": "8192m"},
                             "kafka-platform:kafka.brokers.resources.memory", "thousandths of a byte"),
    "cpu_in_bytes": ("dev", {"mesh.istiodResources.cpu": "2Gi"}, "kafka-platform:mesh.istiodResources.cpu",
                     "not bytes"),
    "volume_beyond_gp3": ("prod", {"kafka.brokers.storage": "20Ti"}, "kafka-platform:kafka.brokers.storage",
                          "at most 16Ti"),
    "kafka_in_kube_system": ("dev", {"kafka.namespace": "kube-system"}, "kafka-platform:kafka.namespace",
                             "owned by Kubernetes, EKS or Istio"),
    "monitoring_in_default": ("dev", {"monitoring.namespace": "default"}, "kafka-platform:monitoring.namespace",
                              "owned by Kubernetes, EKS or Istio"),
    "meshed_kube_public": ("dev", {**NO_USERS, "mesh.namespaces": ["kube-public"]}, "kafka-platform:mesh.namespaces",
                           "owned by Kubernetes, EKS or Istio"),
    "prod_more_prometheus_than_zones": ("prod", {"monitoring.prometheus.replicas": 4},
                                        "kafka-platform:monitoring.prometheus.replicas", "one per zone"),
    "prod_more_brokers_than_nodes": ("prod", {"kafka.brokers.replicas": 13}, "kafka-platform:kafka.brokers.replicas",
                                     "at most 12 nodes can exist"),
    "prod_topic_min_isr_below_cluster": ("prod", {**NO_USERS, "kafka.topics": [{"name": "orders",
                                                                    "config": {"min.insync.replicas": "1"}}]},
                                         "kafka-platform:kafka.topics[0].config", "min.insync.replicas >= 2"),
    "prod_topic_unclean_election": ("prod", {**NO_USERS, "kafka.topics": [{"name": "orders", "config": {
        "unclean.leader.election.enable": "true"}}]}, "kafka-platform:kafka.topics[0].config",
        "must not enable unclean.leader.election.enable"),
    "prod_topic_fewer_replicas": ("prod", {**NO_USERS, "kafka.topics": [{"name": "orders", "replicationFactor": 2}]},
                                  "kafka-platform:kafka.topics[0].replicationFactor", "cluster's replicationFactor (3)"),
    "topic_setting_typo": ("dev", {**NO_USERS, "kafka.topics": [{"name": "orders", "config": {"retention.msec": "1000"}}]},
                           "kafka-platform:kafka.topics[0].config", "retention.msec is not a Kafka 4.0 topic setting"),
    "prod_cidrs_cover_the_internet": ("prod", {"cluster.publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
                                      "kafka-platform:cluster.publicAccessCidrs", "cover 0.0.0.0/0"),
    "image_with_a_registry": ("dev", {"kafka.images.kafka": "docker.io/bitnamilegacy/kafka:4.0.0-debian-12-r10"},
                              "kafka-platform:kafka.images.kafka", "must not name a registry"),
    "aws_tag_prefix": ("dev", {"tags": {"aws:owner": "me"}}, "kafka-platform:tags", "not start with aws:"),
    "stack_set_in_config": ("dev", {"stack": "prod"}, "kafka-platform:stack", "comes from Pulumi"),
    "duplicate_cidrs": ("dev", {"cluster.publicAccessCidrs": ["203.0.113.0/24", "203.0.113.0/24"]},
                        "kafka-platform:cluster.publicAccessCidrs", "must not repeat an entry"),
    "duplicate_log_types": ("dev", {"cluster.logTypes": ["api", "api"]}, "kafka-platform:cluster.logTypes",
                            "must not repeat an entry"),
    "duplicate_fargate_namespaces": ("dev", {"cluster.fargateNamespaces": ["batch", "batch"]},
                                     "kafka-platform:cluster.fargateNamespaces", "must not repeat an entry"),
    "duplicate_meshed_namespaces": ("dev", {"mesh.namespaces": ["apps", "apps"]}, "kafka-platform:mesh.namespaces",
                                    "must not repeat an entry"),
    "tag_value_too_long": ("dev", {"tags": {"owner": "x" * 257}}, "kafka-platform:tags", "at most 256"),
    "topic_min_isr_not_a_number": ("dev", {**NO_USERS, "kafka.topics": [{"name": "orders", "config": {"min.insync.replicas": "two"}}]},
                                   "kafka-platform:kafka.topics[0].config", "min.insync.replicas must be a whole number"),
    # the access model
    "retired_client_users": ("dev", {"kafka.clientUsers": ["app"]}, "kafka-platform:kafka.clientUsers",
                             "is replaced by kafka.users"),
    "retired_client_namespaces": ("dev", {"kafka.clientNamespaces": ["apps"]}, "kafka-platform:kafka.clientNamespaces",
                                  "is replaced by kafka.users"),
    "retired_client_service_accounts": ("dev", {"kafka.clientServiceAccounts": ["apps/x"]},
                                        "kafka-platform:kafka.clientServiceAccounts", "is replaced by kafka.users"),
    # the verification (kafka.verify)
    "verify_records_zero": ("dev", {"kafka.verify.records": 0}, "kafka-platform:kafka.verify.records",
                            "must be from 1 to 10000"),
    "verify_records_too_many": ("dev", {"kafka.verify.records": 10001}, "kafka-platform:kafka.verify.records",
                                "must be from 1 to 10000"),
    "verify_enabled_not_a_bool": ("dev", {"kafka.verify.enabled": "sometimes"}, "kafka-platform:kafka.verify.enabled",
                                  "must be true or false"),
    "user_named_like_the_verification": ("dev", {"kafka.users": [USER | {"name": "platform-verify"}]},
                                         "kafka-platform:kafka.users[0].name", "the platform's own user"),
    "user_named_like_the_no_acl_user": ("dev", {"kafka.users": [USER | {"name": "platform-verify-no-acl"}]},
                                        "kafka-platform:kafka.users[0].name", "the platform's own user"),
    "user_groups_overlap_the_verification": ("dev", {"kafka.users": [USER | {"consumerGroups": ["platform-*"]}]},
                                             "kafka-platform:kafka.users[0].consumerGroups",
                                             "overlaps the platform's own groups"),
    "user_grant_covers_the_verification_topic": (
        "dev", {"kafka.users": [USER | {"topics": [{"topic": "plat*", "intents": ["consume"]}]}]},
        "kafka-platform:kafka.users[0].topics[0].topic", "covers the platform's own topics"),
    "topic_named_like_the_verification": ("dev", {**NO_USERS, "kafka.topics": [{"name": "platform-verify"}]},
                                          "kafka-platform:kafka.topics[0].name", "the platform's own topic"),
    "meshed_namespace_of_the_verification": ("dev", {"mesh.namespaces": ["apps", "kafka-verify"]},
                                             "kafka-platform:mesh.namespaces", "already used by the verification"),
    "kafka_in_the_verification_namespace": ("dev", {"kafka.namespace": "kafka-verify"},
                                            "kafka-platform:kafka.namespace", "already used by the verification"),
    # KMinion (kafka.lag)
    "lag_threshold_zero": ("dev", {"kafka.lag.maxLag": 0}, "kafka-platform:kafka.lag.maxLag", "must be at least 1"),
    "lag_growing_for_not_a_duration": ("dev", {"kafka.lag.growingFor": "15 minutes"}, "kafka-platform:kafka.lag.growingFor",
                                       "must be a duration such as 15m"),
    "lag_end_to_end_above_the_probe_sla": ("dev", {"kafka.lag.maxEndToEndSeconds": 30},
                                           "kafka-platform:kafka.lag.maxEndToEndSeconds", "at most 20"),
    "lag_end_to_end_zero": ("dev", {"kafka.lag.maxEndToEndSeconds": 0}, "kafka-platform:kafka.lag.maxEndToEndSeconds",
                            "greater than 0"),
    "lag_while_migrating_authorization": ("dev", {"kafka.authorization.allowEveryoneIfNoAcl": True},
                                          "kafka-platform:kafka.lag.enabled", "must be false while"),
    "user_named_like_kminion": ("dev", {"kafka.users": [USER | {"name": "platform-kminion"}]},
                                "kafka-platform:kafka.users[0].name", "the platform's own user"),
    "topic_named_like_kminions": ("dev", {**NO_USERS, "kafka.topics": [{"name": "platform-kminion-end-to-end"}]},
                                  "kafka-platform:kafka.topics[0].name", "the platform's own topic"),
    "user_groups_overlap_kminions": ("dev", {"kafka.users": [USER | {"consumerGroups": ["platform-kminion-end-*"]}]},
                                     "kafka-platform:kafka.users[0].consumerGroups", "overlaps the platform's own groups"),
    "meshed_namespace_of_kminion": ("dev", {"mesh.namespaces": ["apps", "kminion"]}, "kafka-platform:mesh.namespaces",
                                    "already used by KMinion"),
    "user_unknown_intent": ("dev", {"kafka.users": [USER | {"topics": [{"topic": "events", "intents": ["write"]}]}]},
                            "kafka-platform:kafka.users[0].topics[0].intents", '"produce", "consume", "admin"'),
    "user_grant_to_an_undeclared_topic": ("dev", {"kafka.users": [USER | {"topics": [
        {"topic": "orders", "intents": ["produce"]}]}]}, "kafka-platform:kafka.users[0].topics[0].topic",
        "is not a declared topic"),
    "user_in_an_unmeshed_namespace": ("dev", {"kafka.users": [USER | {"namespace": "payments"}]},
                                      "kafka-platform:kafka.users[0].namespace", "is not meshed"),
    "duplicate_users": ("dev", {"kafka.users": [USER, USER]}, "kafka-platform:kafka.users", "must be distinct"),
    "user_named_like_the_admin": ("dev", {"kafka.users": [USER | {"name": "kafka-admin"}]},
                                  "kafka-platform:kafka.users[0].name", "platform's own user"),
    "user_name_not_dns": ("dev", {"kafka.users": [USER | {"name": "App_1"}]}, "kafka-platform:kafka.users[0].name",
                          "lowercase DNS name"),
    "user_without_grants": ("dev", {"kafka.users": [USER | {"topics": []}]}, "kafka-platform:kafka.users[0].topics",
                            "at least one"),
    "consume_without_groups": ("dev", {"kafka.users": [USER | {"consumerGroups": []}]},
                               "kafka-platform:kafka.users[0].consumerGroups", "at least one group"),
    "transactions_without_produce": ("dev", {"kafka.users": [USER | {
        "topics": [{"topic": "events", "intents": ["consume"]}], "transactionalIds": ["app-tx"]}]},
        "kafka-platform:kafka.users[0].transactionalIds", "needs a grant that says produce"),
    "user_quota_too_small": ("dev", {"kafka.users": [USER | {"quotas": {"producerByteRate": 10}}]},
                             "kafka-platform:kafka.users[0].quotas.producerByteRate", "at least 1024"),
    "user_typo_key": ("dev", {"kafka.users": [USER | {"serviceAcount": "app"}]},
                      "kafka-platform:kafka.users[0].serviceAcount", "unknown key"),
    "deleted_topic_still_granted": ("dev", {"kafka.topics": [{"name": "events", "delete": True}]},
                                    "kafka-platform:kafka.topics[0].delete", "still granted"),
    "topic_setting_with_a_list": ("dev", {"kafka.topics": [{"name": "events", "config": {
        "cleanup.policy": "compact,delete"}}]}, "kafka-platform:kafka.topics[0].config", "one value"),
    # wrong types get the standard message, never a traceback
    "kubernetes_version_as_number": ("dev", {"cluster.kubernetesVersion": 1.35},
                                     "kafka-platform:cluster.kubernetesVersion", "quote it"),
    "image_hub_as_number": ("dev", {"mesh.imageHub": 5}, "kafka-platform:mesh.imageHub", "must be a string"),
    "topics_as_a_string": ("dev", {"kafka.topics": "events"}, "kafka-platform:kafka.topics", "must be a list"),
    "zones_as_a_string": ("dev", {"network.availabilityZones": "us-east-1a"},
                          "kafka-platform:network.availabilityZones", "must be a list"),
    "role_as_a_number": ("dev", {"kafka.controllers": 3}, "kafka-platform:kafka.controllers", "must be an object"),
    "tags_as_a_list": ("dev", {"tags": ["owner"]}, "kafka-platform:tags", "must be a map of strings"),
    "zone_as_a_number": ("dev", {"network.availabilityZones": ["us-east-1a", 7]},
                         "kafka-platform:network.availabilityZones", "a list of strings"),
    "replicas_as_a_list": ("dev", {"mesh.istiodReplicas": [1]}, "kafka-platform:mesh.istiodReplicas",
                           "a whole number"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_before_any_resource(case):
    stack, overrides, key, allowed, *secrets = BAD_INPUTS[case]
    with pytest.raises(ConfigError) as err:
        registered = run_stack(stack, overrides, secrets=secrets[0] if secrets else ())
        pytest.fail(f"accepted; registered {len(registered)} resources")
    assert len(err.value.problems) == 1, err.value.problems
    (problem,) = err.value.problems
    assert problem.startswith(key + " ") or problem.startswith(key + " is not set"), problem
    assert allowed in problem, problem


@pytest.mark.parametrize("url,secrets", [("https://hooks.example.com/token", ()),
                                         ("http://hooks.example.com/token", ("alertReceiver",))])
def test_a_receiver_url_is_never_echoed_in_the_error(url, secrets):
    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", {"alertReceiver": {"type": "webhook", "url": url}}, secrets=secrets)
    assert "hooks.example.com/token" not in str(err.value) and "alertReceiver.url = (not shown)" in str(err.value)


def test_a_secret_receiver_url_is_accepted():
    cfg = load_stack_config("prod", {"alertReceiver": {"type": "slack", "url": "https://hooks.slack.com/services/x",
                                                       "channel": "#kafka"}}, secrets=("alertReceiver",))
    assert cfg.alert_receiver.type == "slack"


def test_nothing_is_registered_before_a_config_error(monkeypatch):
    import conftest

    registered = []
    original = conftest.RecordingMonitor.RegisterResource
    monkeypatch.setattr(conftest.RecordingMonitor, "RegisterResource",
                        lambda self, req: registered.append(req.type) or original(self, req))
    with pytest.raises(ConfigError):
        run_stack("dev", {"cluster.fargateNamespaces": ["kafka"]})
    assert [t for t in registered if t != "pulumi:pulumi:Stack"] == []


def test_message_shows_the_bad_value():
    with pytest.raises(ConfigError) as err:
        load_stack_config("dev", {"cluster.nodeGroups.maxSize": 1})
    assert "kafka-platform:cluster.nodeGroups.desiredSize = 2: must satisfy" in str(err.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", {"network.natGateways": "single", "protect": False})
    keys = sorted(p.split(" ")[0] for p in err.value.problems)
    assert keys == ["kafka-platform:network.natGateways", "kafka-platform:protect"]


def test_defaults_are_secure_when_a_section_is_omitted():
    cfg = load_stack_config("prod", {"storage": DELETE, "cluster.logTypes": DELETE})
    assert cfg.storage.reclaim_policy == "Retain"
    assert "audit" in cfg.cluster.log_types


def test_json_numbers_and_string_flags_are_accepted():
    cfg = load_stack_config("dev", {"cluster.nodeGroups.maxSize": 3.0, "protect": "false"})
    assert cfg.cluster.node_groups.max_size == 3 and cfg.protect is False


def test_fargate_may_select_an_unmeshed_namespace():
    cfg = load_stack_config("dev", {"cluster.fargateNamespaces": ["batch-jobs"]})
    assert cfg.cluster.fargate_namespaces == ("batch-jobs",)


def test_dev_may_relax_mtls_for_a_migration():
    assert load_stack_config("dev", {"mesh.mtlsMode": "PERMISSIVE"}).mesh.mtls_mode == "PERMISSIVE"


def test_a_secret_is_never_echoed_even_under_a_misspelt_key():
    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", {"alertReceiver": {"type": "webhook", "urll": "https://hooks.example.com/token"}},
                          secrets=("alertReceiver",))
    assert "hooks.example.com/token" not in str(err.value)
    assert any(p.startswith("kafka-platform:alertReceiver.urll = (not shown): unknown key") for p in err.value.problems)


def test_dependent_rules_stay_quiet_when_their_root_is_wrong():
    # the broker count is wrong, so RF, min ISR, topics and placement are not judged against it
    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", {"kafka.brokers.replicas": "three", "kafka.topics": [{"name": "a", "partitions": 1}]})
    assert [p.split(" ")[0] for p in err.value.problems] == ["kafka-platform:kafka.brokers.replicas"]


def test_problems_in_different_sections_are_reported_together_with_type_errors():
    with pytest.raises(ConfigError) as err:
        load_stack_config("prod", {"mesh.istiodReplicas": "two", "storage.reclaimPolicy": "Delete",
                                   "network.natGateways": "single"})
    assert sorted(p.split(" ")[0] for p in err.value.problems) == [
        "kafka-platform:mesh.istiodReplicas", "kafka-platform:network.natGateways", "kafka-platform:storage.reclaimPolicy"]


def test_the_config_is_immutable():
    cfg = load_stack_config("prod")
    with pytest.raises(ValueError):
        cfg.kafka.replication_factor = 1


def _every_key():
    from components.config_docs import rows

    return [row["key"] for row in rows() if "[]" not in row["key"]] + ["kafka.topics[0].name",
                                                                         "kafka.topics[0].config"]


@pytest.mark.parametrize("wrong", [1.5, ["x"], {"a": 1}, True, "", None], ids=repr)
def test_a_wrong_type_anywhere_gets_the_standard_message_never_a_traceback(wrong):
    base = {"kafka.topics": [{"name": "orders"}], "alertReceiver": {"type": "webhook", "url": "https://x.example.com"}}
    for key in _every_key():
        overrides = dict(base)
        if key.startswith("kafka.topics[0]."):
            overrides["kafka.topics"] = [{"name": "orders", key.rsplit(".", 1)[1]: wrong}]
        else:
            overrides[key] = wrong
        try:
            load_stack_config("prod", overrides, secrets=("alertReceiver",))
        except ConfigError as err:
            assert all(p.startswith(("kafka-platform:", "aws:")) and ": " in p for p in err.problems), (key, err)
