"""The optional compiled per-frame core: Cython extensions beside the pure-Python modules.

Everything else about the package is in pyproject.toml. The extensions are ``optional``: where
the C compiler fails (or Cython is missing, with ``--no-build-isolation``), the install still
succeeds and ``protocols.compiled`` runs the pure-Python modules they mirror.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # only without build isolation: pyproject's [build-system] requires Cython
    cythonize = None

EXTENSIONS = [
    Extension("actors._l2book", ["actors/_l2book.pyx"], optional=True),
    Extension("protocols.mexc._depth", ["protocols/mexc/_depth.pyx"], optional=True),
]

setup(ext_modules=cythonize(EXTENSIONS, language_level=3) if cythonize is not None else [])
