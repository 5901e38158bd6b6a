"""How much memory DuckDB's buffer manager may use in the target's DuckDB connections.

A target's peak memory is its Python process (about 120 MB once a DuckDB connection is
open) plus DuckDB's buffer pool, which DuckDB fills up to its limit before it evicts
anything: the pages and primary-key indexes of a DuckDB database, the reader's buffers
for the others. With `duckdb_memory_limit` set, that limit holds throughout. Unset (the
default), the limit follows what a connection reads:

- Parquet files only (BATCH files, the default under Meltano): `FILES_LIMIT`, which keeps
  the DuckDB target near 240 MB at 1M and 5M submissions rows where 512MB took 410-620
  MB, at 10-30% of its speed (measured; the README's benchmarks);
- records or JSON lines files: `RECORDS_LIMIT`, from the first such batch on, because
  DuckDB's JSON reader takes 32 MiB buffers for a batch of `batch_size_bytes` (64 MiB)
  and failed below about 192MB.

A batch that runs out of memory under the lower limit is redone under the higher one
(`Dialect.merge`), so the lower limit fails no load the higher one would carry. A
namespace in one DuckDB database needs this: `make demo`'s 90 tables outgrew 112MB at
the 80th.
"""

from __future__ import annotations

import duckdb

from target_dap_sql.batch_files import BatchFilesStage
from target_dap_sql.dialects.base import Stage, logger

FILES_LIMIT = "112MB"
RECORDS_LIMIT = "512MB"


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, is DuckDB's out-of-memory."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, duckdb.OutOfMemoryException):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class DuckDBMemory:
    """The memory limit of one DuckDB instance, raised (never lowered) as batches need."""

    def __init__(self, setting: str | None) -> None:
        self.fixed = setting is not None
        self.limit = setting or FILES_LIMIT

    @property
    def can_grow(self) -> bool:
        return not self.fixed and self.limit != RECORDS_LIMIT

    def fit(self, connection: duckdb.DuckDBPyConnection | None, stage: Stage) -> None:
        """Raise the limit before a batch DuckDB reads as JSON (``connection``: None while
        it is not open yet; it then opens with `limit`)."""
        reads_json = isinstance(stage, BatchFilesStage) and stage.reads_json
        if reads_json and self.can_grow:
            self._grow(connection)

    def grow_after(self, connection: duckdb.DuckDBPyConnection | None, error: Exception) -> bool:
        """Whether ``error`` was DuckDB out of memory under the lower limit; if so the limit
        is raised and the batch may be redone."""
        if not self.can_grow or not out_of_memory(error):
            return False
        logger.info(
            "DuckDB ran out of memory under %s; redoing the batch with %s "
            "(set duckdb_memory_limit to choose one limit)",
            self.limit,
            RECORDS_LIMIT,
        )
        self._grow(connection)
        return True

    def _grow(self, connection: duckdb.DuckDBPyConnection | None) -> None:
        if connection is not None:
            connection.execute(f"SET memory_limit = '{RECORDS_LIMIT}'")
        self.limit = RECORDS_LIMIT
