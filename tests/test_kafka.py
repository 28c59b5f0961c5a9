import pulumi
import pytest
from conftest import load_stack_config, random_id, run_stack

from components.kafka import KRAFT_SECRET, READY_SCRIPT, kraft_directory_id
from components.mesh import pod_security

RELEASE = "kubernetes:helm.sh/v3:Release"
ZONE = "topology.kubernetes.io/zone"


def release(stack):
    return stack.one(RELEASE, "kafka-release")


def values(stack):
    return release(stack).inputs["values"]


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_release_is_the_pinned_bitnami_chart_in_the_meshed_namespace(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    r = release(stack)
    assert (r.inputs["chart"], r.inputs["version"]) == ("oci://registry-1.docker.io/bitnamicharts/kafka", "32.4.3")
    assert (r.inputs["name"], r.inputs["namespace"]) == ("kafka", "kafka")
    assert r.inputs["timeout"] >= 900 and r.inputs["maxHistory"] == 10
    ns = stack.one("kubernetes:core/v1:Namespace", "kafka-namespace")
    assert ns.inputs["metadata"] == {"name": "kafka", "labels": {"istio-injection": "enabled",
                                                                 **pod_security("restricted", "1.35")}}
    assert ns.depends_on(stack.one(RELEASE, "mesh-istiod"))
    assert r.depends_on(ns) and r.depends_on(stack.one("kubernetes:core/v1:Secret", "kafka-sasl-credentials"))


def test_prod_kafka_and_its_secrets_are_protected(prod, dev):
    for name in ("kafka-release", "kafka-cluster-id", "kafka-admin", "kafka-inter-broker", "kafka-controller",
                 "kafka-sasl-credentials", "kafka-namespace", "kafka-kraft-ids",
                 *(f"kafka-controller-{i}-directory-id" for i in range(3))):
        assert prod.named(name).protect, name
        assert not dev.named(name).protect, name


def test_dev_runs_three_combined_nodes(dev):
    v = values(dev)
    assert v["controller"]["replicaCount"] == 3 and v["controller"]["controllerOnly"] is False
    assert v["broker"] == {"replicaCount": 0, "pdb": {"create": False}}


def test_prod_runs_three_dedicated_controllers_and_three_brokers(prod):
    v = values(prod)
    assert v["controller"]["replicaCount"] == 3 and v["controller"]["controllerOnly"] is True
    assert v["broker"]["replicaCount"] == 3


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_kraft_identity_is_generated_once_by_pulumi_and_given_to_the_chart(stack_name, request):
    stack = request.getfixturevalue(stack_name)
    ids = stack.of_type("random:index/randomId:RandomId")
    assert sorted(r.name for r in ids) == ["kafka-cluster-id", *(f"kafka-controller-{i}-directory-id" for i in range(3))]
    assert all(r.inputs["byteLength"] == 16 for r in ids)  # UUIDs, as kafka-storage expects
    secret = stack.one("kubernetes:core/v1:Secret", "kafka-kraft-ids")
    assert secret.inputs["metadata"] == {"name": KRAFT_SECRET, "namespace": "kafka"}
    # the keys the chart's templates read (secrets.yaml, _init_containers.tpl), one directory id per controller
    assert secret.inputs["stringData"] == {
        "cluster-id": random_id("kafka-cluster-id"),
        **{f"controller-{i}-id": random_id(f"kafka-controller-{i}-directory-id") for i in range(3)}}
    v = values(stack)
    assert v["existingKraftSecret"] == KRAFT_SECRET and "clusterId" not in v  # the chart ignores clusterId then
    assert release(stack).depends_on(secret)


def test_a_directory_id_never_starts_with_a_dash_like_kafkas_own():
    assert kraft_directory_id("-bcdefghijklmnopqrstuv") == "Abcdefghijklmnopqrstuv"
    assert kraft_directory_id("abcdefghijklmnopqrstu-") == "abcdefghijklmnopqrstu-"


def test_the_kraft_secret_is_not_the_charts_own_name():
    # the chart renders `kafka-kraft` unless existingKraftSecret is set, and Helm deletes it once it is
    assert KRAFT_SECRET != "kafka-kraft"


@pytest.mark.parametrize("stack_name,role,ready_as", [
    ("dev", "controller", ["broker", "controller"]),  # combined nodes
    ("prod", "controller", ["controller"]),
    ("prod", "broker", ["broker"]),
])
def test_ready_means_in_sync_not_listening(stack_name, role, ready_as, request):
    probe = values(request.getfixturevalue(stack_name))[role]["customReadinessProbe"]
    assert probe["exec"]["command"] == ["/bin/bash", "-c", READY_SCRIPT, "kafka-ready", *ready_as]
    assert probe["timeoutSeconds"] >= 10 and probe["failureThreshold"] * probe["periodSeconds"] >= 30
    assert "{{" not in READY_SCRIPT  # the chart renders customReadinessProbe with tpl


@pytest.mark.parametrize("stack_name,role", [("dev", "controller"), ("prod", "controller"), ("prod", "broker")])
def test_shutdowns_get_kafkas_own_deadline_and_rolls_wait_for_a_settled_pod(stack_name, role, request):
    v = values(request.getfixturevalue(stack_name))[role]
    assert v["terminationGracePeriodSeconds"] == 330  # Kafka's 5-minute shutdown deadline, plus 30 s
    assert v["minReadySeconds"] == 60  # longer than the probe needs to notice a relapse (3 x 10 s)


def test_helm_waits_for_a_whole_roll_before_it_would_roll_back(prod, dev):
    # atomic: a timeout mid-roll would roll back (and restart every node again)
    assert release(prod).inputs["timeout"] == 1800 and release(dev).inputs["timeout"] == 1800


@pytest.mark.parametrize("stack_name,controller_size,broker_size", [("dev", "20Gi", None), ("prod", "20Gi", "500Gi")])
def test_volumes_use_the_cluster_storage_class(stack_name, controller_size, broker_size, request):
    v = values(request.getfixturevalue(stack_name))
    assert v["controller"]["persistence"] == {"enabled": True, "size": controller_size, "storageClass": "gp3-encrypted"}
    if broker_size:
        assert v["broker"]["persistence"] == {"enabled": True, "size": broker_size, "storageClass": "gp3-encrypted"}


@pytest.mark.parametrize("stack_name,auto_create", [("dev", "true"), ("prod", "false")])
def test_durability_settings_reach_server_properties(stack_name, auto_create, request):
    assert values(request.getfixturevalue(stack_name))["overrideConfiguration"].items() >= {
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
        "unclean.leader.election.enable": "false",
        "auto.create.topics.enable": auto_create,
    }.items()


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_acls_decide_and_only_kafka_itself_and_the_platform_admin_are_super_users(stack_name, request):
    settings = values(request.getfixturevalue(stack_name))["overrideConfiguration"]
    assert settings["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert settings["allow.everyone.if.no.acl.found"] == "false"
    assert settings["super.users"] == "User:inter_broker_user;User:controller_user;User:kafka-admin"
    # SCRAM only on the client listener: a rotated password stops working at once (no static PLAIN login)
    assert settings["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert settings["connections.max.reauth.ms"] == "300000"  # a revoked credential is refused within 5 min


def test_the_migration_flag_lets_everyone_use_resources_without_acls():
    stack = run_stack("prod", {"kafka.authorization.allowEveryoneIfNoAcl": True, "kafka.lag.enabled": False})
    assert values(stack)["overrideConfiguration"]["allow.everyone.if.no.acl.found"] == "true"


def test_prod_placement_is_hard_across_zones_and_hosts(prod):
    v = values(prod)
    for role, component in (("controller", "controller-eligible"), ("broker", "broker")):
        (spread,) = v[role]["topologySpreadConstraints"]
        assert spread["topologyKey"] == ZONE and spread["whenUnsatisfiable"] == "DoNotSchedule"
        assert spread["maxSkew"] == 1
        assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        # a dead zone's tainted nodes leave the skew, so its brokers' replacements can schedule elsewhere
        assert spread["nodeTaintsPolicy"] == "Honor" and spread["nodeAffinityPolicy"] == "Honor"
        assert v[role]["podAntiAffinityPreset"] == "hard"
        assert v[role]["pdb"] == {"create": True, "maxUnavailable": 1}


def test_dev_placement_is_soft(dev):
    controller = values(dev)["controller"]
    assert controller["podAntiAffinityPreset"] == "soft"
    assert controller["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "ScheduleAnyway"


def test_prod_brokers_get_their_rack_from_the_zone_label_not_instance_metadata(prod):
    v = values(prod)
    (init,) = v["broker"]["initContainers"]
    assert init["env"] == [
        {"name": "BROKER_RACK", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['topology.kubernetes.io/zone']"}}},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    script = init["args"][0]
    assert "broker.rack=" in script and "169.254.169.254" not in script
    assert "https://kubernetes.default.svc/api/v1/nodes/${NODE_NAME}" in script  # when the pod has no label
    assert "exit 1" in script  # never a broker without a rack
    assert init["volumeMounts"] == [
        {"name": "kafka-config", "mountPath": "/config"},
        {"name": "rack-api-access", "mountPath": "/var/run/secrets/kafka-rack", "readOnly": True}]
    (volume,) = v["broker"]["extraVolumes"]
    assert volume["name"] == "rack-api-access"
    assert volume["projected"]["sources"][0] == {"serviceAccountToken": {"path": "token", "expirationSeconds": 600}}
    assert "initContainers" not in v["controller"]  # controller-only nodes host no replicas
    assert "brokerRackAwareness" not in v


def test_only_kafkas_service_account_may_read_nodes_for_the_rack_lookup(prod):
    role = prod.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "kafka-node-reader")
    assert role.inputs["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
    binding = prod.one("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "kafka-node-reader")
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "kafka", "namespace": "kafka"}]
    assert binding.inputs["roleRef"]["name"] == role.inputs["metadata"]["name"] == "kafka-kafka-node-reader"
    assert release(prod).depends_on(binding)


def test_no_node_access_without_rack_awareness():
    stack = run_stack("dev", {"kafka.rackAwareness": False})
    assert stack.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole") == []
    assert "initContainers" not in values(stack)["controller"]


def test_combined_nodes_carry_the_rack_init_container(dev):
    assert [c["name"] for c in values(dev)["controller"]["initContainers"]] == ["set-broker-rack"]


@pytest.mark.parametrize("stack_name,role,cpu,memory,heap", [
    ("dev", "controller", "250m", "2Gi", "768m"),
    ("prod", "controller", "500m", "2Gi", "1g"),
    ("prod", "broker", "2", "8Gi", "4g"),
])
def test_resources_and_heap_are_explicit(stack_name, role, cpu, memory, heap, request):
    r = values(request.getfixturevalue(stack_name))[role]
    assert r["resources"] == {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}
    assert r["heapOpts"] == f"-Xmx{heap} -Xms{heap}"
    assert "resourcesPreset" not in r


def test_the_chart_keeps_only_the_platform_admin_and_no_password_in_values(prod):
    v = values(prod)
    assert v["listeners"] == {n: {"protocol": "SASL_PLAINTEXT"} for n in ("client", "controller", "interbroker")}
    assert v["sasl"] == {"enabledMechanisms": "PLAIN,SCRAM-SHA-512", "interBrokerMechanism": "PLAIN",
                         "controllerMechanism": "PLAIN", "existingSecret": "kafka-sasl-credentials",
                         "client": {"users": ["kafka-admin"]}}
    secret = prod.one("kubernetes:core/v1:Secret", "kafka-sasl-credentials")
    assert secret.inputs["metadata"] == {"name": "kafka-sasl-credentials", "namespace": "kafka"}
    assert secret.inputs["stringData"] == {
        "client-passwords": "kafka-admin-password", "inter-broker-password": "kafka-inter-broker-password",
        "controller-password": "kafka-controller-password"}
    assert "stringData" in secret.secret_inputs
    # values stay readable in previews, and no password is among them
    assert "values" not in release(prod).secret_inputs
    assert "-password" not in str(values(prod))
    for name in ("kafka-admin", "kafka-inter-broker", "kafka-controller"):
        assert prod.one("random:index/randomPassword:RandomPassword", name).inputs["special"] is False


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_pods_use_native_sidecars_and_expose_metrics_to_istio(stack_name, request):
    v = values(request.getfixturevalue(stack_name))
    roles = ["controller", "broker"] if v["controller"]["controllerOnly"] else ["controller"]
    for role in roles:
        assert v[role]["podAnnotations"] == {
            "sidecar.istio.io/nativeSidecar": "true", "prometheus.io/scrape": "true",
            "prometheus.io/port": "5556", "prometheus.io/path": "/metrics"}
    assert v["provisioning"] == {"enabled": False}  # create-only hook Job: topics are reconciled instead
    assert "sidecar.istio.io/inject" not in str(v)  # no opt-out that STRICT mTLS would reject
    assert v["metrics"]["jmx"]["enabled"] is True


def test_default_images_are_the_frozen_bitnamilegacy_ones(prod):
    v = values(prod)
    assert v["image"] == {"registry": "docker.io", "repository": "bitnamilegacy/kafka", "tag": "4.0.0-debian-12-r10"}
    assert v["metrics"]["jmx"]["image"] == {"registry": "docker.io", "repository": "bitnamilegacy/jmx-exporter",
                                            "tag": "1.4.0-debian-12-r0"}
    assert v["global"] == {"security": {"allowInsecureImages": False}}


def test_a_private_mirror_relocates_every_image_and_passes_the_chart_check():
    stack = run_stack("prod", {"kafka.images.registry": "registry.example.com/mirror"})
    v = values(stack)
    assert v["image"]["registry"] == v["metrics"]["jmx"]["image"]["registry"] == "registry.example.com/mirror"
    assert v["global"]["security"]["allowInsecureImages"] is True


def test_network_policy_admits_only_declared_clients_the_access_job_and_monitoring(prod):
    np = values(prod)["networkPolicy"]
    assert np["enabled"] is True and np["allowExternal"] is False  # else any pod reaches every Kafka port
    clients, job, metrics = np["extraIngress"]
    assert clients == {"from": [{"namespaceSelector": {"matchExpressions": [{
        "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["apps", "kafka-verify", "kminion"]}]}}],
        "ports": [{"port": 9092, "protocol": "TCP"}]}
    assert job == {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "kafka-access"}}}],
                   "ports": [{"port": 9092, "protocol": "TCP"}, {"port": 9094, "protocol": "TCP"}]}
    assert metrics == {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                       "ports": [{"port": 15020, "protocol": "TCP"}]}


def test_a_client_namespace_follows_the_declared_users():
    stack = run_stack("prod", {"kafka.users": [{"name": "orders", "namespace": "shop", "topics": [
        {"topic": "events", "intents": ["produce"]}]}], "mesh.namespaces": ["shop"]})
    (clients, *_) = values(stack)["networkPolicy"]["extraIngress"]
    assert clients["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "kafka-verify", "kminion", "shop"]


def test_jmx_listens_on_loopback_only(prod):
    (jmx,) = [e for e in values(prod)["extraEnvVars"] if e["name"] == "KAFKA_JMX_OPTS"]
    assert "-Dcom.sun.management.jmxremote.host=127.0.0.1" in jmx["value"]
    assert "-Djava.rmi.server.hostname=127.0.0.1" in jmx["value"]
    assert "jmxremote.port" not in jmx["value"]  # kafka-run-class.sh appends the chart's JMX_PORT


@pytest.mark.parametrize("stack_name,hosts", [
    ("dev", ["kafka.kafka.svc.cluster.local", "kafka-controller-headless.kafka.svc.cluster.local"]),
    ("prod", ["kafka.kafka.svc.cluster.local", "kafka-controller-headless.kafka.svc.cluster.local",
              "kafka-broker-headless.kafka.svc.cluster.local"]),
])
def test_destination_rules_name_real_services_with_istio_mutual(stack_name, hosts, request):
    rules = request.getfixturevalue(stack_name).of_type("kubernetes:networking.istio.io/v1:DestinationRule")
    assert sorted(r.inputs["spec"]["host"] for r in rules) == sorted(hosts)
    assert all(r.inputs["spec"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}} for r in rules)
    assert all("*" not in r.inputs["spec"]["host"] for r in rules)


def test_brokers_boot_only_after_their_mtls_and_authorization_exist(prod):
    r = release(prod)
    for kind in ("security.istio.io/v1:PeerAuthentication", "security.istio.io/v1:AuthorizationPolicy",
                 "networking.istio.io/v1:DestinationRule"):
        objects = [o for o in prod.of_type(f"kubernetes:{kind}") if o.parent == r.parent]
        assert objects and all(r.depends_on(o) for o in objects), kind


def test_kafka_namespace_enforces_strict_mtls(prod):
    pa = prod.one("kubernetes:security.istio.io/v1:PeerAuthentication", "kafka-peerauthentication-default")
    assert pa.inputs["metadata"] == {"name": "default", "namespace": "kafka"}
    assert pa.inputs["spec"] == {"mtls": {"mode": "STRICT"}}


def test_mesh_lets_kafka_itself_everywhere_and_each_declared_client_only_on_9092():
    stack = run_stack("prod", {"mesh.namespaces": ["apps", "billing"], "kafka.users": [
        {"name": "app", "namespace": "apps", "topics": [{"topic": "events", "intents": ["produce"]}]},
        {"name": "invoicer", "namespace": "billing", "serviceAccount": "invoicer",
         "topics": [{"topic": "events", "intents": ["produce"]}]}]})
    policy = stack.one("kubernetes:security.istio.io/v1:AuthorizationPolicy", "kafka-authorizationpolicy-kafka")
    spec = policy.inputs["spec"]
    assert spec["action"] == "ALLOW"
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/name": "kafka", "app.kubernetes.io/instance": "kafka",
                                                "app.kubernetes.io/part-of": "kafka"}}
    sources = [(r["from"][0]["source"], r["to"][0]["operation"]["ports"]) for r in spec["rules"]]
    assert sources == [
        ({"principals": ["cluster.local/ns/kafka/sa/kafka"]}, ["9092", "9093", "9094"]),
        ({"principals": ["cluster.local/ns/kafka/sa/kafka-access"]}, ["9092"]),  # the reconcile Job
        # the verification's client and KMinion: their own service accounts only
        ({"principals": ["cluster.local/ns/billing/sa/invoicer", "cluster.local/ns/kafka-verify/sa/platform-verify",
                         "cluster.local/ns/kminion/sa/kminion"]}, ["9092"]),
        ({"namespaces": ["apps"]}, ["9092"]),
    ]


def test_the_access_job_reaches_the_inter_broker_port_only_while_migrating():
    stack = run_stack("prod", {"kafka.authorization.allowEveryoneIfNoAcl": True, "kafka.lag.enabled": False})
    policy = stack.one("kubernetes:security.istio.io/v1:AuthorizationPolicy", "kafka-authorizationpolicy-kafka")
    (rule,) = [r for r in policy.inputs["spec"]["rules"]
               if r["from"][0]["source"].get("principals") == ["cluster.local/ns/kafka/sa/kafka-access"]]
    assert rule["to"][0]["operation"]["ports"] == ["9092", "9094"]


def test_without_users_only_kafka_and_its_reconciler_are_allowed():
    stack = run_stack("prod", {"kafka.users": [], "kafka.verify.enabled": False, "kafka.lag.enabled": False})
    policy = stack.one("kubernetes:security.istio.io/v1:AuthorizationPolicy", "kafka-authorizationpolicy-kafka")
    assert len(policy.inputs["spec"]["rules"]) == 2


def test_stack_outputs_tell_a_client_where_its_secret_is(prod):
    out = prod.outputs
    assert out["kafkaBootstrapServers"] == "kafka.kafka.svc.cluster.local:9092"
    assert (out["kafkaSaslMechanism"], out["kafkaSecurityProtocol"]) == ("SCRAM-SHA-512", "SASL_PLAINTEXT")
    assert out["kafkaUserSecrets"] == {"app": "apps/kafka-app"}
    assert not [k for k in out if k.startswith("kafka") and "password" in k.lower()]  # only in Secrets and state


# --------------------------------------------------------------------------- removing brokers

PROD_BROKERS = [100, 101, 102]  # dedicated brokers count from the chart's broker.minId


def test_prod_exports_the_broker_ids_that_the_next_up_compares_against(prod):
    assert prod.outputs["kafkaBrokerIds"] == PROD_BROKERS
    ref = prod.one("pulumi:pulumi:StackReference", "kafka-last-up")
    assert ref.inputs["name"] == "organization/kafka-platform/prod"  # the stack itself
    assert ref.parent == prod.one("kafka-platform:index:Kafka").urn


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_the_recorded_ids_are_read_from_the_release_and_match_the_config(stack_name, request):
    from components.kafka import release_broker_ids
    stack = request.getfixturevalue(stack_name)
    config = load_stack_config(stack_name)
    assert release_broker_ids(values(stack)) == list(config.kafka.broker_ids) == stack.outputs["kafkaBrokerIds"]


def test_dev_does_not_read_its_last_up(dev):
    assert not dev.of_type("pulumi:pulumi:StackReference")
    assert dev.outputs["kafkaBrokerIds"] == [0, 1, 2]  # combined nodes count from controller.minId


@pytest.mark.parametrize("last", [None, PROD_BROKERS, [100, 101]])
def test_a_first_up_an_unchanged_count_or_more_brokers_pass(last):
    outputs = {"kafkaBrokerIds": last} if last else {}
    stack = run_stack("prod", last_outputs=outputs)
    assert values(stack)["broker"]["replicaCount"] == 3


def test_prod_refuses_to_drop_brokers_it_was_not_told_were_drained():
    with pytest.raises(pulumi.RunError) as refused:
        run_stack("prod", last_outputs={"kafkaBrokerIds": [100, 101, 102, 103, 104]})
    message = str(refused.value)
    assert message.startswith("kafka-platform:kafka.brokers.replicas = 3: removes broker(s) 103, 104,")
    assert 'README "Removing brokers"' in message and "kafka.drainedBrokers" in message
    reached = refused.value.registered
    assert not [r for r in reached.of_type(RELEASE) if r.name == "kafka-release"]  # the release never changes
    # and the refused run records no new ids: a retry is refused again, not waved through
    assert reached.outputs.get("kafkaBrokerIds") is None


def test_prod_refuses_while_one_removed_broker_is_not_named():
    with pytest.raises(pulumi.RunError, match=r"removes broker\(s\) 104,"):
        run_stack("prod", {"kafka.drainedBrokers": [103]}, last_outputs={"kafkaBrokerIds": [100, 101, 102, 103, 104]})


def test_prod_removes_brokers_named_as_drained():
    stack = run_stack("prod", {"kafka.drainedBrokers": [103, 104]},
                      last_outputs={"kafkaBrokerIds": [100, 101, 102, 103, 104]})
    assert values(stack)["broker"]["replicaCount"] == 3
    assert stack.outputs["kafkaBrokerIds"] == PROD_BROKERS


def test_only_prod_warns_that_it_has_no_baseline_yet(caplog):
    """Pulumi's mock engine logs warnings through Python's logging; the CLI shows them in the preview."""
    run_stack("dev")
    assert not [r for r in caplog.records if "last up" in r.getMessage()]
    run_stack("prod")
    warned = sorted(r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "last up" in r.getMessage())
    assert warned == ["no kafkaBrokerIds from this stack's last up: the broker-removal check starts with the next one",
                      "no nodeGroupGenerations from this stack's last up: the one-zone-per-up check starts with the "
                      "next one"]
    caplog.clear()
    run_stack("prod", last_outputs={"kafkaBrokerIds": [100, 101, 102], "nodeGroupGenerations": {"us-east-1a": 1}})
    assert not [r for r in caplog.records if "last up" in r.getMessage()]
