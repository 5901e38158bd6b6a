"""The DAP Query API endpoints and the ``/_sim`` control API, independent of HTTP plumbing.

Each endpoint takes a parsed request and returns a response object; errors are raised as
``ApiError`` and rendered by the server. Order of checks for the DAP endpoints: injected
faults first (an upstream failure does not care who asks), then authentication, then the
rate limit (only authenticated requests spend budget), then the endpoint itself.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dap_sim import catalog, errors, formats
from dap_sim.auth import Authority
from dap_sim.cache import ProductionCache
from dap_sim.dataset import DATASET_FILE, Dataset
from dap_sim.faults import Fault, FaultPlan
from dap_sim.jobs import Job, JobRegistry
from dap_sim.options import ServeOptions
from dap_sim.production import JobSpec, Producer
from dap_sim.ratelimit import RateLimiter
from dap_sim.tables import World
from dap_sim.timefmt import iso_millis, parse_iso

_QUERY_FIELDS = ("format", "mode", "since", "until")
_ALL_FORMATS = (*formats.FORMATS, "parquet")


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: Any = None  # JSON body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FileResponse:
    """A pre-signed object download, streamed by the server."""

    path: Path
    fault: Fault | None


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.rate_limited = 0
        self.bytes_served = 0

    def request(self, endpoint: str) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    def response(self, status: int) -> None:
        with self._lock:
            self.responses[str(status)] += 1

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def served(self, size: int) -> None:
        with self._lock:
            self.bytes_served += size


class App:
    def __init__(self, data_dir: Path, options: ServeOptions) -> None:
        self.data_dir = Path(data_dir)
        self.options = options
        self._state_lock = threading.Lock()
        self._mtime: tuple[int, int] | None = None
        self._dataset: Dataset
        self._world: World
        self._dataset_json = ""
        self._refresh()
        credentials = self._dataset.credentials
        self.account = credentials["client_id"]
        self.authority = Authority(credentials["client_id"], credentials["client_secret"])
        self.limiter = RateLimiter(
            factor=options.rate_limit_factor,
            window=options.rate_limit_window,
            create_job_per=options.create_job_limit_per,
        )
        self.faults = FaultPlan(
            [Fault.from_json(f) for f in options.faults],
            rate=options.fault_rate,
            seed=options.fault_seed,
        )
        self.jobs = JobRegistry(self.data_dir / "jobs")
        cache = ProductionCache(Path(options.cache_dir)) if options.cache_dir else None
        self.producer = Producer(workers=options.workers, cache=cache)
        self.stats = Stats()

    def close(self) -> None:
        self.producer.shutdown()

    # -- the dataset, re-read when dataset.json changes (``dap-sim advance``) ---------------

    def _refresh(self) -> None:
        path = self.data_dir / DATASET_FILE
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._mtime:
            return
        with self._state_lock:
            if stamp == self._mtime:
                return
            dataset = Dataset.load(self.data_dir)
            self._dataset, self._world = dataset, World(dataset)
            self._dataset_json = json.dumps(dataset.to_json(), sort_keys=True)
            self._mtime = stamp

    def state(self) -> tuple[Dataset, World, str]:
        self._refresh()
        with self._state_lock:
            return self._dataset, self._world, self._dataset_json

    # -- the shared front of every DAP endpoint -----------------------------------------------

    def _front(self, request: Request, endpoint: str, table: str | None = None) -> Fault | None:
        """Count, inject faults, authenticate, rate-limit; returns a fault left to apply."""
        self.stats.request(endpoint)
        fault = self.faults.take(endpoint, table)
        if fault is not None:
            if fault.kind == "http_error":
                raise errors.server_error(fault.status, f"injected {fault.status} on {endpoint}")
            if fault.kind == "rate_limit":
                raise errors.too_many_requests(
                    f"injected 429 burst on {endpoint}", fault.retry_after
                )
            if fault.kind == "token_expired":
                self.authority.revoke(request.header("authorization"))
        claims = self.authority.verify(request.header("authorization"))
        account = str(claims["sub"])
        wait = self.limiter.admit(endpoint, account, table)
        if wait is not None:
            self.stats.limited()
            limit = self.limiter.limit(endpoint)
            per_table = endpoint == "create_job" and self.limiter.create_job_per == "table"
            scope = f" for {table}" if per_table else ""
            raise errors.too_many_requests(
                f"rate limit of {endpoint} exceeded ({limit} per {self.limiter.window:g} s{scope})",
                max(1, math.ceil(wait)),
            )
        return fault

    def _known_table(self, namespace: str, table: str | None = None) -> None:
        if namespace not in catalog.NAMESPACES:
            raise errors.not_found("namespace", namespace, f"namespace {namespace} does not exist")
        if table is not None and table not in catalog.table_names(namespace):
            raise errors.not_found(
                "table", table, f"table {table} does not exist in namespace {namespace}"
            )

    # -- endpoints ---------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        self.stats.request("login")
        fault = self.faults.take("login")
        if fault is not None and fault.kind == "http_error":
            raise errors.server_error(fault.status, f"injected {fault.status} on login")
        body = self.authority.login(
            request.header("authorization"), request.text, self.options.token_ttl
        )
        return Response(200, body)

    def list_tables(self, request: Request, namespace: str) -> Response:
        self._front(request, "list_tables")
        self._known_table(namespace)
        return Response(200, {"tables": list(catalog.table_names(namespace))})

    def schema(self, request: Request, namespace: str, table: str) -> Response:
        self._front(request, "schema", f"{namespace}.{table}")
        self._known_table(namespace, table)
        dataset, _, _ = self.state()
        return Response(200, dataset.served_schema(namespace, table, dataset.epoch))

    def create_job(self, request: Request, namespace: str, table: str) -> Response:
        fault = self._front(request, "create_job", f"{namespace}.{table}")
        self._known_table(namespace, table)
        query = _parse_query(request.text)
        dataset, world, dataset_json = self.state()
        epoch = dataset.epoch
        model = world.table(namespace, table)
        now_clock = dataset.clock_ms(epoch)
        since_ms = until_ms = None
        if "since" in query:
            since_ms, until_ms = self._incremental_range(
                dataset=dataset,
                floor=model.retention_floor(epoch),
                namespace=namespace,
                table=table,
                query=query,
                fault=fault,
            )
        mode = query.get("mode") or "expanded"
        key = (namespace, table, query["format"], mode, since_ms, query.get("until"), epoch)
        now = time.time()
        self.jobs.sweep(now)
        job = self.jobs.find_live(key, now)
        if job is None:
            job = self.jobs.new_job(
                key,
                namespace=namespace,
                table=table,
                epoch=epoch,
                schema_version=model.version_at(epoch),
                kind="snapshot" if since_ms is None else "incremental",
                ttl=self.options.job_ttl,
                latency=self.options.job_latency,
                now=now,
            )
            if since_ms is None:
                job.at_ms = now_clock
            else:
                job.since_ms, job.until_ms = since_ms, until_ms
            if fault is not None and fault.kind == "job_failed":
                job.failure = errors.processing_error(
                    f"job {job.id} for {namespace}.{table} failed (injected fault)"
                )
            else:
                spec = JobSpec(
                    dataset_json=dataset_json,
                    namespace=namespace,
                    table=table,
                    epoch=epoch,
                    output_format=query["format"],
                    mode=mode,
                    since_ms=since_ms,
                    until_ms=until_ms,
                    job_dir=str(job.directory),
                    rows_per_file=self.options.rows_per_file,
                    gzip_level=self.options.gzip_level,
                )
                job.production = self.producer.submit(spec, model.ordinal_count(epoch))
        if self.options.post_wait > 0:
            self.jobs.wait(job, self.options.post_wait)
        return _job_response(job)

    def _incremental_range(
        self,
        *,
        dataset: Dataset,
        floor: int | None,
        namespace: str,
        table: str,
        query: dict[str, Any],
        fault: Fault | None,
    ) -> tuple[int, int]:
        epoch = dataset.epoch
        latest = dataset.clock_ms(epoch)
        since_ms = query["since"]
        until_ms = min(query.get("until", latest), latest)
        reload_epoch = dataset.last_reload(namespace, table, epoch)
        earliest = dataset.clock_ms(reload_epoch) if reload_epoch is not None else None
        if fault is not None and fault.kind == "snapshot_required":
            earliest = max(since_ms + 1, earliest or 0)
        if earliest is not None and since_ms < earliest:
            raise errors.snapshot_required(
                f"{namespace}.{table} was reloaded at {iso_millis(earliest)}: "
                "take a new snapshot, then query changes since its `at`",
                iso_millis(earliest),
                iso_millis(latest),
            )
        if floor is not None and since_ms < floor:
            raise errors.out_of_range(
                f"{namespace}.{table} keeps changes since {iso_millis(floor)} only: "
                "take a new snapshot",
                iso_millis(floor),
                iso_millis(latest),
            )
        if since_ms > latest:
            raise errors.out_of_range(
                f"since {iso_millis(since_ms)} is after the latest commit time "
                f"{iso_millis(latest)} of {namespace}.{table}",
                iso_millis(floor if floor is not None else dataset.start_ms),
                iso_millis(latest),
            )
        if until_ms < since_ms:
            raise errors.validation("until must not be earlier than since")
        return since_ms, until_ms

    def get_job(self, request: Request, job_id: str) -> Response:
        self._front(request, "get_job")
        return _job_response(self.jobs.get(job_id, time.time()))

    def object_urls(self, request: Request) -> Response:
        fault = self._front(request, "object_urls")
        object_ids = _parse_objects(request.text)
        now = time.time()
        lifetime = (
            -1.0 if fault is not None and fault.kind == "expired_url" else self.options.url_ttl
        )
        expires = int(now + lifetime)
        scheme = request.header("x-forwarded-proto") or "http"  # https: set by a TLS server
        base = f"{scheme}://{request.header('host') or self._fallback_host()}"
        urls = {}
        for object_id in object_ids:
            job_id, _, name = object_id.partition("/")
            try:
                job = self.jobs.get(job_id, now)
            except errors.ApiError:
                raise errors.not_found(
                    "object", object_id, f"object {object_id} does not exist or has expired"
                ) from None
            if job.status(now) != "complete" or name not in {f.name for f in job.files}:
                raise errors.not_found("object", object_id, f"object {object_id} does not exist")
            path = f"/objects/{job_id}/{name}"
            urls[object_id] = {"url": self.authority.presign(base, path, expires)}
        return Response(200, {"urls": urls})

    def _fallback_host(self) -> str:
        return f"{self.options.host}:{self.options.port}"

    def download(self, request: Request, job_id: str, name: str) -> FileResponse:
        self.stats.request("download")
        now = time.time()
        self.authority.check_presigned(request.path, request.query)
        try:
            job = self.jobs.get(job_id, now)
        except errors.ApiError:
            raise errors.not_found("object", f"{job_id}/{name}", "object has expired") from None
        path = job.directory / name
        if "/" in name or not path.is_file():
            raise errors.not_found("object", f"{job_id}/{name}", "object does not exist")
        fault = self.faults.take("download", f"{job.namespace}.{job.table}")
        if fault is not None:
            if fault.kind == "http_error":
                raise errors.server_error(fault.status, "injected error on download")
            if fault.kind == "rate_limit":
                raise errors.too_many_requests("injected 429 on download", fault.retry_after)
            if fault.kind == "job_expires":
                self.jobs.expire(job.id, now)
        return FileResponse(path, fault)

    # -- control API (/_sim/...) -------------------------------------------------------------

    def control(self, request: Request, action: str) -> Response:
        """``/_sim/{stats,faults,advance,options,jobs/<id>/expire}``: for tests and demos."""
        handlers = {
            "stats": self._control_stats,
            "faults": self._control_faults,
            "advance": self._control_advance,
            "options": self._control_options,
        }
        parts = action.split("/")
        if len(parts) == 3 and parts[0] == "jobs" and parts[2] == "expire":
            if request.method == "POST":
                self.jobs.expire(parts[1], time.time())
                return Response(200, {"expired": parts[1]})
        elif action in handlers:
            response = handlers[action](request)
            if response is not None:
                return response
        raise errors.not_found(
            "endpoint", f"/_sim/{action}", f"no control endpoint {request.method} /_sim/{action}"
        )

    def _control_stats(self, request: Request) -> Response | None:
        return Response(200, self.stats_json()) if request.method == "GET" else None

    def _control_faults(self, request: Request) -> Response | None:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "POST":
            raw = _json_body(request.text)
            items = raw if isinstance(raw, list) else [raw]
            try:
                self.faults.add([Fault.from_json(item) for item in items])
            except (TypeError, ValueError) as error:
                raise errors.validation(str(error)) from None
        elif request.method != "GET":
            return None
        return Response(200, {"pending": self.faults.pending()})

    def _control_advance(self, request: Request) -> Response | None:
        if request.method != "POST":
            return None
        return Response(200, self._advance(_json_body(request.text or "{}")))

    def _control_options(self, request: Request) -> Response | None:
        if request.method == "PATCH":
            try:
                self.options.update(_json_body(request.text))
            except (TypeError, ValueError) as error:
                raise errors.validation(str(error)) from None
            self.limiter.factor = self.options.rate_limit_factor
            self.limiter.window = self.options.rate_limit_window
            self.faults.rate = self.options.fault_rate
        elif request.method != "GET":
            return None
        return Response(200, self.options.to_json())

    def _advance(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._state_lock:
            dataset = Dataset.load(self.data_dir)
            try:
                bumps = dataset.advance(
                    schema_changes=body.get("schema_changes"),
                    reload=body.get("reload", []),
                    churn=body.get("churn", []),
                )
            except ValueError as error:
                raise errors.validation(str(error)) from None
            dataset.save(self.data_dir)
        self._refresh()
        return {
            "epoch": dataset.epoch,
            "clock": iso_millis(dataset.clock_ms(dataset.epoch)),
            "schema_bumps": [vars(b) for b in bumps],
        }

    def stats_json(self) -> dict[str, Any]:
        dataset, _, _ = self.state()
        stats = self.stats
        return {
            "epoch": dataset.epoch,
            "requests": dict(stats.requests),
            "responses": dict(stats.responses),
            "rate_limited": stats.rate_limited,
            "faults_fired": dict(self.faults.fired),
            "jobs_created": self.jobs.created,
            "jobs_by_table": {t: dict(kinds) for t, kinds in self.jobs.created_by_table.items()},
            "production_cache_hits": self.producer.cache.hits if self.producer.cache else 0,
            "bytes_served": stats.bytes_served,
        }


def _job_response(job: Job) -> Response:
    now = time.time()
    return Response(200 if job.terminal(now) else 202, job.body(now))


def _json_body(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise errors.validation(
            f"request body is not valid JSON: {error.msg}", error.lineno, error.colno, error.pos + 1
        ) from None


def _parse_query(text: str) -> dict[str, Any]:
    """Validate a data query (SnapshotQuery or IncrementalQuery); nulls count as absent."""
    raw = _json_body(text)
    if not isinstance(raw, dict):
        raise errors.validation("the query must be a JSON object")
    query = {name: value for name, value in raw.items() if value is not None}
    for name in query:
        if name not in _QUERY_FIELDS:
            raise errors.validation_at(
                f"unknown query field {name!r}; known: {', '.join(_QUERY_FIELDS)}", text, name
            )
    output_format = query.get("format")
    if output_format not in _ALL_FORMATS:
        raise errors.validation_at(
            f"format must be one of {', '.join(_ALL_FORMATS)}", text, '"format"'
        )
    if output_format == "parquet":
        raise errors.validation_at(
            "dap-sim does not produce parquet; ask for jsonl, tsv or csv", text, "parquet"
        )
    if query.get("mode", "expanded") not in formats.MODES:
        raise errors.validation_at(f"mode must be one of {', '.join(formats.MODES)}", text, "mode")
    if "until" in query and "since" not in query:
        raise errors.validation_at("until needs since (an incremental query)", text, "until")
    for name in ("since", "until"):
        if name in query:
            try:
                query[name] = parse_iso(str(query[name]))
            except ValueError:
                raise errors.validation_at(
                    f"{name} must be an ISO 8601 timestamp with a time zone, "
                    f"e.g. 2024-06-30T10:11:12Z",
                    text,
                    f'"{name}"',
                ) from None
    return query


def _parse_objects(text: str) -> list[str]:
    raw = _json_body(text)
    if not isinstance(raw, list) or not all(
        isinstance(item, dict) and set(item) == {"id"} and isinstance(item["id"], str)
        for item in raw
    ):
        raise errors.validation('the body must be a JSON array of {"id": "<object id>"}')
    return [item["id"] for item in raw]
