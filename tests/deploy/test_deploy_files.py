"""deploy/ holds what an IT division installs: two systemd units, an environment template and an nginx
site. They are checked by the real tools (systemd-analyze, nginx -t), and the units' own command
lines are started and signed in through, so a unit that names a wrong path or flag fails here."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.demo.organisation import DEMO_PASSWORD
from tests.http_client import HttpClient
from tests.log_capture import append_output

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALL_ROOT = "/opt/manabi"  # where the units expect the release; the tests put this checkout there
UNITS = ("manabi-web.service", "manabi-scheduler.service")


def unit_text(name: str, env_file: Path) -> str:
    text = (DEPLOY / name).read_text(encoding="utf-8")
    return text.replace(INSTALL_ROOT, str(ROOT)).replace("/etc/manabi/manabi.env", str(env_file))


def unit_setting(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}=")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    env_file = tmp_path / "manabi.env"
    env_file.write_text((DEPLOY / "manabi.env.example").read_text(encoding="utf-8"), encoding="utf-8")
    for name in UNITS:
        (tmp_path / name).write_text(unit_text(name, env_file), encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / name) for name in UNITS)],
                            capture_output=True, text=True, check=False)
    # Unknown or misspelt keys are only warnings for systemd: any output at all fails the check.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", UNITS)
def test_units_are_sandboxed_with_only_the_instance_folder_writable(name: str) -> None:
    text = (DEPLOY / name).read_text(encoding="utf-8")
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                    "User=manabi", "EnvironmentFile=/etc/manabi/manabi.env"):
        assert setting in text.splitlines(), setting
    assert unit_setting(text, "ReadWritePaths") == [f"{INSTALL_ROOT}/instance"]
    assert unit_setting(text, "Restart")[0] in ("on-failure", "always")


def test_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    certificate, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=manabi.pref.example.lg.jp", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True)
    site = (DEPLOY / "nginx" / "manabi.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/ssl/manabi/fullchain.pem", str(certificate))
    site = site.replace("/etc/ssl/manabi/privkey.pem", str(key)).replace(INSTALL_ROOT, str(ROOT))
    (tmp_path / "manabi.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    include {tmp_path}/manabi.conf;\n}}\n", encoding="utf-8")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "[warn]" not in result.stderr, result.stderr
    assert "client_max_body_size 21m;" in site  # above the app's 20 MB limit, so the app answers clearly


@pytest.fixture
def production_env(make_database_url: Callable[[], str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment template with this run's database, a free port and mail dropped after composing;
    migrated and loaded with the demo exactly as the README's release step does."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MANABI_", "FLASK_"))}
    for line in (DEPLOY / "manabi.env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    env.update(DATABASE_URL=make_database_url(), BASE_URL=f"http://127.0.0.1:{port}", MAIL_TRANSPORT="discard",
               UPLOAD_DIR=str(tmp_path / "uploads"), SECRET_KEY="deploy-test-" + "x" * 40, FLASK_APP="wsgi",
               TRUSTED_PROXY_COUNT="0", MANABI_TEST_PORT=str(port), LOG_FORMAT="json")
    flask = str(ROOT / ".venv" / "bin" / "flask") if (ROOT / ".venv").exists() else "flask"
    upgraded = subprocess.run([flask, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    append_output("flask db upgrade", upgraded.stderr)
    assert upgraded.returncode == 0, upgraded.stderr
    loaded = subprocess.run([flask, "demo", "load"], cwd=ROOT, env=env, check=True, capture_output=True, text=True,
                            timeout=300)
    append_output("flask demo load", loaded.stderr)  # its log; stdout is the list of logins it prints
    logins = loaded.stdout
    hr_line = next(line for line in logins.splitlines() if line.strip().startswith("HR"))
    env["MANABI_TEST_HR_LOGIN"] = hr_line.split(")", 1)[1].split()[0]
    yield env


def start(text: str, env: dict[str, str], runtime_root: Path) -> subprocess.Popen[str]:
    """The unit's command line with its environment; its RuntimeDirectory (/run/<name>, which
    systemd creates empty) is a fresh folder under `runtime_root`."""
    (command,) = unit_setting(text, "ExecStart")
    argv = shlex.split(command)
    runtime_dirs = {f"/run/{name}": runtime_root / name for name in unit_setting(text, "RuntimeDirectory")}
    for folder in runtime_dirs.values():
        folder.mkdir(parents=True)
    for pair in unit_setting(text, "Environment"):
        key, _, value = pair.partition("=")
        env = {**env, key: str(runtime_dirs.get(value, value))}
    (workdir,) = unit_setting(text, "WorkingDirectory")
    return subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def wait_for_port(port: int, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port} after {seconds} s")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def test_the_units_command_lines_serve_the_app_and_run_the_scheduler(production_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    port = int(production_env["MANABI_TEST_PORT"])
    web_unit = unit_text("manabi-web.service", tmp_path / "manabi.env").replace("127.0.0.1:8000",
                                                                                 f"127.0.0.1:{port}")
    web = start(web_unit, {**production_env, "METRICS_TOKEN": "deploy-test-metrics-token"}, tmp_path / "run")
    scheduler = start(unit_text("manabi-scheduler.service", tmp_path / "manabi.env"), production_env,
                      tmp_path / "run")
    try:
        wait_for_port(port, web)
        client = HttpClient("127.0.0.1", port)
        for _request in range(8):  # spread over the workers, whose counts the scrape adds up
            assert client.get("/healthz").status == 200
        metrics = client.request("GET", "/metrics",
                                 extra_headers={"Authorization": "Bearer deploy-test-metrics-token"})
        assert metrics.status == 200
        assert ('manabi_http_request_duration_seconds_count{endpoint="home.healthz",status_class="2xx"} 8.0'
                in metrics.text), metrics.text
        client.sign_in(production_env["MANABI_TEST_HR_LOGIN"], DEMO_PASSWORD)
        home = client.get("/")
        assert home.status == 200 and "ログアウト" in home.text
    finally:
        web_log = stop(web)
        scheduler_log = stop(scheduler)
        append_output("manabi-web.service", web_log)
        append_output("manabi-scheduler.service", scheduler_log)
    assert web.returncode == 0, web_log
    signed_in = [json.loads(line) for line in web_log.splitlines() if '"endpoint": "auth.login"' in line]
    assert [(line["method"], line["status"]) for line in signed_in][-1] == ("POST", 302), web_log
    assert "started" in scheduler_log and "lease released" in scheduler_log, scheduler_log
    assert scheduler.returncode == 0, scheduler_log
