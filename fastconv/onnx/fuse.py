"""Operator patterns the importer reads as one fastconv layer."""
import math

__all__ = ["gelu_chains"]


def gelu_chains(graph):
    """GELU as exporters write it before opset 20, with single-use intermediates:
    ``{id(its first node): (x, [its nodes but the last], the last node, kind)}``, kind
    'erf' for ``Mul(Mul(x, Add(Erf(Div(x, sqrt(2))), 1)), 0.5)`` (one Activation('gelu');
    Erf alone has no layer) or 'tanh' for ``0.5 x (1 + Tanh(sqrt(2 / pi) (x + 0.044715
    x^3)))`` in PyTorch's and fastconv's own orders (one GeluTanh, not eight layers)."""
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
            len(u[0].input) == (1 if op in ("Erf", "Tanh") else 2) and \
            name not in graph.outputs else None

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
        chains[id(d)] = (x, [d, e, a, m1], m2, "erf")
    made = {id(n): i for i, (n, _, _) in enumerate(graph.nodes)}
    for t, _, _ in graph.nodes:
        found = _tanh_chain(t, producer, only, other, scalar)
        if found is not None:
            x, nodes, last = found
            chains[id(min(nodes, key=lambda n: made[id(n)]))] = (x, nodes, last, "tanh")
    return chains


def _tanh_chain(t, producer, only, other, scalar):
    """(x, nodes but the last, last) of the tanh GELU whose Tanh is t, or None."""
    def made_by(name, op):
        n = producer.get(name, (None,))[0]
        return n if n is not None and n.op_type == op and len(n.input) == 2 else None

    def scaled(node, value):     # the operand of a Mul by a scalar constant
        for a, b in (node.input, node.input[::-1]):
            if scalar(b, value):
                return a
        return None

    if t.op_type != "Tanh" or len(t.input) != 1:
        return None
    s = made_by(t.input[0], "Mul")                  # sqrt(2 / pi) * inner
    inner = scaled(s, math.sqrt(2 / math.pi)) if s is not None and \
        only(s.output[0], "Tanh") is t else None
    a = made_by(inner, "Add") if inner is not None else None
    if a is None or only(inner, "Mul") is not s:
        return None
    for x, k in (a.input, a.input[::-1]):           # x + 0.044715 x^3
        km = made_by(k, "Mul")
        cube = scaled(km, 0.044715) if km is not None and only(k, "Add") is a else None
        cubed = _cube_of(cube, x, made_by, only) if cube is not None else None
        if cubed is not None:
            break
    else:
        return None
    u = only(t.output[0], "Add")                    # 1 + tanh
    if u is None or not scalar(other(u, t.output[0]), 1.0):
        return None
    m = only(u.output[0], "Mul")
    if m is None:
        return None
    nodes = cubed + [km, a, s, t, u]
    h = other(m, u.output[0])
    half = made_by(h, "Mul")
    if half is not None and only(h, "Mul") is m and scaled(half, 0.5) == x:
        return x, nodes + [half], m                 # (x * 0.5) * (1 + tanh): PyTorch's
    if h == x:                                      # (x * (1 + tanh)) * 0.5: fastconv's
        m2 = only(m.output[0], "Mul")
        if m2 is not None and scalar(other(m2, m.output[0]), 0.5):
            return x, nodes + [m], m2
    return None


def _cube_of(name, x, made_by, only):
    """The nodes that make ``name`` as x * (x * x) or (x * x) * x, or None."""
    outer = made_by(name, "Mul")
    if outer is None:
        return None
    for sq_name, lone in (outer.input, outer.input[::-1]):
        sq = made_by(sq_name, "Mul")
        if lone == x and sq is not None and list(sq.input) == [x, x] and \
                only(sq_name, "Mul") is outer:
            return [sq, outer]
    return None
