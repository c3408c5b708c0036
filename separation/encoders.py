"""Condition encoders, registered by kind name (DESIGN §6b: one audio path, many conditioning signals).

The audio path (``separation.vovit.AudioNetwork``) takes any condition sequence ``(B, T_c, C)`` and
resamples it to the STFT frames; what turns a signal into that sequence is one small encoder per
kind, listed in ``ENCODERS``. A model config names its kind in ``VoViTConfig.visual`` and (for kinds
with options) carries the encoder's own config in ``VoViTConfig.encoder``; checkpoints record both.

The interface an encoder module provides (``nn.Module``):

``encode(condition) -> (B, T_c, C)``
    ``condition`` is the batched chunk input the kind's preparation function makes
    (``separation.conditions``), per example of shape ``input_shape``. New encoders make ``forward``
    the same function; the ST-GCN keeps VoViT's ``forward`` (``(B, C, T)``, what the known-answer
    fixture hooks) and adds ``encode`` (its transpose).
``out_channels: int``  ``C``.
``input_shape: tuple``  one example's input shape, e.g. ``(2, 100, 68)`` (face keypoints) or
    ``(100, 3, 64, 64)`` (frames); ``VoViT.encode_visual`` checks it and names both shapes.

Registered kinds (``EncoderKind``):

=========== ================ ==========================================================
kind        module attribute encoder
=========== ================ ==========================================================
face        ``graph_net``    ST-GCN on 68 face points (``separation.stgcn.PoseEncoder``)
body        ``graph_net``    ST-GCN on 55 body points
face_body   ``graph_net``    ST-GCN on both graphs side by side (123 points)
frames      ``frame_net``    ResNet-18 on RGB crops of the performer (``separation.frames``)
text        ``text_net``     sung-syllable posteriorgram encoder (``separation.text_encoder``)
scene_graph ``scene_net``    graph attention over the performers on stage
                             (``separation.scene_graph``)
points3d    ``point_net``    PointNet-style encoder over the performer's metric 3D points
                             per frame, then a temporal convolution (``separation.points3d``)
=========== ================ ==========================================================

``text`` also brings its own conditioning block for the audio path (``EncoderKind.conditioning``):
FiLM of the audio features by the posteriorgram's encoding, or with ``cross_modal`` FiLM +
cross-attention (``separation.text_encoder.TextConditioning``, in ``audio_network.cross_modal``).
Kinds without one get VoViT's ``CrossModalFusion`` when ``cross_modal`` is set.

``none`` (audio only) has no encoder. The module attribute is the state-dict prefix: ``graph_net``
is VoViT's own name, so official weights and the shipped checkpoints load unchanged. The ST-GCN
kinds keep their sizes in ``VoViTConfig``'s original fields (``gcn_channels``, ``temporal_kernel``)
and leave ``VoViTConfig.encoder`` empty, so their configs (and checkpoints) are what they were.

How to add a kind
-----------------
1. One encoder file ``separation/<kind>.py``: a frozen dataclass config (``from_options(dict)``,
   ``to_options() -> dict``) and the module above, built from it.
2. One ``EncoderKind`` line in ``ENCODERS`` below (name, module attribute, ``build(VoViTConfig)``,
   ``options(preset) -> dict`` of the preset's encoder config, optionally ``conditioning``: the
   kind's own block in the audio path, as ``text`` has).
3. One preparation function (a song's files → the encoder's input at 25 fps + presence mask) and
   one window function (4-s window of it), registered in ``separation.conditions.CONDITIONS``.
4. Tests (shapes, config → checkpoint → load round trip, a known answer on constructed data, the
   preparation on the demo fixtures) and a benchmark row (``separation.benchmark.ROWS``).
Training, ``separate``, ``evaluate``, the benchmark and saliency then take the kind by name.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Callable

from torch import nn

if TYPE_CHECKING:                  # vovit imports this module: the config type only for annotations
    from .vovit import VoViTConfig

AUDIO_ONLY = "none"


@dataclass(frozen=True)
class EncoderKind:
    name: str                                   # VoViTConfig.visual
    attribute: str                              # VoViT's submodule name = state-dict prefix
    build: Callable[["VoViTConfig"], nn.Module]
    options: Callable[[str], dict]              # preset → the encoder config's options
    # the kind's own block in the audio path (``AudioNetwork.cross_modal``):
    # ``conditioning(cfg, audio_features, condition_features) -> nn.Module`` or None (VoViT's)
    conditioning: Callable[["VoViTConfig", int, int], nn.Module] | None = None


def _stgcn(cfg: "VoViTConfig") -> nn.Module:
    from .stgcn import PoseEncoder
    from .vovit import CHUNK_VIDEO_FRAMES

    return PoseEncoder(cfg.visual, tuple(cfg.gcn_channels), temporal_kernel=cfg.temporal_kernel,
                       n_frames=CHUNK_VIDEO_FRAMES)


def _frames(cfg: "VoViTConfig") -> nn.Module:
    from .frames import FrameEncoder, FramesConfig
    from .vovit import CHUNK_VIDEO_FRAMES

    return FrameEncoder(FramesConfig.from_options(cfg.encoder_options), CHUNK_VIDEO_FRAMES)


def _frames_options(preset: str) -> dict:
    from .frames import FramesConfig

    return FramesConfig.for_preset(preset).to_options()


def _text(cfg: "VoViTConfig") -> nn.Module:
    from .text_encoder import PosteriorgramEncoder, text_config

    return PosteriorgramEncoder(text_config(cfg))


def _text_options(preset: str) -> dict:
    from .text_encoder import TextEncoderConfig

    return TextEncoderConfig.for_preset(preset).to_options()


def _text_conditioning(cfg: "VoViTConfig", audio_features: int, condition_features: int
                       ) -> nn.Module:
    from .text_encoder import TextConditioning, text_config

    return TextConditioning(audio_features, text_config(cfg), cfg.d_model)


def _scene_graph(cfg: "VoViTConfig") -> nn.Module:
    from .scene_graph import SceneGraphConfig, SceneGraphEncoder
    from .vovit import CHUNK_VIDEO_FRAMES

    return SceneGraphEncoder(SceneGraphConfig.from_options(cfg.encoder_options), CHUNK_VIDEO_FRAMES)


def _scene_graph_options(preset: str) -> dict:
    from .scene_graph import SceneGraphConfig

    return SceneGraphConfig.for_preset(preset).to_options()


def _points3d(cfg: "VoViTConfig") -> nn.Module:
    from .points3d import PointEncoder, Points3DConfig
    from .vovit import CHUNK_VIDEO_FRAMES

    return PointEncoder(Points3DConfig.from_options(cfg.encoder_options), CHUNK_VIDEO_FRAMES)


def _points3d_options(preset: str) -> dict:
    from .points3d import Points3DConfig

    return Points3DConfig.for_preset(preset).to_options()


def _no_options(preset: str) -> dict:
    return {}


ENCODERS: dict[str, EncoderKind] = {
    "face": EncoderKind("face", "graph_net", _stgcn, _no_options),
    "body": EncoderKind("body", "graph_net", _stgcn, _no_options),
    "face_body": EncoderKind("face_body", "graph_net", _stgcn, _no_options),
    "frames": EncoderKind("frames", "frame_net", _frames, _frames_options),
    "text": EncoderKind("text", "text_net", _text, _text_options, _text_conditioning),
    "scene_graph": EncoderKind("scene_graph", "scene_net", _scene_graph, _scene_graph_options),
    "points3d": EncoderKind("points3d", "point_net", _points3d, _points3d_options),
}
KINDS = (*ENCODERS, AUDIO_ONLY)


def config_from_options(config_class, options: dict, what: str):
    """``config_class(**options)`` for an encoder's dataclass config, refusing keys it does not
    have (options from ``--encoder`` or from a checkpoint of another version must not be dropped
    silently); ``what`` names the encoder in the error."""
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown {what} option(s) {unknown}; known: {sorted(known)}")
    return config_class(**options)


def encoder_kind(name: str) -> EncoderKind | None:
    """The registry entry of a kind; None for ``none`` (audio only); ``ValueError`` if unknown."""
    if name == AUDIO_ONLY:
        return None
    if name not in ENCODERS:
        raise ValueError(f"unknown visual kind {name!r}; known: {', '.join(KINDS)}")
    return ENCODERS[name]
