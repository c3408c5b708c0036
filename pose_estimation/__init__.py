"""Stage 1 and 2: whole-body pose of every performer (``--pose``) and one keypoint track per
instrument of the layout (``--post``). Entry point: ``python -m pose_estimation.main``.

Modules: ``tracking`` (performer finding/tracking, pure), ``mapping`` (MediaPipe → COCO-WholeBody
index tables, pure), ``postprocess`` (published clustering procedure, pure), ``pose_record`` (the
pickle format), ``mediapipe_backend`` / ``mmpose_backend`` / ``rtmlib_backend`` (the backends behind
``backends.Backend``), ``stage`` (per-song file I/O), ``main`` (CLI).
"""
