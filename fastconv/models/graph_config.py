"""A graph model's architecture as JSON-ready data, and back (Keras's functional config).

``{"class_name": "Model", "name", "seed", "dtype", "layers": [{"class_name", "config",
"inbound": [[layer_name, call_index], ...], "listed": bool}, ...], "input_layers":
[[name, 0], ...], "output_layers": [[name, call_index], ...]}``: each entry of ``inbound``
names the layer call whose output feeds this call (``call_index`` counts the calls of a
layer used at several places). A layer used at several places has one entry per call,
with the same name; the first one carries the config.
"""
from .. import layers as _layers
from ..layers.base import InputLayer, input_layer_of

__all__ = ["graph_config", "model_from_config"]


def graph_config(model):
    calls = {}       # id(tensor) -> (layer name, call index)
    for t in model._inputs:
        calls[id(t)] = (input_layer_of(t).name, 0)
    count = {}
    entries = []
    for t in model._inputs:
        entries.append({"class_name": "InputLayer",
                        "config": input_layer_of(t).get_config(), "inbound": []})
    for node in model._nodes:
        layer = node.layer
        k = count.get(id(layer), 0)
        count[id(layer)] = k + 1
        entry = {"class_name": type(layer).__name__, "name": layer.name,
                 "inbound": [list(calls[id(t)]) for t in node.inputs], "listed": node.listed}
        if k == 0:
            entry["config"] = layer.get_config()
        entries.append(entry)
        calls[id(node.output)] = (layer.name, k)
    return {
        "class_name": "Model",
        "name": model.name,
        "seed": model.seed,
        "dtype": model.dtype.name,
        "layers": entries,
        "input_layers": [list(calls[id(t)]) for t in model._inputs],
        "output_layers": [list(calls[id(t)]) for t in model._outputs],
    }


def _ref(value, what):
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not isinstance(value[0], str) or not isinstance(value[1], int)
            or isinstance(value[1], bool) or value[1] < 0):
        raise ValueError(f"{what} must be [layer_name, call_index], got {value!r}")
    return value[0], value[1]


def model_from_config(config):
    from .model import Model
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("a Model config must be a dict with a 'layers' list")
    layers, outputs_of = {}, {}     # name -> layer; (name, k) -> tensor
    inputs = []
    for i, entry in enumerate(config["layers"]):
        if not isinstance(entry, dict):
            raise ValueError(f"layer entry {i} must be a dict, got {entry!r}")
        if entry.get("class_name") == "InputLayer":
            cfg = entry.get("config")
            if not isinstance(cfg, dict) or "input_shape" not in cfg:
                raise ValueError(f"InputLayer entry {i} needs a config with input_shape")
            t = _layers.Input(tuple(cfg["input_shape"]), name=cfg.get("name"),
                              dtype=cfg.get("dtype"))
            layer = input_layer_of(t)
            layers[layer.name] = layer
            outputs_of[(layer.name, 0)] = t
            inputs.append(t)
            continue
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if not isinstance(name, str):
            raise ValueError(f"layer entry {i} has no name")
        if name in layers:
            layer = layers[name]
        else:
            if "config" not in entry:
                raise ValueError(f"layer {name!r} is used before its config is given")
            layer = _layers.deserialize({"class_name": entry.get("class_name"),
                                         "config": entry["config"]})
            if isinstance(layer, InputLayer):
                raise ValueError(f"entry {i}: an InputLayer must have class_name InputLayer")
            layers[name] = layer
        inbound = entry.get("inbound")
        if not isinstance(inbound, list) or not inbound:
            raise ValueError(f"layer {name!r} (entry {i}) needs a non-empty 'inbound' list")
        srcs = []
        for ref in inbound:
            key = _ref(ref, f"an inbound entry of layer {name!r}")
            if key not in outputs_of:
                raise ValueError(f"layer {name!r} is fed by {list(key)}, which is not defined "
                                 "before it")
            srcs.append(outputs_of[key])
        listed = bool(entry.get("listed", len(srcs) > 1))
        k = sum(1 for (n, _) in outputs_of if n == name)
        outputs_of[(name, k)] = layer(srcs if listed else srcs[0])
    try:
        ins = [outputs_of[_ref(r, "an input_layers entry")] for r in config["input_layers"]]
        outs = [outputs_of[_ref(r, "an output_layers entry")] for r in config["output_layers"]]
    except (KeyError, TypeError):
        raise ValueError("the model config's input_layers/output_layers name unknown layer "
                         "calls") from None
    return Model(ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0],
                 name=config.get("name"), seed=config.get("seed"),
                 dtype=config.get("dtype", "float32"))
