"""compressai-isp: fully end-to-end camera pipelines for CompressAI.

RAW Bayer data in, a compressed bitstream out, a finished sRGB image back from the bitstream:
the RAWtoBit method (Jeong & Jung, "RAWtoBit: A Fully End-to-end Camera ISP Network",
ECCV Workshops 2022). Importing the package registers its architectures in CompressAI's
registry and loads third-party architectures from the ``compressai_isp.models`` entry points.
"""

import warnings

# CompressAI 1.2 calls torch.jit.script at import time, which recent PyTorch deprecates with a
# FutureWarning; it would otherwise precede every CLI message, one-line errors included.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)

from compressai_isp import models, zoo  # noqa: E402
from compressai_isp.zoo import create_model, list_models  # noqa: E402

__version__ = "0.1.0"

__all__ = ["models", "zoo", "create_model", "list_models", "__version__"]
