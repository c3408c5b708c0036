"""Sung syllables (core.syllables): inventory, alignment files, posteriorgram files, frame rule."""
from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest

from core import syllables as sy
from core.dataset import SongDataError


# --- inventory ----------------------------------------------------------------------------------

def test_inventory_has_silence_first_then_vowels_then_consonant_vowel_units():
    assert sy.INVENTORY[0] == sy.SILENCE
    assert sy.N_CLASSES == 1 + 14 + 37 * 14 == 533
    assert len(set(sy.INVENTORY)) == sy.N_CLASSES                     # no two classes alike
    assert all(unicodedata.is_normalized("NFC", name) for name in sy.INVENTORY)
    assert sy.INVENTORY[1:15] == sy.VOWELS
    assert sy.INVENTORY[15] == "ka" and sy.INVENTORY[15 + 14] == "kha"
    assert set(sy.SVARA_SYLLABLES) <= set(sy.INVENTORY)


@pytest.mark.parametrize("written, expected", [
    ("sa", "sa"), ("dha", "dha"), ("ni3", "ni"), ("ri1", "ri"), ("ma2", "ma"),
    ("śrī", "rī"), ("kṣa", "ṣa"), ("ram", "ra"), ("eṁ", "e"), ("maḥ", "ma"), ("ā", "ā"),
    ("kr̥", "kr̥"), ("r̥", "r̥"), ("kai", "kai"), ("khau", "khau"), ("ḻa", "ḻa"), ("SA", "sa"),
    ("  pa ", "pa"), ("<sil>", "<sil>"),
    # decomposed input (a + combining macron) is the same syllable as the composed one
    ("ra\u0304", "rā"),
])
def test_written_syllables_map_to_their_class(written, expected):
    assert sy.syllable_class(written) == expected
    assert sy.INVENTORY[sy.class_index(written)] == expected


@pytest.mark.parametrize("written, reason", [
    ("x", "not an ISO 15919 letter"), ("k", "no vowel"), ("kaa", "second vowel"),
    ("sa1", "'1' after the vowel"), ("", "empty"), ("ga4", "'4' after the vowel"),
    ("sa ri", "' ' after the vowel"), ("f", "not an ISO 15919 letter"),
])
def test_syllables_outside_the_inventory_are_refused_with_the_reason(written, reason):
    with pytest.raises(ValueError, match=reason):
        sy.syllable_class(written)


# What indic-transliteration 2.3.82 (``transliterate(text, <script>, sanscript.ISO)``) writes for
# kriti lines in Telugu, Devanagari and Kannada script (run once, offline, from its wheel).
TRANSLITERATED = {
    "ఎందరో మహానుభావులు అందరికీ వందనములు": "eṁdarō mahānubhāvulu aṁdarikī vaṁdanamulu",
    "నగుమోము గనలేని నా జాలి తెలిసి": "nagumōmu ganalēni nā jāli telisi",
    "वातापि गणपतिं भजेऽहं": "vātāpi gaṇapatiṁ bhajē'haṁ",
    "श्री कृष्णं भज मानस": "śrī kr̥ṣṇaṁ bhaja mānasa",
    "ಜಗದೋದ್ಧಾರನ ಆಡಿಸಿದಳೆಶೋದೆ": "jagadōddhārana āḍisidaḷeśōde",
}


def test_syllabify_splits_transliterated_lyrics_into_inventory_syllables():
    assert sy.syllabify(TRANSLITERATED["ఎందరో మహానుభావులు అందరికీ వందనములు"]) == [
        "eṁ", "da", "rō", "ma", "hā", "nu", "bhā", "vu", "lu", "aṁ", "da", "ri", "kī", "vaṁ",
        "da", "na", "mu", "lu"]
    assert sy.syllabify(TRANSLITERATED["वातापि गणपतिं भजेऽहं"]) == [
        "vā", "tā", "pi", "ga", "ṇa", "pa", "tiṁ", "bha", "jē", "haṁ"]       # avagraha not sung
    for iso in TRANSLITERATED.values():
        assert all(sy.class_index(s) > 0 for s in sy.syllabify(iso))
    assert sy.syllabify("śrī rāmaḥ avan kr̥ṣṇa") == ["śrī", "rā", "maḥ", "a", "van", "kr̥", "ṣṇa"]
    with pytest.raises(ValueError, match="no vowel"):
        sy.syllabify("ṣṇ")


# --- alignment files ----------------------------------------------------------------------------

GOOD = "start_s\tend_s\tsyllable\n# a comment\n0.5\t1.0\tsa\n1.0\t1.25\tri2\n\n2.0\t3.5\tśrī\n"


def test_alignment_round_trip_and_parse(tmp_path):
    path = sy.save_alignment(tmp_path / "vocal" / sy.ALIGNMENT_NAME, [0.5, 1.0, 2.0],
                             [1.0, 1.25, 3.5], ["sa", "ri2", "śrī"])
    assert path.read_text(encoding="utf-8").splitlines()[0] == "start_s\tend_s\tsyllable"
    for alignment in (sy.load_alignment(path), sy.parse_alignment(GOOD)):
        np.testing.assert_array_equal(alignment.starts, [0.5, 1.0, 2.0])
        np.testing.assert_array_equal(alignment.ends, [1.0, 1.25, 3.5])
        assert alignment.syllables == ("sa", "ri2", "śrī")
        assert [sy.INVENTORY[c] for c in alignment.classes] == ["sa", "ri", "rī"]
    assert len(sy.parse_alignment("")) == 0                             # sings nothing: valid


@pytest.mark.parametrize("text, reason", [
    ("0.5\t1.0\n", "line 1: expected 3 tab-separated fields"),
    ("0.5 1.0 sa\n", "expected 3 tab-separated fields"),
    ("abc\t1.0\tsa\n", "start 'abc' is not a number"),
    ("0.5\tnan\tsa\n", "end 'nan' is not finite"),
    ("-0.1\t1.0\tsa\n", "negative start"),
    ("1.0\t1.0\tsa\n", "end 1.0 is not after start 1.0"),
    ("0\t1\tsa\n0.9\t2\tri\n", "line 2: interval \\[0.9, 2.0\\) overlaps"),
    ("2\t3\tsa\n0\t1\tri\n", "overlaps or precedes"),
    ("0\t1\tsa\n1\t2\tqa\n", "line 2: syllable 'qa'"),
])
def test_malformed_alignments_raise_a_song_data_error_naming_file_line_and_reason(text, reason):
    with pytest.raises(sy.AlignmentError, match=reason) as info:
        sy.parse_alignment(text, "song/vocal/syllables.tsv")
    assert isinstance(info.value, SongDataError)                        # the runner skips the song
    assert "song/vocal/syllables.tsv" in str(info.value)


def test_missing_or_undecodable_alignment_file_is_a_named_error(tmp_path):
    with pytest.raises(sy.AlignmentError, match="does not exist"):
        sy.load_alignment(tmp_path / "nope.tsv")
    bad = tmp_path / "latin1.tsv"
    bad.write_bytes("0\t1\tś\n".encode("utf-16"))
    with pytest.raises(sy.AlignmentError, match="not UTF-8"):
        sy.load_alignment(bad)
    with pytest.raises(sy.AlignmentError, match="overlaps"):             # the writer validates
        sy.save_alignment(tmp_path / "x.tsv", [0, 0.5], [1, 2], ["sa", "ri"])
    assert not (tmp_path / "x.tsv").exists()


# --- frame rule ---------------------------------------------------------------------------------

def test_frame_takes_the_syllable_covering_its_centre_else_silence():
    alignment = sy.parse_alignment("0.5\t1.0\tsa\n1.0\t1.25\tpa\n2.0\t3.5\tni\n")
    times = np.array([0.0, 0.4999, 0.5, 0.99, 1.0, 1.2499, 1.25, 1.9, 2.0, 3.4999, 3.5, 9.0])
    expected = ["<sil>", "<sil>", "sa", "sa", "pa", "pa", "<sil>", "<sil>", "ni", "ni", "<sil>",
                "<sil>"]
    post = sy.alignment_posteriorgram(alignment, times)
    assert post.shape == (len(times), sy.N_CLASSES) and post.dtype == np.float32
    np.testing.assert_array_equal(post.sum(axis=1), 1.0)
    assert [sy.INVENTORY[i] for i in post.argmax(axis=1)] == expected
    empty = sy.alignment_posteriorgram(sy.parse_alignment(""), times)
    assert (empty.argmax(axis=1) == 0).all()


# --- posteriorgram files ------------------------------------------------------------------------

def write_posteriorgram(folder, values, classes, fps=100.0, first=0.0):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / sy.POSTERIORGRAM_NAME, np.asarray(values))
    (folder / sy.POSTERIORGRAM_INFO_NAME).write_text(json.dumps(
        {"fps": fps, "first_frame_s": first, "classes": classes}))
    return folder / sy.POSTERIORGRAM_NAME


def test_posteriorgram_file_maps_onto_the_inventory_and_interpolates(tmp_path):
    # columns: "sa", "ga3" and "ga1" (both the class "ga": summed); row 2 leaves 0.2 to silence
    values = [[1.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.4, 0.2, 0.2]]
    path = write_posteriorgram(tmp_path, values, ["sa", "ga3", "ga1"], fps=10.0, first=0.05)
    post = sy.load_posteriorgram(path)
    sa, ga, sil = sy.CLASS_INDEX["sa"], sy.CLASS_INDEX["ga"], 0
    np.testing.assert_allclose(post.values[:, [sil, sa, ga]],
                               [[0, 1, 0], [0, 0, 1], [0.2, 0.4, 0.4]], atol=1e-7)
    # frame centres 0.05, 0.15, 0.25 s; t = 0.10 is halfway between rows 0 and 1
    out, present = sy.resample_posteriorgram(post, np.array([0.0, 0.05, 0.10, 0.2, 0.25, 0.3]))
    np.testing.assert_array_equal(present, [False, True, True, True, True, False])
    np.testing.assert_allclose(out[:, [sil, sa, ga]],
                               [[1, 0, 0], [0, 1, 0], [0, 0.5, 0.5], [0.1, 0.2, 0.7],
                                [0.2, 0.4, 0.4], [1, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("values, classes, info, reason", [
    ([[0.5, 0.6]], ["sa", "ri"], {}, "row 0 sums to 1.1000 > 1"),
    ([[1.5, 0.0]], ["sa", "ri"], {}, "outside \\[0, 1\\]"),
    ([[0.5, 0.5]], ["sa"], {}, "shape \\(1, 2\\)"),
    ([[0.5, 0.5]], ["sa", "zz"], {}, "class 1: syllable 'zz'"),
    ([[0.5, 0.5]], ["sa", "ri"], {"fps": 0}, "fps must be positive"),
    ([[0.5, 0.5]], ["sa", "ri"], {"fps": "100"}, "fps must be a finite number"),
])
def test_bad_posteriorgram_files_raise_named_errors(tmp_path, values, classes, info, reason):
    path = write_posteriorgram(tmp_path, values, classes)
    if info:
        meta = json.loads((tmp_path / sy.POSTERIORGRAM_INFO_NAME).read_text())
        (tmp_path / sy.POSTERIORGRAM_INFO_NAME).write_text(json.dumps({**meta, **info}))
    with pytest.raises(sy.AlignmentError, match=reason):
        sy.load_posteriorgram(path)


def test_missing_or_pickled_posteriorgram_is_refused(tmp_path):
    with pytest.raises(sy.AlignmentError, match="description .* does not exist"):
        sy.load_posteriorgram(tmp_path / sy.POSTERIORGRAM_NAME)
    path = write_posteriorgram(tmp_path, [[1.0]], ["sa"])
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(sy.AlignmentError, match="not a readable .npy"):
        sy.load_posteriorgram(path)
    path.unlink()
    with pytest.raises(sy.AlignmentError, match="posteriorgram .* does not exist"):
        sy.load_posteriorgram(path)
