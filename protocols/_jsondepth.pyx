# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled JSON depth reader: a Binance or Gate.io depth frame straight to a ``BookDelta``.

``decode_binance(frame, recv_ns, symbols)`` reads a ``depthUpdate`` (bare, or inside the
combined-stream wrapper ``{"stream":..,"data":{..}}``); ``decode_gateio(frame, recv_ns,
symbols)`` a ``spot.order_book_update`` or ``spot.obu`` update push. Each returns the same
``BookDelta`` as its codec's msgspec path (``protocols.binance.codec``,
``protocols.gateio.codec``), or ``None`` for anything but that plain case: the codec then
decodes the frame with msgspec, which also reports every error. So this reader never raises
on a frame, and never has to be right about a frame it does not recognise; it only has to
say "not mine" (the contract of ``protocols.mexc._depth``).

The frame is ``bytes`` or a compact-ASCII ``str`` (what the connection passes for a TEXT
frame), read in place. Keys come in any order; a key the codec does not read is skipped
(its value checked against JSON's grammar, as msgspec does). ``None`` for: any other input
type, a string with an escape, a control or a non-ASCII byte, a key seen twice (msgspec
keeps the last), nesting deeper than ``MAX_DEPTH``, a number that is not a plain
non-negative integer of at most 18 digits where the codec reads an int, a price or quantity
that is not a string ``protocols/_decimal.pxd`` reads (no sign, exponent, nan/inf, space,
empty), a price of 0, ``u < U``, a timestamp above ``protocols.numbers.MAX_TS_MS``, a
missing field, trailing bytes, a symbol not in ``symbols`` (the codec decides what to do with
it); for Binance, a wrapper with depth keys beside it, or a bare frame carrying a key the
codec's slow path reads (``result``, ``id``, ``code``, ``msg``); for Gate.io, a channel
other than the two, an ``event`` other than ``update``, an ``error`` other than ``null``.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_New
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.stdint cimport int64_t
from libc.string cimport memchr, memcmp, memcpy

from protocols._decimal cimport Span, plain_decimal

from protocols.messages import BookDelta

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *)
    bint PyBytes_CheckExact(object)
    bint PyUnicode_CheckExact(object)
    bint PyUnicode_IS_COMPACT_ASCII(object)
    void *PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    void _PyTuple_SET_ITEM_STEAL "PyTuple_SET_ITEM"(object, Py_ssize_t, PyObject *)

cdef enum:
    MAX_DEPTH = 32  # nesting the value skipper follows; deeper is left to msgspec
    STACK_LEVELS = 64  # levels of a side held on the C stack before the tuple; more go to the heap
    # the depth keys, one bit each: Binance e E s U u b a, Gate.io s t U u b a full
    K_E = 1
    K_EVENT_MS = 2
    K_S = 4
    K_FIRST = 8
    K_LAST = 16
    K_BIDS = 32
    K_ASKS = 64
    K_T = 128
    K_FULL = 256
    BINANCE_KEYS = K_E | K_EVENT_MS | K_S | K_FIRST | K_LAST | K_BIDS | K_ASKS
    CH_BOOK = 1  # spot.order_book_update
    CH_OBU = 2  # spot.obu

cdef int64_t MAX_TS_MS = 10**15  # protocols.numbers.MAX_TS_MS

_BINANCE = "binance"
_GATEIO = "gateio"


cdef struct Cur:
    const unsigned char *p
    const unsigned char *end


cdef struct Depth:
    unsigned int seen  # K_* bits
    Span event, symbol
    int64_t ts, first, last
    bint full
    PyObject *bids  # owned: the sides' tuples once read (the decode_* functions release them)
    PyObject *asks


# --- JSON tokens ------------------------------------------------------------------------------------

cdef inline void _ws(Cur *c) noexcept nogil:
    while c.p < c.end and (c.p[0] == 32 or c.p[0] == 10 or c.p[0] == 13 or c.p[0] == 9):
        c.p += 1


cdef inline bint _byte(Cur *c, unsigned char b) noexcept nogil:
    """Whitespace, then ``b``: consumed (True), or nothing more (False)."""
    _ws(c)
    if c.p < c.end and c.p[0] == b:
        c.p += 1
        return True
    return False


cdef inline bint _string(Cur *c, Span *out) noexcept nogil:
    """Whitespace, then a string of printable ASCII without escapes; ``out`` its contents."""
    cdef unsigned char b
    _ws(c)
    if c.p >= c.end or c.p[0] != 34:
        return False
    c.p += 1
    out.p = c.p
    while c.p < c.end:
        b = c.p[0]
        if b == 34:
            out.n = c.p - out.p
            c.p += 1
            return True
        if b == 92 or b < 32 or b >= 128:
            return False
        c.p += 1
    return False


cdef inline bint _quoted(Cur *c, Span *out) noexcept nogil:
    """Whitespace, then a string's raw contents up to the next quote, unchecked: for a number,
    which ``plain_decimal`` then checks byte by byte (an escape, a control or a non-ASCII byte
    is not a digit), so the bytes are read once."""
    cdef const unsigned char *quote
    _ws(c)
    if c.p >= c.end or c.p[0] != 34:
        return False
    quote = <const unsigned char *>memchr(c.p + 1, 34, c.end - c.p - 1)
    if quote == NULL:
        return False
    out.p, out.n = c.p + 1, quote - c.p - 1
    c.p = quote + 1
    return True


cdef inline bint _eq(Span s, const char *text, Py_ssize_t n) noexcept nogil:
    return s.n == n and memcmp(s.p, text, n) == 0


cdef inline bint _digits(Cur *c) noexcept nogil:
    """One or more digits, consumed."""
    cdef const unsigned char *start = c.p
    while c.p < c.end and 48 <= c.p[0] <= 57:
        c.p += 1
    return c.p > start


cdef bint _uint(Cur *c, int64_t *out) noexcept nogil:
    """Whitespace, then a JSON integer >= 0 of at most 18 digits (no fraction or exponent)."""
    cdef const unsigned char *start
    cdef int64_t value = 0
    _ws(c)
    start = c.p
    while c.p < c.end and 48 <= c.p[0] <= 57 and c.p - start < 19:
        value = value * 10 + (c.p[0] - 48)
        c.p += 1
    if c.p == start or c.p - start > 18 or (start[0] == 48 and c.p - start > 1):
        return False
    if c.p < c.end and (c.p[0] == 46 or c.p[0] == 101 or c.p[0] == 69):  # '.', 'e', 'E'
        return False
    out[0] = value
    return True


cdef bint _skip_number(Cur *c) noexcept nogil:
    """JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?"""
    if c.p < c.end and c.p[0] == 45:  # '-'
        c.p += 1
    if c.p < c.end and c.p[0] == 48:
        c.p += 1
    elif not _digits(c):
        return False
    if c.p < c.end and c.p[0] == 46 and (c.p + 1 >= c.end or not _skip_fraction(c)):
        return False
    if c.p < c.end and (c.p[0] == 101 or c.p[0] == 69):
        c.p += 1
        if c.p < c.end and (c.p[0] == 43 or c.p[0] == 45):
            c.p += 1
        return _digits(c)
    return True


cdef inline bint _skip_fraction(Cur *c) noexcept nogil:
    c.p += 1  # '.'
    return _digits(c)


cdef inline bint _literal(Cur *c, const char *text, Py_ssize_t n) noexcept nogil:
    if c.end - c.p < n or memcmp(c.p, text, n) != 0:
        return False
    c.p += n
    return True


cdef bint _skip(Cur *c, int depth) noexcept nogil:
    """Whitespace, then any JSON value this reader can vouch for, consumed."""
    cdef Span s
    cdef unsigned char b
    _ws(c)
    if c.p >= c.end:
        return False
    b = c.p[0]
    if b == 34:
        return _string(c, &s)
    if b == 123 or b == 91:  # '{' or '['
        if depth >= MAX_DEPTH:
            return False
        c.p += 1
        if _byte(c, b + 2):  # '}' or ']': empty
            return True
        while True:
            if b == 123 and not (_string(c, &s) and _byte(c, 58)):  # "key":
                return False
            if not _skip(c, depth + 1):
                return False
            if _byte(c, 44):  # ','
                continue
            return _byte(c, b + 2)
    if b == 116:
        return _literal(c, "true", 4)
    if b == 102:
        return _literal(c, "false", 5)
    if b == 110:
        return _literal(c, "null", 4)
    return _skip_number(c)


# --- depth fields -----------------------------------------------------------------------------------

cdef object _levels(Cur *c):
    """``[["price","qty"], ...]`` -> an untracked tuple of untracked ``(price, qty)`` tuples of
    floats, or None if unusual. The levels wait on the C stack (the heap past ``STACK_LEVELS``)
    and move into a tuple of the exact size: no list to grow and copy."""
    cdef PyObject *stack[STACK_LEVELS]
    cdef PyObject **held = stack
    cdef PyObject **grown
    cdef Py_ssize_t n = 0, room = STACK_LEVELS, i
    cdef Span price, qty
    cdef double p, q
    cdef tuple level
    cdef object levels
    if not _byte(c, 91):
        return None
    if _byte(c, 93):
        return ()
    try:
        while True:
            if not (_byte(c, 91) and _quoted(c, &price) and _byte(c, 44) and _quoted(c, &qty) and _byte(c, 93)):
                return None
            if not plain_decimal(price, &p) or not plain_decimal(qty, &q):
                return None
            if p <= 0.0:  # a price must be > 0: the msgspec path reports it (protocols.numbers)
                return None
            if n == room:
                grown = <PyObject **>PyMem_Malloc(2 * room * sizeof(PyObject *))
                if grown == NULL:
                    raise MemoryError()
                memcpy(grown, held, n * sizeof(PyObject *))
                if held != stack:
                    PyMem_Free(held)
                held, room = grown, 2 * room
            level = (p, q)
            PyObject_GC_UnTrack(<void *>level)  # two floats: never in a cycle
            Py_INCREF(level)
            held[n] = <PyObject *>level
            n += 1
            if _byte(c, 44):
                continue
            if not _byte(c, 93):
                return None
            levels = PyTuple_New(n)
            for i in range(n):
                _PyTuple_SET_ITEM_STEAL(levels, i, held[i])  # the reference moves into the tuple
            n = 0
            PyObject_GC_UnTrack(<void *>levels)  # a tuple of untracked tuples: the same
            return levels
    finally:
        for i in range(n):
            Py_XDECREF(held[i])
        if held != stack:
            PyMem_Free(held)


cdef inline unsigned int _key(Span key, bint gate) noexcept nogil:
    """The K_* bit of a depth key (``gate``: Gate.io's ``result``, else Binance's), or 0."""
    cdef unsigned char b
    if key.n == 1:
        b = key.p[0]
        if b == 115:  # s
            return K_S
        if b == 85:  # U
            return K_FIRST
        if b == 117:  # u
            return K_LAST
        if b == 98:  # b
            return K_BIDS
        if b == 97:  # a
            return K_ASKS
        if gate:
            return K_T if b == 116 else 0  # t
        if b == 101:  # e
            return K_E
        if b == 69:  # E
            return K_EVENT_MS
        return 0
    return K_FULL if gate and _eq(key, "full", 4) else 0


cdef bint _field(Cur *c, unsigned int bit, Depth *d) except -1:
    """The value of depth key ``bit`` into ``d``; False if unusual or seen before."""
    if d.seen & bit:
        return False
    d.seen |= bit
    if bit == K_BIDS or bit == K_ASKS:
        levels = _levels(c)
        if levels is None:
            return False
        Py_INCREF(levels)
        if bit == K_BIDS:
            d.bids = <PyObject *>levels
        else:
            d.asks = <PyObject *>levels
        return True
    if bit == K_S:
        return _string(c, &d.symbol)
    if bit == K_E:
        return _string(c, &d.event)
    if bit == K_FIRST:
        return _uint(c, &d.first)
    if bit == K_LAST:
        return _uint(c, &d.last)
    if bit == K_FULL:
        _ws(c)
        if _literal(c, "true", 4):
            d.full = True
            return True
        return _literal(c, "false", 5)
    return _uint(c, &d.ts)  # K_T, K_EVENT_MS


cdef bint _depth_object(Cur *c, Depth *d, bint gate) except -1:
    """``{...}`` of depth keys (others skipped) into ``d``."""
    cdef Span key
    cdef unsigned int bit
    if not _byte(c, 123):
        return False
    if _byte(c, 125):
        return True
    while True:
        if not (_string(c, &key) and _byte(c, 58)):
            return False
        bit = _key(key, gate)
        if bit:
            if not _field(c, bit, d):
                return False
        elif not _skip(c, 1):
            return False
        if _byte(c, 44):
            continue
        return _byte(c, 125)


cdef bint _start(object frame, Cur *c) noexcept:
    """``c`` over the frame's bytes, in place: ``bytes``, or a ``str`` that is compact ASCII."""
    if PyBytes_CheckExact(frame):
        c.p = <const unsigned char *>PyBytes_AS_STRING(frame)
        c.end = c.p + PyBytes_GET_SIZE(frame)
        return True
    if PyUnicode_CheckExact(frame) and PyUnicode_IS_COMPACT_ASCII(frame):
        c.p = <const unsigned char *>PyUnicode_DATA(frame)
        c.end = c.p + PyUnicode_GET_LENGTH(frame)
        return True
    return False


cdef inline bint _end(Cur *c) noexcept nogil:
    _ws(c)
    return c.p == c.end


cdef object _symbol(object symbols, Span s):
    return symbols.get(PyUnicode_DecodeASCII(<const char *>s.p, s.n, NULL))


cdef object _delta(str venue, object symbol, Depth *d, object recv_ns):
    bids = () if d.bids == NULL else <object>d.bids  # Gate.io's b/a default to ()
    asks = () if d.asks == NULL else <object>d.asks
    return BookDelta(venue=venue, symbol=symbol, first_seq=d.first, last_seq=d.last, bids=bids, asks=asks,
                     exchange_ts_ms=d.ts, recv_ns=recv_ns, full=d.full)


cdef inline void _init(Depth *d) noexcept:
    d.seen = 0
    d.full = False
    d.bids = d.asks = NULL


cdef inline void _release(Depth *d) noexcept:
    Py_XDECREF(d.bids)
    Py_XDECREF(d.asks)


# --- the venues -------------------------------------------------------------------------------------

def decode_binance(frame, recv_ns, symbols):
    """A Binance ``depthUpdate`` frame -> the ``BookDelta`` the msgspec path gives, or ``None``."""
    return _read(False, frame, recv_ns, symbols)


def decode_gateio(frame, recv_ns, symbols):
    """A Gate.io ``spot.order_book_update`` / ``spot.obu`` update push -> the ``BookDelta`` the
    msgspec path gives, or ``None``."""
    return _read(True, frame, recv_ns, symbols)


cdef object _read(bint gate, frame, recv_ns, symbols):
    cdef Depth d
    _init(&d)
    try:
        return _gateio(frame, recv_ns, symbols, &d) if gate else _binance(frame, recv_ns, symbols, &d)
    finally:
        _release(&d)


cdef object _binance(frame, recv_ns, symbols, Depth *d):
    cdef Cur c
    cdef Span key, stream
    cdef unsigned int bit, top = 0
    cdef bint has_stream = False, has_data = False, read_by_slow_path = False
    if not _start(frame, &c) or not _byte(&c, 123) or _byte(&c, 125):
        return None
    while True:
        if not (_string(&c, &key) and _byte(&c, 58)):
            return None
        bit = _key(key, False)
        if bit:  # a bare /ws/<symbol>@depth frame's field
            if not _field(&c, bit, d):
                return None
            top |= bit
        elif _eq(key, "data", 4):
            if has_data or not _depth_object(&c, d, False):
                return None
            has_data = True
        elif _eq(key, "stream", 6):
            if has_stream or not _string(&c, &stream):
                return None
            has_stream = True
        else:
            if _eq(key, "result", 6) or _eq(key, "id", 2) or _eq(key, "code", 4) or _eq(key, "msg", 3):
                read_by_slow_path = True
            if not _skip(&c, 1):
                return None
        if not _byte(&c, 44):  # ','
            break
    if not _byte(&c, 125) or not _end(&c) or d.seen != BINANCE_KEYS or not _eq(d.event, "depthUpdate", 11):
        return None
    if has_stream or has_data:
        if not (has_stream and has_data) or top:
            return None
    elif read_by_slow_path:
        return None
    if d.last < d.first or d.ts > MAX_TS_MS:
        return None
    symbol = _symbol(symbols, d.symbol)
    if symbol is None:
        return None
    return _delta(_BINANCE, symbol, d, recv_ns)


cdef object _gateio(frame, recv_ns, symbols, Depth *d):
    cdef Cur c
    cdef Span key, value, pair
    cdef int channel = 0
    cdef bint has_event = False, has_error = False, has_result = False
    cdef Py_ssize_t i
    if not _start(frame, &c) or not _byte(&c, 123) or _byte(&c, 125):
        return None
    while True:
        if not (_string(&c, &key) and _byte(&c, 58)):
            return None
        if _eq(key, "result", 6):
            if has_result or not _depth_object(&c, d, True):
                return None
            has_result = True
        elif _eq(key, "channel", 7):
            if channel or not _string(&c, &value):
                return None
            if _eq(value, "spot.order_book_update", 22):
                channel = CH_BOOK
            elif _eq(value, "spot.obu", 8):
                channel = CH_OBU
            else:
                return None
        elif _eq(key, "event", 5):
            if has_event or not _string(&c, &value) or not _eq(value, "update", 6):
                return None
            has_event = True
        elif _eq(key, "error", 5):
            _ws(&c)
            if has_error or not _literal(&c, "null", 4):
                return None
            has_error = True
        elif not _skip(&c, 1):
            return None
        if not _byte(&c, 44):  # ','
            break
    if not _byte(&c, 125) or not _end(&c) or not channel or not has_event or not has_result:
        return None
    if (d.seen & (K_S | K_T | K_LAST)) != (K_S | K_T | K_LAST) or d.symbol.n == 0:
        return None
    if d.seen & K_FIRST:
        if d.last < d.first:
            return None
    elif d.full:
        d.first = d.last  # a full push may omit U
    else:
        return None
    pair = d.symbol
    if channel == CH_BOOK:
        if d.ts > MAX_TS_MS:
            return None
    else:  # "ob.BTC_USDT.50" -> "BTC_USDT"
        if pair.n < 4 or memcmp(pair.p, b"ob.", 3) != 0:
            return None
        pair.p += 3
        pair.n -= 3
        i = pair.n - 1
        while i >= 0 and pair.p[i] != 46:
            i -= 1
        if i <= 0:
            return None
        pair.n = i
    symbol = _symbol(symbols, pair)
    if not symbol:
        return None
    return _delta(_GATEIO, symbol, d, recv_ns)
