"""The pod of a platform Job (the access reconciler, the verification): the Kafka image's CLI, run non-root with a
read-only root filesystem, no API token, and its verdict as its termination message."""

from __future__ import annotations

from typing import Any


def pod(*, account: str, command: list[str], env: dict[str, str], image: str, labels: dict[str, str],
        annotations: dict[str, str], memory: str, mounts: dict[str, tuple[str, Any]], container: str = "verify") -> dict:
    """`mounts`: volume name -> (mount path, volume source), all read-only; /tmp is a memory-backed scratch."""
    return {
        "metadata": {"labels": labels, "annotations": annotations},
        "spec": {
            "serviceAccountName": account,
            "automountServiceAccountToken": False,
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 1001, "runAsGroup": 1001, "runAsNonRoot": True,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": container,
                "image": image,
                "command": command,
                # kafka-run-class.sh creates its log folder; the root filesystem is read-only
                "env": [{"name": k, "value": v} for k, v in {**env, "LOG_DIR": "/tmp/kafka-logs"}.items()],
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "100m", "memory": memory}, "limits": {"memory": memory}},
                # the scripts write their verdict there; a crash leaves the log's tail instead
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "volumeMounts": [*({"name": n, "mountPath": path, "readOnly": True} for n, (path, _) in mounts.items()),
                                 {"name": "tmp", "mountPath": "/tmp"}],
            }],
            "volumes": [*({"name": n, **source} for n, (_, source) in mounts.items()),
                        {"name": "tmp", "emptyDir": {"medium": "Memory"}}],
        },
    }
