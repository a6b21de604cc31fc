"""The HTTP service, blueprints and Prometheus metrics of seed 000 (SPEC §10)."""

from .app import DEFAULT_MAX_BODY, DirectTasks, create_app
from .metrics import ServiceMetrics
from .server import default_app, run_default

__all__ = ["DEFAULT_MAX_BODY", "DirectTasks", "ServiceMetrics", "create_app", "default_app", "run_default"]
