"""Parquet BATCH files for target tests, typed from a stream's schema as tap-dap types them
(`tap_dap.singer.parquet_batches.arrow_type`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tap_dap.singer.parquet_batches import arrow_type


def arrow_schema(schema: dict[str, Any]) -> pa.Schema:
    """Each property's Arrow type (string where tap-dap has none)."""
    return pa.schema(
        [
            pa.field(name, arrow_type(spec) or pa.string())
            for name, spec in schema["properties"].items()
        ]
    )


def _typed(value: Any, arrow: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(arrow):
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if pa.types.is_date(arrow):
        return date.fromisoformat(str(value))
    if pa.types.is_decimal(arrow):
        return Decimal(str(value))
    return value


def write_parquet_file(
    path: Path, records: list[dict[str, Any]], schema: dict[str, Any], *, gzipped: bool = False
) -> str:
    """The records as one Parquet file (gzip or snappy pages); returns its file URL."""
    layout = arrow_schema(schema)
    rows = [{f.name: _typed(record.get(f.name), f.type) for f in layout} for record in records]
    table = pa.Table.from_pylist(rows, schema=layout)
    pq.write_table(table, path, compression="gzip" if gzipped else "snappy")
    return path.as_uri()
