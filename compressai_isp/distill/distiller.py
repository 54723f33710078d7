"""Frozen teachers attached to a student through forward hooks, and the loss they give."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from compressai_isp.distill.attention import AttentionMode, attention_loss, check_mode
from compressai_isp.distill.layers import Forward, get_layer
from compressai_isp.distill.schedule import ALPHA0_ENCODER, GAMMA, alpha_weight

__all__ = ["AttentionDistiller", "Teacher", "autoencoder_forward", "encoder_forward"]


def encoder_forward(model: nn.Module, x: Tensor) -> Tensor:
    """Run only the analysis transform ``g_a`` (all an encoder pair needs)."""
    return model.g_a(x)


def autoencoder_forward(model: nn.Module, x: Tensor) -> Tensor:
    """Run ``g_s(g_a(x))`` without the entropy model, which no attention pair needs.

    Out of training mode the decoder sees its rounded latent (its inference-time input), so a
    frozen teacher's decoder is supervised on what it decodes in use."""
    y = model.g_a(x)
    return model.g_s(torch.round(y) if not model.training else y)


@dataclass
class Teacher:
    """A frozen teacher and the student/teacher layer pairs it supervises.

    Args:
        name: key of this teacher's input in :meth:`AttentionDistiller.loss` and prefix of its
            loss terms.
        module: the teacher network; it is put in eval mode and its parameters are frozen.
        pairs: ``(student_layer, teacher_layer)`` names as in ``named_modules()``; a single
            string pairs the same name in both networks.
        alpha0, gamma: Eq. 3 weight of every pair of this teacher.
        forward: how the teacher consumes its input; defaults to ``module(x)``. Use e.g.
            :func:`encoder_forward` to skip layers no pair needs.
    """

    name: str
    module: nn.Module
    pairs: Sequence[tuple[str, str] | str]
    alpha0: float = ALPHA0_ENCODER
    gamma: float = GAMMA
    forward: Forward | None = None
    _pairs: list[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pairs = [(p, p) if isinstance(p, str) else (str(p[0]), str(p[1])) for p in self.pairs]
        if not self._pairs:
            raise ValueError(f"teacher {self.name!r} has no layer pairs")

    @property
    def layer_pairs(self) -> list[tuple[str, str]]:
        """``(student_layer, teacher_layer)`` of every pair, single names expanded."""
        return list(self._pairs)


class AttentionDistiller:
    """Attention-transfer distillation from frozen teachers into ``student`` via forward hooks.

    Hooks are attached on construction and removed by :meth:`detach` (or on leaving a ``with``
    block). The teachers are *not* registered as submodules of the student, so the student's
    ``state_dict``, ``parameters()`` and optimiser never see them.

    Args:
        student: the network being trained (the bare module, not a DDP wrapper: hooks on the
            inner module fire through the wrapper).
        teachers: one or more :class:`Teacher`.
        mode, p: attention map of Eq. 1 (``"signed"``) or the original AT (``"abs"``, ``|.|^p``).
    """

    def __init__(
        self,
        student: nn.Module,
        teachers: Iterable[Teacher],
        mode: AttentionMode = "signed",
        p: float = 1.0,
    ) -> None:
        check_mode(mode)
        self.student = student
        self.teachers = list(teachers)
        if not self.teachers:
            raise ValueError("AttentionDistiller needs at least one teacher")
        names = [t.name for t in self.teachers]
        if len(set(names)) != len(names):
            raise ValueError(f"teacher names must be unique, got {names}")
        self.mode: AttentionMode = mode
        self.p = p
        self._student_feats: dict[str, Tensor] = {}
        self._teacher_feats: dict[tuple[str, str], Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._capturing: str | None = None
        for t in self.teachers:
            t.module.eval()
            t.module.requires_grad_(False)
        self.attach()

    # -- hooks ---------------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def attach(self) -> AttentionDistiller:
        """Register the hooks (done by the constructor; a no-op when already attached)."""
        if self._handles:
            return self
        student_layers = {s for t in self.teachers for s, _ in t.layer_pairs}
        # Resolve every name first so a typo fails before any hook is left behind.
        resolved = {s: get_layer(self.student, s, "student") for s in sorted(student_layers)}
        teacher_layers = {
            (t.name, tl): get_layer(t.module, tl, f"teacher {t.name!r}")
            for t in self.teachers
            for _, tl in t.layer_pairs
        }
        for name, mod in resolved.items():
            self._handles.append(mod.register_forward_hook(self._student_hook(name)))
        for (teacher, name), mod in teacher_layers.items():
            self._handles.append(mod.register_forward_hook(self._teacher_hook(teacher, name)))
        return self

    def detach(self) -> None:
        """Remove every hook and drop recorded features; the student is left exactly as before."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self.clear()

    def clear(self) -> None:
        """Drop recorded features (they hold autograd graphs until the loss is computed)."""
        self._student_feats.clear()
        self._teacher_feats.clear()

    def __enter__(self) -> AttentionDistiller:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _student_hook(self, name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            # A layer called twice in one forward (weight sharing) keeps its last output.
            self._student_feats[name] = output

        return hook

    def _teacher_hook(self, teacher: str, name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if self._capturing == teacher:
                self._teacher_feats[(teacher, name)] = output

        return hook

    # -- loss ----------------------------------------------------------------------------------

    def to(self, device: torch.device | str) -> AttentionDistiller:
        for t in self.teachers:
            t.module.to(device)
        return self

    def weights(self, progress: float) -> dict[str, float]:
        """``alpha`` of Eq. 3 for each teacher at training progress ``k``."""
        return {t.name: alpha_weight(t.alpha0, t.gamma, progress) for t in self.teachers}

    @torch.no_grad()
    def run_teachers(self, inputs: Mapping[str, Any]) -> None:
        """Run each teacher (eval mode, no gradients) on ``inputs[teacher.name]``."""
        for t in self.teachers:
            if t.name not in inputs:
                raise ValueError(
                    f"no input for teacher {t.name!r}; got inputs for {sorted(inputs)}"
                )
            if t.module.training:  # a student.train() elsewhere must not unfreeze BN/quantisers
                t.module.eval()
            self._capturing = t.name
            try:
                if t.forward is None:
                    t.module(inputs[t.name])
                else:
                    t.forward(t.module, inputs[t.name])
            finally:
                self._capturing = None

    def loss(self, inputs: Mapping[str, Any], progress: float = 0.0) -> dict[str, Tensor]:
        """Attention loss for the student's last forward.

        Runs the teachers on ``inputs`` (keyed by teacher name), then returns a dict with the
        weighted total ``"kd"``, each teacher's weighted sum ``"kd/<teacher>"`` and each
        unweighted pair term ``"kd/<teacher>/<student_layer>"``. Recorded features are cleared.
        """
        if not self.attached:
            raise RuntimeError("the distiller is detached; call attach() before loss()")
        self.run_teachers(inputs)
        try:
            out: dict[str, Tensor] = {}
            total: Tensor | None = None
            for t in self.teachers:
                weighted = alpha_weight(t.alpha0, t.gamma, progress) * self._teacher_terms(t, out)
                out[f"kd/{t.name}"] = weighted
                total = weighted if total is None else total + weighted
            assert total is not None  # there is at least one teacher
            out["kd"] = total
            return out
        finally:
            self.clear()

    def _teacher_terms(self, t: Teacher, out: dict[str, Tensor]) -> Tensor:
        """The unweighted sum of ``t``'s pair terms; each term is recorded in ``out``."""
        t_sum: Tensor | None = None
        for s_name, t_name in t.layer_pairs:
            if s_name not in self._student_feats:
                raise RuntimeError(
                    f"student layer {s_name!r} produced no output; run the student "
                    "forward before AttentionDistiller.loss()"
                )
            t_feat = self._teacher_feats.get((t.name, t_name))
            if t_feat is None:
                raise RuntimeError(
                    f"teacher {t.name!r} layer {t_name!r} was not executed by its forward"
                )
            try:
                term = attention_loss(self._student_feats[s_name], t_feat, self.mode, self.p)
            except ValueError as e:
                raise ValueError(
                    f"pair student {s_name!r} / teacher {t.name}:{t_name!r}: {e}"
                ) from None
            out[f"kd/{t.name}/{s_name}"] = term.detach()
            t_sum = term if t_sum is None else t_sum + term
        assert t_sum is not None  # a Teacher has at least one pair
        return t_sum
