"""Kafka access as code: declared users, ACLs, quotas and topics, reconciled inside the cluster on every `up`.

`user_acls()` and `declaration()` turn the config into plain data (Strimzi's KafkaUser/KafkaTopic, simple
authorization): each user entry becomes a SCRAM user, its ACLs and quotas, a Secret in its own namespace,
and (in kafka.py) its rule in the mesh's AuthorizationPolicy. The `KafkaAccess` component wires that data to a Job that runs
scripts/reconcile_access.sh with the Kafka 4.0 CLI from the pinned image; Pulumi awaits it, so a failed
change fails `pulumi up`. The Job's name carries a hash of everything it applies, so it runs again exactly
when the declaration, the script or the Kafka release changes.
"""

from __future__ import annotations

import functools
import hashlib
import pathlib
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .config import ADMIN_USER, INTERNAL_USERS, KMINION_GROUPS, KMINION_USER, PLATFORM_USERS, KafkaConfig, KafkaUser
from .jobs import pod
from .kafka import INTERBROKER_PORT, NATIVE_SIDECAR, RECONCILER, RELEASE, SASL_MECHANISM, SECURITY_PROTOCOL, Kafka

SCRIPT = (pathlib.Path(__file__).parent / "scripts" / "reconcile_access.sh").read_text()

# What each intent may do (Kafka operations). Topic settings, partitions and deletion stay the platform's:
# no intent grants Alter, AlterConfigs or Delete on a topic, so no client can undo the durability rules.
INTENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "produce": {"TOPIC": ("WRITE", "DESCRIBE")},
    "consume": {"TOPIC": ("READ", "DESCRIBE"), "GROUP": ("READ",)},
    "admin": {"TOPIC": ("DESCRIBE", "DESCRIBE_CONFIGS"), "GROUP": ("DESCRIBE", "DELETE")},
}
TRANSACTIONS = ("WRITE", "DESCRIBE")
QUOTA_KEYS = {"producer_byte_rate": "producer_byte_rate", "consumer_byte_rate": "consumer_byte_rate",
              "request_percentage": "request_percentage"}


@dataclass(frozen=True, order=True)
class Acl:
    user: str
    resource_type: str  # TOPIC, GROUP, TRANSACTIONAL_ID
    pattern: str  # LITERAL, PREFIXED
    name: str
    operation: str  # as kafka-acls.sh --list prints it: READ, DESCRIBE_CONFIGS, ...


def _pattern(name: str) -> tuple[str, str]:
    return ("PREFIXED", name[:-1]) if name.endswith("*") else ("LITERAL", name)


def user_acls(user: KafkaUser) -> list[Acl]:
    """The ACLs one user entry expands to."""
    found: set[Acl] = set()
    for grant in user.topics:
        for intent in grant.intents:
            for resource, operations in INTENTS[intent].items():
                names = [grant.topic] if resource == "TOPIC" else list(user.consumer_groups)
                for name in names:
                    pattern, resource_name = _pattern(name)
                    found.update(Acl(user.name, resource, pattern, resource_name, op) for op in operations)
    for transactional_id in user.transactional_ids:
        pattern, resource_name = _pattern(transactional_id)
        found.update(Acl(user.name, "TRANSACTIONAL_ID", pattern, resource_name, op) for op in TRANSACTIONS)
    return sorted(found)


def platform_acls(cfg: KafkaConfig) -> list[Acl]:
    """What no intent grants, for KMinion alone: lag needs every group's committed offsets and every topic's end
    (Describe on all groups and topics), its topic info reads cleanup.policy (DescribeConfigs on topics), the
    log-dir sizes need Describe on the cluster, and it deletes its own stale probe groups. None reads records;
    Describe on the cluster also lets it list ACLs and SCRAM user names (never passwords)."""
    if not cfg.lag.enabled:
        return []
    _, own_groups = _pattern(KMINION_GROUPS)
    return sorted([Acl(KMINION_USER, "CLUSTER", "LITERAL", "kafka-cluster", "DESCRIBE"),
                   Acl(KMINION_USER, "TOPIC", "LITERAL", "*", "DESCRIBE"),
                   Acl(KMINION_USER, "TOPIC", "LITERAL", "*", "DESCRIBE_CONFIGS"),
                   Acl(KMINION_USER, "GROUP", "LITERAL", "*", "DESCRIBE"),
                   Acl(KMINION_USER, "GROUP", "PREFIXED", own_groups, "DELETE")])


def user_quotas(user: KafkaUser) -> str:
    if user.quotas is None:
        return "-"
    values = user.quotas.model_dump(exclude_none=True)
    return ",".join(f"{QUOTA_KEYS[k]}={v}" for k, v in sorted(values.items())) or "-"


def declaration(cfg: KafkaConfig) -> str:
    """The tab-separated lines reconcile_access.sh reads: the whole desired state, in a stable order."""
    users = cfg.access_users  # the declared ones and, while it is on, the verification's
    lines = [f"user\t{u.name}\t{user_quotas(u)}" for u in sorted(users, key=lambda u: u.name)]
    lines += ["acl\t" + "\t".join((a.user, a.resource_type, a.pattern, a.name, a.operation))
              for a in [*(a for u in users for a in user_acls(u)), *platform_acls(cfg)]]
    for topic in sorted(cfg.access_topics, key=lambda t: t.name):
        if topic.delete:
            lines.append(f"delete-topic\t{topic.name}")
        else:
            settings = ",".join(f"{k}={v}" for k, v in sorted(topic.config.items())) or "-"
            lines.append(f"topic\t{topic.name}\t{topic.partitions}\t{topic.replication_factor}\t{settings}")
    return "\n".join(lines) + "\n"


def client_settings(user: str, password: str, bootstrap: str) -> dict[str, str]:
    """What a client needs, as the keys of its Secret: mount it, or read client.properties whole."""
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" '
            f'password="{password}";')
    settings = {"bootstrap.servers": bootstrap, "security.protocol": SECURITY_PROTOCOL,
                "sasl.mechanism": SASL_MECHANISM, "sasl.jaas.config": jaas}
    properties = "".join(f"{k}={v}\n" for k, v in settings.items())
    return {**settings, "username": user, "password": password, "client.properties": properties}


def _settings_for(user: str, bootstrap: str, password: str) -> dict[str, str]:
    return client_settings(user, password, bootstrap)


def secret_name(user: str) -> str:
    return f"kafka-{user}"


@dataclass(frozen=True)
class KafkaAccessArgs:
    config: KafkaConfig
    kafka: Kafka  # its release, admin password and bootstrap address
    namespaces: dict[str, pulumi.Resource]  # the meshed application namespaces, by name


class KafkaAccess(pulumi.ComponentResource):
    """Users, ACLs, quotas and topics as declared, applied by a Job that every relevant change re-runs."""

    user_secrets: dict[str, str]  # user -> "namespace/secret"

    def __init__(self, name: str, args: KafkaAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:KafkaAccess", name, None, opts)
        cfg, kafka = args.config, args.kafka
        ns = cfg.namespace

        passwords = {}
        for user in cfg.access_users:
            passwords[user.name] = random.RandomPassword(
                f"{name}-{user.name}", length=32, special=False,
                # a new rotation value, a new password; none yet, no keepers: adding keepers would replace it
                keepers={"rotation": user.password_rotation} if user.password_rotation else None,
                # not protected: it rotates, and goes with its entry. The first round created users as
                # kafka-<user>: keep their passwords.
                opts=pulumi.ResourceOptions(parent=self,
                                            aliases=[pulumi.Alias(name=f"{RELEASE}-{user.name}", parent=kafka)]),
            ).result
            settings = passwords[user.name].apply(functools.partial(
                _settings_for, user.name, kafka.bootstrap_servers))
            k8s.core.v1.Secret(
                f"{name}-{user.name}-secret",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name(user.name), namespace=user.namespace,
                                                    labels={"app.kubernetes.io/managed-by": "kafka-platform"}),
                string_data=settings,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[args.namespaces[user.namespace]]))

        credentials = k8s.core.v1.Secret(
            f"{name}-credentials", metadata={"name": f"{RECONCILER}-credentials", "namespace": ns},
            # "_admin": no user name can start with "_", so no user can overwrite it
            string_data={"_admin": kafka.admin_password, **passwords},
            opts=pulumi.ResourceOptions(parent=self))
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata={"name": RECONCILER, "namespace": ns},
            automount_service_account_token=False, opts=pulumi.ResourceOptions(parent=self))

        plan = declaration(cfg)
        # the Kafka release's values, the script, the plan and the password rotations: any change re-runs the
        # Job under a new name (a rotated password must reach the cluster's SCRAM credential too)
        rotations = ",".join(f"{u.name}={u.password_rotation}" for u in cfg.access_users)
        digest = pulumi.Output.json_dumps(kafka.values).apply(
            lambda values: hashlib.sha256((values + SCRIPT + plan + rotations).encode()).hexdigest()[:10])
        self.digest = digest  # what the verification hashes too: it re-runs whenever access does
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-plan", metadata={"name": digest.apply(lambda d: f"{RECONCILER}-{d}"), "namespace": ns},
            data={"reconcile.sh": SCRIPT, "declaration.tsv": plan}, opts=pulumi.ResourceOptions(parent=self))
        image = f"{cfg.images.registry}/{cfg.images.kafka}"
        template = pod(
            account=RECONCILER, image=image, memory="512Mi", container="reconcile",
            command=["/bin/bash", "/plan/reconcile.sh"],
            env={"BOOTSTRAP": kafka.bootstrap_servers,
                 "INTERNAL_BOOTSTRAP": f"{kafka.internal_host}:{INTERBROKER_PORT}",
                 "ADMIN_USER": ADMIN_USER,
                 "KEEP_USERS": " ".join(INTERNAL_USERS),
                 "PLATFORM_USERS": " ".join(PLATFORM_USERS),  # whose CLUSTER ACLs it manages: a team's stay
                 "DECLARATION": "/plan/declaration.tsv",
                 "CREDENTIALS": "/credentials"},
            # native sidecar: the Job exits once the script does, under STRICT mTLS
            labels={"app.kubernetes.io/name": RECONCILER}, annotations=NATIVE_SIDECAR,
            mounts={"plan": ("/plan", {"configMap": {"name": config_map.metadata["name"]}}),
                    "credentials": ("/credentials", {"secret": {"secretName": f"{RECONCILER}-credentials"}})})
        job_spec: Any = {"backoffLimit": 2, "activeDeadlineSeconds": 900, "template": template}
        self.job = k8s.batch.v1.Job(
            f"{name}-reconcile",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=digest.apply(lambda d: f"{RECONCILER}-{d}"), namespace=ns,
                labels={"app.kubernetes.io/name": RECONCILER},
                # a Job that failed is run again by the next `up`, even with an unchanged plan
                annotations={"pulumi.com/replaceUnready": "true"}),
            spec=job_spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[kafka.release, credentials, account, config_map],
                                        custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m")))

        self.user_secrets = {u.name: f"{u.namespace}/{secret_name(u.name)}" for u in cfg.users}
        self.register_outputs({"user_secrets": self.user_secrets})
