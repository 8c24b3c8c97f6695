def load(*a, **k): pass
