"""One sync run, planned before it emits: every selected table's query job submitted,
polled and retried (`jobs`), its files downloaded and decoded (or written as batch files)
ahead in worker threads (`planner`), and where each table's replication stands in the
Singer state (`bookmarks`). It drives `tap_dap.api`; each stream (`tap_dap.streams`)
takes its table's job and files from here, in order, and writes them out through
`tap_dap.singer`.
"""
