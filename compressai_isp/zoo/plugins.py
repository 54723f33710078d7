"""Third-party architectures through the ``compressai_isp.models`` entry-point group.

A plugin package declares its architecture exactly as the built-in ones are declared, with an
:class:`~compressai_isp.registry.ArchSpec` next to its class, and names that spec in its
``pyproject.toml``::

    [project.entry-points."compressai_isp.models"]
    my-arch = "my_package:architecture"      # architecture = ArchSpec(name="my-arch", ...)

Importing the zoo registers every plugin's spec (:func:`~compressai_isp.registry.
register_architecture`), after which the architecture is in every table
(``zoo.image_models``, ``zoo.cfgs``, ``zoo.lambdas``, the trainer's ``--model`` choices, the
codec and eval), like a built-in one. The plugin itself changes nothing at import. A plugin
that fails to load, is not a spec, is named differently from its entry point, or takes a name
already registered is reported with a warning naming it and skipped, so one broken package
never breaks ``import compressai_isp``.
"""

from __future__ import annotations

import warnings

import entrypoints

from compressai_isp.registry import ARCHITECTURES, ArchSpec, register_architecture

__all__ = ["ENTRY_POINT_GROUP", "load_plugins"]

ENTRY_POINT_GROUP = "compressai_isp.models"


def _loaded_spec(point: entrypoints.EntryPoint) -> ArchSpec:
    spec = point.load()
    if not isinstance(spec, ArchSpec):
        raise TypeError(
            f"{point.object_name} is a {type(spec).__name__}, not a "
            "compressai_isp.registry.ArchSpec"
        )
    if spec.name != point.name:
        raise ValueError(f"{point.object_name} declares the architecture {spec.name!r}")
    return spec


def load_plugins() -> list[str]:
    """Register the spec of every ``compressai_isp.models`` entry point; return the names added."""
    added = []
    try:
        points = entrypoints.get_group_all(ENTRY_POINT_GROUP)
    except Exception as err:  # a malformed metadata file of any installed distribution
        warnings.warn(f"compressai-isp: cannot scan plugins: {err}", stacklevel=2)
        return added
    for point in points:
        try:
            spec = _loaded_spec(point)
        except Exception as err:
            warnings.warn(
                f"compressai-isp plugin {point.name!r} ({point.module_name}) failed to load: "
                f"{type(err).__name__}: {err}",
                stacklevel=2,
            )
            continue
        if ARCHITECTURES.get(point.name, spec) is not spec:
            warnings.warn(
                f"compressai-isp plugin {point.name!r} ignored: the name is already taken",
                stacklevel=2,
            )
            continue
        register_architecture(spec)
        added.append(point.name)
    return added
