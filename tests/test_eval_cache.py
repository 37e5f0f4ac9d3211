"""The explanation cache: keys, atomic entries, resume after a crash."""

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from leg.harness.engine.cache import (
    CACHE_VERSION,
    CRASH_ENV,
    CacheDamageWarning,
    DamagedEntry,
    ExplanationCache,
    explanation_key,
)
from leg.harness.engine.inputs import array_hash, model_fingerprint
from leg.harness.engine.jobs import ExplainItem, ExplainJob, compute_explanations

REPO = Path(__file__).resolve().parents[1]


class TinyLinear:
    """A NumPy classifier on (N, 8, 8, 1) images: two linear scores."""

    input_shape = (8, 8, 1)

    def __init__(self, scale: float = 1.0):
        self.w = scale * np.linspace(-1.0, 1.0, 128).reshape(64, 2)

    def __call__(self, x):
        return np.asarray(x, dtype=np.float64).reshape(len(x), -1) @ self.w


BASE = dict(model="m", state={"stage": "original"}, image="i", method="leg",
            options={"cell_size": 2}, seed=0, target=1)


@pytest.mark.parametrize("field,value", [
    ("model", "m2"), ("state", {"stage": "cascade-logits"}), ("image", "i2"),
    ("method", "leg-tv"), ("options", {"cell_size": 4}), ("seed", 1), ("target", 0)])
def test_key_changes_with_each_input(field, value):
    assert explanation_key(**BASE) == explanation_key(**BASE)
    assert explanation_key(**{**BASE, field: value}) != explanation_key(**BASE)


def test_fingerprints_and_image_hash():
    assert model_fingerprint(TinyLinear()) == model_fingerprint(TinyLinear())
    assert model_fingerprint(TinyLinear(2.0)) != model_fingerprint(TinyLinear())
    a = np.zeros((4, 4, 1))
    b = a.copy()
    b[0, 0, 0] = 1e-9
    assert array_hash(a) != array_hash(b)


def test_put_get_roundtrip_and_corrupt_entry(tmp_path):
    cache = ExplanationCache(tmp_path)
    key = explanation_key(**BASE)
    cache.put(key, np.arange(4.0).reshape(2, 2), {"seconds": 1.5})
    got = cache.get(key)
    np.testing.assert_array_equal(got["saliency"], [[0, 1], [2, 3]])
    assert got["meta"] == {"seconds": 1.5}
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    cache.path(key).write_bytes(b"not an npz")
    with pytest.warns(CacheDamageWarning, match="not a readable .npz entry"):
        assert cache.get(key) is None
    assert (tmp_path / "damaged" / f"{key}.npz").read_bytes() == b"not an npz"  # set aside
    assert cache.get(key) is None and cache.keys() == []


def test_entries_of_another_key_or_version_are_damaged(tmp_path):
    cache = ExplanationCache(tmp_path)
    key, other = explanation_key(**BASE), explanation_key(**{**BASE, "seed": 1})
    cache.put(other, np.ones((2, 2)), {})
    cache.path(key).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(cache.path(other), cache.path(key))  # a copied cache: right file, wrong key
    with pytest.warns(CacheDamageWarning, match="holds the entry of key"):
        assert key not in cache
    buffer = io.BytesIO()
    np.savez(buffer, saliency=np.ones((2, 2)), meta=np.array("{}"), key=np.array(key),
             version=np.array(CACHE_VERSION - 1))
    with pytest.raises(DamagedEntry, match="written by cache version"):
        cache.put_bytes(key, buffer.getvalue())  # what a worker sends back is checked too
    assert key not in cache and other in cache


def test_damage_warnings_are_capped_per_cache(tmp_path):
    cache = ExplanationCache(tmp_path)
    keys = [explanation_key(**{**BASE, "seed": s}) for s in range(8)]
    for k in keys:
        cache.path(k).parent.mkdir(parents=True, exist_ok=True)
        cache.path(k).write_bytes(b"")
    with pytest.warns(CacheDamageWarning) as record:
        assert all(cache.get(k) is None for k in keys)
    assert len(record) == 5 and "without a warning each" in str(record[-1].message)
    assert len(list((tmp_path / "damaged").iterdir())) == 8


def _jobs(root: str) -> list:
    clf = TinyLinear()
    fp = model_fingerprint(clf)
    rng = np.random.default_rng(0)
    items = []
    for i in range(3):
        img = rng.random((8, 8, 1))
        for method in ("leg", "leg-tv"):
            opts = {"cell_size": 2, "n_samples": 20}
            if method == "leg-tv":
                opts["lam"] = 0.1
            key = explanation_key(model=fp, state={"stage": "original"}, image=array_hash(img),
                                  method=method, options=opts, seed=0, target=1)
            items.append(ExplainItem(key, f"img{i}", img, method, opts, 0, 1))
    # two jobs so the kill happens between and inside jobs
    return [ExplainJob("tests.test_eval_cache:TinyLinear", "original", (), 0, tuple(items[:2]),
                       root),
            ExplainJob("tests.test_eval_cache:TinyLinear", "original", (), 0, tuple(items[2:]),
                       root)]


SCRIPT = textwrap.dedent("""
    import json, sys
    from tests.test_eval_cache import _jobs
    from leg.harness.engine.jobs import compute_explanations
    status = compute_explanations(_jobs(sys.argv[1]))
    print(json.dumps({k: v[0] for k, v in status.items()}))
""")


def _run(root, crash_after=None):
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_after is not None:
        env[CRASH_ENV] = str(crash_after)
    return subprocess.run([sys.executable, "-c", SCRIPT, str(root)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_resume_after_kill_recomputes_nothing_finished(tmp_path):
    root = tmp_path / "cache"
    first = _run(root, crash_after=3)
    assert first.returncode == 3, first.stderr  # died abruptly after its 3rd entry
    cache = ExplanationCache(root)
    done = cache.keys()
    assert len(done) == 3
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    stamps = {k: cache.path(k).stat().st_mtime_ns for k in done}

    second = _run(root)
    assert second.returncode == 0, second.stderr
    status = json.loads(second.stdout.strip().splitlines()[-1])
    assert len(status) == 6
    assert sorted(k for k, s in status.items() if s == "cached") == done
    assert sum(s == "computed" for s in status.values()) == 3
    assert {k: cache.path(k).stat().st_mtime_ns for k in done} == stamps  # not rewritten

    # a third run computes nothing at all
    jobs = _jobs(str(root))
    assert {s for s, _ in compute_explanations(jobs).values()} == {"cached"}


def test_an_explainer_error_is_reported_not_cached(tmp_path):
    job = _jobs(str(tmp_path))[0]
    bad = ExplainItem("ab" * 32, "img0", job.items[0].image, "no-such-method", {}, 0, 1)
    job = ExplainJob(job.model_spec, "original", (), 0, (bad,), str(tmp_path))
    status = compute_explanations([job])
    assert status[bad.key][0].startswith("error: ValueError")
    assert bad.key not in ExplanationCache(tmp_path)


def test_a_failing_shared_leg_pair_is_reported_and_the_job_goes_on(tmp_path):
    """LEG and LEG-TV share one sample set; when sampling fails (an odd sample count cannot
    make antithetic pairs) both maps are reported as errors and the job's other items are
    still computed."""
    job = _jobs(str(tmp_path))[1]  # leg-tv of img1, then leg and leg-tv of img2
    odd = tuple(replace(it, key=f"{i:02d}" * 32, options={**it.options, "n_samples": 21})
                for i, it in enumerate(job.items[1:]))
    job = replace(job, items=(job.items[0], *odd))
    status = compute_explanations([job])
    assert status[job.items[0].key][0] == "computed"
    assert all(status[it.key][0].startswith("error: ") for it in odd), status


def test_a_damaged_cache_is_recomputed_exactly_where_damaged(tmp_path):
    jobs = _jobs(str(tmp_path))
    first = compute_explanations(jobs)
    cache = ExplanationCache(tmp_path)
    maps = {k: cache.get(k)["saliency"] for k in first}
    keys = sorted(first)
    rand, empty, copied, truncated = keys[:4]
    cache.path(rand).write_bytes(np.random.default_rng(1).bytes(500))
    cache.path(empty).write_bytes(b"")
    shutil.copy(cache.path(keys[5]), cache.path(copied))
    whole = cache.path(truncated).read_bytes()
    cache.path(truncated).write_bytes(whole[: len(whole) // 2])

    with pytest.warns(CacheDamageWarning) as record:
        status = compute_explanations(jobs)
    assert len(record) == 4  # once per damaged entry
    assert sorted(k for k, (s, _) in status.items() if s == "computed") == keys[:4]
    assert all(status[k][0] == "cached" for k in keys[4:])
    for k in keys:  # the same seeds give the same maps again
        np.testing.assert_array_equal(cache.get(k)["saliency"], maps[k])
    assert len(list((tmp_path / "damaged").iterdir())) == 4
    assert {s for s, _ in compute_explanations(jobs).values()} == {"cached"}
