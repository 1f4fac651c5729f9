"""The end-of-mission certificate (attestation de fin de mission) as a PDF.

Built from the mission's facts only: the volunteer's name, the scheme, the dates, the host partner,
the sending authority and the country, signed with the issuing organisation's name. For
international solidarity leave (``vec``) the employee hands it to the employer to justify the
leave, so its wording speaks of the leave rather than of a volunteering mission.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fpdf import FPDF

from vies_missions.domain.mission import RECIPROCITY_SCHEMES

SCHEME_LABELS = {
    "vsi": "Volontariat de solidarité internationale (VSI)",
    "service_civique": "Service Civique à l'international",
    "vec": "Congé de solidarité internationale (VEC)",
    "jsi_vvvsi": "Jeunesse solidarité internationale / Ville Vie Vacances Solidarité internationale (JSI/VVVSI)",
    "reciprocity": "Volontariat de réciprocité",
    "service_civique_reciprocity": "Service Civique de réciprocité",
}
LEAVE_SCHEME = "vec"
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class CertificateFacts:
    """What the certificate states, gathered from the mission and this service's projections."""

    mission_id: str
    volunteer_name: str
    scheme: str
    status: str
    started_on: date
    ended_on: date
    partner_name: str
    authority_name: str
    country: str
    issuer: str
    issued_on: date

    @property
    def scheme_label(self) -> str:
        """The scheme's name as written on the certificate."""
        return SCHEME_LABELS.get(self.scheme, self.scheme)

    def paragraphs(self) -> list[str]:
        """The certificate's body, one paragraph per entry (the text a reader finds in the PDF)."""
        period = f"du {_fr(self.started_on)} au {_fr(self.ended_on)}"
        where = f"auprès de {self.partner_name}, organisation d'accueil, pays : {self.country}"
        if self.scheme == LEAVE_SCHEME:
            body = [
                f"{self.issuer} atteste que {self.volunteer_name} a effectué une mission de solidarité "
                f"internationale {period}, {where}, au titre du congé de solidarité internationale "
                "(Code du travail, art. L3142-67 et suivants).",
                f"Mission proposée par : {self.authority_name}.",
                "La présente attestation est remise par le salarié à son employeur pour justifier de son "
                "congé de solidarité internationale.",
            ]
        elif self.scheme in RECIPROCITY_SCHEMES:
            # Reciprocity runs the other way: the authority hosts in France a volunteer sent by the
            # partner abroad; the mission's country is the volunteer's own.
            body = [
                f"{self.issuer} atteste que {self.volunteer_name} a accompli une mission au titre du dispositif "
                f"« {self.scheme_label} » {period}, accueilli·e en France par {self.authority_name}.",
                f"Organisation partenaire : {self.partner_name}, pays : {self.country}.",
            ]
        else:
            body = [
                f"{self.issuer} atteste que {self.volunteer_name} a accompli une mission au titre du dispositif "
                f"« {self.scheme_label} » {period}, {where}.",
                f"Structure d'envoi : {self.authority_name}.",
            ]
        if self.status == INTERRUPTED:
            body.append(f"La mission a pris fin de manière anticipée le {_fr(self.ended_on)}.")
        body.append("Attestation délivrée pour servir et valoir ce que de droit.")
        return body

    @property
    def title(self) -> str:
        """The certificate's heading."""
        if self.scheme == LEAVE_SCHEME:
            return "Attestation de congé de solidarité internationale"
        return "Attestation de fin de mission"


# DejaVu Sans covers the Latin, Greek and Cyrillic alphabets with Vietnamese and Polish letters, so a
# name prints as written (Nguyễn Thị Hương, Łukasz); `make setup` vendors it from npm (missions-assets).
FONTS = Path(__file__).parent / "fonts"
FONT_FAMILY = "DejaVuSans"
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


class FontMissing(RuntimeError):
    """The certificate's font files are not installed beside the package."""


def render(facts: CertificateFacts) -> bytes:
    """The certificate as PDF bytes, every letter of every name as written."""
    pdf = FPDF(format="A4")
    for style, filename in _FONT_FILES.items():
        path = FONTS / filename
        if not path.is_file():
            raise FontMissing(f"{path} is missing: run `make missions-assets` (or `make setup`) to fetch it")
        pdf.add_font(FONT_FAMILY, style, str(path))
    pdf.set_title(_nfc(facts.title))
    pdf.set_author(_nfc(facts.issuer))
    pdf.set_creator("VIES missions")
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, "B", 18)
    pdf.multi_cell(0, 10, _nfc(facts.title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font(FONT_FAMILY, "", 12)
    for paragraph in facts.paragraphs():
        pdf.multi_cell(0, 7, _nfc(paragraph), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.ln(10)
    pdf.multi_cell(0, 7, f"Fait le {_fr(facts.issued_on)}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, "B", 12)
    pdf.multi_cell(0, 7, _nfc(f"Pour {facts.issuer}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, "", 9)
    pdf.ln(20)
    pdf.multi_cell(0, 5, _nfc(f"Référence : mission {facts.mission_id}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _nfc(text: str) -> str:
    # A name typed on a keyboard that sends combining accents (e + U+0302 + U+0303) is composed into the
    # single letters the font draws (ễ), rather than printed as a letter followed by loose marks.
    return unicodedata.normalize("NFC", text)
