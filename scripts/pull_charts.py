"""Pull every pinned chart (components/versions.py) into one folder, for the chart contract test.

    python scripts/pull_charts.py ~/.cache/kafka-platform-charts
    KAFKA_PLATFORM_CHARTS=~/.cache/kafka-platform-charts python -m pytest -q tests/test_chart_contract.py

Each chart lands in <folder>/<chart>-<version>/. It uses helm-python-sdk (requirements-dev.txt), so no
helm binary is needed; it needs network access to the chart registries, which CI here does not have.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.versions import CHARTS  # noqa: E402


def pull(destination: pathlib.Path) -> list[pathlib.Path]:
    import helm_python

    destination.mkdir(parents=True, exist_ok=True)
    pulled = []
    for ref in CHARTS:
        target = destination / f"{ref.name}-{ref.version}"
        if (target / "Chart.yaml").is_file():
            pulled.append(target)
            continue
        with tempfile.TemporaryDirectory() as scratch:
            helm_python.pull(ref.chart, version=ref.version, repo_url=ref.repo, untar=True, untar_dir=scratch,
                             destination=scratch)
            shutil.move(str(pathlib.Path(scratch) / ref.name), target)
        pulled.append(target)
    return pulled


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for path in pull(pathlib.Path(sys.argv[1]).expanduser()):
        print(path)
