"""Run the service (or a blueprint) in a subprocess on free ports, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import storekeeper

SRC = str(Path(storekeeper.__file__).resolve().parent.parent)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("STOREKEEPER_URL", None)
    env.pop("STOREKEEPER_TOKEN", None)
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None, cwd: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``storekeeper ARGS`` (as ``python -m storekeeper``), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "storekeeper", *args], capture_output=True, text=True,
        env=env or cli_env(), cwd=cwd, timeout=timeout,
    )


class Service:
    """``storekeeper … serve …`` running in a subprocess; ``stop()`` returns its output."""

    def __init__(self, args: list[str], ports: list[int], *, env: dict[str, str] | None = None,
                 cwd: str | None = None, ready_path: str = "/health", token: str | None = None) -> None:
        self.ports = ports
        self.out_path = Path(cwd or ".") / f".service-{ports[0]}.log"
        self._log = open(self.out_path, "w+b")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "storekeeper", *args], stdout=self._log, stderr=subprocess.STDOUT,
            env=env or cli_env(), cwd=cwd,
        )
        self.base = f"http://127.0.0.1:{ports[0]}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base, timeout=30, headers=headers)
        self._wait(ready_path)

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def _wait(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}: {self.output()}")
            for port in self.ports:
                try:
                    httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
                except httpx.HTTPError:
                    break
            else:
                return
            time.sleep(0.1)
        raise RuntimeError(f"service did not answer in 60 s: {self.output()}")

    def output(self) -> str:
        self._log.flush()
        return self.out_path.read_text(errors="replace")

    def stop(self) -> str:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        text = self.output()
        self._log.close()
        self.out_path.unlink(missing_ok=True)
        return text

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
