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


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_finds_nothing_high_or_medium(persona):
    """The auditor persona reports what the default hides (secrets-outside-env among them). Low findings that
    remain are ignored in place, each with its reason."""
    result = subprocess.run([tool("zizmor"), "--offline", "--persona", persona, "--format", "json",
                             str(ROOT / ".github")], capture_output=True, text=True)
    assert result.returncode in (0, 11, 12), result.stderr  # 13/14: medium/high findings, 1: tool error
    findings = json.loads(result.stdout)
    severe = [(f["ident"], f["determinations"]["severity"]) for f in findings
              if f["determinations"]["severity"] in ("Medium", "High")]
    assert severe == []


def test_every_ignored_zizmor_finding_says_why():
    for path in [*WORKFLOWS, SETUP_ACTION]:
        for line in path.read_text().splitlines():
            if "zizmor: ignore[" in line:
                reason = line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()
                assert len(reason) > 20, (path.name, line)


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


def pulumi_step(job: dict) -> dict:
    return next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))


def setup_role(job: dict) -> str:
    return next(s for s in job["steps"] if s.get("uses", "").startswith("./.github/actions/setup"))["with"][
        "aws-role-arn"]


def all_jobs():
    for path in WORKFLOWS:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            yield path.name, name, job


# Which environments each workflow may use, and what each one is (README "One-time setup for CI")
PULL_REQUEST_ENVIRONMENTS = {"dev-preview", "prod-preview"}
MAIN_ONLY_ENVIRONMENTS = {"dev", "prod", "prod-read"}


def test_every_pull_request_is_tested_then_previewed_per_stack_with_the_policy_pack():
    w = workflow("preview.yml")
    assert list(w[True]) == ["pull_request"]  # YAML reads `on:` as True
    jobs = w["jobs"]
    for stack in ("dev", "prod"):
        job = jobs[f"preview-{stack}"]
        assert job["needs"] == ["test", "charts"] and job["environment"] == f"{stack}-preview"
        assert f"preview-{stack}-" in job["concurrency"]["group"]
        assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
        step = pulumi_step(job)
        assert step["with"]["command"] == "preview" and step["with"]["comment-on-pr"] is True
        assert step["with"]["policyPacks"] == "policy" and step["with"]["stack-name"] == stack
        assert step["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
        assert setup_role(job) == "${{ vars.AWS_ROLE_ARN }}"  # the environment's own variable
    assert any(s.get("run") == "bash .ci/run" for s in jobs["test"]["steps"])


def test_no_pull_request_job_reaches_prod_but_through_the_reviewer_gated_environment():
    for name, job in workflow("preview.yml")["jobs"].items():
        text = json.dumps(job)
        reaches = "secrets." in text or job["permissions"].get("id-token") == "write"
        if not reaches:
            continue
        assert job.get("environment") in PULL_REQUEST_ENVIRONMENTS, name
        stack = pulumi_step(job)["with"]["stack-name"]
        assert job["environment"] == f"{stack}-preview", name  # prod's secrets and role only behind prod-preview
    gated = [job for job in workflow("preview.yml")["jobs"].values() if "prod" in json.dumps(job.get("environment"))]
    assert [pulumi_step(job)["with"]["stack-name"] for job in gated] == ["prod"]


def test_the_prod_preview_of_a_pull_request_needs_no_write_verb():
    job = workflow("preview.yml")["jobs"]["preview-prod"]
    assert pulumi_step(job)["env"]["PULUMI_DISABLE_PROVIDER_PREVIEW"] == "true"  # a `view` role: no dry run
    assert "PULUMI_DISABLE_PROVIDER_PREVIEW" not in pulumi_step(workflow("preview.yml")["jobs"]["preview-dev"])["env"]


def test_secrets_are_read_only_in_jobs_that_name_an_environment():
    for workflow_name, name, job in all_jobs():
        if "secrets." in json.dumps(job):
            assert job.get("environment"), (workflow_name, name)


def test_main_only_environments_never_serve_a_pull_request():
    used = {(w, n): str(job.get("environment")) for w, n, job in all_jobs() if job.get("environment")}
    for (w, name), environment in used.items():
        if w == "preview.yml":
            assert environment in PULL_REQUEST_ENVIRONMENTS, name
    deploy = {n: e for (w, n), e in used.items() if w == "deploy.yml"}
    assert deploy == {"dev": "dev", "preview-prod": "prod-read", "prod": "prod"}
    drift = workflow("drift.yml")["jobs"]["refresh"]
    assert drift["environment"] == "${{ matrix.environment }}"
    assert {(m["stack"], m["environment"]) for m in drift["strategy"]["matrix"]["include"]} == {
        ("dev", "dev-preview"), ("prod", "prod-read")}


def test_the_readme_sets_up_every_environment_the_workflows_use():
    readme = (ROOT / "README.md").read_text()
    setup = readme[readme.index("### One-time setup for CI"):readme.index("### What a reviewer of a prod promotion")]
    for environment in sorted(PULL_REQUEST_ENVIRONMENTS | MAIN_ONLY_ENVIRONMENTS):
        row = next((line for line in setup.splitlines() if line.strip().startswith(f"| `{environment}` |")), None)
        assert row, environment
        branches = "`main` only" if environment in MAIN_ONLY_ENVIRONMENTS else "`refs/pull/*/merge`"
        assert branches in row, row


def test_fork_pull_requests_skip_the_preview_and_say_why():
    jobs = workflow("preview.yml")["jobs"]
    for stack in ("dev", "prod"):
        assert jobs[f"preview-{stack}"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["fork"]["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    assert "Preview skipped" in jobs["fork"]["steps"][0]["run"] and "no secrets" in jobs["fork"]["steps"][0]["run"]


def test_aws_credentials_come_from_oidc_not_keys():
    setup = yaml.safe_load(SETUP_ACTION.read_text())
    step = next(s for s in setup["runs"]["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert step["with"] == {"role-to-assume": "${{ inputs.aws-role-arn }}", "aws-region": "${{ inputs.aws-region }}"}
    text = "".join(p.read_text() for p in WORKFLOWS)
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_every_aws_role_is_an_environments_own():
    roles = {setup_role(job) for _, _, job in all_jobs() if any(
        s.get("uses", "").startswith("./.github/actions/setup") for s in job["steps"])}
    assert roles == {"${{ vars.AWS_ROLE_ARN }}"}  # never a repository-wide role


def test_pull_requests_never_run_on_the_runner_that_deploys():
    preview = workflow("preview.yml")["jobs"]
    for stack in ("dev", "prod"):
        assert preview[f"preview-{stack}"]["runs-on"] == "${{ vars.PULUMI_PREVIEW_RUNNER || 'ubuntu-24.04' }}"
    trusted = [workflow("drift.yml")["jobs"]["refresh"], *(workflow("deploy.yml")["jobs"][j] for j in (
        "dev", "preview-prod", "prod"))]
    assert all(job["runs-on"].startswith("${{ vars.PULUMI_DEPLOY_RUNNER || 'ubuntu-24.04' }}") for job in trusted)
    assert "PULUMI_DEPLOY_RUNNER" not in (ROOT / ".github" / "workflows" / "preview.yml").read_text()


def test_main_goes_to_dev_then_previews_prod_then_the_same_commit_to_prod_after_approval():
    jobs = workflow("deploy.yml")["jobs"]
    assert (jobs["dev"]["needs"], jobs["preview-prod"]["needs"], jobs["prod"]["needs"]) == ("test", "dev",
                                                                                           "preview-prod")
    preview = pulumi_step(jobs["preview-prod"])
    assert (preview["with"]["command"], preview["with"]["stack-name"], preview["with"]["policyPacks"]) == (
        "preview", "prod", "policy")
    assert jobs["preview-prod"]["steps"][0]["with"]["ref"] == "${{ github.sha }}"
    for stack in ("dev", "prod"):
        job = jobs[stack]
        assert job["environment"] == stack
        assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
        checkout = job["steps"][0]
        assert checkout["with"]["ref"] == "${{ github.sha }}"
        up = pulumi_step(job)
        assert (up["with"]["command"], up["with"]["stack-name"], up["with"]["policyPacks"]) == ("up", stack, "policy")


CODE_OWNED = ["policy/rules.py", "policy/__main__.py", ".github/workflows/deploy.yml", ".github/CODEOWNERS",
              ".github/actions/setup/action.yml", "Pulumi.prod.yaml", "__main__.py", "components/kafka.py",
              "components/scripts/kafka_ready.sh", "requirements.txt", ".ci/run"]


def code_owners(path: str) -> list[str]:
    """GitHub's rule: the last matching line wins; a pattern starting with / is anchored at the root, and one
    ending with / matches everything below that directory."""
    owners: list[str] = []
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pattern, *names = line.split()
        anchored = pattern.lstrip("/")
        if (pattern.endswith("/") and path.startswith(anchored)) or path == anchored:
            owners = names
    return owners


@pytest.mark.parametrize("path", CODE_OWNED)
def test_code_owners_review_the_guardrails_the_pipeline_and_prods_config(path):
    assert code_owners(path), path
    assert not code_owners("Pulumi.dev.yaml") and not code_owners("README.md") and not code_owners("tests/conftest.py")


def test_drift_check_refreshes_each_stack_in_preview_and_fails_on_changes():
    w = workflow("drift.yml")
    assert "schedule" in w[True]
    job = w["jobs"]["refresh"]
    assert [m["stack"] for m in job["strategy"]["matrix"]["include"]] == ["dev", "prod"]
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


def test_every_pull_request_is_planned_and_priced_with_no_secret_forks_included():
    w = workflow("plan.yml")
    assert list(w[True]) == ["pull_request"]  # its own workflow: the comment never waits for prod's approval
    (job,) = w["jobs"].values()
    assert "if" not in job and "environment" not in job  # forks too: it needs nothing
    assert job["permissions"] == {"contents": "read"}
    assert "secrets." not in json.dumps(job)
    assert job["steps"][0]["with"] == {"fetch-depth": 0, "persist-credentials": False}  # the base branch, no token
    run = next(s for s in job["steps"] if "run" in s)
    assert '--stack dev --stack prod --base "origin/$BASE_REF" > plan/plan.md' in run["run"]
    assert "${{" not in run["run"]  # the base ref and PR number reach the script through env
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "plan"
    assert job["steps"][-1]["if"] == "steps.plan.outputs.failed == 'true'"  # a failed plan is posted, then fails


def test_the_plan_comment_runs_no_pull_request_code_and_checks_whose_plan_it_is():
    w = workflow("plan-comment.yml")
    assert w[True] == {"workflow_run": {"workflows": ["plan"], "types": ["completed"]}}
    (job,) = w["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert job["if"] == ("github.event.workflow_run.event == 'pull_request' && "
                         "github.event.workflow_run.conclusion != 'cancelled'")
    assert all("uses" not in step for step in job["steps"])  # no checkout, no action: only the steps below
    (step,) = job["steps"]
    assert "${{" not in step["run"]
    assert 'gh api "repos/$REPO/pulls/$pr" --jq .head.sha)" != "$HEAD_SHA"' in step["run"]  # else: not posted
    assert '[[ "$pr" =~ ^[0-9]{1,10}$ ]]' in step["run"]  # the artifact's number is data, never code
    # its own comment, found by its marker: the previews comment as the same bot
    assert 'startswith(env.MARKER)' in step["run"] and "--edit-last" not in step["run"]
    assert step["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"


FAKE_GH = """#!/usr/bin/env bash
# answers like gh for the plan comment: a run's artifact, a pull request's head, its comments
echo "gh $*" >> "$GH_LOG"
case "$1 $2" in
  "run download") mkdir -p plan; printf '%s\\n' "$FAKE_PR" > plan/pr-number; echo "## dev" > plan/plan.md ;;
  "api repos/o/r/pulls/"*) echo "$FAKE_HEAD" ;;
  "api repos/o/r/issues/"*) [ -n "$FAKE_COMMENT" ] && echo "$FAKE_COMMENT" ;;
esac
exit 0
"""


@pytest.mark.parametrize("pr,head,existing,code,calls", [
    ("7", "abc", "", 0, ["gh pr comment 7 --repo o/r --body-file comment.md"]),
    ("7", "abc", "991", 0, ["gh api --method PATCH repos/o/r/issues/comments/991 -F body=@comment.md"]),
    ("7", "moved", "", 0, []),  # the pull request moved on: nothing posted
    ("7; rm -rf /", "abc", "", 1, []),  # the artifact's number is data
])
def test_the_plan_comment_script_posts_only_where_and_what_it_should(tmp_path, pr, head, existing, code, calls):
    (job,) = workflow("plan-comment.yml")["jobs"].values()
    (step,) = job["steps"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    log = tmp_path / "gh.log"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GH_LOG": str(log), "FAKE_PR": pr, "FAKE_HEAD": head,
           "FAKE_COMMENT": existing, "GH_TOKEN": "t", "REPO": "o/r", "RUN_ID": "1", "HEAD_SHA": "abc",
           "MARKER": step["env"]["MARKER"]}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == code, done.stderr + done.stdout
    posted = [line for line in log.read_text().splitlines() if "comment" in line and "--jq" not in line]
    assert posted == calls
    if calls:
        body = (tmp_path / "comment.md").read_text()
        assert body.startswith("<!-- kafka-platform plan -->\n# Plan and cost\n") and "## dev" in body
