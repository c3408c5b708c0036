"""Overlay videos and figures: skeletons, live feature bars, correlation highlights and PCA
brightness drawn over a song's concert video, plus a static feature time-series figure per song.

Entry point: ``python -m visualization.main`` (see ``visualization/main.py``).
"""
