"""Words for codes the pages show (statuses, agencies, event types), translated by the catalogue.

``N_`` only marks a message for extraction; the template filters translate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def N_(message: str) -> str:  # noqa: N802 - the usual gettext marker
    return message


STATUS = {
    "draft": N_("draft"), "filed": N_("filed"), "submitted": N_("submitted"), "accepted": N_("accepted"),
    "rejected": N_("rejected"), "inspecting": N_("under inspection"), "released": N_("released"),
    "withdrawn": N_("withdrawn"), "discarded": N_("discarded"),
    "awaiting_relocation": N_("awaiting relocation"), "ready": N_("ready for inspection"),
    "scheduled": N_("scheduled"), "in_progress": N_("in progress"), "completed": N_("completed"),
}
AGENCY = {"customs": N_("Customs"), "ciq": N_("Inspection & Quarantine"), "border": N_("Border police"),
          "maritime": N_("Maritime")}
KIND = {"enterprise": N_("Enterprise"), "customs": N_("Customs"), "ciq": N_("Inspection & Quarantine"),
        "border": N_("Border police"), "maritime": N_("Maritime"), "terminal": N_("Terminal"),
        "admin": N_("Port office")}
ROLE = {"declarant": N_("declarant"), "viewer": N_("viewer"), "officer": N_("officer"),
        "operator": N_("operator"), "admin": N_("administrator")}
INSPECTION_KIND = {"physical": N_("physical examination"), "machine_scan": N_("machine scan"),
                   "sampling": N_("sampling"), "quarantine_treatment": N_("quarantine treatment")}
OUTCOME = {"conforming": N_("conforming"), "nonconforming": N_("nonconforming")}
DOCUMENT_KIND = {"invoice": N_("Invoice"), "packing_list": N_("Packing list"), "contract": N_("Contract"),
                 "bill_of_lading": N_("Bill of lading"), "certificate_of_origin": N_("Certificate of origin"),
                 "health_certificate": N_("Health certificate"),
                 "phytosanitary_certificate": N_("Phytosanitary certificate"), "licence": N_("Licence"),
                 "other": N_("Other document")}
EVENT = {
    "filing.created": N_("Entered and staged"), "filing.updated": N_("Staged entry edited"),
    "declaration.staged": N_("Declaration staged"), "declaration.discarded": N_("Draft declaration discarded"),
    "declaration.withdrawn": N_("Declaration withdrawn"), "declaration.submitted": N_("Declaration filed"),
    "declaration.accepted": N_("Declaration accepted (receipt)"),
    "declaration.rejected": N_("Declaration rejected (receipt)"), "declaration.amended": N_("Declaration amended"),
    "inspection.decided": N_("Inspection decided"), "inspection.matched": N_("Inspections matched"),
    "inspection.joined": N_("Joined an inspection"), "inspection.relocated": N_("Container moved for inspection"),
    "inspection.scheduled": N_("Inspection appointment booked"), "inspection.started": N_("Inspection started"),
    "inspection.checked_in": N_("Agency checked in"), "inspection.absent": N_("Agency absent"),
    "inspection.appointment_lapsed": N_("Appointment lapsed"),
    "inspection.result_recorded": N_("Inspection result recorded"), "inspection.completed": N_("Inspection completed"),
    "inspection.results_adopted": N_("Results of the others adopted"),
    "declaration.released": N_("Released by the agency"), "declaration.release_revoked": N_("Release revoked"),
    "container.arrived": N_("Container discharged"), "container.released": N_("Container released by all agencies"),
    "container.release_revoked": N_("Container held again"), "container.gated_out": N_("Container left the port"),
}


def label_filters(language: str) -> dict[str, Callable[[Any], str]]:
    """Jinja filters ``status``, ``agency``, ``kind``, ``role``, ``event``, ``inspection_kind``, ``outcome``,
    ``document_kind`` in ``language``."""
    from onewindow.web.i18n import translations

    gettext = translations(language).gettext

    def translate(table: dict[str, str]) -> Callable[[Any], str]:
        def label(code: Any) -> str:
            text = table.get(str(code))
            return gettext(text) if text else str(code)
        return label

    return {"status": translate(STATUS), "agency": translate(AGENCY), "kind": translate(KIND),
            "role": translate(ROLE), "event": translate(EVENT), "inspection_kind": translate(INSPECTION_KIND),
            "outcome": translate(OUTCOME), "document_kind": translate(DOCUMENT_KIND)}
