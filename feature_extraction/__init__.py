"""Stage 3: motion features from keypoints, audio features from stems, and their sliding-window
correlation (DESIGN §5; file formats in docs/CONTRACTS.md "Features").

Modules: ``motion`` (general speed/acceleration, PCA), ``violin`` (bowing-arm features), ``vocal``
(registered-face features), ``audio`` (librosa features on video frames), ``correlation``
(vectorised sliding Pearson correlation, strong-window counts), ``plots`` (summary heatmap),
``pipeline`` (per-song file I/O and the runner), ``main`` (CLI).
"""
