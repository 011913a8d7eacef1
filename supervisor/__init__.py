"""Supervision: ChildSpec, Supervisor (OTP strategies, restart intensity, backoff, escalation,
ordered shutdown) and ``run(root)``, which starts a tree in the caller's loop.

The process entry point, control endpoint and CLI live in sibling modules and are not
imported here.
"""

from supervisor.running import Tree, run
from supervisor.spec import Backoff, ChildInfo, ChildSpec, exponential_backoff
from supervisor.tree import Supervisor

__all__ = ["Backoff", "ChildInfo", "ChildSpec", "Supervisor", "Tree", "exponential_backoff", "run"]
