"""Attention-transfer knowledge distillation for any ``nn.Module`` (RAWtoBit §3.3, Eqs. 1-3).

A :class:`AttentionDistiller` attaches one or more frozen teachers to a student through forward
hooks on named layers. Every student forward records the hooked outputs;
:meth:`~AttentionDistiller.loss` then runs each teacher on *its own* input (the compression
teacher sees the packed RAW, the ISP teacher the ground-truth sRGB), records the paired teacher
layers, and returns the attention loss

    L_AT = sum_j alpha_j * || M_j^S / ||M_j^S||_2  -  M_j^T / ||M_j^T||_2 ||_2^2 / N_j      (Eq. 2)

with ``M_j = sum_c A_j[c]`` (Eq. 1, signed sum; the original attention transfer's sum of
``|A|^p`` is an option) and ``alpha_j = alpha0 * gamma ** (k ** 2)`` (Eq. 3), where ``k`` is the
training progress (epochs in the paper; the trainer may count steps instead).

Detaching removes every hook, so the student is exactly the module it was before: same
parameters, same outputs, no extra work at inference.

The package knows nothing of training; its modules, bottom up:

* :mod:`.attention` — attention maps (Eq. 1) and the per-pair loss (Eq. 2);
* :mod:`.schedule` — the weight ``alpha`` of Eq. 3 and the paper's ``alpha0`` / ``gamma``;
* :mod:`.layers` — which student layer pairs with which teacher layer (:func:`match_layers`);
* :mod:`.distiller` — :class:`Teacher`, :class:`AttentionDistiller` and the teacher forwards of
  CompressAI-style models (:func:`encoder_forward`, :func:`autoencoder_forward`).

Example::

    from compressai_isp.distill import AttentionDistiller, Teacher, match_layers

    enc_pairs = match_layers(student, comp_teacher, "g_a", sample_inputs=(raw, raw))
    dec_pairs = match_layers(student, isp_teacher, "g_s", strategy="name")
    with AttentionDistiller(student, [
        Teacher("enc", comp_teacher, enc_pairs, alpha0=1e6),
        Teacher("dec", isp_teacher, dec_pairs, alpha0=1e5),
    ]) as kd:
        out = student(raw)
        terms = kd.loss({"enc": raw, "dec": srgb}, progress=epoch)
        (rd_loss(out) + terms["kd"]).backward()
"""

from compressai_isp.distill.attention import AttentionMode, attention_loss, attention_map
from compressai_isp.distill.distiller import (
    AttentionDistiller,
    Teacher,
    autoencoder_forward,
    encoder_forward,
)
from compressai_isp.distill.layers import CONV_TYPES, match_layers
from compressai_isp.distill.schedule import ALPHA0_DECODER, ALPHA0_ENCODER, GAMMA, alpha_weight

__all__ = [
    "ALPHA0_DECODER",
    "ALPHA0_ENCODER",
    "CONV_TYPES",
    "GAMMA",
    "AttentionDistiller",
    "AttentionMode",
    "Teacher",
    "alpha_weight",
    "attention_loss",
    "attention_map",
    "autoencoder_forward",
    "encoder_forward",
    "match_layers",
]
