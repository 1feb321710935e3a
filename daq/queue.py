"""Unattended queues: a night of runs from one YAML file, that survives crashes and faults.

    queue: overnight persistent currents
    station: station.yaml            # relative to the queue file
    output_dir: runs/                # relative to the queue file
    on_failure: continue             # or stop
    retries: 1                       # a failed run is tried again this often (it goes on in its file)
    log_max_bytes: 5000000           # the queue log rotates at this size, keeping log_backups old ones
    notify:
      command: [notify-send, loopscope]   # run on a failure and at the end; summary on stdin
      webhook: https://chat.example/hooks/abc   # JSON summary POSTed on a failure and at the end
    defaults:                        # merged into every plan (a plan's own keys win)
      give_up_after_s: 600
      suspenders: [{kind: temperature_band, min_K: 0.02, max_K: 0.2}]
    runs:
      - plan: sweep.yaml
        out: sweep_base.h5
      - plan: sweep.yaml
        vary: {key: temperature.setpoint_K, values: [0.05, 0.1, 0.2]}   # one run per value
        set: {title: Rings against temperature}

Beside the queue, `<queue>.status.yaml` says what is done, running and left and why anything
failed (rewritten atomically at every change), and `<queue>.log` keeps a rotating log. Everything
(every plan, the station, the limits, the output names) is checked before the first instrument
is touched. `resume` goes on after a crash: finished runs are skipped, the interrupted one
continues in its own file from its next point, the rest run as planned.
"""
from __future__ import annotations

import copy
import json
import logging
import logging.handlers
import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from loopscope.daq.interrupts import InterruptGuard
from loopscope.daq.plans import Plan, PlanError, parse_plan
from loopscope.daq.plans_as_code import is_code_plan_target, load_code_plan
from loopscope.daq.locks import FileLock, LockBusy, lock_held
from loopscope.daq.storage import now_iso, read_status
from loopscope.safe_yaml import SafeYAMLError, load_yaml_file

log = logging.getLogger("loopscope.queue")

QUEUE_KEYS = {"queue", "station", "output_dir", "on_failure", "retries", "notify", "defaults", "runs",
              "description", "log_max_bytes", "log_backups"}
RUN_KEYS = {"plan", "out", "set", "vary", "name", "arguments"}
DONE = ("completed",)


class QueueError(ValueError):
    """A queue file that cannot run. The message names the file, the key and the value.

    A plan of the queue that cannot run: ``problems`` holds its PlanError's problems (key paths)."""

    def __init__(self, message: str, problems=()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass
class QueuedRun:
    name: str
    plan: Plan
    plan_file: str
    out: Path


@dataclass
class Queue:
    path: Path
    name: str
    station: Path
    output_dir: Path
    on_failure: str
    retries: int
    notify: dict
    runs: list[QueuedRun]
    log_max_bytes: int = 5_000_000
    log_backups: int = 5

    @property
    def status_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".status.yaml")

    @property
    def log_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".log")

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".lock")


# ------------------------------------------------------------------------------ loading
def _set_dotted(data: dict, dotted: str, value, where: str) -> None:
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        if not isinstance(child, dict):
            raise QueueError(f"{where}: cannot set {dotted!r}: {k!r} is not a mapping in the plan")
        node = child
    node[keys[-1]] = value


def _merge_defaults(plan: dict, defaults: dict) -> dict:
    out = copy.deepcopy(defaults)
    for k, v in plan.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_defaults(v, out[k])
        else:
            out[k] = v
    return out


def load_queue(path: str | Path, station: str | Path | None = None) -> Queue:
    """Read and check a queue file completely (plans, station, limits, outputs). Touches nothing."""
    from loopscope.daq.runner import check_plan_against_station
    from loopscope.daq.plan_against_station import plan_instruments
    from loopscope.instruments.station import StationError, validate_station

    path = Path(path)
    try:
        data, _ = load_yaml_file(path, label="queue file")
    except SafeYAMLError as exc:
        raise QueueError(str(exc)) from None
    if not isinstance(data, dict):
        raise QueueError(f"{path}: a queue is a mapping with keys {sorted(QUEUE_KEYS)}")
    for key in data:
        if key not in QUEUE_KEYS:
            raise QueueError(f"{path}: {key}: unknown key (allowed: {', '.join(sorted(QUEUE_KEYS))})")
    base = path.parent
    on_failure = data.get("on_failure", "continue")
    if on_failure not in ("continue", "stop"):
        raise QueueError(f"{path}: on_failure: must be continue or stop (got {on_failure!r})")
    retries = data.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 20:
        raise QueueError(f"{path}: retries: must be a whole number from 0 to 20 (got {retries!r})")
    notify = data.get("notify") or {}
    if not isinstance(notify, dict) or set(notify) - {"command", "webhook"}:
        raise QueueError(f"{path}: notify: takes 'command' (a list of words) and 'webhook' (a URL), got {notify!r}")
    if "command" in notify and not (isinstance(notify["command"], list) and notify["command"]
                                    and all(isinstance(w, str) for w in notify["command"])):
        raise QueueError(f"{path}: notify.command: a list of words, e.g. [notify-send, loopscope] "
                         f"(got {notify['command']!r})")
    if "webhook" in notify and not (isinstance(notify["webhook"], str)
                                    and notify["webhook"].startswith(("http://", "https://"))):
        raise QueueError(f"{path}: notify.webhook: an http(s) URL (got {notify['webhook']!r})")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise QueueError(f"{path}: defaults: a mapping of plan keys (got {defaults!r})")

    station_path = Path(station) if station is not None else None
    if station_path is None:
        if "station" not in data:
            from loopscope.daq.paths import SIMULATED_STATION
            station_path = SIMULATED_STATION
        else:
            station_path = base / str(data["station"])
    try:
        station_config = validate_station(station_path)
    except StationError as exc:
        raise QueueError(f"{path}: station: {exc}") from None
    instruments = plan_instruments(station_config)

    output_dir = base / str(data.get("output_dir", "."))
    entries = data.get("runs")
    if not isinstance(entries, list) or not entries:
        raise QueueError(f"{path}: runs: a non-empty list of runs (got {entries!r})")
    runs: list[QueuedRun] = []
    for i, entry in enumerate(entries):
        where = f"{path}: runs[{i}]"
        if not isinstance(entry, dict) or "plan" not in entry:
            raise QueueError(f"{where}: each run needs at least 'plan' (got {entry!r})")
        for key in entry:
            if key not in RUN_KEYS:
                raise QueueError(f"{where}: {key}: unknown key (allowed: {', '.join(sorted(RUN_KEYS))})")
        plan_file = base / str(entry["plan"])
        if is_code_plan_target(str(entry["plan"])):
            runs.append(_code_plan_run(entry, where, base, output_dir, instruments))
            continue
        if "arguments" in entry:
            raise QueueError(f"{where}: arguments: only a plan written in Python (FILE.py:FUNCTION) "
                             f"takes arguments")
        try:
            plan_data, _ = load_yaml_file(plan_file, label="plan file")
        except SafeYAMLError as exc:
            if exc.kind == "missing":
                raise QueueError(f"{where}: plan: {plan_file} does not exist") from None
            if exc.kind == "directory":
                raise QueueError(f"{where}: plan: {plan_file} is a directory, not a plan file") from None
            raise QueueError(f"{where}: plan: {exc}") from None
        if not isinstance(plan_data, dict):
            raise QueueError(f"{where}: plan {plan_file}: not a mapping")
        plan_data = _merge_defaults(plan_data, defaults)
        for dotted, value in (entry.get("set") or {}).items():
            _set_dotted(plan_data, dotted, value, where)
        variants = [(None, plan_data)]
        vary = entry.get("vary")
        if vary is not None:
            if not (isinstance(vary, dict) and set(vary) == {"key", "values"} and isinstance(vary["values"], list)
                    and vary["values"]):
                raise QueueError(f"{where}: vary: needs 'key' (a dotted plan key) and 'values' (a list), got {vary!r}")
            variants = []
            for value in vary["values"]:
                d = copy.deepcopy(plan_data)
                _set_dotted(d, vary["key"], value, where)
                d["title"] = f"{d.get('title', 'run')} ({vary['key']} = {value})"
                variants.append((f"{vary['key'].split('.')[-1]}={value}", d))
        stem = Path(str(entry.get("out", plan_file.with_suffix(".h5").name)))
        for tag, d in variants:
            out = output_dir / (stem.name if tag is None else f"{stem.stem}_{tag}{stem.suffix or '.h5'}")
            name = str(entry.get("name", stem.stem)) + ("" if tag is None else f" [{tag}]")
            try:
                plan = parse_plan(d, text=yaml.safe_dump(d, sort_keys=False), origin=f"{where} ({plan_file.name})")
                check_plan_against_station(plan, instruments)
            except PlanError as exc:
                raise QueueError(str(exc), exc.problems) from None
            runs.append(QueuedRun(name=name, plan=plan, plan_file=str(plan_file), out=out))
    outs = [r.out for r in runs]
    dupes = {o for o in outs if outs.count(o) > 1}
    if dupes:
        raise QueueError(f"{path}: two runs write the same file {sorted(map(str, dupes))[0]}; give them 'out' names")
    log_max_bytes, log_backups = data.get("log_max_bytes", 5_000_000), data.get("log_backups", 5)
    for key, value in (("log_max_bytes", log_max_bytes), ("log_backups", log_backups)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise QueueError(f"{path}: {key}: a positive whole number (got {value!r})")
    return Queue(path=path, name=str(data.get("queue", path.stem)), station=station_path, output_dir=output_dir,
                 on_failure=on_failure, retries=retries, notify=notify, runs=runs, log_max_bytes=log_max_bytes,
                 log_backups=log_backups)


def _code_plan_run(entry: dict, where: str, base: Path, output_dir: Path, instruments) -> "QueuedRun":
    """A queue entry naming a plan written in Python: ``plan: my_plan.py:function`` with
    optional ``arguments`` (the function's keyword arguments), ``out`` and ``name``. The YAML
    kinds' ``set``/``vary``/``defaults`` edit YAML keys; a Python plan takes arguments instead."""
    for key in ("set", "vary"):
        if key in entry:
            raise QueueError(f"{where}: {key}: a plan written in Python takes 'arguments' "
                             f"instead (its steps come from its function)")
    arguments = entry.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise QueueError(f"{where}: arguments: a mapping of the function's arguments (got {arguments!r})")
    from loopscope.daq.runner import check_plan_against_station

    file, _, function = str(entry["plan"]).rpartition(":")
    target = f"{base / file}:{function}"
    try:
        plan = load_code_plan(target, arguments)
        check_plan_against_station(plan, instruments)
    except PlanError as exc:
        raise QueueError(f"{where}: {exc}", exc.problems) from None
    stem = Path(str(entry.get("out", f"{Path(file).stem}_{function}.h5")))
    return QueuedRun(name=str(entry.get("name", stem.stem)), plan=plan, plan_file=target,
                     out=output_dir / stem.name)


# ------------------------------------------------------------------------------ writing
def _free_stem(folder: Path, stem: str) -> str:
    """stem, or stem_2, stem_3 ...: the first whose queue file, status, log, lock and plan
    folder are all absent (a queue written never takes over another's files)."""
    for n in range(1, 100000):
        candidate = stem if n == 1 else f"{stem}_{n}"
        taken = [folder / f"{candidate}{suffix}" for suffix in (".yaml", ".status.yaml", ".log", ".lock",
                                                                "_plans")]
        if not any(p.exists() for p in taken):
            return candidate
    raise QueueError(f"{folder}: no free queue file name near {stem}")


def write_queue_file(folder: str | Path, runs: list[tuple[Plan, str]], station: str | Path | dict, *,
                     name: str, stem: str = "queue", retries: int = 0, on_failure: str = "stop") -> Path:
    """Write a queue file `loopscope queue run` (and the window) runs: its plans as plan files in
    `<stem>_plans/` beside it, `runs` as (plan, output file name) in order, the station as a
    path or (a dict: the simulated lab's) a station file beside it. Overwrites nothing: the
    stem and the output names are moved on (_2, _1 ...) past any file already there."""
    from loopscope.daq.storage import unique_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _free_stem(folder, stem)
    plans_dir = folder / f"{stem}_plans"
    plans_dir.mkdir()
    if isinstance(station, dict):
        station_file = folder / f"{stem}_plans" / "station.yaml"
        station_file.write_text(yaml.safe_dump(station, sort_keys=False))
        station_ref = str(station_file.relative_to(folder))
    else:
        station_ref = str(Path(station).resolve())
    entries, outs = [], set()
    for i, (plan, out_name) in enumerate(runs, start=1):
        out = unique_path(folder / out_name)
        while out.name in outs:  # two runs of one name in this queue
            out = unique_path(out.with_name(f"{out.stem}_{i}{out.suffix}"))
        outs.add(out.name)
        entry = {"name": f"{i:02d} {plan.title}", "out": out.name}
        if plan.kind == "code":
            target = str(plan.model.function)
            if not target.partition(":")[0].endswith(".py"):
                raise QueueError(f"run {i}: a plan in Python goes into a queue file as FILE.py:FUNCTION "
                                 f"(got {target})")
            entry.update(plan=str(Path(target.rpartition(":")[0]).resolve()) + ":" + target.rpartition(":")[2],
                         arguments=dict(plan.model.arguments))
        else:
            plan_file = plans_dir / out.with_suffix(".yaml").name
            data = plan.model.model_dump(mode="json", exclude_defaults=True)
            plan_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
            entry["plan"] = str(plan_file.relative_to(folder))
        entries.append(entry)
    path = folder / f"{stem}.yaml"
    path.write_text(yaml.safe_dump({"queue": name, "station": station_ref, "output_dir": ".",
                                    "on_failure": on_failure, "retries": int(retries), "runs": entries},
                                   sort_keys=False, allow_unicode=True))
    return path


# ------------------------------------------------------------------------------ status file
def read_queue_status(queue: Queue) -> dict | None:
    if not queue.status_path.exists():
        return None
    try:
        status, _ = load_yaml_file(queue.status_path, label="queue status file", max_bytes=50_000_000)
    except SafeYAMLError as exc:
        raise QueueError(f"{exc}; move it away to start the queue over") from None
    if not isinstance(status, dict) or not isinstance(status.get("runs"), list):
        raise QueueError(f"{queue.status_path}: not a queue status file; move it away to start the queue over")
    return status


def _write_status(queue: Queue, status: dict) -> None:
    status["updated"] = now_iso()
    tmp = queue.status_path.with_name(queue.status_path.name + ".tmp")
    with open(tmp, "w") as fh:
        yaml.safe_dump(status, fh, sort_keys=False)
        fh.flush()
        os.fsync(fh.fileno())
    # atomic: a crash leaves the old or the new status, never half (on Windows tried again while
    # a reader has the old one open for an instant)
    from loopscope.daq.output_files import replace_file

    replace_file(tmp, queue.status_path)


def _fresh_status(queue: Queue) -> dict:
    return {"queue": queue.name, "queue_file": queue.path.name, "state": "pending", "started": None,
            "updated": None, "runs": [{"name": r.name, "plan": Path(r.plan_file).name, "out": str(r.out),
                                       "state": "pending", "attempts": 0, "points": 0, "reason": ""}
                                      for r in queue.runs]}


def format_status(status: dict, queue: Queue | None = None) -> str:
    lines = [f"queue {status['queue']}: {status['state']} (updated {status.get('updated') or '-'})"]
    counts: dict[str, int] = {}
    for r in status["runs"]:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    lines.append("  " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for r in status["runs"]:
        extra = f" - {r['reason']}" if r.get("reason") else ""
        tries = f", {r['attempts']} attempts" if r.get("attempts", 0) > 1 else ""
        if r.get("interruptions"):
            tries += f", resumed after {r['interruptions']} interruption(s)"
        lines.append(f"  {r['state']:<12} {r['name']:<34} {r.get('points', 0):>7} points  {r['out']}{tries}{extra}")
    if status.get("reason"):
        lines.append(f"  why: {status['reason']}")
    return "\n".join(lines)


def queue_status(path: str | Path) -> str:
    queue = load_queue(path)
    status = read_queue_status(queue)
    if status is None:
        return f"queue {queue.name}: not started ({len(queue.runs)} runs planned)"
    # a status saying "running" from a process that is gone is an interrupted queue
    if status["state"] == "running" and not _queue_locked(queue):
        status["state"] = "interrupted"
        status["reason"] = "the queue process stopped; `loopscope queue resume` goes on"
    return format_status(status, queue)


def _queue_locked(queue: Queue) -> bool:
    return queue.lock_path.exists() and lock_held(queue.lock_path)


# ------------------------------------------------------------------------------ notifications
def notify(queue: Queue, subject: str, status: dict) -> None:
    """Tell someone: the configured command (summary on stdin) and/or webhook (JSON). Never raises."""
    summary = f"{subject}\n\n{format_status(status, queue)}\n"
    if "command" in queue.notify:
        env = dict(os.environ, LOOPSCOPE_QUEUE=str(queue.path), LOOPSCOPE_STATUS_FILE=str(queue.status_path),
                   LOOPSCOPE_SUBJECT=subject)
        try:
            subprocess.run(queue.notify["command"], input=summary, text=True, timeout=60, env=env,
                           check=False, capture_output=True)
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("notify command %s failed: %s", queue.notify["command"], exc)
    if "webhook" in queue.notify:
        body = json.dumps({"subject": subject, "text": summary, "status": status}, default=str).encode()
        request = urllib.request.Request(queue.notify["webhook"], data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError as exc:
            log.error("notify webhook %s failed: %s", queue.notify["webhook"], exc)


# ------------------------------------------------------------------------------ running
@dataclass
class QueueResult:
    state: str
    status: dict
    results: list = field(default_factory=list)


def _setup_log(queue: Queue) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(queue.log_path, maxBytes=queue.log_max_bytes,
                                                   backupCount=queue.log_backups)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def run_queue(path: str | Path, *, resume: bool = False, station: str | Path | None = None,
              resources: dict | None = None, progress=None, software_version: str = "",
              connected_station=None, stop_requested=None) -> QueueResult:
    """Run (or resume) a queue. `progress(runner)` is called for each run to attach a display.

    connected_station: use this already connected Station (the window's) instead of
    connecting the queue's own; stop_requested(): checked between runs ("stop after the
    current run"), the rest stay pending for a later resume."""
    from loopscope.instruments.station import load_station

    queue = load_queue(path, station)
    lock = FileLock(queue.lock_path, remove=False)  # held while the queue runs (daq/locks.py)
    try:
        lock.acquire()
    except LockBusy:
        raise QueueError(f"{queue.path}: another loopscope process is running this queue") from None
    handler = _setup_log(queue)
    try:
        status = read_queue_status(queue)
        if status is not None and not resume:
            raise QueueError(f"{queue.path}: it was started before (see {queue.status_path.name}); "
                             "use `loopscope queue resume` to go on, or delete the status file to start over")
        if status is None:
            if resume:
                log.info("nothing to resume: starting the queue")
            status = _fresh_status(queue)
            for run in queue.runs:
                if run.out.exists():
                    raise QueueError(f"{queue.path}: output {run.out} already exists; move it away or choose "
                                     "another output_dir")
        elif [r["out"] for r in status["runs"]] != [str(r.out) for r in queue.runs]:
            raise QueueError(f"{queue.path}: the queue's runs changed since it was started; "
                             f"finish it as it was or delete {queue.status_path.name} to start over")
        queue.output_dir.mkdir(parents=True, exist_ok=True)
        status["state"] = "running"
        status["reason"] = ""
        status["started"] = status.get("started") or now_iso()
        _write_status(queue, status)
        log.info("queue %s: %s (%d runs)", queue.name, "resumed" if resume else "started", len(queue.runs))
        # Ctrl-C/SIGTERM: the run under way goes to the safe state and closes its file (its
        # own guard), the queue stops after it with the state "interrupted", and then (when
        # no front end above handles it) the interrupt is raised again (daq.interrupts)
        with InterruptGuard(on_stop=lambda reason: log.warning("queue: %s", reason), echo=None,
                            reraise=True) as guard:
            asked_to_stop = (lambda: bool(guard.signal)
                             or (stop_requested is not None and bool(stop_requested())))
            if connected_station is not None:
                return _run_all(queue, connected_station, status, progress, software_version, asked_to_stop, guard)
            with load_station(queue.station, resources=resources) as st:
                return _run_all(queue, st, status, progress, software_version, asked_to_stop, guard)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
        lock.release()


def _interrupted(queue: Queue, status: dict, results: list, guard) -> QueueResult:
    status["state"] = "interrupted"
    status["reason"] = f"interrupted by {guard.signal}; `loopscope queue resume` goes on"
    _write_status(queue, status)
    log.warning("queue %s: %s", queue.name, status["reason"])
    return QueueResult("interrupted", status, results)


def _run_all(queue: Queue, station, status: dict, progress, software_version: str,
             stop_requested=None, guard=None) -> QueueResult:
    from loopscope.daq.runner import Runner

    results = []
    stop_reason = ""
    for run, entry in zip(queue.runs, status["runs"]):
        if entry["state"] in DONE or entry["state"] == "skipped":
            continue
        if guard is not None and guard.signal:
            return _interrupted(queue, status, results, guard)
        if stop_requested is not None and stop_requested():
            status["state"], status["reason"] = "paused", "stopped by the operator; `resume` goes on"
            _write_status(queue, status)
            return QueueResult("paused", status, results)
        if stop_reason:
            entry["state"], entry["reason"] = "skipped", stop_reason
            continue
        while True:
            resume_file = run.out.exists()
            if entry["state"] in ("running", "interrupted"):
                # the queue process died (or was interrupted) during this run: it goes on where its file ends; an
                # interruption is not a failed attempt and does not use up a retry
                entry["interruptions"] = entry.get("interruptions", 0) + 1
                if resume_file:
                    try:
                        file_status, _ = read_status(run.out)
                    except (OSError, KeyError) as exc:  # the resume itself says what is wrong, or repairs it
                        file_status = f"status unreadable: {exc}"
                    log.warning("%s: interrupted run (%s) goes on in %s", run.name, file_status, run.out)
            else:
                entry["attempts"] = entry.get("attempts", 0) + 1
            entry["state"] = "running"
            entry["started"] = now_iso()
            _write_status(queue, status)
            runner = Runner(station, run.plan, run.out, software_version=software_version, resume=resume_file,
                            extra_metadata={"queue": f"{queue.name} ({queue.path.name}), run {run.name}"})
            runner.subscribe(_log_events(run.name))
            if progress is not None:
                progress(runner)
            result = runner.run()
            results.append(result)
            entry["state"], entry["reason"], entry["points"] = result.status, result.reason, result.points
            entry["ended"] = now_iso()
            if guard is not None and guard.signal and result.status != "completed":
                # stopped by the operator's signal: not a failed attempt; resume goes on in its file
                entry["state"] = "interrupted"
                return _interrupted(queue, status, results, guard)
            _write_status(queue, status)
            if result.status == "completed":
                break
            log.error("%s: %s: %s", run.name, result.status, result.reason)
            if result.ended_by == "aborted":
                # stopped on purpose (the window's Abort): not a failure to try again; the
                # abort also asks the queue to stop, which it does before the next run
                break
            quench = result.ended_by == "quench"
            if quench:
                # never re-energise on our own: the rest of the night waits for a person
                stop_reason = f"stopped after a quench in {run.name}; the magnet needs a person"
                notify(queue, f"loopscope queue {queue.name}: QUENCH in {run.name}", status)
                break
            if entry["attempts"] <= queue.retries:
                log.warning("%s: trying again (attempt %d of %d), going on in its file",
                            run.name, entry["attempts"] + 1, queue.retries + 1)
                continue
            notify(queue, f"loopscope queue {queue.name}: {run.name} {result.status}", status)
            if queue.on_failure == "stop":
                stop_reason = f"stopped after {run.name} {result.status} (on_failure: stop)"
            break
    failed = [r for r in status["runs"] if r["state"] not in DONE]
    status["state"] = "stopped" if stop_reason else ("completed" if not failed else "completed with failures")
    status["reason"] = stop_reason
    _write_status(queue, status)
    log.info("queue %s: %s", queue.name, status["state"])
    notify(queue, f"loopscope queue {queue.name}: {status['state']}", status)
    return QueueResult(status["state"], status, results)


def _log_events(run_name: str):
    def on_event(event) -> None:
        if event.kind in ("warning", "error"):
            log.log(logging.WARNING if event.kind == "warning" else logging.ERROR, "%s: %s", run_name,
                    event.data.get("message", ""))
        elif event.kind == "state":
            log.info("%s: %s", run_name, event.data["state"])
        elif event.kind == "finished":
            log.info("%s: finished %s, %d points, %s", run_name, event.data["status"], event.data["points"],
                     event.data.get("reason", ""))
    return on_event
