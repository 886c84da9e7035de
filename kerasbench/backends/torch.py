"""PyTorch: torch.cuda for devices, memory and synchronisation; deterministic algorithms; torch.compile as its jit."""
from __future__ import annotations

import os

from kerasbench.backends.base import Backend


class Torch(Backend):
    name = "torch"
    gpu_peak_source = "torch_max_memory_allocated"   # torch.cuda.max_memory_allocated(), reset before fit

    def deterministic_env(self, on_cpu_only: bool) -> dict[str, str]:
        return {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}   # required by torch's deterministic mode on CUDA

    def compile_cache_env(self, directory: str) -> dict[str, str]:
        return {"TORCHINDUCTOR_CACHE_DIR": directory, "TORCHINDUCTOR_FX_GRAPH_CACHE": "1",
                "TRITON_CACHE_DIR": os.path.join(directory, "triton")}

    def compile_cache_gap(self, jit: bool) -> str | None:
        return None if jit else "eager PyTorch compiles nothing to keep (only torch.compile has a cache)"

    def set_threads(self, n: int) -> None:
        import torch
        torch.set_num_threads(n)
        torch.set_num_interop_threads(n)

    def pools(self) -> dict:
        import torch
        return {"torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads()}

    def _seed(self, seed: int) -> None:
        import torch
        torch.manual_seed(seed)

    def _deterministic(self) -> None:
        import torch
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True

    def visible_gpus(self) -> list[str]:
        import torch
        if not torch.cuda.is_available():   # device_count() can be non-zero with a driver too old for torch's CUDA
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]

    def cuda_build(self) -> str | None:
        import torch
        return f"CUDA {torch.version.cuda}" if torch.version.cuda else None

    def warm_up(self) -> None:
        import torch
        device = self.device()
        (torch.ones((2, 2), device=device) @ torch.ones((2, 2), device=device)).cpu()

    def device(self):
        import torch
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def synchronize(self, value=None) -> None:
        import torch
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def reset_gpu_peak(self) -> None:
        import torch
        torch.cuda.reset_peak_memory_stats()

    def gpu_peak(self) -> tuple[int | None, str | None]:
        import torch
        return int(torch.cuda.max_memory_allocated()), self.gpu_peak_source

    def jit_meaning(self, effective: bool, eager: bool = False) -> str:
        return "torch.compile" if effective else "eager PyTorch"

    def keras_forward(self, model, x, batch_size: int, jit: bool):
        import torch
        device = self.device()
        batches = [torch.as_tensor(x[i:i + batch_size], device=device) for i in range(0, len(x), batch_size)]

        def call(b):
            with torch.no_grad():
                return model(b, training=False)
        step = torch.compile(call) if jit else call
        self.synchronize()

        def run():
            for b in batches:
                step(b)
            self.synchronize()
        return run
