"""The certificate's wording per scheme and its Latin-1 spelling, read back from the PDF."""

from __future__ import annotations

from datetime import date
from io import BytesIO

import pytest
from pypdf import PdfReader

from vies_missions.certificate import CertificateFacts, render


def facts(scheme: str = "vsi", status: str = "ended", name: str = "Awa Diop") -> CertificateFacts:
    return CertificateFacts(
        mission_id="m-1",
        volunteer_name=name,
        scheme=scheme,
        status=status,
        started_on=date(2026, 1, 5),
        ended_on=date(2026, 6, 30),
        partner_name="Association Jokkoo",
        authority_name="Commune de Rennes",
        country="SN",
        issuer="France Volontaires",
        issued_on=date(2026, 7, 1),
    )


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(BytesIO(pdf)).pages).split())


@pytest.mark.parametrize(
    ("scheme", "status", "present", "absent"),
    [
        ("vsi", "ended", ["Attestation de fin de mission", "Structure d'envoi : Commune de Rennes"], ["employeur"]),
        ("service_civique", "ended", ["Service Civique à l'international"], ["anticipée"]),
        (
            "vec",
            "ended",
            ["Attestation de congé de solidarité internationale", "à son employeur", "Mission proposée par"],
            ["Structure d'envoi"],
        ),
        ("vsi", "interrupted", ["fin de manière anticipée le 30/06/2026"], []),
        (
            "reciprocity",
            "ended",
            ["Volontariat de réciprocité", "accueilli·e en France par Commune de Rennes", "Organisation partenaire"],
            ["organisation d'accueil"],
        ),
    ],
)
def test_wording_per_scheme(scheme: str, status: str, present: list[str], absent: list[str]) -> None:
    text = text_of(render(facts(scheme, status)))
    for common in ("Awa Diop", "du 05/01/2026 au 30/06/2026", "Association Jokkoo", "pays : SN", "Rennes"):
        assert common in text
    assert "Pour France Volontaires" in text and "Fait le 01/07/2026" in text
    for words in present:
        assert words in text, (words, text)
    for words in absent:
        assert words not in text, (words, text)


def test_names_outside_latin1_lose_their_accents_rather_than_fail() -> None:
    text = text_of(render(facts(name="Hoàng Dương Œuvray")))
    assert "Hoàng Duong OEuvray" in text
