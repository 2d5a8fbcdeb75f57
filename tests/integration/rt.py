"""A private Request Tracker 5 for the ingest end-to-end test: Debian's packages (``scripts/bootstrap.sh test``
installs them), a site config of its own (``RT_SITE_CONFIG`` and ``RT_SITE_CONFIG_DIR`` on every RT command,
so nothing of /etc/request-tracker5 is read), SQLite in a temp dir, no mail ever sent
(``$MailCommand = 'testfile'``), ``rt-server`` (Starlet) on 127.0.0.1, stopped with SIGTERM whatever happens.

The instance has one queue, ``Support``, with RT's own SLA on (``%ServiceAgreements``, level ``Gold``: a
response within :data:`GOLD_RESPONSE_MINUTES` business minutes, business hours :data:`HOURS` in
:data:`ZONE`, the holidays :data:`HOLIDAYS`); a customer (unprivileged, a requestor of the tickets it makes)
and two staff users, each with a password for REST 2's basic auth; and the rights RT's mail gateway
needs (CreateTicket and ReplyToTicket for Everyone; SeeQueue and ShowTicket too: a throw-away instance).
RT 5.0.3 as Debian 12 packages it: REST 2 has no endpoints for scrips, rights or tokens, so those are loaded
with ``rt-setup-database-5 --action insert``; config changes need a restart, database objects do not.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
RT_LIB = Path("/usr/share/request-tracker5/lib")
SETUP_DATABASE = "/usr/sbin/rt-setup-database-5"
MAILGATE = "/usr/bin/rt-mailgate-5"

# RT's business hours and the pipeline calendar the test compares them with: one home for both.
ZONE = "Europe/Berlin"
HOURS = ("08:00", "17:00")  # Monday to Friday
HOLIDAYS = ("2026-12-24", "2026-12-25")
GOLD_RESPONSE_MINUTES = 60
GOLD_RESOLVE_MINUTES = 480

QUEUE = "Support"
ROOT_PASSWORD = "rt-root-password"
CUSTOMER = ("carol", "carol@customer.example", "carol-password")
STAFF = (("alice", "alice@support.example", "alice-password"), ("bob", "bob@support.example", "bob-password"))

# Initial data (RT's initialdata format, loaded with rt-setup-database-5 --action insert).
BASE_DATA = """
@Users = (
    { Name => '%(customer)s', EmailAddress => '%(customer_mail)s', Password => '%(customer_password)s',
      RealName => 'Carol Customer', Organization => 'ACME', Privileged => 0 },
%(staff)s
);
@Queues = ( { Name => '%(queue)s', Description => 'SLA test queue', CorrespondAddress => 'support@rt.test',
              CommentAddress => 'support-comment@rt.test', SLADisabled => 0 } );
@ACL = (
    ( map { { GroupDomain => 'SystemInternal', GroupType => 'Everyone', Queue => '%(queue)s', Right => $_ } }
          qw(CreateTicket ReplyToTicket SeeQueue ShowTicket) ),
    ( map { { GroupDomain => 'SystemInternal', GroupType => 'Privileged', Queue => '%(queue)s', Right => $_ } }
          qw(SeeQueue ShowTicket ShowTicketComments CreateTicket ReplyToTicket CommentOnTicket ModifyTicket
             OwnTicket TakeTicket StealTicket Watch WatchAsAdminCc) ),
);
1;
"""

STAFF_ROW = ("    { Name => '%s', EmailAddress => '%s', Password => '%s', RealName => '%s', Privileged => 1 },")


def installed() -> bool:
    return RT_SERVER.exists() and Path(SETUP_DATABASE).exists() and Path(MAILGATE).exists()


def perl_string(value: str) -> str:
    """``value`` as a single-quoted Perl string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def site_config(port: int, workdir: Path, settings: Mapping[str, str]) -> str:
    """RT_SiteConfig.pm of the private instance; ``settings`` are extra scalar keys (``Set($Name, 'value')``),
    e.g. the scrip's gateway URL and secret."""
    start, end = HOURS
    days = ", ".join(f"{d} => {{ Name => '{n}', Start => '{start}', End => '{end}' }}"
                     for d, n in enumerate(("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"), start=1))
    holidays = ", ".join(perl_string(h) for h in HOLIDAYS)
    lines = [
        "Set($rtname, 'rt.test');",
        "Set($Organization, 'rt.test');",
        "Set($WebDomain, '127.0.0.1');",
        f"Set($WebPort, {port});",
        "Set($WebPath, '');",
        f"Set($WebBaseURL, 'http://127.0.0.1:{port}');",
        "Set($CanonicalizeRedirectURLs, 0);",
        "Set($DatabaseType, 'SQLite');",
        f"Set($DatabaseName, {perl_string(str(workdir / 'rt.sqlite'))});",
        "Set($MailCommand, 'testfile');",
        "Set($CorrespondAddress, 'support@rt.test');",
        "Set($CommentAddress, 'support-comment@rt.test');",
        "Set($LogToSyslog, undef);",
        "Set($LogToSTDERR, undef);",
        "Set($LogToFile, 'info');",
        f"Set($LogDir, {perl_string(str(workdir))});",
        "Set($LogToFileNamed, 'rt.log');",
        f"Set($Timezone, {perl_string(ZONE)});",
        f"Set(%ServiceBusinessHours, Default => {{ {days}, holidays => [{holidays}] }});",
        "Set(%ServiceAgreements, (",
        "    Default => 'Gold',",
        "    Levels => {",
        f"        Gold => {{ Response => {GOLD_RESPONSE_MINUTES}, Resolve => {GOLD_RESOLVE_MINUTES},"
        f" Timezone => {perl_string(ZONE)} }},",
        "    },",
        "));",
    ]
    lines += [f"Set(${name}, {perl_string(value)});" for name, value in settings.items()]
    return "\n".join([*lines, "1;", ""])


@dataclasses.dataclass
class RT:
    """A running instance: its URL, its environment (for RT's own commands) and its REST 2 API."""

    url: str
    port: int
    workdir: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None

    # --- REST 2 -------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: Any = None, *, user: str = "root",
             password: str = ROOT_PASSWORD) -> tuple[int, Any]:
        """(HTTP status, decoded JSON or None) of a REST 2 call as ``user`` (basic auth)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/REST/2.0/{path.lstrip('/')}", data=data, method=method)
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None, **auth: str) -> Any:
        status, doc = self.rest(method, path, body, **auth)
        if status >= 300:
            raise AssertionError(f"RT {method} {path} -> {status}: {doc}")
        return doc

    def create_ticket(self, subject: str, content: str, *, as_user: tuple[str, str, str] = CUSTOMER,
                      **fields: Any) -> int:
        """A ticket in the queue, made over REST 2 by ``as_user`` (by default the customer, who becomes its
        requestor, as when a customer opens a ticket in RT's self service)."""
        name, mail, password = as_user
        body = {"Queue": QUEUE, "Subject": subject, "Requestor": mail, "Content": content,
                "ContentType": "text/plain", **fields}
        return int(self.ok("POST", "ticket", body, user=name, password=password)["id"])

    def correspond(self, ticket: int, staff: tuple[str, str, str], text: str, **fields: Any) -> list:
        """A public reply by ``staff`` (``Status=...`` in ``fields`` changes the status in the same call)."""
        name, _, password = staff
        return self.ok("POST", f"ticket/{ticket}/correspond",
                       {"Content": text, "ContentType": "text/plain", **fields}, user=name, password=password)

    def comment(self, ticket: int, staff: tuple[str, str, str], text: str) -> list:
        """An internal note (the customer does not see it)."""
        name, _, password = staff
        return self.ok("POST", f"ticket/{ticket}/comment", {"Content": text, "ContentType": "text/plain"},
                       user=name, password=password)

    def update(self, ticket: int, staff: tuple[str, str, str], **fields: Any) -> list:
        name, _, password = staff
        return self.ok("PUT", f"ticket/{ticket}", fields, user=name, password=password)

    def ticket(self, ticket: int) -> dict:
        return self.ok("GET", f"ticket/{ticket}")

    def transactions(self, ticket: int) -> list[dict]:
        """Every transaction of a ticket (each fetched whole), oldest first."""
        found, page = [], 1
        while True:
            doc = self.ok("GET", f"ticket/{ticket}/history?per_page=100&page={page}")
            found += [self.ok("GET", f"transaction/{item['id']}") for item in doc["items"]]
            if page >= int(doc.get("pages", 1)):
                return sorted(found, key=lambda t: int(t["id"]))
            page += 1

    # --- RT's own commands ----------------------------------------------------------------------------
    def mailgate(self, ticket: int, sender: str, text: str, subject: str = "more information") -> None:
        """A customer's mail reply to ``ticket``, delivered as the MTA would: through rt-mailgate-5."""
        message = (f"From: {sender}\nTo: support@rt.test\nSubject: [rt.test #{ticket}] Re: {subject}\n"
                   f"Message-ID: <{time.monotonic_ns()}@customer.example>\nContent-Type: text/plain\n\n{text}\n")
        done = subprocess.run([MAILGATE, "--url", self.url, "--queue", QUEUE, "--action", "correspond"],
                              input=message, capture_output=True, text=True, env=self.env, timeout=60, check=False)
        if done.returncode != 0:
            raise AssertionError(f"rt-mailgate-5 exited {done.returncode}: {done.stdout}{done.stderr}")

    def insert(self, datafile: Path) -> None:
        """Load objects (users, queues, rights, scrips) from an initialdata file into the running instance."""
        run([SETUP_DATABASE, "--action", "insert", "--datafile", str(datafile)], self.env)

    def perl(self, code: str) -> str:
        """Run ``code`` with RT's Perl API loaded against this instance (as RT's own tools do); its stdout."""
        prelude = "use strict; use warnings; use RT; RT::LoadConfig(); RT::Init();\n"
        return run(["perl", f"-I{RT_LIB}", "-e", prelude + code], self.env).stdout

    def log(self) -> str:
        """RT's log (level info): the scrip's failed posts are there."""
        try:
            return (self.workdir / "rt.log").read_text(errors="replace")
        except OSError:
            return "(no RT log)"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def run(cmd: list[str], env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=dict(env), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd[:3])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@contextlib.contextmanager
def running_rt(workdir: Path, port: int, settings: Mapping[str, str] | None = None, *,
               scrip: Path | None = None) -> Iterator[RT]:
    """A fresh RT on 127.0.0.1:``port`` with its database and log in ``workdir``: configured, initialised,
    the base data (queue, users, rights) and ``scrip`` (an initialdata file) loaded, serving; stopped with
    SIGTERM (its process group) when the block ends, whatever happens."""
    workdir.mkdir(parents=True, exist_ok=True)
    confdir = workdir / "RT_SiteConfig.d"
    confdir.mkdir(exist_ok=True)
    config = workdir / "RT_SiteConfig.pm"
    config.write_text(site_config(port, workdir, settings or {}))
    env = {**os.environ, "RT_SITE_CONFIG": str(config), "RT_SITE_CONFIG_DIR": str(confdir)}
    rt = RT(f"http://127.0.0.1:{port}", port, workdir, env)
    password_file = workdir / "root-password"
    password_file.write_text(ROOT_PASSWORD)
    run([SETUP_DATABASE, "--action", "init", "--root-password-file", str(password_file)], env)
    base = workdir / "base-data.pl"
    staff = "\n".join(STAFF_ROW % (n, m, p, n.title()) for n, m, p in STAFF)
    base.write_text(BASE_DATA % {"customer": CUSTOMER[0], "customer_mail": CUSTOMER[1],
                                 "customer_password": CUSTOMER[2], "staff": staff, "queue": QUEUE})
    rt.insert(base)
    if scrip is not None:
        rt.insert(scrip)
    log = open(workdir / "rt-server.out", "ab")  # noqa: SIM115 - handed to the child
    try:
        rt.proc = subprocess.Popen(
            [str(RT_SERVER), "--server", "Starlet", "--host", "127.0.0.1", "--port", str(port),
             "--max-workers", "2"],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    try:
        _wait_serving(rt)
        yield rt
    finally:
        stop(rt.proc)


def _wait_serving(rt: RT, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rt.proc is not None and rt.proc.poll() is not None:
            out = (rt.workdir / "rt-server.out").read_text(errors="replace")[-3000:]
            raise AssertionError(f"rt-server exited with {rt.proc.returncode}:\n{out}")
        with contextlib.suppress(OSError):
            if rt.rest("GET", "rt")[0] == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"RT did not answer at {rt.url} within {timeout:g} s:\n{rt.log_tail()}")


def stop(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    """SIGTERM to the server's process group (never SIGINT: as root RT's handler then chowns its var dir),
    SIGKILL if it has not exited within ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def available() -> str | None:
    """Why RT cannot run here (None when it can)."""
    if not installed():
        return "Request Tracker 5 is not installed (scripts/bootstrap.sh test installs it)"
    if shutil.which("perl") is None:
        return "perl is missing"
    return None
