"""Run-time knobs."""
from __future__ import annotations


def set_threads(n: int) -> None:
    """Number of threads the compiled kernels use (1 .. number of cores)."""
    import numba

    n = int(n)
    if not 1 <= n <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}, got {n}")
    numba.set_num_threads(n)


def get_threads() -> int:
    import numba

    return numba.get_num_threads()


def versions() -> dict:
    import platform

    import numba
    import numpy
    import scipy

    from . import __version__
    return {"arraysim": __version__, "numpy": numpy.__version__, "numba": numba.__version__,
            "scipy": scipy.__version__, "python": platform.python_version()}
