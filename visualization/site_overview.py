"""Dataset-level content of the results site (dataset report, validation, separation benchmark and
evaluation, saliency and attention averages, run summaries) and ``collect_site``, which gathers
everything into a ``SiteModel``.
"""
from __future__ import annotations

from pathlib import Path

from core.metadata import SongInfo
from core.runner import load_run_summaries, run_summary_path

from .site_model import (Figure, Link, Section, SiteModel, as_dict, as_list, dig, finite, fmt_db,
                         fmt_share, read_dict, summarise_coverage)
from .site_songs import (AGGREGATED_STRONG, CHUNKS_PER_PAGE, FIRST_RUNS, SALIENCY_AVERAGE,
                         SALIENCY_FIGURES, Context, basic_columns, discover_attention,
                         discover_saliency, discover_separations, load_eval_records, song_page)
from .site_status import DONE, NOT_RUN, Status

DATASET_REPORT_DIR = "dataset_report"
VALIDATION_REPORT = "validation_report.json"
BENCHMARK_COMMAND = "make benchmark"


# --- dataset level ------------------------------------------------------------------------------

def dataset_summary(results_dir: Path) -> dict:
    """The dataset report's headline numbers and figures, and the validation counts."""
    report_dir = results_dir / DATASET_REPORT_DIR
    report = read_dict(report_dir / "report.json")
    out: dict = {"report_md": report_dir / "report.md" if (report_dir / "report.md").exists()
                 else None, "report_json": report_dir / "report.json" if report else None,
                 "numbers": [], "layouts": [], "avoid": [], "figures": [], "validation": None}
    if report:
        meta = as_dict(report.get("metadata"))
        hours = finite(meta.get("total_hours")) or 0.0
        out["numbers"] = [("songs", str(meta.get("n_songs"))),
                          ("artists", str(meta.get("n_artists"))),
                          ("total duration", f"{hours:.2f} h ({hours * 3600:.0f} s)"),
                          ("moving camera", str(meta.get("moving_camera")))]
        out["layouts"] = [(dig(row, "label"), dig(row, "songs"))
                          for row in as_list(meta.get("layouts"))]
        out["avoid"] = [(key, "; ".join(map(str, as_list(reasons)))) for key, reasons in
                        as_dict(meta.get("songs_to_avoid")).items()]
        # figure names are untrusted: only plain file names inside the report folder
        out["figures"] = [Figure(str(name).replace("_", " "), report_dir / file)
                          for name, file in as_dict(report.get("figures")).items()
                          if isinstance(file, str) and Path(file).name == file
                          and (report_dir / file).is_file()]
    validation = read_dict(results_dir / VALIDATION_REPORT)
    if validation:
        out["validation"] = {"counts": as_dict(validation.get("status_counts")),
                             "path": results_dir / VALIDATION_REPORT}
    return out


def evaluation_summaries(eval_records: dict) -> list[dict]:
    """The dataset-level evaluation files: overall means per subset (all / held out)."""
    rows = []
    for path, record in eval_records.values():
        for subset, means in as_dict(record.get("overall")).items():
            means = as_dict(means)
            rows.append({"instrument": record.get("instrument"), "model": record.get("model"),
                         "subset": subset, "n_songs": means.get("n_songs"),
                         "values": {k: fmt_db(means.get(k)) for k in (
                             "model_sdr", "baseline_sdr", "mixture_sdr", "model_si_sdr",
                             "baseline_si_sdr", "mixture_si_sdr")},
                         "path": path})
    return rows


def with_ci(entry) -> str:
    """``{"mean", "ci95": [lo, hi]}`` → ``"5.10 dB [4.20, 6.00]"`` (a bare number: no interval)."""
    if not isinstance(entry, dict):
        return fmt_db(entry)
    lo, hi = finite(dig(entry, "ci95", 0)), finite(dig(entry, "ci95", 1))
    text = fmt_db(entry.get("mean"))
    return text if lo is None or hi is None else f"{text} [{lo:.2f}, {hi:.2f}]"


def benchmark_table(path: Path) -> dict | None:
    """``separation_benchmark.json`` (issue 13's shape) as scene → rows; extra keys ignored."""
    doc = read_dict(path)
    if not isinstance(doc.get("scenes"), dict):
        return None
    scenes = []
    for scene, body in doc["scenes"].items():
        rows = [{"model": model, "sdr": with_ci(m.get("sdr")), "si_sdr": with_ci(m.get("si_sdr")),
                 "gain": with_ci(m.get("si_sdr_minus_audio_only")), "steps": m.get("steps"),
                 "same_timbre": m.get("same_timbre")}
                for model, m in as_dict(dig(body, "models")).items() if isinstance(m, dict)]
        scenes.append({"scene": scene, "rows": rows})
    return {"scenes": scenes, "git_commit": doc.get("git_commit"),
            "generator_version": doc.get("generator_version")}


def average_sections(ctx: Context) -> list[Section]:
    """Saliency means over songs (``_average.json`` and figures) and the attention runs' info."""
    sections = []
    for name in ctx.saliency:
        folder = ctx.results_dir / name
        average = read_dict(folder / SALIENCY_AVERAGE)
        if not average:
            continue
        numbers = [("songs", str(average.get("n_songs"))), ("chunks", str(average.get("n_chunks"))),
                   ("audio share", fmt_share(average.get("audio_share")))]
        if "coverage" in average:
            numbers += summarise_coverage(average["coverage"])
        figures = [Figure(f"{name}: mean {kind}", p) for kind in SALIENCY_FIGURES
                   if (p := folder / "figures" / f"_average_{kind}.png").exists()]
        sections.append(Section(f"saliency · {name} (mean over songs)", Status(DONE), figures,
                                numbers, [Link(SALIENCY_AVERAGE, folder / SALIENCY_AVERAGE)]))
    for model in ctx.attention:
        info = ctx.results_dir / f"attention_scores_{model}_info.json"
        record = read_dict(info)
        numbers = [(k, str(record[k])) for k in ("checkpoint", "T_audio", "T_video", "note")
                   if record.get(k) not in (None, "")]
        links = [Link(p.name, p) for p in (ctx.results_dir / f"attention_scores_{model}.json", info)
                 if p.exists()]
        sections.append(Section(f"attention · {model}", Status(DONE if links else NOT_RUN), [],
                                numbers, links))
    return sections


def collect_site(songs: list[SongInfo], dataset_path: Path, results_dir: Path, dataset_arg: str,
                 repo_root: Path, benchmark_path: Path,
                 chunks_per_page: int = CHUNKS_PER_PAGE) -> SiteModel:
    """Everything the site shows for ``songs`` (in metadata order)."""
    summaries = load_run_summaries(results_dir)
    eval_records = load_eval_records(results_dir)
    ctx = Context(dataset_path=dataset_path, results_dir=results_dir, dataset_arg=dataset_arg,
                  repo_root=repo_root, summaries=summaries,
                  separations=discover_separations(songs, dataset_path, eval_records, summaries),
                  saliency=discover_saliency(results_dir, summaries),
                  attention=discover_attention(results_dir, summaries),
                  chunks_per_page=chunks_per_page)
    ctx.attention_scores = {m: read_dict(results_dir / f"attention_scores_{m}.json")
                            for m in ctx.attention}
    ctx.aggregated = read_dict(results_dir / AGGREGATED_STRONG)
    ctx.validation = as_dict(read_dict(results_dir / VALIDATION_REPORT).get("songs"))
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
