"""The same LeNet-5 as a `tf.Module` of `tf.nn` ops and a `tf.function` train step, no Keras
(kerasbench/trainers/tf_lenet.py)."""
from kerasbench.contenders import Contender

CONTENDER = Contender(
    name="tf_native", backend="tensorflow", packages=("tensorflow",),
    trainer="kerasbench.trainers.tf_lenet:Trainer",
    summary="the same LeNet-5 as a `tf.Module` of `tf.nn` ops, `tf.function` train step with `GradientTape`")
