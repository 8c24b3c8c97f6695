"""Models: graphs of layers (:class:`Model`), stacks of layers (:class:`Sequential`), the
trainer they share, callbacks, and ready-made networks.

Images go in and come out channels-last, ``(N, H, W, C)``, as in Keras.  The model converts
each batch to the engine's NCHW layout once, at its input edge; layers never transpose.

Determinism: a model created with ``seed=s`` gets the same initial weights, the same dropout
masks and the same shuffling order every time (with the deterministic kernels, the same
training result, whatever the thread count).
"""
from .callbacks import Callback, History, EarlyStopping
from .model import Model
from .sequential import Sequential
from .zoo import (lenet5, cifar_example, small_cnn, tfcnn, resnet20, mobilenet, MODELS,
                  get_model)

__all__ = ["Model", "Sequential", "Callback", "History", "EarlyStopping", "load_model",
           "lenet5", "cifar_example", "small_cnn", "tfcnn", "resnet20", "mobilenet", "get_model",
           "MODELS"]


def load_model(path, compile=True):
    """Load a model saved with ``model.save(path)`` (see :mod:`fastconv.models.saving`)."""
    from .saving import load_model as load
    return load(path, compile=compile)
