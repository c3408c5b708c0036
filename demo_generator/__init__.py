"""Synthetic Carnatic concerts with known answers: the demo dataset (``concerts``), its audio
(``audio``) and video (``video``) synthesis. CLI: ``python -m demo_generator.main OUT_DIR``."""
