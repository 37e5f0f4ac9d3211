"""The Ray executor: the same numbers as in this process, resume after the driver is killed,
damaged entries sent back, workers that die (once, or every time an item is computed), and
errors that read like the worker's.

One local Ray instance with 2 CPUs serves the whole module (started once, ~10 s)."""

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')

from leg.harness.checks.faithfulness.suite import run_perturbation  # noqa: E402
from leg.harness.checks.groundtruth import run_groundtruth  # noqa: E402
from leg.harness.engine.cache import CRASH_ENV, CacheDamageWarning, ExplanationCache  # noqa: E402
from leg.harness.engine.executors.ray import RayExecutor, _local_copy  # noqa: E402
from leg.harness.engine.jobs import (  # noqa: E402
    ExplainItem,
    ExplainJob,
    compute_explanations,
    explain_job,
    run_jobs,
)
from leg.harness.profiles import GroundTruthPlan, PerturbationPlan, get_profile  # noqa: E402
from leg.zoo.groundtruth import linear_region  # noqa: E402
from tests.test_eval_cache import _jobs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def executor():
    ex = RayExecutor(workers=2, address="local")
    yield ex
    ex.shutdown()


class LinearRegion:
    """The ground-truth model ``linear_region_28x28x3`` with the input shape the harness
    reads (for the perturbation suite's ``--leg-images``)."""

    input_shape = (28, 28, 3)

    def __init__(self):
        self.model = linear_region()

    def __call__(self, x):
        return self.model(x)


def _small_profile(images_dir: Path):
    """Ground truth on one synthetic model, perturbation scores on two images."""
    spec = "tests.test_ray_executor:LinearRegion"
    rng = np.random.default_rng(0)
    images_dir.mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(
            images_dir / f"img{i}.png")
    return replace(
        get_profile("smoke"), perturbation_methods=("leg", "leg-tv", "random-cells"),
        perturbation=(PerturbationPlan(spec, n_images=2, budget=100, alpha_steps=50,
                                       curve_steps=5, backgrounds=("mean", "black"),
                                       options={"leg": {"cell_size": 4, "mode": "joint"},
                                                "leg-tv": {"cell_size": 4, "mode": "joint",
                                                           "lam": 0.075},
                                                "random-cells": {"cell_size": 4}}),),
        groundtruth=GroundTruthPlan(models=("linear_region_28x28x3",), budgets=(100, 400),
                                    methods=("leg", "leg-tv", "random")))


def test_ray_gives_the_same_rows_and_maps_as_this_process(tmp_path, executor):
    profile = _small_profile(tmp_path / "images")
    out = {}
    for name, ex in (("here", None), ("ray", executor)):
        root = str(tmp_path / name)
        out[name] = (run_groundtruth(profile, cache_root=root, executor=ex),
                     run_perturbation(profile, cache_root=root,
                                      images_dir=str(tmp_path / "images"), executor=ex))
    (gt_here, pert_here), (gt_ray, pert_ray) = out["here"], out["ray"]
    assert gt_ray.rows == gt_here.rows and len(gt_here.rows) > 0
    # 2 images x 3 methods x 2 backgrounds at the matched cells, + the first one at pixels
    assert pert_ray.scores == pert_here.scores and len(pert_here.keysize) == 2 * 3 * 3
    assert pert_ray.keysize == pert_here.keysize
    assert not gt_ray.errors and not pert_ray.errors
    for maps_here, maps_ray in ((gt_here.maps, gt_ray.maps), (pert_here.maps, pert_ray.maps)):
        assert maps_here.keys() == maps_ray.keys()
        for k in maps_here:
            np.testing.assert_array_equal(maps_ray[k], maps_here[k])
    assert pert_ray.cache_stats["maps_computed"] == 6
    jobs = executor.describe()["jobs"]
    assert {j["job"] for j in jobs} >= {"groundtruth:linear_region_28x28x3:original",
                                        "scores:tests.test_ray_executor:LinearRegion"}
    assert all(j["seconds"] > 0 for j in jobs)


SCRIPT = textwrap.dedent("""
    import json, sys
    from tests.test_eval_cache import _jobs
    from leg.harness.engine.jobs import compute_explanations
    from leg.harness.engine.executors.ray import RayExecutor
    status = compute_explanations(_jobs(sys.argv[1]), RayExecutor(address=sys.argv[2]))
    print(json.dumps({k: v[0] for k, v in status.items()}))
""")


def _driver(root, address, crash_after=None):
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_after is not None:
        env[CRASH_ENV] = str(crash_after)
    return subprocess.run([sys.executable, "-c", SCRIPT, str(root), address], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=180)


def test_killed_driver_resumes_without_recomputing_what_finished(tmp_path, executor):
    address = ray.get_runtime_context().gcs_address
    root = tmp_path / "cache"
    first = _driver(root, address, crash_after=3)
    assert first.returncode == 3, first.stderr  # the driver died after writing 3 entries
    cache = ExplanationCache(root)
    done = cache.keys()
    assert len(done) == 3
    stamps = {k: cache.path(k).stat().st_mtime_ns for k in done}

    second = _driver(root, address)
    assert second.returncode == 0, second.stderr
    status = json.loads(second.stdout.strip().splitlines()[-1])
    assert sorted(k for k, s in status.items() if s == "cached") == done
    assert sum(s == "computed" for s in status.values()) == 3
    assert {k: cache.path(k).stat().st_mtime_ns for k in done} == stamps  # not rewritten


class Broken:
    """A model spec whose loading fails for a real reason."""

    def __init__(self):
        raise ValueError("the weights file is truncated (broken on purpose)")


def test_a_failing_job_raises_the_workers_error_not_a_ray_trace(tmp_path, executor):
    job = _jobs(str(tmp_path))[0]
    with pytest.raises(ValueError, match="broken on purpose") as info:
        compute_explanations([replace(job, model_spec="tests.test_ray_executor:Broken")],
                             executor)
    assert "Ray" not in str(info.value) and "Traceback" not in str(info.value)
    assert any("Ray worker" in note for note in info.value.__notes__)
    # an explainer that fails on one item is that item's error; the others are computed
    bad = ExplainItem("ab" * 32, "img0", job.items[0].image, "no-such-method", {}, 0, 1)
    status = compute_explanations([replace(job, items=(*job.items, bad))], executor)
    assert status[bad.key][0].startswith("error: ValueError")
    assert [status[it.key][0] for it in job.items] == ["computed", "computed"]


def _wrong_key_first(job: ExplainJob, done):
    """Sends back another key's entry the first time (a worker with a bad disk or bug)."""
    marker = Path(job.cache_root) / "sent-bad-once"
    for key, status, secs, data in explain_job(job, done):
        if not marker.exists():
            marker.touch()
            data = ExplanationCache.encode("0" * 64, np.zeros((8, 8)), {})
        yield key, status, secs, data


def test_a_damaged_entry_sent_back_is_set_aside_and_recomputed(tmp_path, executor):
    jobs = _jobs(str(tmp_path))
    with pytest.warns(CacheDamageWarning, match="sent back by a worker"):
        status = run_jobs(jobs, _wrong_key_first, executor)
    assert {s for s, _ in status.values()} == {"computed"} and len(status) == 6
    assert len(list((tmp_path / "damaged").iterdir())) == 1
    here = compute_explanations(_jobs(str(tmp_path / "here")))
    for key in here:
        np.testing.assert_array_equal(ExplanationCache(tmp_path).get(key)["saliency"],
                                      ExplanationCache(tmp_path / "here").get(key)["saliency"])


def _die_first(job: ExplainJob, done):
    """The worker process dies abruptly the first time it runs a job."""
    marker = Path(job.cache_root) / "died-once"
    if not marker.exists():
        marker.touch()
        os._exit(1)
    yield from explain_job(job, done)


def test_a_worker_that_dies_is_retried(tmp_path, executor):
    jobs = _jobs(str(tmp_path))[:1]
    before = len(executor.describe()["retries"])
    status = run_jobs(jobs, _die_first, executor)
    assert (tmp_path / "died-once").exists()
    assert [s for s, _ in status.values()] == ["computed", "computed"]
    # the death is blamed on the item the job was about to compute, its first
    assert executor.describe()["retries"][before:] == [{
        "job": jobs[0].label, "item": jobs[0].items[0].key, "attempt": 1,
        "worker_exit": "WorkerCrashedError: The worker died unexpectedly while executing "
                       "this task"}]


def test_an_item_that_kills_its_worker_every_time_is_that_items_error(tmp_path, executor):
    from leg.harness.engine.executors import MAX_ATTEMPTS
    from tests.dying import fake_jobs, fake_produce, started

    jobs = fake_jobs(tmp_path, n_jobs=2, n_items=3, deadly=(0, 1))
    before = executor.describe()
    status = run_jobs(jobs, fake_produce, executor)
    deadly = jobs[0].deadly
    assert status.pop(deadly)[0] == (
        "error: the worker computing it died (WorkerCrashedError: The worker died "
        f"unexpectedly while executing this task) {MAX_ATTEMPTS} times")
    assert len(status) == 5 and {s for s, _ in status.values()} == {"computed"}
    after = executor.describe()
    assert [(r["item"], r["attempt"]) for r in after["retries"][len(before["retries"]):]] == [
        (deadly, n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert after["worker_deaths"] - before["worker_deaths"] == MAX_ATTEMPTS
    # the items before it were not computed again, those after it once
    counts = started(tmp_path)
    assert counts == {**{it.key: 1 for job in jobs for it in job.items}, deadly: MAX_ATTEMPTS}


def test_a_model_file_goes_through_the_object_store_once(tmp_path, executor):
    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    ref = executor._model_file(str(model))
    assert executor._model_file(str(model)) is ref and ray.get(ref) == b"weights"
    assert executor._model_file("lite0") is None  # zoo models load from the packages
    copy = Path(_local_copy("/on/the/driver/model.keras", b"weights"))  # on a worker
    assert copy.name == "model.keras" and copy.read_bytes() == b"weights"
