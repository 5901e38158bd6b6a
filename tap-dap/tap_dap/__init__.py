"""tap-dap: a Singer tap for Instructure's Data Access Platform (DAP) Query API."""
