"""Real mail servers for the email tests: a Dovecot IMAP server and an aiosmtpd SMTP server, each
on 127.0.0.1 and a free port, each started and stopped by the test that needs it.

Nothing here is a mock: Rapport's IMAP and SMTP code talks to them exactly as it would to a
provider, so login failures, folder names and SMTP error codes are the servers' own.
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from imapclient import IMAPClient

DOVECOT_BINARY = "/usr/sbin/dovecot"
START_TIMEOUT_SECONDS = 15
STOP_TIMEOUT_SECONDS = 10


class MailServerFailed(RuntimeError):
    """A test server did not start; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (also a port where a
    "server down" test finds nobody)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_is_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to stop Dovecot when the test process dies, so a
    killed test run leaves no server behind. (Linux ties this to the thread that started the
    server: start it from the test's own thread, as fixtures do.)"""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _system_user(*names: str) -> pwd.struct_passwd:
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise MailServerFailed(f"none of the users {', '.join(names)} exists on this machine")


def make_self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for `host`, valid for a day, written as PEM into `directory`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox on a test Dovecot: what a user types into Rapport's mailbox form."""

    server: "Dovecot"
    username: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def append(self, raw: bytes, folder: str = "INBOX") -> int | None:
        """Deliver `raw` into `folder` as a mail client would; the new message's UID."""
        return self.server.append(self.username, self.password, raw, folder=folder)

    def messages(self, folder: str = "INBOX") -> list[bytes]:
        """Every message in `folder`, raw, oldest first."""
        return self.server.messages(self.username, self.password, folder=folder)


class Dovecot:
    """A private Dovecot IMAP server in a temporary directory, on 127.0.0.1 and a free port.

    Each user has a passwd-file of their own that Dovecot reads on login, so `add_user` takes
    effect at once, and `set_password` and `remove_user` from the next second on (they wait for
    it). Each user has INBOX plus Sent, Drafts and Trash (with their special-use flags).
    `stop()` and `start()` again keep the port and the mail, for "server down" tests;
    `cleanup()` removes everything. Failed logins cost no delay (tests try wrong passwords).

    With `tls=True` the server offers STARTTLS (and port 993-style implicit TLS is off) with a
    self-signed certificate at `certificate_path`; by default it offers no TLS at all.
    """

    def __init__(self, *, tls: bool = False, binary: str = DOVECOT_BINARY, extra_config: str = ""):
        self.binary = binary
        self.tls = tls
        # Appended to the configuration, e.g. a capability list without IDLE.
        self.extra_config = extra_config
        self.host = "127.0.0.1"
        self.port = 0
        self.directory: Path | None = None
        self.certificate_path: Path | None = None
        self._process: subprocess.Popen | None = None
        self._users_lock = threading.Lock()
        self._users_stamp = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "Dovecot":
        """Start Dovecot in the foreground as a child process; returns once it accepts
        connections, or raises MailServerFailed with its log."""
        if self.running:
            return self
        if self.directory is None:
            self._prepare()
        stderr_path = self.directory / "stderr.log"
        with stderr_path.open("ab") as stderr:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.directory / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent,
                # Its own process group, so `stop()` can end the children the master leaves.
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                raise MailServerFailed(
                    f"dovecot exited at start: {stderr_path.read_text(errors='replace')}\n"
                    f"{self.log_text()}"
                )
            if _port_is_open(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise MailServerFailed(
            f"dovecot did not listen on {self.port} in {START_TIMEOUT_SECONDS}s\n{self.log_text()}"
        )

    def stop(self) -> None:
        """Stop the server (its mail and users stay for a later `start()`)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # A loaded machine can leave a login or imap process behind the master for a while: one
        # that still holds the port accepts a connection and never greets it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        # Dovecot's children (imap, auth, log) leave with the master; wait for the port to close
        # so a test of "server down" really finds nobody.
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _port_is_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> "Dovecot":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.cleanup()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        log = self.directory / "dovecot.log" if self.directory else None
        return log.read_text(errors="replace")[-4000:] if log and log.exists() else ""

    # -- users -------------------------------------------------------------------------------

    def add_user(self, name: str | None = None, password: str | None = None) -> tuple[str, str]:
        """A new mailbox user; a unique name and a random password unless given. The user can
        log in at once."""
        username = name or f"user-{uuid.uuid4().hex[:12]}"
        password = password or uuid.uuid4().hex
        if not re.fullmatch(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*", username):
            raise ValueError(f"username {username!r}: use letters, digits and ._@+- only")
        if ":" in password or "\n" in password:
            raise ValueError("password: a passwd-file password cannot hold ':' or a line break")
        with self._users_lock:
            existed = (self._users_directory / username).exists()
            self._write_user(username, f"{username}:{{PLAIN}}{password}::::::\n")
        if existed:
            self._outwait_dovecot_sync()
        return username, password

    def set_password(self, username: str, password: str) -> None:
        """Change a user's password on the server: the old one is refused from the next login."""
        if not (self._users_directory / username).exists():
            raise KeyError(username)
        self.add_user(username, password)

    def remove_user(self, username: str) -> None:
        """Delete the user: the next login is refused as an unknown user."""
        with self._users_lock:
            (self._users_directory / username).unlink(missing_ok=True)
        self._outwait_dovecot_sync()

    def account(self, name: str | None = None, password: str | None = None) -> ImapAccount:
        username, password = self.add_user(name, password)
        return ImapAccount(server=self, username=username, password=password)

    # -- mail --------------------------------------------------------------------------------

    def client(self, username: str, password: str) -> IMAPClient:
        """A logged-in IMAPClient (the caller logs out)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        if self.tls:
            import ssl

            context = ssl.create_default_context(cafile=str(self.certificate_path))
            client.starttls(context)
        client.login(username, password)
        return client

    def append(self, username: str, password: str, raw: bytes, folder: str = "INBOX") -> int | None:
        """Put `raw` into the user's `folder` over IMAP; the UID Dovecot gave it."""
        client = self.client(username, password)
        try:
            response = client.append(folder, raw)
        finally:
            client.logout()
        match = re.search(rb"APPENDUID \d+ (\d+)", response or b"")
        return int(match.group(1)) if match else None

    def messages(self, username: str, password: str, folder: str = "INBOX") -> list[bytes]:
        client = self.client(username, password)
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        finally:
            client.logout()
        return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]

    # -- configuration -----------------------------------------------------------------------

    def _prepare(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="rapport-dovecot-"))
        self.directory = directory
        self.port = free_port()
        for name in ("run", "state", "mail"):
            (directory / name).mkdir()
        if os.geteuid() == 0:
            # Dovecot refuses to run its login process or a user's mail process as root, so
            # when the tests run as root those run as Dovecot's own system users, and the mail
            # directory belongs to the mail user. The temp dir must be passable for it.
            mail_user = _system_user("dovecot", "nobody")
            login_user = _system_user("dovenull", "nobody").pw_name
            internal_user = internal_group = "root"
            uid, gid = mail_user.pw_uid, mail_user.pw_gid
            directory.chmod(0o711)
            os.chown(directory / "mail", uid, gid)
        else:
            # Unprivileged Dovecot runs every process as the user who started it.
            me = pwd.getpwuid(os.geteuid())
            login_user = internal_user = me.pw_name
            internal_group = _group_name(os.getegid())
            uid, gid = os.geteuid(), os.getegid()
        ssl_lines = "ssl = no"
        if self.tls:
            self.certificate_path, key_path = make_self_signed_certificate(directory, self.host)
            ssl_lines = (
                f"ssl = yes\nssl_cert = <{self.certificate_path}\nssl_key = <{key_path}\n"
                "ssl_min_protocol = TLSv1.2"
            )
        users = directory / "users"
        users.mkdir(mode=0o700)
        config = DOVECOT_CONFIG.format(
            directory=directory,
            port=self.port,
            ssl=ssl_lines,
            uid=uid,
            gid=gid,
            users=users,
            login_user=login_user,
            internal_user=internal_user,
            internal_group=internal_group,
        )
        (directory / "dovecot.conf").write_text(config + self.extra_config)

    @property
    def _users_directory(self) -> Path:
        return self.directory / "users"

    def _write_user(self, username: str, line: str) -> None:
        """Write one user's passwd-file atomically, each write with a later mtime than the last
        (Dovecot reopens a passwd-file when its mtime or size changed)."""
        path = self._users_directory / username
        partial = self._users_directory / f".{username}.new"
        partial.write_text(line)
        partial.chmod(0o600)
        os.replace(partial, path)
        self._users_stamp = max(self._users_stamp + 1, int(time.time()))
        os.utime(path, (self._users_stamp, self._users_stamp))

    @staticmethod
    def _outwait_dovecot_sync() -> None:
        """Dovecot looks at a passwd-file's mtime at most once per second of its clock, so a
        change to an existing user is only seen from the next second on: wait until then.
        (A new user has a new file, which Dovecot opens at once.)"""
        time.sleep(1.05 - (time.time() % 1))


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


DOVECOT_CONFIG = """\
# Written by rapport.mail.tests.servers for one test run; nothing outside this directory.
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
info_log_path = {directory}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password is answered at once: tests need no brute-force delay.
auth_failure_delay = 0
first_valid_uid = 0
first_valid_gid = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
mail_location = maildir:{directory}/mail/%u
# IDLE tells of new mail within a second even where inotify is unavailable.
mailbox_idle_check_interval = 1 secs
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# No auth penalty: each failed login from 127.0.0.1 would otherwise delay the next test's
# login by 2, 4, 8, 15 seconds (Dovecot's documented way to switch it off).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {users}/%u
}}
userdb {{
  driver = passwd-file
  args = {users}/%u
  default_fields = uid={uid} gid={gid} home={directory}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
"""


# -- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the SMTP server took it: the envelope and the bytes after DATA."""

    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes
    authenticated_as: str | None = None
    # time.monotonic() when DATA was accepted (the benchmark's delivery rate).
    received_at: float = 0.0

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)


@dataclass
class _PlannedFailure:
    stage: str
    code: int
    text: str


@dataclass
class _SmtpHandler:
    server: "SmtpServer"

    def _planned(self, stage: str) -> str | None:
        with self.server._lock:
            for index, failure in enumerate(self.server._failures):
                if failure.stage == stage:
                    del self.server._failures[index]
                    return f"{failure.code} {failure.text}"
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.server.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if failure := self._planned("MAIL"):
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if failure := self._planned("RCPT"):
            return failure
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if failure := self._planned("DATA"):
            return failure
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        received = ReceivedMessage(
            envelope_from=envelope.mail_from,
            recipients=tuple(envelope.rcpt_tos),
            raw=bytes(envelope.original_content or envelope.content),
            authenticated_as=login.decode() if login else None,
            received_at=time.monotonic(),
        )
        with self.server._lock:
            self.server._messages.append(received)
        return "250 Message accepted"


class SmtpServer:
    """An SMTP server on 127.0.0.1 that keeps what it receives (thread-safe) and sends nothing on.

    With `username` and `password`, AUTH PLAIN/LOGIN is offered and required, over a plain
    connection (as a local test needs). `fail_next(code, text)` makes the next DATA (or RCPT or
    MAIL, with `stage=`) answer with that reply instead, once.
    """

    def __init__(self, *, username: str | None = None, password: str | None = None):
        self.host = "127.0.0.1"
        self.port = free_port()
        self.username = username
        self.password = password
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._failures: list[_PlannedFailure] = []
        self._controller: Controller | None = None

    def start(self) -> "SmtpServer":
        if self._controller is not None:
            return self
        options = {}
        if self.username is not None:
            # AUTH over plain text, as a local test needs. The handler itself refuses MAIL
            # before AUTH, which is what aiosmtpd's auth_required does, minus its warning about
            # plain text on every connection.
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        controller = Controller(
            _SmtpHandler(self),
            hostname=self.host,
            port=self.port,
            ready_timeout=10,
            **options,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (received messages stay); `start()` again reuses the port."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of what arrived, in order."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def fail_next(self, code: int, text: str, *, stage: str = "DATA") -> None:
        """Answer the next `stage` command (DATA, RCPT or MAIL) with `code text`, once: 4xx is
        a temporary failure a sender retries, 5xx a permanent one."""
        if stage not in {"DATA", "RCPT", "MAIL"}:
            raise ValueError(f"stage {stage!r}: use DATA, RCPT or MAIL")
        if not 400 <= code <= 599:
            raise ValueError(f"code {code}: a failure reply is 400-599")
        with self._lock:
            self._failures.append(_PlannedFailure(stage=stage, code=code, text=text))

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """The received messages once there are at least `count` (or what there is at timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages
            if len(messages) >= count:
                return messages
            time.sleep(0.02)
        return self.messages

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        valid = (
            auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=valid, handled=False, auth_data=auth_data)
