"""Supervision: ChildSpec, Supervisor (OTP strategies, restart intensity, backoff, escalation,
ordered shutdown) and ``run(root)``, which starts a tree in the caller's loop.

The process entry point, control endpoint and CLI live in sibling modules and are not
imported here.
"""

from supervisor.running import Tree, run
from supervisor.spec import ChildInfo, ChildSpec
from supervisor.tree import Supervisor

__all__ = ["ChildInfo", "ChildSpec", "Supervisor", "Tree", "run"]
