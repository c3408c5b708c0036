"""Hand-built separation models with the VoViT interface ``forward(mixture (B, N), visual (B, 2, T, J))
-> estimate (B, N)``, small enough for unit tests, and synthetic chunks for them."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from core.face import load_mean_face
from core.keypoints import MOUTH

MOUTH_IDX = list(MOUTH)


class MouthGainModel(nn.Module):
    """estimate = mixture · (1 + tanh(Σ w ∘ mean_t(mouth − mouth_ref))): depends on the 20 mouth
    points (face-local 48–67) and on the audio, on nothing else."""

    def __init__(self, face_offset: int = 0, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(2, len(MOUTH_IDX), generator=generator) * 0.2)
        self.register_buffer("reference", torch.as_tensor(load_mean_face()[MOUTH_IDX].T,
                                                          dtype=torch.float32))
        self.joints = [face_offset + j for j in MOUTH_IDX]
        self.config = SimpleNamespace(visual="face" if face_offset == 0 else "face_body",
                                      cross_modal=False)

    def forward(self, mixture, visual):
        mouth = visual[..., self.joints].mean(dim=2) - self.reference     # (B, 2, 20)
        gain = 1.0 + torch.tanh((self.weight * mouth).sum(dim=(1, 2)) / 10.0)
        return mixture * gain[:, None]


class SmoothAVModel(nn.Module):
    """A small non-linear audio-visual model (conv on the wave, MLP on the keypoints, multiplicative
    fusion): every input matters, for the completeness test."""

    def __init__(self, joints: int = 68, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.audio = nn.Conv1d(1, 1, kernel_size=9, padding=4)
        self.visual = nn.Sequential(nn.Linear(2 * joints, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, mixture, visual):
        audio = torch.tanh(self.audio(mixture[:, None]))[:, 0]
        scale = torch.tanh(self.visual(visual.mean(dim=2).flatten(1) / 100.0))
        return mixture + audio * scale


class LinearPoseGate(nn.Module):
    """Trainable: estimate = mixture · sigmoid(w · mean_t(visual − mean face) + b), one weight per
    coordinate and joint. Trained on ``mouth_task`` it learns to look at the mouth."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.gate = nn.Linear(2 * 68, 1)
        self.register_buffer("reference", torch.as_tensor(load_mean_face().T, dtype=torch.float32))

    def forward(self, mixture, visual):
        pose = (visual.mean(dim=2) - self.reference).flatten(1) / 10.0
        return mixture * torch.sigmoid(self.gate(pose))


def face_chunks(n: int, samples: int = 4096, frames: int = 10, seed: int = 0,
                jitter: float = 5.0) -> list[SimpleNamespace]:
    """Chunks with a noise mixture, a target at half amplitude, and mean-face keypoints plus jitter
    (``visual`` (2, frames, 68), model-space = mean-face pixels)."""
    rng = np.random.default_rng(seed)
    face = load_mean_face().T[:, None, :]
    chunks = []
    for index in range(n):
        mixture = (rng.standard_normal(samples) * 0.1).astype(np.float32)
        visual = (face + rng.standard_normal((2, frames, 68)) * jitter).astype(np.float32)
        chunks.append(SimpleNamespace(index=index, mixture=mixture, target=mixture * 0.5,
                                      visual=visual, visual_mask=np.ones((frames, 68), bool)))
    return chunks


def mouth_task(n: int, samples: int = 128, seed: int = 0):
    """(mixture, visual, target): the target is the mixture gated by how open the mouth is."""
    rng = np.random.default_rng(seed)
    face = torch.as_tensor(load_mean_face().T, dtype=torch.float32)[None, :, None, :]
    visual = face + torch.as_tensor(rng.standard_normal((n, 2, 4, 68)) * 5.0, dtype=torch.float32)
    opening = (visual[:, 1, :, 57] - visual[:, 1, :, 51]).mean(dim=1)        # lower - upper lip, y
    gate = torch.sigmoid((opening - opening.mean()) / 5.0)
    mixture = torch.as_tensor(rng.standard_normal((n, samples)) * 0.1, dtype=torch.float32)
    return mixture, visual, mixture * gate[:, None]


class TwoLayerPoseGate(nn.Module):
    """Trainable, two layers: estimate = mixture · sigmoid(out(tanh(hidden(mean_t(visual − mean
    face))))). Forward order: ``hidden`` then ``out``, so a cascade from the output side
    re-initialises ``out`` first."""

    def __init__(self, seed: int = 0, width: int = 8):
        super().__init__()
        torch.manual_seed(seed)
        self.hidden = nn.Linear(2 * 68, width)
        self.out = nn.Linear(width, 1)
        self.register_buffer("reference", torch.as_tensor(load_mean_face().T, dtype=torch.float32))

    def forward(self, mixture, visual):
        pose = (visual.mean(dim=2) - self.reference).flatten(1) / 10.0
        return mixture * torch.sigmoid(self.out(torch.tanh(self.hidden(pose))))


def train_on_mouth_task(model: nn.Module, steps: int = 150, lr: float = 0.05) -> nn.Module:
    """Fit ``model`` to ``mouth_task`` (scaled MSE, Adam); returns it in eval mode."""
    from gradient_saliency.objective import SeparationObjective

    mixture, visual, target = mouth_task(256)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    objective = SeparationObjective(model.train())
    for _ in range(steps):
        optimiser.zero_grad()
        objective(mixture, visual, target).mean().backward()
        optimiser.step()
    return model.eval()
