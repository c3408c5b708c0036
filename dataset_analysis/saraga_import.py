"""Turn a Saraga Audiovisual download (mirdata layout) into this pipeline's dataset layout.

Source (``SRC``, as unpacked from the Zenodo archives; DESIGN §2)::

    saraga audio/<Artist>/<Song>/<Song>.multitrack-{vocal,violin,mridangam-left,mridangam-right}.wav
    saraga audio/<Artist>/<Song>/<Song>.wav                      (the mixture)
    saraga visual/<Artist>/<Song>/<Song>.mov
    saraga gesture/<Artist>/<Song>/<singer|violin|mridangam>/<inst>_<start>_<end>_{kpts,scores}.npy

Destination (``DST``)::

    dataset_metadata.json
    <Artist>/<Song>/<Song>.mov                      link to the video
    <Artist>/<Song>/<name>_multitrack.wav           link to <Song>.multitrack-<name>.wav, so that
                                                    core.dataset.find_stems matches "vocal", "violin"
                                                    and "mri" (mridangam-left/right)
    <Artist>/<Song>/mixture.wav                     link to <Song>.wav (core.dataset.find_mixture)
    <Artist>/<Song>/<instrument>/keypoints.npy      (F, 133, 2) float32 pixels, NaN outside segments
    <Artist>/<Song>/<instrument>/keypoint_scores.npy (F, 133) float32, 0 outside segments
    <Artist>/<Song>/<instrument>/pose_info.json     backend "saraga-gesture", score_scale "simcc"
    <Artist>/<Song>/vocal/face_keypoints.npy        (F, 68, 2): points 23-90 of the singer
    <Artist>/<Song>/.saraga_import.json             what was imported (marks the song as done)

Media are never copied unless asked: a symbolic link (absolute target) is tried first, then a hard
link, then a copy (``--copy`` forces copies).

Metadata: ``fps`` and ``duration`` are probed from the video (``duration = n_frames / fps``, the
published convention, nudged by a few ulps where float rounding would make ``int(fps × duration)``
one frame short; the container duration when the frame count is unknown); without a usable video
``fps`` is null and ``duration`` comes from the longest stem.
``layout``, ``moving_camera``, ``correct_body_detection`` and ``face_false_positive_frames`` come from
the shipped reference metadata when the artist/song is known there (matched after Unicode NFC
normalisation and case folding), otherwise ``layout`` is null (every stage skips the song until a user
fills it in) and ``import_notes`` says so. Entries of songs already in ``DST/dataset_metadata.json`` are
kept on re-runs (so hand-filled layouts survive) unless ``-f``.

Gesture segments: ``<inst>_<start>_<end>_kpts.npy`` holds ``(L, 133, 2)`` COCO-WholeBody pixel
coordinates (also accepted: ``(L, 1, 133, 2)`` with a person axis, ``(L, 133, 3)`` with the score
as third column) and ``..._scores.npy`` ``(L, 133)`` (or ``(L, 1, 133)``). ``start``/``end`` are read as
frames when ``L ∈ {end − start, end − start + 1}`` and as seconds when
``|L − (end − start) × fps| ≤ fps + 1`` (whole-second names truncate the end; mirdata's sample names
``singer_0_2599`` for a 2599.03 s song); ``--gesture-units`` overrides the guess. A segment starting at
frame ``s`` fills rows ``s .. s + L − 1`` of the full ``(F, 133, 2)`` array (``F`` = video frames),
clipped to ``F``; later segments overwrite earlier ones where they overlap (noted). ``singer`` → vocal.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.dataset import SongDataError
from core.io import atomic_path, load_json, load_npy, save_json
from core.keypoints import FACE, NUM_KEYPOINTS, empty_keypoints
from core.metadata import MetadataError, SongInfo, duration_for_frames, load_metadata
from core.pose_files import InstrumentPose, save_face_keypoints, save_instrument_pose
from core.runner import UP_TO_DATE, RunSummary, run_per_song
from core.settings import DEFAULT_METADATA_NAME, REFERENCE_METADATA
from core.video import probe_video

logger = logging.getLogger("dataset_analysis.import_saraga")

SOURCE_FOLDERS = {"audio": ("saraga audio", "saraga_audio"),
                  "visual": ("saraga visual", "saraga_visual"),
                  "gesture": ("saraga gesture", "saraga_gesture")}
GESTURE_PERFORMERS = {"singer": "vocal", "vocal": "vocal", "violin": "violin",
                      "mridangam": "mridangam"}
GESTURE_BACKEND = "saraga-gesture"
GESTURE_SCORE_SCALE = "simcc"      # Saraga poses come from MMPose RTMW-family models (DESIGN §3)
IMPORT_RECORD_NAME = ".saraga_import.json"
LINK_MODES = ("auto", "copy")
SEGMENT_NAME = re.compile(r"^(?P<name>.+?)_(?P<start>\d+(?:\.\d+)?)_(?P<end>\d+(?:\.\d+)?)_"
                          r"(?P<kind>kpts|scores)\.npy$", re.IGNORECASE)
MULTITRACK_NAME = re.compile(r"\.multitrack-(?P<name>[^.]+)\.wav$", re.IGNORECASE)


# --- pure helpers -----------------------------------------------------------------------------------

def match_key(artist: str, song: str) -> tuple[str, str]:
    """Key for matching names across sources: NFC-normalised, case-folded, trimmed."""
    def norm(text: str) -> str:
        return unicodedata.normalize("NFC", text).strip().casefold()
    return norm(artist), norm(song)


def stem_link_name(file_name: str, song: str) -> str | None:
    """Destination name of a Saraga audio file.

    ``<Song>.multitrack-vocal.wav`` → ``vocal_multitrack.wav``, the mixture ``<Song>.wav`` →
    ``mixture.wav``; None for anything else.
    """
    match = MULTITRACK_NAME.search(file_name)
    if match:
        return f"{match.group('name').lower()}_multitrack.wav"
    if unicodedata.normalize("NFC", file_name).casefold() == \
            unicodedata.normalize("NFC", f"{song}.wav").casefold():
        return "mixture.wav"
    return None


@dataclass(frozen=True)
class SegmentName:
    performer_file_name: str
    start: float
    end: float
    kind: str      # "kpts" | "scores"


def parse_segment_name(file_name: str) -> SegmentName | None:
    match = SEGMENT_NAME.match(file_name)
    if not match:
        return None
    return SegmentName(match.group("name"), float(match.group("start")), float(match.group("end")),
                       match.group("kind").lower())


def segment_start_frame(start: float, end: float, length: int, fps: float,
                        units: str = "auto") -> tuple[int, str]:
    """First frame of a segment of ``length`` frames named ``<start>_<end>``, and the units used.

    ``units`` is ``frames``, ``seconds`` or ``auto`` (rule in the module docstring); raises
    ``ValueError`` when neither reading fits.
    """
    as_frames = length in (round(end - start), round(end - start) + 1)
    as_seconds = abs(length - (end - start) * fps) <= fps + 1
    if units == "frames" or (units == "auto" and as_frames):
        return int(round(start)), "frames"
    if units == "seconds" or (units == "auto" and as_seconds):
        return int(round(start * fps)), "seconds"
    raise ValueError(f"segment {start:g}-{end:g} has {length} frames: fits neither frames "
                     f"({end - start:g}) nor seconds at {fps:g} fps ({(end - start) * fps:g}); "
                     f"use --gesture-units")


def normalize_segment(kpts: np.ndarray, scores: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Bring one segment to ``(L, 133, 2)`` float32 coordinates and ``(L, 133)`` float32 scores."""
    kpts = np.asarray(kpts)
    if kpts.ndim == 4 and kpts.shape[1] == 1:
        kpts = kpts[:, 0]
    if kpts.ndim != 3 or kpts.shape[1] != NUM_KEYPOINTS or kpts.shape[2] not in (2, 3):
        raise ValueError(f"keypoints of shape {kpts.shape}, expected (L, {NUM_KEYPOINTS}, 2)")
    if scores is None:
        if kpts.shape[2] != 3:
            raise ValueError("no scores file and no score column in the keypoints")
        scores = kpts[..., 2]
    scores = np.asarray(scores)
    if scores.ndim == 3 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != kpts.shape[:2]:
        raise ValueError(f"scores of shape {scores.shape} do not match keypoints {kpts.shape}")
    return kpts[..., :2].astype(np.float32), scores.astype(np.float32)


def assemble_segments(segments: list[tuple[int, np.ndarray, np.ndarray]], n_frames: int
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Place ``(start_frame, (L, 133, 2), (L, 133))`` segments into full-length arrays.

    Returns ``(F, 133, 2)`` float32 (NaN outside the segments), ``(F, 133)`` float32 (0 outside, the
    ``core.keypoints.empty_keypoints`` convention) and notes about clipping and overlaps.
    """
    keypoints, scores = empty_keypoints(n_frames)
    filled = np.zeros(n_frames, dtype=bool)
    notes = []
    for start, kpts, sc in sorted(segments, key=lambda s: s[0]):
        stop = min(start + len(kpts), n_frames)
        if start < 0 or stop <= start:
            notes.append(f"segment at frame {start} ({len(kpts)} frames) lies outside the "
                         f"{n_frames}-frame video: dropped")
            continue
        if stop < start + len(kpts):
            notes.append(f"segment at frame {start} clipped by {start + len(kpts) - stop} frames "
                         f"to the video length {n_frames}")
        if filled[start:stop].any():
            notes.append(f"segment at frame {start} overlaps an earlier one by "
                         f"{int(filled[start:stop].sum())} frames (later one kept)")
        keypoints[start:stop] = kpts[:stop - start]
        scores[start:stop] = sc[:stop - start]
        filled[start:stop] = True
    return keypoints, scores, notes


# --- files ------------------------------------------------------------------------------------------

@dataclass
class SaragaTrack:
    artist: str
    song: str
    audio_dir: Path | None = None
    visual_dir: Path | None = None
    gesture_dir: Path | None = None

    @property
    def key(self) -> str:
        return f"{self.artist}/{self.song}"


def source_roots(src: Path) -> dict[str, Path]:
    roots = {}
    for kind, names in SOURCE_FOLDERS.items():
        for name in names:
            if (src / name).is_dir():
                roots[kind] = src / name
                break
    return roots


def discover_tracks(src: str | Path) -> list[SaragaTrack]:
    """All ``<Artist>/<Song>`` folders under the audio, visual and gesture roots, merged by name."""
    src = Path(src)
    roots = source_roots(src)
    if not roots:
        raise SongDataError(f"{src} has none of the Saraga folders "
                            f"({', '.join(n[0] for n in SOURCE_FOLDERS.values())})")
    tracks: dict[tuple[str, str], SaragaTrack] = {}
    for kind, root in roots.items():
        for artist_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for song_dir in sorted(p for p in artist_dir.iterdir() if p.is_dir()):
                key = match_key(artist_dir.name, song_dir.name)
                track = tracks.setdefault(key, SaragaTrack(artist_dir.name, song_dir.name))
                setattr(track, f"{kind}_dir", song_dir)
    return sorted(tracks.values(), key=lambda t: (t.artist, t.song))


def link_file(source: Path, dest: Path, mode: str = "auto") -> str:
    """Make ``dest`` refer to ``source``; returns ``symlink``, ``hardlink`` or ``copy``.

    ``auto`` tries a symbolic link, then a hard link, then a copy; ``copy`` always copies. The new
    entry replaces ``dest`` atomically.
    """
    source = Path(source).resolve()
    with atomic_path(dest) as tmp:
        if mode != "copy":
            for method, make in (("symlink", os.symlink), ("hardlink", os.link)):
                tmp.unlink()
                try:
                    make(source, tmp)
                    return method
                except OSError:
                    tmp.touch()   # atomic_path expects something at tmp to clean up
        shutil.copy2(source, tmp)
    return "copy"


def load_reference(path: Path = REFERENCE_METADATA) -> dict[tuple[str, str], SongInfo]:
    """Reference metadata by ``match_key``; empty (with a warning) if the file cannot be read."""
    try:
        return {match_key(s.artist, s.song): s for s in load_metadata(path)}
    except MetadataError as exc:
        logger.warning("reference metadata unusable, layouts will be null: %s", exc)
        return {}


def probe_duration_of_wav(path: Path) -> float:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001 -- libsndfile raises several types for corrupt files
        raise SongDataError(f"audio {path.name} cannot be read: {exc}") from exc
    if info.frames == 0:
        raise SongDataError(f"audio {path.name} has zero samples")
    return info.frames / info.samplerate


@dataclass
class SongImport:
    """Outcome of importing one song: its metadata entry, what was done, and what went wrong."""
    entry: dict
    record: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _metadata_entry(track: SaragaTrack, reference: SongInfo | None, fps: float | None,
                    duration: float | None, notes: list[str]) -> dict:
    if reference is None:
        notes.append("song not in the shipped reference metadata: layout is null (fill it in, left to "
                     "right, to let the pipeline process the song)")
    elif reference.fps is not None and fps is not None and abs(reference.fps - fps) > 0.05:
        notes.append(f"reference metadata says {reference.fps:g} fps, the video has {fps:.3f}")
    return {"layout": list(reference.layout) if reference and reference.layout is not None else None,
            "moving_camera": bool(reference.moving_camera) if reference else False,
            "fps": fps, "duration": duration,
            "correct_body_detection": reference.correct_body_detection if reference else None,
            "face_false_positive_frames": [list(r) for r in reference.face_false_positive_frames]
            if reference else [],
            "import_notes": notes}


def _import_gestures(track: SaragaTrack, song_dir: Path, fps: float, n_frames: int,
                     frame_size: tuple[int, int] | None, layout: list | None, units: str,
                     notes: list[str], problems: list[str]) -> dict:
    """Convert every performer folder of the gesture tree; returns ``{instrument: summary}``."""
    done = {}
    for performer_dir in sorted(p for p in track.gesture_dir.iterdir() if p.is_dir()):
        instrument = GESTURE_PERFORMERS.get(performer_dir.name.lower())
        if instrument is None:
            notes.append(f"gesture folder {performer_dir.name!r} is not singer/violin/mridangam: "
                         f"ignored")
            continue
        parsed = {}
        for path in sorted(performer_dir.glob("*.npy")):
            name = parse_segment_name(path.name)
            if name is None:
                notes.append(f"gesture file {performer_dir.name}/{path.name} not named "
                             f"<inst>_<start>_<end>_kpts|scores.npy: ignored")
                continue
            parsed.setdefault((name.start, name.end), {})[name.kind] = path
        segments, sources = [], []
        try:
            for (start, end), files in sorted(parsed.items()):
                if "kpts" not in files:
                    notes.append(f"{performer_dir.name}: scores without keypoints for segment "
                                 f"{start:g}-{end:g}: ignored")
                    continue
                try:
                    kpts = load_npy(files["kpts"])
                    scores = load_npy(files["scores"]) if "scores" in files else None
                    kpts, scores = normalize_segment(kpts, scores)
                    first, unit = segment_start_frame(start, end, len(kpts), fps, units)
                except (ValueError, OSError, EOFError) as exc:
                    raise SongDataError(f"gesture {performer_dir.name}/{files['kpts'].name}: {exc}") \
                        from exc
                segments.append((first, kpts, scores))
                sources.append({"file": f"{performer_dir.name}/{files['kpts'].name}",
                                "start_frame": first, "frames": len(kpts), "units": unit})
        except SongDataError as exc:
            problems.append(str(exc))
            continue
        if not segments:
            continue
        keypoints, scores, seg_notes = assemble_segments(segments, n_frames)
        notes.extend(f"{instrument} gesture: {n}" for n in seg_notes)
        position = layout.index(instrument) if layout and instrument in layout else None
        info = {"backend": GESTURE_BACKEND, "model": "Saraga Audiovisual gesture keypoints",
                "score_scale": GESTURE_SCORE_SCALE, "fps": fps,
                "frame_size": list(frame_size) if frame_size else None, "position": position,
                "n_performers": len(layout) if layout else None, "layout": layout,
                "source_segments": sources}
        save_instrument_pose(song_dir / instrument, InstrumentPose(keypoints, scores, info))
        if instrument == "vocal":
            save_face_keypoints(song_dir, keypoints[:, FACE[0]:FACE[-1] + 1])
        done[instrument] = {"frames": n_frames, "segments": len(segments),
                            "found_frames": int((~np.isnan(keypoints).all(axis=(1, 2))).sum())}
    return done


def import_song(track: SaragaTrack, dst: Path, reference: dict[tuple[str, str], SongInfo],
                mode: str = "auto", gesture_units: str = "auto") -> SongImport:
    """Link media, probe fps/duration, convert gestures. File problems are collected, not raised."""
    song_dir = dst / track.artist / track.song
    song_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    problems: list[str] = []
    links: dict[str, str] = {}
    fps = duration = None
    n_frames = 0
    frame_size = None
    # Video: link every .mov; the first (sorted) is the one the pipeline uses.
    videos = sorted(p for p in track.visual_dir.iterdir() if p.is_file()) if track.visual_dir else []
    movs = [p for p in videos if p.suffix.lower() == ".mov"]
    for other in (p for p in videos if p.suffix.lower() != ".mov"):
        notes.append(f"visual file {other.name} is not a .mov: not linked")
    if not movs:
        notes.append("no .mov video in the Saraga visual folder: fps is null")
    for mov in movs:
        try:
            info = probe_video(mov)
        except SongDataError as exc:
            problems.append(f"video {mov.name} is unreadable: {exc}")
            continue
        links[mov.name] = link_file(mov, song_dir / mov.name, mode)
        if fps is None:
            fps = info.fps
            n_frames = info.n_frames or int(round(info.duration * info.fps))
            duration = duration_for_frames(n_frames, fps) if info.n_frames else info.duration
            frame_size = (info.width, info.height)
    # Audio: stems and mixture under the names core.dataset matches.
    stem_durations = []
    wavs = sorted(p for p in track.audio_dir.iterdir() if p.is_file()) if track.audio_dir else []
    for wav in wavs:
        if wav.suffix.lower() != ".wav":
            continue
        name = stem_link_name(wav.name, track.song)
        if name is None:
            notes.append(f"audio file {wav.name} is neither a multitrack stem nor the mixture: "
                         f"not linked")
            continue
        try:
            stem_durations.append(probe_duration_of_wav(wav))
        except SongDataError as exc:
            problems.append(str(exc))
            continue
        links[name] = link_file(wav, song_dir / name, mode)
    if track.audio_dir is None:
        notes.append("no Saraga audio folder for this song: no stems")
    if fps is None and stem_durations:
        duration = max(stem_durations)
        notes.append("duration taken from the longest audio file (no usable video)")
    ref = reference.get(match_key(track.artist, track.song))
    entry = _metadata_entry(track, ref, fps, duration, notes)
    gestures = {}
    if track.gesture_dir is not None:
        if fps is None:
            notes.append("gesture keypoints not converted: no usable video to take fps and length from")
        else:
            gestures = _import_gestures(track, song_dir, fps, n_frames, frame_size, entry["layout"],
                                        gesture_units, notes, problems)
    record = {"artist": track.artist, "song": track.song, "links": links, "gestures": gestures,
              "sources": {k: str(getattr(track, f"{k}_dir")) for k in SOURCE_FOLDERS
                          if getattr(track, f"{k}_dir") is not None},
              "entry": entry, "problems": problems}
    if not problems:
        save_json(song_dir / IMPORT_RECORD_NAME, record)
    return SongImport(entry, record, problems)


def import_saraga(src: str | Path, dst: str | Path, mode: str = "auto", force: bool = False,
                  artist: str | None = None, song: str | None = None, gesture_units: str = "auto",
                  reference_path: Path = REFERENCE_METADATA, progress_bar: bool = True) -> RunSummary:
    """Import every track (or those matching ``artist``/``song``); write ``DST/dataset_metadata.json``.

    A song is up to date when its ``.saraga_import.json`` exists (``force`` redoes it). A corrupt
    video, wav or gesture file fails that song (named in the summary) without stopping the others; its
    metadata entry is still written with what could be probed.
    """
    if mode not in LINK_MODES:
        raise ValueError(f"mode must be one of {LINK_MODES}")
    src, dst = Path(src), Path(dst)
    tracks = [t for t in discover_tracks(src)
              if (artist is None or t.artist == artist) and (song is None or t.song == song)]
    if not tracks and (artist or song):
        raise SongDataError(f"no Saraga track matches artist={artist!r} song={song!r} in {src}")
    reference = load_reference(reference_path)
    metadata_path = dst / DEFAULT_METADATA_NAME
    existing = load_json(metadata_path) if metadata_path.exists() else {}
    entries: dict[tuple[str, str], dict] = {}
    by_key = {t.key: t for t in tracks}

    def work(info: SongInfo) -> str | None:
        track = by_key[info.key]
        record_path = dst / track.artist / track.song / IMPORT_RECORD_NAME
        if record_path.exists() and not force:
            kept = existing.get(track.artist, {}).get(track.song)
            entries[(track.artist, track.song)] = kept if kept is not None else \
                load_json(record_path)["entry"]
            return UP_TO_DATE
        result = import_song(track, dst, reference, mode, gesture_units)
        entries[(track.artist, track.song)] = result.entry
        if result.problems:
            raise SongDataError("; ".join(result.problems))
        return None

    placeholders = [SongInfo(t.artist, t.song, None, None, None) for t in tracks]
    summary = run_per_song("import-saraga", placeholders, work, logger=logger,
                           progress_bar=progress_bar)
    merged = {a: dict(songs) for a, songs in existing.items()}
    for (a, s), entry in entries.items():
        merged.setdefault(a, {})[s] = entry
    merged = {a: dict(sorted(songs.items())) for a, songs in sorted(merged.items())}
    save_json(metadata_path, merged)
    logger.info("wrote %s (%d songs)", metadata_path, sum(len(v) for v in merged.values()))
    return summary
