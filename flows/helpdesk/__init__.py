"""A real django-helpdesk for tests, the demo and hand checks: `HelpdeskServer`.

The Django project lives in `flows.helpdesk.project`; `python -m flows.helpdesk` runs one by hand.
"""

from flows.helpdesk.errors import HelpdeskServerError, PortInUse
from flows.helpdesk.server import HelpdeskServer
from flows.helpdesk.template import Credentials

__all__ = ["Credentials", "HelpdeskServer", "HelpdeskServerError", "PortInUse"]
