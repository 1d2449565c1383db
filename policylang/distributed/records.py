"""The records of ``policylang scan``, shared by both engines (no Ray import here).

One input line (or Parquet row) gives one :class:`ScanRecord`: its line number, its id, the
action or the error, and the JSON record line. The local engine and the Ray workers both
build records with :func:`record_of`, so their output is the same bytes. Readers and
writers pick JSONL or Parquet by the file's extension (``.parquet``/``.pq``).
"""

from __future__ import annotations

import json
from typing import Iterator, NamedTuple

from policylang.evaluation import Line, dumps_line, text_error
from policylang.loader import UsageError

PARQUET_SUFFIXES = (".parquet", ".pq")
#: rows per Parquet row group written (and rows read per batch)
PARQUET_ROWS = 8192


class ScanRecord(NamedTuple):
    line: int
    id: object
    action: str | None  # None for an error record
    error: str | None  # why the line is bad (also printed to stderr), None for a decision
    json: str  # the JSONL record


def record_of(lineno: int, rid, result) -> ScanRecord:
    """The record of one line: ``result`` is a Decision, or the error string for a bad line."""
    if isinstance(result, str):
        return ScanRecord(lineno, rid, None, result, dumps_line({"id": rid, "line": lineno, "error": result}))
    rec = {"id": rid, "line": lineno}
    rec.update(result.model_dump(mode="json"))
    return ScanRecord(lineno, rid, result.action, None, dumps_line(rec))


def dumps_value(v) -> str:
    """A JSON value as text that is always valid UTF-8 (a lone surrogate becomes an escape)."""
    s = json.dumps(v, ensure_ascii=False)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = json.dumps(v, ensure_ascii=True)
    return s


def is_parquet(path: str) -> bool:
    return path != "-" and path.lower().endswith(PARQUET_SUFFIXES)


def _pyarrow(what: str):
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError(f"{what} Parquet needs pyarrow: pip install 'policylang[parquet]' "
                         "(or 'policylang[ray]', which brings it)") from None
    return pyarrow


_JSON_SCALARS = (str, int, float, bool, type(None))


def parquet_lines(path: str, row_groups=None, start: int = 1) -> Iterator[Line]:
    """Each row of a Parquet file as a :class:`Line` (``lineno`` = row number from 1).

    Only ``text`` and ``id`` are read from a row; an ``id`` that is not a JSON scalar
    (a timestamp, bytes, a list) is written as its ``str``. ``row_groups``: read only these
    (a Ray worker's slice), numbering their rows from ``start``.
    """
    pa = _pyarrow("reading")
    try:
        pf = pa.parquet.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise UsageError(f"cannot read `{path}` as Parquet: {e}") from None
    names = set(pf.schema_arrow.names)
    columns = [c for c in ("id", "text") if c in names]
    lineno = start - 1
    kw = {} if row_groups is None else {"row_groups": list(row_groups)}
    for batch in pf.iter_batches(batch_size=PARQUET_ROWS, columns=columns or None, **kw):
        for row in batch.to_pylist():
            lineno += 1
            obj = {k: row[k] for k in columns}
            if "id" in obj and not isinstance(obj["id"], _JSON_SCALARS):
                obj["id"] = str(obj["id"])
            yield Line(lineno, obj, None, obj.get("id"))


def line_error(line: Line) -> str | None:
    """Why a line cannot be checked (None when it can): a read error or a bad ``text``."""
    return line.error or text_error(line.obj)


class JsonlWriter:
    def __init__(self, dst):
        self.dst = dst

    def write(self, rec: ScanRecord) -> None:
        self.dst.write(rec.json + "\n")

    def write_chunk(self, data, table=None) -> None:
        """Records already joined as UTF-8 JSONL (bytes-like: a Ray worker's slice): written as they are."""
        buffer = getattr(self.dst, "buffer", None)
        if buffer is not None:
            self.dst.flush()
            buffer.write(data)
        else:
            self.dst.write(bytes(data).decode("utf-8"))

    def close(self) -> None:
        pass


class ParquetWriter:
    """Columns ``line`` (int64), ``id`` (the id as JSON text), ``action``, ``error`` (null
    where the other one is set) and ``record`` (the JSONL record of the line)."""

    def __init__(self, path: str):
        pa = _pyarrow("writing")
        self.pa = pa
        self.schema = records_schema(pa)
        try:
            self.writer = pa.parquet.ParquetWriter(path, self.schema)
        except (OSError, pa.ArrowException) as e:
            raise UsageError(f"cannot write `{path}`: {e}") from None
        self.rows: list[ScanRecord] = []
        self.pending = None  # rows of write_chunk() tables short of a row group

    def write(self, rec: ScanRecord) -> None:
        self.rows.append(rec)
        if len(self.rows) >= PARQUET_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        self.writer.write_table(records_table(self.pa, rows))

    def write_chunk(self, data: bytes, table) -> None:
        """A Ray worker's records as a table of this schema: written in row groups of ``PARQUET_ROWS``
        rows, as :meth:`write` writes them (the files have the same row groups)."""
        self._flush()
        if self.pending is not None:
            table = self.pa.concat_tables([self.pending, table])
        full = len(table) - len(table) % PARQUET_ROWS
        for k in range(0, full, PARQUET_ROWS):
            self.writer.write_table(table.slice(k, PARQUET_ROWS))
        self.pending = table.slice(full) if full < len(table) else None

    def close(self) -> None:
        self._flush()
        if self.pending is not None:
            self.writer.write_table(self.pending)
            self.pending = None
        self.writer.close()


def records_schema(pa):
    return pa.schema([("line", pa.int64()), ("id", pa.string()), ("action", pa.string()),
                      ("error", pa.string()), ("record", pa.string())])


def records_table(pa, rows):
    """The Parquet table of ``rows`` (:class:`ScanRecord`): the columns :class:`ParquetWriter` writes."""
    return pa.table({
        "line": [r.line for r in rows],
        "id": [dumps_value(r.id) for r in rows],
        "action": [r.action for r in rows],
        "error": [r.error for r in rows],
        "record": [r.json for r in rows],
    }, schema=records_schema(pa))
