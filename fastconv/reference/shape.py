"""Reference shape ops."""
import numpy as np


# --------------------------------------------------------------------------- flatten

def flatten(x):
    """Row-major flatten of everything but the batch axis: ``(N, ...) -> (N, prod(...))``."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], -1)


def flatten_backward(grad_out, x_shape):
    """Gradient of :func:`flatten`: ``grad_out`` reshaped back to ``x_shape``."""
    return np.asarray(grad_out).reshape(tuple(x_shape))
