"""`/docs` and `/redoc` work in a closed network: their assets come from the service itself."""

from __future__ import annotations

import re

import httpx

from ingestion.http import create_app
from ingestion.settings import IngestionSettings
from ingestion.store import Store
from tests.support.browser import dump_dom
from tests.support.loopback import serve

EXTERNAL = re.compile(r"""(?:src|href)=["']?https?://""")


def test_docs_pages_reference_only_local_assets(sqlite_store: Store) -> None:
    app = create_app(IngestionSettings(), sqlite_store)
    with serve(app) as url:
        for page in ("/docs", "/redoc"):
            html = httpx.get(f"{url}{page}").text
            assert not EXTERNAL.search(html), f"{page} loads something from another host"
            for asset in re.findall(r"/docs-assets/[\w.-]+", html):
                response = httpx.get(f"{url}{asset}")
                assert response.status_code == 200, asset
                assert len(response.content) > 1000, asset


def test_swagger_ui_renders_every_operation_in_a_browser(sqlite_store: Store) -> None:
    app = create_app(IngestionSettings(), sqlite_store)
    with serve(app) as url:
        expected = {
            (method.upper(), path)
            for path, item in httpx.get(f"{url}/openapi.json").json()["paths"].items()
            for method in item
        }
        dom = dump_dom(f"{url}/docs")
    rendered = set(
        re.findall(
            r'opblock-summary-method">(\w+)</span>.*?data-path="([^"]+)"',
            dom,
            flags=re.DOTALL,
        )
    )
    assert "swagger-ui" in dom
    assert "caseloop" in dom
    assert len(expected) >= 7
    assert rendered == expected
