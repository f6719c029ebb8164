"""The target-domain study's synthetic set (``--size target --profile domain_shift``,
docs/target_domain.md): DCASE 2023 counts and a domain shift the source data do not cover."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from asd_tf import synthetic as syn
from asd_tf.synthetic.machines import State, machine_state
from asd_tf.synthetic.render import render_clip, room_response


@pytest.fixture(scope="module")
def plan() -> list[syn.ClipSpec]:
    return syn.plan_dataset("dcase2023", "target", "domain_shift")


def test_counts_follow_dcase2023(plan):
    counts = Counter((s.machine, s.section, s.domain, s.split, s.label) for s in plan)
    machines = sorted({s.machine for s in plan})
    assert machines == ["bearing", "fan", "gearbox", "valve"]
    for m in machines:
        assert counts[(m, "00", "source", "train", "normal")] == 100
        assert counts[(m, "00", "target", "train", "normal")] == 10
        for dom in ("source", "target"):
            for lab in ("normal", "anomaly"):
                assert counts[(m, "00", dom, "test", lab)] == 50
    assert len(plan) == 4 * (110 + 200)
    # the 10 target clips cover both target attribute values, 5 each
    tgt = Counter(s.attr_pairs for s in plan if s.machine == "bearing" and s.domain == "target" and s.split == "train")
    assert sorted(tgt.values()) == [5, 5]


def _state(spec: syn.ClipSpec) -> State:
    return machine_state(spec, syn.PROFILES["domain_shift"].load_slip)


def test_target_states_lie_outside_the_source_states(plan):
    for machine in ("bearing", "fan", "gearbox", "valve"):
        train = [s for s in plan if s.machine == machine and s.split == "train"]
        src = [_state(s) for s in train if s.domain == "source"]
        tgt = [_state(s) for s in train if s.domain == "target"]
        assert len(tgt) == 10
        lo_speed, hi_speed = min(s.speed for s in src), max(s.speed for s in src)
        lo_load, hi_load = min(s.load for s in src), max(s.load for s in src)
        for st in tgt:
            outside = (not lo_speed - 1e-9 <= st.speed <= hi_speed + 1e-9
                       or not lo_load - 1e-9 <= st.load <= hi_load + 1e-9
                       or st.pattern not in {s.pattern for s in src}
                       or st.variant not in {s.variant for s in src})
            assert outside, (machine, st)
    # hand-computed: bearing vel 18/22 -> 1.16/1.24 > 1.08 (vel 14); gearbox volt 2.5 at wt 130
    # -> sqrt(2.5) * (1 - 0.12 * 0.65) = 1.4578, volt 3.0 at wt 150 -> sqrt(3) * (1 - 0.12 * 0.75)
    # = 1.5762, both > sqrt(2.0) * (1 - 0.12 * 0.15) = 1.3888 (fastest source state)
    for machine, expect in (("bearing", (1.16, 1.24)), ("gearbox", (1.4578, 1.5762))):
        train = [s for s in plan if s.machine == machine and s.split == "train"]
        speeds = sorted({round(_state(s).speed, 4) for s in train if s.domain == "target"})
        assert speeds == pytest.approx(list(expect), abs=1e-4)
        assert min(speeds) > max(_state(s).speed for s in train if s.domain == "source")


def test_target_room_reverberation_time_by_schroeder_integration():
    """RT60 of the room response from the Schroeder backward-integrated energy decay
    (ISO 3382: line fit between -5 and -25 dB of the reverberant tail, extrapolated to -60 dB)."""
    rng_range = syn.PROFILES["domain_shift"].target_rt60_s
    for kind, section in (("rotor", "00"), ("fan", "00"), ("pulse", "00"), ("gear", "00")):
        ir, rt60 = room_response("dcase2023", kind, section, rng_range)
        assert rng_range[0] <= rt60 <= rng_range[1]
        assert np.sum(ir ** 2) == pytest.approx(1.0)
        tail = ir[int(0.005 * syn.SAMPLE_RATE):]
        edc = np.cumsum(tail[::-1] ** 2)[::-1]
        edc_db = 10 * np.log10(edc / edc[0])
        t = np.arange(len(tail)) / syn.SAMPLE_RATE
        sel = (edc_db <= -5) & (edc_db >= -25)
        slope = np.polyfit(t[sel], edc_db[sel], 1)[0]
        assert -60.0 / slope == pytest.approx(rt60, rel=0.1)
        # direct-to-reverberant energy ratio within -3..+3 dB
        drr = 10 * np.log10(ir[0] ** 2 / np.sum(tail ** 2))
        assert -3.01 <= drr <= 3.01


def test_only_the_target_domain_is_shifted(plan):
    src = next(s for s in plan if s.machine == "fan" and s.domain == "source" and s.split == "train")
    tgt = next(s for s in plan if s.machine == "fan" and s.domain == "target" and s.split == "train")
    x_src, _ = render_clip(src, 3)
    x_src_ref, _ = render_clip(replace(src, profile="mixed_state"), 3)
    np.testing.assert_array_equal(x_src, x_src_ref)
    x_tgt, _ = render_clip(tgt, 3)
    x_tgt_ref, _ = render_clip(replace(tgt, profile="mixed_state"), 3)
    assert x_tgt.shape == x_tgt_ref.shape
    # another noise, room and microphone: the recordings are unrelated, not a small change
    assert abs(np.corrcoef(x_tgt, x_tgt_ref)[0, 1]) < 0.5


def test_faults_are_mechanical_not_attribute_mixtures(plan):
    anomalies = [s for s in plan if s.label == "anomaly" and s.machine in ("bearing", "valve")][::40]
    kinds = set()
    for s in anomalies:
        _, boxes = render_clip(s, 0)
        assert len(boxes) == 1
        kinds.add(boxes[0].kind)
    assert kinds <= {"extra_tone", "detune", "modulation", "rub", "missing_pulse"}
    assert "attribute_mix" not in kinds and len(kinds) >= 2
