"""The DAP side: everything that speaks to the DAP API and reads what it serves.

The login and its token (`auth`), the endpoints (`client`) within the rate budget
(`ratelimit`) and the retry policy (`retry`), DAP's error answers as typed errors
(`error_answers`), the HTTP session (`session`), and a job's files: downloaded into the
spool (`downloads`), inflated (`gzip_codec`) and cut into blocks of JSONL lines
(`decoding`). Next: `tap_dap.plan` runs these for every table of a sync, and
`tap_dap.singer` turns the line blocks into Singer messages.
"""
