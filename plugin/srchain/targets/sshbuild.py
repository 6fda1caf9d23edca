"""Build a P4 program on an SDE host over SSH and fetch the artifact bundle.

The host key must already be in the given known_hosts file (paramiko RejectPolicy: never added
automatically). The source folder is sent as a tar stream, the configured compiler command runs in a
fresh remote directory, and the output folder comes back as a tar stream, unpacked with tarfile's
`data` filter (no absolute paths, no links out of the folder). The command is a template:
`{program}` (path of the program inside the uploaded folder) and `{out}` (the output folder).
"""

from __future__ import annotations

import io
import shlex
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from srchain.errors import SrchainError
from srchain.sshexec import ExecTimeout, exec_command

DEFAULT_COMMAND = "bf-p4c --target tofino --arch tna --bf-rt-schema {out}/bf-rt.json -o {out} {program}"


class BuildError(SrchainError):
    pass


@dataclass(frozen=True)
class SshBuild:
    host: str
    user: str
    known_hosts: Path
    key_file: Path | None = None
    port: int = 22
    command: str = DEFAULT_COMMAND
    remote_root: str = "/tmp/srchain-build"
    timeout: float = 900.0

    def _connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        try:
            client.load_host_keys(str(self.known_hosts))
        except OSError as exc:
            raise BuildError(f"known_hosts {self.known_hosts}: {exc.strerror}") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self.host, self.port, self.user, key_filename=str(self.key_file) if self.key_file else None,
                           look_for_keys=False, allow_agent=False, timeout=30)
        except paramiko.SSHException as exc:
            client.close()
            raise BuildError(f"ssh {self.user}@{self.host}:{self.port}: {exc} (host key checked against "
                             f"{self.known_hosts}; add it there after verifying it)") from None
        except OSError as exc:
            client.close()
            raise BuildError(f"ssh {self.user}@{self.host}:{self.port}: {exc}") from None
        return client

    def _run(self, client: paramiko.SSHClient, command: str, stdin: bytes = b"") -> bytes:
        transport = client.get_transport()
        assert transport is not None
        try:
            code, out, err = exec_command(transport, command, stdin, self.timeout, poll=0.01)
        except ExecTimeout:
            raise BuildError(f"{self.host}: `{command}` did not finish within {self.timeout:.0f}s") from None
        if code != 0:
            tail = err.decode(errors="replace").strip()[-2000:] or out.decode(errors="replace").strip()[-2000:]
            raise BuildError(f"{self.host}: `{command}` exited {code}: {tail}")
        return out

    def build(self, source_dir: Path, program: str, local_out: Path) -> Path:
        """Upload `source_dir`, compile `program` (relative to it), fetch the output into `local_out`."""
        source_dir = Path(source_dir)
        if not (source_dir / program).is_file():
            raise BuildError(f"{source_dir / program}: no such program")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(source_dir, arcname=".")
        work = f"{self.remote_root.rstrip('/')}/{int(time.time() * 1000)}"
        src, out = f"{work}/src", f"{work}/out"
        cmd = self.command.format(program=shlex.quote(f"{src}/{program}"), out=shlex.quote(out))
        client = self._connect()
        try:
            self._run(client, f"mkdir -p {shlex.quote(src)} {shlex.quote(out)} && tar xf - -C {shlex.quote(src)}",
                      buf.getvalue())
            self._run(client, cmd)
            blob = self._run(client, f"tar cf - -C {shlex.quote(out)} .")
            self._run(client, f"rm -rf {shlex.quote(work)}")
        finally:
            client.close()
        local_out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
            tar.extractall(local_out, filter="data")
        if not (local_out / "bf-rt.json").is_file():
            raise BuildError(f"{self.host}: the build produced no bf-rt.json in {out}")
        return local_out
