"""Training internals behind ``python -m compressai_isp.train``.

* :mod:`.tasks` — what each architecture sees and minimises (Eq. 4, bpp over sRGB pixels);
* :mod:`.loop` — :class:`Trainer` (optimisers, schedule, validation, checkpoints, logs, KD);
* :mod:`.sampling` — resumable, rank-sharded, per-sample-seeded data order (exact resume);
* :mod:`.checkpoint` — atomic checkpoint files and RNG capture;
* :mod:`.distributed` — DistributedDataParallel under ``torchrun``;
* :mod:`.data` — ``-d/--dataset`` specs onto :mod:`compressai_isp.data`.
"""

from compressai_isp.training.loop import (
    NonFiniteLossError,
    TeacherConfig,
    TrainConfig,
    Trainer,
    TrainingError,
)
from compressai_isp.training.tasks import TASKS, Task, rd_loss

__all__ = [
    "TASKS",
    "NonFiniteLossError",
    "Task",
    "TeacherConfig",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "rd_loss",
]
