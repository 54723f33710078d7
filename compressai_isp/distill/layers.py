"""Finding the student and teacher layers to pair: by name, or by the stage each one ends."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = ["CONV_TYPES", "Forward", "get_layer", "match_layers"]

#: Layer types whose outputs are paired by default: "we apply the attention transfer between the
#: outputs of the convolutional layers" (§3.3).
CONV_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.ConvTranspose2d)

#: How a network consumes an input when it is not simply ``module(x)``.
Forward = Callable[[nn.Module, Any], Any]

Shapes = list[tuple[str, tuple[int, ...]]]


def get_layer(root: nn.Module, name: str, role: str) -> nn.Module:
    """``root``'s submodule ``name``; a ``ValueError`` naming ``role`` when there is none."""
    try:
        return root.get_submodule(name)
    except AttributeError:
        raise ValueError(f"{role} has no layer named {name!r}") from None


def _layers_under(
    root: nn.Module, prefix: str, types: tuple[type[nn.Module], ...], include: str | None
) -> list[str]:
    base = get_layer(root, prefix, "model") if prefix else root
    names = []
    for name, mod in base.named_modules():
        if not name or not isinstance(mod, types):
            continue
        full = f"{prefix}.{name}" if prefix else name
        if include is None or fnmatch.fnmatchcase(full, include):
            names.append(full)
    return names


def _probe_shapes(
    model: nn.Module, names: list[str], inputs: Any, forward: Forward | None
) -> Shapes:
    """Execution order and output shape of the named layers on one no-grad forward."""
    order: Shapes = []
    handles = []
    for n in names:

        def hook(_m: nn.Module, _i: Any, o: Any, n: str = n) -> None:
            if isinstance(o, Tensor):
                order.append((n, tuple(o.shape)))

        handles.append(model.get_submodule(n).register_forward_hook(hook))
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


def _last_layer_of_each_size(order: Shapes) -> dict[tuple[int, ...], str]:
    out: dict[tuple[int, ...], str] = {}
    for n, shape in order:
        # 1x1 outputs (channel-attention gates after global pooling) carry no spatial
        # attention: a normalised one-element map is a constant.
        if len(shape) == 4 and shape[-2] * shape[-1] > 1:
            out.pop(shape[-2:], None)  # re-insert so dict order is the stage's last use
            out[shape[-2:]] = n
    return out


def _pairs_by_name(
    s_names: list[str], t_names: list[str], prefix: str, teacher_prefix: str
) -> list[tuple[str, str]]:
    def relative(name: str, p: str) -> str:
        return name[len(p) + 1 :] if p else name

    t_by_rel = {relative(n, teacher_prefix): n for n in t_names}
    return [(s, t_by_rel[relative(s, prefix)]) for s in s_names if relative(s, prefix) in t_by_rel]


def _pairs_by_stage(
    student: tuple[nn.Module, list[str], Forward | None],
    teacher: tuple[nn.Module, list[str], Forward | None],
    sample_inputs: tuple[Any, Any] | None,
) -> list[tuple[str, str]]:
    if sample_inputs is None:
        raise ValueError(
            "match_layers(strategy='spatial') needs sample_inputs=(student_x, teacher_x)"
        )
    s_last = _last_layer_of_each_size(_probe_shapes(*student[:2], sample_inputs[0], student[2]))
    t_last = _last_layer_of_each_size(_probe_shapes(*teacher[:2], sample_inputs[1], teacher[2]))
    return [(n, t_last[size]) for size, n in s_last.items() if size in t_last]


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
    student_forward: Forward | None = None,
    teacher_forward: Forward | None = None,
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
    if strategy == "name":
        pairs = _pairs_by_name(s_names, t_names, prefix, teacher_prefix)
    elif strategy == "spatial":
        pairs = _pairs_by_stage(
            (student, s_names, student_forward), (teacher, t_names, teacher_forward), sample_inputs
        )
    else:
        raise ValueError(f"strategy must be 'spatial' or 'name', got {strategy!r}")
    if not pairs:
        type_names = "/".join(t.__name__ for t in types)
        raise ValueError(
            f"no {type_names} layers match between student {prefix!r} ({len(s_names)} candidates) "
            f"and teacher {teacher_prefix!r} ({len(t_names)} candidates) with strategy={strategy!r}"
        )
    return pairs
