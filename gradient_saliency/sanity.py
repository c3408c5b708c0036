"""``python -m gradient_saliency.sanity --model face|body|face_body|frames``: the cascading
model-parameter randomisation test (Adebayo et al., NeurIPS 2018) of a saliency method on a
separation model.

The model's layers are re-initialised cumulatively from the output side (``randomisation``); after
each step the attribution of the same chunks is recomputed and compared with the trained model's by
Spearman rank correlation, of the signed attributions and of their magnitudes, over the entries of
the model's visual input (keypoint coordinates, crop pixels, ...; the audio for an audio-only model)
that are present (the chunk's presence mask, broadcast over the input by its shape: missing
keypoints, frames without the performer), leaving out the entries that are exactly 0 in both
attributions compared (``randomisation.compare``: e.g. the frames a ``frames`` encoder skips).
Any registered kind works the same way (its chunks come from ``separation.data`` with the
checkpoint's encoder options); the visual baseline is the kind's (keypoints: ``--face-baseline`` /
``--body-baseline``; crops: ``--frames-baseline``; other kinds: zeros). Writes
``<results>/sanity_<method>_<model>/randomisation.json`` (settings, chunks, one row per step, pass
or fail) and ``randomisation.png`` (ρ against the number of re-initialised layers). The attribution
passes when, with every layer re-initialised, both correlations are below ``--max-correlation``.
Exit code 0 whether it passes or not (the verdict is the result); 2 for bad settings or no chunks.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import asdict

import numpy as np

from core.log import setup_logging
from core.settings import add_body_detection_arg, add_common_args

from .attribution import METHODS
from .baselines import AUDIO_BASELINES, BODY_BASELINES, FACE_BASELINES
from .models import KEYPOINT_MODELS, MODEL_CHOICES
from .pixel_regions import FRAME_BASELINES
from .randomisation import MAX_CORRELATION

log = logging.getLogger("gradient_saliency.sanity")
RESULT_NAME = "randomisation.json"
FIGURE_NAME = "randomisation.png"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gradient_saliency.sanity", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODEL_CHOICES, required=True,
                        help="which model (face, body, face_body: shipped; frames: --checkpoint), "
                             "as for the saliency CLI")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file instead of the shipped one")
    parser.add_argument("--method", choices=METHODS, default="integrated_gradients",
                        help="attribution method under test (default: integrated_gradients)")
    parser.add_argument("--num_steps", "--num-steps", dest="num_steps", type=int, default=25,
                        help="integration steps for integrated_gradients (default: published 25)")
    parser.add_argument("--depth", type=int, default=3,
                        help="layers = modules grouped by their first DEPTH name components "
                             "(default 3: e.g. audio_network.fusion_module.decoder); 0 = every "
                             "parameterised module is its own step")
    parser.add_argument("--max-chunks", "--max_chunks", dest="max_chunks", type=int, default=2,
                        help="4-s chunks attributed at each step (the first ones of the selected "
                             "songs)")
    parser.add_argument("--max-correlation", "--max_correlation", dest="max_correlation",
                        type=float, default=MAX_CORRELATION,
                        help="pass when, fully randomised, |rho(signed)| and rho(|attribution|) are "
                             "below this")
    parser.add_argument("--face-baseline", choices=FACE_BASELINES, default="mean_face")
    parser.add_argument("--body-baseline", choices=BODY_BASELINES, default="zeros")
    parser.add_argument("--audio-baseline", choices=AUDIO_BASELINES, default="zeros")
    parser.add_argument("--frames-baseline", "--frames_baseline", dest="frames_baseline",
                        choices=FRAME_BASELINES, default="black",
                        help="frames models: baseline of the crops (black, or static)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the re-initialisation")
    add_body_detection_arg(parser)
    add_common_args(parser)
    return parser


def visual_baseline(visual, visual_kind: str, config, mean_face=None, frames_baseline="black"):
    """The Integrated-Gradients baseline of a batch's visual input: the keypoint kinds' face/body
    baselines (``baselines.visual_baseline``), the crops' (``pixel_regions.frames_baseline``) for
    picture kinds (``pipeline.PIXEL_KINDS``), zeros (the absent input) for any other kind."""
    import torch

    from . import baselines as bl
    from .pipeline import PIXEL_KINDS
    from .pixel_regions import frames_baseline as crops_baseline

    if visual_kind in PIXEL_KINDS:
        return crops_baseline(visual, frames_baseline)
    if visual_kind in KEYPOINT_MODELS:
        return bl.visual_baseline(visual, visual_kind, config.face_baseline, config.body_baseline,
                                  mean_face)
    return torch.zeros_like(visual)


def entry_mask(mask, shape: tuple) -> "np.ndarray | None":
    """A batch's presence mask ``(B, T, M)`` broadcast to its visual input ``(B, *input_shape)``:
    keypoints ``(B, 2, T, J)`` (the mask's trailing ``(T, J)``), or one flag per frame
    ``(B, T, ...)`` (``M = 1``: frames' crops); None (every entry) when it is neither."""
    if mask is None:
        return None
    mask = np.asarray(mask, dtype=bool)
    b, t, m = mask.shape
    if tuple(shape[-2:]) == (t, m):
        return np.broadcast_to(mask.reshape(b, *[1] * (len(shape) - 3), t, m), shape)
    if m == 1 and shape[1] == t:
        return np.broadcast_to(mask.reshape(b, t, *[1] * (len(shape) - 2)), shape)
    return None


def sanity_check(model, visual_kind: str, chunks: list, config, device, mean_face=None,
                 depth: int | None = 3, seed: int = 0,
                 max_correlation: float = MAX_CORRELATION, frames_baseline: str = "black") -> dict:
    """The cascading test on ``chunks`` with the attribution of ``config`` (a
    ``pipeline.SaliencyConfig``). Returns ``randomisation.randomisation_test``'s dict plus the layer
    groups. The attribution compared is the visual input's (keypoints ``(B, 2, T, J)``, crops
    ``(B, T, 3, S, S)``, ...) over its present entries (module docstring), or the audio attribution
    for an audio-only model."""
    from . import randomisation as rnd
    from .attribution import attribute_chunks
    from .baselines import audio_baseline
    from .objective import AudioOnlyObjective, SeparationObjective
    from .pipeline import batch_inputs

    model = model.to(device).eval()
    mixture, target, visual, mask = batch_inputs(chunks, visual_kind, device)
    baselines = (audio_baseline(mixture, config.audio_baseline),)
    if visual is not None:
        baselines += (visual_baseline(visual, visual_kind, config, mean_face, frames_baseline),)
    audio_only = visual is None

    def attribute(candidate) -> np.ndarray:
        objective = (AudioOnlyObjective if audio_only else SeparationObjective)(candidate.eval())
        result = attribute_chunks(objective, mixture, visual, target, config.method,
                                  baselines=baselines, n_steps=config.n_steps,
                                  internal_batch_size=config.internal_batch_size)
        return (result.audio if audio_only else result.visual).numpy()

    example = (mixture[:1], None) if audio_only else (mixture[:1], visual[:1])
    groups = rnd.cascade_groups(rnd.execution_order(model, *example), depth)
    present = None if audio_only else entry_mask(mask, tuple(visual.shape))
    result = rnd.randomisation_test(model, attribute, groups, present, seed, max_correlation)
    result["groups"] = [{"group": name, "modules": members} for name, members in groups]
    return result


def run(args: argparse.Namespace) -> int:
    from core.device import resolve_device
    from core.io import save_json
    from core.metadata import load_metadata, select_songs
    from core.settings import settings_from_args

    from .figures import save_randomisation_figure
    from .models import face_baseline_template, load_model, load_song_chunks
    from .pipeline import SaliencyConfig, default_internal_batch_size

    settings = settings_from_args(args)
    device = resolve_device(settings.device)
    songs, skipped = select_songs(load_metadata(settings.metadata_path), args.artist, args.song,
                                  require_body_detection=not args.include_incorrect_body_detection)
    for skip in skipped:
        log.info("skipped %s", skip)
    loaded = load_model(args.model, args.checkpoint, device)
    chunks, used = [], []
    for song in songs:
        if len(chunks) >= args.max_chunks or loaded.instrument not in song.instruments:
            continue
        try:
            song_chunks = load_song_chunks(song.folder(settings.dataset_path), song,
                                           loaded.instrument, loaded.visual_kind,
                                           loaded.conventions, loaded.encoder_options)
        except Exception as exc:  # noqa: BLE001 -- a bad song is named and the next one is used
            log.warning("%s: no chunks: %s", song.key, exc)
            continue
        for chunk in song_chunks[:args.max_chunks - len(chunks)]:
            chunks.append(chunk)
            used.append({"song": song.key, "chunk": int(chunk.index)})
    if not chunks:
        log.error("no 4-s chunk of a %s song to attribute", loaded.instrument)
        return 2
    config = SaliencyConfig(method=args.method, n_steps=args.num_steps,
                            internal_batch_size=default_internal_batch_size(device, args.num_steps,
                                                                            len(chunks)),
                            chunk_batch=len(chunks), face_baseline=args.face_baseline,
                            body_baseline=args.body_baseline, audio_baseline=args.audio_baseline)
    mean_face, face_template = face_baseline_template(config.face_baseline, loaded,
                                                      settings.dataset_path, songs)
    depth = None if args.depth == 0 else args.depth
    log.info("randomisation test of %s on %s: %d chunk(s)", args.method, loaded.path.name,
             len(chunks))
    result = sanity_check(loaded.model, loaded.visual_kind, chunks, config, device, mean_face,
                          depth, args.seed, args.max_correlation, args.frames_baseline)
    out_dir = settings.results_dir / f"sanity_{args.method}_{args.model}"
    document = {"test": "cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018)",
                "settings": {"method": args.method, "model": args.model,
                             "checkpoint": str(loaded.path), "visual": loaded.visual_kind,
                             "instrument": loaded.instrument, "config": asdict(config),
                             "face_baseline_template": face_template,
                             "frames_baseline": args.frames_baseline,
                             "depth": depth, "seed": args.seed,
                             "order": "layers re-initialised cumulatively, output side first "
                                      "(forward execution order, reversed)",
                             "compared": "visual-input attributions per chunk (keypoints "
                                         "(2, T, J), crops (T, 3, S, S), ...), present entries "
                                         "only, not those 0 in both (steps' entries)"
                                         if loaded.visual_kind != "none" else
                                         "audio attributions",
                             "include_incorrect_body_detection":
                                 bool(args.include_incorrect_body_detection)},
                "chunks": used, **result}
    save_json(out_dir / RESULT_NAME, document)
    save_randomisation_figure(document, out_dir / FIGURE_NAME,
                              f"{args.method} · {loaded.path.stem} · cascading randomisation")
    final = result["final"]
    print(f"randomisation test of {args.method} on {loaded.path.name}: "
          f"{'PASSED' if result['passed'] else 'FAILED'} (fully randomised: Spearman signed "
          f"{final['spearman_signed']:.3f}, |attribution| {final['spearman_abs']:.3f}; "
          f"{result['rule']})")
    print(f"sanity results: {out_dir / RESULT_NAME}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_steps < 1 or args.max_chunks < 1 or args.depth < 0:
        parser.error("--num_steps and --max-chunks must be >= 1, --depth >= 0")
    setup_logging(args.verbose)
    try:
        return run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
