"""`dskd serve`: a web page and an HTTP API that segment angiograms (docs/serve.md).

    settings.py  what the server runs and its limits      limits.py  deadline, bounded queue
    upload.py    multipart upload into the request folder segment.py one upload through the model
    card.py      the model card                           app.py     the FastAPI application
    static/index.html  the page (plain JavaScript, no build step, works offline)

Needs the `serve` extra (fastapi, uvicorn, python-multipart); app.py imports them.
"""

from dskd.deploy.serve.settings import ServeSettings, is_loopback

__all__ = ["ServeSettings", "is_loopback"]
