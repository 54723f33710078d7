"""Third-party architectures through the ``compressai_isp.models`` entry-point group.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."compressai_isp.models"]
    my-arch = "my_package.zoo:my_arch"

where ``my_arch(quality, metric="mse", pretrained=False, progress=True, **kwargs)`` builds the
model, exactly like the builders of :mod:`compressai_isp.zoo`. Importing the zoo adds every
plugin to ``image_models``; a plugin that fails to load is reported with a warning naming it
and skipped, so one broken package never breaks ``import compressai_isp``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, MutableMapping

import entrypoints

__all__ = ["ENTRY_POINT_GROUP", "load_plugins"]

ENTRY_POINT_GROUP = "compressai_isp.models"


def load_plugins(table: MutableMapping[str, Callable]) -> list[str]:
    """Add every plugin builder to ``table``; return the names added."""
    added = []
    try:
        points = entrypoints.get_group_all(ENTRY_POINT_GROUP)
    except Exception as err:  # a malformed metadata file of any installed distribution
        warnings.warn(f"compressai-isp: cannot scan plugins: {err}", stacklevel=2)
        return added
    for point in points:
        try:
            builder = point.load()
            if not callable(builder):
                raise TypeError(f"{point.object_name} is not callable")
        except Exception as err:
            warnings.warn(
                f"compressai-isp plugin {point.name!r} ({point.module_name}) failed to load: "
                f"{type(err).__name__}: {err}",
                stacklevel=2,
            )
            continue
        if point.name in table and table[point.name] is not builder:
            warnings.warn(
                f"compressai-isp plugin {point.name!r} ignored: the name is already taken",
                stacklevel=2,
            )
            continue
        table[point.name] = builder
        added.append(point.name)
    return added
