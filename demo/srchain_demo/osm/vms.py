"""A stand-in VM: the namespace a VNF (or the SR proxy) runs in, given what OSM's VM would have for its charm.

  * a root directory whose `etc/` and `run/` the VM sees as /etc/srchain and /run/srchain (bind mounts in a private
    mount namespace), so the charms' defaults (`/etc/srchain/formatter.yaml`, `systemctl restart
    srchain-vnf@formatter.service`, `/etc/srchain/proxy.token`, `unix:/run/srchain/proxy.sock`) are the VM's files;
  * `bin/`: `sudo` (runs its command: the login user has password-less sudo on the images), `systemctl`
    (`supervise.systemctl`), `python3` (the image's);
  * a management address (mgmt.listen, port 22) and the SSH server (vmssh) with the host key its cloud-init
    installed: the private half `srchain osm ns-create` generated, read from the VNFD's cloud-init rendered with the
    member's parameters as LCM renders it; `authorized_keys` gets what LCM injects (the unit's public key).
The services themselves run under `supervise run` (the image's systemd unit), started with the testbed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from srchain_demo.osm import mgmt

MOUNTS = (("etc", "/etc/srchain"), ("run", "/run/srchain"))
SUDO = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/../sudo.log"
[ "$1" = -n ] && shift
[ "$1" = -- ] && shift
exec "$@"
"""


def cloud_init_host_key(cloud_init: str, params: dict[str, Any]) -> str:
    """The private host key the VM's cloud-init installs: the VNFD's cloud-init rendered as LCM renders it
    (`_parse_cloud_init`: jinja2, the member's additionalParams), its `ssh_keys.ed25519_private`."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(default_for_string=True, default=True))
    doc = yaml.safe_load(env.from_string(cloud_init).render(params))
    return str(doc["ssh_keys"]["ed25519_private"])


class Vm:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.etc, self.run, self.bin = root / "etc", root / "run", root / "bin"
        for d in (self.etc, self.run, self.bin):
            d.mkdir(parents=True, exist_ok=True)
        # the login user's HOME is the VM's root (vmssh): OpenSSH's default AuthorizedKeysFile, .ssh/authorized_keys,
        # which the sr-proxy charm extends over SSH with the controller's key (relation controller-login)
        self.authorized = root / ".ssh" / "authorized_keys"
        self.authorized.parent.mkdir(mode=0o700, exist_ok=True)
        self.authorized.touch(mode=0o600)
        for tool, text in (("sudo", SUDO), ("systemctl", f'#!/bin/sh\nexec {sys.executable} -m '
                                                        f'srchain_demo.osm.supervise systemctl "$@"\n')):
            (self.bin / tool).write_text(text)
            (self.bin / tool).chmod(0o755)
        if not (self.bin / "python3").exists():
            (self.bin / "python3").symlink_to(sys.executable)
        self.listener = mgmt.listen(22)
        self.address: str = self.listener.getsockname()[0]
        self.proc: subprocess.Popen[bytes] | None = None

    def authorize(self, public_line: str) -> None:
        """LCM / RO `inject_key`: the unit's public key into the VM's authorized_keys."""
        with self.authorized.open("a") as f:
            f.write(public_line.strip() + "\n")

    def boot(self, netns: str, host_key_pem: str, log: Path) -> subprocess.Popen[bytes]:
        """Start the VM's SSH server in `netns` with its own /etc/srchain and /run/srchain."""
        key = self.root / "ssh_host_ed25519_key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(host_key_pem)
        for _, target in MOUNTS:
            Path(target).mkdir(parents=True, exist_ok=True)  # mount points on the host (left empty)
        fdno = self.listener.fileno()
        mounts = " && ".join(f"mount --bind {self.root / d} {target}" for d, target in MOUNTS)
        script = (f"{mounts} && exec {sys.executable} -m srchain_demo.osm.vmssh --fd {fdno} --root {self.root} "
                  f"--host-key {key} --authorized {self.authorized}")
        out = open(log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(["ip", "netns", "exec", netns, "unshare", "--mount", "--propagation", "private",
                                      "sh", "-c", script], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                     pass_fds=(fdno,), start_new_session=True)
        out.close()
        return self.proc
