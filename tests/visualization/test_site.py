"""The results site (``python -m visualization.site``) on the posed demo dataset after real runs of
the stages on one song, plus a constructed audio-only song with two 4-s chunks.

Checks: every href/src resolves to a file, every song has its page, each page has the expected
number of <audio>/<video> elements, statuses and numbers come from the outputs and run summaries,
non-ASCII names survive, building twice gives the same bytes, --copy-media is self-contained, and
(when /usr/bin/chromium exists: ``make browser-test``) a real browser loads the pages from file://
without console errors or failed media loads.
"""
from __future__ import annotations

import json
import logging
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO_ROOT, copy_tree, run_cli
from visualization.site_status import DONE, FAILED, NOT_RUN, SKIPPED, Status, stage_status

ARTIST, SONG = "Demo Artist A", "Varnam Śrī"
FAILING = "Kriti Reversed"
LONG = "Eight Seconds"                     # constructed: audio only, two 4-s chunks
CKPT = REPO_ROOT / "separation" / "checkpoints"
STEM_FILES = ("mixture.wav", "mridangam_left.wav", "mridangam_right.wav", "violin_close.wav",
              "vocal_close.wav")


# --- page parsing -------------------------------------------------------------------------------

class Elements(HTMLParser):
    """Every tag with its attributes, and the page title."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.title, self._in_title = "", False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def parse(page: Path) -> Elements:
    parser = Elements()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def links(page: Path) -> list[tuple[str, str]]:
    return [(tag, attrs.get("href") or attrs.get("src")) for tag, attrs in parse(page).tags
            if attrs.get("href") or attrs.get("src")]


def resolve(page: Path, url: str) -> Path:
    assert "://" not in url and not url.startswith("/"), f"{page.name}: not a relative link: {url}"
    return (page.parent / unquote(url.split("#", 1)[0])).resolve()


def song_page(site: Path, artist: str, song: str) -> Path:
    return site / "songs" / artist / f"{song}.html"


def row_of(index: Path, song: str) -> str:
    """The index's table row of one song (HTML text)."""
    html = index.read_text(encoding="utf-8")
    rows = re.findall(r"<tr>\s*<td class=\"song\">.*?</tr>", html, flags=re.S)
    matches = [r for r in rows if f">{song}</a>" in r]
    assert len(matches) == 1, song
    return matches[0]


def cells(row: str) -> list[str]:
    return [re.sub(r"\s+", " ", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]


# --- the data: real stage runs on one song ------------------------------------------------------

def run_in_process(main, *argv) -> int:
    """A CLI's main() in this process (one torch import for all torch stages)."""
    saved = logging.root.handlers[:], logging.root.level
    try:
        return main(list(argv))
    finally:
        logging.root.handlers[:], logging.root.level = saved


@pytest.fixture(scope="module")
def site_data(posed_demo_dataset, tmp_path_factory):
    data = copy_tree(posed_demo_dataset, tmp_path_factory.mktemp("site") / "demo_data")
    d = str(data)
    one = ("--dataset_path", d, "-a", ARTIST, "-s", SONG)
    run_cli("dataset_analysis.main", "validate", "--dataset_path", d, check=True)
    run_cli("dataset_analysis.main", "report", "--dataset_path", d, check=True)
    run_cli("feature_extraction.main", "--extract", "both", "--correlate", *one, check=True)
    run_cli("visualization.main", "--add_audio", *one, check=True)
    # a song that fails for a stated reason: its violin keypoints are gone
    (data / ARTIST / FAILING / "violin" / "keypoints.npy").unlink()
    failed = run_cli("feature_extraction.main", "--extract", "both", "--dataset_path", d, "-a",
                     ARTIST, "-s", FAILING)
    assert failed.returncode == 1, failed.stderr[-2000:]

    from attention_analysis.attention_analysis import main as attention_main
    from gradient_saliency.cli import main as saliency_main
    from separation.main import main as separation_main

    cpu = ("--device", "cpu")
    assert run_in_process(separation_main, "separate", "--checkpoint",
                          str(CKPT / "vocal_face_small.pt"), *one, *cpu) == 0
    assert run_in_process(separation_main, "evaluate", "--checkpoint",
                          str(CKPT / "vocal_face_small.pt"), "--baseline",
                          str(CKPT / "vocal_none_small.pt"), *one, *cpu) == 0
    assert run_in_process(lambda argv: saliency_main("integrated_gradients", argv), "--model",
                          "face_body", "--num_steps", "2", *one, *cpu) == 0
    assert run_in_process(attention_main, "--model", "vocal", *one, *cpu) == 0

    # an audio-only song with two chunks (no video, no pose): the browser checks fragments on it
    long_dir = data / ARTIST / LONG
    long_dir.mkdir()
    for name in STEM_FILES:
        audio, rate = sf.read(data / ARTIST / SONG / name)
        sf.write(long_dir / name, np.concatenate([audio, audio[::-1]]), rate)
    metadata = json.loads((data / "dataset_metadata.json").read_text(encoding="utf-8"))
    metadata[ARTIST][LONG] = {**metadata[ARTIST][SONG], "duration": 8.0}
    (data / "dataset_metadata.json").write_text(json.dumps(metadata, ensure_ascii=False),
                                                encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def site(site_data):
    from visualization.site import main

    assert run_in_process(main, "--dataset_path", str(site_data)) == 0
    return site_data / "results" / "site"


def all_songs(data: Path) -> list[tuple[str, str]]:
    metadata = json.loads((data / "dataset_metadata.json").read_text(encoding="utf-8"))
    return [(artist, song) for artist, songs in metadata.items() for song in songs]


# --- tests --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_every_link_resolves_and_every_song_has_its_page(site, site_data):
    pages = [site / "index.html"] + sorted((site / "songs").rglob("*.html"))
    expected = {song_page(site, a, s).resolve() for a, s in all_songs(site_data)}
    assert {p.resolve() for p in pages[1:]} == expected
    index_targets = {resolve(pages[0], url) for _, url in links(pages[0])}
    assert expected <= index_targets
    for page in pages:
        found = links(page)
        assert found, page
        for tag, url in found:
            target = resolve(page, url)
            assert target.is_file(), f"{page.relative_to(site)}: <{tag}> {url} -> {target}"
            assert quote(unquote(url.split("#")[0])) == url.split("#")[0]   # hrefs are URL-quoted


@pytest.mark.slow
def test_each_page_has_one_player_per_chunk_and_source(site, site_data):
    for artist, song in all_songs(site_data):
        tags = parse(song_page(site, artist, song)).tags
        audio = [a["src"] for t, a in tags if t == "audio"]
        videos = [a["src"] for t, a in tags if t == "video"]
        n_chunks = 2 if song == LONG else 1           # whole 4-s chunks of 8-s and 4-s audio
        separated = 1 if song == SONG else 0          # only Varnam Śrī was separated
        assert len(audio) == n_chunks * (len(STEM_FILES) + separated), song
        assert len(videos) == (1 if song == SONG else 0), song
        fragments = sorted({url.split("#")[1] for url in audio})
        assert fragments == (["t=0,4", "t=4,8"] if song == LONG else ["t=0,4"]), song
        if song == SONG:
            assert sum("separated_face_small.wav" in unquote(url) for url in audio) == 1
            assert unquote(videos[0]).endswith(f"{ARTIST}/{SONG}/0_4_test.mp4")


@pytest.mark.slow
def test_index_statuses_come_from_outputs_and_run_summaries(site, site_data):
    index = site / "index.html"
    header = re.findall(r"<th>(.*?)</th>", index.read_text(encoding="utf-8").split("</thead>")[0])
    columns = [re.sub(r"<br>.*", "", h).replace("<wbr>", "").strip() for h in header]
    # the headline strong-window share next to the song, before the (scrolling) stage columns
    assert columns[:10] == ["song", "duration", "layout", "strong-window share", "checks", "pose",
                            "keypoints", "features", "correlation", "overlay video"]
    assert "separation vocal · face_small" in columns
    assert "saliency integrated_gradients_all_face_body" in columns
    assert "attention vocal" in columns

    def cell(song, column):
        return cells(row_of(index, song))[columns.index(column)]

    # done, with the numbers of the evaluation JSON
    evaluation = json.loads((site_data / ARTIST / SONG / "vocal" /
                             "separation_eval_face_small.json").read_text(encoding="utf-8"))
    sep = cell(SONG, "separation vocal · face_small")
    assert '<span class="badge done">done</span>' in sep
    assert f"{evaluation['song_means']['model_si_sdr']:.2f} dB" in sep
    assert f"{evaluation['song_means']['baseline_si_sdr']:.2f} dB" in sep
    for column in ("pose", "keypoints", "features", "correlation", "overlay video",
                   "saliency integrated_gradients_all_face_body", "attention vocal"):
        assert "badge done" in cell(SONG, column), column
    # skipped with the reason the stage recorded (run summaries of the fixture's pose run)
    assert "badge skipped" in cell("Alapana No Fps", "pose") and \
        "null fps in metadata" in cell("Alapana No Fps", "pose")
    assert "badge skipped" in cell("Tillana Pan", "keypoints") and \
        "moving camera" in cell("Tillana Pan", "keypoints")
    # failed with the reason: the features run on the song without violin keypoints
    record = json.loads((site_data / "results" / "run_summaries" / "feature_extraction.json")
                        .read_text(encoding="utf-8"))["songs"][f"{ARTIST}/{FAILING}"]
    assert record["outcome"] == "failed"
    features = cell(FAILING, "features")
    assert "badge failed" in features and "keypoints.npy" in features
    # keypoints: the post run reported done, the file is gone since: not run, with a note
    assert "badge not-run" in cell(FAILING, "keypoints") and "outputs are gone" in \
        cell(FAILING, "keypoints")
    # not run: with the command that produces the output for this song
    overlay = cell(FAILING, "overlay video")
    assert "badge not-run" in overlay and \
        "python -m visualization.main --add_audio --dataset_path" in overlay and \
        f"-s &#39;{FAILING}&#39;" in overlay
    # strong-window share from correlations.json (own stem vs control)
    pairs = json.loads((site_data / ARTIST / SONG / "correlation" / "correlations.json")
                       .read_text(encoding="utf-8"))["pairs"]
    own = [p["strong_share"] for p in pairs if not p["control"] and p["strong_share"] is not None]
    assert f"{100 * sum(own) / len(own):.1f}%" in cell(SONG, "strong-window share")
    # the separation benchmark: the committed JSON's table (its commit named), else "not run"
    # with its command
    html = index.read_text(encoding="utf-8")
    from visualization.site import BENCHMARK_JSON
    if BENCHMARK_JSON.is_file():
        doc = json.loads(BENCHMARK_JSON.read_text(encoding="utf-8"))
        section = html.split('id="benchmark"')[1].split("<h2")[0]
        assert f"<code>{doc['git_commit']}</code>" in section
        assert section.count("<h3>") == len(doc["scenes"])
    else:
        assert "separation benchmark: <code>make benchmark</code>" in html


@pytest.mark.slow
def test_song_page_shows_chunk_scores_figures_and_json(site, site_data):
    page = song_page(site, ARTIST, SONG)
    html = page.read_text(encoding="utf-8")
    assert parse(page).title == f"{ARTIST} — {SONG}"
    evaluation = json.loads((site_data / ARTIST / SONG / "vocal" /
                             "separation_eval_face_small.json").read_text(encoding="utf-8"))
    chunk = evaluation["chunks"][0]
    assert f"SI-SDR <strong>{chunk['model_si_sdr']:.2f} dB</strong>" in html
    assert f"audio-only {chunk['baseline_si_sdr']:.2f} dB" in html
    images = {unquote(a["src"]).rsplit("/", 1)[-1] for t, a in parse(page).tags if t == "img"}
    assert {"feature_timeseries.png", "strong_window_share.png",
            f"{ARTIST}_{SONG}_skeleton.png", f"{ARTIST}_{SONG}_parts.png",
            f"{ARTIST}_{SONG}.png"} <= images
    saliency = json.loads((site_data / "results" / "integrated_gradients_all_face_body" /
                           f"{ARTIST}_{SONG}.json").read_text(encoding="utf-8"))
    assert f"{len(saliency['chunks'])} of 1" in html      # chunks attributed of the song's chunks
    numbers = dict(re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", html))
    assert set(saliency["coverage"]) == {"face", "body"}
    for group, share in saliency["coverage"].items():        # share of keypoint entries present
        assert numbers[f"coverage {group}"] == f"{100 * share:.1f}%"
    attention = json.loads((site_data / "results" / "attention_scores_vocal.json")
                           .read_text(encoding="utf-8"))[ARTIST][SONG]
    (coverage,) = [chunk["video_coverage"] for chunk in attention]    # one 4-s chunk
    assert numbers["video coverage per chunk"] == \
        f"mean {100 * coverage:.1f}%, min {100 * coverage:.1f}% over 1"
    json_links = {unquote(a["href"]) for t, a in parse(page).tags
                  if t == "a" and a.get("href", "").endswith(".json")}
    assert any(link.endswith("vocal/separation_eval_face_small.json") for link in json_links)
    assert any(link.endswith("correlation/correlations.json") for link in json_links)
    assert any(link.endswith("attention_scores_vocal.json") for link in json_links)


@pytest.mark.slow
def test_non_ascii_names_in_file_names_links_and_titles(site):
    index_html = (site / "index.html").read_text(encoding="utf-8")
    assert quote(f"songs/{ARTIST}/{SONG}.html") in index_html
    assert "Varnam%20%C5%9Ar%C4%AB.html" in index_html
    assert f">{SONG}</a><br><span class=\"muted\">{ARTIST}</span>" in index_html
    assert song_page(site, ARTIST, SONG).is_file()


@pytest.mark.slow
def test_rebuilding_gives_the_same_bytes_and_copy_media_is_self_contained(site, site_data,
                                                                         tmp_path):
    from visualization.site import main

    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()}
    assert run_in_process(main, "--dataset_path", str(site_data)) == 0
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in site.rglob("*") if p.is_file()}
    assert after == before                   # same bytes, files not even rewritten

    shared = tmp_path / "shared"
    assert run_in_process(main, "--dataset_path", str(site_data), "--out", str(shared),
                          "--copy-media") == 0
    for page in [shared / "index.html"] + sorted((shared / "songs").rglob("*.html")):
        for tag, url in links(page):
            target = resolve(page, url)
            assert target.is_file() and target.is_relative_to(shared.resolve()), (page, url)
    copied = shared / "media" / "dataset" / ARTIST / SONG / "mixture.wav"
    assert copied.read_bytes() == (site_data / ARTIST / SONG / "mixture.wav").read_bytes()


def test_names_are_escaped_in_html_and_quoted_in_links(tmp_path):
    """Autoescaping and URL quoting on a song whose name has HTML and URL specials."""
    from visualization.site import build_site

    artist, song = "A&B", "<b>Raga #1?"
    song_dir = tmp_path / artist / song
    song_dir.mkdir(parents=True)
    sf.write(song_dir / "mixture.wav", np.zeros(4 * 8000), 8000)
    (tmp_path / "dataset_metadata.json").write_text(json.dumps(
        {artist: {song: {"layout": ["vocal"], "fps": 30, "duration": 4.0}}}), encoding="utf-8")
    index = build_site(tmp_path, tmp_path / "results", tmp_path / "site",
                       benchmark_path=tmp_path / "none.json")
    html = index.read_text(encoding="utf-8")
    assert "<b>Raga" not in html and "&lt;b&gt;Raga #1?" in html
    assert "songs/A%26B/%3Cb%3ERaga%20%231%3F.html" in html
    page = song_page(tmp_path / "site", artist, song)
    assert parse(page).title == f"{artist} — {song}"
    (audio,) = [a["src"] for t, a in parse(page).tags if t == "audio"]
    assert resolve(page, audio) == (song_dir / "mixture.wav").resolve()
    assert audio.endswith("mixture.wav#t=0,4")
    # nothing ran: every stage is "not run" with its command, never a broken element
    assert html.count("badge not-run") >= 8 and "--dataset_path" in html


def test_untrusted_names_never_write_outside_the_site_and_filters_choose_songs(tmp_path, capsys):
    from visualization.site import main

    dataset = tmp_path / "data"
    dataset.mkdir()
    entry = {"layout": ["vocal"], "fps": 30, "duration": 4.0}
    (dataset / "dataset_metadata.json").write_text(json.dumps(
        {"..": {"../../escape": entry}, "A": {"one": entry, "two": entry}}), encoding="utf-8")
    out = tmp_path / "out" / "site"
    assert run_in_process(main, "--dataset_path", str(dataset), "--out", str(out)) == 0
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html"))
    assert len(written) == 4 and all(w.startswith("out/site/") for w in written)
    (hashed,) = (out / "songs" / "_").glob("*.html")                 # the hashed page
    # the unusable entry: every stage failed with the metadata's reason, nothing read from disk
    row = row_of(out / "index.html", "../../escape")
    assert row.count("badge failed") == 8 and "would leave its folder" in row, row
    assert "<audio" not in hashed.read_text(encoding="utf-8")
    # -a/-s choose the songs of the index; a filter that matches nothing is a clear error
    filtered = tmp_path / "filtered"
    assert run_in_process(main, "--dataset_path", str(dataset), "--out", str(filtered), "-a", "A",
                          "-s", "two") == 0
    assert [p.name for p in filtered.rglob("*.html") if p.name != "index.html"] == ["two.html"]
    assert "one.html" not in (filtered / "index.html").read_text(encoding="utf-8")
    assert run_in_process(main, "--dataset_path", str(dataset), "--out", str(filtered),
                          "-s", "three") == 2
    assert "no song matches" in capsys.readouterr().err


def test_a_long_song_splits_its_chunks_over_linked_pages(tmp_path):
    from visualization.site import build_site
    from visualization.site_songs import CHUNKS_PER_PAGE

    song_dir = tmp_path / "A" / "Long"
    song_dir.mkdir(parents=True)
    n_chunks = CHUNKS_PER_PAGE + 5
    sf.write(song_dir / "mixture.wav", np.zeros(4 * n_chunks * 1000 + 999, np.int16), 1000)
    sf.write(song_dir / "vocal_a.wav", np.zeros(4 * n_chunks * 1000, np.int16), 1000)
    (tmp_path / "dataset_metadata.json").write_text(json.dumps(
        {"A": {"Long": {"layout": ["vocal"], "fps": 30, "duration": 4.0 * n_chunks}}}))
    build_site(tmp_path, tmp_path / "results", tmp_path / "site", benchmark_path=tmp_path / "x")
    first, second = song_page(tmp_path / "site", "A", "Long"), \
        tmp_path / "site" / "songs" / "A" / "Long" / "chunks-2.html"
    parts = ((first, range(CHUNKS_PER_PAGE)), (second, range(CHUNKS_PER_PAGE, n_chunks)))
    for page, chunks in parts:
        audio = [a["src"] for t, a in parse(page).tags if t == "audio"]
        assert len(audio) == 2 * len(chunks)                     # mixture + vocal per chunk
        fragments = sorted({url.split("#t=")[1] for url in audio},
                           key=lambda f: float(f.split(",")[0]))
        assert fragments == [f"{4 * c},{4 * c + 4}" for c in chunks]
        assert all(resolve(page, url).is_file() for _, url in links(page))
    # each part links to the other
    assert any(resolve(first, url) == second.resolve() for _, url in links(first))
    assert any(resolve(second, url) == first.resolve() for _, url in links(second))


def test_outputs_whose_recorded_inputs_changed_are_out_of_date(tmp_path):
    """core.freshness records what each output was made from; the site reads them."""
    from core.freshness import record_inputs
    from visualization.site import build_site

    song_dir = tmp_path / "A" / "s"
    (song_dir / "vocal").mkdir(parents=True)
    sf.write(song_dir / "mixture.wav", np.zeros(4000), 1000)
    (song_dir / "video.mov").write_bytes(b"video")
    separated, clip = song_dir / "vocal" / "separated_face_small.wav", song_dir / "0_4_test.mp4"
    sf.write(separated, np.zeros(4000), 1000)
    clip.write_bytes(b"clip")
    record_inputs([separated], [song_dir / "mixture.wav"])
    record_inputs([clip], [song_dir / "video.mov"])
    (tmp_path / "dataset_metadata.json").write_text(json.dumps(
        {"A": {"s": {"layout": ["vocal"], "fps": 30, "duration": 4.0}}}))

    def cell_texts():
        index = build_site(tmp_path, tmp_path / "results", tmp_path / "site",
                           benchmark_path=tmp_path / "x")
        return " ".join(cells(row_of(index, "s")))

    assert "out of date" not in cell_texts()
    sf.write(song_dir / "mixture.wav", np.ones(4000) * 0.1, 1000)    # the input is remade
    texts = cell_texts()
    assert texts.count('badge out-of-date">out of date') == 1
    assert "../mixture.wav changed since separated_face_small.wav was made" in texts
    assert "python -m separation.main separate" in texts.split("out of date")[1]


def test_odd_or_broken_outputs_never_break_the_build(tmp_path):
    """Outputs are untrusted files: wrong shapes and bad JSON show as missing, never crash."""
    from visualization.site import build_site

    song_dir = tmp_path / "A" / "s"
    (song_dir / "vocal").mkdir(parents=True)
    sf.write(song_dir / "mixture.wav", np.zeros(8 * 8000), 8000)
    (tmp_path / "dataset_metadata.json").write_text(json.dumps(
        {"A": {"s": {"layout": ["vocal"], "fps": 30, "duration": 8.0}}}), encoding="utf-8")
    results = tmp_path / "results"
    odd = {song_dir / "vocal" / "separation_eval_face_small.json": {"chunks": "x", "song_means": 3},
           results / "validation_report.json": ["not", "an", "object"],
           results / "correlation" / "aggregated_strong_windows.json": {"A": {"s": [1, 2]}},
           results / "attention_scores_vocal.json": {"A": {"s": {"chunk": 0}}},
           results / "integrated_gradients_all_face_body" / "A_s.json": [1],
           results / "integrated_gradients_all_face_body" / "_average.json": {"n_songs": "x"},
           results / "dataset_report" / "report.json": {"metadata": [],
                                                        "figures": {"x": "../../e"}},
           results / "run_summaries" / "post.json": {"stage": "post", "songs": {"A/s": "done"}}}
    for path, value in odd.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")
    (results / "run_summaries" / "pose.json").write_text("{not json", encoding="utf-8")
    index = build_site(tmp_path, results, tmp_path / "site", benchmark_path=results / "odd.json")
    page = song_page(tmp_path / "site", "A", "s")
    assert len([a for t, a in parse(page).tags if t == "audio"]) == 2      # mixture × 2 chunks
    html = index.read_text(encoding="utf-8")
    assert "separation vocal · face_<wbr>small" in html and "attention vocal" in html
    for page in (index, page):
        for tag, url in links(page):
            assert resolve(page, url).is_file(), (page.name, url)


def test_benchmark_table_renders_every_scene_and_model_with_cis(tmp_path):
    from visualization.site import build_site

    (tmp_path / "dataset_metadata.json").write_text(json.dumps(
        {"A": {"s": {"layout": ["vocal"], "fps": 30, "duration": 4.0}}}), encoding="utf-8")
    benchmark = tmp_path / "separation_benchmark.json"
    model = {"sdr": {"mean": 7.25, "ci95": [6.5, 8.0]}, "si_sdr": {"mean": 6.875, "ci95": [6, 7.5]},
             "si_sdr_minus_audio_only": {"mean": 3.125, "ci95": [2.5, 3.75]}, "steps": 900,
             "same_timbre": True, "extra": "ignored"}
    benchmark.write_text(json.dumps({
        "scenes": {"same_timbre": {"models": {"none": {**model, "si_sdr_minus_audio_only": None},
                                              "face_body": model}},
                   "demo_mixed": {"models": {"body": {**model, "same_timbre": False}}}},
        "git_commit": "abc1234", "generator_version": 2}), encoding="utf-8")
    html = build_site(tmp_path, tmp_path / "results", tmp_path / "site",
                      benchmark_path=benchmark).read_text(encoding="utf-8")
    section = html.split('id="benchmark"')[1].split("<h2")[0]
    assert re.findall(r"<h3>(.*?)</h3>", section) == ["same_timbre", "demo_mixed"]
    rows = [cells(row) for row in re.findall(r"<tr><td>.*?</tr>", section)]
    # model, SDR, SI-SDR, SI-SDR − audio-only (paired, with its own CI), steps, same timbre
    assert rows == [
        ["none", "7.25 dB [6.50, 8.00]", "6.88 dB [6.00, 7.50]", "—", "900", "yes"],
        ["face_body", "7.25 dB [6.50, 8.00]", "6.88 dB [6.00, 7.50]", "3.12 dB [2.50, 3.75]",
         "900", "yes"],
        ["body", "7.25 dB [6.50, 8.00]", "6.88 dB [6.00, 7.50]", "3.12 dB [2.50, 3.75]", "900",
         "no"]]
    assert "abc1234" in section and "generator version 2" in section
    assert "make benchmark" not in section
    # the site's default is the JSON committed beside the checkpoints
    from visualization.site import BENCHMARK_JSON

    assert BENCHMARK_JSON == REPO_ROOT / "separation" / "checkpoints" / "separation_benchmark.json"


@pytest.mark.parametrize("have, record, expected", [
    (True, None, Status(DONE)),
    (True, {"outcome": "up_to_date", "reason": None}, Status(DONE)),
    (False, {"outcome": "skipped", "reason": "null fps"}, Status(SKIPPED, "null fps")),
    (False, {"outcome": "failed", "reason": "boom"}, Status(FAILED, "boom", "cmd -f")),
    (True, {"outcome": "failed", "reason": "boom"},
     Status(FAILED, "boom", "cmd -f", "the outputs on disk may be older or partial")),
    (False, None, Status(NOT_RUN, None, "cmd")),
    (False, {"outcome": "done", "reason": None},
     Status(NOT_RUN, None, "cmd", "the last run reported it done, but its outputs are gone")),
])
def test_stage_status_rules(have, record, expected):
    assert stage_status(have, record, "cmd") == expected


# --- a real browser -----------------------------------------------------------------------------

MEDIA_CHECK = """(async () => {
  const out = {media: [], images: []};
  for (const el of document.querySelectorAll("audio, video")) {
    if (el.readyState < 1 && !el.error) {
      el.preload = "metadata"; el.load();
      await new Promise(done => { el.addEventListener("loadedmetadata", done, {once: true});
                                  el.addEventListener("error", done, {once: true});
                                  setTimeout(done, 15000); });
    }
    const start = el.currentTime;
    if (el.tagName === "VIDEO" && !el.error) {   // decode a frame: H.264 plays (and shows in shots)
      el.currentTime = 1;
      await new Promise(done => { el.addEventListener("seeked", done, {once: true});
                                  setTimeout(done, 15000); });
    }
    out.media.push({tag: el.tagName, src: el.getAttribute("src"), ready: el.readyState,
                    error: el.error && el.error.code, time: start, duration: el.duration,
                    width: el.videoWidth || 0});
  }
  for (const img of document.images) {
    out.images.push({src: img.getAttribute("src"), ok: img.complete && img.naturalWidth > 0});
  }
  return out;
})()"""

PLAY_CHUNK = """(async () => {
  const players = [...document.querySelectorAll("audio")];
  const first = players.find(p => p.getAttribute("src").endsWith("#t=0,4"));
  const other = players.find(p => p.getAttribute("src").endsWith("#t=4,8"));
  await other.play();
  await first.play();                       // the page's script pauses the other player
  const otherPaused = other.paused;
  await new Promise(done => { first.addEventListener("pause", done, {once: true});
                              setTimeout(done, 15000); });
  return {otherPaused: otherPaused, paused: first.paused, time: first.currentTime,
          duration: first.duration};
})()"""

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="no /usr/bin/chromium (make browser-test installs it and runs this)")
def test_pages_load_in_headless_chromium_without_errors(site, tmp_path):
    from chromium_cdp import Chromium

    shots = Path(os.environ.get("SITE_SCREENSHOTS") or tmp_path / "screenshots")
    pages = {"index": site / "index.html", "song": song_page(site, ARTIST, SONG),
             "two_chunks": song_page(site, ARTIST, LONG)}
    # a tall viewport: Chromium paints no frame of a video outside it, even in a full-page shot
    with Chromium(height=2400) as browser:
        for name, page in pages.items():
            browser.open(page.resolve().as_uri())
            found = browser.evaluate(MEDIA_CHECK)
            assert browser.problems() == [], name
            assert all(m["ready"] >= 1 and m["error"] is None for m in found["media"]), found
            assert all(i["ok"] for i in found["images"]), found["images"]
            for media in found["media"]:
                fragment = re.search(r"#t=([0-9.]+),", media["src"] or "")
                if fragment:       # the player starts at its chunk
                    assert media["time"] == pytest.approx(float(fragment[1]), abs=0.05), media
            if name == "song":
                assert [m["tag"] for m in found["media"]].count("VIDEO") == 1
                assert all(m["width"] == 1280 and m["ready"] >= 2     # a frame was decoded
                           for m in found["media"] if m["tag"] == "VIDEO")
                assert len(found["images"]) >= 5
            if name == "two_chunks":
                played = browser.evaluate(PLAY_CHUNK, timeout=60)
                # chunk 0 of an 8-s file stops at 4 s: the fragment's end is honoured
                assert played["paused"] and played["duration"] == pytest.approx(8, abs=0.05)
                assert played["time"] == pytest.approx(4, abs=0.3) and played["otherPaused"]
                assert browser.problems() == []
            path = browser.screenshot(shots / f"{name}.png")
            assert path.stat().st_size > 10_000
    print(f"screenshots: {shots}")


def test_make_demo_ends_by_building_the_site_and_printing_its_index(tmp_path, capsys):
    from visualization.site import main

    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndemo: setup\n", 1)[1].split("\n\n", 1)[0].splitlines()
    stages = [line for line in recipe if "$(PY) -m " in line]
    assert stages[-1].strip() == "$(DEMO_ENV) $(PY) -m visualization.site"
    song_dir = tmp_path / "A" / "s"
    song_dir.mkdir(parents=True)
    sf.write(song_dir / "mixture.wav", np.zeros(4000), 1000)
    (tmp_path / "dataset_metadata.json").write_text(json.dumps(
        {"A": {"s": {"layout": ["vocal"], "fps": 30, "duration": 4.0}}}), encoding="utf-8")
    assert run_in_process(main, "--dataset_path", str(tmp_path)) == 0
    index = (tmp_path / "results" / "site" / "index.html").resolve()
    assert capsys.readouterr().out.splitlines()[-1] == f"results site: {index}"
    assert index.is_file()
