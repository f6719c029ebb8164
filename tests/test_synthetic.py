"""Tests of the deterministic synthetic dataset generator (asd_tf.synthetic).

References are independent of the generator: the official DCASE file-name
patterns (own regexes), the counts the brief fixes for size ``tiny``, the
RIFF header read by Python's ``wave`` module, a NumPy STFT of the difference
between an anomalous clip and the same clip rendered without its anomaly, and
byte identity with the development version for the anonymised eval split.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import wave
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from asd_tf import synthetic as S
from asd_tf.synthetic.faults import attribute_mix, other_combos, synth_anomaly
from asd_tf.synthetic.machines import MachineSound, machine_state, section_design, synth_machine
from asd_tf.synthetic.noise import stationary_noise
from asd_tf.synthetic.render import render_clip
from asd_tf.errors import ConfigError, DatasetError

RE_2020 = re.compile(r"^(normal|anomaly)_id_(\d{2})_(\d{8})\.wav$")
_TOKEN = r"[A-Za-z0-9.\-]+"
RE_2223 = re.compile(
    rf"^section_(\d{{2}})_(source|target)_(train|test)_(normal|anomaly)_(\d{{4}})_"
    rf"(noAttribute|{_TOKEN}_{_TOKEN}(?:_{_TOKEN}_{_TOKEN})*)\.wav$")
RE_EVAL = re.compile(r"^section_(\d{2})_(\d{4})\.wav$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    roots = {}
    for layout in S.LAYOUTS:
        roots[layout] = S.generate(base / layout, layout, "tiny", seed=0)
    roots["eval"] = S.generate(base / "eval", "dcase2022", "tiny", seed=0, eval_split=True)
    return roots


def _wavs(root: Path) -> list[Path]:
    return sorted(root.glob("*/*/*.wav"))


def _sha(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def test_names_follow_official_patterns(tiny):
    for layout in ("dcase2022", "dcase2023"):
        for wav in _wavs(tiny[layout]):
            m = RE_2223.match(wav.name)
            assert m, wav.name
            assert wav.parent.name == m.group(3)  # split folder matches the name
    for wav in _wavs(tiny["dcase2020"]):
        m = RE_2020.match(wav.name)
        assert m, wav.name
        assert not (wav.parent.name == "train" and m.group(1) == "anomaly")


def test_tiny_counts_per_section_domain_split_label(tiny):
    sz = S.SIZES["tiny"]
    for layout, n_sections in (("dcase2022", sz.n_sections), ("dcase2023", 1)):
        cells = Counter()
        for wav in _wavs(tiny[layout]):
            sec, dom, split, label = RE_2223.match(wav.name).groups()[:4]
            cells[(wav.parent.parent.name, sec, dom, split, label)] += 1
        machines = {k[0] for k in cells}
        assert len(machines) == 3
        assert {k[1] for k in cells} == {f"{i:02d}" for i in range(n_sections)}
        for m in machines:
            for i in range(n_sections):
                sec = f"{i:02d}"
                assert cells[(m, sec, "source", "train", "normal")] == 12
                assert cells[(m, sec, "target", "train", "normal")] == 4
                for dom in ("source", "target"):
                    for label in ("normal", "anomaly"):
                        assert cells[(m, sec, dom, "test", label)] == 4
                assert cells[(m, sec, "source", "train", "anomaly")] == 0
    cells = Counter()
    for wav in _wavs(tiny["dcase2020"]):
        label, mid, _ = RE_2020.match(wav.name).groups()
        cells[(wav.parent.parent.name, mid, wav.parent.name, label)] += 1
    assert len({k[0] for k in cells}) == 3 and {k[1] for k in cells} == {"00", "02"}
    for (m, mid, split, label), n in cells.items():
        assert n == {("train", "normal"): 16, ("test", "normal"): 8, ("test", "anomaly"): 8}[(split, label)]


def test_wav_format_is_16k_mono_pcm16(tiny):
    for wav in _wavs(tiny["dcase2022"])[:40] + _wavs(tiny["dcase2020"])[:10]:
        with wave.open(str(wav), "rb") as fh:
            assert fh.getnchannels() == 1
            assert fh.getsampwidth() == 2
            assert fh.getframerate() == 16000
            assert fh.getnframes() == 32000  # tiny: 2 s
            x = np.frombuffer(fh.readframes(fh.getnframes()), dtype="<i2").astype(np.float64) / 32768
        rms = np.sqrt(np.mean(x ** 2))
        assert 0.005 < rms < 0.2, (wav, rms)
        assert np.mean(np.abs(x) >= 0.999) < 1e-3  # (almost) no clipping


def test_same_seed_gives_identical_bytes_in_any_process_count(tiny, tmp_path):
    again = S.generate(tmp_path / "again", "dcase2023", "tiny", seed=0, n_jobs=2)
    first = tiny["dcase2023"]
    files_a = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (first / rel).read_bytes() == (again / rel).read_bytes(), rel


def test_different_seeds_differ(tiny, tmp_path):
    other = S.generate(tmp_path / "seed1", "dcase2023", "tiny", seed=1)
    first = tiny["dcase2023"]
    wavs = _wavs(first)
    same_names = [(w, other / w.relative_to(first)) for w in wavs]
    assert all(b.exists() for _, b in same_names)  # names (and attributes) do not depend on the seed
    assert sum(_sha(a) == _sha(b) for a, b in same_names) == 0


def test_order_independence_of_rendering():
    specs = S.plan_dataset("dcase2022", "tiny")
    pick = [specs[5], specs[40], specs[-1]]
    forward = [render_clip(s, 3)[0] for s in pick]
    backward = [render_clip(s, 3)[0] for s in reversed(pick)][::-1]
    for a, b in zip(forward, backward):
        np.testing.assert_array_equal(a, b)


def test_sidecars_exactly_for_anomalous_clips_and_boxes_in_range(tiny):
    for layout in S.LAYOUTS:
        root = tiny[layout]
        for wav in _wavs(root):
            anomalous = wav.name.startswith("anomaly") or "_anomaly_" in wav.name
            sidecar = wav.with_suffix(".anomaly.csv")
            assert sidecar.exists() == anomalous, wav
            boxes = S.read_anomaly_boxes(wav)
            assert (len(boxes) > 0) == anomalous
            if anomalous:
                assert sidecar.read_text().splitlines()[0] == "kind,t_start_s,t_end_s,f_low_hz,f_high_hz"
            for b in boxes:
                assert 0.0 <= b.t_start_s < b.t_end_s <= 2.0 + 1e-9
                assert 0.0 <= b.f_low_hz < b.f_high_hz <= 8000.0
                assert b.kind in ("extra_tone", "detune", "rub", "missing_pulse")
    # the sidecars are the only non-wav files in the machine folders
    extra = [p for p in tiny["dcase2022"].glob("*/*/*") if p.suffix not in (".wav", ".csv")]
    assert extra == []


def _stft_power(x: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    win = np.hanning(n_fft)
    n_frames = 1 + (len(x) - n_fft) // hop
    frames = np.stack([x[i * hop:i * hop + n_fft] * win for i in range(n_frames)])
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


@pytest.mark.parametrize("profile, expected_kinds", [
    ("factory", {"extra_tone", "detune", "rub", "missing_pulse"}),
    ("structural", {"harmonic_balance", "detune", "extra_tone", "modulation", "missing_pulse"}),
    # the noAttribute valve section (tiny 2022) has no other operating state to mix in
    ("mixed_state", {"attribute_mix", "harmonic_balance"}),
])
def test_anomaly_energy_lies_inside_its_box(profile, expected_kinds):
    specs = [s for layout in ("dcase2022", "dcase2023") for s in S.plan_dataset(layout, "tiny", profile)
             if s.label == "anomaly"]
    kinds = Counter()
    n_fft, hop, sr = 1024, 256, 16000
    for spec in specs[::2]:
        x, boxes = render_clip(spec, 0)
        y, boxes_y = render_clip(spec, 0, with_anomaly=False)
        assert boxes == boxes_y and len(boxes) == 1
        box = boxes[0]
        kinds[box.kind] += 1
        d = x - y
        t = np.arange(len(d)) / sr
        outside_t = (t < box.t_start_s - 0.01) | (t > box.t_end_s + 0.01)
        assert np.sum(d[outside_t] ** 2) <= 1e-6 * np.sum(d ** 2), spec.name
        p = _stft_power(d, n_fft, hop)
        starts = np.arange(p.shape[0]) * hop / sr
        frames_in = (starts + n_fft / sr >= box.t_start_s) & (starts <= box.t_end_s)
        freqs = np.fft.rfftfreq(n_fft, 1 / sr)
        bins_in = (freqs >= box.f_low_hz) & (freqs <= box.f_high_hz)
        frac = p[np.ix_(frames_in, bins_in)].sum() / p.sum()
        assert frac > 0.9, (spec.name, box, frac)
        # the anomaly is audible in its box: not negligible against the normal clip there
        q = _stft_power(y, n_fft, hop)
        if box.kind in ("harmonic_balance", "modulation"):
            # a change of a few partials inside a wide box: at its strongest line it is not
            # negligible against the normal recording (machine partial + noise) there
            p_in, q_in = p[np.ix_(frames_in, bins_in)].mean(0), q[np.ix_(frames_in, bins_in)].mean(0)
            j = int(np.argmax(p_in))
            assert p_in[j] > 0.05 * q_in[j], (spec.name, box)
        else:
            assert p[np.ix_(frames_in, bins_in)].sum() > 0.05 * q[np.ix_(frames_in, bins_in)].sum()
    assert set(kinds) == expected_kinds, kinds
    span = S.get_profile(profile).anomaly_span
    for spec in specs[::2]:
        if spec.kind != "pulse":  # missing pulses last from the first to the last pulse removed
            box = render_clip(spec, 0)[1][0]
            assert span[0] - 1e-6 <= (box.t_end_s - box.t_start_s) / spec.duration_s <= span[1] + 1e-6


def test_normal_clip_is_unchanged_by_anomaly_hook():
    spec = S.plan_dataset("dcase2022", "tiny")[3]
    assert spec.label == "normal"
    a, boxes = render_clip(spec, 0)
    b, _ = render_clip(spec, 0, with_anomaly=False)
    assert boxes == []
    np.testing.assert_array_equal(a, b)


def test_eval_split_ground_truth_matches_development_audio(tiny):
    dev, ev = tiny["dcase2022"], tiny["eval"]
    dev_by_hash = {}
    for wav in dev.glob("*/test/*.wav"):
        sec, dom, _, label = RE_2223.match(wav.name).groups()[:4]
        dev_by_hash[_sha(wav)] = (wav.parent.parent.name, sec, dom, label)
    seen = 0
    for gt in sorted((ev / "ground_truth_data").glob("*.csv")):
        m = re.match(r"ground_truth_(.+)_section_(\d{2})_test\.csv$", gt.name)
        machine, sec = m.groups()
        data = dict(csv.reader(gt.open()))
        domain = dict(csv.reader((ev / "ground_truth_domain" / gt.name).open()))
        files = sorted(p.name for p in (ev / machine / "test").glob(f"section_{sec}_*.wav"))
        assert sorted(data) == files == sorted(domain)
        assert [int(k[-8:-4]) for k in files] == list(range(len(files)))
        for name in files:
            assert RE_EVAL.match(name)
            wav = ev / machine / "test" / name
            d_machine, d_sec, d_dom, d_label = dev_by_hash[_sha(wav)]
            assert (d_machine, d_sec) == (machine, sec)
            assert data[name] == str(int(d_label == "anomaly"))
            assert domain[name] == str(int(d_dom == "target"))
            assert wav.with_suffix(".anomaly.csv").exists() == (data[name] == "1")
            seen += 1
    assert seen == len(dev_by_hash) == 3 * 2 * 16
    # the shuffled order is not the development order
    first = sorted((ev / "bearing" / "test").glob("section_00_*.wav"))[:8]
    labels = [dev_by_hash[_sha(w)][2:] for w in first]
    assert labels != sorted(labels)
    # training clips keep their development names and bytes
    for wav in dev.glob("*/train/*.wav"):
        assert _sha(ev / wav.relative_to(dev)) == _sha(wav)


def test_attribute_tables(tiny):
    for layout in ("dcase2022", "dcase2023"):
        root = tiny[layout]
        for machine_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            tables = sorted(machine_dir.glob("attributes_*.csv"))
            secs = sorted({RE_2223.match(w.name).group(1) for w in machine_dir.glob("*/*.wav")})
            assert [t.name for t in tables] == [f"attributes_{s}.csv" for s in secs]
            for table in tables:
                rows = list(csv.reader(table.open()))
                if layout == "dcase2022":
                    assert rows[0] == ["file_name", "d1p", "d1v", "file_name_with_full_attributes"]
                else:
                    assert rows[0][:3] == ["file_name", "d1p", "d1v"]
                sec = table.stem.split("_")[1]
                listed = sorted(r[0] for r in rows[1:])
                expected = sorted(f"{machine_dir.name}/{w.parent.name}/{w.name}"
                                  for w in machine_dir.glob(f"*/section_{sec}_*.wav"))
                assert listed == expected
                for r in rows[1:]:
                    attrs = RE_2223.match(Path(r[0]).name).group(6)
                    if attrs == "noAttribute":
                        assert r[1] == "noAttribute"
                    else:
                        k, v = attrs.split("_")[:2]
                        assert (r[1], r[2]) == (k, v)


def test_domains_and_sections_have_distinct_attributes():
    specs = S.plan_dataset("dcase2023", "small")
    for machine in {s.machine for s in specs}:
        src = {s.attr_string for s in specs if s.machine == machine and s.domain == "source"}
        tgt = {s.attr_string for s in specs if s.machine == machine and s.domain == "target"}
        assert len(src) >= 4 and len(tgt) >= 2 and not (src & tgt)
    small22 = S.plan_dataset("dcase2022", "small")
    n_train = sum(s.split == "train" for s in small22)
    assert 800 <= n_train <= 1000
    assert sum(s.domain == "target" and s.split == "train" for s in small22) == 4 * 2 * 10


def test_complete_marker_and_reuse(tiny, tmp_path):
    root = tiny["dcase2022"]
    meta = json.loads((root / ".complete").read_text())
    assert (meta["layout"], meta["size"], meta["seed"], meta["eval_split"]) == ("dcase2022", "tiny", 0, False)
    assert meta["generator_version"] == S.GENERATOR_VERSION
    total = sum(n for m in meta["counts"].values() for sec in m.values() for n in sec.values())
    assert total == meta["n_clips"] == len(_wavs(root))
    mtime = (root / ".complete").stat().st_mtime_ns
    assert S.generate(root, "dcase2022", "tiny", seed=0) == root  # same dataset: reused
    assert (root / ".complete").stat().st_mtime_ns == mtime
    with pytest.raises(DatasetError):
        S.generate(root, "dcase2022", "tiny", seed=1)
    with pytest.raises(ConfigError):
        S.generate(tmp_path / "x", "dcase2020", "tiny", eval_split=True)
    with pytest.raises(ConfigError):
        S.generate(tmp_path / "x", "dcase2022", "huge")


def test_cli_writes_dataset(tmp_path):
    from asd_tf.commands import synth

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    synth.register(sub)
    args = parser.parse_args(["synth", str(tmp_path / "cli"), "--layout", "dcase2023", "--size", "tiny",
                              "--seed", "0", "--eval-split"])
    assert args.func(args) == 0
    assert (tmp_path / "cli" / ".complete").exists()
    assert len(list((tmp_path / "cli" / "ground_truth_data").glob("*.csv"))) == 3
    assert all(RE_EVAL.match(p.name) for p in (tmp_path / "cli").glob("*/test/*.wav"))


def test_baseline_on_dev_and_eval_split_agree(tiny):
    from scipy.stats import hmean

    from asd_tf.synthetic.calibration import baseline_hmean_auc

    dev = baseline_hmean_auc(tiny["dcase2022"])
    ev = baseline_hmean_auc(tiny["eval"])
    assert set(dev["auc"]) == {f"{m}/{s}" for m in ("bearing", "fan", "valve") for s in ("00", "01")}
    aucs = [a for per in dev["auc"].values() for a in per.values()]
    assert len(aucs) == 12 and all(0.0 <= a <= 1.0 for a in aucs)
    assert dev["hmean_auc"] == pytest.approx(hmean(aucs))
    # same audio, anonymised names + ground-truth CSVs: identical scores
    for key, per in dev["auc"].items():
        for dom, a in per.items():
            assert ev["auc"][key][dom] == pytest.approx(a)


def _fan_sound(n: int) -> "MachineSound":
    spec = next(s for s in S.plan_dataset("dcase2022", "tiny", "structural") if s.kind == "fan")
    design = section_design(spec.layout, spec.kind, spec.section)
    return synth_machine(design, machine_state(spec), np.random.default_rng(5), n)


def _partial_coefficients(x: np.ndarray, ms: "MachineSound", mask: np.ndarray) -> np.ndarray:
    """Least-squares amplitude of every partial's own cosine (its phase) in ``x[mask]``."""
    cols = [np.cos(f * ms.phi[mask] + p) for f, _, p in ms.partials]
    cols += [np.sin(f * ms.phi[mask] + p) for f, _, p in ms.partials]
    coef, *_ = np.linalg.lstsq(np.stack(cols, axis=1), x[mask], rcond=None)
    return coef[:len(ms.partials)]


def test_harmonic_balance_scales_the_twelve_strongest_partials_by_12_to_18_db():
    n = 32000
    ms = _fan_sound(n)
    assert ms.am is None  # fans carry no AM: the fault is a pure change of partial levels
    fixed, scalable, boxes = synth_anomaly("harmonic_balance", ms, np.random.default_rng(1), n, (1.0, 1.0))
    assert scalable is None and boxes[0].kind == "harmonic_balance"
    t = np.arange(n) / S.SAMPLE_RATE
    steady = (t > 0.1) & (t < 1.9)  # inside the fades
    coef = _partial_coefficients(fixed, ms, steady)
    amps = np.array([a for _, a, _ in ms.partials])
    freqs = np.array([f for f, _, _ in ms.partials])
    # independent reference: the 12 largest partials between 150 and 6500 Hz
    cand = np.flatnonzero((freqs >= 150) & (freqs <= 6500))
    strongest = set(cand[np.argsort(-amps[cand])[:12]].tolist())
    changed = set(np.flatnonzero(np.abs(coef) > 1e-3 * amps.max()).tolist())
    assert changed == strongest
    gains_db = 20 * np.log10(1.0 + coef[sorted(strongest)] / amps[sorted(strongest)])
    assert np.all((np.abs(gains_db) >= 12 - 1e-3) & (np.abs(gains_db) <= 18 + 1e-3)), gains_db
    assert boxes[0].f_low_hz <= freqs[sorted(strongest)].min() and freqs[sorted(strongest)].max() <= boxes[0].f_high_hz


def test_modulation_fault_is_a_new_am_of_the_six_strongest_partials():
    n = 32000
    ms = _fan_sound(n)
    fixed, _, boxes = synth_anomaly("modulation", ms, np.random.default_rng(2), n, (1.0, 1.0))
    t = np.arange(n) / S.SAMPLE_RATE
    steady = (t > 0.1) & (t < 1.9)
    amps = np.array([a for _, a, _ in ms.partials])
    freqs = np.array([f for f, _, _ in ms.partials])
    cand = np.flatnonzero((freqs >= 150) & (freqs <= 6500))
    top6 = cand[np.argsort(-amps[cand])[:6]]
    # the fault of partial k is a_k * m(t) * cos(f_k phi + p_k): demodulate the strongest one
    k = top6[0]
    f, a, p = ms.partials[k]
    carrier = np.cos(f * ms.phi + p)
    # m(t) by a local least-squares fit of the carrier in 10-ms windows (m varies at <= 23 Hz)
    w = 160
    m = np.array([np.dot(fixed[i:i + w], carrier[i:i + w]) / np.dot(carrier[i:i + w], carrier[i:i + w])
                  for i in range(1600, n - 1600 - w, w)]) / a
    spec = np.abs(np.fft.rfft(m - m.mean(), 8 * len(m)))
    rate = np.fft.rfftfreq(8 * len(m), w / S.SAMPLE_RATE)[np.argmax(spec)]
    assert 6.5 <= rate <= 23.5, rate
    depth = (m.max() - m.min()) / 2
    assert 0.5 <= depth <= 0.95, depth
    assert boxes[0].f_low_hz <= freqs[top6].min() and freqs[top6].max() <= boxes[0].f_high_hz


def test_stationary_noise_is_flat_and_steady():
    x = stationary_noise(np.random.default_rng(0), 160000)
    assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=1e-6)
    f, pxx = _welch(x)
    # flat within +-1.5 dB between the raised-cosine edges (15 % of the band each side),
    # nothing below 40 Hz or above 7950 Hz
    inside = pxx[(f > 50 + 0.15 * 7850 + 100) & (f < 7900 - 0.15 * 7850 - 100)]
    assert 10 * np.log10(inside.max() / inside.min()) < 3.0
    spec = np.abs(np.fft.rfft(x)) ** 2
    fx = np.fft.rfftfreq(len(x), 1 / S.SAMPLE_RATE)
    assert spec[(fx < 50) | (fx > 7900)].max() < 1e-12 * spec.mean()
    seg = x.reshape(40, -1)
    assert np.ptp(10 * np.log10(np.mean(seg ** 2, axis=1))) < 1.0  # steady level (0.25-s segments)


def _welch(x: np.ndarray, n_fft: int = 512) -> tuple[np.ndarray, np.ndarray]:
    p = _stft_power(x, n_fft, n_fft // 2).mean(axis=0)
    f = np.fft.rfftfreq(n_fft, 1 / S.SAMPLE_RATE)
    # smooth over 16 bins so the flatness bound tests the spectrum, not the estimator's variance
    return f, np.convolve(p, np.ones(16) / 16, mode="same")


def test_profile_is_part_of_the_dataset_identity(tmp_path):
    root = S.generate(tmp_path / "s", "dcase2023", "tiny", seed=0, profile="structural")
    meta = json.loads((root / ".complete").read_text())
    assert meta["profile"] == "structural"
    with pytest.raises(DatasetError, match="different synthetic dataset"):
        S.generate(root, "dcase2023", "tiny", seed=0)  # the factory profile is another dataset
    with pytest.raises(ConfigError, match="unknown synthetic profile"):
        S.generate(tmp_path / "x", "dcase2023", "tiny", profile="quiet")
    # markers written before profiles existed describe the factory profile
    del meta["profile"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".complete").write_text(json.dumps(meta))
    assert S.generate(tmp_path / "old", "dcase2023", "tiny", seed=0) == tmp_path / "old"


def test_profiles_share_machine_sounds_and_names():
    fac = S.plan_dataset("dcase2022", "tiny")
    st = S.plan_dataset("dcase2022", "tiny", "structural")
    assert [s.name for s in fac] == [s.name for s in st]
    spec_f = next(s for s in fac if s.label == "normal" and s.split == "test")
    spec_s = next(s for s in st if s.name == spec_f.name and s.machine == spec_f.machine)
    x_f, _ = render_clip(spec_f, 0)
    x_s, _ = render_clip(spec_s, 0)
    assert not np.allclose(x_f, x_s)  # other noise, other machine-to-noise ratio
    # the compare size: 60 target training clips per section, 2-s clips
    cmp = S.plan_dataset("dcase2022", "compare", "structural")
    assert sum(s.domain == "target" and s.split == "train" for s in cmp) == 4 * 2 * 60
    assert {s.duration_s for s in cmp} == {2.0}


def test_stationary_noise_tilt_lies_within_its_bound():
    slopes = []
    for seed in range(30):
        x = stationary_noise(np.random.default_rng(seed), 32000, tilt_db=6.0)
        f, pxx = _welch(x)
        band = (f > 1400) & (f < 6500)  # between the raised-cosine band edges
        slope = np.polyfit(np.log2(f[band] / 1000.0), 10 * np.log10(pxx[band]), 1)[0]
        slopes.append(slope)
    slopes = np.array(slopes)
    assert np.all(np.abs(slopes) <= 6.6), slopes  # dB per octave, Welch-estimate tolerance
    assert slopes.min() < -3.0 and slopes.max() > 3.0  # drawn from the whole range, both signs


# --------------------------------------------------------------------------- mixed_state profile
def test_load_slip_slows_the_machine_under_load():
    spec = next(s for s in S.plan_dataset("dcase2022", "compare", "mixed_state")
                if s.kind == "gear" and s.section == "01" and dict(s.attr_pairs)["wt"] == "100")
    # hand-computed: volt 1.5 -> speed sqrt(1.5); wt 100 -> load 0.5; slip 12 % at full load
    assert machine_state(spec).speed == pytest.approx(1.5 ** 0.5)
    assert machine_state(spec, 0.12).speed == pytest.approx(1.5 ** 0.5 * (1 - 0.12 * 0.5))
    assert S.get_profile("mixed_state").load_slip == 0.12
    assert S.get_profile("structural").load_slip == 0.0


def test_attribute_mix_partners_are_the_other_values_of_the_same_section_and_domain():
    for layout in ("dcase2022", "dcase2023"):
        specs = S.plan_dataset(layout, "compare", "mixed_state")
        seen: dict[tuple, set] = {}
        for s in specs:  # the attribute values the plan gives each (section, domain)
            seen.setdefault((s.machine, s.section, s.domain), set()).add(s.attr_pairs)
        for s in specs[::7]:
            expected = seen[(s.machine, s.section, s.domain)] - {s.attr_pairs}
            assert set(other_combos(s)) == expected, s.name
    valve01 = next(s for s in S.plan_dataset("dcase2022", "compare", "mixed_state")
                   if s.kind == "pulse" and s.section == "01")
    assert other_combos(valve01) == []  # noAttribute: the fallback fault is drawn
    assert other_combos(S.plan_dataset("dcase2020", "tiny", "mixed_state")[0]) == []


def _comb_energy(power: np.ndarray, freqs: np.ndarray, f0: float, fmax: float = 2500.0) -> float:
    """Energy of a spectrum summed over the bins nearest to k * f0 (a harmonic sieve)."""
    ks = np.arange(1, int(fmax // f0) + 1)
    return float(power[np.searchsorted(freqs, ks * f0)].sum())


def test_attribute_mix_adds_the_partials_of_another_speed():
    # rotor section 00 (DCASE 2022): vel 6 / 10 / 14 -> speed 0.92 / 1.00 / 1.08 (source)
    spec = next(s for s in S.plan_dataset("dcase2022", "compare", "mixed_state")
                if s.kind == "rotor" and s.section == "00" and s.label == "anomaly"
                and s.domain == "source" and dict(s.attr_pairs)["vel"] == "10")
    x, boxes = render_clip(spec, 0)
    y, _ = render_clip(spec, 0, with_anomaly=False)
    box = boxes[0]
    assert box.kind == "attribute_mix"
    sr = S.SAMPLE_RATE
    d = (x - y)[int((box.t_start_s + 0.07) * sr):int((box.t_end_s - 0.07) * sr)]  # the flat part
    power = np.abs(np.fft.rfft(d * np.hanning(len(d)), 8 * len(d))) ** 2
    freqs = np.fft.rfftfreq(8 * len(d), 1 / sr)
    f_base = section_design("dcase2022", "rotor", "00").f_base
    speeds = np.arange(0.85, 1.15, 0.0005)
    comb = np.array([_comb_energy(power, freqs, f_base * v) for v in speeds])
    # the difference holds the clip's own series (removed) and one other speed's series (added)
    near = lambda v: comb[np.abs(speeds - v) < 0.004].max()  # per-clip speed spread: 0.3 % std
    background = np.median(comb)
    assert near(1.0) > 20 * background
    other = max(near(0.92), near(1.08))
    assert other > 20 * background
    assert min(near(0.92), near(1.08)) < 0.25 * other  # exactly one other value was mixed in


def test_attribute_mix_keeps_one_minus_lam_of_the_own_partials():
    # fan section 01 (DCASE 2022): spd 60 / 70 / 80; fans carry no AM on their partials
    spec = next(s for s in S.plan_dataset("dcase2022", "compare", "mixed_state")
                if s.kind == "fan" and s.section == "01" and dict(s.attr_pairs)["spd"] == "70")
    n = 32000
    base = section_design("dcase2022", "fan", "01")
    ms = synth_machine(base, machine_state(spec), np.random.default_rng(5), n)
    profile = replace(S.get_profile("mixed_state"), anomaly_span=(1.0, 1.0))
    fixed, boxes, lam = attribute_mix(spec, (("spd", "60"),), base, "01", ms,
                                         np.random.default_rng(3), n, profile)
    assert 0.4 <= lam <= 0.6 and boxes[0].kind == "attribute_mix"
    t = np.arange(n) / S.SAMPLE_RATE
    steady = (t > 0.1) & (t < 1.9)
    amps = np.array([a for _, a, _ in ms.partials])
    strongest = np.argsort(-amps)[:8]
    # least-squares amplitudes of the clip's own partials before and during the fault
    ratio = (_partial_coefficients(ms.signal + fixed, ms, steady)[strongest]
             / _partial_coefficients(ms.signal, ms, steady)[strongest])
    np.testing.assert_allclose(ratio, 1.0 - lam, atol=0.03)
    # the other state has the clip's machine RMS and is uncorrelated with it, so the mixture's
    # power is ((1 - lam)^2 + lam^2) times the machine's
    rms_mix = np.sqrt(np.mean((ms.signal + fixed)[steady] ** 2))
    rms_own = np.sqrt(np.mean(ms.signal[steady] ** 2))
    assert rms_mix == pytest.approx(rms_own * np.sqrt((1 - lam) ** 2 + lam ** 2), rel=0.05)
