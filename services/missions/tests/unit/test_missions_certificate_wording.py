"""The certificate's wording per scheme and names in any Latin, Greek or Cyrillic spelling, read back from the PDF."""

from __future__ import annotations

import unicodedata
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


@pytest.mark.parametrize(
    "name",
    ["Nguyễn Thị Hương", "Łukasz Żółkiewski", "Hoàng Dương Œuvray", "Ngozi Ọkọnkwọ", "Σοφία Παπαδοπούλου"],
)
def test_names_print_as_written_whatever_their_alphabet(name: str) -> None:
    text = text_of(render(facts(name=name, scheme="service_civique")))
    assert f"atteste que {name} a accompli" in text, text


def test_a_name_typed_with_combining_accents_prints_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Hương")
    assert decomposed != "Nguyễn Thị Hương"
    assert "Nguyễn Thị Hương" in text_of(render(facts(name=decomposed)))


def test_the_pdf_embeds_its_font_rather_than_relying_on_the_readers() -> None:
    fonts = [
        page["/Resources"]["/Font"][key].get_object()["/BaseFont"]
        for page in PdfReader(BytesIO(render(facts()))).pages
        for key in page["/Resources"]["/Font"]
    ]
    assert fonts and all("DejaVuSans" in str(name) for name in fonts), fonts
