"""Staff-only HTTP API over a service's own dead letters: list, show, replay.

Each service mounts ``router``; it reads and replays ``vies.<service>.dlq`` of the service it
runs in, with the very functions the ``vies dlq`` command uses, so a replay from a browser
behaves exactly like one from the command line: the original key, value (or one corrected
value) and headers go back to their topic, and the consumer parks the replay again as
``stale_replay`` when a later record of its key was applied and its handler is not order-safe,
unless ``force_stale`` is set. Every read and every replay is logged with the operator's id.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from vies_shared.errors import Forbidden, InvalidInput, NotFound
from vies_shared.logging import get_logger
from vies_shared.messaging.dead_letters import DeadLetter, list_dead_letters, replay_dead_letters
from vies_shared.service import RuntimeDep
from vies_shared.tokens import Principal
from vies_shared.web import CurrentPrincipal, Pagination, paged

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])
log = get_logger(component="dead_letters")
REF_PATTERN = r"^[0-9]{1,6}:[0-9]{1,19}$"
Ref = Annotated[str, Path(pattern=REF_PATTERN, description="partition:offset in the dead-letter topic")]
# A dead letter's value is shown whole up to this size (a CloudEvent's data is far smaller).
MAX_VALUE_SHOWN = 65_536


class ReplayRequest(BaseModel):
    """Which dead letters go back to their topic: ``refs`` or ``all``; ``value`` fixes exactly one."""

    model_config = ConfigDict(extra="forbid")
    refs: list[Annotated[str, Field(pattern=REF_PATTERN)]] = Field(default_factory=list, max_length=500)
    all: bool = False
    value: dict[str, Any] | None = Field(default=None, description="corrected JSON value, with exactly one ref")
    force_stale: bool = Field(
        default=False, description="apply it even if a later event of its aggregate was applied (else stale_replay)"
    )


def _staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("dead letters are for staff only")


def _detail(letter: DeadLetter) -> dict[str, Any]:
    """The summary plus every header and the whole value (bounded)."""
    value = (letter.value or b"")[:MAX_VALUE_SHOWN].decode(errors="replace")
    return {**letter.summary(), "value": value, "headers": letter.headers}


@router.get("")
async def dead_letters(principal: CurrentPrincipal, runtime: RuntimeDep, page: Pagination) -> dict[str, Any]:
    """This service's dead letters, oldest first per partition (staff only)."""
    _staff(principal)
    service = runtime.settings.service
    letters = await list_dead_letters(runtime.settings, service)
    log.info("dead_letters_listed", operator=principal.sub, service=service, total=len(letters))
    chosen = letters[page.offset : page.offset + page.limit]
    return {"service": service, **paged([d.summary() for d in chosen], len(letters), page)}


@router.get("/{ref}")
async def dead_letter(ref: Ref, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """One dead letter with its headers and value (staff only)."""
    _staff(principal)
    service = runtime.settings.service
    found = next((d for d in await list_dead_letters(runtime.settings, service) if d.ref == ref), None)
    if found is None:
        raise NotFound(f"no dead letter at {ref}")
    log.info("dead_letter_read", operator=principal.sub, service=service, ref=ref)
    return {"service": service, **_detail(found)}


@router.post("/replay")
async def replay(body: ReplayRequest, principal: CurrentPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    """Publish dead letters back to their original topic, as ``vies dlq replay`` does (staff only)."""
    _staff(principal)
    if not body.refs and not body.all:
        raise InvalidInput("give refs or all")
    if body.refs and body.all:
        raise InvalidInput("give refs or all, not both")
    if body.value is not None and len(body.refs) != 1:
        raise InvalidInput("a corrected value goes with exactly one ref")
    service = runtime.settings.service
    override = json.dumps(body.value).encode() if body.value is not None else None
    try:
        letters = await replay_dead_letters(
            runtime.settings,
            service,
            None if body.all else body.refs,
            value_override=override,
            force_stale=body.force_stale,
        )
    except LookupError as exc:
        raise NotFound(str(exc)) from exc
    except ValueError as exc:  # a dead letter without its origin cannot go back anywhere
        raise InvalidInput(str(exc)) from exc
    refs = [d.ref for d in letters]
    log.info(
        "dead_letters_replayed",
        operator=principal.sub,
        service=service,
        refs=refs,
        corrected=override is not None,
        force_stale=body.force_stale,
    )
    return {"service": service, "replayed": refs, "force_stale": body.force_stale, "corrected": override is not None}
