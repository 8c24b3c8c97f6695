"""Model files: ``save_model`` / ``load_model`` (the format is described in
:mod:`fastconv.models.saving`, where they live; this module keeps the short import path)."""
from .models.saving import FORMAT, VERSION, load_model, save_model

__all__ = ["save_model", "load_model", "FORMAT", "VERSION"]
