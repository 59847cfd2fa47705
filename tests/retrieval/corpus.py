"""A small hand-written corpus of support cases shared by the retrieval tests."""

from __future__ import annotations

import retrieval

CASES = [
    (
        "T-1",
        "My refund never arrived after I returned the shoes",
        "Refund re-issued by card",
        ["refund"],
        "acme",
    ),
    (
        "T-2",
        "I cannot log in, the password reset email never comes",
        "Reset link resent; spam folder",
        ["login"],
        "acme",
    ),
    (
        "T-3",
        "The app crashes when I open my order history",
        "Fixed in app version 4.2",
        ["app"],
        "acme",
    ),
    (
        "T-4",
        "How do I change the delivery address of an order",
        "Address changed before dispatch",
        ["delivery"],
        "acme",
    ),
    (
        "T-5",
        "I was charged twice for the same order",
        "Duplicate charge refunded",
        ["billing"],
        "globex",
    ),
    (
        "T-6",
        "My parcel is late and tracking has not moved for a week",
        "Courier claim opened",
        ["delivery"],
        "globex",
    ),
]


def documents(tenant: str | None = None) -> list[retrieval.CaseDocument]:
    """The shared small corpus (hand-written support cases)."""
    return [
        retrieval.CaseDocument(cid, text, summary, tags, {"tenant": t, "product": "shop"})
        for cid, text, summary, tags, t in CASES
        if tenant is None or t == tenant
    ]
