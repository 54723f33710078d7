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

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ALPHA0_DECODER",
    "ALPHA0_ENCODER",
    "GAMMA",
    "AttentionDistiller",
    "AttentionMode",
    "Teacher",
    "alpha_weight",
    "attention_loss",
    "attention_map",
    "match_layers",
]

#: Paper defaults (§3.3): initial weight of the encoder (compression-teacher) and decoder
#: (ISP-teacher) attention terms, and the decay factor of Eq. 3.
ALPHA0_ENCODER: float = 1e6
ALPHA0_DECODER: float = 1e5
GAMMA: float = 0.99999

AttentionMode = Literal["signed", "abs"]

#: Layer types whose outputs are paired by default: "we apply the attention transfer between the
#: outputs of the convolutional layers" (§3.3).
CONV_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d)


def attention_map(features: Tensor, mode: AttentionMode = "signed", p: float = 1.0) -> Tensor:
    """Spatial attention map ``[B, H, W]`` of a feature tensor ``[B, C, H, W]``.

    ``mode="signed"`` is RAWtoBit's Eq. 1, the plain sum over channels, which keeps the sign of
    convolution outputs (the paper found absolute values harmful there). ``mode="abs"`` is the
    original attention transfer (Zagoruyko & Komodakis 2017): the sum of ``|A|^p``.
    Computed in float32 so mixed-precision training does not overflow the channel sum.
    """
    if features.dim() != 4:
        raise ValueError(
            "attention_map expects a [B, C, H, W] feature tensor, "
            f"got shape {tuple(features.shape)}"
        )
    a = features.float()
    if mode == "signed":
        return a.sum(dim=1)
    if mode == "abs":
        return a.abs().pow(p).sum(dim=1) if p != 1.0 else a.abs().sum(dim=1)
    raise ValueError(f"attention mode must be 'signed' or 'abs', got {mode!r}")


def attention_loss(
    student: Tensor, teacher: Tensor, mode: AttentionMode = "signed", p: float = 1.0
) -> Tensor:
    """One term ``L_AT^j`` of Eq. 2: MSE between per-sample L2-normalised attention maps.

    Each sample's flattened map is divided by its own L2 norm, the squared difference is averaged
    over the ``N_j = H_j * W_j`` elements (the ``1/N_j`` of Eq. 2) and over the batch.
    """
    if student.shape[0] != teacher.shape[0] or student.shape[-2:] != teacher.shape[-2:]:
        raise ValueError(
            "attention maps need the same batch and spatial size: student "
            f"{tuple(student.shape)} vs teacher {tuple(teacher.shape)}"
        )
    ms = F.normalize(attention_map(student, mode, p).flatten(1), dim=1)
    mt = F.normalize(attention_map(teacher, mode, p).flatten(1), dim=1)
    return (ms - mt).pow(2).mean()


def alpha_weight(alpha0: float, gamma: float, k: float) -> float:
    """Eq. 3: ``alpha0 * gamma ** (k ** 2)``; in log space so a large ``k`` underflows to 0."""
    if k < 0:
        raise ValueError(f"distillation progress k must be >= 0, got {k}")
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    return float(alpha0 * math.exp(k * k * math.log(gamma)))


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
            ``lambda t, x: t.g_a(x)`` to skip layers no pair needs.
    """

    name: str
    module: nn.Module
    pairs: Sequence[tuple[str, str] | str]
    alpha0: float = ALPHA0_ENCODER
    gamma: float = GAMMA
    forward: Callable[[nn.Module, Any], Any] | None = None
    _pairs: list[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pairs = [(p, p) if isinstance(p, str) else (str(p[0]), str(p[1])) for p in self.pairs]
        if not self._pairs:
            raise ValueError(f"teacher {self.name!r} has no layer pairs")


def _get_module(root: nn.Module, name: str, role: str) -> nn.Module:
    try:
        return root.get_submodule(name)
    except AttributeError:
        raise ValueError(f"{role} has no layer named {name!r}") from None


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
        if mode not in ("signed", "abs"):
            raise ValueError(f"attention mode must be 'signed' or 'abs', got {mode!r}")
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
        student_layers = {s for t in self.teachers for s, _ in t._pairs}
        # Resolve every name first so a typo fails before any hook is left behind.
        resolved = {s: _get_module(self.student, s, "student") for s in sorted(student_layers)}
        teacher_resolved = [
            (t, tl, _get_module(t.module, tl, f"teacher {t.name!r}"))
            for t in self.teachers
            for _, tl in t._pairs
        ]
        for name, mod in resolved.items():
            self._handles.append(mod.register_forward_hook(self._student_hook(name)))
        seen: set[tuple[str, str]] = set()
        for t, tl, mod in teacher_resolved:
            if (t.name, tl) not in seen:
                seen.add((t.name, tl))
                self._handles.append(mod.register_forward_hook(self._teacher_hook(t.name, tl)))
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
                alpha = alpha_weight(t.alpha0, t.gamma, progress)
                t_sum: Tensor | None = None
                for s_name, t_name in t._pairs:
                    if s_name not in self._student_feats:
                        raise RuntimeError(
                            f"student layer {s_name!r} produced no output; run the student "
                            "forward before AttentionDistiller.loss()"
                        )
                    s_feat = self._student_feats[s_name]
                    t_feat = self._teacher_feats.get((t.name, t_name))
                    if t_feat is None:
                        raise RuntimeError(
                            f"teacher {t.name!r} layer {t_name!r} was not executed by its forward"
                        )
                    try:
                        term = attention_loss(s_feat, t_feat, self.mode, self.p)
                    except ValueError as e:
                        raise ValueError(
                            f"pair student {s_name!r} / teacher {t.name}:{t_name!r}: {e}"
                        ) from None
                    out[f"kd/{t.name}/{s_name}"] = term.detach()
                    t_sum = term if t_sum is None else t_sum + term
                assert t_sum is not None
                weighted = alpha * t_sum
                out[f"kd/{t.name}"] = weighted
                total = weighted if total is None else total + weighted
            assert total is not None
            out["kd"] = total
            return out
        finally:
            self.clear()


# -- automatic layer matching --------------------------------------------------------------------


def _layers_under(
    root: nn.Module, prefix: str, types: tuple[type[nn.Module], ...], include: str | None
) -> list[str]:
    base = _get_module(root, prefix, "model") if prefix else root
    names = []
    for name, mod in base.named_modules():
        if not name or not isinstance(mod, types):
            continue
        full = f"{prefix}.{name}" if prefix else name
        if include is None or fnmatch.fnmatchcase(full, include):
            names.append(full)
    return names


def _probe_shapes(
    model: nn.Module, names: list[str], inputs: Any, forward: Callable[[nn.Module, Any], Any] | None
) -> list[tuple[str, tuple[int, ...]]]:
    """Execution order and output shape of the named layers on one no-grad forward."""
    order: list[tuple[str, tuple[int, ...]]] = []
    handles = []
    for n in names:
        mod = model.get_submodule(n)

        def hook(_m: nn.Module, _i: Any, o: Any, n: str = n) -> None:
            if isinstance(o, Tensor):
                order.append((n, tuple(o.shape)))

        handles.append(mod.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(inputs) if forward is None else forward(model, inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return order


def match_layers(
    student: nn.Module,
    teacher: nn.Module,
    prefix: str,
    teacher_prefix: str | None = None,
    *,
    strategy: Literal["spatial", "name"] = "spatial",
    sample_inputs: tuple[Any, Any] | None = None,
    types: tuple[type[nn.Module], ...] = CONV_TYPES,
    include: str | None = None,
    student_forward: Callable[[nn.Module, Any], Any] | None = None,
    teacher_forward: Callable[[nn.Module, Any], Any] | None = None,
) -> list[tuple[str, str]]:
    """Pair student and teacher layers (convolutions by default) under ``prefix``.

    ``strategy="name"``: layers with the same path relative to the prefixes, e.g. RBN's ``g_s``
    and the ISP teacher's ``g_s``, which are identical modules.

    ``strategy="spatial"``: run both networks once on ``sample_inputs = (student_x, teacher_x)``
    and pair, for every output spatial size the two share, the *last* layer producing that size
    (the output of that resolution stage), in execution order; 1x1 outputs (channel-attention
    gates) are skipped. For RBN's ``g_a`` and the
    compression teacher's ``g_a`` this pairs the four strided convolutions even though the last
    one has a different width (channel sums do not care).

    ``include`` is an optional glob on the full layer name (e.g. ``"g_s.*conv*"``). Raises
    ``ValueError`` naming the prefixes when nothing matches.
    """
    teacher_prefix = prefix if teacher_prefix is None else teacher_prefix
    s_names = _layers_under(student, prefix, types, include)
    t_include = None
    if include is not None:
        t_include = include.replace(prefix, teacher_prefix, 1) if prefix else include
    t_names = _layers_under(teacher, teacher_prefix, types, t_include)
    type_names = "/".join(t.__name__ for t in types)

    if strategy == "name":

        def rel(n: str, p: str) -> str:
            return n[len(p) + 1 :] if p else n

        t_by_rel = {rel(n, teacher_prefix): n for n in t_names}
        pairs = [(s, t_by_rel[rel(s, prefix)]) for s in s_names if rel(s, prefix) in t_by_rel]
    elif strategy == "spatial":
        if sample_inputs is None:
            raise ValueError(
                "match_layers(strategy='spatial') needs sample_inputs=(student_x, teacher_x)"
            )
        s_order = _probe_shapes(student, s_names, sample_inputs[0], student_forward)
        t_order = _probe_shapes(teacher, t_names, sample_inputs[1], teacher_forward)

        def last_by_size(order: list[tuple[str, tuple[int, ...]]]) -> dict[tuple[int, ...], str]:
            out: dict[tuple[int, ...], str] = {}
            for n, shape in order:
                # 1x1 outputs (channel-attention gates after global pooling) carry no spatial
                # attention: a normalised one-element map is a constant.
                if len(shape) == 4 and shape[-2] * shape[-1] > 1:
                    out.pop(shape[-2:], None)  # re-insert so dict order is the stage's last use
                    out[shape[-2:]] = n
            return out

        s_last, t_last = last_by_size(s_order), last_by_size(t_order)
        pairs = [(n, t_last[size]) for size, n in s_last.items() if size in t_last]
    else:
        raise ValueError(f"strategy must be 'spatial' or 'name', got {strategy!r}")

    if not pairs:
        raise ValueError(
            f"no {type_names} layers match between student {prefix!r} ({len(s_names)} candidates) "
            f"and teacher {teacher_prefix!r} ({len(t_names)} candidates) with strategy={strategy!r}"
        )
    return pairs
