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
    Extension("actors._l2book", ["actors/_l2book.pyx"]),
    Extension("protocols.mexc._depth", ["protocols/mexc/_depth.pyx"]),
    Extension("protocols._levels", ["protocols/_levels.pyx"]),
    Extension("protocols._jsondepth", ["protocols/_jsondepth.pyx"]),
]


def ext_modules() -> list[Extension]:
    if cythonize is None:
        return []
    built = cythonize(EXTENSIONS, language_level=3)
    for ext in built:
        ext.optional = True  # set after cythonize, which builds new Extensions without it
    return built


setup(ext_modules=ext_modules())
