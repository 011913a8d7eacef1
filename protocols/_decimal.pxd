# cython: language_level=3
"""A venue's decimal string, read as exactly the double ``float()`` gives: the compiled readers'
one number routine (``protocols.mexc._depth``, ``protocols._jsondepth``), inline in each.

``plain_decimal(span, &out)``: the span's ``n`` bytes at ``p`` are ASCII digits with at most one ``.``,
in JSON's number grammar (a digit first, no leading zero: ``"0.5"``, not ``"00.5"`` or ``".5"``;
a digit after the dot: not ``"1."``), at most ``MAX_NUMBER`` bytes; anything else (a sign, an
exponent, ``nan``, space, empty) is False, for the caller's slow path to judge. With the
trailing fractional zeros dropped, a mantissa ``m <= 2**53`` and ``k <= 22`` decimals is
``m / 10**k``: both exact doubles, and one IEEE division is correctly rounded, as ``float()``
is (Clinger's fast path). Longer numbers go through ``PyOS_string_to_double``, the routine
``float()`` itself calls (<= 63 digits: it cannot overflow or underflow to 0 from a non-zero).
"""

from cpython.object cimport PyObject
from libc.stdint cimport uint64_t

cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0

cdef extern from *:
    """
    static const double arbor_pow10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                           1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    static const unsigned long long arbor_pow10_u64[20] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
        1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
        100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
        1000000000000000000ULL, 10000000000000000000ULL};
    """
    const double arbor_pow10[23]
    const uint64_t arbor_pow10_u64[20]

cdef enum:
    MAX_NUMBER = 63  # bytes of a price/quantity the slow-exact path copies to a C string


cdef struct Span:  # n bytes of a frame at p, not owned: a field, a string's contents
    const unsigned char *p
    Py_ssize_t n


cdef inline bint plain_decimal(Span s, double *out) except -1:
    # m holds the digits up to the last non-zero one read; the zeros after it wait in ``zeros``
    # (a trailing fractional zero is never multiplied in: no division to drop it again)
    cdef Py_ssize_t i, zeros = 0, significant = 0, fraction = 0, decimals = 0
    cdef bint dot = False
    cdef uint64_t m = 0
    cdef unsigned char c
    cdef char[MAX_NUMBER + 1] text
    cdef const unsigned char *p = s.p
    cdef Py_ssize_t n = s.n
    if n < 1 or n > MAX_NUMBER:
        return False
    if not 48 <= p[0] <= 57 or p[n - 1] == 46 or (p[0] == 48 and n > 1 and p[1] != 46):
        return False
    for i in range(n):
        c = p[i]
        if 49 <= c <= 57:
            significant += zeros + 1
            if significant <= 19:
                m = m * arbor_pow10_u64[zeros + 1] + (c - 48)
            zeros = 0
            if dot:
                fraction += 1
                decimals = fraction
        elif c == 48:
            if m:
                zeros += 1
            if dot:
                fraction += 1
        elif c == 46 and not dot:  # '.': the integer part's trailing zeros count
            dot = True
            significant += zeros
            if significant <= 19:
                m *= arbor_pow10_u64[zeros]
            zeros = 0
        else:
            return False
    if not dot:
        significant += zeros
        if significant <= 19:
            m *= arbor_pow10_u64[zeros]
    if significant <= 19:
        if m == 0:
            out[0] = 0.0
            return True
        if m <= (1ULL << 53) and decimals <= 22:
            out[0] = <double>m / arbor_pow10[decimals]
            return True
    for i in range(n):
        text[i] = <char>p[i]
    text[n] = 0
    out[0] = PyOS_string_to_double(text, NULL, NULL)
    return True
