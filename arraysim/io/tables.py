"""Export and load BER tables: CSV, JSON, NPZ (the suffix picks the format).

* CSV: two comment lines (``# arraysim-table 1`` and ``# meta: {json}``), a header, one row per condition.
  Floats are written with ``repr`` so they load back bit-exact; NaN is ``nan``.
* JSON: ``{"format": "arraysim-table", "version": 1, "meta": {...}, "units": {...}, "columns": [...],
  "data": {column: [values...]}}``; NaN is written as ``null``.
* NPZ: one array per column plus ``__meta__`` (the metadata as a JSON string); loads without pickle.

Every writer writes to a temporary file next to the target and renames it, so a failed or interrupted
write leaves no partial file.
"""
from __future__ import annotations

import csv
import enum
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from ..montecarlo.result import COLUMNS, BERTable

FORMATS = (".csv", ".json", ".npz")
MAGIC = "arraysim-table"
VERSION = 1


def table_format(path, formats=FORMATS, what: str = "") -> str:
    suf = Path(path).suffix.lower()
    if suf not in formats:
        raise ValueError(f"cannot tell the format of {what + ' ' if what else ''}{str(path)!r} from its "
                         f"suffix; allowed: {', '.join(formats)}")
    return suf


def check_writable(path, formats=FORMATS, what: str = "") -> Path:
    """Raise a clear error if ``path`` cannot be written or its suffix is not one of ``formats`` (call it
    before any work is done)."""
    p = Path(path)
    table_format(p, formats, what)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"cannot write {str(p)!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"cannot write {str(p)!r}: directory {str(parent)!r} is not writable")
    if p.is_dir():
        raise ValueError(f"cannot write {str(p)!r}: it is a directory")
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"cannot write {str(p)!r}: the file is not writable")
    return p


def jsonable(x):
    """``x`` with NaN/inf as None, numpy scalars as Python numbers, enums as their values (for JSON)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, enum.Enum):
        return jsonable(x.value)
    return x


def _target_mode(p: Path) -> int:
    """Permissions a plain open() would give: those of an existing file, else 0o666 minus the umask."""
    try:
        return p.stat().st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def atomic_write(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename, so that a
    failed or interrupted write leaves no partial file.  The file gets ordinary permissions."""
    atomic_write_all([(path, data)])


def atomic_write_all(items) -> None:
    """Write several files as one: ``items`` is a sequence of ``(path, data bytes)``.  Every file is first written
    to a temporary file next to it (ordinary permissions); only when all of them are written are they renamed into
    place.  A failure
    leaves none of the temporary files and removes the files this call already renamed into place, so that a
    run's outputs (e.g. ``validate``'s CSV, summary and metadata) exist together or not at all."""
    tmps = []
    done = []
    try:
        for path, data in items:
            path = Path(path)
            mode = _target_mode(path)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
            tmps.append(tmp)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, mode)  # mkstemp creates 0o600
        for tmp, (path, _) in zip(tmps, items):
            os.replace(tmp, path)
            done.append(Path(path))
    except BaseException:
        for tmp in tmps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        for path in done:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        raise


def _fmt(v, kind):
    if kind == "float":
        return repr(float(v))
    if kind == "int":
        return str(int(v))
    return str(v)


def save_table(table: BERTable, path) -> None:
    p = check_writable(path)
    fmt = table_format(p)
    meta = jsonable(table.meta)
    if fmt == ".csv":
        buf = io.StringIO()
        buf.write(f"# {MAGIC} {VERSION}\n")
        buf.write("# meta: " + json.dumps(meta, sort_keys=True, allow_nan=False) + "\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(list(COLUMNS))
        for r in table.rows:
            w.writerow([_fmt(r[k], kind) for k, (_, kind) in COLUMNS.items()])
        data = buf.getvalue().encode()
    elif fmt == ".json":
        doc = {"format": MAGIC, "version": VERSION, "meta": meta,
               "units": {k: u for k, (u, _) in COLUMNS.items()}, "columns": list(COLUMNS),
               "data": {k: jsonable([r[k] for r in table.rows]) for k in COLUMNS}}
        data = (json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n").encode()
    else:
        buf = io.BytesIO()
        cols = table.columns()
        np.savez(buf, __meta__=np.array(json.dumps(meta, sort_keys=True, allow_nan=False)),
                 __format__=np.array(f"{MAGIC} {VERSION}"), **cols)
        data = buf.getvalue()
    atomic_write(p, data)


def _convert(val, kind):
    if kind == "str":
        return str(val)
    if kind == "int":
        return int(val)
    return float("nan") if val is None else float(val)


def load_table(path) -> BERTable:
    p = Path(path)
    fmt = table_format(p)
    if not p.is_file():
        raise ValueError(f"no such table file: {str(p)!r}")
    if fmt == ".csv":
        text = p.read_text()
        lines = text.splitlines()
        if not lines or not lines[0].startswith(f"# {MAGIC}"):
            raise ValueError(f"{str(p)!r} is not an arraysim table (first line must be '# {MAGIC} ...')")
        meta = json.loads(lines[1][len("# meta: "):])
        reader = csv.DictReader(lines[2:])
        rows = [{k: _convert(rec[k], kind) for k, (_, kind) in COLUMNS.items()} for rec in reader]
    elif fmt == ".json":
        doc = json.loads(p.read_text())
        if doc.get("format") != MAGIC:
            raise ValueError(f"{str(p)!r} is not an arraysim table (format != {MAGIC!r})")
        meta = doc["meta"]
        data = doc["data"]
        n = len(data["vdd"])
        rows = [{k: _convert(data[k][i], kind) for k, (_, kind) in COLUMNS.items()} for i in range(n)]
    else:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            cols = {k: z[k] for k in COLUMNS}
        n = len(cols["vdd"])
        rows = [{k: _convert(cols[k][i].item(), kind) for k, (_, kind) in COLUMNS.items()}
                for i in range(n)]
    return BERTable(rows=rows, meta=meta)
