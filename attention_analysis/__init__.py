"""Cross-modal attention of the separation models that have the audio-to-video attention block.

Per 4-s chunk the block's weights ``(batch, heads, T_audio, T_video)`` are averaged over heads and
reduced to ``audio_attention`` (mean over video time, one value per audio step) and
``video_attention`` (mean over audio time, one value per video step), written as
``<results>/attention_scores_<model>.json`` (artist → song → list of chunks) and drawn over time next to
the performer's audio RMS and motion.

Modules: ``weights`` (the reductions), ``checkpoints`` (which checkpoints have the block),
``figures``, ``pipeline`` (per-song work and files), ``attention_analysis`` / ``main`` (CLI).
"""
