"""A minimal Django project serving django-helpdesk 2.6.1 (its REST API and staff UI).

Run only as a subprocess by `flows.helpdesk.HelpdeskServer`; it reads its data folder from the
environment variable ``CASELOOP_HELPDESK_DATA_DIR``.
"""
