"""A throwaway OpenLDAP server for the suite: Debian's slapd in a temp dir, loaded with a small prefecture.

cn=config is written with `slapadd -n0` (mdb backend; core, cosine, inetorgperson and nis schemas from
/etc/ldap/schema), the entries with `slapadd -n1`, and a self-signed CA with a server certificate
(made with `openssl`) lets clients use StartTLS and check the certificate. slapd listens only on
127.0.0.1 at a free port and, as root (CI), runs as an unprivileged user (like tests/pg_cluster.py).
If slapd is missing the tests fail: they never silently skip the directory.

The directory (suffix dc=pref,dc=example,dc=jp):

    ou=system   cn=manabi            the service account Manabi searches with
    ou=units    ou=K01 (総務部) > ou=K0101 (人事課), ou=K0102 (財政課)   organizationalUnit: ou (the
                                     code), description (the name), seeAlso (the head's DN),
                                     businessCategory (the parent's code, for LDAP_UNIT_ATTRIBUTES
                                     {"parent": "businessCategory"}; the tree says the same)
    ou=people   uid=...              inetOrgPerson: employeeNumber, cn, sn, givenName, mail,
                                     departmentNumber (the unit code), title (the grade code)
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = "dc=pref,dc=example,dc=jp"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-secret-1"
SERVICE_DN = f"cn=manabi,ou=system,{SUFFIX}"
SERVICE_PASSWORD = "service-secret-1"
PEOPLE_BASE = f"ou=people,{SUFFIX}"
UNITS_BASE = f"ou=units,{SUFFIX}"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"


@dataclass(frozen=True)
class Person:
    uid: str
    number: str
    family: str
    given: str
    email: str
    unit: str
    grade: str
    password: str

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{PEOPLE_BASE}"


@dataclass(frozen=True)
class UnitEntry:
    code: str
    name: str
    parent: str | None
    head_uid: str | None

    @property
    def dn(self) -> str:
        return dn_of(self)


# The grade codes are those of app/org/reference.py (ensure_grades).
PEOPLE = (
    Person("sato", "100001", "佐藤", "一郎", "ichiro.sato@pref.example.lg.jp", "K01", "BUCHO", "sato-pass-111"),
    Person("suzuki", "100002", "鈴木", "花子", "hanako.suzuki@pref.example.lg.jp", "K0101", "KACHO", "suzuki-pass-22"),
    Person("takahashi", "100003", "高橋", "健", "ken.takahashi@pref.example.lg.jp", "K0101", "SHUJI",
           "takahashi-pass3"),
    Person("tanaka", "100004", "田中", "美咲", "misaki.tanaka@pref.example.lg.jp", "K0102", "SHUSA", "tanaka-pass-444"),
)
UNITS = (
    UnitEntry("K01", "総務部", None, "sato"),
    UnitEntry("K0101", "人事課", "K01", "suzuki"),
    UnitEntry("K0102", "財政課", "K01", None),
)


def dn_of(unit: UnitEntry) -> str:
    chain = [unit.code]
    parent = unit.parent
    while parent is not None:
        chain.append(parent)
        parent = next(u.parent for u in UNITS if u.code == parent)
    return ",".join(f"ou={code}" for code in chain) + f",{UNITS_BASE}"


def person(uid: str) -> Person:
    return next(p for p in PEOPLE if p.uid == uid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config_ldif(directory: Path) -> str:
    schemas = "\n".join(Path(f"/etc/ldap/schema/{name}.ldif").read_text(encoding="utf-8") for name in SCHEMAS)
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {directory}/slapd.pid
olcTLSCACertificateFile: {directory}/ca.pem
olcTLSCertificateFile: {directory}/server.pem
olcTLSCertificateKeyFile: {directory}/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcDbDirectory: {directory}/data
olcDbMaxSize: 16777216
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""


def _people_ldif() -> str:
    blocks = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: pref\no: Example Prefecture\n",
        f"dn: ou=system,{SUFFIX}\nobjectClass: organizationalUnit\nou: system\n",
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: manabi\nuserPassword: {SERVICE_PASSWORD}\n",
        f"dn: {PEOPLE_BASE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {UNITS_BASE}\nobjectClass: organizationalUnit\nou: units\n",
    ]
    for unit in UNITS:  # parents first
        head = f"seeAlso: {person(unit.head_uid).dn}\n" if unit.head_uid else ""
        parent = f"businessCategory: {unit.parent}\n" if unit.parent else ""
        blocks.append(f"dn: {dn_of(unit)}\nobjectClass: organizationalUnit\nou: {unit.code}\n"
                      f"description: {unit.name}\n{head}{parent}")
    for p in PEOPLE:
        blocks.append(
            f"dn: {p.dn}\nobjectClass: inetOrgPerson\nuid: {p.uid}\ncn: {p.family} {p.given}\nsn: {p.family}\n"
            f"givenName: {p.given}\nemployeeNumber: {p.number}\nmail: {p.email}\n"
            f"departmentNumber: {p.unit}\ntitle: {p.grade}\nuserPassword: {p.password}\n")
    return "\n".join(blocks)


def _make_certificates(directory: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it (EC keys: fast to make)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, cwd=directory, capture_output=True)

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Manabi test CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="utf-8")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")


@dataclass
class LdapServer:
    directory: Path
    port: int
    user: str | None  # the unprivileged user slapd runs as (None: the current user)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    def _popen_args(self) -> dict[str, object]:
        if self.user is None:
            return {}
        entry = pwd.getpwnam(self.user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _run(self, *command: str, stdin: str | None = None) -> None:
        subprocess.run(list(command), check=True, cwd=self.directory, input=stdin.encode("utf-8") if stdin else None,
                       capture_output=True, **self._popen_args())  # type: ignore[call-overload]

    def load(self) -> None:
        (self.directory / "config").mkdir()
        (self.directory / "data").mkdir()
        _make_certificates(self.directory)
        if self.user is not None:
            for path in (self.directory, *self.directory.rglob("*")):
                shutil.chown(path, self.user, self.user)
        self._run(SLAPADD, "-n0", "-F", str(self.directory / "config"), stdin=_config_ldif(self.directory))
        self._run(SLAPADD, "-n1", "-F", str(self.directory / "config"), stdin=_people_ldif())

    def start(self) -> None:
        log = (self.directory / "slapd.log").open("ab")
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            [SLAPD, "-d", "0", "-F", str(self.directory / "config"), "-h", f"{self.url}/"],
            cwd=self.directory, stdout=log, stderr=log, **self._popen_args())
        log.close()
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        """Bounded: try to connect until slapd answers (up to ~10 s), or fail if it exited."""
        assert self.process is not None
        for _attempt in range(500):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                try:  # the pause between attempts doubles as "did slapd exit?"
                    code = self.process.wait(timeout=0.02)
                except subprocess.TimeoutExpired:
                    continue
                log = (self.directory / "slapd.log").read_text(encoding="utf-8", errors="replace")
                raise RuntimeError(f"slapd exited with {code}: {log[-2000:]}") from None
        raise RuntimeError("slapd did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def client_settings(server: LdapServer, **changes: object) -> dict[str, object]:
    """Manabi's LDAP_* settings to reach `server` as the read-only service account (StartTLS, its
    CA), the people and units under their bases; `changes` added or overriding."""
    return {"LDAP_URL": server.url, "LDAP_START_TLS": True, "LDAP_CA_FILE": server.ca_file,
            "LDAP_BIND_DN": SERVICE_DN, "LDAP_BIND_PASSWORD": SERVICE_PASSWORD, "LDAP_USER_BASE": PEOPLE_BASE,
            "LDAP_UNIT_BASE": UNITS_BASE, "LDAP_TIMEOUT_SECONDS": 3, **changes}


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("openldap", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root, but neither the openldap nor the nobody user exists")


def start_server() -> LdapServer:
    if not Path(SLAPD).exists() or not Path(SLAPADD).exists():
        raise RuntimeError("slapd / slapadd not found; install Debian's slapd and ldap-utils")
    directory = Path(tempfile.mkdtemp(prefix="manabi-ldap-"))
    os.chmod(directory, 0o700)
    server = LdapServer(directory, free_port(), _unprivileged_user())
    try:
        server.load()
        server.start()
    except BaseException:
        server.remove()
        raise
    return server
