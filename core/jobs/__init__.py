"""Jobs: the SQLite registry, the job process entry point, and how a job process is launched."""
