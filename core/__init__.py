"""Shared core of the pipeline: settings, dataset metadata and song iteration, the COCO-WholeBody
keypoint layout, atomic file writing, media I/O, logging and the per-song runner.

Stages import from here and never from each other; they meet through files on disk.
"""
