"""Build fastconv: the C kernels in csrc/ as a static library, linked into the Cython
extensions fastconv/_*.pyx, with OpenMP when the compiler supports it.

Environment variables:
  FASTCONV_NO_OPENMP=1        build serial kernels even if OpenMP is available.
  FASTCONV_SANITIZE=1         build with -fsanitize=address,undefined (see tools/sanitize.sh).
  FASTCONV_DEBUG=1            -O0 -g instead of -O3.
  FASTCONV_BUILD_JOBS=N       compile N files at once (default: one per available CPU).
"""
import glob
import os
import shutil
import sys
import tempfile
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_clib import build_clib
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
IS_MSVC = sys.platform == "win32"

def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")

def _base_cflags():
    if IS_MSVC:
        return ["/O2"]
    flags = ["-std=gnu11", "-fno-strict-aliasing"]
    if _flag("FASTCONV_DEBUG"):
        flags += ["-O0", "-g"]
    elif _flag("FASTCONV_SANITIZE"):
        # -O1: the sanitizers' recommended level (accurate reports, a fraction of -O3's
        # compile time on the large Cython-generated files).
        flags += ["-O1"]
    else:
        flags += ["-O3"]
    if _flag("FASTCONV_SANITIZE"):
        # Every UBSan check aborts on its first report (no silent "recover").
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
                  "-fno-omit-frame-pointer", "-g"]
    return flags

def _build_jobs():
    """Files compiled at once: FASTCONV_BUILD_JOBS, else one per CPU this process may use."""
    value = os.environ.get("FASTCONV_BUILD_JOBS", "").strip()
    if value:
        try:
            jobs = int(value)
        except ValueError:
            raise SystemExit(f"FASTCONV_BUILD_JOBS must be a positive integer, got {value!r}")
        if jobs < 1:
            raise SystemExit(f"FASTCONV_BUILD_JOBS must be a positive integer, got {value!r}")
        return jobs
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)

def _sanitize_ldflags():
    return ["-fsanitize=address,undefined"] if _flag("FASTCONV_SANITIZE") and not IS_MSVC else []

def _probe_openmp(compiler):
    """Compile and link a small OpenMP program; return (cflags, ldflags) or None."""
    if _flag("FASTCONV_NO_OPENMP"):
        return None
    if IS_MSVC:
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    code = textwrap.dedent("""
        #include <omp.h>
        #include <stdio.h>
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            printf("%d\\n", n > 0 && omp_get_max_threads() > 0);
            return 0;
        }
    """)
    tmp = tempfile.mkdtemp(prefix="fastconv_omp_probe_")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(code)
        for cflags, ldflags in candidates:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=ldflags)
                return cflags, ldflags
            except Exception:  # any compile or link failure means: not this flag set
                continue
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

_OPENMP = {}

def _openmp_flags(compiler):
    if "result" not in _OPENMP:
        result = _probe_openmp(compiler)
        if result is None:
            warnings.warn(
                "fastconv: the C compiler does not support OpenMP (or FASTCONV_NO_OPENMP is set); "
                "building SERIAL kernels. fastconv.show_config() will report OpenMP off.",
                stacklevel=1,
            )
            print("*** fastconv: building WITHOUT OpenMP ***", file=sys.stderr)
        _OPENMP["result"] = result
    return _OPENMP["result"] or ([], [])

class BuildKernels(build_clib):
    """Compile csrc/*.c into a static library with the OpenMP flags the probe found."""

    def build_libraries(self, libraries):
        omp_cflags, _ = _openmp_flags(self.compiler)
        for name, info in libraries:
            info["cflags"] = _base_cflags() + omp_cflags
        # setuptools compiles a library's sources one after another; the kernels are ~40
        # independent files, so hand each to its own compiler process (the compiler
        # object only spawns subprocesses, as build_ext's own -j relies on).
        jobs = _build_jobs()
        serial_compile = self.compiler.compile
        if jobs > 1:
            def compile_in_parallel(sources, **kwargs):
                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    per_source = pool.map(lambda src: serial_compile([src], **kwargs), sources)
                    return [obj for objs in per_source for obj in objs]
            self.compiler.compile = compile_in_parallel
        try:
            super().build_libraries(libraries)
        finally:
            self.compiler.compile = serial_compile

class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:  # pip install . passes no -j: use the machine
            self.parallel = _build_jobs()

    def run(self):
        # The kernels library must exist before the extensions link against it.
        self.run_command("build_clib")
        clib = self.get_finalized_command("build_clib")
        self.library_dirs.append(clib.build_clib)
        super().run()

    def build_extensions(self):
        omp_cflags, omp_ldflags = _openmp_flags(self.compiler)
        for ext in self.extensions:
            ext.extra_compile_args = _base_cflags() + omp_cflags + ext.extra_compile_args
            ext.extra_link_args = omp_ldflags + _sanitize_ldflags() + ext.extra_link_args
        super().build_extensions()

KERNEL_SOURCES = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", "*.c")))
KERNEL_HEADERS = sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", "*.h")))

def _extensions():
    from Cython.Build import cythonize

    directives = {
        "language_level": 3,
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": False,
        "embedsignature": True,
    }
    exts = [
        Extension(
            f"fastconv.{os.path.splitext(os.path.basename(p))[0]}",
            [os.path.relpath(p, HERE)],
            include_dirs=["csrc", "fastconv"],
            libraries=["fastconv_kernels"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            # Relink when any kernel source changes: they arrive through the static library.
            depends=KERNEL_SOURCES + KERNEL_HEADERS,
        )
        for p in sorted(glob.glob(os.path.join(HERE, "fastconv", "_*.pyx")))
    ]
    return cythonize(exts, compiler_directives=directives, include_path=["fastconv"])

setup(
    # obj_deps: every object is rebuilt when any header changes (the *_impl.h templates).
    libraries=[("fastconv_kernels", {"sources": KERNEL_SOURCES, "include_dirs": ["csrc"],
                                     "obj_deps": {"": KERNEL_HEADERS}})],
    ext_modules=_extensions(),
    cmdclass={"build_clib": BuildKernels, "build_ext": BuildExt},
)
