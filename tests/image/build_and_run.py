"""Build the real Dockerfile with podman and run the image against the demo target: `make image-test`.

Not part of `make test`: it needs root, podman and a Debian mirror, and takes about a minute. Where
no registry is reachable, `python:3.11-slim` is stood in for by a local image made the way the
official one is made: a minimal Debian bookworm (debootstrap) with CPython 3.11 in /usr/local (this
interpreter's own installation, without its site-packages) and pip from ensurepip. The host's CA
bundle goes into that stand-in, so that pip in the build trusts what the host trusts (a TLS-inspecting
proxy). An image already called `python:3.11-slim` in podman's storage is used as it is.

What it checks, exiting 1 on the first failure:
- the image builds (the build itself imports every module the wheel ships: tests/image/importcheck.py);
- it runs as uid 10001 with no compiler and no source tree;
- `/healthz` answers 200 (time from `podman run` to that answer is printed);
- a dry-run `/probe` of examples/demo.yaml against the demo target on loopback passes every check,
  the WebSocket golden path with its five agent events included;
- SIGTERM stops it within Cloud Run's 10 s with exit code 0.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import demo_target as demo  # noqa: E402

BASE, IMAGE, NAME = "localhost/python:3.11-slim", "localhost/synthmon:image-test", "synthmon-image-test"
# runc, and limits no higher than the caller's: a sandbox may refuse to raise RLIMIT_NPROC/NOFILE.
RUN_FLAGS = ["--runtime", "runc", "--network", "host", "--ulimit", "nofile=4096:4096",
             "--ulimit", "nproc=4096:4096"]
BASE_PACKAGES = ("ca-certificates,libssl3,libffi8,zlib1g,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,"
                 "libncursesw6,libuuid1,libgdbm6,libexpat1")


def sh(*cmd: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def need_tools() -> None:
    if os.geteuid() != 0:
        sys.exit("image-test: run as root (rootful podman and debootstrap)")
    missing = [t for t in ("podman", "runc", "debootstrap") if shutil.which(t) is None]
    if missing:
        print(f"image-test: installing {' '.join(missing)} from Debian", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "podman", "runc", "debootstrap", "uidmap"],
                       check=True, env=env, stdout=subprocess.DEVNULL)


def stand_in_base(work: Path) -> None:
    """`python:3.11-slim` from debootstrap and this interpreter's CPython, imported into podman."""
    if sh("podman", "image", "exists", BASE, check=False).returncode == 0:
        print(f"image-test: using {BASE} from podman's storage", flush=True)
        return
    if sys.version_info[:2] != (3, 11):
        sys.exit("image-test: the stand-in base copies this interpreter, which must be CPython 3.11")
    rootfs = work / "rootfs"
    print("image-test: debootstrap bookworm (minbase) for the stand-in base", flush=True)
    sh("debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs),
       "http://deb.debian.org/debian")
    prefix, local = Path(sys.base_prefix), rootfs / "usr/local"
    (local / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(prefix / "bin/python3.11", local / "bin/python3.11")
    for link in ("python3", "python"):
        (local / "bin" / link).symlink_to("python3.11")
    for lib in (prefix / "lib").glob("libpython3.11.so*"):
        shutil.copy2(lib, local / "lib" / lib.name, follow_symlinks=False)
    shutil.copytree(prefix / "lib/python3.11", local / "lib/python3.11", symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "__pycache__", "test", "idlelib", "tkinter"))
    (local / "lib/python3.11/site-packages").mkdir()
    host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_ca.is_file():
        shutil.copy2(host_ca, rootfs / "etc/ssl/certs/ca-certificates.crt")
    sh("chroot", str(rootfs), "/sbin/ldconfig")
    sh("chroot", str(rootfs), "/usr/local/bin/python3.11", "-m", "ensurepip", "--default-pip")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    sh("podman", "import", "--change", "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
       "--change", "ENV LANG=C.UTF-8", "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
       "--change", 'CMD ["python3"]', "-", BASE, stdin=tar.stdout)
    tar.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def expect(ok: bool, what: str) -> None:
    print(f"image-test: {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        subprocess.run(["podman", "logs", "--tail", "20", NAME], check=False)
        sys.exit(1)


def run_image(target: demo.DemoTarget) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    sh("podman", "run", "-d", "--name", NAME, *RUN_FLAGS, "-e", f"PORT={port}",
       "-e", f"SYNTHMON_DEMO_URL={target.http_url}", "-e", f"SYNTHMON_DEMO_WS_URL={target.ws_url}",
       "-v", f"{ROOT / 'examples/demo.yaml'}:/etc/synthmon/synthmon.yaml:ro", IMAGE)
    status = 0
    while time.monotonic() - started < 30 and status != 200:
        try:
            status = http("GET", base + "/healthz", timeout=1)[0]
        except OSError:
            time.sleep(0.01)
    expect(status == 200, f"/healthz 200 {time.monotonic() - started:.2f} s after `podman run`")
    uid = sh("podman", "exec", NAME, "id", "-u").stdout.strip()
    expect(uid == "10001", f"runs as uid {uid}")
    found = sh("podman", "exec", NAME, "sh", "-c", "command -v gcc cc make; ls -d /src /tmp/dist 2>/dev/null",
               check=False).stdout.split()
    expect(found == [], f"no compiler, no source tree, no wheel left ({found or 'none found'})")
    code, body = http("POST", base + "/probe?publish=0")
    report = json.loads(body)
    results = {r["name"]: r for r in report["results"]}
    summary = ", ".join(f"{n} ok={r['ok']}" for n, r in results.items())
    expect(code == 200 and report["ok"], f"dry-run /probe: {summary}")
    events = [e["event"] for e in results["golden-path"]["details"]["events"]]
    expect(events == list(demo.FIVE_EVENTS), f"golden path from inside the image: {', '.join(events)}")
    stopping = time.monotonic()
    sh("podman", "stop", "-t", "10", NAME)
    exit_code = sh("podman", "inspect", "--format", "{{.State.ExitCode}}", NAME).stdout.strip()
    expect(exit_code == "0", f"SIGTERM: exit code {exit_code} after {time.monotonic() - stopping:.2f} s")


def main() -> int:
    need_tools()
    with tempfile.TemporaryDirectory(prefix="synthmon-image-") as work:
        stand_in_base(Path(work))
    print("image-test: podman build", flush=True)
    build = sh("podman", "build", *RUN_FLAGS[:2], *RUN_FLAGS[4:], "--network", "host", "--pull=never", "--no-cache",
               "-t", IMAGE, str(ROOT), check=False)
    imported = [line for line in (build.stdout + build.stderr).splitlines() if line.startswith("importcheck:")]
    expect(build.returncode == 0 and bool(imported), f"image built ({imported[0] if imported else build.stderr[-400:]})")
    size, base = (int(sh("podman", "image", "inspect", "--format", "{{.Size}}", i).stdout) for i in (IMAGE, BASE))
    print(f"image-test: image {size / 2**20:.0f} MiB, of which synthmon and its dependencies "
          f"{(size - base) / 2**20:.0f} MiB over the base", flush=True)
    sh("podman", "rm", "-f", NAME, check=False)
    target = demo.start(spacing_s=0.01)
    try:
        run_image(target)
    finally:
        target.stop()
        sh("podman", "rm", "-f", NAME, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
