"""Multi-process launching on accelerate, and who-am-I within a launched group.

`harness train/eval/run --launcher accelerate` re-runs the harness command under `accelerate launch`
(torchrun underneath): DDP, FSDP or DeepSpeed come from the accelerate config file (`configs/accelerate/`),
and TRL's SFTTrainer picks the process group up by itself. Evaluation with the transformers backend
shards its samples over the same kind of process group (`evaluate/runner.py`); vLLM does its own
tensor / data parallelism (`eval.backend_options`) and is never launched this way.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Launcher:
    kind: str = "none"  # "none": this process; "accelerate": `accelerate launch`
    num_processes: int | None = None
    config_file: str | None = None
    main_process_port: int | None = None

    @property
    def active(self) -> bool:
        return self.kind == "accelerate"

    def processes(self) -> int | None:
        """--num-processes, else the config file's num_processes."""
        if self.num_processes or not self.config_file:
            return self.num_processes
        import yaml

        return (yaml.safe_load(Path(self.config_file).read_text()) or {}).get("num_processes")

    def wrap(self, harness_args: list[str], with_config: bool = True) -> list[str]:
        """The command that runs `harness <harness_args>` under this launcher. Evaluation passes
        `with_config=False`: a DeepSpeed or FSDP config is for training, evaluation only needs processes."""
        if not self.active:
            return [sys.executable, "-m", "harness.cli", *harness_args]
        command = [sys.executable, "-m", "accelerate.commands.launch"]
        config = self.config_file if with_config else None
        processes = self.processes()
        if config:
            command += ["--config_file", config]
        if processes:
            command += ["--num_processes", str(processes)]
            # Without a config accelerate starts several processes only with --multi_gpu (torchrun); on a
            # CPU the processes then ask for gloo themselves (use_cpu in training, distributed_state here).
            if not config and processes > 1:
                command += ["--multi_gpu"]
        if self.main_process_port:
            command += ["--main_process_port", str(self.main_process_port)]
        return command + ["--module", "harness.cli", *harness_args]


IN_PROCESS = Launcher()  # no launcher: everything runs in this process


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0, or not launched at all: the process that writes the run folder's shared files."""
    return int(os.environ.get("RANK", "0")) == 0


def distributed_state():
    """accelerate's PartialState when this process is one of several, else None. On a machine without
    a GPU it asks for CPU processes (gloo), as SFTConfig's use_cpu does for training."""
    if world_size() <= 1:
        return None
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())
