"""Pose-conditioned music source separation (VoViT family): model, data, training, separation,
evaluation. Entry point: ``python -m separation.main train|separate|evaluate``."""
