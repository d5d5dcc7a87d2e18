"""Run a SPICE deck in ngspice (shared library through PySpice) and return its vectors.

One ``NgSpiceShared`` instance per process (ngspice keeps global state; the library cannot be loaded
twice), reset between runs (``destroy all`` + ``remcirc``), so runs do not see each other.

PySpice 1.5 predates ngspice 39: it warns that the version is unsupported and, by default, treats every
stderr line that does not start with ``Warning:`` as an error (ngspice writes plain notes such as
"Note: Starting dynamic gmin stepping" and the name of a model it skips to stderr).  Here the stderr
callback only *collects* the messages; whether a run failed is decided from ngspice's own results:

* the deck did not load (no circuit; the ``Error:`` lines of the parser are reported),
* the analysis produced no new plot or a plot without data,
* ngspice reported ``run simulation(s) aborted`` / ``Timestep too small`` (the partial plot is discarded),
* a ``.tran`` ended before its stop time.

Any of these raises :class:`SpiceError` carrying ngspice's error lines.
"""
from __future__ import annotations

import logging
import re
import shutil
import threading
import time

import numpy as np

__all__ = ["SpiceUnavailable", "SpiceError", "ngspice_available", "run", "ngspice_version"]

INSTALL_HINT = ("install ngspice and its shared library and PySpice: "
                "'apt-get install -y ngspice libngspice0-dev' and 'pip install PySpice==1.5'")


class SpiceUnavailable(RuntimeError):
    """ngspice (shared library) or PySpice is missing; the message says how to install them."""


class SpiceError(RuntimeError):
    """The simulation failed or did not converge; the message holds ngspice's error lines."""

    def __init__(self, message: str, lines: list[str] | None = None):
        super().__init__(message)
        self.lines = list(lines or [])


_LOCK = threading.RLock()
_NG = None  # the process-wide shared ngspice
_NG_ERROR: str | None = None  # why it could not be started (cached)
_FATAL = re.compile(r"aborted|timestep too small|there aren't any circuits loaded|no circuit loaded"
                    r"|fatal|cannot recover|singular matrix.*abort", re.IGNORECASE)
_ERRLINE = re.compile(r"^\s*(error|fatal)|aborted|too small|unknown subckt|can't find model"
                      r"|could not find|not found|undefined", re.IGNORECASE)


def _make_shared():
    """Create the process-wide ngspice instance (raises SpiceUnavailable)."""
    global _NG, _NG_ERROR
    if _NG is not None:
        return _NG
    if _NG_ERROR is not None:
        raise SpiceUnavailable(_NG_ERROR)
    try:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared
    except Exception as e:  # ImportError, or cffi errors inside PySpice
        _NG_ERROR = f"PySpice is not importable ({e}); {INSTALL_HINT}"
        raise SpiceUnavailable(_NG_ERROR) from None

    class _Collecting(NgSpiceShared):
        """Collects stdout/stderr lines without PySpice's error heuristics."""

        @staticmethod
        def _send_char(message_c, ngspice_id, user_data):
            from PySpice.Spice.NgSpice.Shared import ffi, ffi_string_utf8
            self = ffi.from_handle(user_data)
            message = ffi_string_utf8(message_c)
            prefix, _, content = message.partition(" ")
            if prefix == "stderr":
                self._stderr.append(content)
            else:
                self._stdout.append(content)
            return 0

        @staticmethod
        def _exit(exit_status, immediate_unloding, quit_exit, ngspice_id, user_data):
            from PySpice.Spice.NgSpice.Shared import ffi
            self = ffi.from_handle(user_data)
            self._arraysim_exited = (exit_status, immediate_unloding, quit_exit)
            return exit_status

        @staticmethod
        def _background_thread_running(is_running, ngspice_id, user_data):
            from PySpice.Spice.NgSpice.Shared import ffi
            self = ffi.from_handle(user_data)
            # ngspice's argument is "no background thread running": True when the thread has ended
            self._is_running = not bool(is_running)
            if is_running:
                self._arraysim_bg_done = True
            return 0

    for name in ("PySpice", "PySpice.Spice.NgSpice.Shared"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the version warning; we report ourselves
    try:
        ng = _Collecting(ngspice_id=0, send_data=False, verbose=False)
    except Exception as e:  # OSError from dlopen when libngspice.so is missing, etc.
        _NG_ERROR = f"the ngspice shared library could not be loaded ({e}); {INSTALL_HINT}"
        raise SpiceUnavailable(_NG_ERROR) from None
    ng._arraysim_exited = None
    _NG = ng
    return ng


def ngspice_available() -> bool:
    """True when PySpice imports and the ngspice shared library loads."""
    with _LOCK:
        try:
            _make_shared()
            return True
        except SpiceUnavailable:
            return False


def ngspice_version() -> str:
    """Version string of the loaded ngspice (e.g. 'ngspice-39'), or of the ngspice executable."""
    with _LOCK:
        ng = _make_shared()
        v = getattr(ng, "_ngspice_version", None)
        if v:
            return f"ngspice-{v}"
    return shutil.which("ngspice") or "unknown"


def _command(ng, text: str) -> int:
    return ng._ngspice_shared.ngSpice_Command(text.encode("ascii"))


def _load(ng, netlist: str) -> int:
    from PySpice.Spice.NgSpice.Shared import FFI, ffi
    lines = [ln for ln in netlist.splitlines() if ln.strip()]
    lines.append("")  # ngspice wants an empty last line
    keep = [ffi.new("char[]", ln.encode("utf8")) for ln in lines] + [FFI.NULL]
    return ng._ngspice_shared.ngSpice_Circ(ffi.new("char *[]", keep))


def _plot_vectors(ng, plot: str) -> dict[str, np.ndarray]:
    from PySpice.Spice.NgSpice.Shared import FFI, ffi, ffi_string_utf8
    lib = ng._ngspice_shared
    out: dict[str, np.ndarray] = {}
    names = lib.ngSpice_AllVecs(plot.encode("utf8"))
    i = 0
    while names[i] != FFI.NULL:
        vname = ffi_string_utf8(names[i])
        i += 1
        info = lib.ngGet_Vec_Info(f"{plot}.{vname}".encode("utf8"))
        if info == FFI.NULL:
            continue
        n = info.v_length
        if info.v_compdata == FFI.NULL:
            arr = np.frombuffer(ffi.buffer(info.v_realdata, n * 8), dtype=np.float64).copy()
        else:
            raw = np.frombuffer(ffi.buffer(info.v_compdata, n * 16), dtype=np.float64)
            arr = raw[0::2] + 1j * raw[1::2]
        key = vname.lower()
        out[key] = arr
        # also under the usual SPICE spellings
        if key.endswith("#branch"):
            out.setdefault(f"i({key[:-7]})", arr)
        elif not key.startswith(("v(", "i(", "@")) and key not in ("time", "frequency") \
                and not key.startswith("v-sweep") and "#" not in key:
            out.setdefault(f"v({key})", arr)
    return out


def _tran_stop(netlist: str) -> float | None:
    for ln in netlist.splitlines():
        t = ln.strip().lower().split()
        if t and t[0] == ".tran" and len(t) >= 3:
            try:
                return _spice_number(t[2])
            except ValueError:
                return None
    return None


_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12,
           "f": 1e-15, "mil": 25.4e-6}


def _spice_number(text: str) -> float:
    m = re.match(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(meg|mil|[tgkmunpf])?", text.lower())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * (_SUFFIX[m.group(2)] if m.group(2) else 1.0)


def _reset(ng) -> None:
    _command(ng, "destroy all")
    # remove every circuit still loaded (remcirc removes the current one)
    for _ in range(4):
        ng.clear_output()
        _command(ng, "remcirc")
        if any("no circuit" in s.lower() for s in ng._stderr + ng._stdout):
            break
    ng.clear_output()


def run(netlist: str, timeout: float | None = None) -> dict[str, np.ndarray]:
    """Run a complete SPICE deck in ngspice and return every vector of the resulting plot by lower-case
    name (``'time'``, ``'v(q)'`` and ``'q'``, ``'i(vdd)'`` and ``'vdd#branch'``, ``'v-sweep'``, ...).

    ``timeout`` [s]: the run is halted and a :class:`SpiceError` raised when it takes longer.
    Raises :class:`SpiceUnavailable` without ngspice/PySpice, :class:`SpiceError` on any failure.
    """
    with _LOCK:
        ng = _make_shared()
        if ng._arraysim_exited is not None:
            raise SpiceError("ngspice has exited after an earlier fatal error; restart the process")
        _reset(ng)
        before = set(ng.plot_names)
        ng.clear_output()
        rc = _load(ng, netlist)
        load_msgs = list(ng._stderr) + [s for s in ng._stdout if _ERRLINE.search(s)]
        if rc != 0 or ng._arraysim_exited is not None:
            _reset(ng)
            raise SpiceError("ngspice could not load the netlist:\n" + "\n".join(load_msgs[-30:]),
                             load_msgs)
        ng.clear_output()
        if timeout is None:
            _command(ng, "run")
        else:
            ng._arraysim_bg_done = False
            _command(ng, "bg_run")
            t0 = time.monotonic()
            # wait for the end-of-thread callback (ngSpice_running() may still be false right after
            # bg_run, before the thread has started)
            while not ng._arraysim_bg_done:
                if time.monotonic() - t0 > timeout:
                    _command(ng, "bg_halt")
                    t1 = time.monotonic()
                    while not ng._arraysim_bg_done and time.monotonic() - t1 < 30:
                        time.sleep(0.01)
                    _reset(ng)
                    raise SpiceError(f"ngspice run exceeded the timeout of {timeout:g} s")
                time.sleep(0.002)
        run_msgs = list(ng._stderr) + [s for s in ng._stdout if _ERRLINE.search(s)]
        errors = [s for s in load_msgs + run_msgs if _ERRLINE.search(s)]
        new = [p for p in ng.plot_names if p not in before and p != "const"]
        fatal = any(_FATAL.search(s) for s in run_msgs) or ng._arraysim_exited is not None
        if not new:
            _reset(ng)
            raise SpiceError("ngspice produced no results:\n" + "\n".join((errors or run_msgs)[-30:]),
                             errors or run_msgs)
        vecs = _plot_vectors(ng, new[0])
        _reset(ng)
    if fatal:
        raise SpiceError("ngspice simulation failed:\n" + "\n".join((errors or run_msgs)[-30:]),
                         errors or run_msgs)
    if not vecs or all(v.size == 0 for v in vecs.values()):
        raise SpiceError("ngspice produced an empty plot:\n" + "\n".join(errors[-30:]), errors)
    tstop = _tran_stop(netlist)
    if tstop is not None and "time" in vecs:
        tt = vecs["time"]
        if tt.size == 0 or tt[-1] < tstop * (1 - 1e-6):
            raise SpiceError(f"transient stopped at {tt[-1] if tt.size else 0:g} s before its end "
                             f"{tstop:g} s:\n" + "\n".join(errors[-30:]), errors)
    return vecs
