"""HTTP service (FastAPI): ``serkit serve``; see :mod:`serkit.serve.app`."""
