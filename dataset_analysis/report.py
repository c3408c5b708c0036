"""The dataset report: published statistics as Markdown + PNG plots + a JSON of every number.

``collect_metadata_stats`` and ``collect_keypoint_survey`` gather the numbers (definitions in
``dataset_analysis.stats``); ``render_markdown`` turns them into text and ``write_report`` writes
``report.md``, ``report.json`` and the PNGs (matplotlib, Agg backend) atomically into one folder.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.io import atomic_path, save_figure, save_json
from core.pose_files import default_threshold, load_instrument_pose
from core.dataset import KEYPOINTS_NAME, SongDataError
from core.log import progress
from core.metadata import KNOWN_INSTRUMENTS, SongInfo

from . import stats

logger = logging.getLogger("dataset_analysis.report")
NO_KEYPOINTS = "no keypoints yet (run `python -m pose_estimation.main --pose --post`)"


def collect_metadata_stats(songs: list[SongInfo]) -> dict:
    """Every metadata statistic of the report, as plain JSON-ready values."""
    per_artist = stats.duration_per_artist(songs)
    fps = stats.fps_survey(songs)
    return {
        "n_songs": len(songs),
        "n_artists": len(per_artist),
        "total_hours": stats.total_duration_hours(songs),
        "layouts": [{"layout": list(layout) if layout is not None else None,
                     "label": stats.layout_label(layout), "songs": n}
                    for layout, n in stats.layout_counts(songs)],
        "instruments": stats.instrument_counts(songs),
        "fps": [{"fps": value, "songs": n} for value, n in fps.items()],
        "null_fields": stats.null_field_counts(songs),
        "moving_camera": sum(1 for s in songs if s.moving_camera),
        "duration_per_artist": {a: {"songs": d.songs, "hours": d.hours,
                                    "songs_with_null_duration": d.null_duration}
                                for a, d in per_artist.items()},
        "songs_to_avoid": stats.songs_to_avoid(songs),
        "face_false_positives": stats.face_false_positive_totals(songs),
    }


def collect_keypoint_survey(songs: list[SongInfo], dataset_path: Path | None,
                            threshold: float | None = None, show_progress: bool = True
                            ) -> tuple[stats.KeypointSurvey, list[str]]:
    """Load every performer's keypoints that exist; unreadable ones are listed, not fatal.

    ``threshold`` overrides the per-backend default (``core.pose_files.default_threshold``).
    """
    survey = stats.KeypointSurvey()
    problems: list[str] = []
    if dataset_path is None:
        return survey, problems
    iterator = progress(songs, desc="keypoint statistics", unit="song") if show_progress else songs
    for song in iterator:
        if song.problem:       # a bad entry (e.g. an unsafe name): nothing on disk is looked at
            continue
        folder = song.folder(dataset_path)
        # Without a layout (e.g. an imported song not in the reference) look for any known instrument.
        instruments = song.instruments if song.layout is not None else KNOWN_INSTRUMENTS
        for instrument in dict.fromkeys(instruments):
            if not (folder / instrument / KEYPOINTS_NAME).exists():
                continue
            try:
                pose = load_instrument_pose(folder, instrument)
            except (SongDataError, OSError, ValueError) as exc:
                problems.append(f"{song.key}/{instrument}: {exc}")
                continue
            scale = pose.info.get("score_scale") or "unknown"
            limit = threshold if threshold is not None else default_threshold(pose.info)
            survey.add(song.key, instrument, pose.keypoints, pose.scores, scale, limit)
    return survey, problems


def keypoint_stats_json(survey: stats.KeypointSurvey, problems: list[str]) -> dict:
    return {"performers": survey.performers,
            "all_nan_share_per_instrument": survey.nan_share_per_instrument(),
            "confidence": survey.confidence_table(), "problems": problems}


# --- plots ------------------------------------------------------------------------------------------

def _save_figure(fig, path: Path) -> None:
    save_figure(path, fig, dpi=100, bbox_inches="tight")


def plot_report(meta: dict, survey: stats.KeypointSurvey, out_dir: Path) -> dict[str, str]:
    """Write the PNGs; returns ``{figure name: file name}``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = {}
    layouts = meta["layouts"]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(layouts) + 1.2))
    ax.barh(range(len(layouts)), [row["songs"] for row in layouts][::-1],
            tick_label=[row["label"] for row in layouts][::-1])
    ax.set_xlabel("songs")
    ax.set_title("Stage layouts (left to right)")
    _save_figure(fig, out_dir / "layouts.png")
    written["layouts"] = "layouts.png"

    fig, ax = plt.subplots(figsize=(5, 3))
    labels = [_fps_label(row["fps"]) for row in meta["fps"]]
    # Numeric positions: string labels that look like numbers make matplotlib warn.
    ax.bar(range(len(labels)), [row["songs"] for row in meta["fps"]], tick_label=labels)
    ax.set_xlabel("fps")
    ax.set_ylabel("songs")
    ax.set_title("Frame rates")
    _save_figure(fig, out_dir / "fps.png")
    written["fps"] = "fps.png"

    artists = meta["duration_per_artist"]
    fig, ax = plt.subplots(figsize=(8, 0.25 * len(artists) + 1.2))
    names = list(artists)[::-1]
    ax.barh(range(len(names)), [artists[a]["hours"] for a in names], tick_label=names)
    ax.set_xlabel("hours")
    ax.set_title(f"Duration per artist (total {meta['total_hours']:.1f} h)")
    _save_figure(fig, out_dir / "duration_per_artist.png")
    written["duration_per_artist"] = "duration_per_artist.png"

    if survey.performers:
        shares = survey.nan_share_per_instrument()
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.bar(range(len(shares)), [100 * v for v in shares.values()], tick_label=list(shares))
        ax.set_ylabel("% of frames with no keypoint")
        ax.set_title("All-NaN frames per performer")
        _save_figure(fig, out_dir / "all_nan_frames.png")
        written["all_nan_frames"] = "all_nan_frames.png"

        table = survey.confidence_table()
        fig, axes = plt.subplots(len(table), 1, figsize=(9, 3.2 * len(table)), squeeze=False)
        for ax, (scale, instruments) in zip(axes[:, 0], table.items()):
            parts = list(stats.REPORT_PARTS)
            width = 0.8 / max(len(instruments), 1)
            for k, (instrument, by_part) in enumerate(instruments.items()):
                means = [by_part[p]["mean"] if by_part[p]["mean"] is not None else np.nan
                         for p in parts]
                errs = [by_part[p]["std"] if by_part[p]["std"] is not None else np.nan for p in parts]
                ax.bar(np.arange(len(parts)) + k * width, means, width, yerr=errs, label=instrument,
                       capsize=2)
            ax.set_xticks(np.arange(len(parts)) + 0.4 - width / 2)
            ax.set_xticklabels(parts, rotation=20)
            ax.set_ylabel(f"score ({scale})")
            ax.legend(fontsize=8)
            ax.set_title(f"Keypoint confidence per body part, mean ± std ({scale} scores)")
        _save_figure(fig, out_dir / "confidence.png")
        written["confidence"] = "confidence.png"
    return written


# --- markdown ---------------------------------------------------------------------------------------

def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _fps_label(fps: float | None) -> str:
    return "null" if fps is None else f"{fps:g}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_markdown(meta: dict, keypoints: dict | None, figures: dict[str, str], source: str) -> str:
    """The report text; ``keypoints`` None means no dataset tree was given."""
    out = ["# Dataset report", "", f"Metadata: `{source}`", "",
           f"- songs: {meta['n_songs']}", f"- artists: {meta['n_artists']}",
           f"- total duration: {meta['total_hours']:.2f} h = {meta['total_hours'] * 3600:.1f} s "
           f"({meta['null_fields']['duration']} songs with null duration not counted)",
           f"- moving camera: {meta['moving_camera']} songs", ""]
    out += ["## Layouts", "", "| layout (left to right, ? = unidentified) | songs |", "|---|---:|"]
    out += [f"| {row['label']} | {row['songs']} |" for row in meta["layouts"]]
    out += ["", "| instrument | songs with it in the layout |", "|---|---:|"]
    out += [f"| {name} | {n} |" for name, n in meta["instruments"].items()]
    out += ["", f"![layouts]({figures['layouts']})", "", "## Frame rates", "", "| fps | songs |",
            "|---|---:|"]
    out += [f"| {_fps_label(row['fps'])} | {row['songs']} |" for row in meta["fps"]]
    out += ["", f"![fps]({figures['fps']})", "", "## Null fields", "", "| field | songs with null |",
            "|---|---:|"]
    out += [f"| {name} | {n} |" for name, n in meta["null_fields"].items()]
    out += ["", "## Duration per artist", "", "| artist | songs | hours | seconds | null durations |",
            "|---|---:|---:|---:|---:|"]
    out += [f"| {a} | {d['songs']} | {d['hours']:.2f} | {d['hours'] * 3600:.1f} | "
            f"{d['songs_with_null_duration']} |" for a, d in meta["duration_per_artist"].items()]
    out += [f"| **total** | {meta['n_songs']} | {meta['total_hours']:.2f} | "
            f"{meta['total_hours'] * 3600:.1f} | {meta['null_fields']['duration']} |", "",
            f"![duration]({figures['duration_per_artist']})",
            "", "## Songs to avoid", ""]
    avoid = meta["songs_to_avoid"]
    if avoid:
        out += [f"{len(avoid)} songs:", "", "| song | why |", "|---|---|"]
        out += [f"| {key} | {'; '.join(reasons)} |" for key, reasons in avoid.items()]
    else:
        out.append("none")
    fp = meta["face_false_positives"]
    out += ["", "## Face false-positive frames", "",
            f"{fp['false_positive_frames']} of {fp['total_frames']} frames "
            f"({_pct(fp['share'])}) lie in `face_false_positive_frames` ranges; "
            f"{fp['songs_with_false_positives']} songs have at least one range.", ""]
    if fp["songs_with_false_positives"]:
        out += ["| song | share of frames |", "|---|---:|"]
        out += [f"| {key} | {_pct(share)} |" for key, share in fp["per_song"].items() if share]
        out.append("")
    out += ["## Keypoints: frames where the performer was not found", ""]
    if keypoints is None:
        out += ["no dataset tree given (metadata only): no keypoint statistics", ""]
    elif not keypoints["performers"]:
        out += [NO_KEYPOINTS, ""]
    else:
        out += ["| song | performer | frames | all-NaN frames | share |", "|---|---|---:|---:|---:|"]
        out += [f"| {p['song']} | {p['instrument']} | {p['frames']} | {p['all_nan_frames']} | "
                f"{_pct(p['all_nan_share'])} |" for p in keypoints["performers"]]
        out += ["", "| performer | share of all-NaN frames |", "|---|---:|"]
        out += [f"| {i} | {_pct(v)} |" for i, v in keypoints["all_nan_share_per_instrument"].items()]
        out += ["", f"![all-NaN frames]({figures['all_nan_frames']})", ""]
    out += ["## Keypoint confidence per instrument and body part", ""]
    if keypoints is None:
        out += ["no dataset tree given (metadata only): no keypoint statistics", ""]
    elif not keypoints["performers"]:
        out += [NO_KEYPOINTS, ""]
    else:
        out += ["Over found points only (finite coordinates); `below` is the share under the "
                "threshold.", ""]
        for scale, instruments in keypoints["confidence"].items():
            out += [f"### {scale} scores", "",
                    "| instrument | part | points | mean | std | min | max | threshold | below |",
                    "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
            for instrument, parts in instruments.items():
                out += [f"| {instrument} | {part} | {s['n']} | {_num(s['mean'])} | {_num(s['std'])} | "
                        f"{_num(s['min'])} | {_num(s['max'])} | {s['threshold']:g} | "
                        f"{_pct(s['share_below'])} |" for part, s in parts.items()]
            out.append("")
        out += [f"![confidence]({figures['confidence']})", ""]
    if keypoints and keypoints["problems"]:
        out += ["## Unreadable keypoint files", ""] + [f"- {p}" for p in keypoints["problems"]] + [""]
    return "\n".join(out)


def write_report(songs: list[SongInfo], out_dir: Path, source: str, dataset_path: Path | None,
                 threshold: float | None = None, show_progress: bool = True) -> Path:
    """Compute everything and write ``report.md``, ``report.json`` and PNGs; returns the .md path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = collect_metadata_stats(songs)
    survey, problems = collect_keypoint_survey(songs, dataset_path, threshold, show_progress)
    keypoints = keypoint_stats_json(survey, problems) if dataset_path is not None else None
    figures = plot_report(meta, survey, out_dir)
    save_json(out_dir / "report.json", {"source": source, "metadata": meta, "keypoints": keypoints,
                                        "figures": figures})
    text = render_markdown(meta, keypoints, figures, source)
    report_path = out_dir / "report.md"
    with atomic_path(report_path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return report_path
