# cython: language_level=3
"""A venue's decimal string, read as exactly the double ``float()`` gives: the compiled readers'
one number routine (``protocols.mexc._depth``, ``protocols._jsondepth``), inline in each.

``plain_decimal(p, n, &out)``: the ``n`` bytes at ``p`` are ASCII digits with at most one ``.``,
in JSON's number grammar (a digit first, no leading zero: ``"0.5"``, not ``"00.5"`` or ``".5"``;
a digit after the dot: not ``"1."``), at most ``MAX_NUMBER`` bytes; anything else (a sign, an
exponent, ``nan``, space, empty) is False, for the caller's slow path to judge. With the
trailing fractional zeros dropped, a mantissa ``m <= 2**53`` and ``k <= 22`` decimals is
``m / 10**k``: both exact doubles, and one IEEE division is correctly rounded, as ``float()``
is (Clinger's fast path). Longer numbers go through ``PyOS_string_to_double``, the routine
``float()`` itself calls (<= 63 digits: it cannot overflow or underflow to 0 from a non-zero).
"""

cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport uint64_t

cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0

cdef extern from *:
    """
    static const double arbor_pow10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                           1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    """
    const double arbor_pow10[23]

cdef enum:
    MAX_NUMBER = 63  # bytes of a price/quantity the slow-exact path copies to a C string


@cython.cdivision(True)
cdef inline bint plain_decimal(const unsigned char *p, Py_ssize_t n, double *out) except -1:
    cdef Py_ssize_t i, digits = 0, significant = 0, decimals = 0
    cdef bint dot = False
    cdef uint64_t m = 0
    cdef unsigned char c
    cdef char[MAX_NUMBER + 1] text
    if n < 1 or n > MAX_NUMBER:
        return False
    if not 48 <= p[0] <= 57 or p[n - 1] == 46 or (p[0] == 48 and n > 1 and p[1] != 46):
        return False
    for i in range(n):
        c = p[i]
        if c == 46:  # '.'
            if dot:
                return False
            dot = True
        elif 48 <= c <= 57:
            digits += 1
            if dot:
                decimals += 1
            if m or c != 48:
                significant += 1
                if significant <= 19:
                    m = m * 10 + (c - 48)
        else:
            return False
    if digits == 0:
        return False
    if significant <= 19:
        while decimals > 0 and m % 10 == 0 and m != 0:
            m //= 10
            decimals -= 1
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
