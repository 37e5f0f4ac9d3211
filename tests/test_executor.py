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
    assert info["retries"] == [] and info["worker_deaths"] == 0
    assert not (tmp_path / "pool" / ".workers").exists()  # the workers' files are cleared
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


# ------------------------------------------------------------------ workers that die
def test_a_worker_killed_mid_run_costs_only_the_item_it_was_computing(tmp_path, monkeypatch):
    from leg.harness.engine.executors import KILL_ENV
    from leg.harness.engine.jobs import run_jobs
    from tests.dying import fake_jobs, fake_produce, started

    monkeypatch.setenv(KILL_ENV, "2")  # the first worker to start its 2nd item dies
    jobs = fake_jobs(tmp_path, n_jobs=3, n_items=4)
    with ProcessExecutor(2) as ex:
        status = run_jobs(jobs, fake_produce, ex)
        info = ex.describe()
    keys = [it.key for job in jobs for it in job.items]
    assert sorted(status) == sorted(keys) and {s for s, _ in status.values()} == {"computed"}
    assert (tmp_path / ".workers" / "killed-at-2").exists()
    # one death, blamed on the dead worker's 2nd item, which was computed again
    assert info["worker_deaths"] == 1 and len(info["retries"]) == 1, info["retries"]
    retry = info["retries"][0]
    job = next(job for job in jobs if retry["job"] == job.label)
    assert retry == {"job": job.label, "item": job.items[1].key, "worker_exit": "SIGKILL",
                     "attempt": 1}
    cache = ExplanationCache(tmp_path)
    for j in jobs:
        for it in j.items:
            assert cache.get(it.key)["saliency"][0, 0] == it.value
    # nothing stored before the death was computed again: only the item the other worker
    # had in progress when the broken pool terminated it may have started twice
    counts = started(tmp_path)
    assert sorted(counts) == sorted(keys) and sum(counts.values()) <= len(keys) + 1, counts
    assert counts[retry["item"]] == 1  # killed before it started (the hook), then computed
    assert not list((tmp_path / ".workers").glob("*.json"))  # the workers' files are gone
    assert [j["computed"] for j in info["jobs"] if j["job"] == job.label] == [3]


def test_an_item_that_kills_its_worker_every_time_is_that_items_error(tmp_path):
    from leg.harness.engine.executors import MAX_ATTEMPTS
    from leg.harness.engine.jobs import run_jobs
    from tests.dying import fake_jobs, fake_produce

    jobs = fake_jobs(tmp_path, n_jobs=3, n_items=4, deadly=(1, 2))
    deadly = jobs[1].deadly
    with ProcessExecutor(2) as ex:
        status = run_jobs(jobs, fake_produce, ex)
        info = ex.describe()
    assert status.pop(deadly)[0] == (
        f"error: the worker computing it died (killed by signal SIGKILL) {MAX_ATTEMPTS} times")
    assert len(status) == 11 and {s for s, _ in status.values()} == {"computed"}
    assert info["retries"] == [{"job": "fake:1", "item": deadly, "worker_exit": "SIGKILL",
                                "attempt": n} for n in range(1, MAX_ATTEMPTS + 1)]
    assert info["worker_deaths"] == MAX_ATTEMPTS
    assert deadly not in ExplanationCache(tmp_path)


@pytest.mark.slow  # ~20 s: a process start per death (leg's explainers import TensorFlow)
def test_a_user_method_that_kills_its_worker_on_one_image(tmp_path, monkeypatch):
    from dataclasses import replace

    from leg.harness.engine.executors import MAX_ATTEMPTS
    from leg.harness.engine.inputs import array_hash
    from leg.harness.engine.jobs import ExplainItem
    from leg.harness.methods.user import FACTORY_OPTION
    from tests.dying import DEADLY_IMAGE_ENV

    jobs = _jobs(str(tmp_path))
    images = {it.image_id: it.image for job in jobs for it in job.items}
    mine = {FACTORY_OPTION: "tests.dying:dies_on_image"}
    jobs = [replace(job, items=(*job.items, *(
        ExplainItem(f"{i:02d}" + "f" * 62, image_id, images[image_id], "mine", mine, 0, 1)
        for i, image_id in enumerate(sorted({it.image_id for it in job.items}), 3 * n))))
        for n, job in enumerate(jobs)]
    monkeypatch.setenv(DEADLY_IMAGE_ENV, array_hash(images["img1"])[:12])
    with ProcessExecutor(1) as ex:  # (1: a new pool per death costs one process start)
        status = compute_explanations(jobs, ex)
    errors = {it.key: status[it.key][0] for job in jobs for it in job.items
              if it.method == "mine" and it.image_id == "img1"}
    assert list(errors.values()) == [
        f"error: the worker computing it died (killed by signal SIGKILL) {MAX_ATTEMPTS} times"]
    assert {st for k, (st, _) in status.items() if k not in errors} == {"computed"}
    assert len(status) == 6 + 3


def _csv_tables(run_dir: Path) -> dict[str, list[dict]]:
    """The run's CSV tables, timing columns aside."""
    import csv

    timing = {"seconds", "seconds_per_map", "took_s", "estimated_s"}
    tables = {}
    for path in sorted(run_dir.glob("*.csv")):
        with open(path, newline="") as fh:
            tables[path.name] = [{k: v for k, v in row.items() if k not in timing}
                                 for row in csv.DictReader(fh)]
    return tables


@pytest.mark.slow  # two harness runs: ~80-100 s on 2 cores
def test_a_run_whose_worker_is_killed_gives_the_same_tables(tmp_path):
    import json
    import os

    from leg.harness.engine.executors import KILL_ENV

    pytest.importorskip("tensorflow")
    args = [sys.executable, "-m", "pytest", "evaluation", "-m", "sanity", "--leg-profile",
            "smoke", "--leg-model", "digits", "--leg-methods", "leg", "--leg-n-images", "2",
            "--leg-stages", "1", "--leg-workers", "2", "-q", "-p", "no:cacheprovider"]
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    runs = {}
    for name, extra in (("undisturbed", {}), ("killed", {KILL_ENV: "2"})):
        done = subprocess.run([*args, "--leg-report-dir", str(tmp_path / name)], cwd=REPO,
                              env={**env, **extra}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        runs[name] = (tmp_path / name / "latest").resolve()
    # a worker died at its 2nd item (once: the marker), the run retried that item alone
    cache = tmp_path / "killed" / ".cache"
    assert (cache / ".workers" / "killed-at-2").exists()
    assert not list((cache / ".workers").glob("*.json"))
    executor = json.loads((runs["killed"] / "run.json").read_text())["executor"]
    assert executor["worker_deaths"] == 1 and len(executor["retries"]) == 1
    retry = executor["retries"][0]
    assert retry["worker_exit"] == "SIGKILL" and retry["attempt"] == 1
    assert retry["job"].startswith("digits") and ExplanationCache(cache).get(retry["item"])
    undisturbed = json.loads((runs["undisturbed"] / "run.json").read_text())["executor"]
    assert undisturbed["retries"] == [] and undisturbed["worker_deaths"] == 0
    # and its tables are the undisturbed run's
    tables = _csv_tables(runs["killed"])
    assert {"sanity.csv", "verdicts.csv", "tests.csv"} <= set(tables)
    assert tables == _csv_tables(runs["undisturbed"])
