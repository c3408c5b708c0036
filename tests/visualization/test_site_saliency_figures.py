"""The results site shows the saliency figures of every model kind: keypoints (skeleton, parts),
text (syllables) and scene_graph (graph), per song and for the mean over songs."""
from __future__ import annotations

import json

from core.metadata import SongInfo
from visualization.site_overview import average_sections
from visualization.site_songs import Context, saliency_section


def test_song_and_average_sections_list_the_kind_s_figures(tmp_path):
    results = tmp_path / "results"
    song = SongInfo("Art", "Sung", ("vocal", "violin"), 30.0, 5.0)
    for name, kind in (("integrated_gradients_all_text", "syllables"),
                       ("integrated_gradients_all_scene_graph", "graph")):
        figures = results / name / "figures"
        figures.mkdir(parents=True)
        (results / name / "Art_Sung.json").write_text(json.dumps({"chunks": [0],
                                                                  "audio_share": 0.25}))
        (results / name / "_average.json").write_text(json.dumps({"n_songs": 1, "n_chunks": 1,
                                                                  "audio_share": 0.25}))
        (figures / f"Art_Sung_{kind}.png").write_bytes(b"png")
        if kind == "syllables":
            (figures / f"_average_{kind}.png").write_bytes(b"png")
    ctx = Context(tmp_path, results, str(tmp_path), tmp_path, {}, [],
                  ["integrated_gradients_all_scene_graph", "integrated_gradients_all_text"], [])
    _, text = saliency_section(ctx, song, "integrated_gradients_all_text", 1)
    assert [f.path.name for f in text.figures] == ["Art_Sung_syllables.png"]
    assert ("audio share", "25.0%") in text.numbers
    _, graph = saliency_section(ctx, song, "integrated_gradients_all_scene_graph", 1)
    assert [f.path.name for f in graph.figures] == ["Art_Sung_graph.png"]
    averages = {s.title: [f.path.name for f in s.figures] for s in average_sections(ctx)}
    assert averages == {
        "saliency · integrated_gradients_all_scene_graph (mean over songs)": [],
        "saliency · integrated_gradients_all_text (mean over songs)": ["_average_syllables.png"]}
