"""compressai-isp: fully end-to-end camera pipelines for CompressAI.

RAW Bayer data in, a compressed bitstream out, a finished sRGB image back from the bitstream:
the RAWtoBit method (Jeong & Jung, "RAWtoBit: A Fully End-to-end Camera ISP Network",
ECCV Workshops 2022). Importing the package registers its architectures in CompressAI's
registry and loads third-party architectures from the ``compressai_isp.models`` entry points.
"""

from compressai_isp import models, zoo
from compressai_isp.zoo import create_model, list_models

__version__ = "0.1.0"

__all__ = ["models", "zoo", "create_model", "list_models", "__version__"]
