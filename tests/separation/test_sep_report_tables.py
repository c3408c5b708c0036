"""The documents' separation tables are what ``separation.report_tables`` writes from the committed
benchmark JSON."""
from __future__ import annotations

import copy

import pytest

from separation import report_tables as rt


def test_committed_documents_agree_with_the_committed_benchmark_json():
    doc = rt.load_benchmark()
    assert rt.stale_documents(doc) == [], "run: python -m separation.report_tables"
    readme = rt.README.read_text(encoding="utf-8")
    block = readme.split("<!-- separation-benchmark:start -->")[1].split("<!-- separation-")[0]
    if doc is None:
        assert rt.NOT_RUN in block
    else:     # the numbers of the JSON appear in the README's block, formatted as documented
        gain = doc["scenes"]["same_timbre"]["models"]["face"]["si_sdr_minus_audio_only"]
        assert rt.with_ci(gain, sign=True) in block


def test_committed_readme_agrees_with_the_committed_kinds_benchmark_json():
    doc = rt.load_benchmark(rt.KINDS_JSON)
    assert rt.stale_documents(doc, rt.KINDS_BLOCKS) == [], "run: python -m separation.report_tables"
    block = rt.README.read_text(encoding="utf-8").split(
        "<!-- separation-benchmark-kinds:start -->")[1].split("<!-- separation-")[0]
    if doc is None:
        assert rt.NOT_RUN_KINDS in block
    else:
        for group in doc["training"]["kinds"]:
            for row, m in doc["scenes"][group]["models"].items():
                if row != "none":
                    assert rt.with_ci(m["si_sdr_minus_audio_only"], sign=True) in block


def test_kinds_table_says_which_rows_help_and_hurt_per_kind():
    doc = small_doc()
    doc["training"]["kinds"] = ["appearance", "syllables"]
    gain = {"mean": 3.625, "ci95": [2.828, 4.5], "n": 3}
    worse = {"mean": -1.5, "ci95": [-2.0, -1.0], "n": 3}
    unclear = {"mean": 0.25, "ci95": [-0.5, 1.0], "n": 3}
    none = doc["scenes"]["same_timbre"]["models"]["none"]
    doc["rows"]["frames"] = doc["rows"]["text"] = {}
    doc["scenes"] = {
        "appearance": {"n_chunks": 24, "models": {
            "none": none, "face": {"si_sdr_minus_audio_only": unclear},
            "frames": {"si_sdr_minus_audio_only": gain}, "text": {"si_sdr_minus_audio_only": worse}}},
        "syllables": {"n_chunks": 21, "models": {
            "none": none, "face": {"si_sdr_minus_audio_only": unclear},
            "frames": {"si_sdr_minus_audio_only": unclear},
            "text": {"si_sdr_minus_audio_only": gain}}},
        "same_timbre": {"n_chunks": 45, "models": {}}}          # a pooled group: not a column
    table = rt.kinds_table(doc)
    assert table.splitlines()[0] == "| SI-SDR − audio-only, dB [95% CI] | appearance | syllables |"
    assert "| `frames` | +3.62 [+2.83, +4.50] | +0.25 [−0.50, +1.00] |" in table
    assert "- appearance: helps: `frames` +3.62; hurts: `text` −1.50." in table
    assert "- syllables: helps: `text` +3.62." in table
    assert "Chunks: appearance 24, syllables 21." in table
    assert "its audio path" not in table
    # a row of the U-Net path is also shown against the U-Net's own audio-only row
    doc["rows"]["frames_unet"] = {}
    for group, own in (("appearance", gain), ("syllables", worse)):
        doc["scenes"][group]["models"]["frames_unet"] = {
            "si_sdr_minus_audio_only": unclear, "si_sdr_minus_path_audio_only": own}
    doc["rows"]["none_unet"] = {}
    for group in ("appearance", "syllables"):
        doc["scenes"][group]["models"]["none_unet"] = {"si_sdr_minus_audio_only": gain}
    table = rt.kinds_table(doc)
    assert ("| `frames` + U-Net (Sound of Pixels) − its audio path's audio-only | "
            "+3.62 [+2.83, +4.50] | −1.50 [−2.00, −1.00] |") in table
    # judged against its own path's audio-only row; that row itself is no evidence
    assert ("- appearance: helps: `frames` +3.62, `frames` + U-Net (Sound of Pixels) +3.62; "
            "hurts: `text` −1.50.") in table
    assert "- syllables: helps: `text` +3.62; hurts: `frames` + U-Net (Sound of Pixels) −1.50." \
        in table
    doc["scenes"]["syllables"]["models"]["text"]["si_sdr_minus_audio_only"] = unclear
    assert "- syllables: helps: no row; hurts: `frames` + U-Net" in rt.kinds_table(doc)
    assert rt.kinds_table(None) == rt.NOT_RUN_KINDS


def small_doc() -> dict:
    stat = {"mean": 5.0, "ci95": [4.0, 6.25], "n": 3}
    gain = {"mean": 3.625, "ci95": [2.828, 4.5], "n": 3}
    models = {"none": {"sdr": stat, "si_sdr": {**stat, "mean": 1.0},
                       "si_sdr_minus_mixture": {**stat, "mean": 0.5},
                       "si_sdr_minus_audio_only": None, "best_step": 250},
              "face": {"sdr": stat, "si_sdr": stat, "si_sdr_minus_mixture": {**stat, "mean": -0.25},
                       "si_sdr_minus_audio_only": gain, "best_step": 300}}
    return {"target": "vocal", "git_commit": "0123456789abcdef", "generator_version": 3,
            "architecture_version": 2, "metrics": {"sdr": "SDR (v3)", "si_sdr": "SI-SDR"},
            "training": {"preset": "small", "steps": 300, "batch_size": 4, "lr": 0.002, "seed": 0,
                         "eval_every": 25, "scene_counts": {"train": 24, "validation": 4,
                                                            "test": 12},
                         "kinds": ["duet", "shadow", "concert"]},
            "rows": {"none": {"checkpoint": "vocal_none_small.pt", "visual": "none",
                              "cross_modal": False, "parameters": 1161752, "file_mb": 4.71,
                              "steps": 300, "best_step": 250, "wall_time_s": 240.0,
                              "device": "cpu"},
                     "face": {"checkpoint": "vocal_face_small.pt", "visual": "face",
                              "cross_modal": False, "parameters": 1430056, "file_mb": 5.93,
                              "steps": 300, "best_step": 300, "wall_time_s": 600.0,
                              "device": "cpu"}},
            "scenes": {"same_timbre": {"same_timbre": True, "n_chunks": 72, "models": models},
                       "demo_songs": {"same_timbre": False, "n_chunks": 6,
                                      "models": copy.deepcopy(models)}},
            "verdict": {"group": "same_timbre", "goal_db": 3.0, "best_row": "face", "gain": gain,
                        "met": True}}


def test_tables_render_the_json_numbers():
    doc = small_doc()
    readme = rt.readme_rows(doc)
    assert "| `face` | +3.62 [+2.83, +4.50] | +3.62 [+2.83, +4.50] |" in readme
    assert "| audio-only SI-SDR | 1.00 | 1.00 |" in readme
    assert "**met**" in readme and "same_timbre 72, demo_songs 6" in readme
    table = rt.checkpoints_table(doc)
    assert "| `vocal_face_small.pt` | vocal | face | concat (VoViT) | 1,430,056 | 5.9 MB | 300 (300) " \
           "| 10.0 min | cpu |" in table
    assert "`0123456789ab`" in table and "architecture version 2" in table
    bench = rt.benchmark_table(doc)
    assert "| same_timbre | same | 72 | audio-only (`none`) | 5.00 [4.00, 6.25] | 1.00 [4.00, 6.25] " \
           "| +0.50 | – | 250 |" in bench
    assert "| | | | `face` | 5.00 [4.00, 6.25] | 5.00 [4.00, 6.25] | −0.25 | +3.62 [+2.83, +4.50] " \
           "| 300 |" in bench
    assert "Stopped early" not in bench
    doc["rows"]["face"].update(finished=False, steps_run=120)     # a row cut by the time budget
    assert "`face` after 120 of 300 steps" in rt.benchmark_table(doc)
    assert "| 300 (300, **stopped at 120**) |" in rt.checkpoints_table(doc)
    assert "`face` after 120 of 300 steps" in rt.readme_rows(doc)


def test_check_finds_a_document_that_disagrees_and_writing_fixes_it(tmp_path):
    doc = small_doc()
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- separation-benchmark:start -->\nold\n<!-- separation-benchmark:end -->"
                    "\nrest\n", encoding="utf-8")
    documents = {page: {"separation-benchmark": rt.readme_rows}}
    assert rt.stale_documents(doc, documents) == [page]
    page.write_text(rt.render(doc, documents)[page], encoding="utf-8")
    assert rt.stale_documents(doc, documents) == []
    text = page.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("\nrest\n") and "old" not in text
    doc["scenes"]["same_timbre"]["models"]["face"]["si_sdr_minus_audio_only"]["mean"] = 3.5
    assert rt.stale_documents(doc, documents) == [page]          # one changed number is found
    with pytest.raises(ValueError, match="no <!-- other:start -->"):
        rt.render(doc, {page: {"other": rt.readme_rows}})
