"""The chart pull script fetches exactly the pinned charts, into the layout the contract test reads."""

import importlib.util
import pathlib

import helm_python
from conftest import ROOT

from components import versions


def load_script():
    spec = importlib.util.spec_from_file_location("pull_charts", ROOT / "scripts" / "pull_charts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pulls_every_pinned_chart_once_into_chart_dash_version(tmp_path, monkeypatch):
    calls = []

    def fake_pull(chart_ref, *, version, repo_url, untar, untar_dir, destination):
        calls.append((chart_ref, version, repo_url))
        chart = pathlib.Path(untar_dir) / chart_ref.rsplit("/", 1)[-1]  # helm untars into the chart's name
        chart.mkdir()
        (chart / "Chart.yaml").write_text(f"name: {chart.name}\nversion: {version}\n")
        return {}

    monkeypatch.setattr(helm_python, "pull", fake_pull)
    script = load_script()
    pulled = script.pull(tmp_path)
    assert sorted(p.name for p in pulled) == sorted(f"{c.name}-{c.version}" for c in versions.CHARTS)
    assert sorted(calls) == sorted((c.chart, c.version, c.repo) for c in versions.CHARTS)
    assert ("oci://ghcr.io/istio/release/charts/istiod", versions.ISTIO_VERSION, None) in calls
    script.pull(tmp_path)  # already there: nothing pulled again
    assert len(calls) == len(versions.CHARTS)
