# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled MEXC aggregated-depth decode: protobuf wire bytes straight to a ``BookDelta``.

``decode_depth(frame, recv_ns, symbols)`` reads one ``PushDataV3ApiWrapper`` whose body is
``publicAggreDepths`` (field 313; push.proto, mexc.md §1.4) and returns the same ``BookDelta``
as ``protocols.mexc.codec``'s protobuf path, or ``None`` for anything but that plain case: the
codec then decodes the frame with the generated protobuf class, which also reports every
error. So this reader never raises on a frame, and never has to be right about a frame it does
not recognise; it only has to say "not mine". ``None`` for: another body (limit depth,
tickers, deals), a field number or wire type push.proto does not give, a message field seen
twice (protobuf would merge them), truncation, a non-ASCII byte in any string (upb checks
UTF-8), a version or number outside the plain forms below, ``toVersion < fromVersion``, a
symbol not in ``symbols``.

Numbers: a version is 1-18 ASCII digits. A price or quantity is ASCII digits with at most one
``.`` and at least one digit (what MEXC sends: ``"93387.28"``, ``"0.00000000"``); it becomes
exactly the double ``float()`` gives (``protocols/_decimal.pxd``, shared with the JSON reader).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.stdint cimport uint64_t, int64_t

from protocols.messages import BookDelta

from protocols._decimal cimport Span, plain_decimal

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *)

cdef enum:
    WT_VARINT = 0
    WT_LEN = 2

cdef int64_t MAX_TS_MS = 10**15  # protocols.numbers.MAX_TS_MS: a later "timestamp" is garbage

_VENUE = "mexc"


cdef struct Reader:
    const unsigned char *p
    const unsigned char *end


cdef inline bint _varint(Reader *r, uint64_t *out) noexcept nogil:
    cdef uint64_t value = 0
    cdef int shift = 0
    cdef unsigned char b
    while r.p < r.end and shift < 64:
        b = r.p[0]
        r.p += 1
        value |= <uint64_t>(b & 0x7F) << shift
        if b < 0x80:
            out[0] = value
            return True
        shift += 7
    return False


cdef inline bint _span(Reader *r, Span *out) noexcept nogil:
    """A length-delimited field's bytes; the reader moves past them."""
    cdef uint64_t n
    if not _varint(r, &n) or n > <uint64_t>(r.end - r.p):
        return False
    out.p = r.p
    out.n = <Py_ssize_t>n
    r.p += n
    return True


cdef inline bint _ascii(Span s) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(s.n):
        if s.p[i] >= 0x80:
            return False
    return True


cdef inline bint _version(Span s, int64_t *out) noexcept nogil:
    cdef Py_ssize_t i
    cdef int64_t value = 0
    if s.n < 1 or s.n > 18:
        return False
    for i in range(s.n):
        if s.p[i] < 48 or s.p[i] > 57:
            return False
        value = value * 10 + (s.p[i] - 48)
    out[0] = value
    return True


cdef bint _levels(Span s, list into) except -1:
    """One ``PublicAggreDepthV3ApiItem`` appended as ``(price, quantity)``; False if unusual."""
    cdef Reader r
    cdef uint64_t tag
    cdef Span price, quantity, field
    cdef tuple level
    cdef bint has_price = False, has_quantity = False
    cdef double p, q
    r.p, r.end = s.p, s.p + s.n
    price.p = quantity.p = s.p
    price.n = quantity.n = 0
    while r.p < r.end:
        if not _varint(&r, &tag) or (tag & 7) != WT_LEN or not _span(&r, &field) or not _ascii(field):
            return False
        if tag >> 3 == 1:
            price, has_price = field, True
        elif tag >> 3 == 2:
            quantity, has_quantity = field, True
        else:
            return False
    if not (has_price and has_quantity) or not plain_decimal(price, &p) or not plain_decimal(quantity, &q):
        return False
    if p <= 0.0:  # a price must be > 0: the protobuf path reports it (protocols.numbers)
        return False
    level = (p, q)
    PyObject_GC_UnTrack(<void *>level)  # two floats: never in a cycle (the collector would untrack it too)
    into.append(level)
    return True


def decode_depth(bytes frame, recv_ns, symbols):
    """One binary push -> the ``BookDelta`` the protobuf path gives, or ``None`` (see module)."""
    cdef Reader r, body
    cdef uint64_t tag, value, number
    cdef Span field, channel, symbol, from_v, to_v
    cdef bint has_body = False, has_symbol = False, has_from = False, has_to = False
    cdef int64_t first = 0, last = 0
    cdef int64_t send_time = 0
    cdef list bids = [], asks = []
    cdef tuple bid_levels, ask_levels
    r.p = <const unsigned char *>PyBytes_AS_STRING(frame)
    channel.p, channel.n = r.p, 0
    symbol = channel
    body.p = body.end = r.p
    r.end = r.p + PyBytes_GET_SIZE(frame)
    while r.p < r.end:
        if not _varint(&r, &tag):
            return None
        number = tag >> 3
        if (tag & 7) == WT_VARINT:
            if not _varint(&r, &value):
                return None
            if number == 6:
                send_time = <int64_t>value
            elif number != 5:  # createTime: not read
                return None
            continue
        if (tag & 7) != WT_LEN or not _span(&r, &field):
            return None
        if number == 313:
            if has_body:
                return None
            has_body = True
            body.p, body.end = field.p, field.p + field.n
        elif number == 1 or number == 3 or number == 4:
            if not _ascii(field):
                return None
            if number == 1:
                channel = field
            elif number == 3:
                symbol, has_symbol = field, True
        else:
            return None
    if not has_body:
        return None
    while body.p < body.end:
        if not _varint(&body, &tag) or (tag & 7) not in (WT_VARINT, WT_LEN):
            return None
        number = tag >> 3
        if (tag & 7) == WT_VARINT:
            if number != 6 or not _varint(&body, &value):  # lastOrderCreateTime: not read
                return None
            continue
        if not _span(&body, &field):
            return None
        if number == 1:
            if not _levels(field, asks):
                return None
        elif number == 2:
            if not _levels(field, bids):
                return None
        elif number == 3:
            if not _ascii(field):
                return None
        elif number == 4:
            if not _version(field, &first):
                return None
            has_from = True
        elif number == 5:
            if not _version(field, &last):
                return None
            has_to = True
        else:
            return None
    if not (has_from and has_to) or last < first:
        return None
    if send_time < 0 or send_time > MAX_TS_MS:  # the protobuf path reports it (protocols.numbers)
        return None
    if not has_symbol:  # optional on the wire; the channel always ends with it
        symbol = channel
        while symbol.n and channel.p[symbol.n - 1] != 64:  # '@'
            symbol.n -= 1
        symbol.p, symbol.n = channel.p + symbol.n, channel.n - symbol.n
    internal = symbols.get(PyUnicode_DecodeASCII(<const char *>symbol.p, symbol.n, NULL))
    if internal is None:
        return None
    bid_levels, ask_levels = tuple(bids), tuple(asks)
    PyObject_GC_UnTrack(<void *>bid_levels)  # tuples of untracked tuples: the same
    PyObject_GC_UnTrack(<void *>ask_levels)
    return BookDelta(venue=_VENUE, symbol=internal, first_seq=first, last_seq=last, bids=bid_levels,
                     asks=ask_levels, exchange_ts_ms=send_time, recv_ns=recv_ns)
