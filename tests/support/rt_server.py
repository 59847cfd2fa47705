"""A real Request Tracker 5 on loopback for tests: install (Debian packages), initialise, serve.

`RTServer(data_dir, port).start()` installs ``request-tracker5``, ``rt5-db-sqlite`` and
``rt5-standalone`` when they are missing (root and apt needed; about a minute, answers preseeded so
nothing prompts), writes a site config into ``data_dir/RT_SiteConfig.d`` (selected with RT's own
``RT_SITE_CONFIG_DIR`` variable, so the machine's ``/etc`` config is never touched), creates a fresh
SQLite database there, a privileged user with a password and an auth token, and the
``caseloop-conversation`` ticket custom field, then runs ``rt-server`` on 127.0.0.1 and waits until
REST2 answers. `unavailable_reason()` says why RT cannot run here (no apt, not root), for a skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

PACKAGES = ("request-tracker5", "rt5-db-sqlite", "rt5-standalone")
# Debian's package layout (not this machine's): RT's Perl libraries and its PSGI launcher.
RT_LIB = Path("/usr/share/request-tracker5/lib")
RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
SETUP_DATABASE = "rt-setup-database-5"
CONVERSATION_FIELD = "caseloop-conversation"
INSTALL_LOCK = Path(tempfile.gettempdir()) / "caseloop-rt-install.lock"
PRESEED = """\
request-tracker5 request-tracker5/dbconfig-install boolean false
request-tracker5 request-tracker5/rtname string caseloop-test
request-tracker5 request-tracker5/correspondaddress string rt@caseloop.test
request-tracker5 request-tracker5/commentaddress string rt-comment@caseloop.test
request-tracker5 request-tracker5/webbaseurl string http://127.0.0.1
request-tracker5 request-tracker5/install-cronjobs boolean false
"""
# Runs inside RT's Perl: a SuperUser with a password and a token, and the custom field in
# which the adapter keeps the conversation id (applied to all queues).
BOOTSTRAP_PERL = r"""
use strict; use warnings;
use RT; RT::LoadConfig(); RT::Init();
my ($name, $password, $field) = @ARGV;
my $user = RT::User->new(RT->SystemUser);
my ($uid, $msg) = $user->Create(Name => $name, EmailAddress => "$name\@caseloop.test",
    Privileged => 1, Password => $password);
die "user: $msg\n" unless $uid;
my ($ok, $why) = $user->PrincipalObj->GrantRight(Right => 'SuperUser', Object => RT->System);
die "right: $why\n" unless $ok;
my $token = RT::AuthToken->new(RT->SystemUser);
my ($tid, $tmsg, $auth) = $token->Create(Owner => $uid, Description => 'caseloop tests');
die "token: $tmsg\n" unless $tid;
my $cf = RT::CustomField->new(RT->SystemUser);
my ($cfid, $cfmsg) = $cf->Create(Name => $field, Type => 'FreeformSingle',
    LookupType => 'RT::Queue-RT::Ticket', Description => 'caseloop conversation id');
die "custom field: $cfmsg\n" unless $cfid;
my ($applied, $amsg) = $cf->AddToObject(RT::Queue->new(RT->SystemUser));
die "apply: $amsg\n" unless $applied;
print "$auth\n";
"""

SCRIP_PERL = r"""
use strict; use warnings;
use RT; RT::LoadConfig(); RT::Init();
my ($description, $code) = @ARGV;
my $scrip = RT::Scrip->new(RT->SystemUser);
my ($id, $msg) = $scrip->Create(
    Description => $description, Queue => 0, ScripCondition => 'On Transaction',
    ScripAction => 'User Defined', Template => 'Blank', Stage => 'TransactionCreate',
    CustomIsApplicableCode => '1', CustomPrepareCode => '1', CustomCommitCode => $code);
die "scrip: $msg\n" unless $id;
print "$id\n";
"""


class RTServerError(RuntimeError):
    """RT could not be installed or started; the message carries the failing step's output."""


def is_installed() -> bool:
    """Whether the three packages are installed and RT's launcher is present."""
    if not shutil.which("dpkg-query") or not RT_SERVER.exists():
        return False
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}\n", *PACKAGES],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    lines = result.stdout.splitlines()
    return (
        result.returncode == 0
        and len(lines) == len(PACKAGES)
        and all(line.endswith(" installed") for line in lines)
    )


def unavailable_reason() -> str | None:
    """Why RT cannot run on this machine (None when it is installed or installable)."""
    if is_installed():
        return None
    if not shutil.which("apt-get"):
        return "Request Tracker is not installed and apt-get is unavailable"
    if os.geteuid() != 0:
        return "Request Tracker is not installed and installing it needs root (apt-get)"
    return None


def install() -> float:
    """Install the packages unless present; returns the seconds spent (0.0 when present)."""
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time across test processes
        if is_installed():
            return 0.0
        began = time.monotonic()
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["debconf-set-selections"], env=env, stdin_text=PRESEED)
        _run(["apt-get", "update", "-q"], env=env)
        _run(["apt-get", "install", "-y", "-q", *PACKAGES], env=env)
        return time.monotonic() - began


def _run(args: list[str], *, env: dict[str, str], stdin_text: str | None = None) -> str:
    result = subprocess.run(
        args,
        env=env,
        input=stdin_text,
        stdin=None if stdin_text is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-2000:]
        raise RTServerError(f"{' '.join(args)} failed ({result.returncode}):\n{tail}")
    return result.stdout


class RTServer:
    """One RT instance with its own database and config under ``data_dir``."""

    username = "caseloop"
    password = "caseloop-rt-password"
    queue = "General"
    conversation_field = CONVERSATION_FIELD

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        bcrypt_cost: int = 4,
        extra_config: dict[str, str | int] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.bcrypt_cost = bcrypt_cost
        self.extra_config = dict(extra_config or {})
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.url}/REST/2.0"
        self.token = ""
        self.install_seconds = 0.0
        self.start_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._env = {
            **os.environ,
            "RT_SITE_CONFIG_DIR": str(data_dir / "RT_SiteConfig.d"),
            "PERL5LIB": str(RT_LIB),
        }

    def start(self) -> RTServer:
        """Install if needed, initialise a fresh database and serve until `stop`."""
        self.install_seconds = install()
        began = time.monotonic()
        self._write_config()
        _run([SETUP_DATABASE, "--action", "init", "--skip-create"], env=self._env)
        output = self.run_perl(
            BOOTSTRAP_PERL, self.username, self.password, self.conversation_field
        )
        self.token = output.strip().splitlines()[-1]
        log = (self.data_dir / "rt-server.log").open("wb")
        self._process = subprocess.Popen(
            [str(RT_SERVER), "--host", "127.0.0.1", "--port", str(self.port)],
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() ends the workers too
        )
        log.close()
        self._wait_until_ready(deadline=time.monotonic() + 60)
        self.start_seconds = time.monotonic() - began
        return self

    def run_perl(self, script: str, *args: str) -> str:
        """Run a Perl script inside this instance's RT (config and database); its stdout."""
        path = self.data_dir / f"script-{time.monotonic_ns()}.pl"
        path.write_text(script)
        return _run(["perl", str(path), *args], env=self._env)

    def add_global_scrip(self, description: str, commit_code: str) -> None:
        """A "User Defined" scrip on every transaction of every queue, running ``commit_code``."""
        self.run_perl(SCRIP_PERL, description, commit_code)

    def _write_config(self) -> None:
        config_dir = self.data_dir / "RT_SiteConfig.d"
        config_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "rtname": "caseloop-test",
            "Organization": "caseloop.test",
            "WebDomain": "127.0.0.1",
            "WebPort": self.port,
            "WebPath": "",
            "WebBaseURL": self.url,
            "CorrespondAddress": "rt@caseloop.test",
            "CommentAddress": "rt-comment@caseloop.test",
            "DatabaseType": "SQLite",
            "DatabaseName": str(self.data_dir / "rt.db"),
            "Timezone": "UTC",
            "LogToSTDERR": "warning",
            # Outgoing mail goes to files under /tmp, so no MTA is needed or bothered.
            "MailCommand": "testfile",
            # RT checks the token's bcrypt hash on every REST2 request: at RT's default cost
            # (12) that is most of each request's time, so test instances hash cheaply.
            "BcryptCost": self.bcrypt_cost,
            **self.extra_config,
        }
        lines = [f"Set(${key}, {_perl_value(value)});" for key, value in settings.items()]
        lines += ["Set($LogToSyslog, undef);", "Set($LogToFile, undef);", "1;"]
        (config_dir / "50-caseloop.pm").write_text("\n".join(lines) + "\n")

    def _wait_until_ready(self, deadline: float) -> None:
        headers = {"Authorization": f"token {self.token}"}
        while True:
            if self._process is not None and self._process.poll() is not None:
                log = (self.data_dir / "rt-server.log").read_text(errors="replace")[-2000:]
                raise RTServerError(f"rt-server exited with {self._process.returncode}:\n{log}")
            try:
                if httpx.get(f"{self.api_url}/rt", headers=headers, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RTServerError("rt-server did not answer REST2 within 60 s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop rt-server and its workers (its own process group)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=5)
        self._process = None

    def __enter__(self) -> RTServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _perl_value(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
