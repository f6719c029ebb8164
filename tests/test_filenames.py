"""File-name parser: official examples by hand, bad names, and a hypothesis fuzz test."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asd_tf.data.filenames import ParsedName, parse_attributes, parse_filename
from asd_tf.errors import FileNameError


@pytest.mark.parametrize(
    "name, expected",
    [
        # (style, section, domain, split, label, index, attributes, pairs)
        ("normal_id_01_00000000.wav", ("dcase2020", "01", "source", None, "normal", "00000000", "", ())),
        ("anomaly_id_06_00000123.wav", ("dcase2020", "06", "source", None, "anomaly", "00000123", "", ())),
        ("id_05_00000042.wav", ("dcase2020", "05", "source", None, None, "00000042", "", ())),  # 2020 eval test
        (
            "section_00_source_test_anomaly_0000.wav",  # real DCASE 2021 pump clip: no attributes
            ("section", "00", "source", "test", "anomaly", "0000", "", ()),
        ),
        (
            "section_00_source_train_normal_0397_m-n_X.wav",
            ("section", "00", "source", "train", "normal", "0397", "m-n_X", (("m-n", "X"),)),
        ),
        (
            "section_00_target_test_anomaly_0015_car_A2_spd_6_mic_2.wav",
            ("section", "00", "target", "test", "anomaly", "0015", "car_A2_spd_6_mic_2",
             (("car", "A2"), ("spd", "6"), ("mic", "2"))),
        ),
        (
            "section_00_target_test_anomaly_0040_volt_1.5_wt_130.wav",
            ("section", "00", "target", "test", "anomaly", "0040", "volt_1.5_wt_130",
             (("volt", "1.5"), ("wt", "130"))),
        ),
        (
            "section_02_target_train_normal_0009_noAttribute.wav",
            ("section", "02", "target", "train", "normal", "0009", "noAttribute", ()),
        ),
        # anonymised evaluation test names (2022/2023) and the 2021 form with domain
        ("section_03_0000.wav", ("section", "03", None, None, None, "0000", "", ())),
        ("section_04_source_test_0123.wav", ("section", "04", "source", "test", None, "0123", "", ())),
        # odd number of attribute tokens: string kept, last token without value
        (
            "section_01_source_train_normal_0005_strength_1_ambient.wav",
            ("section", "01", "source", "train", "normal", "0005", "strength_1_ambient",
             (("strength", "1"), ("ambient", ""))),
        ),
    ],
)
def test_parse_known_names(name: str, expected: tuple) -> None:
    p = parse_filename(name)
    got = (p.style, p.section, p.domain, p.split, p.label, p.index, p.attributes, p.attribute_pairs)
    assert got == expected
    assert p.name == name


def test_parse_uses_last_path_component() -> None:
    p = parse_filename("/data/fan/train/section_00_source_train_normal_0001_m-n_W.wav")
    assert (p.name, p.section, p.attributes) == ("section_00_source_train_normal_0001_m-n_W.wav", "00", "m-n_W")


@pytest.mark.parametrize(
    "name",
    [
        "foo.wav",
        "attributes_00.csv",
        "normal_id_1_00000000.wav",  # one-digit id
        "abnormal_id_01_00000000.wav",
        "section_0_source_train_normal_0000.wav",  # one-digit section
        "section_00_source_train_normal.wav",  # no index
        "section_00_left_train_normal_0000.wav",  # bad domain
        "section_00_source_train_normal_0000",  # no extension
        "",
    ],
)
def test_bad_names_raise_filename_error(name: str) -> None:
    with pytest.raises(FileNameError) as info:
        parse_filename(name)
    assert info.value.path == name
    assert info.value.problem  # says what is wrong
    assert name in str(info.value)


def test_parse_attributes_rules() -> None:
    assert parse_attributes("") == ()
    assert parse_attributes("noAttribute") == ()
    assert parse_attributes("pat_03") == (("pat", "03"),)
    assert parse_attributes("vel_620_ac_0.08") == (("vel", "620"), ("ac", "0.08"))
    assert parse_attributes("A1Spd28VMic1") == (("A1Spd28VMic1", ""),)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_fuzz_any_text_parses_or_raises_filename_error(name: str) -> None:
    try:
        p = parse_filename(name)
    except FileNameError as exc:
        assert exc.path == name
        return
    assert isinstance(p, ParsedName)
    assert p.name.lower().endswith(".wav")


_piece = st.sampled_from(
    ["section", "00", "03", "source", "target", "train", "test", "normal", "anomaly", "id", "0000",
     "00000001", "m-n", "W", "noAttribute", "", "x", "1.5", "-", ".wav"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_piece, max_size=9), st.booleans())
def test_fuzz_near_miss_names(pieces: list[str], ext: bool) -> None:
    """Names assembled from real tokens: same contract, and parsed fields are consistent."""
    name = "_".join(pieces) + (".wav" if ext else "")
    try:
        p = parse_filename(name)
    except FileNameError:
        return
    assert len(p.section) == 2 and p.section.isdigit()
    assert p.domain in (None, "source", "target")
    assert p.split in (None, "train", "test")
    assert p.label in (None, "normal", "anomaly")
    assert p.index.isdigit()


_token = st.text(alphabet="abcdefgXYZ0123456789.-", min_size=1, max_size=5)
# Keys of the key_value form are lower-case words in every DCASE year (car, m-n, volt);
# a key token with a digit or capital after its letters (weight15, BckgF) is read as a
# run-together key and value (DCASE 2024), see test_run_together_attributes.
_key = st.text(alphabet="abcdefg-", min_size=1, max_size=5)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["00", "01", "05"]),
    st.sampled_from(["source", "target"]),
    st.sampled_from(["train", "test"]),
    st.sampled_from(["normal", "anomaly"]),
    st.integers(0, 9999),
    st.lists(st.tuples(_key, _token), max_size=3),
)
def test_roundtrip_constructed_names(section, domain, split, label, index, pairs) -> None:
    """Any name built from valid fields parses back to those fields."""
    attrs = "_".join(f"{k}_{v}" for k, v in pairs)
    name = f"section_{section}_{domain}_{split}_{label}_{index:04d}" + (f"_{attrs}" if attrs else "") + ".wav"
    p = parse_filename(name)
    assert (p.section, p.domain, p.split, p.label, p.index) == (section, domain, split, label, f"{index:04d}")
    assert p.attributes == attrs
    assert p.attribute_pairs == tuple(pairs)
