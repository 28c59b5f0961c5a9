"""Chart contract: render every pinned chart with each stack's real values, and check what must hold.

Mocks only prove what the program asks for. This renders the real charts (helm-python-sdk, no helm
binary) with the values the program registers, and checks them against the charts and the Kubernetes API.

It needs the pinned charts on disk: KAFKA_PLATFORM_CHARTS=<dir> holding one `<chart>-<version>/` folder
per chart in components/versions.py (`python scripts/pull_charts.py <dir>` fills it with `helm pull`; the
pull-request workflow does that). Without them it skips, saying why: CI reaches only package registries.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from conftest import run_stack

from components import versions
from components.kafka import KRAFT_SECRET, readiness_probe
from components.kafka import RELEASE as KAFKA_RELEASE

CHARTS_ENV = "KAFKA_PLATFORM_CHARTS"
RELEASE = "kubernetes:helm.sh/v3:Release"
FORBIDDEN_REGISTRIES = ("gcr.io/istio-release", "registry.istio.io", "docker.io/bitnami/")
# Values the chart hands on whole, by design: istiod merges meshConfig over its mesh config ("meshConfig.foo
# becomes the API", templates/configmap.yaml) and parses it leniently, so a misspelt field would be ignored.
# Its keys are checked against MESH_CONFIG_FIELDS instead, and a test checks the rendered result.
PASSTHROUGH = {"istiod": {("meshConfig",)}}
# MeshConfig / ProxyConfig fields (istio.io/api mesh/v1alpha1) that this project may set, as JSON names; Go
# uses of each in istio/istio release-1.31: pkg/config/mesh/mesh.go (EnablePrometheusMerge, AccessLogFile),
# pilot/pkg/model/sidecar.go (OutboundTrafficPolicy), pilot/pkg/model/context.go (DefaultConfig),
# operator/pkg/apis/values_types.pb.go (ProxyConfig.holdApplicationUntilProxyStarts). Add one with its source.
MESH_CONFIG_FIELDS = {"enablePrometheusMerge": None, "outboundTrafficPolicy": {"mode"}, "accessLogFile": None,
                      "defaultConfig": {"holdApplicationUntilProxyStarts"}}
# Istio's charts accept their legacy prefix (templates/zzy_descope_legacy.yaml merges it over the top level).
LEGACY_PREFIX = {"istiod": "pilot", "cni": "cni"}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod")


class _Loader(yaml.SafeLoader):
    """PyYAML reads a bare `=` as the obsolete value tag and fails; Kubernetes reads it as a string."""


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def charts_dir() -> pathlib.Path:
    root = os.environ.get(CHARTS_ENV)
    if not root:
        pytest.skip(f"{CHARTS_ENV} is not set: no pinned charts to render (python scripts/pull_charts.py DIR)")
    # set but incomplete is a failure, not a skip: a job that pulled nothing must not go green
    wrong = [f"{c.name}-{c.version}" for c in versions.CHARTS if _chart_version(pathlib.Path(root), c) != c.version]
    assert not wrong, f"{CHARTS_ENV}={root} lacks the pinned charts {', '.join(wrong)} (or holds other versions)"
    return pathlib.Path(root)


def _chart_version(root: pathlib.Path, ref: versions.ChartRef, version: str | None = None) -> str | None:
    chart = root / f"{ref.name}-{version or ref.version}" / "Chart.yaml"
    return yaml.safe_load(chart.read_text()).get("version") if chart.is_file() else None


# --------------------------------------------------------------------------- rendering


class Rendered:
    """One stack's releases rendered: objects per release name, plus the values and registered resources."""

    def __init__(self, stack_name: str):
        from helm_python import Chart  # only where charts exist; the package is in requirements-dev.txt

        root = charts_dir()
        self.stack = run_stack(stack_name)
        self.values: dict[str, dict] = {}
        self.charts: dict[str, pathlib.Path] = {}
        self.objects: dict[str, list[dict]] = {}
        for release in self.stack.of_type(RELEASE):
            ref = next(c for c in versions.CHARTS if c.chart == release.inputs["chart"])
            name, values = release.inputs["name"], release.inputs.get("values") or {}
            version = release.inputs["version"]  # the stack's, e.g. a mesh.istioVersion override
            path = root / f"{ref.name}-{version}"
            assert _chart_version(root, ref, version) == version, f"{path} is not {ref.name} {version}"
            with Chart.load(str(path)) as chart:
                files = chart.render(values=values, name=name, namespace=release.inputs["namespace"],
                                     is_install=True)
            self.values[name], self.charts[name] = values, path
            self.objects[name] = [doc for file, text in sorted(files.items()) if file.endswith((".yaml", ".yml"))
                                  for doc in yaml.load_all(text, Loader=_Loader) if isinstance(doc, dict)]

    def all_objects(self) -> Iterator[dict]:
        for objects in self.objects.values():
            yield from objects

    def find(self, release: str, kind: str, name: str | None = None) -> list[dict]:
        return [o for o in self.objects[release] if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


@pytest.fixture(scope="module", params=["dev", "prod"])
def rendered(request) -> Rendered:
    return Rendered(request.param)


# --------------------------------------------------------------------------- values keys


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over if over is not None else base


def chart_schema(path: pathlib.Path) -> tuple[dict, dict[tuple[str, ...], str]]:
    """A chart's defaults (its values.yaml, subcharts' values under their names) and template text per chart."""
    values_file = path / "values.yaml"
    defaults = (yaml.load(values_file.read_text(), Loader=_Loader) if values_file.is_file() else None) or {}
    defaults = _merge(defaults.pop("_internal_defaults_do_not_set", {}), defaults)  # Istio's layout
    templates = {(): "\n".join(p.read_text(errors="replace") for p in (path / "templates").rglob("*")
                               if p.is_file())}
    for sub in sorted((path / "charts").glob("*/Chart.yaml")):
        sub_defaults, sub_templates = chart_schema(sub.parent)
        name = yaml.safe_load(sub.read_text())["name"]
        defaults[name] = _merge(sub_defaults, defaults.get(name) or {})
        templates.update({(name, *prefix): text for prefix, text in sub_templates.items()})
    return defaults, templates


def _read_by_template(path: tuple[str, ...], templates: dict[tuple[str, ...], str]) -> bool:
    chart = max((p for p in templates if path[:len(p)] == p), key=len)
    key = ".".join(path[len(chart):])
    return re.search(r"\.Values\." + re.escape(key) + r"(?![\w-])", templates[chart]) is not None


def _passed_whole(path: tuple[str, ...], templates: dict[tuple[str, ...], str]) -> bool:
    """The template copies the map into the manifest as it is (`toYaml .Values.resources`): what is inside
    is then the Kubernetes API's to judge, and the object validation below does."""
    chart = max((p for p in templates if path[:len(p)] == p), key=len)
    key = re.escape(".".join(path[len(chart):]))
    return re.search(r"toYaml\s+\(?\$?\.Values\." + key + r"\b(?![.\w-])|\$?\.Values\." + key
                     + r"\s*\|\s*toYaml", templates[chart]) is not None


def _is_resource_requirements(key: str, value: Any) -> bool:
    """A container's `resources`: Kubernetes' own shape, which the object validation below judges."""
    return key == "resources" and isinstance(value, dict) and set(value) <= {"requests", "limits"}


def unknown_keys(values: dict, defaults: Any, templates: dict, passthrough: set, path: tuple = ()) -> Iterator[str]:
    """Keys we set that neither the chart's values.yaml nor any of its templates knows."""
    for key, value in values.items():
        here = (*path, key)
        in_chart = isinstance(defaults, dict) and key in defaults
        if here in passthrough or _passed_whole(here, templates) or (in_chart and _is_resource_requirements(key, value)):
            continue
        if isinstance(defaults, dict) and key in defaults:
            default = defaults[key]
            # an empty map ({} by default, like podAnnotations or resources) is free-form: the chart passes it on
            if isinstance(value, dict) and isinstance(default, dict) and default:
                yield from unknown_keys(value, default, templates, passthrough, here)
        elif not _read_by_template(here, templates):
            yield ".".join(here)


def lift_legacy_prefix(chart: str, values: dict) -> dict:
    prefix = LEGACY_PREFIX.get(chart)
    if prefix and isinstance(values.get(prefix), dict):
        return _merge({k: v for k, v in values.items() if k != prefix}, values[prefix])
    return values


def test_every_values_key_exists_in_the_pinned_chart(rendered):
    for release, values in rendered.values.items():
        chart = yaml.safe_load((rendered.charts[release] / "Chart.yaml").read_text())["name"]
        defaults, templates = chart_schema(rendered.charts[release])
        unknown = list(unknown_keys(lift_legacy_prefix(chart, values), defaults, templates,
                                    PASSTHROUGH.get(chart, set())))
        assert unknown == [], f"{release}: keys the chart {chart} does not know: {unknown}"


def test_the_key_check_catches_a_misspelt_key(rendered):
    values = json.loads(json.dumps(rendered.values[KAFKA_RELEASE]))
    values["controller"]["podAntiAfinityPreset"] = "hard"  # one letter off: Bitnami would ignore it silently
    values["metrics"]["resources"] = {"requests": {"cpu": "1"}}  # resources, but where the chart has none
    defaults, templates = chart_schema(rendered.charts[KAFKA_RELEASE])
    assert list(unknown_keys(values, defaults, templates, set())) == [
        "controller.podAntiAfinityPreset", "metrics.resources"]


def test_mesh_config_sets_only_known_istio_fields(rendered):
    for key, value in rendered.values["istiod"]["meshConfig"].items():
        assert key in MESH_CONFIG_FIELDS, f"meshConfig.{key} is not a known MeshConfig field"
        if isinstance(value, dict):
            assert set(value) <= MESH_CONFIG_FIELDS[key], f"meshConfig.{key}: {set(value) - MESH_CONFIG_FIELDS[key]}"


# --------------------------------------------------------------------------- Kafka in the mesh


def _registered_manifests(rendered: Rendered, kind: str) -> list[dict]:
    return [r.inputs for r in rendered.stack if r.type.endswith(f":{kind}")]


def test_destination_rule_hosts_are_the_rendered_kafka_services(rendered):
    services = {f"{s['metadata']['name']}.{s['metadata']['namespace']}.svc.cluster.local"
                for s in rendered.find(KAFKA_RELEASE, "Service") if "jmx" not in s["metadata"]["name"]}
    hosts = {dr["spec"]["host"] for dr in _registered_manifests(rendered, "DestinationRule")}
    assert hosts == services


def test_kafka_authorization_policy_selects_the_rendered_pods_and_names_rendered_accounts(rendered):
    (policy,) = [p for p in _registered_manifests(rendered, "AuthorizationPolicy")
                 if p["metadata"]["namespace"] != "istio-system"]
    selector = policy["spec"]["selector"]["matchLabels"]
    kafka_sets = rendered.find(KAFKA_RELEASE, "StatefulSet")
    assert kafka_sets, "no Kafka StatefulSet rendered"
    for sts in kafka_sets:
        labels = sts["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"the policy does not select {sts['metadata']['name']}'s pods"
    namespace = policy["metadata"]["namespace"]
    # the chart's accounts, and the ones the program creates there (the access Job's)
    accounts = {f"cluster.local/ns/{namespace}/sa/{sa['metadata']['name']}"
                for sa in [*rendered.find(KAFKA_RELEASE, "ServiceAccount"), *_registered_manifests(rendered, "ServiceAccount")]
                if sa["metadata"].get("namespace", namespace) == namespace}
    principals = {p for rule in policy["spec"]["rules"] for source in rule["from"]
                  for p in source["source"].get("principals", []) if p.startswith(f"cluster.local/ns/{namespace}/")}
    assert principals and principals <= accounts, principals - accounts
    pod_accounts = {sts["spec"]["template"]["spec"]["serviceAccountName"] for sts in kafka_sets}
    assert {f"cluster.local/ns/{namespace}/sa/{sa}" for sa in pod_accounts} <= principals


def test_kafka_server_properties_carry_durability_and_authorization(rendered):
    kafka = rendered.stack.one(RELEASE, "kafka-release").inputs["values"]
    for config_map in rendered.find(KAFKA_RELEASE, "ConfigMap"):
        properties = config_map["data"].get("server.properties")
        if properties is None:
            continue
        for key, value in kafka["overrideConfiguration"].items():
            assert f"{key}={value}" in properties.splitlines(), (config_map["metadata"]["name"], key)
        lines = properties.splitlines()
        assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in lines
        assert "super.users=User:inter_broker_user;User:controller_user;User:kafka-admin" in lines
        assert "listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512" in lines
        # the chart's own JAAS names only the platform admin among client users, and no password
        jaas = [line for line in lines if "sasl.jaas.config" in line]
        assert jaas and not any("user_app" in line for line in jaas)
        assert not any("-password\"" in line and "placeholder" not in line for line in jaas)


# --------------------------------------------------------------------------- rolling without a write outage


def _container(pod_spec: dict, name: str, init: bool = False) -> dict:
    (found,) = [c for c in pod_spec["initContainers" if init else "containers"] if c["name"] == name]
    return found


def test_kafka_pods_are_ready_only_in_sync_and_shut_down_within_kafkas_deadline(rendered):
    kafka = rendered.stack.one(RELEASE, "kafka-release").inputs["values"]
    roles = {"kafka-controller": kafka["controller"], "kafka-broker": kafka["broker"]}
    sets = {s["metadata"]["name"]: s for s in rendered.find(KAFKA_RELEASE, "StatefulSet")}
    assert set(sets) == {name for name, role in roles.items() if role["replicaCount"]}
    for name, sts in sets.items():
        spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
        probe = _container(pod, "kafka")["readinessProbe"]
        ready_as = probe["exec"]["command"][4:]
        assert ready_as in (["broker"], ["controller"], ["broker", "controller"]), ready_as
        assert probe == readiness_probe(ready_as), f"{name}: the chart did not render our probe as given"
        assert ("controller" in ready_as) == (name == "kafka-controller")
        assert ("broker" in ready_as) == (name == "kafka-broker" or not kafka["controller"]["controllerOnly"])
        assert pod["terminationGracePeriodSeconds"] == 330 and spec["minReadySeconds"] == 60, name
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["nodeTaintsPolicy"] == "Honor" and spread["nodeAffinityPolicy"] == "Honor", name
        assert spread["labelSelector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    # the PDB (which counts Ready pods) of each role selects that role's pods and lets one go at a time
    for pdb in rendered.find(KAFKA_RELEASE, "PodDisruptionBudget"):
        sts = sets[pdb["metadata"]["name"]]
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()


def test_the_readiness_probe_reads_series_the_rendered_exporter_config_exports(rendered):
    from test_kafka_ready import BEANS, exported

    (config_map,) = rendered.find(KAFKA_RELEASE, "ConfigMap", f"{KAFKA_RELEASE}-jmx-configuration")
    config = yaml.safe_load(config_map["data"]["jmx-kafka-prometheus.yml"])
    assert config["lowercaseOutputName"] is True and config["lowercaseOutputLabelNames"] is True
    for series, bean in BEANS.items():
        assert exported(config["rules"], bean) == series, bean
        domain, bean_type = bean.split("<", 1)[0], bean.split("type=", 1)[1].split(",")[0].split(">")[0]
        assert any(pattern.startswith(f"{domain}:") for pattern in config["whitelistObjectNames"]), bean_type


def test_the_kraft_identity_comes_from_the_pulumi_secret_and_broker_ids_match_the_guard(rendered):
    kafka_cfg = rendered.stack.one(RELEASE, "kafka-release")
    assert not rendered.find(KAFKA_RELEASE, "Secret", f"{KAFKA_RELEASE}-kraft"), "the chart still renders its own ids"
    registered = rendered.stack.one("kubernetes:core/v1:Secret", "kafka-kraft-ids").inputs["stringData"]
    controllers = int(kafka_cfg.inputs["values"]["controller"]["replicaCount"])  # mocks send numbers as floats
    for sts in rendered.find(KAFKA_RELEASE, "StatefulSet"):
        pod = sts["spec"]["template"]["spec"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for c in [*pod["initContainers"], *pod["containers"]]
                for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
                and e["valueFrom"]["secretKeyRef"]["name"] in (KRAFT_SECRET, f"{KAFKA_RELEASE}-kraft")}
        assert refs["KAFKA_KRAFT_CLUSTER_ID"] == {"name": KRAFT_SECRET, "key": "cluster-id"}
        for i in range(controllers):
            assert refs[f"KAFKA_CONTROLLER_{i}_DIR_ID"] == {"name": KRAFT_SECRET, "key": f"controller-{i}-id"}
        assert {ref["key"] for ref in refs.values()} <= set(registered), "a key the Pulumi Secret lacks"
        # node ids = the role's minId + ordinal: what kafkaBrokerIds (the broker-removal guard) assumes
        prepare = _container(pod, "prepare-config", init=True)
        min_id = next(e["value"] for e in prepare["env"] if e["name"] == "KAFKA_MIN_ID")
        broker_ids = rendered.stack.outputs["kafkaBrokerIds"]
        if sts["metadata"]["name"] == "kafka-broker" or not kafka_cfg.inputs["values"]["controller"]["controllerOnly"]:
            assert broker_ids == list(range(int(min_id), int(min_id) + sts["spec"]["replicas"]))


# --------------------------------------------------------------------------- Istio


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    return actual == expected



def test_istiod_gets_our_mesh_config_and_runs_the_untaint_controller(rendered):
    (config_map,) = rendered.find("istiod", "ConfigMap", "istio")
    mesh = yaml.safe_load(config_map["data"]["mesh"])
    assert _contains(mesh, rendered.values["istiod"]["meshConfig"])
    (deployment,) = rendered.find("istiod", "Deployment", "istiod")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["PILOT_ENABLE_NODE_UNTAINT_CONTROLLERS"] == "true"
    assert env["PILOT_NODE_UNTAINT_CONTROLLERS_TAINT_NAME"] == "cni.istio.io/not-ready"
    assert any(t.get("key") == "cni.istio.io/not-ready" for t in pod["tolerations"])  # it must run to untaint
    assert pod["containers"][0]["resources"] == rendered.values["istiod"]["pilot"]["resources"]


# --------------------------------------------------------------------------- images


def _pod_specs(objects: Iterator[dict]) -> Iterator[tuple[str, dict]]:
    for o in objects:
        if o["kind"] in WORKLOAD_KINDS:
            spec = o["spec"]
            spec = spec.get("jobTemplate", {}).get("spec", spec)
            yield f"{o['kind']}/{o['metadata']['name']}", spec["template"]["spec"] if "template" in spec else spec


def _with_registry(image: str) -> str:
    """bitnami/kafka:4 is docker.io/bitnami/kafka:4 to a container runtime."""
    first = image.split("/", 1)[0]
    return image if "/" in image and ("." in first or ":" in first or first == "localhost") else f"docker.io/{image}"


def test_every_rendered_image_comes_from_an_allowed_registry(rendered):
    images = {(where, c["image"]) for where, pod in _pod_specs(rendered.all_objects())
              for c in (*(pod.get("initContainers") or []), *pod.get("containers", []))}  # kminion renders null
    assert images
    bad = {(where, image) for where, image in images if _with_registry(image).startswith(FORBIDDEN_REGISTRIES)}
    assert not bad, bad
    # every injected sidecar pulls proxyv2 from the hub the injector is given
    (injector,) = rendered.find("istiod", "ConfigMap", "istio-sidecar-injector")
    hub = json.loads(injector["data"]["values"])["global"]["hub"]
    assert hub == rendered.values["istiod"]["global"]["hub"] and not hub.startswith(FORBIDDEN_REGISTRIES)


# --------------------------------------------------------------------------- Kubernetes API


def _strict(schema: Any) -> Any:
    """A CRD schema that rejects unknown fields, as the API server's structural pruning would drop them."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        if isinstance(schema.get("pattern"), str) and schema["pattern"].startswith("^(?i)"):
            schema["pattern"] = "(?i)^" + schema["pattern"][5:]  # Go's RE2 takes inline flags anywhere
        if schema.pop("x-kubernetes-int-or-string", False):
            schema.pop("type", None)
            schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def crd_schemas(rendered: Rendered) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict schema, from the CRDs the pinned charts themselves install."""
    schemas = {}
    for crd in rendered.all_objects():
        if crd["kind"] != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def test_every_object_validates_against_the_clusters_kubernetes_api(rendered):
    import jsonschema
    import kubernetes_validate

    kubernetes = rendered.stack.one("eks:index:Cluster").inputs["version"]
    crds = crd_schemas(rendered)
    # a Patch is partial by design (the aws-node restart sets one annotation): the API merges it, never validates it whole
    registered = [r.inputs for r in rendered.stack if r.type.startswith("kubernetes:") and "apiVersion" in r.inputs
                  and not r.type.endswith("Patch")]
    problems, checked = [], 0
    for obj in [*rendered.all_objects(), *registered]:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        key = (obj["apiVersion"], obj["kind"])
        try:
            if key in crds:
                jsonschema.validate({k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")},
                                    {**crds[key], "properties": {
                                        p: s for p, s in crds[key].get("properties", {}).items()
                                        if p not in ("apiVersion", "kind", "metadata")}})
            else:
                kubernetes_validate.validate(obj, f"{kubernetes}.0", strict=True)
            checked += 1
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as e:
            problems.append(f"{where}: {getattr(e, 'message', e)}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {key} in Kubernetes {kubernetes} nor in a pinned chart's CRDs")
    assert not problems, "\n".join(problems)
    assert checked > 100


# --------------------------------------------------------------------------- network policies

# Pods prometheus-operator builds from the Prometheus and Alertmanager resources, which no chart renders:
# the labels it sets on them (prometheus-operator v0.93, pkg/prometheus/statefulset.go and
# pkg/alertmanager/statefulset.go), plus what podMetadata adds.
OPERATOR_PODS = {"monitoring": [{"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by":
                                 "prometheus-operator", "prometheus": "kube-prometheus-stack-prometheus"},
                                {"app.kubernetes.io/name": "alertmanager", "app.kubernetes.io/managed-by":
                                 "prometheus-operator", "alertmanager": "kube-prometheus-stack-alertmanager"}]}


def _pod_labels(rendered: Rendered) -> dict[str, list[dict]]:
    """namespace -> the labels of every pod template the releases and the program put there."""
    found: dict[str, list[dict]] = {ns: list(labels) for ns, labels in OPERATOR_PODS.items()}
    for release in rendered.stack.of_type(RELEASE):
        for o in rendered.objects[release.inputs["name"]]:
            if o["kind"] in WORKLOAD_KINDS:
                spec = o["spec"].get("jobTemplate", {}).get("spec", o["spec"])
                ns = o["metadata"].get("namespace") or release.inputs["namespace"]
                template = spec.get("template", o)  # a bare Pod is its own template
                found.setdefault(ns, []).append(template["metadata"].get("labels") or {})
    for job in _registered_manifests(rendered, "Job"):
        found.setdefault(job["metadata"]["namespace"], []).append(job["spec"]["template"]["metadata"]["labels"])
    return found


def _selects(selector: dict, pods: list[dict]) -> bool:
    return any(selector.get("matchLabels", {}).items() <= labels.items() for labels in pods)


def test_every_network_policy_selects_rendered_pods_and_admits_rendered_callers(rendered):
    pods = _pod_labels(rendered)
    checked = 0
    for policy in _registered_manifests(rendered, "NetworkPolicy"):
        ns, spec = policy["metadata"]["namespace"], policy["spec"]
        if spec["podSelector"]:
            assert _selects(spec["podSelector"], pods.get(ns, [])), f"{ns}/{policy['metadata']['name']} selects no pod"
            checked += 1
        for rule in spec["ingress"]:
            for source in rule["from"]:
                if "podSelector" in source and "namespaceSelector" not in source:
                    assert _selects(source["podSelector"], pods.get(ns, [])), (policy["metadata"], source)
                    checked += 1
    assert checked >= 10


def test_kafkas_chart_policy_admits_no_one_it_does_not_name(rendered):
    rendered_policies = rendered.find(KAFKA_RELEASE, "NetworkPolicy")
    assert rendered_policies
    kafka_pods = [s["spec"]["template"]["metadata"]["labels"] for s in rendered.find(KAFKA_RELEASE, "StatefulSet")]
    for policy in rendered_policies:
        assert _selects(policy["spec"]["podSelector"], kafka_pods)
        for rule in policy["spec"]["ingress"]:
            assert rule.get("from"), f"{policy['metadata']['name']} admits anyone on {rule.get('ports')}"
    job = {"app.kubernetes.io/name": "kafka-access"}
    assert any(source.get("podSelector", {}).get("matchLabels") == job
               for policy in rendered_policies for rule in policy["spec"]["ingress"] for source in rule["from"])
    assert _selects({"matchLabels": job}, _pod_labels(rendered)["kafka"])


def test_jmx_binds_loopback_in_the_rendered_kafka_container(rendered):
    for sts in rendered.find(KAFKA_RELEASE, "StatefulSet"):
        env = {e["name"]: e.get("value") for e in _container(sts["spec"]["template"]["spec"], "kafka")["env"]}
        assert env["JMX_PORT"] == "5555"
        assert "-Dcom.sun.management.jmxremote.host=127.0.0.1" in env["KAFKA_JMX_OPTS"]


def test_grafana_renders_a_namespaced_role_and_no_cluster_role(rendered):
    objects = rendered.objects["kube-prometheus-stack"]
    grafana_kinds = {o["kind"] for o in objects if "grafana" in o["metadata"]["name"] and o["kind"] in (
        "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")}
    assert grafana_kinds == {"Role", "RoleBinding"}


def test_istiod_runs_with_the_runtime_seccomp_profile_and_grafana_ships_no_root_test_pod(rendered):
    (istiod,) = rendered.find("istiod", "Deployment")
    container = _container(istiod["spec"]["template"]["spec"], "discovery")
    assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not [o for o in rendered.objects["kube-prometheus-stack"] if o["metadata"]["name"].endswith("grafana-test")]
