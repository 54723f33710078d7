"""Attention-transfer distillation (compressai_isp.distill, RAWtoBit §3.3 Eqs. 1-3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compressai_isp.distill import (
    ALPHA0_DECODER,
    ALPHA0_ENCODER,
    GAMMA,
    AttentionDistiller,
    Teacher,
    alpha_weight,
    attention_loss,
    attention_map,
    autoencoder_forward,
    encoder_forward,
    match_layers,
)


class Gate(nn.Module):
    """Channel attention as in RCAB: a 1x1 conv on globally pooled features."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))


class Coder(nn.Module):
    """A toy g_a / g_s pair shaped like RBN's: strided convs with a nonlinearity between."""

    def __init__(self, cin: int = 4, width: int = 6, latent: int = 5) -> None:
        super().__init__()
        self.g_a = nn.Sequential(
            nn.Conv2d(cin, width, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, latent, 3, 2, 1),
        )
        self.g_s = nn.Sequential(
            nn.ConvTranspose2d(latent, width, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1),
            Gate(width),
            nn.ConvTranspose2d(width, 3, 4, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_s(self.g_a(x))


def hook_count(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_attention_map_is_the_signed_channel_sum_of_eq1() -> None:
    a = torch.randn(2, 5, 3, 4)
    assert torch.equal(attention_map(a), a.sum(1))
    assert torch.allclose(attention_map(a, "abs"), a.abs().sum(1))
    assert torch.allclose(attention_map(a, "abs", p=2.0), a.pow(2).sum(1))
    with pytest.raises(ValueError, match="attention mode"):
        attention_map(a, "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        attention_map(a[0])


def test_attention_loss_is_eq2_per_sample() -> None:
    s, t = torch.randn(3, 4, 5, 6), torch.randn(3, 7, 5, 6)  # channel counts may differ
    expected = 0.0
    for b in range(3):
        ms, mt = s[b].sum(0).flatten(), t[b].sum(0).flatten()
        expected += ((ms / ms.norm() - mt / mt.norm()) ** 2).sum().item() / ms.numel()
    assert attention_loss(s, t).item() == pytest.approx(expected / 3, rel=1e-5)
    # Invariant to the scale of either map, zero for proportional maps.
    assert attention_loss(s, 3.0 * s).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="spatial size"):
        attention_loss(s, torch.randn(3, 4, 5, 5))


def test_alpha_follows_eq3_with_paper_defaults() -> None:
    assert (ALPHA0_ENCODER, ALPHA0_DECODER, GAMMA) == (1e6, 1e5, 0.99999)
    for k in (0, 1, 10, 300):
        assert alpha_weight(1e6, GAMMA, k) == pytest.approx(1e6 * GAMMA ** (k**2), rel=1e-9)
    assert alpha_weight(1e6, GAMMA, 1e6) == 0.0  # underflows cleanly, no overflow / NaN
    with pytest.raises(ValueError, match="gamma"):
        alpha_weight(1.0, 1.5, 1)
    with pytest.raises(ValueError, match="k must be"):
        alpha_weight(1.0, 0.9, -1)


def test_distiller_loss_matches_manual_computation_and_weights() -> None:
    student, teacher_enc, teacher_dec = Coder(), Coder(latent=9), Coder(cin=3)
    raw, srgb = torch.rand(2, 4, 16, 16), torch.rand(2, 3, 16, 16)
    enc_pairs = match_layers(student, teacher_enc, "g_a", sample_inputs=(raw, raw))
    assert enc_pairs == [("g_a.0", "g_a.0"), ("g_a.2", "g_a.2"), ("g_a.4", "g_a.4")]
    dec_pairs = match_layers(student, teacher_dec, "g_s", strategy="name")
    assert [s for s, _ in dec_pairs] == ["g_s.0", "g_s.2", "g_s.3.fc", "g_s.4"]

    k = 37
    with AttentionDistiller(
        student,
        [
            Teacher("enc", teacher_enc, enc_pairs, alpha0=ALPHA0_ENCODER),
            Teacher("dec", teacher_dec, dec_pairs, alpha0=ALPHA0_DECODER),
        ],
    ) as kd:
        student(raw)
        terms = kd.loss({"enc": raw, "dec": srgb}, progress=k)

    with torch.no_grad():
        s_a1, t_a1 = student.g_a[0](raw), teacher_enc.g_a[0](raw)
        s_d0 = student.g_s[0](student.g_a(raw))
        t_d0 = teacher_dec.g_s[0](teacher_dec.g_a(srgb))
    assert terms["kd/enc/g_a.0"].item() == pytest.approx(attention_loss(s_a1, t_a1).item())
    assert terms["kd/dec/g_s.0"].item() == pytest.approx(attention_loss(s_d0, t_d0).item())
    enc_sum = sum(terms[f"kd/enc/{s}"] for s, _ in enc_pairs)
    dec_sum = sum(terms[f"kd/dec/{s}"] for s, _ in dec_pairs)
    expected = 1e6 * GAMMA ** (k**2) * enc_sum + 1e5 * GAMMA ** (k**2) * dec_sum
    assert terms["kd"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_kd_gradient_reaches_the_student_only() -> None:
    student, teacher = Coder(), Coder()
    raw = torch.rand(2, 4, 16, 16)
    kd = AttentionDistiller(student, [Teacher("enc", teacher, ["g_a.0", "g_a.2"], alpha0=1.0)])
    teacher.train()  # the distiller must keep teachers frozen whatever the caller does
    student(raw)
    kd.loss({"enc": raw})["kd"].backward()
    assert student.g_a[0].weight.grad is not None and student.g_a[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert not teacher.training
    kd.detach()


def test_detach_leaves_the_student_exactly_as_before() -> None:
    student, teacher = Coder(), Coder()
    raw = torch.rand(2, 4, 16, 16)
    before_hooks = hook_count(student)
    state = {k: v.clone() for k, v in student.state_dict().items()}
    with torch.no_grad():
        ref = student(raw)

    kd = AttentionDistiller(student, [Teacher("enc", teacher, ["g_a.0", "g_a.4"])])
    assert hook_count(student) == before_hooks + 2
    with torch.no_grad():
        assert torch.equal(student(raw), ref)  # hooks only observe
    kd.detach()

    assert hook_count(student) == before_hooks
    assert hook_count(teacher) == 0
    assert set(student.state_dict()) == set(state)
    assert all(torch.equal(student.state_dict()[k], v) for k, v in state.items())
    assert not any("teacher" in name for name, _ in student.named_modules())
    with torch.no_grad():
        assert torch.equal(student(raw), ref)
    assert not kd._student_feats  # nothing recorded after detaching: no inference cost
    with pytest.raises(RuntimeError, match="detached"):
        kd.loss({"enc": raw})


def test_context_manager_detaches_even_on_error() -> None:
    student, teacher = Coder(), Coder()
    with pytest.raises(KeyError):
        with AttentionDistiller(student, [Teacher("enc", teacher, ["g_a.0"])]):
            raise KeyError("boom")
    assert hook_count(student) == 0


def test_kd_term_vanishes_as_alpha_decays() -> None:
    student, teacher = Coder(), Coder()
    raw = torch.rand(1, 4, 16, 16)
    kd = AttentionDistiller(student, [Teacher("enc", teacher, ["g_a.0"], gamma=0.9)])
    values = []
    for k in (0, 5, 50):
        student(raw)
        values.append(kd.loss({"enc": raw}, progress=k)["kd"].item())
    assert values[0] > values[1] > values[2] == 0.0
    assert values[1] == pytest.approx(values[0] * 0.9**25, rel=1e-5)


def test_bad_names_and_inputs_give_clear_errors() -> None:
    student, teacher = Coder(), Coder()
    with pytest.raises(ValueError, match="student has no layer named 'g_a.9'"):
        AttentionDistiller(student, [Teacher("enc", teacher, ["g_a.9"])])
    assert hook_count(student) == 0  # a failed attach leaves nothing behind
    with pytest.raises(ValueError, match="no layer pairs"):
        Teacher("enc", teacher, [])
    with pytest.raises(ValueError, match="unique"):
        AttentionDistiller(
            student, [Teacher("t", teacher, ["g_a.0"]), Teacher("t", teacher, ["g_a.0"])]
        )
    kd = AttentionDistiller(student, [Teacher("enc", teacher, ["g_a.0"])])
    with pytest.raises(RuntimeError, match="student forward"):
        kd.loss({"enc": torch.rand(1, 4, 16, 16)})
    student(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="no input for teacher 'enc'"):
        kd.loss({"dec": torch.rand(1, 4, 16, 16)})
    student(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="spatial size"):
        kd.loss({"enc": torch.rand(1, 4, 8, 8)})
    kd.detach()


def test_match_layers_reports_when_nothing_matches() -> None:
    student, teacher = Coder(), Coder()
    with pytest.raises(ValueError, match="no Conv2d/ConvTranspose2d layers match"):
        match_layers(
            student,
            teacher,
            "g_a",
            sample_inputs=(torch.rand(1, 4, 16, 16), torch.rand(1, 4, 48, 48)),
        )
    with pytest.raises(ValueError, match="model has no layer named 'h_a'"):
        match_layers(student, teacher, "h_a", strategy="name")
    with pytest.raises(ValueError, match="sample_inputs"):
        match_layers(student, teacher, "g_a")


def test_spatial_matching_pairs_the_last_layer_of_each_resolution() -> None:
    student, teacher = Coder(), Coder()
    x = torch.rand(1, 4, 16, 16)
    # g_s has two layers at 8x8 (the transposed conv and the 3x3 conv): the stage output wins;
    # the gate's 1x1 output carries no spatial attention and is never paired.
    pairs = match_layers(student, teacher, "g_s", student_forward=None, sample_inputs=(x, x))
    assert pairs == [("g_s.2", "g_s.2"), ("g_s.4", "g_s.4")]


def test_a_teachers_layer_pairs_are_public_with_single_names_expanded() -> None:
    teacher = Teacher("t", Coder(), ["g_a.0", ("g_s.0", "g_s.2")])
    assert teacher.layer_pairs == [("g_a.0", "g_a.0"), ("g_s.0", "g_s.2")]
    teacher.layer_pairs.clear()  # a copy: the teacher keeps its pairs
    assert len(teacher.layer_pairs) == 2


def test_teacher_forwards_run_the_transforms_and_round_the_latent_in_eval() -> None:
    model, x = Coder(), torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(encoder_forward(model, x), model.g_a(x))
        assert torch.equal(autoencoder_forward(model, x), model.g_s(model.g_a(x)))  # training
        model.eval()
        rounded = model.g_s(torch.round(model.g_a(x)))
        assert torch.equal(autoencoder_forward(model, x), rounded)
        assert not torch.equal(rounded, model.g_s(model.g_a(x)))
