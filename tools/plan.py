"""Plan and price a stack offline: what `pulumi up` would register, and what it costs a month at list prices.

    python -m tools.plan --stack dev --stack prod            # resources, Helm releases, monthly cost
    python -m tools.plan --stack prod --base origin/main     # what a change adds, removes and changes, and its cost

It runs the real program under Pulumi's mocks (tools/offline.py), so it needs no AWS account, no Pulumi
CLI and no secrets: pull requests from forks get it too. Prices come from tools/prices.json (dated, per
region, each with its source); an unpriced region or instance type is an error, never a guess.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
PRICES = ROOT / "tools" / "prices.json"
STALE_AFTER_DAYS = 183  # six months
RELEASE = "kubernetes:helm.sh/v3:Release"
# Values worth seeing in a plan: sizes, counts, versions and retention
MATTERS = {"replicaCount", "replicas", "size", "storage", "heapOpts", "retention", "retentionSize", "tag", "istioVersion"}


class PlanError(Exception):
    """A plan that cannot be priced honestly: one line that says what is missing."""


@dataclass(frozen=True)
class Line:
    item: str
    detail: str
    low: float
    high: float  # equal to low unless the price is a range (spot)

    def cost(self) -> str:
        return f"${self.low:,.0f}" if round(self.low) == round(self.high) else f"${self.low:,.0f}–{self.high:,.0f}"


# --------------------------------------------------------------------------- running the program


def run(stack: str) -> tuple[list[dict], dict[str, Any]]:
    """The resources the program registers for `stack` (type, name, urn, component, inputs) and its config."""
    from tools.offline import run_stack, stack_config

    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # the program's warnings belong to `pulumi up`, not to a plan
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            registered = run_stack(stack)
    finally:
        root.setLevel(level)
    resources = [{"type": r.type, "name": r.name, "urn": r.urn, "component": component(r.urn), "inputs": r.inputs}
                 for r in registered]
    return resources, stack_config(stack)


def component(urn: str) -> str:
    """The top-level component a resource belongs to, from its URN's type chain."""
    chain = urn.split("::")[2].split("$")
    found = next((t for t in chain if t.startswith("kafka-platform:index:")), None)
    return found.rsplit(":", 1)[1] if found else "Stack"


# --------------------------------------------------------------------------- prices


def load_prices(path: pathlib.Path | None = None) -> dict:
    return json.loads((path or PRICES).read_text())


def region_prices(prices: dict, region: str) -> dict:
    if region not in prices["regions"]:
        raise PlanError(f"no prices for region {region!r} in {PRICES.name}: add them (priced: "
                        + ", ".join(sorted(prices["regions"])) + ")")
    return prices["regions"][region]


def stale(prices: dict, today: datetime.date) -> str | None:
    dated = datetime.date.fromisoformat(prices["date"])
    if (today - dated).days > STALE_AFTER_DAYS:
        return f"prices are from {dated} ({(today - dated).days} days old): check them against their sources"
    return None


def instance_price(p: dict, instance_type: str) -> float:
    if instance_type not in p["ec2"]["hourly"]:
        raise PlanError(f"no price for instance type {instance_type!r} in {PRICES.name}: add it (priced: "
                        + ", ".join(sorted(p["ec2"]["hourly"])) + ")")
    return float(p["ec2"]["hourly"][instance_type])


def gib(quantity: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi|Ti)", str(quantity))
    if not match:
        raise PlanError(f"cannot size volume {quantity!r}")
    return float(match.group(1)) * {"Mi": 1 / 1024, "Gi": 1, "Ti": 1024}[match.group(2)]


# --------------------------------------------------------------------------- the estimate


def estimate(resources: list[dict], config: dict[str, Any], prices: dict, today: datetime.date) -> list[Line]:
    from components.versions import EKS_STANDARD_SUPPORT_ENDS

    p = region_prices(prices, config.get("aws:region", ""))
    hours = prices["hoursPerMonth"]
    of = lambda t: [r for r in resources if r["type"] == t]  # noqa: E731
    lines: list[Line] = []

    cluster = of("eks:index:Cluster")[0]["inputs"]
    version = cluster["version"]
    if version not in EKS_STANDARD_SUPPORT_ENDS:
        raise PlanError(f"no EKS support calendar for Kubernetes {version} in components/versions.py")
    policy = cluster.get("upgradePolicy", {}).get("supportType", "EXTENDED")
    extended = today > EKS_STANDARD_SUPPORT_ENDS[version] and policy == "EXTENDED"
    rate = p["eks"]["extendedHourly" if extended else "standardHourly"]
    lines.append(Line("EKS control plane", f"{version}, {'extended' if extended else 'standard'} support, "
                      f"${rate}/h", rate * hours, rate * hours))

    templates = [r["inputs"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] for r in of("aws:ec2/launchTemplate:LaunchTemplate")]
    if len(templates) > 1:
        raise PlanError("several launch templates: the plan cannot tell which node group uses which disk size")
    root_gb = 0.0
    for group in of("eks:index:ManagedNodeGroup"):
        g = group["inputs"]
        count, types, spot = g["scalingConfig"]["desiredSize"], g["instanceTypes"], g["capacityType"] == "SPOT"
        rates = [instance_price(p, t) for t in types]
        low, high = min(rates) * count * hours, max(rates) * count * hours
        if spot:
            off = p["ec2"]["spotDiscount"]
            low, high = low * (1 - off["max"]), high * (1 - off["min"])
        kind = "spot" if spot else "on demand"
        lines.append(Line(f"Nodes {group['name']}", f"{count:g} × {'/'.join(types)} {kind}", low, high))
        root_gb += count * float(templates[0] if templates else g.get("diskSize", 20))  # EKS's default is 20 GB

    nats = len(of("aws:ec2/natGateway:NatGateway"))
    if nats:
        nat = p["natGateway"]["hourly"] * hours
        lines.append(Line("NAT gateways", f"{nats} × ${p['natGateway']['hourly']}/h; data processed is extra "
                          f"(${p['natGateway']['perGb']}/GB)", nats * nat, nats * nat))
    ips = len(of("aws:ec2/eip:Eip"))
    if ips:
        ip = p["publicIpv4"]["hourly"] * hours
        lines.append(Line("Public IPv4 addresses", f"{ips} × ${p['publicIpv4']['hourly']}/h", ips * ip, ips * ip))

    gp3 = p["gp3"]["gbMonth"]
    lines.append(Line("Root volumes (gp3)", f"{root_gb:,.0f} GB × ${gp3}/GB-month", root_gb * gp3, root_gb * gp3))
    for label, gb in volume_claims(resources):
        lines.append(Line(label, f"{gb:,.0f} GB × ${gp3}/GB-month", gb * gp3, gb * gp3))

    keys = len(of("aws:kms/key:Key"))
    lines.append(Line("KMS keys", f"{keys} × ${p['kms']['keyMonth']}/month; requests extra", keys * p["kms"]["keyMonth"],
                      keys * p["kms"]["keyMonth"]))
    environment = config.get("kafka-platform:environment", "dev")
    logs_gb = prices["assumptions"]["controlPlaneLogsGbPerMonth"][environment]
    logs = logs_gb * p["logs"]["ingestGb"]
    lines.append(Line("CloudWatch control-plane logs", f"assumed {logs_gb} GB/month ingested × ${p['logs']['ingestGb']}/GB"
                      " (storage extra)", logs, logs))
    balancers = [r for r in resources if r["type"].startswith("aws:lb/") or r["type"].startswith("aws:alb/")]
    if balancers:
        lb = len(balancers) * p["loadBalancer"]["hourly"] * hours
        lines.append(Line("Load balancers", f"{len(balancers)} × ${p['loadBalancer']['hourly']}/h", lb, lb))
    return lines


def volume_claims(resources: list[dict]) -> list[tuple[str, float]]:
    """The PersistentVolumeClaims the Kafka and monitoring releases will create, from their values."""
    found: list[tuple[str, float]] = []
    for release in (r for r in resources if r["type"] == RELEASE):
        values, name = release["inputs"].get("values") or {}, release["inputs"]["name"]
        if name == "kafka":
            gb = sum(_int(values.get(role, {}).get("replicaCount", 0)) * gib(values[role]["persistence"]["size"])
                     for role in ("controller", "broker") if values.get(role, {}).get("persistence", {}).get("enabled"))
            found.append(("Kafka volumes (gp3)", gb))
        elif name == "kube-prometheus-stack":
            gb = 0.0
            for key, spec_key, storage_key in (("prometheus", "prometheusSpec", "storageSpec"),
                                               ("alertmanager", "alertmanagerSpec", "storage")):
                spec = values.get(key, {}).get(spec_key, {})
                claim = spec.get(storage_key, {}).get("volumeClaimTemplate", {}).get("spec", {})
                if claim:
                    gb += _int(spec.get("replicas", 1)) * gib(claim["resources"]["requests"]["storage"])
            found.append(("Monitoring volumes (gp3)", gb))
    return found


def _int(value: Any) -> int:
    return int(value)  # the engine hands numbers over as floats


def managed_alternative(resources: list[dict], config: dict[str, Any], prices: dict) -> Line:
    """MSK with as many brokers as this stack serves Kafka from, the same storage, on the instance the price
    file names as comparable."""
    p, hours = region_prices(prices, config.get("aws:region", "")), prices["hoursPerMonth"]
    if "msk" not in p:
        return Line("MSK instead (comparison)", f"not priced for {config.get('aws:region')} in {PRICES.name}", 0, 0)
    values = next(r["inputs"]["values"] for r in resources if r["type"] == RELEASE and r["inputs"]["name"] == "kafka")
    brokers = _int(values["broker"]["replicaCount"]) or _int(values["controller"]["replicaCount"])
    role = "broker" if _int(values["broker"]["replicaCount"]) else "controller"
    storage = brokers * gib(values[role]["persistence"]["size"])
    instance = p["msk"]["comparable"]
    cost = brokers * p["msk"]["hourly"][instance] * hours + storage * p["msk"]["storageGbMonth"]
    return Line("MSK instead (comparison)", f"{brokers} × {instance} + {storage:,.0f} GB storage", cost, cost)


# --------------------------------------------------------------------------- output


def releases(resources: list[dict]) -> list[str]:
    rows = []
    for r in sorted((r for r in resources if r["type"] == RELEASE), key=lambda r: r["name"]):
        i = r["inputs"]
        rows.append(f"- {i['name']} ({i['namespace']}): {i['chart']} {i['version']}")
        for path, value in sorted(matters(i.get("values") or {})):
            rows.append(f"    {path} = {value}")
    return rows


def matters(values: Any, path: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(values, dict):
        for key, child in values.items():
            here = f"{path}.{key}" if path else key
            if key in MATTERS and not isinstance(child, dict | list):
                found.append((here, f"{child:g}" if isinstance(child, float) else child))
            found += matters(child, here)
    return found


def report(stack: str, resources: list[dict], lines: list[Line], alternative: Line, prices: dict,
           warning: str | None) -> str:
    by_component: dict[str, dict[str, int]] = {}
    for r in resources:
        by_component.setdefault(r["component"], {}).setdefault(r["type"], 0)
        by_component[r["component"]][r["type"]] += 1
    out = [f"## {stack}", "", f"{len(resources)} resources", ""]
    for name in sorted(by_component):
        out.append(f"- {name}: " + ", ".join(f"{n} × {t}" for t, n in sorted(by_component[name].items())))
    out += ["", "Helm releases:", *releases(resources), "",
            f"Monthly cost at list prices ({prices['date']}, {prices['hoursPerMonth']} h):", "",
            "| Item | Detail | Cost |", "|---|---|---|"]
    out += [f"| {line.item} | {line.detail} | {line.cost()} |" for line in lines]
    out.append(f"| **Total** | | **{total(lines).cost()}** |")
    out.append(f"| {alternative.item} | {alternative.detail} | {alternative.cost()} |")
    if warning:
        out += ["", f"warning: {warning}"]
    return "\n".join(out)


SUMMARY = ("EKS control plane", "Nodes", "NAT gateways", "Public IPv4 addresses", "Root volumes (gp3)",
           "Kafka volumes (gp3)", "Monitoring volumes (gp3)", "KMS keys", "CloudWatch control-plane logs")


def summary(lines: list[Line]) -> dict[str, Line]:
    """The estimate by item, node groups added up: the rows of the README's cost table."""
    rows = {item: total([line for line in lines if line.item.split(" cluster-")[0] == item]) for item in SUMMARY}
    return {**rows, "Total": total(lines)}


def readme_table(stacks: dict[str, tuple[list[Line], Line]]) -> str:
    names = list(stacks)
    rows = ["| Item | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    sums = {name: summary(lines) for name, (lines, _) in stacks.items()}
    for item in [*SUMMARY, "Total"]:
        rows.append(f"| {item} | " + " | ".join(sums[n][item].cost() for n in names) + " |")
    rows.append("| MSK instead, for comparison | " + " | ".join(stacks[n][1].cost() for n in names) + " |")
    return "\n".join(rows)


def total(lines: list[Line]) -> Line:
    return Line("Total", "", sum(line.low for line in lines), sum(line.high for line in lines))


# --------------------------------------------------------------------------- diff


def plan_json(stack: str, today: datetime.date) -> dict:
    resources, config = run(stack)
    prices = load_prices()
    lines = estimate(resources, config, prices, today)
    # through JSON, as the base's plan comes: both sides compare alike
    return json.loads(json.dumps({"resources": {r["urn"]: r["inputs"] for r in resources},
                                  "total": [total(lines).low, total(lines).high]}))


def base_plan(ref: str, stack: str, today: datetime.date) -> dict:
    """The plan of `ref`: its program run by this harness, in a worktree, in a process of its own (its
    components must not mix with ours)."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp) / "base"
        added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
                               capture_output=True, text=True)
        if added.returncode:
            raise PlanError(f"cannot check out the base {ref!r}: {added.stderr.strip()}")
        try:
            shutil.rmtree(tree / "tools", ignore_errors=True)
            shutil.copytree(ROOT / "tools", tree / "tools")  # this plan's harness and prices, the base's program
            done = subprocess.run([sys.executable, "-m", "tools.plan", "--json", "--stack", stack,
                                   "--today", today.isoformat()], cwd=tree, capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(tree)})
            if done.returncode:
                raise PlanError(f"the base {ref} does not plan: {done.stderr.strip().splitlines()[-1:]}")
            return json.loads(done.stdout)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)


def diff(base: dict, head: dict) -> dict:
    before, after = base["resources"], head["resources"]
    return {"added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
            "changed": sorted(u for u in set(before) & set(after) if before[u] != after[u]),
            "delta": [head["total"][0] - base["total"][0], head["total"][1] - base["total"][1]]}


def diff_report(stack: str, ref: str, d: dict) -> str:
    def short(urn: str) -> str:
        return f"{urn.split('::')[2].split('$')[-1]} {urn.split('::')[-1]}"

    low, high = d["delta"]
    delta = f"{low:+,.0f}" if round(low) == round(high) else f"{low:+,.0f} to {high:+,.0f}"
    out = [f"## {stack}: changes against {ref}", "", f"Monthly cost: ${delta}", ""]
    for kind in ("added", "removed", "changed"):
        out.append(f"{kind.capitalize()} ({len(d[kind])}):")
        out += [f"- {short(u)}" for u in d[kind]] or ["- none"]
    return "\n".join(out)


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", required=True, help="dev, prod, ... (repeatable)")
    parser.add_argument("--base", help="a git ref to compare with (resources and cost)")
    parser.add_argument("--readme", action="store_true", help="print the README's cost table for the stacks")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # what a base run hands back
    parser.add_argument("--today", help="price as of this date, YYYY-MM-DD (default: today; it decides EKS support)")
    args = parser.parse_args(argv)
    today = datetime.date.fromisoformat(args.today) if args.today else datetime.date.today()
    sys.path.insert(0, str(ROOT))
    try:
        if args.json:
            print(json.dumps(plan_json(args.stack[0], today)))
            return 0
        prices = load_prices()
        if args.readme:
            planned = {s: run(s) for s in args.stack}
            print(readme_table({s: (estimate(r, c, prices, today), managed_alternative(r, c, prices))
                                for s, (r, c) in planned.items()}))
            return 0
        out = []
        for stack in args.stack:
            resources, config = run(stack)
            lines = estimate(resources, config, prices, today)
            out.append(report(stack, resources, lines, managed_alternative(resources, config, prices), prices,
                              stale(prices, today)))
            if args.base:
                try:
                    base = base_plan(args.base, stack, today)
                except PlanError as e:  # a stack the base does not have, a base that does not run: say so
                    out.append(f"## {stack}: not compared with {args.base}\n\n{e}")
                    continue
                out.append(diff_report(stack, args.base, diff(base, plan_json(stack, today))))
        print("\n\n".join(out))
        return 0
    except PlanError as e:
        print(f"plan: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
