"""The actor runtime: actors, refs, mailboxes, timers, stats (and, in sibling modules, the
engine's actor kinds). Everything a library user needs is importable from here: the message
base class ``Msg`` and the runtime's errors included.

Standalone use, inside your own asyncio program::

    ref = await spawn(MyActor, name="me", mailbox=MailboxSpec(capacity=64, policy="drop_oldest"))
    ref.tell(Ping())
    reply = await ref.ask(Ping(), timeout=1.0)
    await ref.stop()
"""

from actors.cell import ActorCell, Registry, spawn
from actors.lifecycle import Restart, State
from actors.mailbox import MailboxSpec
from actors.ref import ActorRef
from actors.runtime import Actor, Timer
from actors.stats import ActorStats, Failure
from protocols.errors import ActorStopped, AskTimeout, MailboxFull, RestartIntensityExceeded, RuntimeFault
from protocols.messages import Msg

__all__ = ["Actor", "ActorCell", "ActorRef", "ActorStats", "ActorStopped", "AskTimeout", "Failure", "MailboxFull",
           "MailboxSpec", "Msg", "Registry", "Restart", "RestartIntensityExceeded", "RuntimeFault", "State", "Timer",
           "spawn"]
