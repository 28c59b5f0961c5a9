"""The offline plan and cost estimate (tools/plan.py): totals by hand from the price file, deltas, diff."""

import datetime
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from tools import plan

TODAY = datetime.date(2026, 12, 1)
PRICES = json.loads((ROOT / "tools" / "prices.json").read_text())
US = PRICES["regions"]["us-east-1"]
H = PRICES["hoursPerMonth"]


def priced(stack: str, overrides: dict | None = None):
    from tools.offline import run_stack, stack_config

    resources = [{"type": r.type, "name": r.name, "urn": r.urn, "component": plan.component(r.urn),
                  "inputs": r.inputs} for r in run_stack(stack, overrides or {})]
    config = stack_config(stack)
    if overrides and "aws:region" in overrides:
        config["aws:region"] = overrides["aws:region"]
    return resources, config


@pytest.fixture(scope="module")
def prod_plan():
    return priced("prod")


@pytest.fixture(scope="module")
def dev_plan():
    return priced("dev")


def total(resources, config, today=TODAY):
    t = plan.total(plan.estimate(resources, config, PRICES, today))
    return round(t.low, 2), round(t.high, 2)


def test_prod_total_is_the_price_file_by_hand(prod_plan):
    expected = (US["eks"]["standardHourly"] * H                      # control plane
                + 6 * US["ec2"]["hourly"]["m6i.xlarge"] * H           # 2 nodes in each of 3 zones
                + 3 * US["natGateway"]["hourly"] * H                  # a NAT gateway per zone
                + 3 * US["publicIpv4"]["hourly"] * H                  # their addresses
                + (6 * 100 + 3 * 20 + 3 * 500 + 2 * 100 + 2 * 10) * US["gp3"]["gbMonth"]  # roots, Kafka, monitoring
                + 3 * US["kms"]["keyMonth"]                           # secrets, logs, volumes
                + 30 * US["logs"]["ingestGb"])                        # the stated log assumption
    assert total(*prod_plan) == (round(expected, 2), round(expected, 2)) == (1231.86, 1231.86)


def test_dev_total_prices_spot_as_a_range(dev_plan):
    od = [US["ec2"]["hourly"]["m6i.large"], US["ec2"]["hourly"]["m7i.large"]]
    off = US["ec2"]["spotDiscount"]
    fixed = (US["eks"]["standardHourly"] * H + US["natGateway"]["hourly"] * H + US["publicIpv4"]["hourly"] * H
             + (4 * 50 + 3 * 20 + 20 + 2) * US["gp3"]["gbMonth"] + 3 * US["kms"]["keyMonth"] + 5 * US["logs"]["ingestGb"])
    low = fixed + 4 * min(od) * H * (1 - off["max"])
    high = fixed + 4 * max(od) * H * (1 - off["min"])
    assert total(*dev_plan) == (round(low, 2), round(high, 2))


def test_a_smaller_instance_type_moves_the_total_by_its_price_difference(prod_plan):
    smaller = priced("prod", {"cluster.nodeGroups.instanceTypes": ["m6i.large"]})
    delta = total(*prod_plan)[0] - total(*smaller)[0]
    expected = 6 * (US["ec2"]["hourly"]["m6i.xlarge"] - US["ec2"]["hourly"]["m6i.large"]) * H
    assert delta == pytest.approx(expected)


def test_a_fourth_broker_adds_its_volume(prod_plan):
    more = priced("prod", {"kafka.brokers.replicas": 4})
    assert total(*more)[0] - total(*prod_plan)[0] == pytest.approx(500 * US["gp3"]["gbMonth"])


def test_bigger_broker_volumes_add_their_storage(prod_plan):
    bigger = priced("prod", {"kafka.brokers.storage": "600Gi"})
    assert total(*bigger)[0] - total(*prod_plan)[0] == pytest.approx(3 * 100 * US["gp3"]["gbMonth"])


def test_extended_support_is_priced_once_standard_support_ends(prod_plan):
    after = datetime.date(2027, 3, 28)  # 1.35's standard support ended the day before
    delta = total(*prod_plan, today=after)[0] - total(*prod_plan)[0]
    assert delta == pytest.approx((US["eks"]["extendedHourly"] - US["eks"]["standardHourly"]) * H)


def test_msk_comparison_prices_comparable_brokers_and_storage(prod_plan):
    line = plan.managed_alternative(*prod_plan, PRICES)
    assert line.detail == "3 × kafka.m7g.large + 1,500 GB storage"
    assert line.low == pytest.approx(3 * US["msk"]["hourly"]["kafka.m7g.large"] * H + 1500 * US["msk"]["storageGbMonth"])


def test_an_unpriced_region_or_instance_type_fails_clearly(prod_plan):
    resources, config = prod_plan
    with pytest.raises(plan.PlanError, match="no prices for region 'ap-south-1' in prices.json: add them"):
        plan.estimate(resources, {**config, "aws:region": "ap-south-1"}, PRICES, TODAY)
    ireland = priced("dev", {"aws:region": "eu-west-1", "network.availabilityZones": ["eu-west-1a", "eu-west-1b"]})
    with pytest.raises(plan.PlanError, match="no price for instance type 'm7i.large' in prices.json: add it"):
        plan.estimate(*ireland, PRICES, TODAY)


def test_the_plan_says_its_price_date_and_warns_when_it_is_old():
    assert plan.stale(PRICES, datetime.date(2026, 12, 1)) is None
    warning = plan.stale(PRICES, datetime.date(2027, 2, 1))
    assert warning == f"prices are from {PRICES['date']} (196 days old): check them against their sources"


def test_every_price_names_its_source():
    for region, p in PRICES["regions"].items():
        for item, entry in p.items():
            assert entry.get("source"), (region, item)


def test_diff_of_two_configs_lists_what_changes_and_the_cost_delta(prod_plan):
    def as_json(resources, config):
        lines = plan.estimate(resources, config, PRICES, TODAY)
        return {"resources": {r["urn"]: r["inputs"] for r in resources},
                "total": [plan.total(lines).low, plan.total(lines).high]}

    head = priced("prod", {"kafka.brokers.replicas": 4, "kafka.verify.enabled": False})
    d = plan.diff(as_json(*prod_plan), as_json(*head))
    assert d["added"] == []
    assert {u.rsplit("::", 1)[1] for u in d["removed"]} >= {"kafka-verify-client", "kafka-verify"}
    assert any(u.endswith("::kafka-release") for u in d["changed"])
    assert d["delta"][0] == pytest.approx(500 * US["gp3"]["gbMonth"])
    text = plan.diff_report("prod", "main", d)
    assert "Monthly cost: $+40" in text and "Removed (" in text


def test_the_readme_cost_table_is_the_plans():
    readme = (ROOT / "README.md").read_text()
    table = subprocess.run([sys.executable, "-m", "tools.plan", "--stack", "dev", "--stack", "prod", "--readme",
                            "--today", TODAY.isoformat()],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert table in readme
    assert "--readme --today 2026-12-01" in readme  # the command the README names makes this very table


def test_the_command_prints_each_stack_and_exits_2_on_an_unpriced_stack(tmp_path, monkeypatch, capsys):
    assert plan.main(["--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## dev") and "Helm releases:" in out and "| **Total** |" in out
    assert "Kafka volumes (gp3)" in out and "MSK instead (comparison)" in out
    monkeypatch.setattr(plan, "PRICES", tmp_path / "prices.json")
    (tmp_path / "prices.json").write_text(json.dumps({**PRICES, "regions": {}}))
    assert plan.main(["--stack", "dev"]) == 2
    assert capsys.readouterr().err.startswith("plan: no prices for region 'us-east-1'")


def test_a_base_that_cannot_be_planned_is_said_not_hidden(capsys):
    assert plan.main(["--stack", "dev", "--base", "no-such-ref", "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "## dev: not compared with no-such-ref" in out and "cannot check out the base 'no-such-ref'" in out
