"""Operator patterns the importer reads as one fastconv layer."""

__all__ = ["gelu_chains"]


def gelu_chains(graph):
    """GELU in its erf form as exporters write it before opset 20, ``Mul(Mul(x, Add(Erf(
    Div(x, sqrt(2))), 1)), 0.5)`` with single-use intermediates: ``{id(Div node): (x,
    [the first four nodes], the last Mul)}`` (the importer makes it one Activation('gelu');
    Erf alone has no layer)."""
    producer, users = {}, {}
    for node, _, params in graph.nodes:
        for out in node.output:
            producer[out] = (node, params)
        for n in node.input:
            users.setdefault(n, []).append(node)

    def scalar(name, value):
        c = graph.constants.get(name)
        if c is None and name in producer and producer[name][0].op_type == "Constant":
            c = producer[name][1]["value"]
        return c is not None and c.dtype.kind == "f" and c.size == 1 and \
            abs(float(c.reshape(-1)[0]) - value) <= 1e-6 * value

    def only(name, op):
        u = users.get(name, [])
        return u[0] if len(u) == 1 and u[0].op_type == op and \
            len(u[0].input) == (1 if op == "Erf" else 2) and name not in graph.outputs else None

    def other(node, name):
        a, b = node.input
        return b if a == name else a

    chains = {}
    for e, _, _ in graph.nodes:
        if e.op_type != "Erf" or e.input[0] not in producer:
            continue
        d = producer[e.input[0]][0]
        if len(d.input) != 2 or only(d.output[0], "Erf") is not e:
            continue
        if d.op_type == "Div" and scalar(d.input[1], 2 ** 0.5):
            x = d.input[0]
        elif d.op_type == "Mul" and scalar(d.input[1], 0.5 ** 0.5):
            x = d.input[0]
        elif d.op_type == "Mul" and scalar(d.input[0], 0.5 ** 0.5):
            x = d.input[1]
        else:
            continue
        a = only(e.output[0], "Add")
        if a is None or not scalar(other(a, e.output[0]), 1.0):
            continue
        m1 = only(a.output[0], "Mul")
        if m1 is None or other(m1, a.output[0]) != x:
            continue
        m2 = only(m1.output[0], "Mul")
        if m2 is None or not scalar(other(m2, m1.output[0]), 0.5):
            continue
        chains[id(d)] = (x, [d, e, a, m1], m2)
    return chains
