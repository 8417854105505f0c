"""Gzip for the page itself, which Gradio's own compression leaves out."""

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class CompressedPage:
    """ASGI middleware: GET / (710 KB of HTML with Gradio's config inline, 54 KB gzipped) through gzip.

    Gradio's Brotli middleware compresses only paths with a file extension (.js, .css, ...), so the page went out
    whole: 1.4 s on a phone's 4 Mbit/s before anything else could load (docs/browser-decoder.md).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.gzip = app, GZipMiddleware(app, minimum_size=1000, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The page through gzip (for a browser that accepts it), every other request as it was."""
        await (self.gzip if scope["type"] == "http" and scope["path"] == "/" else self.app)(scope, receive, send)
