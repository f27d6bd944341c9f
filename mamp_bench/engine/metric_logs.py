"""Metric logs a researcher's tools read, written by the one training loop for every run it trains.

* TensorBoard event files in the run folder (``tensorboard --logdir runs``): ``step/*`` scalars after
  every optimizer step (under DDP, the loss of process 0's share of the batch), ``epoch/*`` scalars
  (loss averaged over processes, lr, throughput, test accuracy) after every epoch, both against the
  global optimizer step. Written here in TensorBoard's own format (TFRecord-framed
  ``Event`` protocol buffers), so no TensorBoard or protobuf package is needed to write them. A resumed
  run appends a new file that starts with a session-restart marker at the step it resumes from, which
  tells TensorBoard to drop the steps the interrupted process logged after its last checkpoint.
* Weights & Biases, when ``MAMP_BENCH_WANDB`` names a project (``pip install 'mamp-bench[wandb]'``):
  imported only then, so it costs nothing when unused. A resumed run continues the same W&B run.
"""

from __future__ import annotations

import os
import platform
import re
import struct
import time
from pathlib import Path
from typing import Any

from mamp_bench import faults
from mamp_bench.errors import UserError
from mamp_bench.fileio import read_json, storage_error

EVENTS_GLOB = "events.out.tfevents.*"
WANDB_ENV = "MAMP_BENCH_WANDB"


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli polynomial, reflected
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """The checksum TFRecord frames carry: CRC-32C, rotated right by 15 bits plus a constant."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protocol-buffer field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(wall_time: float, step: int, *, scalars: dict[str, float] | None = None,
                 file_version: str | None = None, session_start: bool = False) -> bytes:  # fmt: skip
    """An ``Event`` message: wall_time (1, double), step (2, int64), file_version (3), summary (5: one
    ``Value`` per scalar, tag 1 and simple_value 2), session_log (7: status 1 = START)."""
    out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step)
    if file_version is not None:
        out += _field(3, file_version.encode())
    if scalars:
        values = b"".join(_field(1, _field(1, tag.encode()) + b"\x15" + struct.pack("<f", value))
                          for tag, value in scalars.items())  # fmt: skip
        out += _field(5, values)
    if session_start:
        out += _field(7, b"\x08\x01")
    return out


def tfrecord(data: bytes) -> bytes:
    """One TFRecord frame: length, its masked CRC, the data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


class EventFile:
    """An append-only TensorBoard event file in ``folder``; events are buffered and appended on ``flush``
    (after every epoch: what a kill loses, the resume redoes)."""

    def __init__(self, folder: Path, resumed_after: int):
        self.path = folder / f"events.out.tfevents.{time.time():.0f}.{platform.node()}.{os.getpid()}.mamp-bench"
        self._pending = [encode_event(time.time(), 0, file_version="brain.Event:2")]
        if resumed_after:  # a resume: forget what the interrupted process logged after the last checkpoint
            self._pending.append(encode_event(time.time(), resumed_after + 1, session_start=True))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._pending.append(encode_event(time.time(), step, scalars=values))

    def flush(self) -> None:
        if not self._pending:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            faults.point("events@append", io=True)  # one name for every run's event file (it names the pid)
            with open(self.path, "ab") as handle:
                handle.write(b"".join(tfrecord(event) for event in self._pending))
        except OSError as exc:
            raise storage_error(self.path, exc) from None
        faults.point("events@appended")
        self._pending.clear()


def _numbers(prefix: str, values: dict[str, Any]) -> dict[str, float]:
    return {f"{prefix}/{k}": float(v) for k, v in values.items() if isinstance(v, int | float)}


class MetricLogs:
    """The loop's metric sinks for one run folder (nothing is written by a non-main process), opened when the
    loop starts: a resumed run's event file starts at the last optimizer step its checkpoint holds."""

    def __init__(self, run_path: Path, enabled: bool):
        self.run_path, self.enabled = run_path, enabled
        self.events, self.wandb = None, None

    def start(self, first_epoch: int, steps_per_epoch: int) -> None:
        if self.enabled:
            self.events = EventFile(self.run_path, first_epoch * steps_per_epoch)
            self.wandb = _wandb_run(self.run_path) if os.environ.get(WANDB_ENV) else None

    def step(self, step: int, values: dict[str, float]) -> None:
        """After an optimizer step (the ``step`` counting from 1): its loss and lr."""
        self._log(step, _numbers("step", {"loss": values["loss"], "lr": values["lr"]}))

    def epoch(self, step: int, record: dict[str, Any]) -> None:
        """After an epoch: every number of its log record (loss, lr, throughput, test accuracy)."""
        self._log(step, _numbers("epoch", {**record, "epoch": record["epoch"] + 1}))  # epochs counted from 1
        if self.events is not None:
            self.events.flush()

    def _log(self, step: int, scalars: dict[str, float]) -> None:
        if self.events is not None:
            self.events.scalars(step, scalars)
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def close(self) -> None:
        if self.events is not None:
            self.events.flush()
        if self.wandb is not None:
            self.wandb.finish()


def _wandb_run(run_path: Path):
    """A W&B run for this run folder (the same one again when it resumes)."""
    try:
        import wandb
    except ImportError:
        raise UserError(f"{WANDB_ENV} is set but wandb is not installed: pip install 'mamp-bench[wandb]'") from None
    config_file = run_path / "config.json"
    config = read_json(config_file, "run configuration") if config_file.is_file() else {}
    run_id = re.sub(r"[^A-Za-z0-9_-]", "-", f"{run_path.parent.name}-{run_path.name}")[-64:]
    return wandb.init(project=os.environ[WANDB_ENV], name=run_path.name, id=run_id, resume="allow",
                      dir=str(run_path), config=config)  # fmt: skip
