"""Run a local django-helpdesk by hand: ``python -m flows.helpdesk [--port 8801] [--data-dir D]``.

Prints the URL, the admin login and the API token (the values ``CASELOOP_HELPDESK_URL``,
``CASELOOP_HELPDESK_TOKEN`` and ``CASELOOP_HELPDESK_QUEUE`` take), then serves until Ctrl-C or
SIGTERM. The data folder keeps tickets and credentials between runs.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from flows.helpdesk.server import HelpdeskServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flows.helpdesk", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".caseloop/helpdesk"))
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--new-ticket-webhook", help="URL django-helpdesk posts new tickets to")
    parser.add_argument("--followup-webhook", help="URL django-helpdesk posts follow-ups to")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    env = {}
    if args.new_ticket_webhook:
        env["HELPDESK_NEW_TICKET_WEBHOOK_URLS"] = args.new_ticket_webhook
    if args.followup_webhook:
        env["HELPDESK_FOLLOWUP_WEBHOOK_URLS"] = args.followup_webhook
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with HelpdeskServer(args.data_dir, args.port, env=env) as server:
        print(f"django-helpdesk   {server.url}/helpdesk/  (admin: {server.admin_username})")
        print(f"admin password    {server.admin_password}")
        print(f"CASELOOP_HELPDESK_URL={server.url}")
        print(f"CASELOOP_HELPDESK_TOKEN={server.token}")
        print(f"CASELOOP_HELPDESK_QUEUE={server.queue_id}")
        print("Ctrl-C stops it.", flush=True)
        try:
            while not stop.wait(0.5) and server.running:
                pass
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
