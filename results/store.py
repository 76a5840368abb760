"""The results store: SQLAlchemy Core over SQLite by default, any SQLAlchemy URL for clusters.

Tables (documented in the README):
- ``runs``: one row per RunSpec (its id is the hash of the spec), with the resolved config, status and
  the run's provenance: the ``--set`` overrides, profile, method and benchmark versions, package versions,
  source revision, data split, host, device and threads; ``superseded_by`` marks a run made by an older
  method or benchmark version once a newer one replaces it (the row stays).
- ``epochs``: one row per run and search epoch (epoch 0 = before any update): derived architecture,
  oracle accuracy and regret of the run's own dataset, entropies, supernet metrics, timings.
- ``lookups``: every oracle value of a derived architecture (each dataset, split, budget), the
  transfer results; each row carries its training budget.
- ``meta``: the schema version.

Schema versions: 1 (first release); 2 adds the provenance columns (``overrides``, ``method_version``,
``benchmark_version``, ``source_revision``, ``source_dirty``, ``threads``, ``split``) and ``superseded_by``.
A writer migrates an older store in place, adding the columns (nothing is rewritten or lost); a reader
(``harness status``, reports) opens it as it is, and ``note`` says what its runs lack.

Writes are idempotent (an epoch is replaced, never duplicated) and an epoch's row and its lookups are
written in one transaction, so an epoch is either fully recorded or not at all.

Concurrency: many processes (local workers, Dask or Ray workers) write to one store, each opening it
from its URL. A SQLite store runs in WAL mode (readers never block the writer) with ``synchronous=FULL``
(a committed epoch survives a power cut, so a store is never behind the checkpoint written after it);
every write transaction starts with ``BEGIN IMMEDIATE``, so a read-then-write (the run upsert) cannot
interleave with another writer, and waits up to the busy timeout (``HARNESS_STORE_TIMEOUT``, default
60 s) for the lock, retrying "database is locked" with backoff. WAL needs a local disk: on a network
file system or across machines use a server database (PostgreSQL).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError, OperationalError

from nasbench_errors import StoreError, mask_credentials

SCHEMA_VERSION = 2
STATUSES = ("running", "finished", "failed", "interrupted")
#: seconds a write waits for another process's write lock before the store is reported locked
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "HARNESS_STORE_TIMEOUT"
#: seconds an empty (0-byte) store file may take to get its header before it counts as truncated
EMPTY_FILE_GRACE = 2.0

metadata = sa.MetaData()

meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("method", sa.String(64), nullable=False),
    sa.Column("benchmark", sa.String(32), nullable=False),
    sa.Column("dataset", sa.String(32), nullable=False),
    sa.Column("setting", sa.String(16), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("profile", sa.String(32), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("epochs_planned", sa.Integer, nullable=False),
    sa.Column("epochs_done", sa.Integer, nullable=False, default=0),
    sa.Column("search_seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("versions", sa.Text),
    sa.Column("host", sa.String(255)),
    sa.Column("device", sa.String(255)),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    # schema 2: provenance (NULL in rows written before it) and supersession
    sa.Column("overrides", sa.Text),  # JSON: the --set values that reached the run
    sa.Column("method_version", sa.Integer),
    sa.Column("benchmark_version", sa.Integer),
    sa.Column("source_revision", sa.String(64)),  # git commit of the harness source, when it is a checkout
    sa.Column("source_dirty", sa.Boolean),  # the checkout had uncommitted changes
    sa.Column("threads", sa.Integer),  # torch CPU threads
    sa.Column("split", sa.Text),  # JSON: the data split the search used
    sa.Column("superseded_by", sa.String(32)),  # run id of the newer-version run that replaces this one
)
#: columns added by each schema version (a migration adds them to an older store)
ADDED_COLUMNS: dict[int, tuple[str, ...]] = {
    2: ("overrides", "method_version", "benchmark_version", "source_revision", "source_dirty", "threads", "split",
        "superseded_by"),
}
#: JSON columns of ``runs``, decoded by ``runs_df``
_RUN_JSON = ("config", "versions", "overrides", "split")

#: Per-epoch columns besides the keys; floats unless listed in ``_EPOCH_TEXT`` / ``_EPOCH_INT``.
EPOCH_FIELDS = (
    "arch", "arch_key", "n_skip", "oracle_budget",
    "test_acc", "valid_acc", "regret_test", "regret_valid",
    "entropy_ops", "entropy_ops_norm", "entropy_edges",
    "train_loss", "train_acc", "supernet_valid_loss", "supernet_valid_acc", "supernet_valid_acc_discrete",
    "lr_w", "weight_steps", "arch_steps",
    "seconds_arch", "seconds_weights", "seconds_eval", "seconds_epoch", "seconds_total",
    "arch_params", "extra",
)
_EPOCH_TEXT = {"arch", "arch_key", "oracle_budget", "arch_params", "extra"}
_EPOCH_INT = {"n_skip", "weight_steps", "arch_steps"}

epochs = sa.Table(
    "epochs", metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    *(
        sa.Column(name, sa.Text if name in _EPOCH_TEXT else sa.Integer if name in _EPOCH_INT else sa.Float)
        for name in EPOCH_FIELDS
    ),
    sa.Column("written_at", sa.String(32), nullable=False),
)

lookups = sa.Table(
    "lookups", metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("dataset", sa.String(32), primary_key=True),
    sa.Column("split", sa.String(16), primary_key=True),
    sa.Column("budget", sa.String(16), primary_key=True),
    sa.Column("stat", sa.String(16), primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("optimum", sa.Float),
    sa.Column("regret", sa.Float),
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def store_url(location: str | Path) -> str:
    """A SQLAlchemy URL from ``--store``: a URL as given, anything else a SQLite file path."""
    text = str(location)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (plain or ``sqlite:///file:PATH?mode=ro&uri=true``); None otherwise."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = parsed.database
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = database.removeprefix("file:")
    return Path(database)


def _clean(value: Any) -> Any:
    """NaN/inf become NULL: SQL has no NaN and the readers turn NULL back into NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Store:
    """Open (and create if needed) a results store at ``location``.

    ``timeout`` is how long a write waits for another process's write lock (default
    ``$HARNESS_STORE_TIMEOUT`` or 60 s) before failing with a "store is locked" error.
    """

    def __init__(self, location: str | Path, create: bool = True, timeout: float | None = None) -> None:
        self.url = store_url(location)
        #: set when the store is older than this harness and was not migrated: what its runs lack
        self.note: str | None = None
        self.schema_version = SCHEMA_VERSION
        self.timeout = float(timeout if timeout is not None else os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT))
        _parse_url(self.url, mask_credentials(str(location)))
        path = sqlite_file(self.url)
        # how messages name the store: its file, or the URL without its password
        self.location = str(path) if path is not None else sa.engine.make_url(self.url).render_as_string()
        if path is not None:
            if not path.exists() and not create:
                raise StoreError(f"no results store at {path}; run `harness run ... --store "
                                 f"{mask_credentials(str(location))}` first")
            _refuse_empty_file(path)
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = _engine(self.url, self.timeout, mask_credentials(str(location)))
        try:
            if path is not None:
                _configure_sqlite(self.engine, self.timeout)
            self._open(create)
        except ArgumentError as exc:
            raise StoreError(f"--store {mask_credentials(str(location))}: {_first_line(exc)}; give a file path or "
                             "a URL like postgresql+psycopg://user@host/db") from None
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"cannot open results store {self.location}: its database driver is not installed "
                             f"({_first_line(exc)}); for PostgreSQL: pip install "
                             "'nasbench-harness[postgres]'") from None
        except (DatabaseError, OperationalError, sqlite3.DatabaseError) as exc:
            # the file's header is never read with open(): closing any descriptor of a SQLite file drops
            # the POSIX locks of every connection of this process to it (see sqlite.org/howtocorrupt.html)
            if "file is not a database" in _first_line(exc):
                raise StoreError(f"{path} is not a results store (not a SQLite file); "
                                 "pass another --store path") from None
            raise StoreError(f"cannot open results store {self.location}: {_first_line(exc)}") from None

    def close(self) -> None:
        """Close the store's connections (a worker does so after each run)."""
        self.engine.dispose()

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for server stores."""
        return sqlite_file(self.url)

    def _open(self, create: bool) -> None:
        """Check the schema version; create the tables (atomically, once) in a new store."""
        with self.engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            version = (conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
                       if "meta" in names else None)
        if version is None:
            if names - set(metadata.tables):
                raise StoreError(f"{self.location} is not a results store (a database with other tables); "
                                 "pass another --store path")
            if not create:
                raise StoreError(f"{self.location} is not a results store (no schema version)")
            self._write(_create_schema)
        elif int(version) > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.location} has schema version {version}, newer than this harness "
                f"({SCHEMA_VERSION}); upgrade nasbench-harness to read it"
            )
        elif int(version) < SCHEMA_VERSION:
            self._upgrade(int(version), create)

    def _upgrade(self, version: int, migrate: bool) -> None:
        """Add the columns of the newer schemas (a writer), or read the store as it is with a note."""
        if migrate:
            try:
                self._write(_migrate)
                return
            except StoreError as exc:
                if "read-only" not in str(exc):
                    raise
        self.schema_version = version
        lacks = sorted({c for v, cols in ADDED_COLUMNS.items() if v > version for c in cols} - {"superseded_by"})
        self.note = (f"results store {self.location} has schema version {version} (this harness writes "
                     f"{SCHEMA_VERSION}) and is read as it is: its runs do not record {', '.join(lacks)}; "
                     f"`harness run --store {self.location} ...` upgrades it in place (nothing is lost)")
    # -- writes -----------------------------------------------------------------------------------
    def _write(self, fn) -> None:  # noqa: ANN001 - a callable taking the connection
        """Run ``fn`` in one write transaction, retrying lock contention until the timeout."""
        if self.note is not None:
            raise StoreError(f"cannot write: {self.note}")
        deadline = time.monotonic() + self.timeout
        delay, attempt = 0.05, 0
        while True:
            attempt += 1
            try:
                with self.engine.connect().execution_options(harness_write=True) as conn, conn.begin():
                    fn(conn)
                return
            except IntegrityError as exc:  # two writers inserted the same key at once: the retry updates it
                if attempt >= 3:
                    raise StoreError(f"cannot write to results store {self.location}: {_first_line(exc)}") from None
            except OperationalError as exc:
                reason = _first_line(exc)
                if not _is_busy(reason) or time.monotonic() + delay > deadline:
                    raise StoreError(_write_problem(self.location, reason, self.timeout)) from None
            time.sleep(delay)
            delay = min(2 * delay, 1.0)

    def upsert_run(self, row: Mapping[str, Any]) -> None:
        """Insert a run, or refresh its mutable fields if it exists (created_at is kept)."""
        self.claim_run(row, keep=())

    def claim_run(self, row: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any] | None:
        """``upsert_run`` unless the run's stored status is in ``keep`` (e.g. finished): then that run is
        left untouched and its ``{"status", "error"}`` returned. One transaction, so a run another process
        finished a moment ago is never taken over."""
        values = {k: _clean(v) for k, v in row.items()}
        values["updated_at"] = now()
        if values.get("error") is not None:
            values["error"] = mask_credentials(str(values["error"]))
        kept: list[dict[str, Any]] = []

        def fn(conn: sa.Connection) -> None:
            kept.clear()
            existing = conn.execute(sa.select(runs.c.status, runs.c.error)
                                    .where(runs.c.run_id == values["run_id"])).first()
            if existing is None:
                conn.execute(sa.insert(runs).values(created_at=values.get("created_at") or now(), **{
                    k: v for k, v in values.items() if k != "created_at"}))
            elif existing.status in keep:
                kept.append({"status": existing.status, "error": existing.error})
            else:
                upd = {k: v for k, v in values.items() if k not in ("run_id", "created_at")}
                conn.execute(sa.update(runs).where(runs.c.run_id == values["run_id"]).values(**upd))

        self._write(fn)
        return kept[0] if kept else None

    def set_status(self, run_id: str, status: str, error: str | None = None, **fields: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        error = None if error is None else mask_credentials(error)
        self._write(lambda conn: conn.execute(
            sa.update(runs).where(runs.c.run_id == run_id).values(
                status=status, error=error, updated_at=now(), **{k: _clean(v) for k, v in fields.items()})
        ))

    def write_epoch(self, run_id: str, epoch: int, row: Mapping[str, Any],
                    lookup_rows: Iterable[Mapping[str, Any]] = (), search_seconds: float | None = None) -> None:
        """Record one epoch (row + lookups) and advance the run's progress, all in one transaction."""
        unknown = set(row) - set(EPOCH_FIELDS)
        if unknown:
            raise ValueError(f"unknown epoch fields: {sorted(unknown)}")
        values = {k: _clean(_jsonable(k, v)) for k, v in row.items()}
        lk = [{"run_id": run_id, "epoch": epoch, **{k: _clean(v) for k, v in r.items()}} for r in lookup_rows]

        def fn(conn: sa.Connection) -> None:
            conn.execute(sa.delete(lookups).where((lookups.c.run_id == run_id) & (lookups.c.epoch == epoch)))
            conn.execute(sa.delete(epochs).where((epochs.c.run_id == run_id) & (epochs.c.epoch == epoch)))
            conn.execute(sa.insert(epochs).values(run_id=run_id, epoch=epoch, written_at=now(), **values))
            if lk:
                conn.execute(sa.insert(lookups), lk)
            progress: dict[str, Any] = {"epochs_done": epoch, "updated_at": now()}
            if search_seconds is not None:
                progress["search_seconds"] = search_seconds
            conn.execute(sa.update(runs).where(runs.c.run_id == run_id).values(**progress))

        self._write(fn)

    def delete_epochs_after(self, run_id: str, epoch: int) -> None:
        """Drop epochs a resumed run will recompute (written after its last checkpoint); -1 drops all.

        A finished run's epochs are never dropped: that is a StoreError and nothing changes."""
        def fn(conn: sa.Connection) -> None:
            status = conn.execute(sa.select(runs.c.status).where(runs.c.run_id == run_id)).scalar()
            if status == "finished":
                raise StoreError(f"run {run_id} is finished in {self.location}; its epochs are kept, "
                                 "not recomputed")
            conn.execute(sa.delete(lookups).where((lookups.c.run_id == run_id) & (lookups.c.epoch > epoch)))
            conn.execute(sa.delete(epochs).where((epochs.c.run_id == run_id) & (epochs.c.epoch > epoch)))
            conn.execute(sa.update(runs).where((runs.c.run_id == run_id) & (runs.c.epochs_done > epoch))
                         .values(epochs_done=max(epoch, 0), updated_at=now()))

        self._write(fn)

    def mark_superseded(self, run_ids: Sequence[str], by: str) -> None:
        """Mark runs made by an older method or benchmark version as replaced by run ``by``; rows stay."""
        self._write(lambda conn: conn.execute(
            sa.update(runs).where(runs.c.run_id.in_(list(run_ids)) & runs.c.superseded_by.is_(None))
            .values(superseded_by=by, updated_at=now())))

    def interrupt_running(self, run_ids: Sequence[str], reason: str) -> None:
        """Mark the listed runs that are still ``running`` as interrupted; their workers see it and stop."""
        reason = mask_credentials(reason)
        self._write(lambda conn: conn.execute(
            sa.update(runs).where(runs.c.run_id.in_(list(run_ids)) & (runs.c.status == "running"))
            .values(status="interrupted", error=reason, updated_at=now())))

    # -- reads ------------------------------------------------------------------------------------
    def run_status(self, run_ids: Sequence[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs.c.run_id, runs.c.status).where(runs.c.run_id.in_(list(run_ids))))
            return {r.run_id: r.status for r in rows}

    def run_state(self, run_id: str) -> dict[str, Any] | None:
        """``{"status", "error"}`` of a run, or None when the store does not hold it."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs.c.status, runs.c.error).where(runs.c.run_id == run_id)).first()
        return None if row is None else {"status": row.status, "error": row.error}

    def run_progress(self, run_ids: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        """run id -> (status, epochs done, epochs planned), for progress displays polling the store."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs.c.run_id, runs.c.status, runs.c.epochs_done, runs.c.epochs_planned)
                                .where(runs.c.run_id.in_(list(run_ids))))
            return {r.run_id: (r.status, r.epochs_done, r.epochs_planned) for r in rows}

    def last_epoch(self, run_id: str) -> int | None:
        """The newest stored epoch of a run, or None when it has none."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(epochs.c.epoch)).where(epochs.c.run_id == run_id)).scalar()

    def runs_df(self) -> pd.DataFrame:
        """All runs, with every column of the current schema; JSON columns decoded (``overrides`` and ``split``
        stay None where a run did not record them). In a store of an older schema the newer columns read None."""
        present = self._run_columns()
        df = self._read(sa.select(*[c for c in runs.c if c.name in present]).order_by(runs.c.created_at,
                                                                                       runs.c.run_id))
        for col in runs.c:
            if col.name not in df:
                df[col.name] = None
        for col in ("superseded_by", "source_revision"):  # None, never NaN, where a run has none
            df[col] = pd.Series([v if isinstance(v, str) else None for v in df[col]], dtype=object, index=df.index)
        for col in _RUN_JSON:
            empty = {} if col in ("config", "versions") else None
            df[col] = df[col].map(lambda s, e=empty: json.loads(s) if isinstance(s, str) else e)
        # a split recorded under ``versions`` (before the column existed) is the split
        df["split"] = [s if s is not None else v.get("split") for s, v in zip(df["split"], df["versions"],
                                                                               strict=True)]
        df["source_dirty"] = df["source_dirty"].map(lambda v: None if v is None or v != v else bool(v))
        return df[[c.name for c in runs.c]]

    def _run_columns(self) -> set[str]:
        if self.schema_version == SCHEMA_VERSION:
            return {c.name for c in runs.c}
        with self.engine.connect() as conn:
            return {c["name"] for c in sa.inspect(conn).get_columns("runs")}

    def epochs_df(self, run_ids: Sequence[str] | None = None, with_runs: bool = True) -> pd.DataFrame:
        """Per-epoch rows, joined with the run's identifying columns unless ``with_runs`` is False."""
        cols = [epochs] if not with_runs else [
            epochs, runs.c.method, runs.c.benchmark, runs.c.dataset, runs.c.setting, runs.c.seed, runs.c.profile,
            runs.c.status]
        if with_runs and "superseded_by" in self._run_columns():
            cols.append(runs.c.superseded_by)
        q = sa.select(*cols)
        if with_runs:
            q = q.select_from(epochs.join(runs, epochs.c.run_id == runs.c.run_id))
        if run_ids is not None:
            q = q.where(epochs.c.run_id.in_(list(run_ids)))
        df = self._read(q.order_by(epochs.c.run_id, epochs.c.epoch))
        for col in ("arch_params", "extra"):
            df[col] = df[col].map(lambda s: json.loads(s) if isinstance(s, str) else {})
        return df

    def lookups_df(self, run_ids: Sequence[str] | None = None) -> pd.DataFrame:
        q = sa.select(lookups)
        if run_ids is not None:
            q = q.where(lookups.c.run_id.in_(list(run_ids)))
        return self._read(q.order_by(lookups.c.run_id, lookups.c.epoch, lookups.c.dataset, lookups.c.split))

    def _read(self, query: sa.Select) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(query, conn)


def _jsonable(key: str, value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if key in ("arch_params", "extra") else value


def _create_schema(conn: sa.Connection) -> None:
    metadata.create_all(conn)
    if conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first() is None:
        conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))


def _migrate(conn: sa.Connection) -> None:
    """Bring an older store to ``SCHEMA_VERSION`` by adding columns (in the writer's transaction, so two
    writers opening it at once migrate it once)."""
    version = int(conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar())
    have = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    for added in range(version + 1, SCHEMA_VERSION + 1):
        for name in ADDED_COLUMNS.get(added, ()):
            if name not in have:
                column = runs.c[name]
                conn.exec_driver_sql(f"ALTER TABLE runs ADD COLUMN {name} {column.type.compile(conn.dialect)}")
    metadata.create_all(conn)  # tables a newer schema adds
    conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION)))


def _engine(url: str, timeout: float, location: str | Path) -> sa.Engine:
    """The engine of a store URL; an unknown scheme, a URL its dialect rejects (a SQLite URL with a user or host) or
    a missing driver is a one-line StoreError (naming the URL without its password)."""
    parsed = _parse_url(url, location)
    shown = parsed.render_as_string(hide_password=True)
    try:
        return sa.create_engine(url, connect_args=_connect_args(url, timeout))
    except sa.exc.NoSuchModuleError:
        raise StoreError(f"--store {shown}: unknown database scheme {parsed.drivername!r}; give a SQLite file "
                         "path, sqlite:///PATH or postgresql+psycopg://user@host/db") from None
    except ImportError as exc:
        hint = " (pip install 'nasbench-harness[postgres]')" if parsed.get_backend_name() == "postgresql" else ""
        raise StoreError(f"--store {shown}: the database driver for {parsed.drivername!r} is not installed "
                         f"({exc.name or exc}){hint}") from None
    except ArgumentError as exc:
        raise StoreError(f"--store {shown}: {mask_credentials(_first_line(exc))}; give a file path or a URL like "
                         "postgresql+psycopg://user@host/db") from None


def _parse_url(url: str, location: str | Path) -> sa.engine.URL:
    try:
        return sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"--store {location}: not a SQLAlchemy URL; give a SQLite file path or a URL such as "
                         "postgresql+psycopg://user@host/db") from None


def _connect_args(url: str, timeout: float) -> dict[str, Any]:
    return {"timeout": timeout} if url.startswith("sqlite") else {}


def _configure_sqlite(engine: sa.Engine, timeout: float) -> None:
    """WAL, FULL sync and SQLAlchemy-controlled transactions (SQLAlchemy's documented pysqlite recipe)."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI objects
        dbapi_connection.isolation_level = None  # the driver never begins on its own; "begin" below does
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass  # a read-only file keeps its journal mode; reading works either way
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("harness_write") else "BEGIN")


def _is_busy(reason: str) -> bool:
    return "locked" in reason or "busy" in reason


def _write_problem(location: str, reason: str, timeout: float) -> str:
    if _is_busy(reason):
        return (f"results store {location} is locked: another process held its write lock for over {timeout:g} s; "
                f"let it finish or stop it, then rerun (or raise {TIMEOUT_ENV})")
    if "readonly" in reason or "read-only" in reason:
        return f"results store {location} is read-only ({reason}); make it writable or pass --store a writable path"
    if "full" in reason:
        return f"results store {location}: the disk is full ({reason}); free space and rerun the same command"
    return f"cannot write to results store {location}: {reason}"


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", exc)).splitlines()
    return mask_credentials(lines[0] if lines else type(exc).__name__)


def _refuse_empty_file(path: Path) -> None:
    """A 0-byte file where a store should be is a truncated store (or someone's empty file), never a new
    store to fill. SQLite writes a new store's header as it creates it, so a store another process is
    creating right now is given a moment to get it."""
    deadline = time.monotonic() + EMPTY_FILE_GRACE
    while True:
        try:
            if not path.is_file() or path.stat().st_size > 0:
                return
        except FileNotFoundError:
            return
        if time.monotonic() >= deadline:
            raise StoreError(f"{path} is empty (0 bytes): a truncated results store or an empty file, not a new "
                             "store; restore it from a backup, or delete it to start a new store")
        time.sleep(0.05)
