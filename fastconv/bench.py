"""``python -m fastconv bench``: convolution speed per layer of the benchmark layer set,
or (``--models``) of whole networks against PyTorch and ONNX Runtime.

For each layer it times forward and forward+backward for fastconv, the NumPy reference
and PyTorch (when installed), all in this one process, in alternating blocks of rounds
(A B A B ..., four blocks of at least 80 ms in all for each engine and pass) so that a
noisy machine hurts every engine alike, and prints medians: ms, GFLOP/s, the ratio to
PyTorch and to the reference, the percentage of NumPy's float32 matrix-product rate
measured in the same run (the machine's practical peak), and 2-thread over 1-thread
scaling. GFLOP/s counts the direct convolution's operations whatever algorithm runs (the
Winograd layers pass 100% of the peak). ``--json PATH`` saves every figure.

NumPy's matrix product is slowed by ``OPENBLAS_CORETYPE``, which some machines set; the
command re-runs itself without it, and with ``OPENBLAS_THREAD_TIMEOUT=4`` unless set: by
default OpenBLAS's idle workers busy-wait for a long while after every product, which on a
small machine takes cores away from whichever engine is timed next (NumPy's own speed is
unchanged). ``--keep-env`` opts out of both.

``--models [--model-set lenet5,tfcnn,...]`` times whole networks instead (training step
and inference, fastconv against PyTorch and ONNX Runtime): see ``fastconv.bench_models``.
benchmarks/README.md lists the layer set and the networks.
"""
import argparse
import inspect
import json
import os
import platform
import sys
import time

import numpy as np

from ._settle import wait_until_idle, warm_up

# name: (N, C, H, W, K, F, S, P) -- the benchmark layer set (benchmarks/README.md)
LAYERS = {
    "lenet-c1": (64, 1, 28, 28, 6, 5, 1, 0),
    "lenet-c3": (64, 6, 12, 12, 16, 5, 1, 0),
    "cifar-c1": (64, 3, 32, 32, 32, 3, 1, 1),
    "cifar-c2": (64, 32, 16, 16, 64, 3, 1, 1),
    "cifar-c3": (64, 64, 8, 8, 64, 3, 1, 1),
    "resnet-c": (32, 64, 56, 56, 64, 3, 1, 1),
    "strided": (64, 32, 32, 32, 64, 3, 2, 1),
    "tfcnn-c1": (64, 3, 32, 32, 32, 3, 1, 0),
    "tfcnn-c2": (64, 32, 15, 15, 64, 3, 1, 0),
    "pointwise": (64, 64, 16, 16, 128, 1, 1, 0),
    "single": (1, 32, 16, 16, 64, 3, 1, 1),
}

# name: ((N, C, H, W, K, F, S, P), groups, transposed) -- rows timed only when fastconv has
# the op: conv2d(groups=) for the depthwise rows, conv_transpose2d for the transposed one
# (C in, K out, H x W the input: 8x8 -> 16x16)
EXTRA_LAYERS = {
    "depthwise": ((64, 64, 32, 32, 64, 3, 1, 1), 64, False),
    "depthwise-s2": ((64, 128, 16, 16, 128, 3, 2, 1), 128, False),
    "transposed": ((64, 64, 8, 8, 32, 4, 2, 1), 1, True),
}


def layer_spec(name):
    """(shape, groups, transposed) of a layer of either set."""
    if name in LAYERS:
        return LAYERS[name], 1, False
    return EXTRA_LAYERS[name]


def missing_op(name):
    """Why fastconv cannot run a layer yet, or None when it can."""
    _, groups, transposed = layer_spec(name)
    from . import functional
    if transposed and not hasattr(functional, "conv_transpose2d"):
        return "fastconv.functional.conv_transpose2d does not exist yet"
    if groups > 1:
        if "groups" not in inspect.signature(functional.conv2d).parameters:
            return "fastconv.functional.conv2d has no groups= yet"
    return None


def output_hw(layer, transposed=False):
    """(Ho, Wo) of a benchmark layer, by the rules of fastconv.geometry."""
    from . import geometry as geo
    N, C, H, W, K, F, S, P = layer
    if transposed:
        _, shape = geo.conv_transpose2d_geometry((N, C, H, W), (C, K, F, F), S, P)
        return shape[2], shape[3]
    g = geo.conv2d_geometry((N, C, H, W), (K, C, F, F), S, P)
    return g.Ho, g.Wo


def forward_flops(layer, groups=1, transposed=False):
    """2 * N * K * Ho * Wo * (C / groups) * F^2 (a transposed convolution: the same count for
    its input, 2 * N * C * H * W * K * F^2); forward+backward is three times this."""
    N, C, H, W, K, F, S, P = layer
    if transposed:
        return 2 * N * C * H * W * K * F * F
    Ho, Wo = output_hw(layer)
    return 2 * N * K * Ho * Wo * (C // groups) * F * F


def make_inputs(layer, dtype=np.float32, seed=0, groups=1, transposed=False):
    N, C, H, W, K, F, S, P = layer
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    # PyTorch's weight layouts: (K, C / groups, F, F); transposed (C, K, F, F)
    wshape = (C, K, F, F) if transposed else (K, C // groups, F, F)
    w = (rng.standard_normal(wshape) / np.sqrt(C // groups * F * F)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    g = rng.standard_normal((N, K) + output_hw(layer, transposed)).astype(dtype)
    return x, w, b, g


def engine_functions(engine, layer, groups=1, transposed=False):
    """(forward, forward_backward) closures of one engine on one layer's inputs; raises
    NotImplementedError when the engine lacks the op."""
    N, C, H, W, K, F, S, P = layer
    x, w, b, g = make_inputs(layer, groups=groups, transposed=transposed)
    kw = {"groups": groups} if groups > 1 else {}
    if engine == "torch":
        import torch
        tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
        tg = torch.from_numpy(g)
        op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d

        def fwd():
            with torch.no_grad():
                return op(tx, tw, tb, stride=S, padding=P, **kw)

        def fwd_bwd():
            tx.grad = tw.grad = tb.grad = None
            op(tx, tw, tb, stride=S, padding=P, **kw).backward(tg)
        return fwd, fwd_bwd
    if engine == "fastconv":
        from . import functional as mod
    else:
        from . import reference as mod
    name = "conv_transpose2d" if transposed else "conv2d"
    op, op_backward = getattr(mod, name, None), getattr(mod, name + "_backward", None)
    if op is None or op_backward is None:
        raise NotImplementedError(f"{mod.__name__}.{name}")
    if kw and "groups" not in inspect.signature(op).parameters:
        raise NotImplementedError(f"{mod.__name__}.{name}(groups=)")

    def fwd():
        return op(x, w, b, stride=S, padding=P, **kw)

    def fwd_bwd():
        op(x, w, b, stride=S, padding=P, **kw)
        op_backward(g, x, w, stride=S, padding=P, **kw)
    return fwd, fwd_bwd


def _time_once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# Pause before each block of one engine, then wait for the process to go idle
# (fastconv._settle). Thread pools keep their workers spinning for a while after
# a call (OpenBLAS's for up to ~0.1 s, OpenMP runtimes shorter); on a 2-core
# machine a spinning worker of the engine timed just before takes a core away
# from the next one. After the pause every engine is timed in its own steady
# state, as a user calling it repeatedly sees it.
SETTLE_SECONDS = 0.15
BLOCKS = 2
# A layer's passes: each engine's timed calls in four blocks spread over the layer's
# turn, and at least LAYER_SPAN seconds of them (a 4 ms pass took 3 calls a block, 25 ms
# in all: one stall of this shared host over a block or two was its minimum).
LAYER_BLOCKS = 4
LAYER_SPAN = 0.08


# How the timed calls of one engine are summarised: the median (default), or the
# minimum, the better estimate of what the code can do on a machine shared with
# other jobs (noise there only ever adds time). Set by --stat.
STAT = "median"


def measure_interleaved(fns, rounds, min_time=0.0, blocks=BLOCKS, settle=SETTLE_SECONDS):
    """Median seconds of each callable in ``fns`` (a dict).

    The engines take turns in ``blocks`` blocks (A B A B ...), each block a pause,
    untimed calls for ``fastconv._settle.WARM_UP_SECONDS`` (first-touch pages, caches,
    the thread pool awake and settled) and its share of the ``rounds`` timed calls;
    ``min_time`` extends the rounds of short calls.
    """
    per_block = max(1, -(-rounds // blocks))
    times = {k: [] for k in fns}
    for _ in range(blocks):
        for k, fn in fns.items():
            if settle:
                wait_until_idle(settle)
            warm_up(fn)
            t_end = time.perf_counter() + min_time / blocks
            r = 0
            while r < per_block or (time.perf_counter() < t_end and r < 4 * per_block):
                times[k].append(_time_once(fn))
                r += 1
    summarise = np.min if STAT == "min" else np.median
    return {k: float(summarise(v)) for k, v in times.items()}


def numpy_matmul_peak(n=2048, rounds=5):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    t = measure_interleaved({"np": lambda: a @ b}, rounds)["np"]
    return 2 * n ** 3 / t / 1e9


def gemm_table(sizes, rounds, threads):
    from . import _gemm, set_num_threads
    set_num_threads(threads)
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        c = np.empty((n, n), np.float32)
        t = measure_interleaved({
            "fastconv": lambda: _gemm.gemm(a, b, c, 0.0, threads),
            "numpy": lambda: a @ b,
        }, rounds)
        flops = 2 * n ** 3
        rows.append({"n": n, "fastconv_gflops": flops / t["fastconv"] / 1e9,
                     "numpy_gflops": flops / t["numpy"] / 1e9,
                     "ratio": t["numpy"] / t["fastconv"]})
    return rows


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def run(layers, rounds, threads, with_reference, with_torch, gemm_sizes):
    import fastconv
    engines = ["fastconv"]
    torch = None
    if with_torch:
        try:
            import torch
            engines.append("torch")
        except ImportError:
            print("(PyTorch is not installed: no PyTorch column)")
    load_before = _loadavg()
    peak = numpy_matmul_peak()
    results = {"machine": platform.platform(), "processor": platform.processor(),
               "config": fastconv.get_config_info(), "threads": threads,
               "numpy_matmul_gflops": peak, "load_before": load_before, "layers": {}}
    if load_before is not None:
        print(f"load average before the run: {load_before:.2f} on {os.cpu_count()} CPUs"
              + ("  (busy machine: timings are noisy, compare only within this run)"
                 if load_before > 0.5 * (os.cpu_count() or 1) else ""))
    results["stat"] = STAT
    print(f"timings: {STAT} of the timed rounds")
    print(f"NumPy float32 matmul (2048^3): {peak:.1f} GFLOP/s  -- the practical peak of this run")
    if gemm_sizes:
        results["gemm"] = gemm_table(gemm_sizes, rounds, threads)
        print("\nGEMM float32 (square)        fastconv  numpy   ratio")
        for row in results["gemm"]:
            print(f"  n={row['n']:<5d}                  {row['fastconv_gflops']:7.1f} "
                  f"{row['numpy_gflops']:7.1f}  {row['ratio']:5.2f}x")
    header = (f"\n{'layer':<9} {'pass':<8} {'fastconv ms':>11} {'GFLOP/s':>8} {'torch ms':>9} "
              f"{'x torch':>7} {'ref ms':>9} {'x ref':>7} {'% peak':>6} {'2t/1t':>6}")
    print("\nGFLOP/s and % peak count a direct convolution's 2*N*K*C*R*S*Ho*Wo operations; layers on\n"
          "the Winograd paths (3x3, stride 1, >= 32 channels) do 2.25x (F(2x2)) or 4x (F(4x4))\n"
          "fewer multiply-adds, and with the AVX-512 kernels 3x3 stride-1 forward passes on few\n"
          "channels 1.5x (F(2, 3) along rows), so they can pass 100% of the matrix-product rate.")
    print(header)
    print("-" * (len(header) - 1))
    for name in layers:
        layer, groups, transposed = layer_spec(name)
        kind = {"groups": groups, "transposed": transposed}
        missing = missing_op(name)
        if missing:
            print(f"{name:<9} skipped: {missing}")
            results["layers"][name] = {"skipped": missing}
            continue
        entry = {}
        for mode, flops in (("forward", forward_flops(layer, **kind)),
                            ("fwd+bwd", 3 * forward_flops(layer, **kind))):
            idx = 0 if mode == "forward" else 1
            fns = {}
            for eng in engines:
                fns[eng] = engine_functions(eng, layer, **kind)[idx]
            fastconv.set_num_threads(threads)
            if torch is not None:
                torch.set_num_threads(threads)
            t = measure_interleaved(fns, rounds, min_time=LAYER_SPAN, blocks=LAYER_BLOCKS)
            t_ref = None
            if with_reference:
                try:
                    ref_fn = engine_functions("reference", layer, **kind)[idx]
                    t_ref = measure_interleaved({"r": ref_fn}, 1)["r"]
                except NotImplementedError:  # the reference has no such op yet
                    pass
            scaling = None
            if threads > 1:
                fastconv.set_num_threads(1)
                t1 = measure_interleaved({"f": fns["fastconv"]}, max(3, rounds // 2))["f"]
                fastconv.set_num_threads(threads)
                scaling = t1 / t["fastconv"]
            gf = flops / t["fastconv"] / 1e9
            row = {"fastconv_ms": t["fastconv"] * 1e3, "gflops": gf,
                   "torch_ms": t["torch"] * 1e3 if "torch" in t else None,
                   "x_torch": t["torch"] / t["fastconv"] if "torch" in t else None,
                   "torch_gflops": flops / t["torch"] / 1e9 if "torch" in t else None,
                   "reference_ms": t_ref * 1e3 if t_ref else None,
                   "x_reference": t_ref / t["fastconv"] if t_ref else None,
                   "pct_peak": 100 * gf / peak, "scaling_2t_1t": scaling}
            entry[mode] = row
            print(f"{name:<9} {mode:<8} {row['fastconv_ms']:11.3f} {gf:8.1f} "
                  f"{_fmt(row['torch_ms'], '9.3f')} {_fmt(row['x_torch'], '7.2f')} "
                  f"{_fmt(row['reference_ms'], '9.1f')} {_fmt(row['x_reference'], '7.1f')} "
                  f"{row['pct_peak']:6.1f} {_fmt(scaling, '6.2f')}", flush=True)
        results["layers"][name] = entry
    summary = {}
    for mode in ("forward", "fwd+bwd"):
        for key in ("x_torch", "x_reference"):
            vals = [results["layers"][n][mode][key] for n in layers
                    if mode in results["layers"][n] and results["layers"][n][mode][key]]
            if vals:
                summary[f"{mode} geomean {key}"] = float(np.exp(np.mean(np.log(vals))))
    results["summary"] = summary
    results["load_after"] = _loadavg()
    print()
    for k, v in summary.items():
        print(f"{k}: {v:.2f}x")
    if results["load_after"] is not None:
        print(f"load average after the run: {results['load_after']:.2f}")
    return results


def _loadavg():
    """1-minute load average, or None where the OS does not tell."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastconv bench", description=__doc__.split("\n\n")[0])
    names = list(LAYERS) + list(EXTRA_LAYERS)
    parser.add_argument("--layers", nargs="+", choices=names, default=names, metavar="NAME",
                        help=f"layers to time, of {', '.join(names)} (default: all; rows whose op fastconv lacks are skipped)")
    parser.add_argument("--models", action="store_true",
                        help="time whole networks (train step, inference) against PyTorch and ONNX Runtime")
    parser.add_argument("--model-set", metavar="NAMES", default=None,
                        help="with --models: comma-separated networks (default: all of "
                             "lenet5,tfcnn,cifar_example,resnet20,mobilenet)")
    parser.add_argument("--no-onnx", action="store_true", help="with --models: skip ONNX Runtime")
    parser.add_argument("--rounds", type=int, default=None,
                        help="timed rounds per engine (default: 7 per layer, 5 per network)")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: all)")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow NumPy reference")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--gemm", nargs="*", type=int, default=[256, 512, 1024],
                        help="square GEMM sizes to compare with NumPy (none to skip)")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="summary of the timed rounds: median, or min (robust on a shared machine)")
    parser.add_argument("--json", metavar="PATH", help="save all figures as JSON")
    parser.add_argument("--keep-env", action="store_true",
                        help="keep OPENBLAS_CORETYPE (slows NumPy's peak on some machines)")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.models else 7
    model_set = None
    if args.model_set is not None:
        if not args.models:
            parser.error("--model-set needs --models")
        from .bench_models import parse_model_set
        try:
            model_set = parse_model_set(args.model_set)
        except ValueError as e:
            parser.error(f"--model-set: {e}")
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if any(n < 1 for n in args.gemm):
        parser.error(f"--gemm sizes must be >= 1, got {args.gemm}")
    if not args.keep_env and ("OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ
                              or "OPENBLAS_THREAD_TIMEOUT" not in os.environ):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
        argv_full = [sys.executable, "-m", "fastconv", "bench"] + list(sys.argv[2:] if argv is None else argv)
        os.execve(sys.executable, argv_full, env)
    import fastconv
    global STAT
    STAT = args.stat
    threads = args.threads or fastconv.get_num_threads()
    if args.models:
        from . import bench_models
        results = bench_models.run(model_set or list(bench_models.MODEL_SET), args.rounds, threads,
                                   args.stat, not args.no_torch, not args.no_onnx)
    else:
        results = run(args.layers, args.rounds, threads, not args.no_reference, not args.no_torch,
                      args.gemm)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"saved {args.json}")
    return 0
