"""End to end: real ``whalefall`` processes on real SQLite files, driven over HTTP.

Each test starts its own processes on free ports, in its own ``tmp_path``; the
``procs`` fixture kills whatever is still running when the test ends, passed or
failed. Setting up a database (``db upgrade``, ``user create``, ``token create``)
is done once with the real commands and copied into each test's data dir.
Waits poll for what another process does; a downtime is not slept through but
given to the restarted process as a clock running ahead (``tests/clock_ahead.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.proc import Api, Proc, Processes, cli, environment, free_port, host_pid_of, pid_gone, wait_until
from tests.tcp_proxy import Blackhole, TcpProxy

pytestmark = pytest.mark.process

TZ = ZoneInfo("Asia/Shanghai")  # the default timezone; API times are shown in it
FAST_TAKEOVER = {"WHALEFALL_LEASE_SECONDS": "3", "WHALEFALL_NODE_STALE_SECONDS": "3"}
ADMIN_PASSWORD = "admin-password-1"
FAR_FUTURE = "2099-01-01T00:00:00+08:00"


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> tuple[Path, str]:
    """A migrated data dir with the admin and an API token, made by the real commands."""
    data = tmp_path_factory.mktemp("template") / "data"
    env = environment(data)
    cli(env, "db", "upgrade")
    cli(env, "user", "create", "admin", "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    out = cli(env, "token", "create", "admin").stdout
    token = out.strip().splitlines()[-1].strip()
    assert re.fullmatch(r"\S{20,}", token), f"no token on the last line of: {out!r}"
    return data, token


@pytest.fixture
def procs(tmp_path) -> Iterator[Processes]:
    registry = Processes(tmp_path / "logs")
    try:
        yield registry
    finally:
        registry.close()
        print(registry.report())  # shown with a failing test's captured output


def wait_healthy(proc: Proc, api: Api, timeout: float = 20) -> None:
    wait_until(
        lambda: not proc.alive() or api.health_status() == 200,
        timeout,
        what=f"{proc.name} to answer /scheduler/api/health with 200",
    )
    assert proc.alive(), f"{proc.name} exited during start-up\n{proc.describe()}"


class Site:
    """One installation: a data dir (copied from the template) and the processes serving it."""

    def __init__(self, data: Path, token: str, procs: Processes):
        self.data = data
        self.token = token
        self.procs = procs

    def env(self, **extra: str) -> dict[str, str]:
        return environment(self.data, **extra)

    def serve(self, port: int | None = None, *, clock_ahead: float = 0, **env: str) -> tuple[Proc, Api]:
        port = port or free_port()
        proc = self.procs.start(
            "serve", "serve", "--port", str(port), env=self.env(**env), clock_ahead=clock_ahead
        )
        api = Api(port, self.token)
        wait_healthy(proc, api)
        return proc, api

    def web(self, **env: str) -> tuple[Proc, Api]:
        port = free_port()
        proc = self.procs.start("web", "web", "--port", str(port), env=self.env(**env))
        return proc, Api(port, self.token)

    def scheduler(self, **env: str) -> Proc:
        return self.procs.start("scheduler", "scheduler", env=self.env(**env))


@pytest.fixture
def site(template, tmp_path, procs) -> Site:
    data, token = template
    shutil.copytree(data, tmp_path / "data")
    return Site(tmp_path / "data", token, procs)


def port_of(api: Api) -> int:
    return int(api.base.rsplit(":", 1)[1])


def local(text: str) -> datetime:
    """A ``YYYY-MM-DD HH:MM:SS`` time of the API (in Asia/Shanghai) as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=TZ)


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def now() -> datetime:
    return datetime.now(UTC)


def runs_of(api: Api, job_id: str) -> list[dict[str, Any]]:
    """Every run of ``job_id``, oldest first."""
    data = api.ok("GET", f"/runs?job_id={job_id}&per_page=200")
    assert data["total"] <= 200
    return list(reversed(data["runs"]))


def run_of(api: Api, run_id: int) -> dict[str, Any]:
    return api.ok("GET", f"/runs/{run_id}")


def interval_job(job_id: str, *, seconds: int | None = None, minutes: int | None = None, **extra) -> dict:
    body: dict[str, Any] = {"id": job_id, "name": job_id, "trigger_type": "interval", "function": "heartbeat"}
    if seconds:
        body["interval_seconds"] = seconds
    if minutes:
        body["interval_minutes"] = minutes
    return {**body, **extra}


def code_job(job_id: str, code: str, **extra) -> dict:
    return {
        "id": job_id,
        "name": job_id,
        "trigger_type": "date",
        "run_date": FAR_FUTURE,
        "code": code,
        **extra,
    }


def anchor_of(job: dict) -> datetime:
    """The start of an interval job's phase (the product anchors it when the job is created)."""
    return datetime.fromisoformat(job["trigger_params"]["start_date"])


def scheduled_times(runs: list[dict]) -> list[datetime]:
    return [local(r["scheduled_time"]) for r in runs if r["scheduled_time"]]


def node_pid(node: str) -> int:
    return int(node.rsplit(":", 2)[1])  # host:pid:suffix


def assert_no_duplicate_times(runs: list[dict]) -> None:
    times = scheduled_times(runs)
    dupes = sorted({t for t in times if times.count(t) > 1})
    assert not dupes, f"scheduled times run more than once: {dupes}\n{runs}"


# --- 1. first start -------------------------------------------------------------------------


def test_serve_creates_first_admin_password_file_and_answers_health(tmp_path, procs):
    data = tmp_path / "data"
    port = free_port()
    proc = procs.start("serve", "serve", "--port", str(port), env=environment(data))
    anonymous = Api(port)
    wait_healthy(proc, anonymous)

    secret = data / "initial_admin_password"
    assert secret.exists()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    password = secret.read_text().strip()
    assert len(password) >= 12

    health = anonymous.request("GET", "/scheduler/api/health")
    assert health.status == 200 and health.body["success"] is True
    assert health.data["status"] in ("healthy", "warning")
    assert health.data["scheduler"]["running"] is True

    # The password printed and written signs in, and the default jobs are there.
    browser = Api(port, cookies=True)
    form = browser.request("GET", "/auth/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, form.text[:500]
    signed_in = browser.request(
        "POST", "/auth/login", form={"username": "admin", "password": password, "csrf_token": csrf.group(1)}
    )
    assert signed_in.status == 302, signed_in.text[:500]
    jobs = {j["id"]: j for j in browser.ok("GET", "/jobs?per_page=200")["jobs"]}
    assert {"heartbeat", "cleanup_old_logs"} <= set(jobs)
    assert jobs["heartbeat"]["trigger_type"] == "interval" and jobs["heartbeat"]["state"] == "active"
    assert jobs["cleanup_old_logs"]["trigger_type"] == "cron"

    assert f"password: {password}" in proc.stdout()  # printed at start-up, not only at exit
    assert proc.terminate() == 0


def test_sigterm_in_the_middle_of_a_request_stops_serve(site):
    """A SIGTERM must stop serve whatever its main thread is doing (it once raised an exception
    inside waitress's I/O handlers, which logged it and went on serving)."""
    proc, api = site.serve()
    # A client uploading a large body keeps serve's main thread busy in waitress's read handler.
    upload = socket.create_connection(("127.0.0.1", port_of(api)))
    upload.sendall(
        b"POST /scheduler/api/cron/preview HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 536870912\r\n\r\n"
    )
    stop = threading.Event()

    def pump() -> None:
        chunk = b" " * 65536
        try:
            while not stop.is_set():
                upload.sendall(chunk)
        except OSError:
            pass

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    try:
        time.sleep(0.5)
        assert proc.terminate(timeout=5) == 0
    finally:
        stop.set()
        upload.close()
        pumping.join(5)


# --- 2. firing ---------------------------------------------------------------------------


def test_interval_job_fires_every_second(site):
    _proc, api = site.serve()
    api.ok("POST", "/jobs", interval_job("tick", seconds=1))

    def three_successes():
        runs = [
            r for r in runs_of(api, "tick") if r["trigger_source"] == "schedule" and r["status"] == "success"
        ]
        return runs if len(runs) >= 3 else None

    wait_until(three_successes, 6, what="three successful scheduled runs of a 1 s job")
    runs = runs_of(api, "tick")
    assert_no_duplicate_times(runs)
    finished = [r for r in runs if r["status"] not in ("queued", "running")]
    assert all(r["status"] == "success" and r["trigger_source"] == "schedule" for r in finished), finished
    times = sorted(scheduled_times(finished))
    assert [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)] == [1.0] * (
        len(times) - 1
    )


# --- 3./4. restarts ----------------------------------------------------------------------


def test_restart_keeps_jobs_and_their_edits(site):
    proc, api = site.serve()
    api.ok(
        "POST",
        "/jobs",
        {
            "id": "nightly",
            "name": "nightly",
            "trigger_type": "cron",
            "cron_hour": 3,
            "cron_minute": 15,
            "function": "heartbeat",
            "category": "maintenance",
        },
    )
    api.ok("PUT", "/jobs/nightly", {"name": "夜间巡检", "description": "edited"})
    api.ok("DELETE", "/jobs/cleanup_old_logs")
    before = api.ok("GET", "/jobs/nightly")

    assert proc.terminate() == 0
    _proc, api = site.serve(port_of(api))

    after = api.ok("GET", "/jobs/nightly")
    assert after["name"] == "夜间巡检" and after["description"] == "edited"
    for key in ("trigger", "trigger_params", "state", "next_run_time", "func_name"):
        assert after[key] == before[key], key
    assert after["next_run_time"] is not None
    gone = api.request("GET", "/scheduler/api/jobs/cleanup_old_logs")
    assert gone.status == 404 and gone.body["success"] is False
    ids = {j["id"] for j in api.ok("GET", "/jobs?per_page=200")["jobs"]}
    assert "cleanup_old_logs" not in ids and "heartbeat" in ids


def test_paused_job_stays_paused_across_restart(site):
    proc, api = site.serve()
    api.ok("POST", "/jobs", interval_job("sleepy", seconds=2))
    paused = api.ok("POST", "/jobs/sleepy/pause")
    assert paused["state"] == "paused" and paused["next_run_time"] is None
    api.ok("POST", "/jobs", interval_job("control", seconds=1))

    assert proc.terminate() == 0
    restarted = now()
    _proc, api = site.serve(port_of(api))

    job = api.ok("GET", "/jobs/sleepy")
    assert job["state"] == "paused" and job["next_run_time"] is None
    assert "sleepy" in {j["id"] for j in api.ok("GET", "/jobs?state=paused&per_page=200")["jobs"]}

    # The control job fires three times after the restart: long enough for a 2 s job to have been due.
    def control_ran_three_times():
        runs = [
            r
            for r in runs_of(api, "control")
            if r["trigger_source"] == "schedule"
            and r["status"] == "success"
            and local(r["scheduled_time"]) > restarted
        ]
        return len(runs) >= 3

    wait_until(control_ran_three_times, 10, what="three runs of the control job after the restart")
    assert runs_of(api, "sleepy") == []
    job = api.ok("GET", "/jobs/sleepy")
    assert job["state"] == "paused" and job["next_run_time"] is None


# --- 5. a crash in the middle of a code run ---------------------------------------------------

# The job runs in its own PID namespace, where its pids mean nothing to the host: it starts a
# child whose command line carries a marker the test finds in the host's /proc.
SLEEPER = """\
import subprocess
import time


def execute_task():
    subprocess.Popen(["sh", "-c", "sleep 60; : " + params["marker"]])
    time.sleep(60)
"""


def test_sigkill_during_code_run_marks_it_interrupted(site, tmp_path):
    proc, api = site.serve(**FAST_TAKEOVER)
    marker = f"wf-marker-{uuid.uuid4().hex}"
    api.ok("POST", "/jobs", code_job("slow", SLEEPER, params={"marker": marker}))
    run_id = api.ok("POST", "/jobs/slow/run")["run_id"]

    def running_with_child():
        pid = host_pid_of(marker)
        return pid if pid and run_of(api, run_id)["status"] == "running" else None

    child = wait_until(running_with_child, 15, what="the code run to be running")
    assert not pid_gone(child)

    proc.kill()  # SIGKILL to serve's whole process group: no chance to clean up
    _proc, api = site.serve(port_of(api), **FAST_TAKEOVER)

    def interrupted():
        run = run_of(api, run_id)
        return run if run["status"] == "interrupted" else None

    run = wait_until(interrupted, 15, what=f"run {run_id} to become interrupted")
    assert run["finished_at"] is not None
    assert "中断" in (run["error_message"] or "")  # the API speaks the default language, zh
    wait_until(lambda: pid_gone(child), 5, what=f"the job's process {child} to be gone")
    assert [r["id"] for r in runs_of(api, "slow")] == [run_id]  # max_retries 0: no retry


LONG_SLEEPER = SLEEPER.replace("time.sleep(60)", "time.sleep(300)")
SHUTDOWN_GRACE_SECONDS = 2  # WHALEFALL_SHUTDOWN_GRACE_SECONDS: how long serve lets running runs finish


def test_sigterm_during_a_long_code_run_exits_after_the_grace(site, tmp_path):
    proc, api = site.serve(**FAST_TAKEOVER, WHALEFALL_SHUTDOWN_GRACE_SECONDS=str(SHUTDOWN_GRACE_SECONDS))
    marker = f"wf-marker-{uuid.uuid4().hex}"
    api.ok("POST", "/jobs", code_job("long", LONG_SLEEPER, params={"marker": marker}))
    run_id = api.ok("POST", "/jobs/long/run")["run_id"]
    child = wait_until(lambda: host_pid_of(marker), 15, what="the code run to start")

    assert proc.terminate(timeout=SHUTDOWN_GRACE_SECONDS + 15) == 0
    wait_until(lambda: pid_gone(child), 5, what=f"the job's process {child} to be gone")
    _proc, api = site.serve(port_of(api), **FAST_TAKEOVER)
    run = wait_until(
        lambda: (r := run_of(api, run_id))["status"] not in ("queued", "running") and r,
        15,
        what=f"run {run_id} to end",
    )
    assert run["status"] == "interrupted", run


FLEET_HANG_SECONDS = (
    120  # WHALEFALL_FLEET_CONNECT_TIMEOUT_SECONDS: a driver waits this long on a silent server
)
STOP_MARGIN_SECONDS = 8  # on top of the grace: interrupting, writing the runs, letting go of the lease


def test_sigterm_stops_serve_within_the_grace_while_a_fleet_task_hangs_in_a_drivers_connect(site):
    """A fleet task's pool thread blocked in a driver's connect must not hold the process: the
    interpreter once joined it at exit, for the whole connect timeout."""
    with Blackhole() as silent:
        proc, api = site.serve(
            WHALEFALL_SHUTDOWN_GRACE_SECONDS=str(SHUTDOWN_GRACE_SECONDS),
            WHALEFALL_FLEET_CONNECT_TIMEOUT_SECONDS=str(FLEET_HANG_SECONDS),
        )
        instance = {"name": "silent", "db_type": "mysql", "host": "127.0.0.1", "port": silent.port}
        api.ok("POST", "/instances", {**instance, "username": "monitor", "password": "not-used-1"})
        run_id = api.ok("POST", "/jobs/collect_database_sizes/run")["run_id"]
        wait_until(
            lambda: silent.accepted >= 1 and run_of(api, run_id)["status"] == "running",
            15,
            what="the fleet task to be connecting to the silent server",
        )
        began = time.monotonic()
        assert proc.terminate(timeout=SHUTDOWN_GRACE_SECONDS + FLEET_HANG_SECONDS) == 0
        took = time.monotonic() - began
        assert took < SHUTDOWN_GRACE_SECONDS + STOP_MARGIN_SECONDS, f"serve took {took:.1f} s to stop"
    _proc, api = site.serve(port_of(api))
    run = run_of(api, run_id)
    assert run["status"] == "interrupted", run


STUCK_THREAD = """
import sys, threading, time
from whalefall.cli import StopDeadline
threading.Thread(target=time.sleep, args=(300,), name="stuck-in-connect").start()  # not a daemon
deadline = StopDeadline(float(sys.argv[1])).start()
if sys.argv[2] == "stop-hangs":
    time.sleep(300)  # the orderly stop itself never ends
deadline.finish()
"""


@pytest.mark.parametrize(
    ("case", "status"), [("stop-ends", 0), ("stop-hangs", 1)], ids=["after-the-stop", "at-the-deadline"]
)
def test_a_stop_ends_the_process_in_time_naming_the_threads_still_alive(case, status):
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", STUCK_THREAD, "2", case],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    took = time.monotonic() - began
    assert done.returncode == status, done.stderr
    assert "stuck-in-connect" in done.stderr and "threads still alive" in done.stderr
    assert took < 2 + 5  # not the stuck thread's 300 s


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own (its URL), dropped afterwards."""
    from tests.conftest import _create_server_database, _drop_server_database

    url, name = _create_server_database("postgresql")
    try:
        yield url
    finally:
        _drop_server_database("postgresql", name)


def test_serve_answers_503_while_its_database_is_away_and_recovers_by_itself(tmp_path, procs, pg_database):
    from sqlalchemy.engine import make_url

    target = make_url(pg_database)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        url = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        env = environment(tmp_path / "data", WHALEFALL_DATABASE_URL=url)
        cli(env, "db", "upgrade")
        cli(
            env, "user", "create", "admin", "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n"
        )
        token = cli(env, "token", "create", "admin").stdout.strip().splitlines()[-1].strip()
        port = free_port()
        proc = procs.start("serve", "serve", "--port", str(port), env=env)
        api, anonymous = Api(port, token), Api(port)
        wait_healthy(proc, api)

        proxy.stop()
        for client in (api, anonymous):
            health = client.request("GET", "/scheduler/api/health?lang=en")
            assert health.status == 503 and "database unavailable" in health.body["message"], health.text
        jobs = api.request("GET", "/scheduler/api/jobs?lang=zh")
        assert jobs.status == 503 and jobs.body["code"] == 503 and "数据库不可用" in jobs.body["message"]
        page = api.request("GET", "/auth/login?lang=en")  # a page that needs no database still answers
        assert page.status == 200

        proxy.start()
        wait_healthy(proc, api)
        assert api.request("GET", "/scheduler/api/jobs").status == 200
        assert proc.terminate(timeout=SHUTDOWN_GRACE_SECONDS + 40) == 0
    assert "unhandled error" not in proc.stderr()  # what a 500 logs


# --- 6. downtime across due times ---------------------------------------------------------


DOWNTIME_SECONDS = 8


def test_stop_across_a_due_time_gives_one_catch_up_run(site):
    proc, api = site.serve()
    job = api.ok("POST", "/jobs", interval_job("every2", seconds=2))
    anchor = anchor_of(job)
    wait_until(
        lambda: any(r["status"] == "success" for r in runs_of(api, "every2")), 6, what="a first scheduled run"
    )

    assert proc.terminate() == 0
    stopped = now()
    # The downtime: four due times pass while nothing runs. Not slept through: the restarted
    # process's clock runs DOWNTIME_SECONDS ahead, and ``restarting`` is its start on that clock.
    restarting = now() + timedelta(seconds=DOWNTIME_SECONDS)
    _proc, api = site.serve(port_of(api), clock_ahead=DOWNTIME_SECONDS)

    def caught_up_and_going():
        runs = runs_of(api, "every2")
        after = [
            r
            for r in runs
            if r["trigger_source"] == "schedule"
            and r["status"] == "success"
            and local(r["scheduled_time"]) > restarting
        ]
        return runs if after else None

    runs = wait_until(caught_up_and_going, 10, what="a scheduled run after the restart")
    assert_no_duplicate_times(runs)
    catch_ups = [r for r in runs if r["trigger_source"] == "catch_up"]
    assert len(catch_ups) == 1, catch_ups
    catch_up = catch_ups[0]
    assert catch_up["status"] == "success", catch_up
    during = [r for r in runs if r["scheduled_time"] and stopped < local(r["scheduled_time"]) <= restarting]
    assert [r["id"] for r in during] in ([], [catch_up["id"]]), during
    assert stopped < local(catch_up["scheduled_time"])
    # Every scheduled time is on the job's 2 s phase, and the schedule goes on after the catch-up.
    for t in scheduled_times(runs):
        assert (t - anchor).total_seconds() % 2 == 0, t
    later = [r for r in runs if r["id"] > catch_up["id"]]
    assert later and all(r["trigger_source"] == "schedule" for r in later), later
    assert all(local(r["scheduled_time"]) > local(catch_up["scheduled_time"]) for r in later)


# --- 7./8. run now ---------------------------------------------------------------------------


def wait_for_success(api: Api, run_id: int, timeout: float = 10) -> dict:
    def done():
        run = run_of(api, run_id)
        return run if run["status"] not in ("queued", "running") else None

    run = wait_until(done, timeout, what=f"run {run_id} to end")
    assert run["status"] == "success", run
    return run


def test_manual_run_does_not_unpause_or_shift_phase(site):
    _proc, api = site.serve()
    # The phase is anchored minutes before now, so that a phase shifted to the run's time would show.
    anchor = (now() - timedelta(minutes=5)).replace(microsecond=0)
    steady = api.ok("POST", "/jobs", interval_job("steady", minutes=10, start_date=anchor.isoformat()))
    assert anchor_of(steady) == anchor
    due = anchor + timedelta(minutes=10)
    assert local(steady["next_run_time"]) == due

    api.ok("POST", "/jobs", interval_job("quiet", seconds=10))
    api.ok("POST", "/jobs/quiet/pause")
    run = wait_for_success(api, api.ok("POST", "/jobs/quiet/run")["run_id"])
    assert run["trigger_source"] == "manual" and run["triggered_by"] == "admin"
    quiet = api.ok("GET", "/jobs/quiet")
    assert quiet["state"] == "paused" and quiet["next_run_time"] is None

    wait_for_success(api, api.ok("POST", "/jobs/steady/run")["run_id"])
    steady = api.ok("GET", "/jobs/steady")
    assert steady["state"] == "active"
    assert local(steady["next_run_time"]) == due
    assert [r["trigger_source"] for r in runs_of(api, "steady")] == ["manual"]
    assert [r["trigger_source"] for r in runs_of(api, "quiet")] == ["manual"]


BUSY = """\
import time
import uuid


def execute_task():
    time.sleep(5)
    return "done"
"""


def test_run_now_answers_409_at_max_instances(site):
    _proc, api = site.serve()
    api.ok("POST", "/jobs", code_job("busy", BUSY, max_instances=1))

    first = api.request("POST", "/scheduler/api/jobs/busy/run")
    assert first.status == 200, first.text
    run_id = first.data["run_id"]
    second = api.request("POST", "/scheduler/api/jobs/busy/run?lang=en")
    assert second.status == 409, second.text
    assert second.body["success"] is False and second.body["code"] == 409
    assert "max_instances" in second.body["message"]

    wait_until(lambda: run_of(api, run_id)["status"] == "running", 10, what="the first run to be running")
    third = api.request("POST", "/scheduler/api/jobs/busy/run")
    assert third.status == 409, third.text
    assert [r["id"] for r in runs_of(api, "busy")] == [run_id]

    api.ok("POST", f"/runs/{run_id}/cancel")
    wait_until(lambda: run_of(api, run_id)["status"] == "cancelled", 10, what="the run to be cancelled")
    fourth = api.request("POST", "/scheduler/api/jobs/busy/run")
    assert fourth.status == 200, fourth.text


# --- 9./10. several processes on one database ---------------------------------------------------


def test_web_and_scheduler_processes_share_changes_within_two_seconds(site):
    web, api = site.web()
    scheduler = site.scheduler()
    wait_healthy(web, api)
    assert scheduler.alive(), scheduler.describe()

    job = api.ok("POST", "/jobs", interval_job("shared", seconds=2))
    first_due = anchor_of(job) + timedelta(seconds=2)
    first = wait_until(
        lambda: runs_of(api, "shared"),
        (first_due - now()).total_seconds() + 3,
        what="a run of the job created through the web process",
    )[0]
    assert local(first["scheduled_time"]) <= first_due + timedelta(seconds=2), first
    assert first["node"] and node_pid(first["node"]) == scheduler.pid
    wait_for_success(api, first["id"])

    # A witness on the same 2 s period goes on firing: once it has fired twice more than 2 s after
    # the pause, two due times have passed in the scheduler, which the pause must have reached by then.
    api.ok("POST", "/jobs", interval_job("witness", seconds=2))
    api.ok("POST", "/jobs/shared/pause")
    paused_at = now()

    def witnessed_two_due_times() -> bool:
        fired = [
            r for r in runs_of(api, "witness") if iso(r["created_at"]) > paused_at + timedelta(seconds=2)
        ]
        return len(fired) >= 2

    wait_until(witnessed_two_due_times, 10, what="two runs of the witness job more than 2 s after the pause")
    late = [r for r in runs_of(api, "shared") if iso(r["created_at"]) > paused_at + timedelta(seconds=2)]
    assert late == [], late

    manual = api.ok("POST", "/jobs/shared/run")["run_id"]
    run = wait_for_success(api, manual, timeout=5)
    assert run["trigger_source"] == "manual" and node_pid(run["node"]) == scheduler.pid
    assert api.ok("GET", "/jobs/shared")["state"] == "paused"

    api.ok("POST", "/jobs/shared/resume")
    resumed_at = now()
    wait_until(
        lambda: any(
            r["trigger_source"] == "schedule" and iso(r["created_at"]) > resumed_at
            for r in runs_of(api, "shared")
        ),
        5,
        what="a scheduled run after resuming",
    )

    # The web process alone: the API answers, health says no scheduler runs.
    assert scheduler.terminate() == 0
    wait_until(lambda: api.health_status() == 503, 10, what="health to answer 503 without a scheduler")
    health = api.request("GET", "/scheduler/api/health")
    assert health.body["success"] is False and health.body["code"] == 503
    assert api.ok("GET", "/jobs/shared")["id"] == "shared"


def test_second_scheduler_takes_over_when_the_first_dies(site):
    web, api = site.web(**FAST_TAKEOVER)
    schedulers = {p.pid: p for p in (site.scheduler(**FAST_TAKEOVER), site.scheduler(**FAST_TAKEOVER))}
    wait_healthy(web, api)
    api.ok("POST", "/jobs", interval_job("beat", seconds=1))

    def three_successes():
        runs = [r for r in runs_of(api, "beat") if r["status"] == "success"]
        return runs if len(runs) >= 3 else None

    wait_until(three_successes, 8, what="three runs before the kill")
    before = runs_of(api, "beat")
    nodes = {r["node"] for r in before if r["node"]}
    assert len(nodes) == 1, f"more than one scheduler ran the job: {nodes}"
    leader = nodes.pop()
    assert api.ok("GET", "/health")["scheduler"]["leader"] == leader
    assert node_pid(leader) in schedulers, (leader, list(schedulers))
    victim = schedulers.pop(node_pid(leader))
    survivor = next(iter(schedulers.values()))

    victim.kill()
    killed = now()

    def runs_from_survivor():
        runs = [
            r
            for r in runs_of(api, "beat")
            if r["node"] and node_pid(r["node"]) == survivor.pid and r["status"] == "success"
        ]
        return runs if len(runs) >= 2 else None

    taken = wait_until(runs_from_survivor, 15, what="runs from the second scheduler")
    assert iso(taken[0]["started_at"]) - killed < timedelta(seconds=10), taken[0]
    runs = runs_of(api, "beat")
    assert_no_duplicate_times(runs)
    after = [r for r in runs if r["id"] > before[-1]["id"]]
    assert {r["node"] for r in after if r["node"]} <= {leader, taken[0]["node"]}
    assert len([r for r in after if r["trigger_source"] == "catch_up"]) <= 1
    assert node_pid(api.ok("GET", "/health")["scheduler"]["leader"]) == survivor.pid
    assert survivor.alive() and web.alive()


# --- 11. configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, name, value",
    [
        pytest.param("serve", "WHALEFALL_EXECUTOR_MAX_WORKERS", "abc", id="serve"),
        pytest.param("web", "WHALEFALL_EXECUTOR_MAX_WORKERS", "abc", id="web"),
        pytest.param("scheduler", "WHALEFALL_EXECUTOR_MAX_WORKERS", "abc", id="scheduler"),
        pytest.param("serve", "WHALEFALL_DATABASE_URL", "not a database url", id="database-url"),
        pytest.param("serve", "WHALEFALL_DATA_DIR", "{a_file}", id="data-dir-is-a-file"),
    ],
)
def test_bad_config_value_stops_start_up_naming_it(tmp_path, role, name, value):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    env = environment(tmp_path / "data", **{name: value.format(a_file=a_file)})
    args = [role, "--port", str(free_port())] if role != "scheduler" else [role]
    done = cli(env, *args, check=False, timeout=30)
    assert done.returncode != 0
    assert name in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr, done.stderr


# --- alerts through a real serve ------------------------------------------------------------


def test_a_failing_job_alerts_once_then_recovers_and_both_are_in_the_history(site, http_receiver):
    """The README's promise, by the real commands: a channel, a failing run, an alert, a recovery."""
    _, api = site.serve(WHALEFALL_BASE_URL="https://wf.example.com")
    api.ok("POST", "/alert-channels", {"name": "team", "url": f"json://127.0.0.1:{http_receiver.port}/hook"})
    body = {
        "id": "agg",
        "name": "Aggregations",
        "code": "def execute_task():\n    raise RuntimeError('the aggregation failed')\n",
        "trigger_type": "date",
        "run_date": FAR_FUTURE,
    }
    api.ok("POST", "/jobs", body)
    failed = api.ok("POST", "/jobs/agg/run")["run_id"]
    alert = http_receiver.wait_for(1, timeout=20)[0].json()
    assert alert["event"] == "failure" and alert["run_id"] == str(failed)
    assert alert["link"] == f"https://wf.example.com/scheduler/runs/{failed}"
    api.ok("PUT", "/jobs/agg", {"code": "def execute_task():\n    return 'done'\n"})
    api.ok("POST", "/jobs/agg/run")
    recovery = http_receiver.wait_for(2, timeout=20)[1].json()
    assert recovery["event"] == "recovery" and recovery["title"] == "【已恢复】Aggregations（agg）"
    # The receiver has the message before the sender records it as sent.
    history = wait_until(
        lambda: (
            (found := api.ok("GET", "/alert-deliveries?job_id=agg")["deliveries"])
            and all(d["status"] == "sent" for d in found)
            and found
        ),
        10,
        what="both deliveries recorded as sent",
    )
    assert [(d["event"], d["status"]) for d in history] == [("recovery", "sent"), ("failure", "sent")]
