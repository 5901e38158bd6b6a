"""target-dap-sql: a Singer target that keeps SQL tables in step with any Singer stream."""
