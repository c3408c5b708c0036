"""Per-song content of the results site, read from the dataset and results folders (the file edge).

``discover`` finds which separation models, saliency runs and attention models exist anywhere
(outputs or run summaries); ``song_page`` builds one song's ``SongPage``: each stage's status
(``site_status.stage_status`` over the stage's outputs and its run-summary entry), the chunk table's
players and scores, the figures and the JSON links. File names come from ``core.dataset`` and
docs/CONTRACTS.md. Nothing here writes a file.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.dataset import (AUDIO_FEATURES_NAME, CORRELATION_DIR, CORRELATIONS_NAME, KEYPOINTS_NAME,
                          MOTION_FEATURES_NAME, POSE_PICKLE_NAME, find_mixture, find_stems)
from core.freshness import record_path, stale_reason
from core.metadata import MetadataError, SongInfo, name_problem

from .site_model import (Cell, ChunkPart, ChunkRow, Column, Figure, Link, Section, SongPage,
                         Source, as_dict, as_list, audio_duration, dig, finite, fmt_db, fmt_share,
                         read_dict, summarise_coverage)
from .site_status import DONE, FAILED, NOT_RUN, SKIPPED, Status, cli_command, stage_status

CHUNK_SECONDS = 4.0      # the separation stage's chunk grid: chunk c covers [4c, 4c + 4) s
# chunks per page (75 = 5 minutes): an hour-long song has 900 chunks, and all of them on one page
# opened ~14x slower in Chromium than 75 (benchmarks/site_page_load.py)
CHUNKS_PER_PAGE = 75
# the folder names gradient_saliency writes: <results>/<method>_<filter>_<model>[_randomised]/
SALIENCY_METHODS = ("integrated_gradients", "gradient_saliency", "gradient_input_saliency")
SALIENCY_AVERAGE = "_average.json"
# figures/<artist>_<song>_<kind>.png and _average_<kind>.png: keypoint models (skeleton, parts),
# text (syllables) and scene_graph (graph, per song only) models
SALIENCY_FIGURES = ("skeleton", "parts", "syllables", "graph")
OVERLAY_GLOB = "*_test.mp4"                   # visualization.main: <song>/<start>_<end>_test.mp4
FEATURE_FIGURE = "feature_timeseries.png"    # visualization.main
STRONG_SHARE_FIGURE = "strong_window_share.png"  # feature_extraction --correlate
AGGREGATED_STRONG = Path(CORRELATION_DIR) / "aggregated_strong_windows.json"
SEPARATE_RE = re.compile(r"^(separate|evaluate)\[(?P<model>[^/\]]+)/(?P<instrument>[^\]]+)\]$")
ATTENTION_RE = re.compile(r"^attention_analysis\[(?P<model>[^\]]+)\]$")
# what to run for a stage no run has touched yet (the demo's choices); keys are index columns
FIRST_RUNS = {
    "sep:none": ("separation.main", "separate", "--checkpoint",
                 "separation/checkpoints/vocal_face_small.pt"),
    "sal:none": ("gradient_saliency.integrated_gradients", "--model", "face_body"),
    "att:none": ("attention_analysis.attention_analysis", "--model", "vocal"),
}



# --- discovery ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Separation:
    """One separation model of one instrument, wherever it shows up."""
    instrument: str
    model: str

    @property
    def key(self) -> str:
        return f"sep:{self.instrument}:{self.model}"

    @property
    def title(self) -> str:
        return f"{self.instrument} · {self.model}"


def load_eval_records(results_dir: Path) -> dict[Separation, tuple[Path, dict]]:
    """``<results>/separation/eval_<instrument>_<model>.json`` by model (file name order)."""
    records = {}
    for path in sorted((results_dir / "separation").glob("eval_*.json")):
        record = read_dict(path)
        if isinstance(record.get("instrument"), str) and isinstance(record.get("model"), str):
            records[Separation(record["instrument"], record["model"])] = (path, record)
    return records


def discover_separations(songs: list[SongInfo], dataset_path: Path, eval_records: dict,
                         summaries: dict) -> list[Separation]:
    found = set(eval_records)
    for song in songs:
        for instrument in song.instruments:
            folder = song.folder(dataset_path) / instrument
            for path in folder.glob("separated_*.wav"):
                found.add(Separation(instrument, path.stem[len("separated_"):]))
            for path in folder.glob("separation_eval_*.json"):
                found.add(Separation(instrument, path.stem[len("separation_eval_"):]))
    for stage in summaries:
        match = SEPARATE_RE.match(stage)
        if match:
            found.add(Separation(match["instrument"], match["model"]))
    return sorted(found, key=lambda s: (s.instrument, s.model))


def discover_saliency(results_dir: Path, summaries: dict) -> list[str]:
    """Names of saliency result folders (``<method>_<filter>_<model>``) with results or a record."""
    names = {p.parent.name for p in results_dir.glob(f"*/{SALIENCY_AVERAGE}")
             if p.parent.name.startswith(SALIENCY_METHODS)}
    names |= {stage for stage in summaries if stage.startswith(SALIENCY_METHODS)}
    return sorted(names)


def discover_attention(results_dir: Path, summaries: dict) -> list[str]:
    models = {p.stem[len("attention_scores_"):] for p in results_dir.glob("attention_scores_*.json")
              if not p.stem.endswith("_info")}
    models |= {m["model"] for m in map(ATTENTION_RE.match, summaries) if m}
    return sorted(models)


# --- per song -----------------------------------------------------------------------------------

@dataclass
class Context:
    """What every song needs: paths, summaries and the dataset-level files loaded once."""
    dataset_path: Path
    results_dir: Path
    dataset_arg: str
    repo_root: Path
    summaries: dict
    separations: list[Separation]
    saliency: list[str]
    attention: list[str]
    attention_scores: dict = field(default_factory=dict)     # model -> scores JSON
    aggregated: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    eval_records: dict = field(default_factory=dict)          # Separation -> results eval JSON
    chunks_per_page: int = CHUNKS_PER_PAGE

    def record(self, stage: str, song: SongInfo) -> dict | None:
        entry = dig(self.summaries, stage, song.key)
        return entry if isinstance(entry, dict) else None

    def command(self, module: str, *args: str, song: SongInfo | None = None) -> str:
        return cli_command(module, *args, dataset_path=self.dataset_arg,
                           artist=song.artist if song else None, song=song.song if song else None)

    def checkpoint_for(self, sep: Separation, song_record: dict | None) -> tuple[str, str | None]:
        """The checkpoint (and baseline) a model's evaluation recorded, else the shipped name."""
        for record in (song_record, self.eval_records.get(sep)):
            if record and record.get("checkpoint"):
                baseline = record.get("baseline")
                return str(record["checkpoint"]), (str(baseline) if baseline else None)
        shipped = Path("separation") / "checkpoints" / f"{sep.instrument}_{sep.model}.pt"
        return (str(shipped) if (self.repo_root / shipped).exists() else "CHECKPOINT.pt"), None


def basic_columns(ctx: Context) -> list[Column]:
    columns = [Column("pose", "pose"), Column("post", "keypoints"), Column("features", "features"),
               Column("correlation", "correlation"), Column("overlay", "overlay video")]
    columns += [Column(sep.key, f"separation {sep.title}") for sep in ctx.separations] or \
        [Column("sep:none", "separation")]
    columns += [Column(f"sal:{name}", f"saliency {name}") for name in ctx.saliency] or \
        [Column("sal:none", "saliency")]
    columns += [Column(f"att:{m}", f"attention {m}") for m in ctx.attention] or \
        [Column("att:none", "attention")]
    return columns


def strong_share(path: Path) -> dict[str, float | None]:
    """Mean strong-window share over the own-stem pairs (a performer's motion vs their own audio)
    and over the control pairs (vs another instrument's audio), from ``correlations.json``."""
    pairs = dig(read_dict(path), "pairs")
    if not isinstance(pairs, list):
        return {}
    shares: dict[str, list[float]] = {"own": [], "control": []}
    for pair in pairs:
        value = finite(dig(pair, "strong_share"))
        if value is not None:
            shares["control" if dig(pair, "control") else "own"].append(value)
    return {k: (sum(v) / len(v) if v else None) for k, v in shares.items()}


def all_exist(paths: list[Path]) -> bool:
    return bool(paths) and all(p.exists() for p in paths)


def out_of_date(outputs: list[Path]) -> str | None:
    """Why existing outputs no longer match what they were made from: an input recorded beside one
    of them (``core.freshness``: ``.<output>.inputs.json``) that changed since; None when every
    record is current or there is none. Recorded paths are only stat-ed, never read."""
    for output in outputs:
        record = record_path([output])
        if not record.is_file():
            continue
        recorded = read_dict(record)
        inputs = [record.parent / key for key in as_dict(recorded.get("inputs"))
                  if isinstance(key, str)]
        made = [record.parent / key for key in as_list(recorded.get("outputs"))
                if isinstance(key, str)] or [output]
        if all(p.exists() for p in made):
            reason = stale_reason(made, inputs)
            if reason:
                return reason
    return None


def stage_cells(ctx: Context, song: SongInfo, song_dir: Path) -> dict[str, Cell]:
    """The pipeline stages before separation: pose, keypoints, features, correlation, overlay.
    Per-instrument outputs count as done only when every performer of the layout has them."""
    per_instrument = [song_dir / i for i in song.instruments]
    checks = {
        "pose": ("pose", [song_dir / POSE_PICKLE_NAME],
                 ctx.command("pose_estimation.main", "--pose", song=song)),
        "post": ("post", [d / KEYPOINTS_NAME for d in per_instrument],
                 ctx.command("pose_estimation.main", "--post", song=song)),
        # audio features for every performer; motion features where there are keypoints (a
        # moving-camera song has none, and its features run is done with audio alone)
        "features": ("feature extraction",
                     [d / AUDIO_FEATURES_NAME for d in per_instrument]
                     + [d / MOTION_FEATURES_NAME for d in per_instrument
                        if (d / KEYPOINTS_NAME).exists()],
                     ctx.command("feature_extraction.main", "--extract", "both", song=song)),
        "correlation": ("correlation", [song_dir / CORRELATION_DIR / CORRELATIONS_NAME],
                        ctx.command("feature_extraction.main", "--correlate", song=song)),
        "overlay": ("visualization", sorted(song_dir.glob(OVERLAY_GLOB)),
                    ctx.command("visualization.main", "--add_audio", song=song)),
    }
    cells = {}
    for key, (stage, outputs, command) in checks.items():
        have = all_exist(outputs)
        cells[key] = Cell(stage_status(have, ctx.record(stage, song), command,
                                       out_of_date(outputs) if have else None))
    return cells


def separation_cell(ctx: Context, song: SongInfo, song_dir: Path, sep: Separation
                    ) -> tuple[Cell, Source | None, dict | None]:
    """Index cell, chunk-table source and the per-song evaluation record of one model."""
    folder = song_dir / sep.instrument
    wav = folder / f"separated_{sep.model}.wav"
    eval_path = folder / f"separation_eval_{sep.model}.json"
    evaluation = read_dict(eval_path) or None
    checkpoint, baseline = ctx.checkpoint_for(sep, evaluation)
    separate = stage_status(wav.exists(),
                            ctx.record(f"separate[{sep.model}/{sep.instrument}]", song),
                            ctx.command("separation.main", "separate", "--checkpoint", checkpoint,
                                        song=song),
                            out_of_date([wav]) if wav.exists() else None)
    eval_args = ["evaluate", "--checkpoint", checkpoint] + (["--baseline", baseline] if baseline
                                                            else [])
    evaluate = stage_status(evaluation is not None,
                            ctx.record(f"evaluate[{sep.model}/{sep.instrument}]", song),
                            ctx.command("separation.main", *eval_args, song=song))
    if sep.instrument not in song.instruments:
        absent = Status(SKIPPED, f"no {sep.instrument} in the layout {list(song.layout or ())}")
        separate = absent if separate.state == NOT_RUN else separate
        evaluate = absent if evaluate.state == NOT_RUN else evaluate
    numbers = []
    if evaluation:
        numbers = [(label, fmt_db(dig(evaluation, "song_means", f"{method}_si_sdr")))
                   for label, method in (("SI-SDR", "model"), ("audio-only", "baseline"),
                                         ("mixture", "mixture"))]
    # the column's own status is the first sub-command's that is not done
    status = separate if separate.state != DONE else evaluate
    source = None
    if sep.instrument in song.instruments:
        source = Source(sep.key, f"{sep.model} ({sep.instrument})", "separation",
                        wav if wav.exists() else None, None if wav.exists() else separate,
                        sep.instrument)
    cell = Cell(status, numbers, [("separate", separate), ("evaluate", evaluate)])
    return cell, source, evaluation


def saliency_command(name: str) -> tuple[str, list[str]]:
    """``<method>_<all|top_x|bottom_x>_<model>[_randomised]`` (gradient_saliency's folder name) →
    the entry module's method and its arguments."""
    method = next((m for m in SALIENCY_METHODS if name.startswith(m + "_")), SALIENCY_METHODS[0])
    rest = name[len(method) + 1:]
    args = []
    if rest.endswith("_randomised"):
        rest, args = rest[:-len("_randomised")], ["--randomise-weights"]
    label, _, model = rest.partition("_")
    if label in ("top", "bottom"):
        fraction, _, model = model.partition("_")
        args = [f"--correlation-filter-{label}", "--correlation-filter-percentage", fraction] + args
    return method, ["--model", model or "face_body"] + args


def saliency_section(ctx: Context, song: SongInfo, name: str, n_chunks: int
                     ) -> tuple[Cell, Section]:
    folder = ctx.results_dir / name
    path = folder / f"{song.artist}_{song.song}.json"
    result = read_dict(path) or None
    method, args = saliency_command(name)
    status = stage_status(result is not None, ctx.record(name, song),
                          ctx.command(f"gradient_saliency.{method}", *args, song=song))
    section = Section(f"saliency · {name}", status)
    numbers: list[tuple[str, str]] = []
    if result:
        chunks = dig(result, "chunks")
        chunks = chunks if isinstance(chunks, list) else []
        numbers = [("audio share", fmt_share(result.get("audio_share"))),
                   ("chunks attributed", f"{len(chunks)} of {n_chunks}")]
        if "coverage" in result:
            numbers += summarise_coverage(result["coverage"])
        section.figures = [Figure(f"{name}: {kind}", p) for kind in SALIENCY_FIGURES
                           if (p := folder / "figures" / f"{path.stem}_{kind}.png").exists()]
        section.links = [Link(f"{name}/{path.name}", path)]
    section.numbers = numbers
    return Cell(status, numbers[:1]), section


def attention_section(ctx: Context, song: SongInfo, model: str, n_chunks: int
                      ) -> tuple[Cell, Section]:
    scores_path = ctx.results_dir / f"attention_scores_{model}.json"
    records = dig(ctx.attention_scores, model, song.artist, song.song)
    records = records if isinstance(records, list) else None
    figure = ctx.results_dir / f"attention_figures_{model}" / f"{song.artist}_{song.song}.png"
    status = stage_status(records is not None and figure.exists(),
                          ctx.record(f"attention_analysis[{model}]", song),
                          ctx.command("attention_analysis.attention_analysis", "--model", model,
                                      song=song))
    section = Section(f"attention · {model}", status)
    if records is not None:
        section.numbers = [("chunks", f"{len(records)} of {n_chunks}")]
        # per chunk, the share of video steps with keypoints (docs/CONTRACTS.md, attention)
        coverage = [finite(dig(r, "video_coverage")) for r in records]
        if any(c is not None for c in coverage):
            section.numbers += summarise_coverage([c for c in coverage if c is not None],
                                                  "video coverage per chunk")
        section.figures = [Figure(f"cross-modal attention ({model})", figure)] if figure.exists() \
            else []
        section.links = [Link(scores_path.name, scores_path)]
    return Cell(status, section.numbers[:1]), section


def overlay_range(path: Path) -> tuple[float, float] | None:
    """``<start>_<end>_test.mp4`` → (start, end) seconds."""
    match = re.fullmatch(r"(?P<a>[0-9.]+)_(?P<b>[0-9.]+)_test\.mp4", path.name)
    if not match:
        return None
    try:
        return float(match["a"]), float(match["b"])
    except ValueError:
        return None


def chunk_parts(page: Path, rows: list[ChunkRow], per_page: int = CHUNKS_PER_PAGE
                ) -> list[ChunkPart]:
    """The chunk list in pages of ``per_page``: the first on the song page, the others in
    ``<song page without .html>/chunks-<n>.html``."""
    starts = range(0, max(len(rows), 1), per_page)
    return [ChunkPart(n, page if n == 1 else page.with_suffix("") / f"chunks-{n}.html",
                      rows[start:start + per_page]) for n, start in enumerate(starts, start=1)]


def whole_chunks(duration_s: float | None) -> int:
    return int(duration_s // CHUNK_SECONDS + 1e-9) if duration_s else 0


def chunk_table(song: SongInfo, evaluations: dict, duration_s: float | None, aggregated: dict,
                videos: list[Link]) -> list[ChunkRow]:
    """One row per whole 4-s chunk of the audio: strong windows, per-model scores, overlay clip.
    ``evaluations``: source key → the song's evaluation JSON."""
    counts = as_dict(dig(aggregated, song.artist, song.song))
    by_chunk = {key: {r["index"]: r for r in as_list(dig(evaluation, "chunks"))
                      if isinstance(dig(r, "index"), int)}
                for key, evaluation in evaluations.items()}
    rows = []
    for index in range(whole_chunks(duration_s)):
        start, end = index * CHUNK_SECONDS, (index + 1) * CHUNK_SECONDS
        strong = {str(k): v for k, v in as_dict(counts.get(str(index))).items()
                  if k != "total" and isinstance(v, int)}
        metrics = {key: {name: finite(dig(rows_of[index], f"{method}_si_sdr"))
                         for name, method in (("si_sdr", "model"), ("baseline_si_sdr", "baseline"),
                                              ("mixture_si_sdr", "mixture"))}
                   for key, rows_of in by_chunk.items() if index in rows_of}
        overlay = None
        for video in videos:
            clip = overlay_range(video.path)
            if clip and clip[0] <= start and end <= clip[1] + 1e-6:
                overlay = Link(video.label, video.path, f"t={start - clip[0]:g},{end - clip[0]:g}")
                break
        rows.append(ChunkRow(index, start, end, strong, metrics, overlay))
    return rows


def page_path(song: SongInfo) -> Path:
    """``songs/<artist>/<song>.html`` (relative to the site). Metadata names are untrusted: a name
    that is not one plain folder name (``core.metadata.name_problem``: ``..``, a separator, ...)
    gets a page named by its hash instead, so that no page is written outside the site folder."""
    if not (name_problem(song.artist) or name_problem(song.song)) \
            and not song.artist.startswith(".") and not song.song.startswith("."):
        return Path("songs") / song.artist / f"{song.song}.html"
    digest = hashlib.sha1(song.key.encode("utf-8")).hexdigest()[:16]
    return Path("songs") / "_" / f"{digest}.html"


def stem_label(instrument: str, path: Path, n_stems: int) -> str:
    """``vocal`` for an instrument's only stem; ``mridangam left`` for ``mridangam_left.wav`` when
    it has several."""
    if n_stems == 1:
        return instrument
    rest = re.sub(r"^[^a-z0-9]*", "", path.stem.lower().removeprefix(instrument.lower()))
    return f"{instrument} {rest}" if rest and rest != path.stem.lower() else path.stem


def raw_json_links(song_dir: Path, extra: list[Link]) -> list[Link]:
    own = sorted(p for p in song_dir.rglob("*.json") if not p.name.startswith("."))
    return [Link(p.relative_to(song_dir).as_posix(), p) for p in own] + extra


def unusable_song_page(ctx: Context, song: SongInfo, problem: str) -> SongPage:
    """A song whose metadata entry every stage refuses (``SongInfo.problem``, an unsafe name or a
    folder outside the dataset): every stage failed with that reason; nothing on disk is read."""
    failed = Status(FAILED, problem)
    cells = {column.key: Cell(failed) for column in basic_columns(ctx)}
    return SongPage(info=song, page=page_path(song), duration_s=None, cells=cells, checks=None,
                    videos=[], overlay=failed, figures=[], strong_share={}, sources=[],
                    parts=chunk_parts(page_path(song), []), sections=[], raw_json=[])


def song_page(ctx: Context, song: SongInfo) -> SongPage:
    try:
        song_dir = None if song.problem else song.folder(ctx.dataset_path)
    except MetadataError as exc:
        return unusable_song_page(ctx, song, str(exc))
    if song_dir is None:
        return unusable_song_page(ctx, song, song.problem)
    cells = stage_cells(ctx, song, song_dir)
    mixture = find_mixture(song_dir) if song_dir.is_dir() else None
    mixtures = [Source("mixture", "mixture", "mixture", mixture)] if mixture else []
    stems = []
    for instrument in song.instruments:
        files = find_stems(song_dir, instrument) if song_dir.is_dir() else []
        stems += [Source(f"stem:{p.name}", stem_label(instrument, p, len(files)), "stem", p,
                         instrument=instrument) for p in files]
    audio = [s.path for s in mixtures + stems]
    duration = audio_duration(audio[0]) if audio else None
    duration = duration if duration is not None else song.duration
    n_chunks = whole_chunks(duration)
    evaluations, separations = {}, []
    for sep in ctx.separations:
        cell, source, evaluation = separation_cell(ctx, song, song_dir, sep)
        cells[sep.key] = cell
        if source is not None:
            separations.append(source)
        if evaluation:
            evaluations[sep.key] = evaluation
    # listening order: the mixture, what the models made of it, then the true stems (the stems of
    # separated instruments first, so that each target sits next to its estimates)
    targets = [sep.instrument for sep in ctx.separations]
    stems.sort(key=lambda s: targets.index(s.instrument) if s.instrument in targets
               else len(targets))
    sources = mixtures + separations + stems
    sections = []
    for key, section_of, names in (("sal", saliency_section, ctx.saliency),
                                   ("att", attention_section, ctx.attention)):
        for name in names:
            cells[f"{key}:{name}"], section = section_of(ctx, song, name, n_chunks)
            sections.append(section)
    for key, command in FIRST_RUNS.items():     # stages no run has touched yet
        if key not in cells and not any(k.startswith(key[:4]) for k in cells):
            cells[key] = Cell(Status(NOT_RUN, None, ctx.command(*command, song=song)))
    videos = [Link(p.name, p) for p in sorted(song_dir.glob(OVERLAY_GLOB))] if song_dir.is_dir() \
        else []
    figures = [Figure(title, p) for title, p in (
        ("feature time series, strong-correlation windows shaded", song_dir / FEATURE_FIGURE),
        ("share of strong windows per motion × audio pair",
         song_dir / CORRELATION_DIR / STRONG_SHARE_FIGURE)) if p.exists()]
    validation = dig(ctx.validation, song.key)
    checks = (str(dig(validation, "status")), [str(dig(i, "message")) for i in
                                               as_list(dig(validation, "issues"))]) \
        if isinstance(validation, dict) else None
    extra_json = [link for section in sections for link in section.links]
    page = page_path(song)
    return SongPage(
        info=song, page=page, duration_s=duration,
        cells=cells, checks=checks, videos=videos, overlay=cells["overlay"].status,
        figures=figures,
        strong_share=strong_share(song_dir / CORRELATION_DIR / CORRELATIONS_NAME),
        sources=sources,
        parts=chunk_parts(page, chunk_table(song, evaluations, duration, ctx.aggregated, videos),
                          ctx.chunks_per_page),
        sections=sections, raw_json=raw_json_links(song_dir, extra_json) if song_dir.is_dir()
        else extra_json)


