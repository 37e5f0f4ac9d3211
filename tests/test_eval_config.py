"""Profiles on one model (``--leg-model``): twins share their original's plans, a model the
profile plans for keeps the profile's choice of suites, any other model gets generic plans."""

import pytest

from leg.harness.checks.randomization.suite import ZOO_GROUPS, model_stages
from leg.harness.engine.pipeline import image_ids
from leg.harness.profiles import get_profile
from leg.zoo import TWINS


@pytest.mark.parametrize("name", ["smoke", "standard", "paper"])
def test_lite0_torch_gets_lite0s_plans_with_its_own_spec(name):
    keras = get_profile(name).with_overrides(model="lite0")
    torch = get_profile(name).with_overrides(model="lite0-torch")
    assert [p.spec for p in torch.models] == ["lite0-torch"]
    for suite in ("models", "perturbation", "estimand"):
        ours, theirs = getattr(torch, suite), getattr(keras, suite)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert a.spec == "lite0-torch" and b.spec == "lite0"
            assert {**vars(a), "spec": "lite0"} == vars(b)
    assert torch.model_plan("lite0-torch") == torch.models[0]
    plan = torch.models[0]
    assert [s.name for s in model_stages(plan)] == [
        s.name for s in model_stages(keras.models[0])]
    assert image_ids(plan.spec, plan.n_images, None) == image_ids(
        keras.models[0].spec, keras.models[0].n_images, None)


def test_twins_share_groups():
    assert TWINS == {"lite0-torch": "lite0"}
    assert ZOO_GROUPS["lite0-torch"] == ZOO_GROUPS["lite0"]


def test_smoke_runs_no_lite0_perturbation_or_estimand_and_says_why():
    p = get_profile("smoke").with_overrides(model="lite0-torch")
    assert p.perturbation == () and p.estimand == ()
    assert p.unplanned("estimand") == ("the 'smoke' profile runs no estimand suite on "
                                       "lite0-torch; standard and paper do (--leg-profile "
                                       "standard)")


def test_a_model_the_profile_does_not_know_gets_generic_plans():
    p = get_profile("smoke").with_overrides(model="pkg.mod:make")
    assert [q.spec for q in p.models] == ["pkg.mod:make"]
    # smoke-sized, yet decisive: 12 images, the rule's two stages, one background
    assert p.models[0].n_images == 12 and p.models[0].cascade_at == 2
    assert p.perturbation[0].backgrounds == ("mean",) and p.perturbation[0].budget == 200
    assert p.estimand[0].gradients == 64
    paper = get_profile("paper").with_overrides(model="pkg.mod:make")
    assert paper.models[0].cascade_at is None and paper.perturbation[0].alpha_steps == 1000
    assert [q.spec for q in p.perturbation] == ["pkg.mod:make"]
    assert [q.spec for q in p.estimand] == ["pkg.mod:make"]


def test_the_cascade_order_reaches_the_stages_the_cells_and_the_hash():
    """``--leg-cascade-order`` (``Profile.cascade_order``): bottom-up and both add the
    bottom-up cascade (from the input up, ending with every group randomized) beside the
    asserted top-down one; the default keeps the profile's parameters hash."""
    from leg.harness.checks.randomization.suite import plan_cases, planned_cells

    smoke = get_profile("smoke").with_overrides(model="digits")
    assert smoke.cascade_order == "top-down"
    assert get_profile("smoke").with_overrides(model="digits", cascade_order="top-down"
                                               ).parameters_hash() == smoke.parameters_hash()
    for order in ("bottom-up", "both"):
        prof = smoke.with_overrides(cascade_order=order)
        assert prof.parameters_hash() != smoke.parameters_hash()
        up = [s for s in model_stages(prof.models[0], prof.cascade_order)
              if s.kind == "bottom-up"]
        assert [s.name for s in up] == ["bottom-up-conv1", "bottom-up-conv2",
                                        "bottom-up-dense1", "bottom-up-logits"]
        assert up[0].groups == ("conv1",) and set(up[-1].groups) == set(ZOO_GROUPS["digits"])
        assert ("digits", "leg", "cascading") in {(c.model, c.method, c.check)
                                                  for c in plan_cases(prof)}
        assert ("digits", "leg", "cascading-bottom-up") in planned_cells(prof)
    assert not any(s.kind == "bottom-up" for s in model_stages(smoke.models[0]))
    assert ("digits", "leg", "cascading-bottom-up") not in planned_cells(smoke)
    with pytest.raises(ValueError, match="cascade order"):
        smoke.with_overrides(cascade_order="sideways")


def test_the_plan_counts_the_smprt_copies(tmp_path):
    """sMPRT's noisy copies are planned work: 2 states x images x (copies - 1) x methods,
    LEG at n_samples // copies per copy (LEG-TV shares LEG's samples)."""
    import types

    import numpy as np
    from PIL import Image

    from leg.harness.checks.randomization.suite import price as _sanity

    for i in range(3):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / f"d{i}.png")
    prof = get_profile("smoke").with_overrides(model="digits", methods=["leg", "leg-tv"],
                                               n_images=3)
    plan = prof.models[0]
    assert plan.smprt_copies == 4
    work = _sanity(prof, str(tmp_path), {"digits": types.SimpleNamespace(
        input_shape=(32, 32, 1))})
    smprt = [w for w in work if w.what.startswith("sMPRT")]
    assert len(smprt) == 1
    assert smprt[0].items == 2 * 3 * 3 * 2
    assert smprt[0].evaluations == 2 * 3 * 3 * (3000 // 4 + 1)
    from leg.harness.checks.randomization.suite import smprt_options

    assert smprt_options("leg", {"n_samples": 160}, 3)["n_samples"] == 52  # even: pairs
    assert smprt_options("gradient", {}, 3) == {}


def test_a_background_is_scored_for_key_size_curves_or_both():
    from leg.harness.profiles import PerturbationPlan

    plan = PerturbationPlan("digits", 4, 100, backgrounds=("mean", "black"),
                            curve_backgrounds=("mean", "road"))
    assert plan.scored() == ("mean", "black", "road")
    cases = {c.background: (c.key_size, c.curves) for c in _cases(plan)}
    assert cases == {"mean": (True, True), "black": (True, False), "road": (False, True)}


def _cases(plan):
    from dataclasses import replace

    from leg.harness.checks.faithfulness.suite import plan_cases
    from leg.harness.profiles import get_profile

    profile = replace(get_profile("smoke"), perturbation=(plan,))
    return [c for c in plan_cases(profile) if c.image == "digit0" and c.method == "leg"]
