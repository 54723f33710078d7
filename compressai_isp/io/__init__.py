"""Files that hold models, on the package's bottom floor (below models, zoo, training and codec).

* :mod:`.atomic`: :func:`atomic_open`, the one way files are written (a temp file, then
  ``os.replace``: readers see no file or a whole one), and :func:`remove_stale_temps`;
* :mod:`.state_file`: :func:`load_state_file`, the one safe reader of weights and checkpoints
  (``weights_only=True``, one-line errors naming the file, nothing in a file ever runs);
* :mod:`.identity`: :class:`ModelIdentity`, the one record of which model a card, a checkpoint,
  an export or a ``.rbit`` header names, and :func:`weights_fingerprint`;
* :mod:`.loading`: :func:`load_model`, the one loader of zoo cards, exports and checkpoints.

This package imports only :mod:`compressai_isp.registry` from the rest of the library.
"""

from compressai_isp.io.atomic import atomic_open, remove_stale_temps
from compressai_isp.io.identity import (
    DEFAULT_METRIC,
    FINGERPRINT_BYTES,
    UNRECORDED_INPUT_SPACE,
    ModelIdentity,
    weights_fingerprint,
)
from compressai_isp.io.loading import LoadedModel, ModelCard, load_model
from compressai_isp.io.state_file import load_state_bytes, load_state_file

__all__ = [
    "DEFAULT_METRIC",
    "FINGERPRINT_BYTES",
    "UNRECORDED_INPUT_SPACE",
    "LoadedModel",
    "ModelCard",
    "ModelIdentity",
    "atomic_open",
    "load_model",
    "load_state_bytes",
    "load_state_file",
    "remove_stale_temps",
    "weights_fingerprint",
]
