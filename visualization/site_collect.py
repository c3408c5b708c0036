"""What the results site shows, read from the dataset and results folders (the file edge).

``collect_site`` walks the outputs every stage writes (file names from ``core.dataset`` and
docs/CONTRACTS.md) and the run summaries (``core.runner.load_run_summaries``) and returns a
``SiteModel``: plain dataclasses holding absolute paths and numbers, which ``site_render`` turns
into pages. Nothing here writes a file; a missing or unreadable output becomes a ``not run`` (or
``unreadable``) status, never an exception.
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from core.dataset import (AUDIO_FEATURES_NAME, CORRELATION_DIR, CORRELATIONS_NAME, KEYPOINTS_NAME,
                          MOTION_FEATURES_NAME, POSE_PICKLE_NAME, find_mixture, find_stems)
from core.metadata import SongInfo
from core.runner import load_run_summaries, run_summary_path

from .site_status import DONE, NOT_RUN, SKIPPED, Status, cli_command, stage_status

log = logging.getLogger("visualization.site")

CHUNK_SECONDS = 4.0      # the separation stage's chunk grid: chunk c covers [4c, 4c + 4) s
# the folder names gradient_saliency writes: <results>/<method>_<filter>_<model>[_randomised]/
SALIENCY_METHODS = ("integrated_gradients", "gradient_saliency", "gradient_input_saliency")
SALIENCY_AVERAGE = "_average.json"
OVERLAY_GLOB = "*_test.mp4"                   # visualization.main: <song>/<start>_<end>_test.mp4
FEATURE_FIGURE = "feature_timeseries.png"    # visualization.main
STRONG_SHARE_FIGURE = "strong_window_share.png"  # feature_extraction --correlate
AGGREGATED_STRONG = Path(CORRELATION_DIR) / "aggregated_strong_windows.json"
DATASET_REPORT_DIR = "dataset_report"
VALIDATION_REPORT = "validation_report.json"
BENCHMARK_COMMAND = "make benchmark"
SEPARATE_RE = re.compile(r"^(separate|evaluate)\[(?P<model>[^/\]]+)/(?P<instrument>[^\]]+)\]$")
ATTENTION_RE = re.compile(r"^attention_analysis\[(?P<model>[^\]]+)\]$")
# what to run for a stage no run has touched yet (the demo's choices); keys are index columns
FIRST_RUNS = {
    "sep:none": ("separation.main", "separate", "--checkpoint",
                 "separation/checkpoints/vocal_face_small.pt"),
    "sal:none": ("gradient_saliency.integrated_gradients", "--model", "face_body"),
    "att:none": ("attention_analysis.attention_analysis", "--model", "vocal"),
}


# --- the model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    label: str
    path: Path
    fragment: str = ""           # e.g. "t=4,8" (media fragment)


@dataclass(frozen=True)
class Figure:
    title: str
    path: Path


@dataclass
class Cell:
    """One song × one index column: a status and headline numbers; ``parts`` when the column joins
    several runs (separation: the ``separate`` and ``evaluate`` sub-commands)."""
    status: Status
    numbers: list[tuple[str, str]] = field(default_factory=list)
    parts: list[tuple[str, Status]] = field(default_factory=list)


@dataclass(frozen=True)
class Column:
    key: str
    title: str


@dataclass(frozen=True)
class Source:
    """A player of the chunk table: one audio file (mixture, a stem, a model's separation)."""
    key: str
    label: str
    kind: str                    # mixture | stem | separation
    path: Path | None            # None: not produced; ``status`` says why and how
    status: Status | None = None
    instrument: str | None = None


@dataclass
class ChunkRow:
    index: int
    start_s: float
    end_s: float
    strong: dict[str, int]                         # performer -> strong own-stem windows
    metrics: dict[str, dict[str, float | None]]    # source key -> {"si_sdr", "baseline_si_sdr", ...}
    overlay: Link | None = None                    # the overlay clip covering this chunk, if any


@dataclass
class Section:
    """A saliency or attention result for one song."""
    title: str
    status: Status
    figures: list[Figure] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


@dataclass
class SongPage:
    info: SongInfo
    page: Path                                  # relative to the site root
    duration_s: float | None
    cells: dict[str, Cell]                      # column key -> cell
    checks: tuple[str, list[str]] | None        # validation status and messages
    videos: list[Link]
    overlay: Status
    figures: list[Figure]
    strong_share: dict[str, float | None]       # own / control
    sources: list[Source]
    chunks: list[ChunkRow]
    sections: list[Section]
    raw_json: list[Link]

    @property
    def audio_players(self) -> int:
        """``<audio>`` elements on the page: one per chunk and produced source."""
        return len(self.chunks) * sum(1 for s in self.sources if s.path is not None)


@dataclass
class SiteModel:
    dataset_path: Path
    results_dir: Path
    columns: list[Column]
    songs: list[SongPage]
    dataset: dict                               # dataset report / validation summary
    evaluations: list[dict]                     # results/separation/eval_*.json summaries
    benchmark: dict | None
    benchmark_path: Path
    averages: list[Section]                     # saliency averages, attention overview
    run_summaries: dict[str, dict]
    run_summary_files: dict[str, Path]         # stage -> its JSON
    commands: dict[str, str]                    # commands for the dataset-level "not run" notes


# --- small readers ------------------------------------------------------------------------------

def read_json(path: Path):
    """The JSON at ``path``, or None when absent or unreadable (logged: a page says "not run")."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable, shown as missing: %s", path, exc)
        return None


def audio_duration(path: Path) -> float | None:
    try:
        return float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError, soundfile.LibsndfileError):
        return None


def finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def fmt_db(value) -> str:
    value = finite(value)
    return "—" if value is None else f"{value:.2f} dB"


def fmt_share(value) -> str:
    value = finite(value)
    return "no data" if value is None else f"{100 * value:.1f}%"


def summarise_coverage(value, label: str = "coverage") -> list[tuple[str, str]]:
    """A ``coverage`` entry of a saliency/attention summary (share of frames present) as label/text
    pairs: a number → a percentage, a dict → one entry per key, a list → mean and minimum."""
    if isinstance(value, dict):
        return [pair for key, inner in value.items()
                for pair in summarise_coverage(inner, f"{label} {key}")]
    if isinstance(value, list):
        numbers = [finite(v) for v in value if finite(v) is not None]
        if not numbers:
            return [(label, "no data")]
        return [(label, f"mean {fmt_share(sum(numbers) / len(numbers))}, min "
                        f"{fmt_share(min(numbers))} over {len(value)}")]
    return [(label, fmt_share(value) if finite(value) is not None else str(value))]


def overlay_range(path: Path) -> tuple[float, float] | None:
    """``<start>_<end>_test.mp4`` → (start, end) seconds."""
    match = re.fullmatch(r"(?P<a>[0-9.]+)_(?P<b>[0-9.]+)_test\.mp4", path.name)
    if not match:
        return None
    try:
        return float(match["a"]), float(match["b"])
    except ValueError:
        return None


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
        record = read_json(path) or {}
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

    def record(self, stage: str, song: SongInfo) -> dict | None:
        return self.summaries.get(stage, {}).get(song.key)

    def command(self, module: str, *args: str, song: SongInfo | None = None) -> str:
        return cli_command(module, *args, dataset_path=self.dataset_arg,
                           artist=song.artist if song else None, song=song.song if song else None)

    def checkpoint_for(self, sep: Separation, song_record: dict | None) -> tuple[str, str | None]:
        """The checkpoint (and baseline) a model's evaluation recorded, else the shipped name."""
        for record in (song_record, self.eval_records.get(sep)):
            if record and record.get("checkpoint"):
                return str(record["checkpoint"]), record.get("baseline")
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
    doc = read_json(path)
    if not doc:
        return {}
    shares: dict[str, list[float]] = {"own": [], "control": []}
    for pair in doc.get("pairs", []):
        value = finite(pair.get("strong_share"))
        if value is not None:
            shares["control" if pair.get("control") else "own"].append(value)
    return {k: (sum(v) / len(v) if v else None) for k, v in shares.items()}


def all_exist(paths: list[Path]) -> bool:
    return bool(paths) and all(p.exists() for p in paths)


def stage_cells(ctx: Context, song: SongInfo, song_dir: Path) -> dict[str, Cell]:
    """The pipeline stages before separation: pose, keypoints, features, correlation, overlay.
    Per-instrument outputs count as done only when every performer of the layout has them."""
    per_instrument = [song_dir / i for i in song.instruments]
    checks = {
        "pose": ("pose", all_exist([song_dir / POSE_PICKLE_NAME]),
                 ctx.command("pose_estimation.main", "--pose", song=song)),
        "post": ("post", all_exist([d / KEYPOINTS_NAME for d in per_instrument]),
                 ctx.command("pose_estimation.main", "--post", song=song)),
        # audio features for every performer; motion features where there are keypoints (a
        # moving-camera song has none, and its features run is done with audio alone)
        "features": ("feature extraction",
                     all_exist([d / AUDIO_FEATURES_NAME for d in per_instrument]
                               + [d / MOTION_FEATURES_NAME for d in per_instrument
                                  if (d / KEYPOINTS_NAME).exists()]),
                     ctx.command("feature_extraction.main", "--extract", "both", song=song)),
        "correlation": ("correlation", all_exist([song_dir / CORRELATION_DIR / CORRELATIONS_NAME]),
                        ctx.command("feature_extraction.main", "--correlate", song=song)),
        "overlay": ("visualization", any(song_dir.glob(OVERLAY_GLOB)),
                    ctx.command("visualization.main", "--add_audio", song=song)),
    }
    return {key: Cell(stage_status(have, ctx.record(stage, song), command))
            for key, (stage, have, command) in checks.items()}


def separation_cell(ctx: Context, song: SongInfo, song_dir: Path, sep: Separation
                    ) -> tuple[Cell, Source | None, dict | None]:
    """Index cell, chunk-table source and the per-song evaluation record of one model."""
    folder = song_dir / sep.instrument
    wav = folder / f"separated_{sep.model}.wav"
    eval_path = folder / f"separation_eval_{sep.model}.json"
    evaluation = read_json(eval_path)
    checkpoint, baseline = ctx.checkpoint_for(sep, evaluation)
    separate = stage_status(wav.exists(), ctx.record(f"separate[{sep.model}/{sep.instrument}]", song),
                            ctx.command("separation.main", "separate", "--checkpoint", checkpoint,
                                        song=song))
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
        means = evaluation.get("song_means", {})
        numbers = [("SI-SDR", fmt_db(means.get("model_si_sdr"))),
                   ("audio-only", fmt_db(means.get("baseline_si_sdr"))),
                   ("mixture", fmt_db(means.get("mixture_si_sdr")))]
    # the column's own status is the first sub-command's that is not done
    status = separate if separate.state != DONE else evaluate
    source = None
    if sep.instrument in song.instruments:
        source = Source(sep.key, f"{sep.model} ({sep.instrument})", "separation",
                        wav if wav.exists() else None, None if wav.exists() else separate,
                        sep.instrument)
    return Cell(status, numbers, [("separate", separate), ("evaluate", evaluate)]), source, evaluation


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
    result = read_json(path)
    method, args = saliency_command(name)
    status = stage_status(result is not None, ctx.record(name, song),
                          ctx.command(f"gradient_saliency.{method}", *args, song=song))
    section = Section(f"saliency · {name}", status)
    numbers: list[tuple[str, str]] = []
    if result:
        chunks = result.get("chunks") or []
        numbers = [("audio share", fmt_share(result.get("audio_share"))),
                   ("chunks attributed", f"{len(chunks)} of {n_chunks}")]
        if "coverage" in result:
            numbers += summarise_coverage(result["coverage"])
        section.figures = [Figure(f"{name}: {kind}", p) for kind in ("skeleton", "parts")
                           if (p := folder / "figures" / f"{path.stem}_{kind}.png").exists()]
        section.links = [Link(f"{name}/{path.name}", path)]
    section.numbers = numbers
    return Cell(status, numbers[:1]), section


def attention_section(ctx: Context, song: SongInfo, model: str, n_chunks: int
                      ) -> tuple[Cell, Section]:
    scores_path = ctx.results_dir / f"attention_scores_{model}.json"
    records = ctx.attention_scores.get(model, {}).get(song.artist, {}).get(song.song)
    figure = ctx.results_dir / f"attention_figures_{model}" / f"{song.artist}_{song.song}.png"
    status = stage_status(records is not None and figure.exists(),
                          ctx.record(f"attention_analysis[{model}]", song),
                          ctx.command("attention_analysis.attention_analysis", "--model", model,
                                      song=song))
    section = Section(f"attention · {model}", status)
    if records is not None:
        section.numbers = [("chunks", f"{len(records)} of {n_chunks}")]
        coverage = [finite(r.get("coverage")) for r in records if isinstance(r, dict)]
        if any(c is not None for c in coverage):    # per-chunk share of frames present
            section.numbers += summarise_coverage([c for c in coverage if c is not None],
                                                  "coverage per chunk")
        section.figures = [Figure(f"cross-modal attention ({model})", figure)] if figure.exists() \
            else []
        section.links = [Link(scores_path.name, scores_path)]
    return Cell(status, section.numbers[:1]), section


def chunk_table(song: SongInfo, song_dir: Path, sources: list[Source], evaluations: dict,
                duration_s: float | None, aggregated: dict, videos: list[Link]) -> list[ChunkRow]:
    """One row per whole 4-s chunk of the audio: strong windows, per-source metrics, overlay clip."""
    if duration_s is None:
        return []
    counts = aggregated.get(song.artist, {}).get(song.song, {}) if isinstance(aggregated, dict) \
        else {}
    rows = []
    for index in range(int(duration_s // CHUNK_SECONDS + 1e-9)):
        start, end = index * CHUNK_SECONDS, (index + 1) * CHUNK_SECONDS
        strong = {k: v for k, v in (counts.get(str(index)) or {}).items() if k != "total"}
        metrics = {}
        for key, evaluation in evaluations.items():
            row = next((r for r in evaluation.get("chunks", []) if r.get("index") == index), None)
            if row:
                metrics[key] = {"si_sdr": finite(row.get("model_si_sdr")),
                                "baseline_si_sdr": finite(row.get("baseline_si_sdr")),
                                "mixture_si_sdr": finite(row.get("mixture_si_sdr"))}
        overlay = None
        for video in videos:
            clip = overlay_range(video.path)
            if clip and clip[0] <= start and end <= clip[1] + 1e-6:
                overlay = Link(video.label, video.path, f"t={start - clip[0]:g},{end - clip[0]:g}")
                break
        rows.append(ChunkRow(index, start, end, strong, metrics, overlay))
    return rows


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


def song_page(ctx: Context, song: SongInfo) -> SongPage:
    song_dir = song.folder(ctx.dataset_path)
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
    n_chunks = int(duration // CHUNK_SECONDS + 1e-9) if duration else 0
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
    stems.sort(key=lambda s: targets.index(s.instrument) if s.instrument in targets else len(targets))
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
    validation = ctx.validation.get(song.key)
    checks = (str(validation.get("status")), [str(i.get("message")) for i in
                                              validation.get("issues", [])]) if validation else None
    extra_json = [link for section in sections for link in section.links]
    return SongPage(
        info=song, page=Path("songs") / song.artist / f"{song.song}.html", duration_s=duration,
        cells=cells, checks=checks, videos=videos, overlay=cells["overlay"].status,
        figures=figures,
        strong_share=strong_share(song_dir / CORRELATION_DIR / CORRELATIONS_NAME),
        sources=sources,
        chunks=chunk_table(song, song_dir, sources, evaluations, duration, ctx.aggregated, videos),
        sections=sections, raw_json=raw_json_links(song_dir, extra_json) if song_dir.is_dir()
        else extra_json)


# --- dataset level ------------------------------------------------------------------------------

def dataset_summary(results_dir: Path) -> dict:
    """The dataset report's headline numbers and figures, and the validation counts."""
    report_dir = results_dir / DATASET_REPORT_DIR
    report = read_json(report_dir / "report.json")
    out: dict = {"report_md": report_dir / "report.md" if (report_dir / "report.md").exists()
                 else None, "report_json": report_dir / "report.json" if report else None,
                 "numbers": [], "layouts": [], "avoid": [], "figures": [], "validation": None}
    if report:
        meta = report.get("metadata", {})
        hours = finite(meta.get("total_hours")) or 0.0
        out["numbers"] = [("songs", str(meta.get("n_songs"))), ("artists", str(meta.get("n_artists"))),
                          ("total duration", f"{hours:.2f} h ({hours * 3600:.0f} s)"),
                          ("moving camera", str(meta.get("moving_camera")))]
        out["layouts"] = [(row.get("label"), row.get("songs")) for row in meta.get("layouts", [])]
        out["avoid"] = [(key, "; ".join(reasons)) for key, reasons in
                        (meta.get("songs_to_avoid") or {}).items()]
        out["figures"] = [Figure(name.replace("_", " "), report_dir / file)
                          for name, file in (report.get("figures") or {}).items()
                          if (report_dir / file).exists()]
    validation = read_json(results_dir / VALIDATION_REPORT)
    if validation:
        out["validation"] = {"counts": validation.get("status_counts", {}),
                             "path": results_dir / VALIDATION_REPORT}
    return out


def evaluation_summaries(eval_records: dict) -> list[dict]:
    """The dataset-level evaluation files: overall means per subset (all / held out)."""
    rows = []
    for path, record in eval_records.values():
        for subset, means in (record.get("overall") or {}).items():
            rows.append({"instrument": record.get("instrument"), "model": record.get("model"),
                         "subset": subset, "n_songs": means.get("n_songs"),
                         "checkpoint": record.get("checkpoint"), "baseline": record.get("baseline"),
                         "values": {k: fmt_db(means.get(k)) for k in (
                             "model_sdr", "baseline_sdr", "mixture_sdr", "model_si_sdr",
                             "baseline_si_sdr", "mixture_si_sdr")},
                         "path": path})
    return rows


def benchmark_table(path: Path) -> dict | None:
    """``separation_benchmark.json`` (issue 13's shape) as scene → rows; extra keys ignored."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("scenes"), dict):
        return None

    def with_ci(entry) -> str:
        if not isinstance(entry, dict):
            return fmt_db(entry)
        ci = entry.get("ci95") or [None, None]
        lo, hi = (finite(ci[0]), finite(ci[1])) if len(ci) == 2 else (None, None)
        text = fmt_db(entry.get("mean"))
        return text if lo is None or hi is None else f"{text} [{lo:.2f}, {hi:.2f}]"

    scenes = []
    for scene, body in doc["scenes"].items():
        models = (body or {}).get("models", {}) if isinstance(body, dict) else {}
        rows = [{"model": model, "sdr": with_ci(m.get("sdr")), "si_sdr": with_ci(m.get("si_sdr")),
                 "gain": with_ci(m.get("si_sdr_minus_audio_only")), "steps": m.get("steps"),
                 "same_timbre": m.get("same_timbre")}
                for model, m in models.items() if isinstance(m, dict)]
        scenes.append({"scene": scene, "rows": rows})
    return {"scenes": scenes, "git_commit": doc.get("git_commit"),
            "generator_version": doc.get("generator_version")}


def average_sections(ctx: Context) -> list[Section]:
    sections = []
    for name in ctx.saliency:
        folder = ctx.results_dir / name
        average = read_json(folder / SALIENCY_AVERAGE)
        if average is None:
            continue
        numbers = [("songs", str(average.get("n_songs"))), ("chunks", str(average.get("n_chunks"))),
                   ("audio share", fmt_share(average.get("audio_share")))]
        if "coverage" in average:
            numbers += summarise_coverage(average["coverage"])
        figures = [Figure(f"{name}: mean {kind}", p) for kind in ("skeleton", "parts")
                   if (p := folder / "figures" / f"_average_{kind}.png").exists()]
        sections.append(Section(f"saliency · {name} (mean over songs)", Status(DONE), figures,
                                numbers, [Link(SALIENCY_AVERAGE, folder / SALIENCY_AVERAGE)]))
    for model in ctx.attention:
        info = ctx.results_dir / f"attention_scores_{model}_info.json"
        record = read_json(info) or {}
        numbers = [(k, str(record[k])) for k in ("checkpoint", "T_audio", "T_video", "note")
                   if record.get(k) not in (None, "")]
        links = [Link(p.name, p) for p in (ctx.results_dir / f"attention_scores_{model}.json", info)
                 if p.exists()]
        sections.append(Section(f"attention · {model}", Status(DONE if links else NOT_RUN), [],
                                numbers, links))
    return sections


def collect_site(songs: list[SongInfo], dataset_path: Path, results_dir: Path, dataset_arg: str,
                 repo_root: Path, benchmark_path: Path) -> SiteModel:
    """Everything the site shows for ``songs`` (in metadata order)."""
    summaries = load_run_summaries(results_dir)
    eval_records = load_eval_records(results_dir)
    ctx = Context(dataset_path=dataset_path, results_dir=results_dir, dataset_arg=dataset_arg,
                  repo_root=repo_root, summaries=summaries,
                  separations=discover_separations(songs, dataset_path, eval_records, summaries),
                  saliency=discover_saliency(results_dir, summaries),
                  attention=discover_attention(results_dir, summaries))
    ctx.attention_scores = {m: read_json(results_dir / f"attention_scores_{m}.json") or {}
                            for m in ctx.attention}
    ctx.aggregated = read_json(results_dir / AGGREGATED_STRONG) or {}
    ctx.validation = (read_json(results_dir / VALIDATION_REPORT) or {}).get("songs", {})
    ctx.eval_records = {sep: record for sep, (_, record) in eval_records.items()}
    pages = [song_page(ctx, song) for song in songs]
    commands = {
        "report": ctx.command("dataset_analysis.main", "report"),
        "validate": ctx.command("dataset_analysis.main", "validate"),
        "evaluate": ctx.command("separation.main", "evaluate", "--checkpoint",
                                "separation/checkpoints/vocal_face_small.pt", "--baseline",
                                "separation/checkpoints/vocal_none_small.pt"),
        "benchmark": BENCHMARK_COMMAND,
        "saliency": ctx.command(*FIRST_RUNS["sal:none"]),
    }
    return SiteModel(dataset_path=dataset_path, results_dir=results_dir,
                     columns=basic_columns(ctx), songs=pages, dataset=dataset_summary(results_dir),
                     evaluations=evaluation_summaries(eval_records),
                     benchmark=benchmark_table(benchmark_path), benchmark_path=benchmark_path,
                     averages=average_sections(ctx), run_summaries=summaries,
                     run_summary_files={stage: run_summary_path(results_dir, stage)
                                        for stage in summaries},
                     commands=commands)
