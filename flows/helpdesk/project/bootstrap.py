"""Build a template database: migrate, then one staff superuser, its API token and one queue.

Run in a fresh interpreter (``python -m flows.helpdesk.project.bootstrap``) with the project's
settings; prints the created ids as one JSON line. The launcher copies the result for each new
instance and rotates the password and token there, so this runs once per cache key.
"""

from __future__ import annotations

import json
import os

ADMIN_USERNAME = "caseloop-admin"
QUEUE_SLUG = "support"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flows.helpdesk.project.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from helpdesk.models import Queue
    from rest_framework.authtoken.models import Token

    call_command("migrate", interactive=False, verbosity=0)
    user = get_user_model().objects.create_superuser(
        ADMIN_USERNAME, "admin@caseloop.invalid", password=None
    )
    token = Token.objects.create(user=user)
    queue = Queue.objects.create(title="Support", slug=QUEUE_SLUG, allow_public_submission=False)
    print(json.dumps({"user_id": user.pk, "token": token.key, "queue_id": queue.pk}))


if __name__ == "__main__":
    main()
