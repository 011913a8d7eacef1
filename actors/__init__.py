"""The actor runtime: actors, refs, mailboxes, timers, stats (and, in sibling modules, the
engine's actor kinds).

Standalone use, inside your own asyncio program::

    ref = await spawn(MyActor, name="me", mailbox=MailboxSpec(capacity=64, policy="drop_oldest"))
    ref.tell(Ping())
    reply = await ref.ask(Ping(), timeout=1.0)
    await ref.stop()
"""

from actors.mailbox import MailboxSpec
from actors.ref import ActorRef
from actors.runtime import Actor, ActorCell, Registry, Timer, spawn
from actors.stats import ActorStats, Failure

__all__ = ["Actor", "ActorCell", "ActorRef", "ActorStats", "Failure", "MailboxSpec", "Registry",
           "Timer", "spawn"]
