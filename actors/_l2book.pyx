# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled L2 book: ``actors.l2book.L2Book``'s contract and results, levels in C arrays.

Built by ``pip install .`` where Cython and a C compiler are present; ``actors.l2book`` picks
it unless ``ARBOR_PURE_PYTHON=1`` (see ``protocols.compiled``). Every public method behaves as
the pure book's (the test suite runs the same tests, and the property tests against the naive
model, on both), down to the level objects returned: ``top`` returns the delta's own
``(price, quantity)`` tuples, as the pure book does.

Layout, per side: a ``double`` array of keys ascending (bids: ``price``, asks: ``-price``, so
the best level is at the END on both sides, where the activity is) beside an array of owned
references to the level tuples at the same index. ``apply`` walks a whole delta's levels in one
call; a level is found by binary search (the best ``_HINT`` keys first), inserted or deleted
with one ``memmove`` of each array. At the bound, an insertion evicts index 0 (the farthest
level, maybe the one just added), exactly as the pure book's ``insort`` + ``pop(0)``.

The book only holds tuples of numbers, so it cannot be part of a reference cycle: it is not
GC-tracked (``no_gc``), and the references it holds keep their levels alive as roots. The
level tuples it reads are untracked as it reads them (see ``_unpack``).

One difference from the pure book, on input no venue sends: a NaN price raises ``ValueError``
(it cannot be ordered; the pure book's dict and sorted keys silently disagree on it).
"""

cimport cython
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF, Py_XDECREF
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memmove

cdef extern from "Python.h":
    bint PyFloat_CheckExact(object)
    bint PyTuple_CheckExact(object)
    bint PyObject_GC_IsTracked(object)
    void PyObject_GC_UnTrack(void *)

cdef enum:
    _HINT = 32  # keys from the top searched first (where almost all activity lands)
    _MIN_CAPACITY = 64  # levels a side allocates for at first; it doubles up to max_levels


cdef struct Side:
    double *keys         # ascending; the best level last
    PyObject **levels    # owned references, same index as keys
    Py_ssize_t n
    Py_ssize_t capacity


cdef struct Entry:       # one snapshot level, for the sorted load
    double key
    Py_ssize_t index


cdef int _entry_cmp(const void *a, const void *b) noexcept nogil:
    cdef const Entry *x = <const Entry *>a
    cdef const Entry *y = <const Entry *>b
    if x.key < y.key:
        return -1
    if x.key > y.key:
        return 1
    return (x.index > y.index) - (x.index < y.index)  # stable: a later mention sorts after


cdef inline double _as_double(object value) except? -1.0:
    if PyFloat_CheckExact(value):
        return PyFloat_AS_DOUBLE(value)
    return <double>value  # int, bool, float subclass; anything else raises TypeError


cdef inline int _unpack(object level, double *price, double *qty) except -1:
    """A level's price and quantity; ``price, qty = level`` for anything but a 2-tuple.

    A 2-tuple of floats leaves the collector here: it cannot be part of a reference cycle, so
    CPython untracks it anyway at the first collection that sees it. Doing it now spares the
    young collections the levels the book keeps (most of what a frame allocates)."""
    cdef object p, q
    if PyTuple_CheckExact(level) and PyTuple_GET_SIZE(level) == 2:
        p = <object>PyTuple_GET_ITEM(level, 0)
        q = <object>PyTuple_GET_ITEM(level, 1)
        if PyFloat_CheckExact(p) and PyFloat_CheckExact(q) and PyObject_GC_IsTracked(level):
            PyObject_GC_UnTrack(<void *>level)
    else:
        p, q = level
    price[0] = _as_double(p)
    qty[0] = _as_double(q)
    if price[0] != price[0]:
        raise ValueError(f"level {level!r}: a NaN price cannot be ordered")
    return 0


cdef int _reserve(Side *s, Py_ssize_t need) except -1:
    cdef Py_ssize_t capacity
    cdef double *keys
    cdef PyObject **levels
    if need <= s.capacity:
        return 0
    capacity = max(need, 2 * s.capacity, _MIN_CAPACITY)
    keys = <double *>realloc(s.keys, capacity * sizeof(double))
    if keys == NULL:
        raise MemoryError()
    s.keys = keys
    levels = <PyObject **>realloc(s.levels, capacity * sizeof(PyObject *))
    if levels == NULL:
        raise MemoryError()
    s.levels = levels
    s.capacity = capacity
    return 0


cdef void _clear(Side *s) noexcept:
    cdef Py_ssize_t i
    cdef Py_ssize_t n = s.n
    s.n = 0  # before the decrefs: a level's finaliser must never see a half-cleared side
    for i in range(n):
        Py_DECREF(<object>s.levels[i])


cdef inline Py_ssize_t _search(const double *keys, Py_ssize_t n, double key) noexcept nogil:
    """The first index whose key is >= ``key`` (``n`` if none); the best ``_HINT`` keys first.

    Branch-free halving (the comparison feeds an add, not a jump): the searched key is as often
    above as below the middle, so a branch would be mispredicted half the time."""
    cdef Py_ssize_t base = 0, size = n, half
    if n > _HINT and keys[n - _HINT] < key:
        base, size = n - _HINT, _HINT
    while size > 1:
        half = size >> 1
        base += (keys[base + half - 1] < key) * half
        size -= half
    if size == 1 and keys[base] < key:
        base += 1
    return base


cdef int _set(Side *s, Py_ssize_t max_levels, object level, double key, double qty) except -1:
    """One level onto one side (absolute quantity; 0 or less removes), the pure book's rules."""
    cdef Py_ssize_t n = s.n
    cdef Py_ssize_t i = _search(s.keys, n, key)
    cdef PyObject *old
    if i < n and s.keys[i] == key:
        old = s.levels[i]
        if qty > 0.0:  # an update in place
            Py_INCREF(level)
            s.levels[i] = <PyObject *>level
        else:  # a removal
            memmove(&s.keys[i], &s.keys[i + 1], (n - i - 1) * sizeof(double))
            memmove(&s.levels[i], &s.levels[i + 1], (n - i - 1) * sizeof(PyObject *))
            s.n = n - 1
        Py_DECREF(<object>old)
        return 0
    if not qty > 0.0:
        return 0  # removing a level we do not hold
    if n == max_levels:
        if i == 0:
            return 0  # farther than every held level: evicted at once
        # insert at i, evict index 0: the levels below i move down by one
        old = s.levels[0]
        memmove(&s.keys[0], &s.keys[1], (i - 1) * sizeof(double))
        memmove(&s.levels[0], &s.levels[1], (i - 1) * sizeof(PyObject *))
        s.keys[i - 1] = key
        Py_INCREF(level)
        s.levels[i - 1] = <PyObject *>level
        Py_DECREF(<object>old)
        return 0
    _reserve(s, n + 1)
    memmove(&s.keys[i + 1], &s.keys[i], (n - i) * sizeof(double))
    memmove(&s.levels[i + 1], &s.levels[i], (n - i) * sizeof(PyObject *))
    s.keys[i] = key
    Py_INCREF(level)
    s.levels[i] = <PyObject *>level
    s.n = n + 1
    return 0


cdef int _apply_side(Side *s, Py_ssize_t max_levels, object levels, double sign) except -1:
    cdef double price, qty
    cdef Py_ssize_t i, n
    cdef object level
    if PyTuple_CheckExact(levels):
        n = PyTuple_GET_SIZE(levels)
        for i in range(n):
            level = <object>PyTuple_GET_ITEM(levels, i)
            _unpack(level, &price, &qty)
            _set(s, max_levels, level, sign * price, qty)
    else:
        for level in levels:
            _unpack(level, &price, &qty)
            _set(s, max_levels, level, sign * price, qty)
    return 0


cdef int _load_side(Side *s, object levels, double sign) except -1:
    """Load a side of at most max_levels mentions onto an empty side: every price ends as its
    last mention, kept when its quantity is > 0; one sort instead of n front inserts."""
    cdef tuple mentions = tuple(levels)
    cdef Py_ssize_t n = len(mentions), i, j, out = 0
    cdef double price, qty
    cdef Entry *entries
    cdef object level
    if n == 0:
        return 0
    entries = <Entry *>malloc(n * sizeof(Entry))
    if entries == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            _unpack(mentions[i], &price, &qty)
            entries[i].key = sign * price
            entries[i].index = i
        qsort(entries, n, sizeof(Entry), _entry_cmp)
        _reserve(s, n)
        i = 0
        while i < n:
            j = i
            while j + 1 < n and entries[j + 1].key == entries[i].key:
                j += 1
            level = mentions[entries[j].index]  # the last mention of this price
            _unpack(level, &price, &qty)
            if qty > 0.0:
                s.keys[out] = entries[j].key
                Py_INCREF(level)
                s.levels[out] = <PyObject *>level
                out += 1
                s.n = out
            i = j + 1
    finally:
        free(entries)
    return 0


cdef tuple _top(Side *s, Py_ssize_t k):
    cdef Py_ssize_t m = min(k, s.n), i
    cdef tuple out = PyTuple_New(m)
    cdef object level
    for i in range(m):
        level = <object>s.levels[s.n - 1 - i]
        Py_INCREF(level)  # PyTuple_SET_ITEM steals a reference
        PyTuple_SET_ITEM(out, i, level)
    return out


@cython.final
@cython.no_gc
cdef class L2Book:
    """One side-bounded L2 book. Not thread-safe; owned by exactly one actor."""

    cdef readonly Py_ssize_t max_levels
    cdef public object seq  # the last sequence number applied (snapshot seq or delta last_seq)
    cdef Side _bids
    cdef Side _asks

    def __cinit__(self, Py_ssize_t max_levels=1000):
        if max_levels < 1:
            raise ValueError(f"max_levels must be >= 1, got {max_levels}")
        self.max_levels = max_levels
        self.seq = 0

    def __dealloc__(self):
        _clear(&self._bids)
        _clear(&self._asks)
        free(self._bids.keys)
        free(self._bids.levels)
        free(self._asks.keys)
        free(self._asks.levels)

    # --- whole-book updates -------------------------------------------------------------------

    def apply_snapshot(self, snapshot):
        """Replace the whole book with a snapshot; ``seq`` becomes ``snapshot.seq``."""
        self._load(snapshot.bids, snapshot.asks, snapshot.seq)

    def replace(self, delta):
        """Replace the whole book with a full push (Gate ``full: true``); seq = ``last_seq``."""
        self._load(delta.bids, delta.asks, delta.last_seq)

    def clear(self):
        _clear(&self._bids)
        _clear(&self._asks)
        self.seq = 0

    cdef _load(self, object bids, object asks, object seq):
        self.clear()
        if len(bids) > self.max_levels or len(asks) > self.max_levels:
            # a side may pass the bound mid-load: evict exactly as a stream of inserts would
            _apply_side(&self._bids, self.max_levels, bids, 1.0)
            _apply_side(&self._asks, self.max_levels, asks, -1.0)
        else:
            _load_side(&self._bids, bids, 1.0)
            _load_side(&self._asks, asks, -1.0)
        self.seq = seq

    # --- incremental updates ------------------------------------------------------------------

    def apply(self, delta):
        """Apply a delta's levels (absolute quantities; 0 removes); ``seq`` = ``last_seq``.

        Returns the number of level updates applied (for rate accounting).
        """
        bids, asks = delta.bids, delta.asks
        _apply_side(&self._bids, self.max_levels, bids, 1.0)
        _apply_side(&self._asks, self.max_levels, asks, -1.0)
        self.seq = delta.last_seq
        return len(bids) + len(asks)

    # --- reads --------------------------------------------------------------------------------

    def top(self, Py_ssize_t k):
        """The best ``k`` levels per side, best first: ``(bids, asks)``."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        return _top(&self._bids, k), _top(&self._asks, k)

    def best_bid(self):
        if self._bids.n == 0:
            return None
        return <object>self._bids.levels[self._bids.n - 1]

    def best_ask(self):
        if self._asks.n == 0:
            return None
        return <object>self._asks.levels[self._asks.n - 1]

    def crossed(self):
        """True when the best bid is at or above the best ask (a broken or stale book)."""
        if self._bids.n == 0 or self._asks.n == 0:
            return False
        return self._bids.keys[self._bids.n - 1] >= -self._asks.keys[self._asks.n - 1]

    def levels(self):
        """Number of levels held per side: ``(bids, asks)``."""
        return self._bids.n, self._asks.n

    def __len__(self):
        return self._bids.n + self._asks.n

    def __repr__(self):
        return (f"L2Book(seq={self.seq}, best_bid={self.best_bid()}, best_ask={self.best_ask()}, "
                f"levels={self.levels()})")
