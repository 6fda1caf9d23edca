"""The controller's SSH login to the SR proxy VMs, arranged over a Juju relation (interface `srchain-ssh-login`), so
no operator step and no OSM record ever carries a private key (docs/osm.md, "osm CLI only").

The NS charm (requirer, endpoint `proxy-login`) makes its own key pair in its state directory (the private half
never leaves it) and publishes the public half. Each SR proxy charm (provider, endpoint `controller-login`), which
already logs in to its VM with a verified host key, adds that key to its login user's `~/.ssh/authorized_keys` there
and answers where and as whom the key logs in, the VM's pinned host key and the fingerprint of the key it
authorized. The controller uses its key for an inventory proxy only when such an answer matches the proxy's
`ssh` block (host, port, user) and its own key. Relation data (unit databags):

  requirer: public-key      "ssh-ed25519 AAAA... srchain-controller"
  provider: host, port, user, host-key, authorized (fingerprint of the key now in authorized_keys),
            or error (why not yet: shown to the controller's operator, never a secret)
When the relation goes away the provider removes the key from the VM (revocation)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import paramiko

from srchain.charms import ActionError, sshkeys
from srchain.remote import LocalTransport, RemoteError, Transport, fingerprint, parse_host_keys

INTERFACE = "srchain-ssh-login"
REQUIRER_ENDPOINT = "proxy-login"  # the controller (NS charm)
PROVIDER_ENDPOINT = "controller-login"  # each SR proxy charm
KEY_FILE = "proxy-login.key"  # under the controller's state-dir/tokens (0600)
COMMENT = "srchain-controller"

# Run as the login user (not root): the key goes to that user's own authorized_keys, which OpenSSH's StrictModes
# wants owned by the user and not writable by others. The key line arrives on stdin, never in argv.
_AUTHORIZE = ('set -e; umask 077; key=$(cat); mkdir -p "$HOME/.ssh"; f="$HOME/.ssh/authorized_keys"; touch "$f"; '
              'grep -qxF -- "$key" "$f" || printf "%s\\n" "$key" >> "$f"')
_REVOKE = ('set -e; umask 077; key=$(cat); f="$HOME/.ssh/authorized_keys"; [ -e "$f" ] || exit 0; '
           'grep -vxF -- "$key" "$f" > "$f.tmp" || true; mv -f -- "$f.tmp" "$f"')


# --- the controller's side ------------------------------------------------------------------------------------

def login_key(state_dir: Path) -> tuple[Path, str]:
    """The controller's key pair for proxy logins: (private key file, public line); made on first use."""
    private = state_dir / "tokens" / KEY_FILE
    public = private.with_suffix(".pub")
    if not (private.is_file() and public.is_file()):
        key, line = sshkeys.generate(COMMENT)
        private.parent.mkdir(parents=True, exist_ok=True)
        LocalTransport().write_file(str(private), key, 0o600)
        LocalTransport().write_file(str(public), line + "\n", 0o644)
    return private, public.read_text().strip()


def key_fingerprint(public_line: str) -> str:
    """`ssh-ed25519 SHA256:...` of a public key line; ActionError when it is not one."""
    try:
        return fingerprint(parse_host_keys(public_line, "public-key")[0])
    except (RemoteError, paramiko.SSHException, ValueError) as exc:
        raise ActionError(f"public-key: not an SSH public key line ({exc})") from None


@dataclass(frozen=True)
class Grant:
    """A proxy charm's answer: `user@host:port` now accepts the key with fingerprint `authorized`."""

    application: str  # the proxy charm's application (for messages)
    host: str
    port: int
    user: str
    host_key: str
    authorized: str


def grant_from(application: str, data: Mapping[str, str]) -> Grant | str | None:
    """The provider unit's databag: a Grant, its `error` text, or None (nothing answered yet)."""
    if data.get("error"):
        return f"{application}: {data['error']}"
    if not data.get("authorized"):
        return None
    try:
        port = int(data.get("port") or 22)
    except ValueError:
        return f"{application}: port {data.get('port')!r} is not a number"
    missing = [k for k in ("host", "user", "host-key") if not data.get(k)]
    if missing:
        return f"{application}: answered without {', '.join(missing)}"
    return Grant(application, data["host"], port, data["user"], data["host-key"], data["authorized"])


@dataclass(frozen=True)
class Logins:
    """What the controller knows of its proxy logins: its key, the grants and the reasons some are missing."""

    key_file: Path
    public_key: str
    grants: tuple[Grant, ...] = ()
    pending: tuple[str, ...] = ()  # a related proxy charm's error, or "<app>: not answered yet"

    def for_proxy(self, host: str, port: int, user: str) -> Grant | None:
        """The grant that lets this key log in to `user@host:port`, or None."""
        mine = key_fingerprint(self.public_key)
        return next((g for g in self.grants if (g.host, g.port, g.user) == (host, port, user)
                     and g.authorized == mine), None)


# --- the proxy charm's side ------------------------------------------------------------------------------------

def _script(transport: Transport, script: str, key: str, what: str) -> None:
    if isinstance(transport, LocalTransport):
        raise ActionError("ssh-hostname not set: this charm reaches no VM to authorize the controller's key on")
    try:
        done = transport.run(shlex.join(["sh", "-c", script, what]), stdin=(key + "\n").encode(), privileged=False)
    except RemoteError as exc:
        raise ActionError(str(exc)) from None
    if done.code != 0:
        raise ActionError(f"{transport.where}: {what} the controller's key: exit {done.code}: "
                          f"{done.err.strip()[-300:]}")


def authorize(transport: Transport, public_key: str) -> str:
    """Put the controller's public key into the login user's authorized_keys on the VM (once); its fingerprint."""
    line = public_key.strip()
    if "\n" in line:
        raise ActionError("public-key: one key line expected")
    mine = key_fingerprint(line)
    _script(transport, _AUTHORIZE, line, "authorize")
    return mine


def revoke(transport: Transport, public_key: str) -> None:
    """Remove the controller's key from the VM's authorized_keys (the relation is gone)."""
    line = public_key.strip()
    key_fingerprint(line)
    _script(transport, _REVOKE, line, "revoke")
