"""The training engine behind ``python -m compressai_isp.train`` (see that module for the CLI).

One :class:`Trainer` serves every architecture. It is put together from parts, each built by
its own module from the run's :class:`~compressai_isp.training.config.TrainConfig`:

* the student (:mod:`.student`, with the architecture's own set-up from :mod:`.arch_setup`)
  and what it minimises (:mod:`.tasks`);
* the distillation teachers (:mod:`.teachers`, on :mod:`compressai_isp.distill`);
* the optimisation: optimisers, schedule, gradient scaler (:mod:`.optim`);
* the logs: CSV, TensorBoard, progress bar, printed lines (:mod:`.logs`);
* the checkpoints: resume, best, export (:mod:`.checkpointing`, file format in
  :mod:`.checkpoint`).

The datasets are not part of the config: the trainer receives them as
:class:`~compressai_isp.training.data.TrainingData`.

Exact resumption: a checkpoint written after step ``s`` holds the model, both optimisers, the
AMP scaler, the step / epoch / position in the epoch, the best validation loss and every rank's
Python / NumPy / torch RNG states; the data order and each sample's random crop depend only on
``(seed, epoch, position)`` (:mod:`compressai_isp.training.sampling`) and the learning rate only
on the step. Restarting from it therefore replays steps ``s+1, s+2, ...`` exactly as the
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from compressai_isp.distill import AttentionDistiller
from compressai_isp.metrics import psnr_per_image
from compressai_isp.precision import TransformPrecision, resolve_precision
from compressai_isp.training import distributed as ddp
from compressai_isp.training.arch_setup import SetupContext
from compressai_isp.training.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from compressai_isp.training.checkpointing import (
    best_on_disk,
    check_model_config,
    export_model,
    find_resume_state,
    remove_stale_outputs,
)
from compressai_isp.training.config import TeacherConfig, TrainConfig, check_config, config_record
from compressai_isp.training.data import TrainingData
from compressai_isp.training.errors import NonFiniteLossError, TrainingDataError, TrainingError
from compressai_isp.training.logs import RunLog
from compressai_isp.training.optim import Optimisation
from compressai_isp.training.sampling import ResumableSampler, SeededDataset
from compressai_isp.training.student import (
    build_student,
    rate_lambda,
    resolve_input_space,
    student_kwargs,
    student_quality,
)
from compressai_isp.training.tasks import TASKS, Task, aux_parameters, model_output, rd_loss
from compressai_isp.training.teachers import Distillation, build_distillation
from compressai_isp.training.weights import load_into

__all__ = [
    "NonFiniteLossError",
    "TeacherConfig",
    "TrainConfig",
    "Trainer",
    "TrainingData",
    "TrainingDataError",
    "TrainingError",
]

#: Training budget when none of --epochs / --max-steps / --max-time is given (CompressAI's).
DEFAULT_EPOCHS = 100


def _concat(sets: list[Dataset]) -> Dataset:
    sets = [s for s in sets if len(s) > 0]  # type: ignore[arg-type]
    if not sets:
        raise TrainingError("the dataset is empty (no usable images found)")
    return sets[0] if len(sets) == 1 else ConcatDataset(sets)


def _resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    try:
        return resolve_precision(precision, device)
    except ValueError as err:
        raise TrainingError(f"--precision: {err}") from None


class Trainer:
    """Model, teachers, data, optimisers and logs of one run, from a :class:`TrainConfig`."""

    def __init__(self, cfg: TrainConfig, data: TrainingData) -> None:
        check_config(cfg)
        self.cfg = cfg = resolve_input_space(cfg)
        self.task: Task = TASKS[cfg.arch]
        self.dist, self.device = ddp.setup(cfg.cuda)
        self.dtype = _resolve_dtype(cfg.precision, self.device)
        self.save_dir = cfg.save_dir
        self._stop_signal: str | None = None
        self.resume_state, self.resume_path = find_resume_state(cfg)
        self.seed = self._seed_generators()
        self.quality = student_quality(cfg)
        ctx = SetupContext(resuming=self.resume_state is not None, announce=self.dist.is_main)
        self.model = build_student(cfg, ctx, self.device, self.dtype)
        self.input_kind = getattr(self.model, "input_kind", self.task.input)
        self.lmbda = rate_lambda(cfg, self.task)
        self._set_up_data(data)
        self.distillation: Distillation | None = build_distillation(
            self.model, cfg, self.quality, self.device, self.dtype, self.input_kind
        )
        self.net = self._training_network()
        self.optim = Optimisation(self.model, cfg, self.dtype, self.device.type)
        self.step = self.epoch = self.batch_in_epoch = 0
        self.best_val = math.inf
        if self.resume_state is not None:
            self._resume(self.resume_state)

    @property
    def distiller(self) -> AttentionDistiller | None:
        """The attention distiller hooked to the student (None without teachers)."""
        return None if self.distillation is None else self.distillation.distiller

    # -- building ------------------------------------------------------------------------------
    def _seed_generators(self) -> int:
        """Seed every generator of this rank; a resumed run keeps its checkpoint's seed (the data
        order and per-sample seeds derive from it)."""
        seed = self.cfg.seed
        if self.resume_state is not None:
            saved = self.resume_state["seed"]
            if seed is not None and seed != saved and self.dist.is_main:
                print(
                    f"warning: --seed {seed} ignored, resuming with the checkpoint's seed {saved}",
                    file=sys.stderr,
                )
            seed = saved
        elif seed is None:
            seed = random.SystemRandom().randrange(1 << 31)
        seed = int(seed)
        random.seed(seed + self.dist.rank)
        np.random.seed((seed + self.dist.rank) % (1 << 32))
        torch.manual_seed(seed + self.dist.rank)
        return seed

    def _set_up_data(self, data: TrainingData) -> None:
        cfg = self.cfg
        if not data.train:
            raise TrainingError("no training data: give -d/--dataset")
        self.data = data
        self.train_set = SeededDataset(_concat(data.train))
        validates = cfg.validate and bool(data.val)
        self.val_set = SeededDataset(_concat(data.val)) if validates else None
        per_rank = -(-len(self.train_set) // self.dist.world_size)
        if per_rank < cfg.batch_size:
            raise TrainingError(
                f"the training set has {len(self.train_set)} samples per epoch "
                f"({per_rank} per process), fewer than --batch-size {cfg.batch_size}: give "
                f"--batch-size {per_rank} or less, or more training images"
            )
        self.steps_per_epoch = per_rank // cfg.batch_size
        self.sampler = ResumableSampler(
            len(self.train_set), self.seed, rank=self.dist.rank, world_size=self.dist.world_size
        )
        no_budget = cfg.epochs is None and cfg.max_steps is None and cfg.max_time is None
        self.epochs = DEFAULT_EPOCHS if no_budget else cfg.epochs

    def _training_network(self) -> nn.Module:
        """What the training forward runs: DDP over the model, or the (compiled) model."""
        if self.dist.enabled:
            aux_names = [n for n, _ in aux_parameters(self.model)]
            # Distortion-only tasks leave the entropy model out of the graph.
            return ddp.wrap_model(
                self.model,
                aux_names,
                self.dist,
                self.device,
                find_unused_parameters=not self.task.rate,
            )
        return torch.compile(self.model) if self.cfg.compile else self.model

    def log_fields(self) -> list[str]:
        """Columns of ``log.csv``: training rows fill all, validation rows the first seven."""
        fields = ["step", "epoch", "split", "loss", "mse", "bpp", "psnr", "lr", "aux"]
        fields += ["grad_norm", "sec_per_step"]
        if self.cfg.metric == "ms-ssim":
            fields.insert(7, "ms_ssim")
        if self.distillation is not None:
            fields += self.distillation.log_fields()
        return fields

    def kd_progress(self) -> float:
        """``k`` of Eq. 3: completed epochs (paper) or optimisation steps."""
        return float(self.epoch if self.cfg.kd_unit == "epoch" else self.step)

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self, rng: list[Any]) -> dict[str, Any]:
        """The training checkpoint: everything exact resumption needs, and the run's config."""
        return {
            "version": 1,
            "arch": self.cfg.arch,
            # The quality asked for (None without --quality: the zoo's first widths were built,
            # and a stream header must not name a quality the run never had).
            "quality": self.cfg.quality,
            "metric": self.cfg.metric,
            "lmbda": self.lmbda,
            "model_config": getattr(self.model, "config", None),
            "train_config": config_record(self.cfg),
            "state_dict": self.model.state_dict(),
            **self.optim.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_loss": self.best_val,
            "seed": self.seed,
            "world_size": self.dist.world_size,
            "rng": rng,
            "datasets": list(self.data.description),
            # A third-party model without precision-aware transforms runs in float32.
            "precision": getattr(
                self.model, "transform_precision", TransformPrecision()
            ).describe(),
        }

    def _resume(self, st: dict[str, Any]) -> None:
        try:
            self._restore(st)
        except TrainingError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            first = (str(err).strip().splitlines() or [""])[0][:200]
            raise TrainingError(
                f"checkpoint {self.resume_path} cannot be resumed ({type(err).__name__}: {first})"
            ) from None

    def _restore(self, st: dict[str, Any]) -> None:
        path = str(self.resume_path)
        check_model_config(st, self.model, path)
        load_into(self.model, st["state_dict"], path, "checkpoint")
        self.step, self.epoch = int(st["step"]), int(st["epoch"])
        self.optim.load_state_dict(st, self.step, f"checkpoint {path}")
        self.batch_in_epoch = int(st["batch_in_epoch"])
        self.best_val = min(float(st.get("best_loss", math.inf)), best_on_disk(self.save_dir))
        rngs = st.get("rng") or []
        if st.get("world_size") == self.dist.world_size and len(rngs) == self.dist.world_size:
            set_rng_state(rngs[self.dist.rank])
        elif self.dist.is_main:
            print(
                f"warning: checkpoint was written by {st.get('world_size')} process(es), this "
                f"run has {self.dist.world_size}: RNG streams are re-seeded, resumption is not "
                "bit-exact",
                file=sys.stderr,
            )

    def save(self, name: str = CHECKPOINT_NAME, rng: Any = None) -> Path:
        """Write a checkpoint (every rank takes part in gathering RNG states; rank 0 writes)."""
        rngs = ddp.gather_objects(rng if rng is not None else rng_state(), self.dist)
        path = self.save_dir / name
        if self.dist.is_main:
            save_checkpoint(self.state(rngs), path)
        ddp.barrier(self.dist)
        return path

    def export(self) -> Path | None:
        """``model_best.pth``: the best (else latest) weights with the entropy coder's tables."""
        if not self.dist.is_main:
            return None
        # The trained model's own widths: --pretrained weights may differ from the zoo's defaults.
        widths = getattr(self.model, "config", None) or student_kwargs(self.cfg)
        return export_model(self.cfg, self.quality, self.lmbda, widths, self.data.description)

    # -- one step ------------------------------------------------------------------------------
    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The teachers' forward for distillation: attention maps are summed in float32."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def _to_device(self, batch: Any) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, (list, tuple)) or len(batch) != 2:
            raise TrainingError("datasets must yield (raw, srgb) pairs")
        raw, srgb = batch
        return raw.to(self.device, non_blocking=True), srgb.to(self.device, non_blocking=True)

    def train_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, float]:
        """One optimisation step on ``(raw, srgb)``; the step's log entries."""
        raw, srgb = batch
        inp, target = self.task.split((raw, srgb))
        self.optim.zero_grad()
        out = self.net(inp)  # the model runs its transforms in self.dtype itself
        terms = rd_loss(out, inp, target, self.task, self.lmbda, self.input_kind, self.cfg.metric)
        loss = terms["loss"]
        logs: dict[str, float] = {"lr": self.optim.lr}
        if self.distillation is not None:
            kd, kd_logs = self.distillation.terms(raw, srgb, self.kd_progress(), self._autocast())
            loss = loss + kd
            logs.update(kd_logs)
        grad_norm = self._optimise(loss)
        if self.optim.aux_optimizer is not None:
            logs["aux"] = self._aux_step()
        logs.update(self._step_metrics(out, target, terms, loss, grad_norm))
        return logs

    def _optimise(self, loss: Tensor) -> float:
        """Backward, clip, step and schedule; the gradient norm before clipping (NaN: no
        clipping). A non-finite loss or gradient on any rank stops every rank."""
        finite = bool(torch.isfinite(loss.detach()))
        if ddp.broadcast_flag(not finite, self.dist, self.device):
            raise NonFiniteLossError(f"loss is {float(loss.detach())}")
        optimizer, scaler = self.optim.optimizer, self.optim.scaler
        scaler.scale(loss).backward()
        grad_norm = math.nan
        if self.cfg.clip_max_norm > 0:
            scaler.unscale_(optimizer)
            params = [p for g in optimizer.param_groups for p in g["params"]]
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.clip_max_norm))
            # fp16 overflows are the scaler's to skip, not a divergence.
            bad_grad = not math.isfinite(grad_norm) and self.dtype != torch.float16
            if ddp.broadcast_flag(bad_grad, self.dist, self.device):
                raise NonFiniteLossError(f"gradient norm is {grad_norm}")
        scaler.step(optimizer)
        scaler.update()
        self.optim.scheduler.step()
        return grad_norm

    def _aux_step(self) -> float:
        """CompressAI's auxiliary step on the entropy bottleneck's quantiles."""
        aux = self.model.aux_loss()
        aux.backward()
        ddp.all_reduce_grads(self.optim.aux_params, self.dist)
        assert self.optim.aux_optimizer is not None
        self.optim.aux_optimizer.step()
        return float(aux.detach())

    def _step_metrics(
        self, out: Any, target: Tensor, terms: dict[str, Tensor], loss: Tensor, grad_norm: float
    ) -> dict[str, float]:
        x_hat, _ = model_output(out)
        with torch.no_grad():
            psnr = float(psnr_per_image(x_hat.detach().clamp(0, 1).float(), target.float()).mean())
        logs = {"ms_ssim": float(terms["ms_ssim"].detach())} if "ms_ssim" in terms else {}
        logs.update(
            loss=float(loss.detach()), mse=float(terms["mse"].detach()), psnr=psnr,
            grad_norm=grad_norm,
        )  # fmt: skip
        if self.task.rate:  # distortion-only models have no rate to log
            logs["bpp"] = float(terms["bpp"].detach())
        return logs

    # -- validation ----------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float] | None:
        """Mean loss, MSE, bpp and PSNR over the fixed validation patches (None: no val set)."""
        if self.val_set is None:
            return None
        self.model.eval()
        sampler = ResumableSampler(
            len(self.val_set) * self.cfg.val_patches,
            self.seed,
            shuffle=False,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        loader = self._loader(self.val_set, sampler, self.cfg.test_batch_size, drop_last=False)
        sums = [0.0, 0.0, 0.0, 0.0, 0.0]  # loss, mse, bpp, psnr (all per sample), count
        # Validation must not move the training RNG streams (exact resumption).
        with torch.random.fork_rng(devices=[self.device.index] if self.cfg.cuda else []):
            for batch in loader:
                for i, v in enumerate(self._validation_sums(batch)):
                    sums[i] += v
        if self.distiller is not None:
            self.distiller.clear()
        self.model.train()
        sums = ddp.all_reduce_sum(sums, self.dist, self.device)
        n = max(sums[4], 1.0)
        return {"loss": sums[0] / n, "mse": sums[1] / n, "bpp": sums[2] / n, "psnr": sums[3] / n}

    def _validation_sums(self, batch: Any) -> list[float]:
        """Per-batch sums of loss, MSE, bpp and PSNR, and the batch size."""
        inp, target = self.task.split(self._to_device(batch))
        out = self.model(inp)
        terms = rd_loss(out, inp, target, self.task, self.lmbda, self.input_kind, self.cfg.metric)
        x_hat, _ = model_output(out)
        n = inp.shape[0]
        psnr = float(psnr_per_image(x_hat.clamp(0, 1).float(), target.float()).sum())
        return [float(terms["loss"]) * n, float(terms["mse"]) * n, float(terms["bpp"]) * n, psnr, n]

    def _validate_and_log(self, log: RunLog) -> None:
        val = self.validate()
        if val is None:
            return
        improved = val["loss"] < self.best_val
        if improved:
            self.best_val = val["loss"]
        log.val(val, self.step, self.epoch, improved)
        if improved:
            self.save(BEST_NAME)

    def _loader(
        self, ds: Dataset, sampler: ResumableSampler, bs: int, drop_last: bool
    ) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=bs,
            sampler=sampler,
            num_workers=self.cfg.num_workers,
            drop_last=drop_last,
            pin_memory=self.cfg.cuda,
            # An explicit generator keeps iterator creation from drawing on the global RNG.
            generator=torch.Generator().manual_seed(self.seed),
            persistent_workers=False,
        )

    # -- the loop ------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> Callable[[], None]:
        def handler(signum: int, _frame: Any) -> None:
            if self._stop_signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self._stop_signal = signal.Signals(signum).name

        previous = {}
        with contextlib.suppress(ValueError):  # not in the main thread
            for s in (signal.SIGINT, signal.SIGTERM):
                previous[s] = signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    def _batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Training batches from the current (epoch, position), advancing epochs forever."""
        while True:
            if self.batch_in_epoch >= self.steps_per_epoch:
                self.epoch += 1
                self.batch_in_epoch = 0
            self.sampler.set_epoch(self.epoch, start=self.batch_in_epoch * self.cfg.batch_size)
            for batch in self._loader(self.train_set, self.sampler, self.cfg.batch_size, True):
                yield self._to_device(batch)
            if self.batch_in_epoch < self.steps_per_epoch:  # defensive: loader ended early
                self.batch_in_epoch = self.steps_per_epoch

    def _done(self, t0: float) -> str | None:
        cfg = self.cfg
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return f"reached --max-steps {cfg.max_steps}"
        if self.epochs is not None:
            completed = self.epoch + (1 if self.batch_in_epoch >= self.steps_per_epoch else 0)
            if completed >= self.epochs:
                return f"reached --epochs {self.epochs}"
        if cfg.max_time is not None and time.monotonic() - t0 >= cfg.max_time:
            return f"reached --max-time {cfg.max_time:.0f}s"
        return None

    def _stop_reason(self, t0: float) -> str | None:
        """Why the run stops after this step: a budget, or a signal on any rank."""
        stop_requested = ddp.broadcast_flag(self._stop_signal is not None, self.dist, self.device)
        reason = self._done(t0)
        if stop_requested and reason is None:
            reason = f"received {self._stop_signal or 'a stop request'}"
        return reason

    def _announce(self, resumed: bool) -> None:
        if not self.dist.is_main:
            return
        what = f"resuming {self.resume_path} at step {self.step}" if resumed else "starting"
        n_params = sum(p.numel() for g in self.optim.optimizer.param_groups for p in g["params"])
        objective = f"λ={self.lmbda:g}" if self.task.rate else "distortion only"
        print(
            f"{what}: {self.cfg.arch} q{self.quality} {objective} ({n_params / 1e6:.2f} M "
            f"trainable parameters), {len(self.train_set)} training samples, "
            f"{self.steps_per_epoch} steps/epoch, batch {self.cfg.batch_size} x "
            f"{self.dist.world_size} process(es), seed {self.seed}, saving to {self.save_dir}",
            flush=True,
        )

    def _open_log(self, resumed: bool) -> RunLog:
        total = self.cfg.max_steps
        if total is None and self.epochs is not None:
            total = self.epochs * self.steps_per_epoch
        return RunLog(
            self.save_dir,
            self.log_fields(),
            main=self.dist.is_main,
            resume_step=self.step if resumed else None,
            tensorboard=self.cfg.tensorboard,
            progress=self.cfg.progress,
            total_steps=total,
            start_step=self.step,
        )

    def _run_step(self, batch: tuple[Tensor, Tensor], log: RunLog) -> None:
        rng_before = rng_state()
        t_step = time.monotonic()
        try:
            logs = self.train_step(batch)
        except NonFiniteLossError as err:
            # Parameters are untouched by the failed step: save the state it started from.
            self.optim.optimizer.zero_grad(set_to_none=True)
            path = self.save(rng=rng_before)
            raise NonFiniteLossError(
                f"{err} at step {self.step + 1} (epoch {self.epoch}); training stopped. "
                f"The state before that step is in {path}: resume it with "
                f"--checkpoint {path}, e.g. with a lower --learning-rate or --clip_max_norm"
            ) from None
        self.step += 1
        self.batch_in_epoch += 1
        logs["sec_per_step"] = time.monotonic() - t_step
        log.train(logs, self.step, self.epoch, (self.cfg.log_every, self.cfg.print_every))

    def _train(self, log: RunLog) -> str:
        """Steps until a budget is reached or a signal arrives; the reason for stopping."""
        cfg = self.cfg
        t0 = time.monotonic()
        reason = self._done(t0)
        batches = self._batches()
        try:
            while reason is None:
                self._run_step(next(batches), log)
                if cfg.val_every and self.step % cfg.val_every == 0:
                    self._validate_and_log(log)
                reason = self._stop_reason(t0)
                if reason is not None or (
                    cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
                ):
                    self.save()
        finally:
            batches.close()
        return reason

    def _finish(self, log: RunLog, reason: str) -> None:
        """The final validation and export, unless a signal asked to leave now (the checkpoint
        is written; they wait for the resumed run)."""
        cfg = self.cfg
        interrupted = self._stop_signal is not None
        if cfg.val_every and self.step % cfg.val_every != 0 and not interrupted:
            rng_at_stop, best_before = rng_state(), self.best_val
            self._validate_and_log(log)
            if self.best_val != best_before:  # the checkpoint must carry the new best score
                self.save(rng=rng_at_stop)
        if cfg.export and not interrupted:
            exported = self.export()
            if exported is not None:
                log.echo(f"exported {exported}")
        log.echo(f"stopped at step {self.step} (epoch {self.epoch}): {reason}")

    def fit(self) -> int:
        """Train until a budget is reached or a signal arrives; return the CLI exit status."""
        self.save_dir.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            remove_stale_outputs(self.save_dir)
        resumed = self.resume_state is not None
        self.resume_state = None
        self._announce(resumed)
        log = self._open_log(resumed)
        restore_signals = self._install_signal_handlers()
        try:
            self._finish(log, self._train(log))
        finally:
            restore_signals()
            log.close()
            if self.distiller is not None:
                self.distiller.detach()
        return 128 + int(getattr(signal, self._stop_signal, 0)) if self._stop_signal else 0
