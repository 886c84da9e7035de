"""Trainers: how each contender trains, predicts and saves LeNet-5, behind one interface (launch.Trainer).

keras_fit.py is every Keras contender's (model.fit); native.py is what the three LeNet-5s without
Keras share (initial weights, Keras' defaults, the fit loop), and torch_lenet.py, jax_lenet.py and
tf_lenet.py are those LeNet-5s. Importing one of the native modules imports its framework: select
the contender first (kerasbench/launch.py), one per process. Where a native model cannot be made
identical to Keras on the same backend, its module's docstring says so; tests/test_native.py checks
every other optimizer to 1e-5 after one step from the same weights.
"""
