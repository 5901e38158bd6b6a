"""The Singer side: what goes out on stdout, and the progress lines on stderr.

A DAP schema as a Singer schema (`schema`), DAP JSONL line blocks as RECORD bytes
(`records`) or as BATCH files (`batches`), the one writer of stdout (`output`), and the
per-table progress log (`progress_log`). It reads the line blocks of `tap_dap.api`; the
streams (`tap_dap.streams`) write what it makes to the target, in order.
"""
