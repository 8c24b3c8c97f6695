"""``Model.summary()``: one row per layer, Keras's table plus how each count is formed."""
from ..layers.base import InputLayer

__all__ = ["print_summary"]


def _connections(model):
    """layer -> list of 'producer' names it is connected to (Keras's column)."""
    producer = {}
    for t in model._inputs:
        layer = next((l for l in model.layers
                      if isinstance(l, InputLayer) and l.output is t), None)
        producer[id(t)] = layer.name if layer is not None else "input"
    conn = {}
    for node in model._nodes:
        srcs = [producer.get(id(t), "?") for t in node.inputs]
        conn.setdefault(id(node.layer), []).extend(srcs)
        producer[id(node.output)] = node.layer.name
    return conn


def print_summary(model, print_fn, line_length=None):
    graph = not getattr(model, "_is_sequential", False)
    conn = _connections(model) if graph else {}
    header = ["Layer (type)", "Output Shape", "Param #"]
    header += ["Connected to"] if graph else ["Parameters counted as"]
    rows = []
    total = trainable = 0
    for l in model.layers:
        p = l.count_params()
        total += p
        trainable += sum(w.size for w in l.trainable_weights)
        shape = str(l.output_shape) if not isinstance(l, InputLayer) else str(l.input_shape)
        last = ", ".join(conn.get(id(l), [])) if graph else l.param_formula()
        rows.append([f"{l.name} ({type(l).__name__})", shape, f"{p:,}", last])
    widths = [max(len(r[i]) for r in rows + [header]) + 2 for i in range(3)]
    widths[0] = max(widths[0], 30)
    widths[1] = max(widths[1], 22)
    width = line_length or max(sum(widths) + 30, 90)

    def fmt(r):
        return f" {r[0]:<{widths[0]}}{r[1]:<{widths[1]}}{r[2]:>{widths[2]}}  {r[3]}".rstrip()

    ins = model.input_shape
    print_fn(f'Model: "{model.name}"   input: {ins}')
    print_fn("_" * width)
    print_fn(fmt(header))
    print_fn("=" * width)
    for i, r in enumerate(rows):
        print_fn(fmt(r))
        if i < len(rows) - 1:
            print_fn("_" * width)
    print_fn("=" * width)
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    print_fn("_" * width)
