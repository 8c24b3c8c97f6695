"""Command line: ``python -m fastconv {train,bench,config}``.

    python -m fastconv train [--epochs N ...]   train a CNN on the bundled digits (see --help)
    python -m fastconv bench [--json PATH ...]  per-layer speed table against reference/PyTorch
    python -m fastconv config                   the build configuration
"""
import sys

COMMANDS = {
    "train": ("fastconv.train", "train a CNN (default: on the bundled 8x8 digits)"),
    "bench": ("fastconv.bench", "time convolution per layer against the reference and PyTorch"),
    "config": (None, "print the build configuration"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"python -m fastconv: unknown command {cmd!r}; expected one of "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if cmd == "config":
        import fastconv
        fastconv.show_config()
        return 0
    from importlib import import_module
    return import_module(COMMANDS[cmd][0]).main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
