"""Write the separation tables of the documents from the committed benchmark JSON (never typed).

``separation/checkpoints/separation_benchmark.json`` (written by ``python -m separation.main
benchmark``; ``make checkpoints``) → the blocks between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers:

* ``separation/checkpoints/README.md``: ``checkpoints`` (one row per shipped checkpoint) and
  ``benchmark`` (every scene group × row);
* ``README.md``: ``separation-benchmark`` (the same-timbre test set and the demo songs, gain over
  audio-only).

``benchmarks/results/separation_benchmark_kinds.json`` (the same command with every conditioning
kind as a row and the cue scenes of issues 16 and 19 as kinds; ``make benchmark-kinds``) →
``README.md``: ``separation-benchmark-kinds`` (every row × scene kind, gain over audio-only, and
which rows help or hurt on which kind: those whose interval excludes 0).

``python -m separation.report_tables`` rewrites the blocks; ``--check`` only compares (exit 1 and
the names of the blocks that differ). Without the JSON, the blocks say the benchmark has not been
run.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from core.io import load_json

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK_JSON = REPO_ROOT / "separation" / "checkpoints" / "separation_benchmark.json"
CHECKPOINTS_README = REPO_ROOT / "separation" / "checkpoints" / "README.md"
README = REPO_ROOT / "README.md"
KINDS_JSON = REPO_ROOT / "benchmarks" / "results" / "separation_benchmark_kinds.json"
NOT_RUN = "Not run yet: `make checkpoints` trains the rows and writes `separation_benchmark.json`."
NOT_RUN_KINDS = ("Not run yet: `make benchmark-kinds` trains every kind's row and writes "
                 "`separation_benchmark_kinds.json`.")
ROW_LABEL = {"none": "audio-only (`none`)", "face": "`face`", "body": "`body`",
             "face_body": "`face_body`", "face_body_xattn": "`face_body` + cross-attention",
             "frames": "`frames`", "frames_unet": "`frames` + U-Net (Sound of Pixels)",
             "none_unet": "audio-only U-Net (`none_unet`)",
             "points3d": "`points3d`", "text": "`text`", "scene_graph": "`scene_graph`"}


def db(value) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:.2f}".replace("-", "−")


def signed(value) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:+.2f}".replace("-", "−")


def with_ci(stat: dict | None, sign: bool = False) -> str:
    """``{"mean", "ci95"}`` → ``"+3.63 [+2.83, +4.50]"``; ``–`` when absent."""
    if not stat:
        return "–"
    fmt = signed if sign else db
    lo, hi = stat["ci95"]
    return f"{fmt(stat['mean'])} [{fmt(lo)}, {fmt(hi)}]"


def checkpoints_table(doc: dict | None) -> str:
    if doc is None:
        return NOT_RUN
    lines = ["| file | target | visual input | fusion | parameters | size | steps (best on "
             "validation) | training wall time | device |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in doc["rows"].items():
        fusion = "—" if row["visual"] == "none" else (
            "U-Net maps × visual vector (Sound of Pixels)" if row.get("audio_net") == "unet"
            else "FiLM + cross-attention" if row["cross_modal"] else "concat (VoViT)")
        minutes = row.get("wall_time_s")
        stopped = "" if row.get("finished", True) else f", **stopped at {row['steps_run']}**"
        lines.append(
            f"| `{row['checkpoint']}` | {doc['target']} | {row['visual']} | {fusion} | "
            f"{row['parameters']:,} | {row['file_mb']:.1f} MB | {row['steps']} "
            f"({row['best_step']}{stopped}) | "
            f"{'–' if minutes is None else f'{minutes / 60:.1f} min'} | "
            f"{row.get('device') or '–'} |")
    lines.append("")
    lines.append(f"Code: git commit `{str(doc['git_commit'])[:12]}`; generator version "
                 f"{doc['generator_version']}; architecture version "
                 f"{doc.get('architecture_version')}; training: {training_line(doc)}.")
    return "\n".join(lines)


def training_line(doc: dict) -> str:
    t = doc["training"]
    counts = t.get("scene_counts") or {}
    return (f"preset `{t['preset']}`, {t['steps']} steps of batch {t['batch_size']}, lr "
            f"{t['lr']:g}, seed {t['seed']}, validation every {t['eval_every']} steps; scenes per "
            f"kind: {counts.get('train')} train / {counts.get('validation')} validation / "
            f"{counts.get('test')} test ({', '.join(t.get('kinds') or ())})")


def benchmark_table(doc: dict | None) -> str:
    if doc is None:
        return NOT_RUN
    lines = ["| scene group | timbre | chunks | model | SDR | SI-SDR | SI-SDR − mixture | "
             "SI-SDR − audio-only | best step |",
             "|---|---|---|---|---|---|---|---|---|"]
    for group, body in doc["scenes"].items():
        first = True
        for name, m in body["models"].items():
            head = (f"| {group} | {'same' if body['same_timbre'] else 'mixed'} | "
                    f"{body['n_chunks']} " if first else "| | | ")
            first = False
            lines.append(f"{head}| {ROW_LABEL.get(name, name)} | {with_ci(m['sdr'])} | "
                         f"{with_ci(m['si_sdr'])} | {signed(m['si_sdr_minus_mixture']['mean'])} | "
                         f"{with_ci(m.get('si_sdr_minus_audio_only'), sign=True)} | "
                         f"{m.get('best_step')} |")
    lines.append("")
    lines.append(f"dB, mean over test chunks [95% bootstrap interval]; SDR = {doc['metrics']['sdr']}, "
                 f"SI-SDR = {doc['metrics']['si_sdr']}.{unfinished_line(doc)} {verdict_line(doc)}")
    return "\n".join(lines)


def unfinished_line(doc: dict) -> str:
    """A sentence naming rows whose training was stopped before ``steps`` ("" when none)."""
    stopped = [f"{ROW_LABEL.get(name, name)} after {row['steps_run']} of {row['steps']} steps"
               for name, row in doc["rows"].items() if not row.get("finished", True)]
    return (" Stopped early by the time budget (best validation step so far, evaluated as it "
            "is): " + "; ".join(stopped) + ".") if stopped else ""


def verdict_line(doc: dict) -> str:
    v = doc.get("verdict") or {}
    if not v.get("best_row"):
        return "No visual row was evaluated on the same-timbre test set."
    return (f"Goal (a visual row ≥ +{v['goal_db']:g} dB SI-SDR over audio-only on the "
            f"same-timbre test set, interval excluding 0): **{'met' if v['met'] else 'not met'}**; "
            f"best row {ROW_LABEL.get(v['best_row'], v['best_row'])} "
            f"{with_ci(v['gain'], sign=True)} dB.")


def gain_table(doc: dict, groups: list[str], rows: list[str]) -> list[str]:
    """Markdown lines: audio-only SI-SDR per group, then each row's SI-SDR − audio-only [95 % CI]."""
    lines = ["| SI-SDR − audio-only, dB [95% CI] | " + " | ".join(groups) + " |",
             "|---|" + "---|" * len(groups)]
    lines.append("| audio-only SI-SDR | " + " | ".join(
        db(doc["scenes"][g]["models"]["none"]["si_sdr"]["mean"]) for g in groups) + " |")
    for row in rows:
        lines.append(f"| {ROW_LABEL.get(row, row)} | " + " | ".join(
            with_ci(doc["scenes"][g]["models"][row].get("si_sdr_minus_audio_only"), sign=True)
            for g in groups) + " |")
    return lines


def readme_rows(doc: dict | None) -> str:
    if doc is None:
        return NOT_RUN
    groups = [g for g in ("same_timbre", "concert", "demo_songs") if g in doc["scenes"]]
    lines = gain_table(doc, groups, [r for r in doc["rows"] if r != "none"])
    lines.append("")
    lines.append("Chunks: " + ", ".join(f"{g} {doc['scenes'][g]['n_chunks']}" for g in groups)
                 + f".{unfinished_line(doc)} {verdict_line(doc)}")
    return "\n".join(lines)


def kinds_table(doc: dict | None) -> str:
    """Every row × scene kind of the kinds benchmark (SI-SDR − audio-only [95 % CI]; a row of
    another audio path also against that path's audio-only row), then per kind the rows whose
    interval over ``none`` lies above 0 ("helps") or below it ("hurts")."""
    if doc is None:
        return NOT_RUN_KINDS
    groups = [g for g in (doc["training"].get("kinds") or ()) if g in doc["scenes"]]
    rows = [r for r in doc["rows"] if r != "none"]
    lines = gain_table(doc, groups, rows)
    for row in rows:       # a row of another audio path against that path's own audio-only row
        gains = [doc["scenes"][g]["models"][row].get("si_sdr_minus_path_audio_only")
                 for g in groups]
        if any(gains):
            lines.append(f"| {ROW_LABEL.get(row, row)} − its audio path's audio-only | "
                         + " | ".join(with_ci(gain, sign=True) for gain in gains) + " |")
    lines.append("")
    for g in groups:
        lines.append(f"- {g}: {evidence_line(doc['scenes'][g]['models'], rows)}")
    lines.append("")
    lines.append("Chunks: " + ", ".join(f"{g} {doc['scenes'][g]['n_chunks']}" for g in groups)
                 + f".{unfinished_line(doc)} Training: {training_line(doc)}. Code: git commit "
                 f"`{str(doc['git_commit'])[:12]}`; generator version {doc['generator_version']}.")
    return "\n".join(lines)


def evidence_line(models: dict, rows: list[str]) -> str:
    """Which conditions help (95 % interval of the gain over audio-only above 0) and hurt (below
    0). A row of another audio path is judged against that path's audio-only row, and an
    audio-only row of another path is no evidence (it is left out)."""
    def gain(row):
        return (models[row].get("si_sdr_minus_path_audio_only")
                or models[row].get("si_sdr_minus_audio_only"))

    rows = [r for r in rows if not r.startswith("none_")]       # another path's audio-only row
    helps = sorted((r for r in rows if gain(r) and gain(r)["ci95"][0] > 0),
                   key=lambda r: -gain(r)["mean"])
    hurts = [r for r in rows if gain(r) and gain(r)["ci95"][1] < 0]
    parts = ["helps: " + (", ".join(f"{ROW_LABEL.get(r, r)} {signed(gain(r)['mean'])}"
                                    for r in helps) or "no row")]
    if hurts:
        parts.append("hurts: " + ", ".join(f"{ROW_LABEL.get(r, r)} {signed(gain(r)['mean'])}"
                                           for r in hurts))
    return "; ".join(parts) + "."


BLOCKS = {CHECKPOINTS_README: {"checkpoints": checkpoints_table, "benchmark": benchmark_table},
          README: {"separation-benchmark": readme_rows}}
KINDS_BLOCKS = {README: {"separation-benchmark-kinds": kinds_table}}


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the lines between ``<!-- name:start -->`` and ``<!-- name:end -->`` replaced
    by ``body``; ``ValueError`` when the markers are missing."""
    pattern = re.compile(rf"(<!-- {re.escape(name)}:start -->\n)(.*?)(<!-- {re.escape(name)}:end -->)",
                         re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no <!-- {name}:start --> ... <!-- {name}:end --> block")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(3), text, count=1)


def render(doc: dict | None, documents: dict = BLOCKS) -> dict[Path, str]:
    """Every document's new text."""
    out = {}
    for path, blocks in documents.items():
        text = Path(path).read_text(encoding="utf-8")
        for name, make in blocks.items():
            try:
                text = replace_block(text, name, make(doc))
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        out[Path(path)] = text
    return out


def stale_documents(doc: dict | None, documents: dict = BLOCKS) -> list[Path]:
    """Documents whose blocks differ from what ``doc`` renders."""
    return [path for path, text in render(doc, documents).items()
            if Path(path).read_text(encoding="utf-8") != text]


def load_benchmark(path: Path = BENCHMARK_JSON) -> dict | None:
    return load_json(path) if Path(path).is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m separation.report_tables",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=BENCHMARK_JSON)
    parser.add_argument("--check", action="store_true",
                        help="compare only; exit 1 naming the documents that differ")
    parser.add_argument("--kinds_json", type=Path, default=KINDS_JSON)
    args = parser.parse_args(argv)
    sources = ((args.json, BLOCKS), (args.kinds_json, KINDS_BLOCKS))
    if args.check:
        stale = [(path, json_path) for json_path, blocks in sources
                 for path in stale_documents(load_benchmark(json_path), blocks)]
        for path, json_path in stale:
            print(f"{path}: tables differ from {json_path} (python -m separation.report_tables)")
        return 1 if stale else 0
    for json_path, blocks in sources:      # one after the other: both may write the README
        for path, text in render(load_benchmark(json_path), blocks).items():
            if path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
