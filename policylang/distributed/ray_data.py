"""Scans on Ray Data: an actor pool of guards, each rebuilt once from a :class:`PolicyBundle`.

Ray is an optional dependency (``pip install 'policylang[ray]'``), imported only inside
these functions; :class:`RayNotInstalled` says so when it is missing.
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Iterator, NamedTuple

from policylang.distributed.bundle import PolicyBundle
from policylang.distributed.records import ScanRecord, dumps_value, line_error, record_of
from policylang.evaluation import check_batch, dumps_line, text_error
from policylang.loader import UsageError

__all__ = ["scan_dataset", "scan_records", "scan_file", "split_jsonl", "split_parquet", "can_split", "require_ray",
           "RayNotInstalled", "DEFAULT_BATCH", "WINDOW_LINES"]

DEFAULT_BATCH = 256
#: lines the CLI reads into one Ray Dataset; each window starts a fresh actor pool (one guard load per actor)
WINDOW_LINES = 500_000
#: rows per block the CLI puts in the object store (a block is the unit one actor gets at a time)
BLOCK_ROWS = 2048
#: a JSONL file is cut into slices of whole lines of about this many bytes (bounds), each read by one
#: actor: about 64 slices per worker, so the last slices even out the actors' finishing times
SLICE_BYTES_MIN = 256 * 1024
SLICE_BYTES_MAX = 4 * 1024 * 1024
SLICES_PER_WORKER = 64
#: bytes the driver reads at a time while it counts the lines of each slice
SPLIT_READ = 8 * 1024 * 1024


class RayNotInstalled(UsageError):
    """Ray Data is not installed (``pip install 'policylang[ray]'``)."""


def require_ray():
    """``ray`` with ``ray.data`` imported, or :class:`RayNotInstalled` with how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise RayNotInstalled(
            f"the Ray engine needs Ray Data, which is not installed ({e}): pip install 'policylang[ray]'"
        ) from None
    return ray


def _bundle(policies, load_options: dict) -> PolicyBundle:
    if isinstance(policies, PolicyBundle):
        if load_options:
            raise TypeError("pass load options to PolicyBundle.load(), not with a PolicyBundle")
        return policies
    return PolicyBundle.load(policies, **load_options)[0]


class _Checker:
    """One actor of the pool: rebuilds the guard once, then checks the batches it is given."""

    def __init__(self, bundle_ref, stage: str, mode: str, text_column: str = "text", prefix: str = "",
                 file: dict | None = None):
        import ray

        bundle = bundle_ref[0]
        if isinstance(bundle, ray.ObjectRef):
            bundle = ray.get(bundle)
        from policylang.errors import PolicyError

        self.guard = self.failed = None
        try:
            self.guard = bundle.build_guard()
        except PolicyError as e:  # reported with the first batch, the scan stops (fail closed)
            self.failed = e
        self.stage = stage
        self.mode = mode
        self.text_column = text_column
        self.names = (prefix + "action", prefix + "decision", prefix + "error")
        self.file = file

    def __call__(self, table):
        if self.failed is not None:
            if self.mode == "cli":  # Ray Data drops an exception's cause on the way: say it in a row
                return _failure_table(self.failed)
            if self.mode == "file":
                return _slice_failure("bundle", f"{type(self.failed).__name__}: {self.failed}")
            raise self.failed
        if self.mode == "file":
            return self._file(table)
        return self._cli(table) if self.mode == "cli" else self._rows(table)

    def _file(self, table):
        """Rows ``index``, ``start``, ``end``, ``first``, ``lines``: slices of the input file -> one row each:
        the slice's records as JSONL bytes (or an Arrow IPC stream of the Parquet columns), its bad lines."""
        out = [self._slice(*row) for row in zip(*(table.column(c).to_pylist() for c in _SLICE_COLUMNS))]
        if len(out) == 1:
            return out[0]
        import pyarrow as pa

        return pa.concat_tables(out)

    def _slice(self, index: int, start: int, end: int, first: int, expected: int):
        import pyarrow as pa

        from policylang.commands import _local_records, _read_lines

        from policylang.errors import PolicyError

        f = self.file
        path = f["path"]
        try:
            size = os.stat(path).st_size
            fh = open(path, "rb")
        except OSError as e:
            return _slice_failure("input", f"cannot read `{path}` on this worker: {e.strerror or e}")
        with fh:
            if size != f["size"]:
                return _slice_failure("input", f"`{path}` has {size:,} bytes on this worker, {f['size']:,} on the "
                                               "driver (another file, or it changed during the scan)")
            if f["parquet_in"]:
                from policylang.distributed.records import parquet_lines

                lines = parquet_lines(path, range(start, end), start=first)
                where = f"row groups {start:,}-{end - 1:,}"
            else:
                fh.seek(start)
                lines = _read_lines(_Slice(fh, end - start), f["limit"], start=first)
                where = f"bytes {start:,}-{end:,}"
            try:
                recs = list(_local_records(self.guard, self.stage, f["batch"], lines))
            except PolicyError as e:  # a Parquet file this worker cannot read
                return _slice_failure("input", str(e))
        if len(recs) != expected:
            return _slice_failure("input", f"{where} of `{path}` hold {len(recs):,} lines on this "
                                           f"worker, {expected:,} on the driver (the file changed during the scan)")
        errors = [(r.line, r.error) for r in recs if r.error is not None]
        if f["parquet"]:
            from policylang.distributed.records import records_table

            sink = pa.BufferOutputStream()
            t = records_table(pa, recs)
            with pa.ipc.new_stream(sink, t.schema) as w:
                w.write_table(t)
            jsonl, table = b"", sink.getvalue().to_pybytes()
        else:
            jsonl = "".join([r.json + "\n" for r in recs]).encode("utf-8")
            table = b""
        return pa.table({
            "index": pa.array([index], pa.int64()),
            "lines": pa.array([len(recs)], pa.int64()),
            "errors": pa.array([json.dumps(errors, ensure_ascii=True)], pa.string()),
            "jsonl": pa.array([jsonl], pa.large_binary()),
            "table": pa.array([table], pa.large_binary()),
        })

    def _cli(self, table):
        """Rows ``line``, ``id`` (JSON), ``text`` (UTF-8 bytes, surrogates passed) -> scan records."""
        import pyarrow as pa

        lines = table.column("line").to_pylist()
        ids = table.column("id").to_pylist()
        texts = [b.decode("utf-8", "surrogatepass") for b in table.column("text").to_pylist()]
        recs = [record_of(n, json.loads(i), r)
                for n, i, r in zip(lines, ids, check_batch(self.guard, texts, self.stage))]
        return pa.table({
            "line": pa.array(lines, pa.int64()),
            "id": pa.array(ids, pa.string()),
            "action": pa.array([r.action for r in recs], pa.string()),
            "error": pa.array([r.error for r in recs], pa.string()),
            "record": pa.array([r.json for r in recs], pa.string()),
        })

    def _rows(self, table):
        import pyarrow as pa

        col = self.text_column
        if col not in table.column_names:
            raise KeyError(f"text column `{col}` is not in the dataset (columns: {', '.join(table.column_names)})")
        for name in self.names:
            if name in table.column_names:
                raise ValueError(f"the dataset already has a column `{name}`; pass prefix= to scan_dataset")
        texts = table.column(col).to_pylist()
        n = len(texts)
        action: list = [None] * n
        decision: list = [None] * n
        error: list = [None] * n
        good = [i for i, t in enumerate(texts) if isinstance(t, str)]
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                error[i] = text_error({"text": t}).replace('"text"', f'"{col}"', 1)
        for i, d in zip(good, check_batch(self.guard, [texts[i] for i in good], self.stage)):
            if isinstance(d, str):
                error[i] = d
            else:
                action[i] = d.action
                decision[i] = dumps_line(d.model_dump(mode="json"))
        for name, values in zip(self.names, (action, decision, error)):
            table = table.append_column(name, pa.array(values, pa.string()))
        return table


def _failure_table(e):
    import pyarrow as pa

    return pa.table({
        "line": pa.array([FAILED_LINE], pa.int64()),
        "id": pa.array(["null"], pa.string()),
        "action": pa.array([None], pa.string()),
        "error": pa.array([f"{type(e).__name__}: {e}"], pa.string()),
        "record": pa.array([""], pa.string()),
    })


#: the ``line`` of the row a worker returns when it could not rebuild the guard
FAILED_LINE = -1

_SLICE_COLUMNS = ("index", "start", "end", "first", "lines")


def _slice_failure(kind: str, message: str):
    """The row a worker returns for a slice it could not scan (Ray Data would drop the exception's cause)."""
    import pyarrow as pa

    return pa.table({
        "index": pa.array([FAILED_LINE], pa.int64()),
        "lines": pa.array([0], pa.int64()),
        "errors": pa.array([json.dumps([kind, message])], pa.string()),
        "jsonl": pa.array([b""], pa.large_binary()),
        "table": pa.array([b""], pa.large_binary()),
    })


class _Slice:
    """``readline`` over bytes ``[start, end)`` of a file already at ``start``: a file that ends at ``end``."""

    def __init__(self, fh, size: int):
        self.fh = fh
        self.left = size

    def readline(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        raw = self.fh.readline(n)
        self.left -= len(raw)
        if not raw:
            self.left = 0
        return raw


def _map(ds, ref, stage: str, mode: str, *, workers: int, batch_size: int, num_cpus: float, num_gpus: float,
         text_column: str = "text", prefix: str = "", file: dict | None = None):
    import ray.data

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    kw = {"num_gpus": num_gpus} if num_gpus else {}
    return ds.map_batches(
        _Checker,
        fn_constructor_kwargs={"bundle_ref": [ref], "stage": stage, "mode": mode,
                               "text_column": text_column, "prefix": prefix, "file": file},
        batch_size=1 if mode == "file" else batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=num_cpus,
        **kw,
    )


def _default_workers(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def scan_dataset(ds, policies, *, text_column: str = "text", stage: str = "input", workers: int | None = None,
                 batch_size: int = DEFAULT_BATCH, num_cpus: float = 1, num_gpus: float = 0, prefix: str = "",
                 **load_options):
    """Check the ``text_column`` of every row of a ``ray.data.Dataset``; a Dataset with three columns more.

    ``policies``: policy paths / pack names (loaded here once, like :func:`policylang.load`,
    with ``load_options``), or a :class:`PolicyBundle`. A pool of ``workers`` actors
    (default: the cluster's CPUs), each with ``num_cpus``/``num_gpus``, rebuilds the guard
    once and checks batches of ``batch_size`` rows with ``Guard.check_many``.

    Added columns (names after ``prefix``): ``action`` (allow/flag/redact/refuse),
    ``decision`` (the Decision as JSON, as ``policylang scan`` writes it, without ``id`` and
    ``line``) and ``error`` (why a row was not checked: a text that is not a string, or an
    engine failure on that text; null otherwise). Lazy, like every Ray Data transform.
    """
    ray = require_ray()
    bundle = _bundle(policies, load_options)
    ref = ray.put(bundle)
    return _map(ds, ref, stage, "rows", workers=workers or _default_workers(ray), batch_size=batch_size,
                num_cpus=num_cpus, num_gpus=num_gpus, text_column=text_column, prefix=prefix)


def init_ray():
    """Connect to the cluster in ``$RAY_ADDRESS``, or start a local one; True when started here."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    kw = {}
    if not os.environ.get("RAY_ADDRESS"):
        kw["runtime_env"] = local_runtime_env()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR", **kw)
    return True


def local_runtime_env() -> dict:
    """For a cluster started on this machine: workers import the policylang this process runs."""
    import policylang

    root = os.path.dirname(os.path.dirname(os.path.abspath(policylang.__file__)))
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


def scan_records(bundle: PolicyBundle, items: Iterable, *, stage: str = "input", workers: int | None = None,
                 batch_size: int = DEFAULT_BATCH, num_gpus: float = 0,
                 window: int = WINDOW_LINES) -> Iterator[ScanRecord]:
    """The records of ``policylang scan --engine ray``, in input order.

    ``items``: :class:`~policylang.evaluation.Line` objects as the local engine reads them.
    Bad lines get their record here; good lines go to the actor pool in windows of
    ``window`` lines (one Dataset each, order preserved) and come back as records built
    by the workers with the same :func:`record_of` as the local engine.
    """
    ray = require_ray()
    import pyarrow as pa

    with _quiet_ordered(ray):
        workers = workers or _default_workers(ray)
        ref = ray.put(bundle)
        buf: list = []  # ScanRecord (bad line) or (lineno, id JSON, text bytes)
        n_good = 0
        for line in items:
            why = line_error(line)
            if why is not None:
                buf.append(record_of(line.lineno, line.id, why))
            else:
                rid = line.obj.get("id", line.lineno)
                buf.append((line.lineno, dumps_value(rid), line.obj["text"].encode("utf-8", "surrogatepass")))
                n_good += 1
            if len(buf) >= window:
                yield from _window(ray, pa, ref, buf, n_good, stage, workers, batch_size, num_gpus)
                buf, n_good = [], 0
        yield from _window(ray, pa, ref, buf, n_good, stage, workers, batch_size, num_gpus)


class _quiet_ordered:
    """Ray Data in input order, without progress bars or per-execution log lines; restored after."""

    def __init__(self, ray):
        self.ctx = ray.data.DataContext.get_current()

    def __enter__(self):
        import logging

        ctx = self.ctx
        self.logger = logging.getLogger("ray.data")
        self.saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars,
                      ctx.print_on_execution_start, self.logger.level)
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        self.logger.setLevel(logging.ERROR)  # "Starting execution ...", "Progress bars disabled" per run

    def __exit__(self, *exc):
        ctx = self.ctx
        (ctx.execution_options.preserve_order, ctx.enable_progress_bars, ctx.print_on_execution_start,
         level) = self.saved
        self.logger.setLevel(level)


# ---------------------------------------------------------------------------- a JSONL file, read by the workers
class FileSlice(NamedTuple):
    """Bytes ``[start, end)`` of the input: ``lines`` whole lines, the first of them line ``first``."""

    start: int
    end: int
    first: int
    lines: int


class SliceResult(NamedTuple):
    """What the driver gets back for one slice, in input order."""

    lines: int
    errors: list  # [(line number, why)] of the slice's bad lines, in order
    jsonl: object  # the slice's records as JSONL (UTF-8; bytes-like), or b"" for Parquet output
    table: object  # the slice's Parquet columns (a pyarrow Table), or None for JSONL output


def can_split(path: str, parquet: bool = False) -> bool:
    """True when the workers can read ``path`` in slices: a regular file (not ``-``, a pipe, a device);
    for Parquet (``parquet``), one with at least two row groups (a slice is whole row groups)."""
    if path == "-" or not os.path.isfile(path):
        return False
    if not parquet:
        return True
    try:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_row_groups >= 2
    except Exception:  # noqa: BLE001 - not readable as Parquet: the driver's reader says why
        return False


def split_parquet(path: str, target_rows: int) -> list[FileSlice]:
    """Slices of whole row groups of at least ``target_rows`` rows: ``start``/``end`` are row group
    indices, ``first`` the number of the slice's first row (from 1), ``lines`` its rows."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    out: list[FileSlice] = []
    start, first, rows = 0, 1, 0
    for g in range(meta.num_row_groups):
        rows += meta.row_group(g).num_rows
        if rows >= target_rows or g == meta.num_row_groups - 1:
            if rows:
                out.append(FileSlice(start, g + 1, first, rows))
            start, first, rows = g + 1, first + rows, 0
    return out


def slice_bytes(size: int, workers: int) -> int:
    """The target size of a slice of a ``size``-byte input for ``workers`` actors."""
    return max(SLICE_BYTES_MIN, min(SLICE_BYTES_MAX, size // max(1, workers * SLICES_PER_WORKER)))


def split_jsonl(fh, target: int, read_size: int | None = None) -> list[FileSlice]:
    """Cut a binary stream into slices of whole lines of at least ``target`` bytes (the last may be shorter).

    One pass in C over the bytes (``find``/``count`` on ``read_size`` blocks, nothing per line in
    Python). A line is what :func:`~policylang.commands.bounded_lines` reads: up to and including
    ``\n``; the last line of a file without a final newline counts too; a slice ends just after a
    ``\n``, so no line is split between two slices, and ``first`` is the exact line number.
    """
    if target < 1:
        raise ValueError(f"target must be at least 1, got {target}")
    read_size = read_size or SPLIT_READ
    out: list[FileSlice] = []
    start, first, nl, pos, last = 0, 1, 0, 0, b""
    while True:
        data = fh.read(read_size)
        if not data:
            break
        i = 0
        while True:
            j = max(i, start + target - 1 - pos)  # the slice ends at the first newline at or after this
            k = data.find(b"\n", j) if j < len(data) else -1
            if k < 0:
                nl += data.count(b"\n", i)
                break
            nl += data.count(b"\n", i, k + 1)
            end = pos + k + 1
            out.append(FileSlice(start, end, first, nl))
            start, first, nl, i = end, first + nl, 0, k + 1
        pos += len(data)
        last = data[-1:]
    if pos > start:
        out.append(FileSlice(start, pos, first, nl + (last != b"\n")))
    return out


def scan_file(bundle: PolicyBundle, path: str, *, limit: int, stage: str = "input", workers: int | None = None,
              batch_size: int = DEFAULT_BATCH, parquet: bool = False, num_gpus: float = 0,
              target: int | None = None, parquet_in: bool = False) -> Iterator[SliceResult]:
    """The records of ``policylang scan --engine ray`` over a JSONL file, slice by slice, in input order.

    The driver only finds the slices (:func:`split_jsonl`: line boundaries and line numbers, one
    pass in C); each actor opens ``path`` itself, reads its slices with the local engine's reader
    (:func:`~policylang.commands._read_lines`: the same line limit ``limit``, the same bad lines,
    numbered from the slice's ``first``), checks them with the local engine's loop and returns
    the records as the bytes the local engine writes (or the Parquet columns). The driver writes
    them as they come. The workers must see ``path`` with the same bytes (one machine, or a shared
    file system): a worker that cannot read it, or reads another size or line count, stops the
    scan with a :class:`~policylang.loader.UsageError`.

    ``parquet_in``: ``path`` is Parquet; a slice is whole row groups (:func:`split_parquet`), read
    on the worker with the local engine's Parquet reader (row numbers from the slice's first).
    """
    ray = require_ray()
    with _quiet_ordered(ray):
        workers = workers or _default_workers(ray)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if parquet_in:
                import pyarrow.parquet as pq

                rows = pq.ParquetFile(fh).metadata.num_rows
                slices = split_parquet(path, target or max(1, rows // (workers * SLICES_PER_WORKER)))
            else:
                slices = split_jsonl(fh, target or slice_bytes(size, workers))
        if not slices:
            return
        ref = ray.put(bundle)
        rows = [{"index": n, **s._asdict()} for n, s in enumerate(slices)]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        file = {"path": os.path.abspath(path), "size": size, "limit": limit, "batch": batch_size,
                "parquet": parquet, "parquet_in": parquet_in}
        ds = _map(ds, ref, stage, "file", workers=min(workers, len(slices)), batch_size=batch_size, num_cpus=1,
                  num_gpus=num_gpus, file=file)
        yield from _iter_slices(ds, slices, parquet)


def _iter_slices(ds, slices: list[FileSlice], parquet: bool) -> Iterator[SliceResult]:
    import pyarrow as pa

    from policylang.distributed.bundle import BundleError

    due = 0
    try:
        for t in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            index, lines, errors = (t.column(c).to_pylist() for c in ("index", "lines", "errors"))
            jsonl, tables = t.column("jsonl"), t.column("table")
            for k in range(len(t)):
                if index[k] == FAILED_LINE:
                    kind, message = json.loads(errors[k])
                    if kind == "bundle":
                        raise BundleError(f"a Ray worker could not rebuild the guard: {message}")
                    raise UsageError(f"a Ray worker could not read the input: {message} (the workers read the "
                                     "input file themselves: give them the same file at the same path, or pipe "
                                     "it in as `-` so that the driver reads it)")
                if index[k] != due or lines[k] != slices[due].lines:
                    raise RuntimeError(f"the Ray engine returned slice {index[k]} ({lines[k]} lines) where slice "
                                       f"{due} ({slices[due].lines} lines) was due")
                due += 1
                table = None
                if parquet:
                    table = pa.ipc.open_stream(tables[k].as_py()).read_all()
                yield SliceResult(lines[k], [tuple(e) for e in json.loads(errors[k])],
                                  b"" if parquet else jsonl[k].as_buffer(), table)  # no copy out of the store
    except Exception as e:  # noqa: BLE001 - a worker's PolicyError says what went wrong
        cause = _policy_cause(e)
        if cause is not None and cause is not e:
            raise cause from None
        raise
    if due != len(slices):
        raise RuntimeError(f"the Ray engine returned {due} slices of {len(slices)}")


def _window(ray, pa, ref, buf: list, n_good: int, stage, workers, batch_size, num_gpus) -> Iterator[ScanRecord]:
    if not n_good:
        yield from buf
        return
    good = [b for b in buf if not isinstance(b, ScanRecord)]
    step = max(BLOCK_ROWS, batch_size)
    blocks = []
    for k in range(0, len(good), step):
        part = good[k : k + step]
        blocks.append(pa.table({
            "line": pa.array([p[0] for p in part], pa.int64()),
            "id": pa.array([p[1] for p in part], pa.string()),
            "text": pa.array([p[2] for p in part], pa.binary()),
        }))
    del good
    ds = _map(ray.data.from_arrow(blocks), ref, stage, "cli", workers=min(workers, len(blocks)),
              batch_size=batch_size, num_cpus=1, num_gpus=num_gpus)
    results = _iter_records(ds)
    for b in buf:
        if isinstance(b, ScanRecord):
            yield b
            continue
        rec = next(results)
        if rec.line != b[0]:
            raise RuntimeError(f"the Ray engine returned line {rec.line} where line {b[0]} was due")
        yield rec
    for extra in results:
        raise RuntimeError(f"the Ray engine returned an unexpected line {extra.line}")


def _iter_records(ds) -> Iterator[ScanRecord]:
    try:
        for t in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            cols = [t.column(c).to_pylist() for c in ("line", "id", "action", "error", "record")]
            for line, rid, action, error, rec in zip(*cols):
                if line == FAILED_LINE:
                    from policylang.distributed.bundle import BundleError

                    raise BundleError(f"a Ray worker could not rebuild the guard: {error}")
                yield ScanRecord(line, json.loads(rid), action, error, rec)
    except Exception as e:  # noqa: BLE001 - a worker's PolicyError (BundleError) says what went wrong
        cause = _policy_cause(e)
        if cause is not None:
            raise cause from None
        raise


def _policy_cause(e: BaseException):
    from policylang.errors import PolicyError

    seen = set()
    found = None
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, PolicyError):
            found = e  # may be Ray's RayTaskError-and-PolicyError hybrid: look for the original below
        e = getattr(e, "cause", None) or e.__cause__
    return found
