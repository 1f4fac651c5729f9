"""The one-tap safety answer page, ``/s/{token}``: the link of a volunteer's alert email or SMS, no sign-in.

The token is the missions service's business (it checks it, its expiry and what it may do);
the portal only shows the alert with two big buttons, "I am safe" and "I need help", and
posts the answer. Opening the page records nothing (mail scanners open links); the answer
is a POST from this page only: the form repeats the token, and a cross-site post (``Origin``
or ``Sec-Fetch-Site`` naming another site) is refused. The API limits calls per visitor
(the portal forwards the visitor's address). No token of the person is ever sent, even
when the browser is signed in: the link answers for its own volunteer and nobody else.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vies_portal.apis import ApiError, ApiUnavailable
from vies_portal.web import _, error_message, forwarded_for, portal_of, render

router = APIRouter()
ANSWERS = ("safe", "need_help")
# What a token can look like (base64url); anything else is an unknown link without asking the API.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,400}")
Document = dict[str, Any]


async def _link_api(request: Request, method: str, path: str, json: Any = None) -> Document:
    """A call to the missions service's public link endpoints, never with the person's token."""
    return await portal_of(request).apis.call(
        "missions",
        method,
        path,
        json=json,
        request_id=request.state.request_id,
        forwarded_for=forwarded_for(request),
    )


def _refusal(request: Request, error: ApiError | ApiUnavailable) -> Response:
    """The page for a link that cannot answer: unknown or foreign, expired, too many tries, or a service down."""
    if isinstance(error, ApiError) and error.status == 404:
        return render(
            request,
            "safety_link_refused.html",
            _(request, "This safety link is not valid"),
            status=404,
            message=_(
                request,
                "This link does not answer any safety check. It may have been copied incompletely: open it "
                "again from the message you received.",
            ),
        )
    if isinstance(error, ApiError) and error.status == 410:
        return render(
            request,
            "safety_link_refused.html",
            _(request, "This safety link has expired"),
            status=410,
            message=_(request, "The safety check this link answered is closed, and the link no longer works."),
        )
    status = 503 if isinstance(error, ApiUnavailable) else error.status if error.status in (403, 429) else 400
    return render(
        request,
        "safety_link_refused.html",
        _(request, "Your answer could not be recorded"),
        status=status,
        message=error_message(request, error),
    )


def _same_site(request: Request) -> bool:
    """Whether a post comes from this portal's own page (browsers say so in ``Sec-Fetch-Site`` and ``Origin``)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # a browser that sends neither header; the token in the form still has to match
    public = urlparse(portal_of(request).settings.public_url)
    return origin in (f"{public.scheme}://{public.netloc}", f"{request.url.scheme}://{request.url.netloc}")


def _unknown(request: Request) -> Response:
    return _refusal(request, ApiError(404))


@router.get("/s/{token}")
async def safety_link_page(request: Request, token: str, recorded: str = "") -> Response:
    """The alert and the two answers; ``?recorded=1`` after an answer says it was recorded, and when."""
    if not TOKEN.fullmatch(token):
        return _unknown(request)
    try:
        link = await _link_api(request, "GET", f"/safety-links/{token}")
    except (ApiError, ApiUnavailable) as exc:
        return _refusal(request, exc)
    return render(
        request,
        "safety_link.html",
        _(request, "Safety check: are you safe?"),
        link=link,
        token=token,
        recorded=bool(recorded) and bool(link["answer"].get("responded_at")),
    )


@router.post("/s/{token}")
async def answer(request: Request, token: str) -> Response:
    """Record the answer tapped (safe or need help); a new answer replaces the earlier one."""
    if not TOKEN.fullmatch(token):
        return _unknown(request)
    form = await request.form()
    status, sent_token = form.get("status"), form.get("link")
    if not _same_site(request) or sent_token != token:
        return render(
            request,
            "safety_link_refused.html",
            _(request, "Your answer could not be recorded"),
            status=403,
            message=_(request, "Answer from the page the link in your message opens."),
        )
    if status not in ANSWERS:
        return RedirectResponse(f"/s/{token}", status_code=303)
    try:
        await _link_api(request, "POST", f"/safety-links/{token}/answer", json={"status": status})
    except (ApiError, ApiUnavailable) as exc:
        return _refusal(request, exc)
    return RedirectResponse(f"/s/{token}?recorded=1", status_code=303)
