"""Comparing a run with a stored run of another version of the model
(:mod:`leg.harness.report.versions`): Holm's correction, the fail expressions, the per-unit
paired comparison, the drift of the maps, what a run remembers of its environment, and the
run-level comparison of two stored runs across versions."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leg.harness.report import Report
from leg.harness.report.baseline import compare_rows, load_baseline, regression_lines
from leg.harness.report.environment import differences, environment
from leg.harness.report.versions import (
    CompareFail,
    Limit,
    compare_fail_option,
    compare_versions,
    drift,
    holm,
    load_maps,
    maps_bytes,
    parse_compare_fail,
)

KEY = ("check", "model", "image", "method", "metric")


# ------------------------------------------------------------------------------- Holm
def test_holm_on_a_worked_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running
    # maximum 0.02, 0.03, 0.06, 0.06, put back in the input's order
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    assert holm([]).size == 0
    assert holm([0.02]).tolist() == [0.02]  # one test: unchanged
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.floats(0.001, 1.0))
def test_holm_rejects_what_the_step_down_procedure_rejects(p, alpha):
    """Adjusted p < alpha exactly for the hypotheses Holm's step-down procedure rejects:
    in ascending order, reject while p_(j) * (m - j) < alpha (0-based j), then stop."""
    adjusted = holm(p)
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    rejected = set()
    for j, i in enumerate(order):
        if p[i] * (m - j) >= alpha:
            break
        rejected.add(i)
    assert {i for i in range(m) if adjusted[i] < alpha} == rejected
    assert all(a >= x for a, x in zip(adjusted, p, strict=True))  # never below the raw p


# ------------------------------------------------------------------- fail expressions
def test_fail_expressions_parse_to_limits():
    f = parse_compare_fail("relevance-mass:0.05, key-size:10%,drift:0.3,all:off",
                           known=["relevance-mass", "key-size"])
    assert f.limit("relevance-mass") == Limit(0.05)
    assert f.limit("keysize") == Limit(0.10, relative=True)  # case, '-' and '_' ignored
    assert f.limit(None, "key_size") == Limit(0.10, relative=True)  # named by its metric
    assert f.limit("cascading") == Limit(None)  # all:off
    assert f.drift == Limit(0.3)
    assert Limit(0.10, relative=True).absolute(-2.0) == pytest.approx(0.2)
    assert Limit(None).absolute(1.0) == float("inf")
    assert CompareFail().limit("x", default=Limit(0.1)) == Limit(0.1)


@pytest.mark.parametrize("text,match", [
    ("relevance-mass", "is not NAME:LIMIT"),
    ("relevance-mass:abc", "is not NAME:LIMIT"),
    ("relevance-mass:-0.1", "is not NAME:LIMIT"),
    ("relevance-mass:off%", "is not NAME:LIMIT"),
    ("no-such-check:0.1", "unknown check or metric 'no-such-check'"),
    ("key-size:0.1,key_size:0.2", "given twice"),
    (" , ", "empty"),
])
def test_a_bad_fail_expression_is_one_line(text, match):
    with pytest.raises(ValueError, match=match) as err:
        compare_fail_option(text)
    assert "\n" not in str(err.value) and "--leg-compare-fail" in str(err.value)


def test_the_option_knows_every_check_and_metric():
    f = compare_fail_option("key-size:10%,cascading:0.2,spearman_abs:0.1,deletion:0.05")
    assert set(f.limits) == {"keysize", "cascading", "spearmanabs", "deletion"}
    assert compare_fail_option(None) is None


# ------------------------------------------------------------- per unit, paired
def _rows(values: dict, *, check="relevance-mass", model="m", higher=True) -> list[dict]:
    """Metric rows ``method -> per-image values``."""
    return [{"check": check, "model": model, "image": f"i{k}", "method": method,
             "metric": check.replace("-", "_"), "value": v, "higher_is_better": higher}
            for method, vals in values.items() for k, v in enumerate(vals)]


BASE = [0.62, 0.55, 0.71, 0.48, 0.66, 0.59, 0.53, 0.69]


def _unit(rows, method="a"):
    return next(r for r in rows if r["method"] == method)


def test_same_values_are_the_same_and_a_large_drop_regresses():
    same = compare_versions(_rows({"a": BASE}), _rows({"a": BASE}), key=KEY, tolerance=0.1)
    assert _unit(same)["status"] == "same" and _unit(same)["p_worse"] == 1.0
    drop = [v - 0.3 for v in BASE]
    r = _unit(compare_versions(_rows({"a": drop}), _rows({"a": BASE}), key=KEY,
                               tolerance=0.1))
    assert r["status"] == "regressed" and r["n_images"] == 8 and r["image"] == ""
    assert r["worsening"] == pytest.approx(0.3) and r["delta"] == pytest.approx(-0.3)
    assert r["p_worse"] == pytest.approx(2 ** -8)  # every image worse: exact Wilcoxon
    assert r["ci_high"] < 0 and r["limit"] == 0.1
    line = regression_lines([{**r, "mode": "versions"}])[0]
    assert line.startswith("relevance-mass/m/a relevance_mass: median") and "Holm" in line
    # better the other way round, for a metric where lower is better too
    up = _unit(compare_versions(_rows({"a": drop}, higher=False),
                                _rows({"a": BASE}, higher=False), key=KEY, tolerance=0.1))
    assert up["status"] == "improved"


def test_the_limit_decides_between_worse_and_regressed():
    drop = [v - 0.05 for v in BASE]  # every image worse, by less than the tolerance

    def status(fail=None):
        return _unit(compare_versions(_rows({"a": drop}), _rows({"a": BASE}), key=KEY,
                                      tolerance=0.1, fail=fail))["status"]

    assert status() == "worse"  # significant, within the default tolerance: not a failure
    assert status(parse_compare_fail("relevance-mass:0.01")) == "regressed"
    assert status(parse_compare_fail("relevance_mass:0.01")) == "regressed"  # its metric
    assert status(parse_compare_fail("all:0.01")) == "regressed"
    assert status(parse_compare_fail("relevance-mass:5%")) == "regressed"  # 5% of 0.605
    assert status(parse_compare_fail("relevance-mass:10%")) == "worse"  # 10%: 0.06 > 0.05
    assert status(parse_compare_fail("relevance-mass:off,all:0.01")) == "worse"


def test_holm_corrects_across_the_units_of_a_table():
    six = BASE[:6]
    drop = [v - 0.3 for v in six]  # six images, all worse: p = 1/64 per unit
    one = compare_versions(_rows({"a": drop}), _rows({"a": six}), key=KEY, tolerance=0.1)
    assert _unit(one)["status"] == "regressed"
    methods = "abcd"  # four such units: Holm multiplies the smallest p by 4 -> 0.0625
    many = compare_versions(_rows(dict.fromkeys(methods, drop)),
                            _rows(dict.fromkeys(methods, six)), key=KEY, tolerance=0.1)
    assert {r["status"] for r in many} == {"same"}
    assert all(r["p_holm"] == pytest.approx(4 / 64) for r in many)


def test_nan_is_worse_than_any_value_and_few_images_are_undecided():
    nan_now = [float("nan")] * 8
    r = _unit(compare_versions(_rows({"a": nan_now}, check="key-size", higher=False),
                               _rows({"a": BASE}, check="key-size", higher=False), key=KEY,
                               tolerance=0.1))
    assert r["status"] == "regressed" and np.isnan(r["current"])
    r = _unit(compare_versions(_rows({"a": [v - 0.3 for v in BASE[:4]]}),
                               _rows({"a": BASE[:4]}), key=KEY, tolerance=0.1))
    assert r["status"] == "undecided"  # 4 images cannot reach p < 0.05


def test_only_shared_images_are_paired_and_units_of_one_run_are_named():
    now = _rows({"a": BASE + [0.0, 0.0], "new": BASE})  # two images the baseline lacks
    then = _rows({"a": BASE, "gone": BASE})
    rows = compare_versions(now, then, key=KEY, tolerance=0.1)
    assert _unit(rows)["n_images"] == 8 and _unit(rows)["status"] == "same"
    assert _unit(rows, "new")["status"] == "new" and _unit(rows, "gone")["status"] == "missing"
    with pytest.raises(ValueError, match="image"):
        compare_versions(now, then, key=("model", "method", "metric"), tolerance=0.1)


def test_compare_rows_is_exact_for_the_same_weights_and_paired_across_versions():
    now, then = _rows({"a": [v - 0.05 for v in BASE]}), _rows({"a": BASE})
    exact = compare_rows(now, then, key=KEY, tolerance=0.1)
    assert len(exact) == 8 and {r["mode"] for r in exact} == {"exact"}
    assert {r["status"] for r in exact} == {"same"}
    tight = compare_rows(now, then, key=KEY, tolerance=0.1,
                         fail=parse_compare_fail("relevance-mass:0.01"))
    assert {r["status"] for r in tight} == {"regressed"}  # the limit is the row's tolerance
    versions = compare_rows(now + _rows({"a": BASE}, model="other"),
                            then + _rows({"a": BASE}, model="other"), key=KEY,
                            tolerance=0.1, changed={"m": ("f1", "f2")})
    assert [r["mode"] for r in versions].count("versions") == 1  # model m: one unit
    assert [r["mode"] for r in versions].count("exact") == 8  # the unchanged model
    # a table without images is compared row by row even across versions
    no_image = ("model", "method", "metric")
    assert {r["mode"] for r in compare_rows(now[:1], then[:1], key=no_image, tolerance=0.1,
                                            changed={"m": ("f1", "f2")})} == {"exact"}


# ------------------------------------------------------------------------------ drift
def _maps(seed: int, n: int = 8, shape=(12, 12)) -> dict:
    rng = np.random.default_rng(seed)
    return {("m", f"i{k}", method): rng.normal(size=shape) for k in range(n)
            for method in ("det", "noisy")}


def test_drift_against_the_methods_own_seed_agreement():
    old = _maps(0)
    agreement = {k: (1.0 if k[2] == "det" else 0.8) for k in old}
    same, per_image = drift(old, old, agreement)
    by = {r["method"]: r for r in same}
    # identical maps: the deterministic method agrees with itself exactly (all ties), the
    # noisy one is closer than its own seeds are
    assert by["det"]["verdict"] == "stable" and by["det"]["drift"] == 0.0
    assert by["noisy"]["verdict"] == "stable" and by["noisy"]["drift"] == pytest.approx(-0.2)
    assert len(per_image) == 16 and {r["similarity"] for r in per_image} == {1.0}
    new = _maps(1)  # unrelated maps: far below either agreement
    moved, _ = drift(new, old, agreement)
    assert {r["verdict"] for r in moved} == {"drifted"}
    assert all(r["status"] == "drifted" for r in moved)  # reported, not fatal
    assert all(r["p_holm"] == pytest.approx(2 * 2 ** -8) for r in moved)  # Holm over 2
    fatal, _ = drift(new, old, agreement, limit=Limit(0.5))
    assert {r["status"] for r in fatal} == {"regressed"}  # drift ~0.8-1.0 > 0.5
    lenient, _ = drift(new, old, agreement, limit=Limit(2.0))
    assert {r["status"] for r in lenient} == {"drifted"}
    few, _ = drift({k: v for k, v in new.items() if k[1] in ("i0", "i1")}, old, agreement)
    assert {r["verdict"] for r in few} == {"undecided"}


def test_an_unchanged_map_does_not_drift_through_its_stored_precision():
    """A float64 map against its own float32 copy (what the run keeps): ranks that float32
    rounding ties would otherwise make the deterministic method drift."""
    rng = np.random.default_rng(3)
    pairs = np.repeat(np.arange(1.0, 51.0), 2) + np.tile([0.0, 1e-9], 50)  # float32 ties them
    now = {("m", f"i{k}", "det"): rng.permutation(pairs).reshape(10, 10) for k in range(8)}
    stored = load_maps(maps_bytes(now))
    rows, per_image = drift(now, stored, dict.fromkeys(now, 1.0))
    assert {r["similarity"] for r in per_image} == {1.0}
    assert rows[0]["verdict"] == "stable" and rows[0]["drift"] == 0.0


def test_maps_round_trip_through_npz_bytes(tmp_path):
    maps = {("a:b", "img 1", "leg"): np.arange(6.0).reshape(2, 3),
            ("x/y.pt", "i", "gradient"): np.ones((4, 4), np.float32)}
    back = load_maps(maps_bytes(maps))
    assert set(back) == set(maps) and back[("a:b", "img 1", "leg")].dtype == np.float32
    np.testing.assert_array_equal(back[("a:b", "img 1", "leg")], maps[("a:b", "img 1", "leg")])
    (tmp_path / "maps-sanity.npz").write_bytes(maps_bytes(maps))
    assert set(load_maps(tmp_path / "maps-sanity.npz")) == set(maps)


# ------------------------------------------------------------------------ environment
def test_the_environment_is_recorded_and_its_differences_named():
    env = environment()
    assert env["machine"]["threads"]["cpus"] >= 1 and env["machine"]["cpu"]
    assert env["frameworks"]["numpy"] == np.__version__
    assert "leg" in env and "commit" in env["leg"]
    json.dumps(env)
    assert differences(env, env) == []
    env["frameworks"].pop("torch", None)  # as if the baseline had not used PyTorch
    other = json.loads(json.dumps(env))
    other["machine"]["cpu"] = "Another CPU"
    other["frameworks"]["numpy"] = "0.0"
    other["frameworks"]["torch"] = "9.9"
    other["frameworks"].pop("scipy")
    lines = differences(env, other)
    assert any(line.startswith("CPU differs: baseline") and "Another CPU" in line
               for line in lines)
    assert any(line.startswith("numpy differs") for line in lines)
    assert any("scipy" in line and "not by this run" in line for line in lines)
    assert any(line.startswith("torch 9.9 is used by this run") for line in lines)
    assert len(differences(None, env)) == 1 and differences(None, None) == []


# --------------------------------------------------------------- two stored versions
def _version(tmp_path, name, fingerprint, values, maps, *, images_hash="h1", env=None):
    rep = Report(tmp_path, run_id=name, info={"profile": "smoke"})
    rep.set_info("identity", {"profile": "smoke", "parameters_hash": "p", "models": ["m"],
                              "images": "imgs", "images_hash": images_hash,
                              "fingerprints": {"m": fingerprint}})
    rep.set_info("configuration", {"seed": 0, "regression_tolerance": 0.1})
    rep.set_info("environment", env or environment())
    rows = _rows({"leg": values}, check="cascading", higher=False)
    rows += [{**r, "check": "reproducibility", "metric": "spearman_abs", "value": 0.9,
              "higher_is_better": True} for r in _rows({"leg": values})]
    rep.add_table("sanity", [{**r, "stage": "s"} for r in rows])
    rep.add_file("maps-sanity.npz", maps_bytes(maps))
    return rep.write()


def test_two_stored_versions_compared_per_check_with_drift(tmp_path, capsys):
    from leg.cli import main
    from leg.harness.report.baseline import IncompatibleBaseline
    from leg.harness.report.compare import compare_runs, load_run

    old_maps = {k: v for k, v in _maps(0).items() if k[2] == "noisy"}
    old_maps = {(m, i, "leg"): v for (m, i, _), v in old_maps.items()}
    new_maps = {k: v + 0.01 for k, v in old_maps.items()}  # barely moved
    a = _version(tmp_path, "v1", "f1", BASE, old_maps)
    b = _version(tmp_path, "v2", "f2", [v + 0.3 for v in BASE], new_maps)  # similarity up
    c = compare_runs(load_run(a), load_run(b))
    assert c.across_versions and c.changed == {"m": ("f1", "f2")}
    assert c.regressed and "m weights f1 -> f2" in c.summary()
    assert "cascading (leg)" in c.summary()
    assert [r["method"] for r in c.drift] == ["leg"] and c.drift[0]["verdict"] == "stable"
    assert main(["report", "compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "Regressed across versions" in out
    md = (b / "comparison.md").read_text()
    assert "fingerprint f1 (earlier) -> f2 (later)" in md and "## Drift of the maps" in md
    assert (b / "comparison_drift.csv").read_text().count("\n") == 2
    from leg.harness.report.compare import add_versions_section

    rep = Report(tmp_path / "sections", run_id="r")
    add_versions_section(rep, c)
    summary = (rep.write() / "summary.md").read_text()
    assert "## Across versions: what changed" in summary
    assert "fingerprint f1 (earlier) -> f2 (later)" in summary
    assert "## Across versions: drift of the maps" in summary and "| leg |" in summary
    # drift made fatal: unrelated maps beyond the limit
    rng = np.random.default_rng(7)
    d = _version(tmp_path, "v3", "f3", BASE, {k: rng.normal(size=v.shape)
                                              for k, v in old_maps.items()})
    assert main(["report", "compare", str(a), str(d)]) == 0  # drift alone is not fatal
    assert main(["report", "compare", str(a), str(d), "--fail", "drift:0.2"]) == 1
    assert "drift m/leg" in capsys.readouterr().out
    assert main(["report", "compare", str(a), str(d), "--fail", "drift=0.2"]) == 2
    err = capsys.readouterr().err
    assert "--fail" in err and "is not NAME:LIMIT" in err and "Traceback" not in err
    # another image set is refused, with the reason
    e = _version(tmp_path, "v4", "f4", BASE, old_maps, images_hash="h2")
    with pytest.raises(IncompatibleBaseline, match="images: baseline imgs"):
        compare_runs(load_run(a), load_run(e))
    # a baseline from another machine is compared, with a warning that says what differs
    env = environment()
    env["machine"]["cpu"] = "Some other CPU"
    f = _version(tmp_path, "v5", "f1", BASE, old_maps, env=env)
    same = compare_runs(load_run(a), load_run(f))
    assert not same.across_versions and not same.regressed
    assert any("CPU differs" in w and "Some other CPU" in w for w in same.environment)
    assert load_baseline(f).maps("sanity") is not None
    assert load_baseline(f).maps("perturbation") is None


def test_units_cover_every_key_column_but_the_image():
    rows = [{"check": "cascading", "model": "m", "image": f"i{k}", "method": "leg",
             "stage": stage, "metric": metric, "value": 0.1 * k, "higher_is_better": False}
            for k, stage, metric in itertools.product(range(6), ("s1", "s2"), ("a", "b"))]
    units = compare_versions(rows, rows, key=("check", "model", "image", "method", "stage",
                                              "metric"), tolerance=0.1)
    assert len(units) == 4 and {(r["stage"], r["metric"]) for r in units} == set(
        itertools.product(("s1", "s2"), ("a", "b")))


def test_the_parameters_hash_is_the_same_in_every_process():
    """A user method's record holds sets (its suites); their text follows the strings'
    hashes, which change with ``PYTHONHASHSEED``: the hash must not, or a stored run of the
    same options is refused as "other parameters"."""
    import os
    import subprocess
    import sys

    code = ("from leg.harness.methods.record import Method\n"
            "from leg.harness.profiles import get_profile\n"
            "m = Method('mine', suites={'sanity', 'perturbation', 'groundtruth'}, "
            "role='asserted', asserted={'key-size', 'deletion', 'cascading'})\n"
            "print(get_profile('smoke')._with_user_methods((m,)).parameters_hash())\n")
    hashes = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": str(seed)}, timeout=120,
                             check=True).stdout.strip() for seed in range(4)}
    assert len(hashes) == 1 and len(next(iter(hashes))) == 16
