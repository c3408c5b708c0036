"""Gradient saliency of the pose-conditioned separation models (VoViT family).

Which inputs (audio samples, face/body keypoints) does a separation model use to separate its
instrument? Captum attributes a scalar objective, ``MSE(estimate, target stem) × 2^16`` per 4-s chunk,
to the two inputs (the mixture wave and the keypoint tensor) with Integrated Gradients, vanilla
gradients or gradient × input. Per song we keep the mean |attribution| per keypoint and the audio
input's share of the total, plus dataset averages and figures.

Modules: ``objective`` (model + loss as one Captum forward function), ``baselines``,
``attribution`` (the Captum calls), ``summary`` (per-keypoint / per-part reductions, averages),
``correlation_filter`` (top/bottom x% of chunks by strong-window count), ``figures``, ``models``
(which checkpoint, which instrument), ``randomisation`` (re-initialised copy for the
model-randomisation sanity check, ``--randomise-weights``), ``pipeline`` (per-song work and files),
``cli``. Throughput: ``benchmarks/saliency_speed.py``.
"""
