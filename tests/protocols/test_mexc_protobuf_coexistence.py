"""Arbor's MEXC protobuf classes and the official MEXC classes (shipped in ccxt as
``ccxt.protobuf.mexc``) live in one process, whichever is imported first.

Each case runs in a fresh interpreter so the import order is real: protobuf's default pool is
process-wide, and a test importing both in this process would only ever see one order.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("ccxt.protobuf.mexc.PushDataV3ApiWrapper_pb2",
                    reason="ccxt (the test extra) ships the official classes")

ROOT = Path(__file__).resolve().parents[2]

ARBOR = "from protocols.mexc import push_pb2 as arbor"
OFFICIAL = "from ccxt.protobuf.mexc import PushDataV3ApiWrapper_pb2 as official"
# The same bytes must mean the same thing to both: encode with one, decode with the other.
ROUND_TRIP = textwrap.dedent("""
    from protocols.mexc.codec import decode_frame
    push = arbor.PushDataV3ApiWrapper(channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
                                      symbol="BTCUSDT", sendTime=1754741322152)
    body = push.publicAggreDepths
    body.fromVersion, body.toVersion = "43296363236", "43296363255"
    body.bids.add(price="117580.01", quantity="0.5")
    theirs = official.PushDataV3ApiWrapper.FromString(push.SerializeToString())
    assert theirs.publicAggreDepths.toVersion == "43296363255", theirs
    assert theirs.publicAggreDepths.bids[0].price == "117580.01", theirs
    delta = decode_frame(theirs.SerializeToString(), 0, {"BTCUSDT": "BTC/USDT"}, ())
    assert (delta.first_seq, delta.last_seq, delta.bids) == (43296363236, 43296363255, ((117580.01, 0.5),)), delta
    assert arbor.PushDataV3ApiWrapper.DESCRIPTOR.full_name != official.PushDataV3ApiWrapper.DESCRIPTOR.full_name
    print("ok")
""")


def _run(*lines: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "\n".join(lines)], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=50)


@pytest.mark.parametrize("first, last", [(OFFICIAL, ARBOR), (ARBOR, OFFICIAL)], ids=["official_first", "arbor_first"])
def test_arbor_and_official_mexc_classes_coexist_in_one_process_when_imported_in_either_order(
        first: str, last: str) -> None:
    done = _run(first, last, ROUND_TRIP)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
