"""The wheel built from the checkout installs into a clean venv and runs: forms print, then ingest."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "pipeline", "review_app", "forms")


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_wheel_in_a_clean_venv_prints_and_ingests(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "forms_data")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                  str(src)], tmp_path)
    assert built.returncode == 0, built.stderr
    wheel, = dist.glob("susulan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "pipeline/forms_data/site.yaml" in names and "pipeline/forms_data/pendaftaran/v1.yaml" in names
    assert "pipeline/forms_data/erm/erm.yaml" in names
    assert not [n for n in names if n.startswith(("susulan_tools", "tests/", "tools/"))]
    tools = ("pipeline/synth/", "pipeline/bench.py", "pipeline/calibrate.py", "pipeline/datasets.py",
             "pipeline/recognize/train_icr.py", "pipeline/data/fonts/", "pipeline/data/mnist")
    assert not [n for n in names if n.startswith(tools) or n.endswith(".woff")]

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    bin_ = venv / "bin"
    installed = _run([str(bin_ / "pip"), "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr

    work = tmp_path / "work"  # run away from the checkout: nothing may come from it
    work.mkdir()
    where = _run([str(bin_ / "python"), "-c", "import pipeline.forms as f; print(f.__file__); print(f.forms_dir())"],
                 work)
    assert where.returncode == 0 and str(ROOT) not in where.stdout and str(venv) in where.stdout, where.stdout
    assert _run([str(bin_ / "python"), "-c", "import susulan_tools"], work).returncode != 0

    printed = _run([str(bin_ / "susulan"), "forms", "print", "--form", "pendaftaran", "--count", "2",
                    "--out", "blank.pdf", "--data-dir", "data"], work)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.split() == ["pendaftaran-000001", "pendaftaran-000002"]
    ingested = _run([str(bin_ / "susulan"), "ingest", "blank.pdf", "--data-dir", "data", "--jobs", "1"], work)
    assert ingested.returncode == 0, ingested.stderr
    assert "Read 2 page(s) into 2 record(s)" in ingested.stderr
