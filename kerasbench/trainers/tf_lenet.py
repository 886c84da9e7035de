"""tf_native: LeNet-5 as a `tf.Module` of `tf.nn` ops (no Keras), a `tf.function` train step with GradientTape.

Weights are tf.Variables in Keras' layout (HWIO kernels, NHWC data). Data: the training set goes
to the device once per fit; the step takes the epoch's shuffled index vector and a start offset
and gathers its batch itself (one trace per batch size). Loss: what Keras 3 on TensorFlow
computes: in float32 its softmax output carries its logits, so the cross-entropy is
`sparse_softmax_cross_entropy_with_logits` (no clipping); under a mixed policy the cast output
loses them and the probabilities are clipped to [1e-7, 1 - 1e-7] and logged. Optimizers: TF2 has
none outside Keras, so the update is TensorFlow's fused training kernels (tf.raw_ops.ResourceApply*,
what tf.compat.v1.train and tf-keras use), which compute exactly Keras' Adam, RMSprop and SGD;
AdamW decays the weights first, as Keras does. Mixed precision: float32 variables cast to the
compute dtype inside the model (Keras' policy semantics, without Keras); float16 adds Keras'
dynamic loss scaling. jit: None = tf.function graph, True = tf.function(jit_compile=True) (XLA),
False = eager (no tf.function).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerasbench.trainers import native as common


def forward(weights, x, dtype):
    """Class probabilities and logits, computed in `dtype` from float32 weights (cast on use)."""
    k1, b1, k2, b2, w1, c1, w2, c2, w3, c3 = [tf.cast(w, dtype) for w in weights]
    x = tf.cast(x, dtype)
    x = tf.nn.avg_pool2d(tf.tanh(tf.nn.conv2d(x, k1, 1, "VALID") + b1), 2, 2, "VALID")
    x = tf.nn.avg_pool2d(tf.tanh(tf.nn.conv2d(x, k2, 1, "VALID") + b2), 2, 2, "VALID")
    x = tf.reshape(x, [-1, 400])  # NHWC flattens in Keras' (height, width, channel) order
    x = tf.tanh(tf.matmul(x, w1) + c1)
    x = tf.tanh(tf.matmul(x, w2) + c2)
    logits = tf.matmul(x, w3) + c3
    return tf.nn.softmax(logits), logits


def keras_losses(probs, logits, y):
    """Keras 3's sparse categorical cross-entropy on TensorFlow, per sample (see the module's docstring)."""
    if logits.dtype == tf.float32:
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    log_probs = tf.math.log(tf.clip_by_value(tf.cast(probs, tf.float32), common.EPSILON, 1.0 - common.EPSILON))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=log_probs)


class LeNet5(tf.Module):
    def __init__(self, weights):
        super().__init__(name="lenet5")
        self.weights = [tf.Variable(w, name=name.replace("/", "_")) for (name, _), w in zip(common.WEIGHTS, weights)]

    def __call__(self, x, dtype=tf.float32):
        return forward(self.weights, x, dtype)


class Trainer(common.NativeTrainer):
    DEFAULT_JIT = False  # tf.function graphs without XLA: TensorFlow's default

    def __init__(self, contender, module, train_params):
        super().__init__(contender, module, train_params)
        # tf.function unless eager was asked for (jit false, from the contender or the param)
        self.graph = contender.jit_request(train_params.jit_compile) is not False

    def _build(self, weights):
        self.device = self.backend.device()
        self.dtype = tf.as_dtype(self.compute_dtype)
        self.model = LeNet5(weights)
        zeros = lambda: [tf.Variable(tf.zeros_like(w), trainable=False) for w in self.model.weights]  # noqa: E731
        name = self.train_params.optimizer
        self.slots = [zeros(), zeros()] if name in ("adam", "adamw", "rmsprop") else []
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.scale = tf.Variable(common.LOSS_SCALE_INITIAL, trainable=False)
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.metrics = tf.Variable(tf.zeros(2), trainable=False)
        wrap = (lambda f: tf.function(f, jit_compile=bool(self.jit))) if self.graph else (lambda f: f)
        self.step, self.probs, self.scores = wrap(self._train_step), wrap(self._probs), wrap(self._scores)

    def _sgd(self, grads, learning_rate):
        for w, g in zip(self.model.weights, grads):
            tf.raw_ops.ResourceApplyGradientDescent(var=w.handle, alpha=learning_rate, delta=g)

    def _rmsprop(self, grads, learning_rate, rho, epsilon):
        for w, ms, mom, g in zip(self.model.weights, *self.slots, grads):  # momentum 0: mom is the increment
            tf.raw_ops.ResourceApplyRMSProp(var=w.handle, ms=ms.handle, mom=mom.handle, lr=learning_rate, rho=rho,
                                            momentum=0.0, epsilon=epsilon, grad=g)

    def _adam(self, grads, learning_rate, beta_1, beta_2, epsilon, weight_decay=None):
        t = tf.cast(self.iterations + 1, tf.float32)
        beta_1_power, beta_2_power = tf.pow(beta_1, t), tf.pow(beta_2, t)
        for w, m, v, g in zip(self.model.weights, *self.slots, grads):
            if weight_decay is not None:  # AdamW: Keras decays the weights first
                w.assign_sub(w * weight_decay * learning_rate)
            tf.raw_ops.ResourceApplyAdam(var=w.handle, m=m.handle, v=v.handle, beta1_power=beta_1_power,
                                         beta2_power=beta_2_power, lr=learning_rate, beta1=beta_1, beta2=beta_2,
                                         epsilon=epsilon, grad=g)

    OPTIMIZERS = {"sgd": _sgd, "rmsprop": _rmsprop, "adam": _adam, "adamw": _adam}

    def _apply(self, grads):
        """One optimizer update with Keras' formulas and defaults (learning rate as a float32 tensor)."""
        options = {**self.optimizer_options, "learning_rate": tf.constant(self.optimizer_options["learning_rate"],
                                                                          tf.float32)}
        self.OPTIMIZERS[self.train_params.optimizer](self, grads, **options)
        self.iterations.assign_add(1)
        return tf.constant(True)

    def _train_step(self, x_all, y_all, order, start, size):
        idx = order[start:start + size]
        x, y = tf.gather(x_all, idx), tf.gather(y_all, idx)
        with tf.GradientTape() as tape:
            probs, logits = self.model(x, self.dtype)
            loss = tf.reduce_mean(keras_losses(probs, logits, y))
            scaled = loss * self.scale if self.loss_scaling else loss
        grads = tape.gradient(scaled, self.model.weights)
        if self.loss_scaling:  # skip a step with non-finite gradients (common.next_loss_scale)
            grads = [g / self.scale for g in grads]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            tf.cond(finite, lambda: self._apply(grads), lambda: tf.constant(False))
            scale, good_steps = common.next_loss_scale(finite, self.scale, self.good_steps, tf.where)
            self.scale.assign(scale)
            self.good_steps.assign(good_steps)
        else:
            self._apply(grads)
        correct = tf.reduce_sum(tf.cast(tf.argmax(probs, axis=-1) == y, tf.float32))
        self.metrics.assign_add(tf.stack([loss * tf.cast(size, tf.float32), correct]))

    def _probs(self, x_all, start, size):
        return self.model(x_all[start:start + size], self.dtype)[0]

    def _scores(self, x_all, y_all, start, size):
        probs, logits = self.model(x_all[start:start + size], self.dtype)
        y = y_all[start:start + size]
        return tf.stack([tf.reduce_sum(keras_losses(probs, logits, y)),
                         tf.reduce_sum(tf.cast(tf.argmax(probs, axis=-1) == y, tf.float32))])

    def _put(self, x, y):
        with tf.device(self.device):
            return tf.identity(x), (tf.identity(np.asarray(y, dtype=np.int64)) if y is not None else None)

    def _put_order(self, order):
        with tf.device(self.device):  # beside the data: the step slices and gathers there
            return tf.identity(order.astype(np.int64))

    def _reset_metrics(self):
        self.metrics.assign(tf.zeros(2))

    def _train_batch(self, data, order, start, size):
        # start as a tensor: one trace for every offset; size as a Python int: static shapes for XLA.
        self.step(data[0], data[1], order, tf.constant(start, tf.int64), size)

    def _read_metrics(self):
        loss_sum, correct = self.metrics.numpy().tolist()
        return loss_sum, correct

    def _batches(self, n, batch_size):
        # start as a tensor: one trace for every offset
        return [(tf.constant(s, tf.int64), b) for s, b in common.batches(n, batch_size)]

    def _evaluate(self, data, batch_size):
        x, y = data
        total = tf.add_n([self.scores(x, y, s, b) for s, b in self._batches(len(x), batch_size)])
        loss_sum, correct = total.numpy().tolist()
        return loss_sum, correct

    def _predict(self, data, batch_size, to_host):
        x = data[0]
        out = [self.probs(x, s, b) for s, b in self._batches(len(x), batch_size)]
        if to_host:
            return np.concatenate([p.numpy().astype(np.float32) for p in out])
        self.backend.synchronize(out[-1])  # one device stream, in order: the last result means all are done
        return None

    def count_params(self):
        return sum(int(np.prod(w.shape)) for w in self.model.weights)

    def get_weights(self):
        return [w.numpy() for w in self.model.weights]

    def set_weights(self, weights):
        for w, value in zip(self.model.weights, weights):
            w.assign(np.asarray(value, dtype=np.float32))


def observe_dtypes(trainer, x) -> dict:
    """For the precision test: dtypes inside the model on the trainer's policy."""
    probs, logits = trainer.model(tf.constant(x), trainer.dtype)
    return {"logits": logits.dtype.name, "probabilities": probs.dtype.name,
            "weights": trainer.model.weights[0].dtype.name}
