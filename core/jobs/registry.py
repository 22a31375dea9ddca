"""The job registry: every training / evaluation / export run is its own OS process.

State lives in SQLite (`workspace/jobs.sqlite`, WAL) so the web server, the job processes and a
restarted server all see the same jobs. A job process is `python -m core.jobs.main` (see there);
its stdout and stderr go to `run_dir/log.txt`.

Choices worth knowing:
- Kinds: `submit(kind, config)` takes a JobKind registered by the module that runs it
  (core.jobs.kinds); the job's row keeps the kind's entry and GPU count, so whichever process
  pumps the queue starts the right function on the right number of GPUs.
- Resume: `context.resume` is True when the job has been started before (`Job.attempts > 1`),
  so a job function resumes from its own checkpoint in the same run_dir with the same config.
  Neither the config nor a marker file carries it, so nothing stale can survive a resume.
- Stop: `stop(id)` writes `run_dir/STOP`; the job polls `context.stop_requested()` and ends,
  then the job process marks it stopped. `stop(id, wait=True)` kills the process tree when the
  job does not end within the timeout.
- Inline children (`record_child`) run inside their parent's process (e.g. K-fold folds): they
  are never spawned, and while running they carry the parent process's pid, so a lost parent
  process marks them lost too.
- A job in `stopping` whose process vanished becomes `stopped`, not `failed`: the user asked for
  the stop, and a resume works the same from either.
- `max_running` given explicitly is stored in the database, so the pump that a finishing job
  process runs obeys the limit the server chose. The GPU ids are stored by the server that owns
  the queue (`owns_queue=True`); another process (a CLI run with its own CUDA_VISIBLE_DEVICES)
  stores its list only when none is stored yet. Each spawned job gets its own GPUs through
  CUDA_VISIBLE_DEVICES (the Trainer would otherwise spread every job over all GPUs).
- Starting a job: pump marks it running in one write transaction and starts its process after
  the commit. A caller that dies in between leaves a job marked running with no pid, which no
  other pump starts again; reconcile marks it lost once STARTING_GRACE has passed without the
  job process recording its pid.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import psutil

from core.env import REPO_ROOT
from core.jobs.kinds import KIND_PATTERN, JobKind, registered_kind
from core.jobs.launch import job_command, job_environment
from core.workspace import RunDir, Workspace

JOB_ID_ENV = "FRAUD_LAB_JOB_ID"

QUEUED, RUNNING, STOPPING = "queued", "running", "stopping"
STOPPED, FINISHED, FAILED = "stopped", "finished", "failed"
STATUSES = (QUEUED, RUNNING, STOPPING, STOPPED, FINISHED, FAILED)
ACTIVE = (RUNNING, STOPPING)
FINAL = (STOPPED, FINISHED, FAILED)

# psutil derives create_time from the boot time, which moves with wall-clock adjustments; a pid
# reused within one second of the original start is not a realistic case.
CREATE_TIME_TOLERANCE = 1.0
LOST_LOG_LINES = 20
# Seconds a job may stay marked running without a pid: from pump's commit until the job process
# (or pump, right after starting it) records its pid.
STARTING_GRACE = 60.0
_ANY = object()

# Columns added since the first schema, added to an older database when it is opened.
ADDED_COLUMNS = {"entry": "TEXT", "gpus": "INTEGER"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, parent_id TEXT, config TEXT NOT NULL,
    status TEXT NOT NULL, pid INTEGER, pid_create_time REAL,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    run_dir TEXT NOT NULL, error TEXT, summary TEXT,
    inline INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, device TEXT,
    entry TEXT, gpus INTEGER);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs(parent_id);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Jobs that hold a slot: a parent waiting on children it spawned as processes gives its slot up,
# otherwise a sweep under max_running=1 would wait forever for its own trials.
_SLOT_HOLDERS = """
SELECT * FROM jobs AS j WHERE j.status IN ('running', 'stopping') AND j.inline = 0
AND NOT EXISTS (SELECT 1 FROM jobs AS c WHERE c.parent_id = j.id AND c.inline = 0
                AND c.status IN ('queued', 'running', 'stopping'))
"""


class JobStateError(RuntimeError):
    """The job's status does not allow what was asked (delete a running job, resume a finished one)."""


class UnknownJob(LookupError):
    """No job with this id in the registry."""


@dataclass
class Job:
    id: str
    kind: str
    parent_id: str | None
    config: dict
    status: str
    pid: int | None
    pid_create_time: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    run_dir: Path
    error: str | None
    summary: dict | None
    inline: bool
    attempts: int
    device: str | None
    entry: str | None = None  # "module:function" of the job's kind (None for an inline child)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


@dataclass
class JobContext:
    """What a job function receives besides its run_dir and config."""
    job_id: str
    run_dir: Path
    registry: "JobRegistry"
    resume: bool
    attempt: int

    def stop_requested(self) -> bool:
        return RunDir(self.run_dir).stop_requested()

    def record_child(self, kind: str, config: dict, run_dir: Path | None = None) -> Job:
        return self.registry.record_child(kind, self.job_id, config, run_dir)


def process_alive(pid: int | None, create_time: float | None = None) -> bool:
    """True when pid is a live (non-zombie) process started at create_time (guards pid reuse)."""
    if pid is None:
        return False
    try:
        process = psutil.Process(pid)
        if create_time is not None and abs(process.create_time() - create_time) > CREATE_TIME_TOLERANCE:
            return False
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def kill_tree(pid: int, create_time: float | None = None, grace: float = 3.0) -> int:
    """Terminate pid and all its descendants, then kill what is left after `grace` seconds.

    Returns how many processes were signalled. With create_time, a reused pid is left alone.
    """
    try:
        root = psutil.Process(pid)
        if create_time is not None and abs(root.create_time() - create_time) > CREATE_TIME_TOLERANCE:
            return 0
        processes = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)
    return len(processes)


def read_tail(path: Path, lines: int) -> str:
    """Last `lines` lines of a text file without reading a large log whole."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            block = 8192
            while True:
                start = max(0, size - block)
                handle.seek(start)
                data = handle.read(size - start)
                if start == 0 or data.count(b"\n") + data.count(b"\r") > lines:
                    break
                block *= 4
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def to_json(value: Any, what: str) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, Path):
            return str(item)
        raise TypeError(f"{what}: value {item!r} of type {type(item).__name__} is not JSON-serializable")
    return json.dumps(value, ensure_ascii=False, default=default)


def _visible_gpus() -> list[str]:
    import torch  # lazily: a registry that only reads jobs must not pay for torch

    count = torch.cuda.device_count()
    listed = [item.strip() for item in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if item.strip()]
    return listed[:count] if len(listed) >= count else [str(index) for index in range(count)]


class JobRegistry:
    """Jobs of one workspace. Cheap to create; every call opens its own short connection."""

    def __init__(self, workspace: str | Path, max_running: int | None = None, owns_queue: bool = False):
        """`owns_queue`: this process is the server that runs the queue; the GPUs it sees become
        the ones every job of the workspace is spread over."""
        if max_running is not None and max_running < 1:
            raise ValueError(f"max_running must be at least 1, got {max_running}")
        self.workspace = Path(workspace).resolve()
        self.runs_dir = Workspace(self.workspace).runs_dir
        self.database = Workspace(self.workspace).database
        self.workspace.mkdir(parents=True, exist_ok=True)
        self._launched: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._prepare_database()
        stored = self._setting("gpus")
        if os.environ.get(JOB_ID_ENV):  # a job process sees only its own GPUs: it trusts the stored list
            self.gpus = json.loads(stored or "[]")
        elif owns_queue or stored is None:
            self._store_setting("gpus", json.dumps(_visible_gpus()), replace=owns_queue)
            self.gpus = json.loads(self._setting("gpus"))  # another process may have stored it first
        else:
            self.gpus = json.loads(stored)
        if max_running is not None:
            self._store_setting("max_running", str(max_running))

    @property
    def max_running(self) -> int:
        stored = self._setting("max_running")
        return int(stored) if stored else max(1, len(self.gpus))

    # -- storage --------------------------------------------------------------------------------
    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.database, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            if not write:
                yield connection
                return
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def _setting(self, key: str) -> str | None:
        with self._connect() as connection:
            row = connection.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def _store_setting(self, key: str, value: str, replace: bool = True) -> None:
        with self._connect(write=True) as connection:
            connection.execute(f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO settings (key, value)"
                               " VALUES (?, ?)", (key, value))

    def _stored_path(self, run_dir: Path) -> str:
        # Relative inside the workspace, so a moved workspace keeps working.
        resolved = Path(run_dir).resolve()
        inside = resolved.is_relative_to(self.workspace)
        return str(resolved.relative_to(self.workspace)) if inside else str(resolved)

    def _job(self, row: sqlite3.Row) -> Job:
        return Job(
            id=row["id"], kind=row["kind"], parent_id=row["parent_id"], config=json.loads(row["config"]),
            status=row["status"], pid=row["pid"], pid_create_time=row["pid_create_time"],
            created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
            run_dir=self.workspace / row["run_dir"], error=row["error"],
            summary=json.loads(row["summary"]) if row["summary"] else None,
            inline=bool(row["inline"]), attempts=row["attempts"], device=row["device"], entry=row["entry"])

    def _row(self, connection: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row = connection.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJob(f"no job {job_id!r} in {self.database}")
        return row

    def _subtree(self, connection: sqlite3.Connection, job_id: str) -> list[sqlite3.Row]:
        rows = [self._row(connection, job_id)]
        for row in rows:  # grows while iterating: breadth-first over descendants
            rows.extend(connection.execute(
                "SELECT * FROM jobs WHERE parent_id = ? ORDER BY created_at, rowid", (row["id"],)).fetchall())
        return rows

    def _insert(self, kind: str, config: dict, parent_id: str | None, run_dir: Path | None, inline: bool,
                entry: str | None = None, gpus: int | None = None) -> Job:
        if not KIND_PATTERN.match(kind):
            raise ValueError(f"job kind {kind!r} must be lower-case letters, digits or '_'")
        config_text = to_json(config, f"config of a {kind} job")
        for _ in range(10):
            job_id = f"{datetime.now():%Y%m%d-%H%M%S}-{kind}-{secrets.token_hex(2)}"
            directory = Path(run_dir) if run_dir is not None else self.runs_dir / job_id
            try:
                with self._connect(write=True) as connection:
                    if parent_id is not None:
                        self._row(connection, parent_id)
                    connection.execute(
                        "INSERT INTO jobs (id, kind, parent_id, config, status, created_at, run_dir, "
                        "inline, entry, gpus) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (job_id, kind, parent_id, config_text, QUEUED, time.time(),
                         self._stored_path(directory), int(inline), entry, gpus))
            except sqlite3.IntegrityError:
                continue
            directory.mkdir(parents=True, exist_ok=True)
            return self.get(job_id)
        raise RuntimeError("could not draw a free job id")

    # -- creating jobs --------------------------------------------------------------------------
    def submit(self, kind: JobKind | str, config: dict, parent_id: str | None = None,
               run_dir: str | Path | None = None, start: bool = True) -> Job:
        """Queue a job run by its own process; starts it at once when a slot is free.

        `kind` is a registered JobKind (or its name): the job records the kind's entry and GPU count.
        """
        kind = kind if isinstance(kind, JobKind) else registered_kind(kind)
        job = self._insert(kind.name, config, parent_id, run_dir, inline=False, entry=kind.entry,
                           gpus=kind.gpus_wanted(config))
        if start:
            self.pump()
        return self.get(job.id)

    def record_child(self, kind: str, parent_id: str, config: dict, run_dir: str | Path | None = None) -> Job:
        """Record a child that the calling (parent) process runs itself; drive it with set_status."""
        return self._insert(kind, config, parent_id, run_dir, inline=True)

    def set_status(self, job_id: str, status: str, error: str | None = None,
                   summary: dict | None = None) -> Job:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
        now = time.time()
        with self._connect(write=True) as connection:
            row = self._row(connection, job_id)
            fields: dict[str, Any] = {"status": status}
            if status == RUNNING:
                fields.update(started_at=now, finished_at=None, error=None)
                if row["inline"]:  # it runs in this process: this pid is the one to watch
                    fields.update(pid=os.getpid(), pid_create_time=_create_time(os.getpid()),
                                  attempts=row["attempts"] + 1)
            if status in FINAL:
                fields["finished_at"] = now
            if error is not None:
                fields["error"] = error
            if summary is not None:
                fields["summary"] = to_json(summary, f"summary of job {job_id}")
            assignments = ", ".join(f"{name} = ?" for name in fields)
            connection.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))
        return self.get(job_id)

    # -- reading --------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        with self._connect() as connection:
            return self._job(self._row(connection, job_id))

    def list(self, kind: str | None = None, parent_id: Any = _ANY, status: str | None = None,
             limit: int | None = None) -> list[Job]:
        """Newest first. parent_id=None lists top-level jobs only; leave it out for all jobs."""
        clauses, values = [], []
        if kind is not None:
            clauses.append("kind = ?"), values.append(kind)
        if parent_id is None:
            clauses.append("parent_id IS NULL")
        elif parent_id is not _ANY:
            clauses.append("parent_id = ?"), values.append(parent_id)
        if status is not None:
            clauses.append("status = ?"), values.append(status)
        query = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        query += " ORDER BY created_at DESC, rowid DESC" + (" LIMIT ?" if limit is not None else "")
        with self._connect() as connection:
            rows = connection.execute(query, (*values, *([limit] if limit is not None else []))).fetchall()
        return [self._job(row) for row in rows]

    def children(self, job_id: str) -> list[Job]:
        """Direct children, oldest first."""
        with self._connect() as connection:
            return [self._job(row) for row in self._subtree(connection, job_id)[1:]
                    if row["parent_id"] == job_id]

    def log_tail(self, job_id: str, lines: int = 50) -> str:
        return read_tail(RunDir(self.get(job_id).run_dir).log_file, lines)

    # -- processes ------------------------------------------------------------------------------
    def pump(self) -> list[str]:
        """Reconcile, then start queued jobs in created order while slots are free; returns started ids."""
        self.reconcile()
        started = []
        limit = self.max_running
        while True:
            with self._lock:  # reap and launch bookkeeping of this object
                claimed = self._claim_next(limit)
                if claimed is None:
                    break
                self._launch(*claimed)
            started.append(claimed[0]["id"])
        return started

    refresh = pump

    def _claim_next(self, limit: int) -> tuple[sqlite3.Row, list[str]] | None:
        """Mark the oldest queued job running (no process yet) when a slot is free.

        Committed before any process starts: two pumps (server, finishing job) never claim the
        same job, and a caller that dies before starting it cannot leave it queued for a second
        start while a first process runs.
        """
        with self._connect(write=True) as connection:
            holders = connection.execute(_SLOT_HOLDERS).fetchall()
            if len(holders) >= limit:
                return None
            row = connection.execute("SELECT * FROM jobs WHERE status = ? AND inline = 0"
                                     " ORDER BY created_at, rowid LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            gpu_ids = self._pick_gpus(row, [holder["device"] for holder in holders])
            connection.execute(
                "UPDATE jobs SET status = ?, pid = NULL, pid_create_time = NULL, started_at = ?,"
                " finished_at = NULL, error = NULL, attempts = attempts + 1, device = ? WHERE id = ?",
                (RUNNING, time.time(), ",".join(gpu_ids) or None, row["id"]))
        return row, gpu_ids

    def _launch(self, row: sqlite3.Row, gpu_ids: list[str]) -> None:
        """Start the process of a job `_claim_next` marked running, and record its pid."""
        job_id, run_dir = row["id"], self.workspace / row["run_dir"]
        environment = dict(os.environ, PYTHONUNBUFFERED="1", FRAUD_LAB_WORKSPACE=str(self.workspace),
                           **{JOB_ID_ENV: job_id})
        environment = job_environment(gpu_ids, environment)
        command = job_command(self.workspace, job_id, gpu_ids)
        # `python -m` puts its working folder first on sys.path: started in the project folder, the job
        # process imports `core` (and a test's job module) from there, installed or not.
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            with open(RunDir(run_dir).log_file, "ab") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL,
                                           start_new_session=True, cwd=REPO_ROOT, env=environment)
        except OSError as error:
            with self._connect(write=True) as connection:
                connection.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                                   (FAILED, f"could not start the job process: {error}", time.time(), job_id))
            return
        self._launched[job_id] = process
        with self._connect(write=True) as connection:  # unless the job process recorded itself first
            connection.execute("UPDATE jobs SET pid = ?, pid_create_time = ? WHERE id = ? AND pid IS NULL",
                               (process.pid, _create_time(process.pid), job_id))

    def _prepare_database(self) -> None:
        """WAL mode and the schema. Switching to WAL takes a lock that SQLite's busy timeout does not
        wait for, so several processes opening a new database at once (the ranks of a multi-GPU
        job) retry instead of failing with "database is locked"."""
        for attempt in range(50):
            try:
                with self._connect() as connection:
                    if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        connection.execute("PRAGMA journal_mode=WAL")
                    connection.executescript(SCHEMA)
                    self._add_columns(connection)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == 49:
                    raise
                time.sleep(0.1)

    @staticmethod
    def _add_columns(connection: sqlite3.Connection) -> None:
        present = {row["name"] for row in connection.execute("PRAGMA table_info(jobs)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in present:
                try:
                    connection.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as error:  # another process added it meanwhile
                    if "duplicate column" not in str(error):
                        raise

    def _pick_gpus(self, row: sqlite3.Row, busy_devices: list[str | None]) -> list[str]:
        """The least busy GPUs, as many as the job's kind asked for when it was submitted."""
        if not self.gpus:
            return []
        wanted = row["gpus"] if row["gpus"] is not None else 1
        busy = [gpu for device in busy_devices if device for gpu in device.split(",")]
        return sorted(self.gpus, key=busy.count)[: min(wanted, len(self.gpus))]

    def reconcile(self) -> list[str]:
        """Mark running/stopping jobs whose process is gone (or whose pid was reused); returns their ids."""
        with self._lock:  # reap our own children so they do not linger as zombies
            for job_id, process in list(self._launched.items()):
                if process.poll() is not None:
                    del self._launched[job_id]
        with self._connect() as connection:
            rows = connection.execute("SELECT * FROM jobs WHERE status IN (?, ?)", ACTIVE).fetchall()
        lost = []
        for row in rows:
            if row["pid"] is None and time.time() - (row["started_at"] or 0.0) < STARTING_GRACE:
                continue  # claimed by a pump, its process is starting
            if process_alive(row["pid"], row["pid_create_time"]):
                continue
            status = STOPPED if row["status"] == STOPPING else FAILED
            error = ("process lost" if status == FAILED
                     else "process ended without reporting after a stop request")
            tail = read_tail(RunDir(self.workspace / row["run_dir"]).log_file, LOST_LOG_LINES)
            error += f"\n{tail}" if tail else ""
            with self._connect(write=True) as connection:
                # The conditions skip a job that reported its own end since it was read above.
                changed = connection.execute(
                    "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status IN (?, ?)"
                    " AND pid IS ?", (status, error, time.time(), row["id"], *ACTIVE, row["pid"])).rowcount
                if changed:
                    self._settle_children(connection, row["id"], status, "parent process lost")
                    lost.append(row["id"])
        return lost

    def _settle_children(self, connection: sqlite3.Connection, parent_id: str, parent_status: str,
                         error: str) -> None:
        """Close the inline children a parent left open: they cannot run without it."""
        status = FAILED if parent_status == FAILED else STOPPED
        for row in self._subtree(connection, parent_id)[1:]:
            if row["inline"] and row["status"] not in FINAL:
                connection.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                                   (status, error, time.time(), row["id"]))

    def claim(self, job_id: str) -> Job:
        """Called by job_main in the job process: record this process as the job's."""
        with self._connect(write=True) as connection:
            row = self._row(connection, job_id)
            if row["status"] == QUEUED:  # started by hand rather than by pump
                connection.execute("UPDATE jobs SET status = ?, started_at = ?, finished_at = NULL,"
                                   " error = NULL, attempts = attempts + 1 WHERE id = ?",
                                   (RUNNING, time.time(), job_id))
            if row["status"] in (QUEUED, *ACTIVE):
                connection.execute("UPDATE jobs SET pid = ?, pid_create_time = ? WHERE id = ?",
                                   (os.getpid(), _create_time(os.getpid()), job_id))
        return self.get(job_id)

    def finish(self, job_id: str, status: str, error: str | None = None, summary: dict | None = None) -> Job:
        """Called by job_main: the final status, unless a hard stop already recorded one."""
        if status not in FINAL:
            raise ValueError(f"finish needs a final status ({', '.join(FINAL)}), got {status!r}")
        with self._connect(write=True) as connection:
            changed = connection.execute(
                "UPDATE jobs SET status = ?, error = ?, summary = ?, finished_at = ? WHERE id = ? AND "
                "status IN (?, ?)",
                (status, error, to_json(summary, f"summary of job {job_id}") if summary is not None else None,
                 time.time(), job_id, *ACTIVE)).rowcount
            if changed:
                self._settle_children(connection, job_id, status, f"parent job ended {status}")
        return self.get(job_id)

    # -- control --------------------------------------------------------------------------------
    def stop(self, job_id: str, wait: bool = False, timeout: float = 30.0) -> Job:
        """Ask the job (and its children) to stop; with wait, kill its process tree after timeout."""
        with self._connect(write=True) as connection:
            for row in self._subtree(connection, job_id):
                if row["status"] == QUEUED:
                    connection.execute("UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?",
                                       (STOPPED, time.time(), row["id"]))
                elif row["status"] in ACTIVE:
                    RunDir(self.workspace / row["run_dir"]).request_stop(
                        f"stop requested at {datetime.now():%Y-%m-%d %H:%M:%S}")
                    connection.execute("UPDATE jobs SET status = ? WHERE id = ?", (STOPPING, row["id"]))
        if wait:
            try:
                return self.wait(job_id, timeout=timeout, poll=min(0.5, timeout / 10 or 0.1))
            except TimeoutError:
                self._hard_stop(job_id, f"killed: did not stop within {timeout:g} s")
        return self.get(job_id)

    def _hard_stop(self, job_id: str, reason: str) -> None:
        with self._connect() as connection:
            rows = self._subtree(connection, job_id)
        for row in rows:
            if row["status"] in ACTIVE and row["pid"] is not None:
                kill_tree(row["pid"], row["pid_create_time"])
        with self._connect(write=True) as connection:
            for row in self._subtree(connection, job_id):
                if row["status"] not in FINAL:
                    connection.execute("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                                       (STOPPED, reason, time.time(), row["id"]))
        self.reconcile()

    def resume(self, job_id: str) -> Job:
        """Queue a stopped or failed job again in the same run_dir; it starts with context.resume True."""
        with self._connect(write=True) as connection:
            rows = self._subtree(connection, job_id)
            if rows[0]["inline"]:
                raise JobStateError(f"job {job_id} runs inside its parent {rows[0]['parent_id']}: "
                                    "resume the parent")
            if rows[0]["status"] not in (STOPPED, FAILED):
                raise JobStateError(f"job {job_id} is {rows[0]['status']}; only stopped or failed jobs "
                                    "resume")
            for row in rows:  # a STOP left in a fold's folder would stop the resumed fold at once
                RunDir(self.workspace / row["run_dir"]).clear_stop()
            connection.execute("UPDATE jobs SET status = ?, error = NULL, summary = NULL, pid = NULL,"
                               " pid_create_time = NULL, finished_at = NULL WHERE id = ?", (QUEUED, job_id))
        self.pump()
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        """Remove the job, its children and their run folders (only folders under workspace/runs)."""
        with self._connect(write=True) as connection:
            rows = self._subtree(connection, job_id)
            active = [row["id"] for row in rows if row["status"] in ACTIVE]
            if active:
                raise JobStateError(f"cannot delete job {job_id}: {', '.join(active)} still running; "
                                    "stop it first")
            connection.executemany("DELETE FROM jobs WHERE id = ?", [(row["id"],) for row in rows])
        runs = self.runs_dir.resolve()
        for row in rows:
            run_dir = (self.workspace / row["run_dir"]).resolve()
            if run_dir.is_relative_to(runs) and run_dir != runs:
                shutil.rmtree(run_dir, ignore_errors=True)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.5) -> Job:
        """Poll until the job reaches a final status (pumping, so queued successors start)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.pump()
            job = self.get(job_id)
            if job.is_final:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout:g} s")
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
