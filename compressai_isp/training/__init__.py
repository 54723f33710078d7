"""Training internals behind ``python -m compressai_isp.train``.

* :mod:`.config` — :class:`TrainConfig`, the one definition of a run and of its flags;
* :mod:`.tasks` — what each architecture sees and minimises (Eq. 4, bpp over sRGB pixels);
* :mod:`.loop` — :class:`Trainer`, which puts the parts below together and runs the loop;
* :mod:`.student`, :mod:`.arch_setup`, :mod:`.weights` — the model trained, its
  architecture's own set-up, initial weights;
* :mod:`.teachers` — the distillation teachers (on :mod:`compressai_isp.distill`);
* :mod:`.optim` — optimisers, learning-rate schedule, gradient scaler;
* :mod:`.logs` — ``log.csv``, TensorBoard, progress bar and printed lines;
* :mod:`.checkpointing` — which checkpoint a run resumes, the best one, ``model_best.pth``;
* :mod:`.checkpoint` — atomic checkpoint files, safe reading and RNG capture;
* :mod:`.sampling` — resumable, rank-sharded, per-sample-seeded data order (exact resume);
* :mod:`.distributed` — DistributedDataParallel under ``torchrun``;
* :mod:`.data` — ``-d/--dataset`` specs onto :mod:`compressai_isp.data`;
* :mod:`.errors` — the failures the CLI reports on one line.
"""

from compressai_isp.training.config import TeacherConfig, TrainConfig
from compressai_isp.training.data import TrainingData
from compressai_isp.training.errors import NonFiniteLossError, TrainingDataError, TrainingError
from compressai_isp.training.loop import Trainer
from compressai_isp.training.tasks import TASKS, Task, rd_loss

__all__ = [
    "TASKS",
    "NonFiniteLossError",
    "Task",
    "TeacherConfig",
    "TrainConfig",
    "Trainer",
    "TrainingData",
    "TrainingDataError",
    "TrainingError",
    "rd_loss",
]
