"""Choosing an executor: option combinations, clear messages, the process pool's results."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leg.harness.engine.cache import ExplanationCache
from leg.harness.engine.executors import (
    ProcessExecutor,
    SequentialExecutor,
    make_executor,
    resolve_executor,
)
from leg.harness.engine.jobs import compute_explanations
from tests.test_eval_cache import _jobs

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind,workers,address,expected", [
    (None, 0, None, "sequential"), (None, 2, None, "process"), ("ray", 0, None, "ray"),
    ("ray", 2, "auto", "ray"), ("process", 3, None, "process")])
def test_resolve_executor(kind, workers, address, expected):
    assert resolve_executor(kind, workers, address) == expected


@pytest.mark.parametrize("kind,workers,address,match", [
    ("sequential", 2, None, "need the process or ray executor"),
    ("process", 0, None, "needs a number of workers >= 1"),
    (None, 0, "auto", "needs the ray executor"),
    ("dask", 1, None, "Unknown executor 'dask'"),
    (None, -1, None, "integer >= 0")])
def test_resolve_executor_refuses_what_does_not_fit(kind, workers, address, match):
    with pytest.raises(ValueError, match=match):
        resolve_executor(kind, workers, address)


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install -e "\.\[ray\]"'):
        make_executor(2, "ray")


def test_an_unreachable_cluster_fails_fast_and_says_what_works():
    pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')
    with pytest.raises(ConnectionError, match="ray start --head.*--leg-ray-address local"):
        make_executor(0, "ray", "127.0.0.1:1")


def test_bad_executor_options_are_usage_errors():
    run = subprocess.run([sys.executable, "-m", "pytest", "evaluation", "--co", "-q",
                          "--leg-ray-address", "auto"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 4 and "needs the ray executor" in run.stderr


def test_process_pool_gives_the_same_maps_and_job_times(tmp_path):
    here = compute_explanations(_jobs(str(tmp_path / "here")))
    with ProcessExecutor(2) as ex:
        status = compute_explanations(_jobs(str(tmp_path / "pool")), ex)
        info = ex.describe()
    assert {s for s, _ in status.values()} == {"computed"} and status.keys() == here.keys()
    for key in here:
        np.testing.assert_array_equal(ExplanationCache(tmp_path / "pool").get(key)["saliency"],
                                      ExplanationCache(tmp_path / "here").get(key)["saliency"])
    assert info["executor"] == "process" and info["workers"] == 2
    assert sorted(j["computed"] for j in info["jobs"]) == [2, 4]
    assert SequentialExecutor().describe()["jobs"] == []


def test_a_line_per_finished_job_where_the_output_is_not_a_terminal(tmp_path):
    import io

    class Log(io.StringIO):
        def isatty(self):
            return False

    executor = SequentialExecutor()
    executor.progress = Log()
    jobs = _jobs(str(tmp_path))
    compute_explanations(jobs, executor)
    lines = executor.progress.getvalue().splitlines()
    total = sum(len(job.items) for job in jobs)
    assert len(lines) == len(jobs)
    assert lines[-1].startswith(f"leg: explanations: job {len(jobs)}/{len(jobs)} (")
    assert f"{total}/{total} items in" in lines[-1] and lines[-1].endswith("about 0:00 left")
    executor.progress = Log()
    compute_explanations(jobs, executor)  # everything cached: nothing to report
    assert executor.progress.getvalue() == ""
