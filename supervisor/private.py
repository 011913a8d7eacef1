"""Files only this user may touch: the control endpoint's directory, socket, token and address
file, and the embedded simulator's admin token.

Another local user must never reach the endpoint, not even for the instant between creating a
socket and ``chmod``-ing it. So the socket lives in a directory that is ours and 0700 (created
so, or checked: not a symlink, owned by us, no group/other bits), it is bound under a 0177
umask (created 0600), and files are created with ``O_EXCL | O_NOFOLLOW`` at 0600 (a planted
file or symlink is replaced, never written through). A directory that is not private is a
``PermanentFailure``, never "fixed" by a chmod: it may be shared on purpose (``/tmp``, ``/run``,
a home directory), and tightening it could break whatever else uses it.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from protocols.errors import PermanentFailure

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def private_dir(path: Path) -> Path:
    """``path`` as a directory only this user can enter: created 0700, or an existing one
    verified (a real directory, ours, no group/other permission)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:  # ELOOP: a symlink; ENOTDIR: a file; EACCES...
        raise PermanentFailure(f"{path} is not a usable private directory: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise PermanentFailure(f"{path} belongs to uid {st.st_uid}, not to this user ({os.geteuid()}): "
                                   "the control endpoint needs a directory of its own")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise PermanentFailure(f"{path} is mode {mode:03o}: the control endpoint needs a directory only "
                                   f"this user can enter (chmod 700 it, or point control.state_dir / "
                                   f"control.unix_path at a private one)")
    finally:
        os.close(fd)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` 0600 with ``data``; an existing file or symlink there is removed first
    (the directory is private, so only we could have left it)."""
    try:
        fd = os.open(path, _CREATE, 0o600)
    except FileExistsError:
        path.unlink()
        fd = os.open(path, _CREATE, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def bind_private_socket(path: Path) -> socket.socket:
    """A unix stream socket bound at ``path``, created 0600 (umask 0177 around ``bind`` only:
    no await in between, so nothing else in this loop creates a file under it)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    return sock
