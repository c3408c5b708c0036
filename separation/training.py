"""Training: random 4-s crops of the training songs, mix-and-separate augmentation, AdamW, song-level
validation on the held-out songs' chunk grid.

Each example: a training song drawn with probability proportional to its usable start frames, a
uniformly random usable 25-fps start frame (``SongArrays.usable_start_frames``), then with probability
``remix_probability`` its accompaniment is swapped for that of another random crop (any song); 0
for a kind whose input the swap would contradict (``separation.conditions.remix_consistent``:
``scene_graph``), recorded as ``remix_probability_used``.

Examples are at the model's input scale (``separation.conventions``, this project's ``chunk_peak``: a
crop divided by its mixture's peak, target by the same factor; a remixed example is re-scaled by its
own mixture's peak); the checkpoint records these conventions.

Loss (per example, averaged over the batch): the complex-spectrogram L1 distance between estimate and
target, relative to the mixture's level so that loud and quiet songs weigh the same::

    L = mean_{f,t} |Y[f,t] - S[f,t]| / (mean_{f,t} |X[f,t]| + 1e-8)

with ``Y`` the masked mixture STFT, ``S`` the target STFT, ``X`` the mixture STFT (``separation.vovit``).
A model with Sound of Pixels' U-Net audio path (``VoViTConfig.audio_net = "unet"``) trains on its own
loss instead (weighted BCE on binary masks or L1 on ratio masks, ``separation.unet``): the loop asks
the model (``VoViT.training_loss``) and is otherwise the same.
Validation: the loss above (on every model's waveform estimate, so rows of either audio path are
selected by the same measure) and the mean SDR/SI-SDR (``separation.metrics``) over the held-out
songs' chunks (no augmentation). The split is by song: every chunk of a song is on one side.

Checkpoints (``separation.checkpoint``) are written atomically at every validation: ``out`` holds the
model with the best validation loss so far plus ``extra`` (training arguments, the song split, the
metrics history); ``<out>.resume.pt`` holds the latest model, optimizer, step and RNG states, so a
re-run with the same ``out`` resumes (deleted when all ``steps`` are done; kept after a
``max_minutes`` stop). The resume state is written before the checkpoint, so "checkpoint present, no
resume state" always means finished: a run killed between the two resumes, and re-saves the best
checkpoint the kill cut short. The resume state holds tensors and plain data only (the numpy RNG
state is a dict of ints) and is read with ``weights_only=True`` (``core.io.load_torch``).
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from core.dataset import SongDataError
from core.io import atomic_path, load_torch
from core.log import progress
from core.metadata import SongInfo
from core.runner import SongSkipped

from .checkpoint import check_architecture, save_checkpoint
from .conditions import effective_remix_probability
from .conventions import PROJECT, InputConventions, peak
from .data import Chunk, SongArrays, load_song_arrays, remix
from .inference import estimate_chunks
from .metrics import chunk_metrics, mean_ignoring_nan
from .vovit import ARCHITECTURE_VERSION, VoViT, VoViTConfig, spectral_l1, stft

log = logging.getLogger("separation.train")


@dataclass
class TrainOptions:
    steps: int = 600
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-5
    remix_probability: float = 0.5
    eval_every: int = 100
    seed: int = 0
    val_fraction: float = 0.34
    max_minutes: float | None = None     # wall-clock budget; stops early with a final validation


def batch_loss(model: VoViT, mixture: torch.Tensor, target: torch.Tensor,
               visual: torch.Tensor | None) -> torch.Tensor:
    """The model's training loss on a batch (``VoViT.training_loss``: ``spectral_l1`` for the
    VoViT audio path, the mask loss of ``separation.unet`` for the U-Net path)."""
    return model.training_loss(mixture, target, visual)


def split_songs(keys: list[str], val_fraction: float, seed: int,
                val_songs: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Song-level split ``(train, validation)``: the given ``val_songs`` or a seeded random share
    (at least one song each side when there are two or more songs)."""
    keys = sorted(set(keys))
    if val_songs:
        unknown = [k for k in val_songs if k not in keys]
        if unknown:
            raise ValueError(f"validation songs not in the data: {', '.join(unknown)}")
        val = sorted(val_songs)
    else:
        shuffled = keys[:]
        random.Random(seed).shuffle(shuffled)
        n_val = max(1, round(val_fraction * len(keys))) if len(keys) > 1 else 0
        val = sorted(shuffled[:n_val])
    return [k for k in keys if k not in val], val


def collect_songs(dataset_path: Path, songs: list[SongInfo], instrument: str, visual: str,
                  conventions: InputConventions = PROJECT, options: dict | None = None
                  ) -> tuple[dict[str, SongArrays], list[str]]:
    """Usable songs by key, prepared by ``conventions`` (this project's: per-chunk peak, registered
    faces) and the encoder ``options`` (``VoViTConfig.encoder_options``); songs that cannot be used
    are named (with the reason) in the second list."""
    by_song, skipped = {}, []
    for song in progress(songs, desc=f"loading {instrument} songs", unit="song"):
        if instrument not in song.instruments:
            skipped.append(f"{song.key}: no {instrument} in layout")
            continue
        try:
            arrays = load_song_arrays(song.folder(dataset_path), song, instrument, visual,
                                      conventions=conventions, options=options)
        except (SongSkipped, SongDataError) as exc:
            skipped.append(f"{song.key}: {exc}")
            log.warning("%s: skipped for training: %s", song.key, exc)
            continue
        if len(arrays.usable_start_frames()):
            by_song[song.key] = arrays
        else:
            skipped.append(f"{song.key}: no usable 4-s window")
    return by_song, skipped


class CropSampler:
    """Random usable 4-s crops of the training songs (module docstring)."""

    def __init__(self, songs: list[SongArrays], rng: np.random.Generator):
        self.songs = songs
        self.starts = [s.usable_start_frames() for s in songs]
        counts = np.array([len(s) for s in self.starts], np.float64)
        self.weights = counts / counts.sum()
        self.rng = rng

    def sample(self) -> Chunk:
        i = self.rng.choice(len(self.songs), p=self.weights)
        return self.songs[i].crop(int(self.rng.choice(self.starts[i])))

    def batch(self, size: int, remix_probability: float):
        """Mixtures ``(B, N)``, targets ``(B, N)``, visuals ``(B, 2, 100, J)`` or None."""
        mixtures, targets, visuals = [], [], []
        for _ in range(size):
            chunk = self.sample()
            mixture = chunk.mixture
            target = chunk.target
            if self.rng.random() < remix_probability:
                other = self.sample()
                mixture = remix(chunk.target, other.mixture, other.target)
                if self.songs[0].conventions.mixture_normalisation == "chunk_peak":
                    # the remix is a new chunk: scaled by its own peak, like every chunk
                    scale = peak(mixture)
                    mixture, target = mixture / scale, (target / scale).astype(np.float32)
            mixtures.append(mixture)
            targets.append(target)
            visuals.append(chunk.visual)
        return (np.stack(mixtures), np.stack(targets),
                None if visuals[0] is None else np.stack(visuals))


def validate(model: VoViT, chunks: list[Chunk], device: torch.device) -> dict:
    """Validation loss and mean SDR/SI-SDR of model and mixture over ``chunks``."""
    if not chunks:
        return {}
    mixtures = np.stack([c.mixture for c in chunks])
    targets = np.stack([c.target for c in chunks])
    visuals = None if chunks[0].visual is None else np.stack([c.visual for c in chunks])
    estimates = estimate_chunks(model, mixtures, visuals, device)
    with torch.no_grad():
        mix_stft = stft(torch.from_numpy(mixtures))
        loss = spectral_l1(stft(torch.from_numpy(estimates)), stft(torch.from_numpy(targets)),
                           mix_stft).item()
    model_m, mix_m = chunk_metrics(estimates, targets), chunk_metrics(mixtures, targets)
    return {"loss": loss, "sdr": mean_ignoring_nan(model_m["sdr"]),
            "si_sdr": mean_ignoring_nan(model_m["si_sdr"]),
            "mixture_sdr": mean_ignoring_nan(mix_m["sdr"]),
            "mixture_si_sdr": mean_ignoring_nan(mix_m["si_sdr"]), "n_chunks": len(chunks)}


def resume_path(out: Path) -> Path:
    return out.with_name(out.name + ".resume.pt")


GRADIENT_CLIP_NORM = 5.0


def train_step(model: VoViT, optimizer: torch.optim.Optimizer, mixture: torch.Tensor,
               target: torch.Tensor, visual: torch.Tensor | None) -> torch.Tensor:
    """One optimiser step on a batch (``mixture``/``target`` ``(B, 65535)``, ``visual``
    ``(B, 2, 100, J)`` or None), gradients clipped to norm ``GRADIENT_CLIP_NORM``; returns the loss.
    The training loop and ``benchmarks/separation_speed.py`` both time exactly this."""
    loss = batch_loss(model, mixture, target, visual)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP_NORM)
    optimizer.step()
    return loss


def _checkpoint_at_step(out: Path, step: int) -> bool:
    """Does the checkpoint ``out`` hold the model of training step ``step``?"""
    from .checkpoint import read_checkpoint

    try:
        return out.exists() and read_checkpoint(out)["extra"].get("step") == step
    except (ValueError, KeyError):
        return False


def train(config: VoViTConfig, by_song: dict[str, SongArrays], out: Path, opts: TrainOptions,
          device: torch.device, instrument: str, val_songs: list[str] | None = None,
          force: bool = False, run_info: dict | None = None,
          test_songs: list[str] | None = None, visual_weights: str | Path | None = None) -> dict:
    """Train (or resume) a model on ``by_song`` chunks; returns the final ``extra`` metadata.

    ``test_songs``: songs kept for the final evaluation (never in ``by_song``), recorded in the
    checkpoint so that ``evaluate`` labels them ``test`` (``separation.splits``). Every history
    entry records ``elapsed_s``: training wall time so far, validations included, summed over
    resumed sessions. ``visual_weights``: a local pretrained file the condition encoder starts
    from (its ``load_pretrained``; the frames kind's torchvision ResNet-18), before any resume."""
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    train_keys, val_keys = split_songs(list(by_song), opts.val_fraction, opts.seed, val_songs)
    if not train_keys:
        raise RuntimeError("no training song (every song was skipped or held out)")
    sampler = CropSampler([by_song[k] for k in train_keys], rng)
    val_chunks = [c for k in val_keys for c in by_song[k].grid_chunks()]
    log.info("training %s for %s on random crops of %d songs (%d usable start frames); "
             "validating on %d chunks from %s", config.name, instrument, len(train_keys),
             sum(len(s) for s in sampler.starts), len(val_chunks), ", ".join(val_keys) or "no song")

    conventions = {song.conventions for song in by_song.values()}
    if len(conventions) != 1:
        raise ValueError(f"the training songs were prepared with different input conventions: "
                         f"{sorted(c.to_dict().values() for c in conventions)}")
    conventions = conventions.pop()
    model = VoViT(config)
    if visual_weights:
        load_pretrained = getattr(model.condition_encoder, "load_pretrained", None)
        if load_pretrained is None:
            raise ValueError(f"visual={config.visual} takes no --visual_weights")
        unused = load_pretrained(visual_weights)
        log.info("condition encoder initialised from %s (unused keys: %s)", visual_weights,
                 ", ".join(unused) or "none")
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    step, history, best, best_step = 0, [], float("inf"), None
    leaked = sorted(set(test_songs or ()) & set(by_song))
    if leaked:
        raise ValueError(f"test songs must not be training data: {', '.join(leaked)}")
    remix_probability = effective_remix_probability(config.visual, opts.remix_probability)
    if remix_probability != opts.remix_probability:
        log.info("visual=%s: mix-and-separate off (a swapped accompaniment would contradict its "
                 "input; separation.conditions.remix_consistent)", config.visual)
    extra_base = {"conventions": conventions, "instrument": instrument,
                  "train_songs": train_keys, "val_songs": val_keys,
                  "options": asdict(opts), "remix_probability_used": remix_probability,
                  "run": run_info or {}}
    if test_songs is not None:
        extra_base["test_songs"] = sorted(test_songs)
    resume = resume_path(out)
    if resume.exists() and not force:
        state = load_torch(resume, map_location=device)      # data only: never runs code
        check_architecture(resume, state)
        if state["config"] != config.to_dict():
            raise ValueError(f"{resume} is for {state['config']}, not {config.to_dict()}: use -f")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history, best = state["step"], state["history"], state["best"]
        best_step = state.get("best_step")
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        log.info("resuming from %s at step %d", resume, step)
        if best_step == step and history and not _checkpoint_at_step(out, step):
            # killed after the resume state, before the new best checkpoint: that model is this one
            save_checkpoint(out, model, **extra_base, step=step, history=history,
                            best_val=history[-1])

    started = time.perf_counter()
    elapsed_before = float(history[-1].get("elapsed_s", 0.0)) if history else 0.0
    steps_done = 0
    bar = progress(range(step, opts.steps), desc=f"train {config.name}", total=opts.steps - step,
                   unit="step")
    for step in bar:
        model.train()
        mixtures, targets, visuals = sampler.batch(opts.batch_size, remix_probability)
        loss = train_step(model, optimizer, torch.from_numpy(mixtures).to(device),
                          torch.from_numpy(targets).to(device),
                          None if visuals is None else torch.from_numpy(visuals).to(device))
        steps_done += 1
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.3f}")
        out_of_time = (opts.max_minutes is not None
                       and time.perf_counter() - started > 60 * opts.max_minutes)
        if (step + 1) % opts.eval_every == 0 or step + 1 == opts.steps or out_of_time:
            metrics = validate(model, val_chunks, device) if val_chunks else {}
            metrics.update(step=step + 1, train_loss=float(loss.item()),
                           steps_per_s=steps_done / (time.perf_counter() - started),
                           elapsed_s=elapsed_before + time.perf_counter() - started)
            history.append(metrics)
            log.info("step %d: train loss %.4f, %s", step + 1, loss.item(),
                     ", ".join(f"val {k} {v:.3f}" for k, v in metrics.items()
                               if k in ("loss", "sdr", "mixture_sdr")))
            score = metrics.get("loss", float(loss.item()))
            improved = score < best
            if improved:
                best, best_step = score, step + 1
            # resume state first: a kill before the checkpoint below leaves a run that resumes
            with atomic_path(resume) as tmp:
                torch.save({"architecture_version": ARCHITECTURE_VERSION,
                            "config": config.to_dict(), "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "step": step + 1,
                            "history": history, "best": best, "best_step": best_step,
                            "numpy_rng": rng.bit_generator.state,
                            "torch_rng": torch.get_rng_state()}, tmp)
            if improved:
                save_checkpoint(out, model, **extra_base, step=step + 1, history=history,
                                best_val=metrics)
        if out_of_time:
            log.info("stopping after %.1f min (--max_minutes) at step %d", opts.max_minutes, step + 1)
            break
    if not out.exists():
        save_checkpoint(out, model, **extra_base, step=opts.steps, history=history, best_val={})
    # Keep the best checkpoint but refresh its history so it records the whole run.
    from .checkpoint import load_checkpoint
    best_model, meta = load_checkpoint(out)
    extra = {k: v for k, v in meta.items() if k not in ("config", "path")}   # conventions kept
    extra["history"] = history
    save_checkpoint(out, best_model, **extra)
    if history and history[-1]["step"] >= opts.steps:
        resume.unlink(missing_ok=True)        # finished; a --max_minutes stop stays resumable
    return extra
