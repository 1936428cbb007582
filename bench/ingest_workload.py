"""The ingest bench's workload: signed-message bodies in send order (new contacts, returning ones in other
formats, automatic links, cross-channel messages), and what the database must hold afterwards."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from bench._support import FIRST_NAMES, LAST_NAMES

TEXTS = [
    "Buongiorno, il mio ordine non è ancora arrivato.",
    "Salve, vorrei modificare l'indirizzo di consegna.",
    "Grazie per la risposta, ma il problema persiste.",
    "Hello, I was charged twice for the same invoice.",
    "Can I change my plan before the next billing cycle?",
    "Ho ricevuto un prodotto danneggiato, come posso fare il reso?",
    "Any update on my ticket? I wrote yesterday by email.",
    "Vi scrivo anche qui perché non ho ricevuto risposta.",
]
SUBJECTS = ["Ordine in ritardo", "Fattura", "Reso", "Account", None, None, None]


# --------------------------------------------------------------------------- workload


@dataclass
class PlannedContact:
    index: int
    name: str
    language: str
    email: str | None
    phone: str | None  # national digits after +39, e.g. "3471000001"
    external: str | None
    whatsapp: bool = False
    last_inbox: int = 0
    # Message index at which the email became known: a later message uses it alone only
    # once that message has (normally) been stored, as a real customer would.
    email_known_at: int = 0


@dataclass
class Workload:
    """Signed-message bodies in send order, and what the database must hold afterwards."""

    bodies: list[tuple[int, bytes]]  # (inbox index 0|1, JSON body)
    new_contacts: int
    returning: int
    cross_channel: int
    auto_links: int
    added_identities: int
    variant_formats: int


def build_workload(total: int, concurrency: int, seed: int, run_id: str) -> Workload:
    """A deterministic mix: ~35% new contacts, the rest returning ones, some on the other inbox.

    A returning message only picks a contact introduced at least 2×concurrency messages
    earlier, so its first message has (normally) been stored; the service must handle the
    rare overlap anyway (unique identities, row lock, retries).
    """
    rng = random.Random(seed)
    contacts: list[PlannedContact] = []
    introduced_at: list[int] = []
    bodies: list[tuple[int, bytes]] = []
    stats = {"new": 0, "returning": 0, "cross": 0, "auto": 0, "added": 0, "variant": 0}
    gap = 2 * concurrency
    for i in range(total):
        eligible = sum(1 for at in introduced_at if at <= i - gap)
        identities: list[dict[str, Any]]
        if eligible == 0 or rng.random() < 0.35:
            n = len(contacts)
            shape = rng.random()
            local = f"{FIRST_NAMES[n % len(FIRST_NAMES)]}.{LAST_NAMES[(n * 7) % len(LAST_NAMES)]}".lower().replace(
                " ", ""
            )
            email = f"{local}.{run_id}.{n}@example.com" if shape < 0.40 or shape >= 0.60 else None
            phone = f"347{1_000_000 + n:07d}" if 0.40 <= shape < 0.80 else None
            external = f"crm-{run_id}-{n}" if shape >= 0.85 else None
            contact = PlannedContact(
                n,
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                rng.choice(["it", "it", "en"]),
                email,
                phone,
                external,
                last_inbox=0 if rng.random() < 0.85 else 1,
            )
            contact.email_known_at = i
            contacts.append(contact)
            introduced_at.append(i)
            identities = []
            if email:
                identities.append({"kind": "email", "value": email})
            if phone:
                identities.append({"kind": "phone", "value": f"+39{phone}"})
            if external:
                identities.append({"kind": "external", "value": external})
            inbox = contact.last_inbox
            stats["new"] += 1
        else:
            # introduced_at is increasing, so the first `eligible` contacts are the eligible ones.
            contact = contacts[rng.randrange(eligible)]
            stats["returning"] += 1
            roll = rng.random()
            if roll < 0.05 and contact.phone and not contact.whatsapp:
                # The same number on WhatsApp: provably the same person, links automatically.
                identities = [{"kind": "whatsapp", "value": f"39{contact.phone}"}]
                contact.whatsapp = True
                stats["auto"] += 1
            elif roll < 0.08 and contact.email is None:
                # A known phone-only customer now also gives an email address.
                contact.email = f"added.{run_id}.{contact.index}@example.com"
                contact.email_known_at = i
                identities = (
                    [{"kind": "phone", "value": f"+39{contact.phone}"}, {"kind": "email", "value": contact.email}]
                    if contact.phone
                    else [{"kind": "external", "value": contact.external}, {"kind": "email", "value": contact.email}]
                )
                stats["added"] += 1
            else:
                known: list[dict[str, Any]] = []
                if contact.email and contact.email_known_at <= i - gap:
                    # Written differently each time: normalization must find the same identity.
                    variant = contact.email.upper() if rng.random() < 0.3 else contact.email
                    stats["variant"] += variant != contact.email
                    known.append({"kind": "email", "value": variant})
                if contact.phone:
                    national = rng.random() < 0.3
                    stats["variant"] += national
                    known.append(
                        {
                            "kind": "phone",
                            "value": f"{contact.phone[:3]} {contact.phone[3:]}" if national else f"+39{contact.phone}",
                        }
                    )
                if contact.whatsapp:
                    known.append({"kind": "whatsapp", "value": f"39{contact.phone}"})
                if contact.external:
                    known.append({"kind": "external", "value": contact.external})
                identities = [rng.choice(known)]
            inbox = contact.last_inbox
            if rng.random() < 0.06:
                inbox = 1 - inbox
                stats["cross"] += 1
            contact.last_inbox = inbox
        payload: dict[str, Any] = {
            "message_id": f"bench-{run_id}-{i}",
            "contact": {"name": contact.name, "language": contact.language, "identities": identities},
            "text": f"{rng.choice(TEXTS)} (#{i})",
        }
        subject = rng.choice(SUBJECTS)
        if subject:
            payload["subject"] = subject
        if rng.random() < 0.1:
            payload["attributes"] = {"order_id": f"ORD-{rng.randrange(10**6):06d}"}
        bodies.append((inbox, json.dumps(payload, separators=(",", ":")).encode()))
    return Workload(
        bodies, stats["new"], stats["returning"], stats["cross"], stats["auto"], stats["added"], stats["variant"]
    )
