"""torch_native: LeNet-5 as an `nn.Module`, trained by a plain PyTorch loop.

Data: the whole training set goes to the device once per fit (NCHW); each batch is a gather
`x[idx]` by the epoch's shuffled indices, which are on the device too (tensor slicing was faster
than a DataLoader). Loss: Keras' cross-entropy on the softmax output, as Keras 3
computes it on torch (probabilities renormalised, clipped to [1e-7, 1 - 1e-7], then -log).
Optimizers: torch.optim with Keras' defaults; Adam and AdamW get Keras' epsilon placement
through a per-step epsilon (common.adam_epsilon). RMSprop differs: torch adds epsilon outside
the square root, Keras inside. Mixed precision: torch.autocast, with a GradScaler set like
Keras' LossScaleOptimizer for float16. jit: eager by default; jit=True compiles the model
(forward and backward) with torch.compile, the optimizer step stays eager.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kerasbench.trainers import native as common

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):  # x: (N, 3, 32, 32); returns class probabilities
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = x.flatten(1)  # channel-major; get/set_weights reorder Keras' (height, width, channel) rows
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return torch.softmax(self.fc3(x), dim=1)


def keras_loss(probs, y):
    """Keras 3's sparse categorical cross-entropy on probabilities (torch backend), batch mean."""
    probs = probs.float()
    probs = probs / probs.sum(dim=1, keepdim=True)
    return F.nll_loss(torch.log(probs.clamp(common.EPSILON, 1.0 - common.EPSILON)), y)


def to_torch(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Keras layout to the module's: conv HWIO -> OIHW, dense (in, out) -> (out, in), fc1's rows HWC -> CHW."""
    out = []
    for (name, _), w in zip(common.WEIGHTS, weights):
        if name == "dense1/kernel":
            w = w.reshape(5, 5, 16, 120).transpose(2, 0, 1, 3).reshape(400, 120)
        if name.startswith("conv") and name.endswith("kernel"):
            w = w.transpose(3, 2, 0, 1)
        elif name.endswith("kernel"):
            w = w.T
        out.append(np.ascontiguousarray(w, dtype=np.float32))
    return out


def to_keras(weights: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for (name, _), w in zip(common.WEIGHTS, weights):
        if name.startswith("conv") and name.endswith("kernel"):
            w = w.transpose(2, 3, 1, 0)
        elif name.endswith("kernel"):
            w = w.T
        if name == "dense1/kernel":
            w = w.reshape(16, 5, 5, 120).transpose(1, 2, 0, 3).reshape(400, 120)
        out.append(np.ascontiguousarray(w, dtype=np.float32))
    return out


def adam(params, learning_rate, beta_1, beta_2, epsilon, weight_decay=None):
    """torch's Adam (AdamW with a weight decay) from Keras' options; `_step` sets its epsilon per step."""
    options = {"lr": learning_rate, "betas": (beta_1, beta_2), "eps": common.adam_epsilon(1, epsilon, beta_2)}
    if weight_decay is None:
        return torch.optim.Adam(params, **options)
    return torch.optim.AdamW(params, **options, weight_decay=weight_decay)


class Trainer(common.NativeTrainer):
    DEFAULT_JIT = False  # eager is PyTorch's default
    OPTIMIZERS = {
        "sgd": lambda params, learning_rate: torch.optim.SGD(params, lr=learning_rate),
        "rmsprop": lambda params, learning_rate, rho, epsilon: torch.optim.RMSprop(
            params, lr=learning_rate, alpha=rho, eps=epsilon),
        "adam": adam,
        "adamw": adam,
    }

    def _build(self, weights):
        self.device = self.backend.device()
        self.net = LeNet5().to(self.device)
        self.set_weights(weights)
        self.forward = torch.compile(self.net) if self.jit else self.net
        self.opt = self.make_optimizer(self.net.parameters())
        self.scaler = torch.amp.GradScaler(self.device.type, init_scale=common.LOSS_SCALE_INITIAL,
                                           growth_interval=common.LOSS_SCALE_GROWTH_STEPS,
                                           enabled=self.loss_scaling)
        self.autocast_dtype = DTYPES[self.compute_dtype]
        self.metrics = torch.zeros(2, device=self.device)  # loss sum, correct

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.compute_dtype != "float32")

    def _put(self, x, y):
        x = torch.from_numpy(np.ascontiguousarray(x)).to(self.device).permute(0, 3, 1, 2).contiguous()
        return x, (torch.from_numpy(np.asarray(y, dtype=np.int64)).to(self.device) if y is not None else None)

    def _put_order(self, order):
        return torch.from_numpy(order).to(self.device)

    def _reset_metrics(self):
        self.metrics.zero_()

    def _train_batch(self, data, order, start, size):
        idx = order[start:start + size]
        self._step(data[0][idx], data[1][idx])

    def _step(self, x, y):
        with self._autocast():
            probs = self.forward(x)
        loss = keras_loss(probs, y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if "beta_1" in self.optimizer_options:  # Adam, AdamW
            state = self.opt.state.get(self.net.conv1.weight)
            step = int(state["step"]) + 1 if state else 1  # a step the scaler skipped does not count
            self.opt.param_groups[0]["eps"] = common.adam_epsilon(
                step, self.optimizer_options["epsilon"], self.optimizer_options["beta_2"])
        self.scaler.step(self.opt)
        self.scaler.update()
        with torch.no_grad():
            self.metrics[0] += loss.detach() * len(y)
            self.metrics[1] += (probs.argmax(dim=1) == y).sum()

    def _read_metrics(self):
        loss_sum, correct = self.metrics.tolist()
        return loss_sum, correct

    @torch.inference_mode()
    def _evaluate(self, data, batch_size):
        x, y = data
        metrics = torch.zeros(2, device=self.device)
        for start, size in common.batches(len(x), batch_size):
            xb, yb = x[start:start + size], y[start:start + size]
            with self._autocast():
                probs = self.forward(xb)
            metrics[0] += keras_loss(probs, yb) * len(xb)
            metrics[1] += (probs.argmax(dim=1) == yb).sum()
        loss_sum, correct = metrics.tolist()
        return loss_sum, correct

    @torch.inference_mode()
    def _predict(self, data, batch_size, to_host):
        x = data[0]
        with self._autocast():
            out = [self.forward(x[s:s + b]) for s, b in common.batches(len(x), batch_size)]
        if to_host:
            return torch.cat(out).float().cpu().numpy()
        self.backend.synchronize()
        return None

    def count_params(self):
        return sum(p.numel() for p in self.net.parameters())

    def get_weights(self):
        return to_keras([p.detach().cpu().numpy().copy() for p in self.net.parameters()])  # no view of live weights

    @torch.no_grad()
    def set_weights(self, weights):
        for p, w in zip(self.net.parameters(), to_torch(weights)):
            p.copy_(torch.from_numpy(w))


@torch.no_grad()
def observe_dtypes(trainer, x) -> dict:
    """For the precision test: dtypes inside the model on the trainer's policy (autocast)."""
    seen = {}
    hook = trainer.net.conv1.register_forward_hook(lambda module, inputs, out: seen.update(conv1=str(out.dtype)))
    try:
        with trainer._autocast():
            probs = trainer.net(trainer._put(x, None)[0])
    finally:
        hook.remove()
    return {"conv1": seen["conv1"].removeprefix("torch."), "probabilities": str(probs.dtype).removeprefix("torch."),
            "weights": str(trainer.net.conv1.weight.dtype).removeprefix("torch.")}
