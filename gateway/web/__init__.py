"""The web passport at ``/app/``: its static files, its configuration, its security headers."""

from gateway.web.routes import app_routes, content_security_policy

__all__ = ["app_routes", "content_security_policy"]
