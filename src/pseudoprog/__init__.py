"""pseudoprog — decision support for true progression vs treatment effect on post-treatment brain MRI.

The flow of one case: ingest → align → lesions → maps → markers → criteria → evidence → advice → report.
Each stage is a subpackage; :mod:`pseudoprog.flow` runs them in order for ``pseudoprog assess``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pseudoprog")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
