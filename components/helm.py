"""The one way this project installs a Helm chart."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .versions import ChartRef


def pinned_release(resource_name: str, chart: ChartRef, *, release: str, namespace: str, values: pulumi.Input[Any],
                   opts: pulumi.ResourceOptions, timeout: int = 600,
                   take_ownership: bool = False) -> k8s.helm.v3.Release:
    """A real Helm release (hooks, history, rollback) at a pinned chart version.

    Every release is atomic (a failed upgrade rolls back), cleans up after a failed install, keeps ten
    revisions for `helm rollback`, and has a fixed name: Pulumi would otherwise add a random suffix, and
    every Service DNS name derived from the release would change.
    """
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo) if chart.repo else None,
        namespace=namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        max_history=10,
        timeout=timeout,
        take_ownership=take_ownership or None,
        opts=opts)
