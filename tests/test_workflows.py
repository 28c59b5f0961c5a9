"""The CI workflows are valid, safe and do what the promotion model says, checked offline."""

import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SETUP_ACTION = ROOT / ".github" / "actions" / "setup" / "action.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def tool(name: str) -> str:
    path = shutil.which(name, path=str(pathlib.Path(sys.executable).parent)) or shutil.which(name)
    assert path, f"{name} is not installed (requirements-dev.txt)"
    return path


def workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_workflows_match_githubs_schema():
    for schema, files in (("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", [SETUP_ACTION])):
        result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_high_or_medium():
    result = subprocess.run([tool("zizmor"), "--offline", "--format", "json", str(ROOT / ".github")],
                            capture_output=True, text=True)
    assert result.returncode in (0, 11, 12), result.stderr  # 13/14: medium/high findings, 1: tool error
    findings = json.loads(result.stdout)
    severe = [(f["ident"], f["determinations"]["severity"]) for f in findings
              if f["determinations"]["severity"] in ("Medium", "High")]
    assert severe == []


def test_third_party_actions_are_pinned_to_commits():
    uses = []
    for path in [*WORKFLOWS, SETUP_ACTION]:
        uses += [line.split("uses:", 1)[1].strip() for line in path.read_text().splitlines() if "uses:" in line]
    external = [u for u in uses if not u.startswith("./")]
    assert external and all(PINNED.match(u) for u in external), [u for u in external if not PINNED.match(u)]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_grant_nothing_by_default(path):
    w = yaml.safe_load(path.read_text())
    assert w["permissions"] == {}
    for name, job in w["jobs"].items():
        assert "permissions" in job, name
        assert job["permissions"].get("contents", "read") == "read", name


def test_every_pull_request_is_tested_then_previewed_per_stack_with_the_policy_pack():
    w = workflow("preview.yml")
    assert list(w[True]) == ["pull_request"]  # YAML reads `on:` as True
    preview = w["jobs"]["preview"]
    assert preview["needs"] == ["test", "charts"] and preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "matrix.stack" in preview["concurrency"]["group"]
    assert preview["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    step = next(s for s in preview["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
    assert step["with"]["command"] == "preview" and step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy" and step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert any(s.get("run") == "bash .ci/run" for s in w["jobs"]["test"]["steps"])


def test_fork_pull_requests_skip_the_preview_and_say_why():
    jobs = workflow("preview.yml")["jobs"]
    assert jobs["preview"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["fork"]["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert "Preview skipped" in jobs["fork"]["steps"][0]["run"] and "no secrets" in jobs["fork"]["steps"][0]["run"]


def test_aws_credentials_come_from_oidc_not_keys():
    setup = yaml.safe_load(SETUP_ACTION.read_text())
    step = next(s for s in setup["runs"]["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert step["with"] == {"role-to-assume": "${{ inputs.aws-role-arn }}", "aws-region": "${{ inputs.aws-region }}"}
    text = "".join(p.read_text() for p in WORKFLOWS)
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_previews_and_drift_never_get_the_deploy_roles():
    preview = workflow("preview.yml")["jobs"]["preview"]
    drift = workflow("drift.yml")["jobs"]["refresh"]
    for job in (preview, drift):
        setup = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/setup")
        assert setup["with"]["aws-role-arn"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
        assert "environment" not in job
    for stack in ("dev", "prod"):
        job = workflow("deploy.yml")["jobs"][stack]
        setup = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/setup")
        assert job["environment"] == stack and setup["with"]["aws-role-arn"] == "${{ vars.AWS_ROLE_ARN }}"


def test_pulumi_jobs_run_where_the_cluster_api_is_reachable():
    jobs = [workflow("preview.yml")["jobs"]["preview"], workflow("drift.yml")["jobs"]["refresh"],
            *(workflow("deploy.yml")["jobs"][s] for s in ("dev", "prod"))]
    assert all(job["runs-on"] == "${{ vars.PULUMI_RUNNER || 'ubuntu-24.04' }}" for job in jobs)


def test_main_goes_to_dev_then_the_same_commit_to_prod_after_approval():
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["dev"]["needs"] == "test" and jobs["prod"]["needs"] == "dev"
    assert jobs["prod"]["environment"] == "prod"
    for stack in ("dev", "prod"):
        job = jobs[stack]
        assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
        checkout = job["steps"][0]
        assert checkout["with"]["ref"] == "${{ github.sha }}"
        up = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))
        assert (up["with"]["command"], up["with"]["stack-name"], up["with"]["policyPacks"]) == ("up", stack, "policy")


def test_drift_check_refreshes_each_stack_in_preview_and_fails_on_changes():
    w = workflow("drift.yml")
    assert "schedule" in w[True]
    job = w["jobs"]["refresh"]
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert job["concurrency"]["group"] == "pulumi-${{ matrix.stack }}"
    run = job["steps"][-1]["run"]
    assert "pulumi refresh --stack \"$STACK\" --preview-only --expect-no-changes" in run
    assert "${{" not in run  # inputs reach the script through env, never by template expansion


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_drift_ignores_exactly_the_verification_jobs_that_expire(stack_name, request):
    step = workflow("drift.yml")["jobs"]["refresh"]["steps"][-1]
    assert '--exclude "$VERIFICATION_JOBS"' in step["run"]
    # Pulumi's URN globs: ** matches anything; everything else is literal
    pattern = re.compile(".*".join(re.escape(part) for part in step["env"]["VERIFICATION_JOBS"].split("**")))
    stack = request.getfixturevalue(stack_name)
    excluded = {r.name for r in stack if pattern.fullmatch(r.urn)}
    assert excluded == {"kafka-verify-client", "kafka-verify-unmeshed", "kafka-verify-outsider"}
    assert all(r.inputs["spec"]["ttlSecondsAfterFinished"] for r in stack if r.name in excluded)


def test_every_pull_request_renders_the_pinned_charts_with_no_credentials():
    job = workflow("preview.yml")["jobs"]["charts"]
    assert "if" not in job  # forks too: it needs no secret
    assert job["permissions"] == {"contents": "read"}
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert 'scripts/pull_charts.py "$RUNNER_TEMP/charts"' in runs
    assert 'KAFKA_PLATFORM_CHARTS="$RUNNER_TEMP/charts" .venv/bin/python -m pytest -q -rs tests/test_chart_contract.py' in runs


# Contexts GitHub allows in jobs.<id>.env, runs-on, concurrency and if (the runner context exists only in steps):
# any other one makes GitHub reject the whole workflow file, so no check of the pull request runs at all.
JOB_LEVEL_CONTEXTS = {"github", "needs", "strategy", "matrix", "vars", "secrets", "inputs"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_job_level_expressions_use_only_contexts_github_allows_there(path):
    for name, job in yaml.safe_load(path.read_text())["jobs"].items():
        text = json.dumps({k: job.get(k) for k in ("env", "runs-on", "concurrency", "if", "name", "environment")})
        used = {m.group(1) for m in re.finditer(r"(?<![\w.])([a-z_]+)\.[\w-]+", " ".join(
            re.findall(r"\$\{\{(.*?)\}\}", text)))}
        assert used <= JOB_LEVEL_CONTEXTS, (name, used - JOB_LEVEL_CONTEXTS)
