"""What losses, optimizers and initializers share: objects made from a name, a config dict
``{'class_name': ..., 'config': {...}}`` or an instance, and a config-based ``repr``."""


class Configurable:
    """``from_config`` (the config is the constructor's keyword arguments) and a ``repr``
    that shows the config, e.g. ``SGD(learning_rate=0.01, ...)``."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _repr_config(self):
        return self.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_config().items())
        return f"{type(self).__name__}({args})"


class Registry:
    """The ``get`` / ``serialize`` / ``deserialize`` functions of one kind of object.

    ``by_name``: lower-case names (Keras's strings) -> class; ``by_class``: class name ->
    class (the serialised form).  Both dicts are used by reference, so a module that
    extends them extends its registry."""

    def __init__(self, kind, base, by_name, by_class):
        self.kind = kind
        self.base = base
        self.by_name = by_name
        self.by_class = by_class
        article = "an" if base.__name__[0] in "AEIOU" else "a"
        self._expected = f"a name, a config dict or {article} {base.__name__}"

    def get(self, identifier):
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            key = identifier.strip()
            if key.lower() in self.by_name:
                return self.by_name[key.lower()]()
            if key in self.by_class:
                return self.by_class[key]()
            raise ValueError(f"unknown {self.kind} {identifier!r}; known: {sorted(self.by_name)}")
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        raise TypeError(f"{self.kind} must be {self._expected}, got {identifier!r}")

    def serialize(self, obj):
        if type(obj).__name__ not in self.by_class:
            raise TypeError(f"cannot serialize custom {self.kind} {obj!r}")
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config):
        name = config.get("class_name") if isinstance(config, dict) else None
        if name not in self.by_class:
            raise ValueError(f"unknown {self.kind} class {name!r}; known: {sorted(self.by_class)}")
        return self.by_class[name].from_config(dict(config.get("config", {})))
