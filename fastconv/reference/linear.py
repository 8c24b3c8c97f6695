"""Reference fully connected layer."""
from ._checks import _as, _float_dtype


# --------------------------------------------------------------------------- linear

def linear(x, weight, bias=None):
    """Fully connected layer ``x @ weight.T + bias``; ``x`` is ``(..., in)``, ``weight``
    ``(out, in)``, ``bias`` ``(out,)`` or None."""
    dtype = _float_dtype(x, weight, bias)
    x, weight, bias = _as(x, dtype), _as(weight, dtype), _as(bias, dtype)
    if weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: x {x.shape} and weight {weight.shape} (out, in) "
                         f"do not match")
    y = x @ weight.T
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), "
                             f"got {bias.shape}")
        y = y + bias
    return y


def linear_backward(grad_out, x, weight):
    """Gradients of :func:`linear`: ``(grad_x, grad_weight, grad_bias)`` with
    ``grad_x = grad_out @ weight``, ``grad_weight = grad_out^T x`` (summed over all leading
    axes) and ``grad_bias = grad_out`` summed over all leading axes."""
    dtype = _float_dtype(grad_out, x, weight)
    g, x, weight = _as(grad_out, dtype), _as(x, dtype), _as(weight, dtype)
    g2 = g.reshape(-1, g.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    return g @ weight, g2.T @ x2, g2.sum(axis=0)
