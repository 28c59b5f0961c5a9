"""Verification: proof inside the cluster, on every `up` that changes Kafka, the mesh or the access model.

Three Jobs in the verification's own meshed namespace, which Pulumi creates and awaits, so a failed check fails
`pulumi up` with the check's name and reason (each script writes them to its container's termination message,
which the Kubernetes provider puts in the error):

  kafka-verify-<hash>           meshed, as the verification user declared through the access model
                                (scripts/verify_kafka.sh): produce and consume with acks=all, and the refusals
                                Kafka itself makes (no ACL, wrong password, PLAIN)
  kafka-verify-unmeshed-<hash>  no sidecar: STRICT mTLS must refuse it (scripts/verify_refused.sh)
  kafka-verify-outsider-<hash>  meshed, under a service account the AuthorizationPolicy does not name

The refusal checks run after the client checks pass: "refused for the right reason" leans on Kafka having just
served the same address. The hash covers everything the checks verify, so they run again exactly when it changes.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .access import KafkaAccess, secret_name
from .config import (
    VERIFY_GROUPS,
    VERIFY_NAMESPACE,
    VERIFY_NO_ACL_USER,
    VERIFY_SERVICE_ACCOUNT,
    VERIFY_TOPIC,
    VERIFY_USER,
    KafkaConfig,
    MeshConfig,
)
from .jobs import pod
from .kafka import CLIENT_PORT, NATIVE_SIDECAR, RELEASE, Kafka, mesh_policies
from .versions import KAFKA

SCRIPTS = {name: (pathlib.Path(__file__).parent / "scripts" / name).read_text()
           for name in ("verify_kafka.sh", "verify_refused.sh", "kafka_probe.sh")}
NAME = "kafka-verify"
OUTSIDER = f"{VERIFY_SERVICE_ACCOUNT}-outsider"  # meshed, and named by no AuthorizationPolicy rule
UNMESHED = f"{VERIFY_SERVICE_ACCOUNT}-unmeshed"
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}  # the pod label Istio's injector honours
TTL_SECONDS = 86400  # a day to read the results; then the Jobs and their pods go
SCRIPTS_DIR = "/verify"


def envoy_cluster(host: str) -> str:
    """Istio's name for the outbound cluster of a TCP service port."""
    return f"outbound|{CLIENT_PORT}||{host}"


def stats_for(host: str) -> dict[str, str]:
    """Istio keeps only a few Envoy stats by default: add the per-cluster ones the outsider check reads."""
    config = {"proxyStatsMatcher": {"inclusionPrefixes": [f"cluster.{envoy_cluster(host)}."]}}
    return {"proxy.istio.io/config": json.dumps(config)}


def fingerprint(cfg: KafkaConfig, mesh: MeshConfig, access_digest: str) -> str:
    """Everything the checks verify: the access Job's digest (the Kafka values, the access plan and its
    passwords' rotations), the Kafka chart's version, Kafka's mesh policies as applied, the mesh's settings,
    and the checks themselves."""
    parts = [access_digest, KAFKA.version, json.dumps(mesh_policies(cfg), sort_keys=True), mesh.model_dump_json(),
             cfg.verify.model_dump_json(), cfg.images.model_dump_json(), *SCRIPTS.values()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:10]


def job_spec(template: dict, deadline_seconds: int) -> dict:
    return {"backoffLimit": 0,  # the scripts retry what may be a blip themselves; a failure is a verdict
            "activeDeadlineSeconds": deadline_seconds,
            "ttlSecondsAfterFinished": TTL_SECONDS,
            "template": template}


@dataclass(frozen=True)
class VerificationArgs:
    config: KafkaConfig
    mesh: MeshConfig
    kafka: Kafka
    access: KafkaAccess  # declares the verification's users and topic, and runs before it
    namespace: pulumi.Resource  # the verification's meshed namespace (Mesh.app_namespaces)


class Verification(pulumi.ComponentResource):
    """The in-cluster checks, re-run whenever what they verify changes."""

    logs_command: str

    def __init__(self, name: str, args: VerificationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kafka-platform:index:Verification", name, None, opts)
        cfg, kafka = args.config, args.kafka
        ns = VERIFY_NAMESPACE
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[args.namespace])

        digest = args.access.digest.apply(lambda d: fingerprint(cfg, args.mesh, d))
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts", metadata={"name": digest.apply(lambda d: f"{NAME}-{d}"), "namespace": ns},
            data=SCRIPTS, opts=in_namespace)
        accounts = [k8s.core.v1.ServiceAccount(f"{name}-{account}", metadata={"name": account, "namespace": ns},
                                               automount_service_account_token=False, opts=in_namespace)
                    for account in (VERIFY_SERVICE_ACCOUNT, OUTSIDER, UNMESHED)]

        host = f"{RELEASE}.{cfg.namespace}.svc.cluster.local"
        image = f"{cfg.images.registry}/{cfg.images.kafka}"  # the Kafka CLI, bash, curl and coreutils
        scripts_volume = {"scripts": (SCRIPTS_DIR, {"configMap": {"name": scripts.metadata["name"]}})}
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "kafka-platform"}
        probe_env = {"HOST": host, "PORT": str(CLIENT_PORT)}

        client = pod(
            account=VERIFY_SERVICE_ACCOUNT, image=image, memory="1Gi",  # a consumer and a producer JVM at once
            command=["/bin/bash", f"{SCRIPTS_DIR}/verify_kafka.sh"],
            env={"BOOTSTRAP": kafka.bootstrap_servers, "TOPIC": VERIFY_TOPIC,
                 "GROUP_PREFIX": VERIFY_GROUPS.removesuffix("*"), "RECORDS": str(cfg.verify.records),
                 "REPLICATION_FACTOR": str(cfg.replication_factor),
                 "MIN_INSYNC_REPLICAS": str(cfg.min_insync_replicas),
                 "CLIENT": "/client", "NO_ACL": "/no-acl", "WAIT": "60", **probe_env,
                 "KAFKA_HEAP_OPTS": "-Xmx256m"},  # the tools' scripts default to 512m: two JVMs would not fit
            labels={**labels, "app.kubernetes.io/component": "client"}, annotations=NATIVE_SIDECAR,
            mounts={**scripts_volume,
                    "client": ("/client", {"secret": {"secretName": secret_name(VERIFY_USER)}}),
                    "no-acl": ("/no-acl", {"secret": {"secretName": secret_name(VERIFY_NO_ACL_USER)}})})
        unmeshed = pod(
            account=UNMESHED, image=image, memory="64Mi", command=["/bin/bash", f"{SCRIPTS_DIR}/verify_refused.sh"],
            env={**probe_env, "CHECK": "unmeshed"},
            labels={**labels, "app.kubernetes.io/component": "unmeshed", **NO_SIDECAR}, annotations={},
            mounts=scripts_volume)
        outsider = pod(
            account=OUTSIDER, image=image, memory="64Mi", command=["/bin/bash", f"{SCRIPTS_DIR}/verify_refused.sh"],
            env={**probe_env, "CHECK": "outsider", "ENVOY_CLUSTER": envoy_cluster(host)},
            labels={**labels, "app.kubernetes.io/component": "outsider"},
            annotations={**NATIVE_SIDECAR, **stats_for(host)}, mounts=scripts_volume)

        timeouts = pulumi.CustomTimeouts(create="20m", update="20m")
        # the client checks' steps add up to about 9 minutes at worst (each has its own timeout)
        self.client = self._job(f"{name}-client", "", digest, job_spec(client, 900), labels, pulumi.ResourceOptions(
            parent=self, depends_on=[kafka.release, args.access.job, scripts, *accounts], custom_timeouts=timeouts))
        self.refusals = [
            self._job(f"{name}-{kind}", f"-{kind}", digest, job_spec(spec, 180), labels, pulumi.ResourceOptions(
                parent=self, depends_on=[self.client], custom_timeouts=timeouts))
            for kind, spec in (("unmeshed", unmeshed), ("outsider", outsider))]

        self.logs_command = f"kubectl logs -n {ns} -l app.kubernetes.io/name={NAME} --prefix --tail=-1"
        self.register_outputs({"logs_command": self.logs_command})

    @staticmethod
    def _job(resource_name: str, suffix: str, digest: pulumi.Output[str], spec: Any,  # the API's own shape
             labels: dict[str, str], opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
        return k8s.batch.v1.Job(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=digest.apply(lambda d: f"{NAME}{suffix}-{d}"), namespace=VERIFY_NAMESPACE, labels=labels,
                # a failed check is run again by the next `up`, even when nothing changed
                annotations={"pulumi.com/replaceUnready": "true"}),
            spec=spec, opts=opts)
