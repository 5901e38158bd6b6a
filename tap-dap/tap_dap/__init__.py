"""tap-dap: a Singer tap for Instructure's Data Access Platform (DAP) Query API.

Data flows through three layers: `api` (login, endpoints, rate limits, retries, a job's
files downloaded and cut into JSONL line blocks) -> `plan` (the jobs, downloads and
decoding of a whole run, and the bookmarks) -> `singer` (schemas, RECORD and BATCH
output, stdout). The SDK plugin sits on top: `tap` (settings, discovery, the wiring of a
run) and `streams` (one stream per table, consuming its job from the plan). `settings`,
`errors` and `redaction` serve every layer.
"""
