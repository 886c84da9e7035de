"""jax_native: LeNet-5 as a pure function of its weights, `jax.jit` on the train step, optax optimizers.

Weights are a list in Keras' layout (HWIO kernels, NHWC data), so get/set_weights are copies.
Data: the training set goes to the device once per fit; the jitted step takes the epoch's
shuffled index vector and a start offset, and gathers its batch itself (one trace per batch size,
so two per fit when the last batch is smaller). Loss: Keras 3's cross-entropy on probabilities,
as on JAX (renormalised, clipped to [1e-7, 1 - 1e-7], -log). Optimizers: optax with Keras'
defaults; Adam and AdamW get Keras' epsilon placement through an epsilon schedule
(inject_hyperparams, common.adam_epsilon); optax's RMSprop puts epsilon inside the square root as
Keras does. Mixed precision: float32 weights cast to the compute dtype inside the model (Keras'
policy semantics); float16 adds Keras' dynamic loss scaling. jit=False calls the same step
function without jax.jit (op by op).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from kerasbench.trainers import native as common


def conv(x, kernel, bias):
    y = lax.conv_general_dilated(x, kernel, window_strides=(1, 1), padding="VALID",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.tanh(y + bias)


def avg_pool(x):
    summed = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return summed / jnp.asarray(4, x.dtype)


def forward(weights, x, dtype):
    """Class probabilities and logits, computed in `dtype` from float32 weights (cast on use)."""
    k1, b1, k2, b2, w1, c1, w2, c2, w3, c3 = [w.astype(dtype) for w in weights]
    x = avg_pool(conv(x.astype(dtype), k1, b1))
    x = avg_pool(conv(x, k2, b2))
    x = x.reshape(x.shape[0], -1)  # NHWC flattens in Keras' (height, width, channel) order
    x = jnp.tanh(x @ w1 + c1)
    x = jnp.tanh(x @ w2 + c2)
    logits = x @ w3 + c3
    return jax.nn.softmax(logits), logits


def keras_loss(probs, y):
    """Keras 3's sparse categorical cross-entropy on probabilities (JAX backend), batch mean."""
    probs = probs.astype(jnp.float32)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    log_probs = jnp.log(jnp.clip(probs, common.EPSILON, 1.0 - common.EPSILON))
    return -jnp.take_along_axis(log_probs, y[:, None], axis=-1).mean()


def adam(learning_rate, beta_1, beta_2, epsilon, weight_decay=None) -> optax.GradientTransformation:
    """optax's Adam (AdamW with a weight decay) from Keras' options, with Keras' epsilon per step."""
    options = {"learning_rate": learning_rate, "b1": beta_1, "b2": beta_2,
               "eps": partial(_keras_eps, epsilon=epsilon, beta_2=beta_2)}
    if weight_decay is None:
        return optax.inject_hyperparams(optax.adam)(**options)
    return optax.inject_hyperparams(optax.adamw)(**options, weight_decay=weight_decay)


def _keras_eps(count, epsilon, beta_2):
    return common.adam_epsilon(count.astype(jnp.float32) + 1, epsilon, beta_2)  # count: updates so far


class Trainer(common.NativeTrainer):
    DEFAULT_JIT = True  # jax.jit is how JAX is meant to run; no JAX PRNG is used (weights and order from NumPy)
    OPTIMIZERS = {
        "sgd": lambda learning_rate: optax.sgd(learning_rate),
        "rmsprop": lambda learning_rate, rho, epsilon: optax.rmsprop(learning_rate, decay=rho, eps=epsilon,
                                                                     eps_in_sqrt=True),
        "adam": adam,
        "adamw": adam,
    }

    def _build(self, weights):
        self.dtype = jnp.dtype(self.compute_dtype)
        self.weights = [jnp.asarray(w) for w in weights]
        self.opt = self.make_optimizer()
        self.opt_state = self.opt.init(self.weights)
        # Keras' LossScaleOptimizer state: scale, finite steps since the last change.
        self.scale = (jnp.float32(common.LOSS_SCALE_INITIAL), jnp.int32(0))
        self.metrics = jnp.zeros(2, jnp.float32)
        compile_ = partial(jax.jit, static_argnames=("size",)) if self.jit else (lambda f: f)
        self.step = compile_(self._train_step)
        self.probs = jax.jit(self._probs, static_argnames=("size",)) if self.jit else self._probs
        self.scores = jax.jit(self._scores, static_argnames=("size",)) if self.jit else self._scores

    def _train_step(self, weights, opt_state, scale, metrics, x_all, y_all, order, start, size):
        idx = lax.dynamic_slice_in_dim(order, start, size)
        x, y = x_all[idx], y_all[idx]

        def loss_fn(w):
            probs, _ = forward(w, x, self.dtype)
            loss = keras_loss(probs, y)
            return loss * scale[0] if self.loss_scaling else loss, (loss, probs)

        grads, (loss, probs) = jax.grad(loss_fn, has_aux=True)(weights)
        if self.loss_scaling:
            grads = jax.tree.map(lambda g: g / scale[0], grads)
        updates, new_state = self.opt.update(grads, opt_state, weights)
        new_weights = optax.apply_updates(weights, updates)
        if self.loss_scaling:  # skip a step with non-finite gradients and halve the scale; double it after enough
            finite = jnp.all(jnp.array([jnp.isfinite(g).all() for g in jax.tree.leaves(grads)]))
            keep = partial(jax.tree.map, lambda new, old: jnp.where(finite, new, old))
            new_weights, new_state = keep(new_weights, weights), keep(new_state, opt_state)
            scale = common.next_loss_scale(finite, *scale, jnp.where)
        correct = (probs.argmax(axis=-1) == y).sum()
        metrics = metrics + jnp.stack([loss * size, correct.astype(jnp.float32)])
        return new_weights, new_state, scale, metrics

    def _probs(self, weights, x_all, start, size):
        return forward(weights, lax.dynamic_slice_in_dim(x_all, start, size), self.dtype)[0]

    def _scores(self, weights, x_all, y_all, start, size):
        probs = self._probs(weights, x_all, start, size)
        y = lax.dynamic_slice_in_dim(y_all, start, size)
        return jnp.stack([keras_loss(probs, y) * size, (probs.argmax(axis=-1) == y).sum().astype(jnp.float32)])

    def _put(self, x, y):
        return jax.device_put(x), (jax.device_put(np.asarray(y, dtype=np.int32)) if y is not None else None)

    def _put_order(self, order):
        return jax.device_put(order.astype(np.int32))

    def _reset_metrics(self):
        self.metrics = jnp.zeros(2, jnp.float32)

    def _train_batch(self, data, order, start, size):
        self.weights, self.opt_state, self.scale, self.metrics = self.step(
            self.weights, self.opt_state, self.scale, self.metrics, data[0], data[1], order, start, size=size)

    def _read_metrics(self):
        loss_sum, correct = np.asarray(self.metrics).tolist()  # waits for the device
        return loss_sum, correct

    def _evaluate(self, data, batch_size):
        x, y = data
        total = sum(self.scores(self.weights, x, y, s, size=b) for s, b in common.batches(len(x), batch_size))
        loss_sum, correct = np.asarray(total).tolist()
        return loss_sum, correct

    def _predict(self, data, batch_size, to_host):
        x = data[0]
        out = [self.probs(self.weights, x, s, size=b) for s, b in common.batches(len(x), batch_size)]
        if to_host:
            return np.concatenate([np.asarray(p, dtype=np.float32) for p in out])
        self.backend.synchronize(out)
        return None

    def count_params(self):
        return sum(int(w.size) for w in self.weights)

    def get_weights(self):
        return [np.array(w) for w in self.weights]

    def set_weights(self, weights):
        self.weights = [jnp.asarray(np.asarray(w, dtype=np.float32)) for w in weights]


def observe_dtypes(trainer, x) -> dict:
    """For the precision test: dtypes inside the model on the trainer's policy."""
    probs, logits = forward(trainer.weights, jnp.asarray(x), trainer.dtype)
    return {"logits": str(logits.dtype), "probabilities": str(probs.dtype), "weights": str(trainer.weights[0].dtype)}
