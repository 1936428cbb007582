"""Demo data: a realistic Italian and English tenant, so the central record can be seen at once.

``load_demo`` creates the organization of a fictional Italian e-commerce shop (Bottega
Digitale) with an owner, an admin, a supervisor and 8 agents (Italian and English), 3
teams, inboxes on several channels, 200 contacts with identities on many channels (a few
of them likely duplicates, so merge suggestions exist) and 500 conversations over the
last 90 days, many of which switch channel mid-way.

How the history is made, and why:

- Every customer message goes through the real ingest service (``ingest_event``) with a
  normalized ``InboundEvent`` and an explicit ``now``, so identity resolution, the
  WhatsApp-to-phone automatic link, conversation continuity, reopening and the
  ``channel.switch`` timeline events are the product's own behaviour, not imitations.
- Agent replies and notes are written as ``Message`` rows (replies already ``sent``)
  with their timeline events; nothing is queued in the outbox, so loading the demo
  never sends anything.
- Backfilled rows must carry the time they happened, but several rows get their
  ``created_at`` from the wall clock (``records.add_timeline``, ``records.audit``, new
  contacts and identities). ``_HistoryClock`` stamps rows added to the session with the
  simulated time instead.
- Everything is drawn from ``random.Random(seed)``: the same seed gives the same
  people, texts and timings (only the opaque inbox identifiers and the wall-clock
  ``now`` differ between runs).
- The load is one transaction: either the whole demo exists or nothing does, so "the
  tenant slug exists" is a reliable sign that the demo is already loaded.

The API, email and web chat (``widget``) inboxes are created through
``services.inboxes.create_inbox``, so agents can answer on them: the email inbox has an
address but no IMAP/SMTP server until an admin sets one (a reply there fails with the
clear "no SMTP server configured" delivery error), the widget allows the demo's own
origin. The WhatsApp, SMS, Telegram and Messenger inboxes are created as plain ``Inbox``
rows so the history shows real channel switches; they have no channel module yet, and a
reply on them fails with the clear ``channel.not_installed`` error until the channel
issues land.

The email addresses use reserved ``example`` domains, but the Italian mobile numbers
and the Telegram and Messenger ids are random and may belong to real people: never
connect the demo tenant's inboxes to real providers.
"""

from __future__ import annotations

import random
import secrets
import struct
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.accounts.domain.roles import Role
from raccordo.accounts.services import accounts
from raccordo.channels.base import InboundAttachment, InboundEvent, InboundIdentity
from raccordo.channels.services.inboxes import create_inbox
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Conversation, ConversationLabel, Inbox, Message, Team, Tenant, User
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType, TimelineKind
from raccordo.record.services.identity import IdentityInput, resolve_contact
from raccordo.record.services.ingest import ingest_event
from raccordo.record.services.records import add_timeline, audit

DEMO_SLUG = "demo"
DEMO_PASSWORD = "raccordo-demo"
CONTACT_COUNT = 200
CONVERSATION_COUNT = 500
HISTORY_DAYS = 90
# Longer than the tenant's reopen window (7 days), so a contact's next conversation is a new one.
GAP_BETWEEN_CONVERSATIONS = timedelta(days=8)
MAX_CONVERSATIONS_PER_CONTACT = 4
DUPLICATE_PAIRS = 8


@dataclass
class DemoLogins:
    tenant_slug: str
    users: list[tuple[str, str, str]]  # (role, email, password)


# --- the organization --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Staff:
    name: str
    role: str
    language: str
    teams: tuple[str, ...] = ()

    def email(self, slug: str) -> str:
        return f"{_ascii_slug(self.name, '.')}@{slug}.example"


CARE, BILLING, TECH = "Assistenza clienti", "Fatturazione", "Supporto tecnico"
TEAM_DESCRIPTIONS = {
    CARE: "Ordini, spedizioni, resi e rimborsi / Orders, deliveries, returns and refunds",
    BILLING: "Fatture, pagamenti e note di credito / Invoices, payments and credit notes",
    TECH: "Prodotti, app e account / Products, app and accounts",
}
STAFF = (
    _Staff("Alessandra Conti", "owner", "it"),
    _Staff("Paolo Greco", "admin", "it"),
    _Staff("Sarah Mitchell", "supervisor", "en"),
    _Staff("Giulia Romano", "agent", "it", (CARE,)),
    _Staff("Luca Esposito", "agent", "it", (CARE, TECH)),
    _Staff("Francesca Ricci", "agent", "it", (BILLING,)),
    _Staff("Matteo Colombo", "agent", "it", (TECH,)),
    _Staff("Chiara Marino", "agent", "it", (BILLING, CARE)),
    _Staff("Emily Carter", "agent", "en", (CARE,)),
    _Staff("James Wilson", "agent", "en", (BILLING, TECH)),
    _Staff("Olivia Bennett", "agent", "en", (TECH, CARE)),
)
# Channel kind -> inbox name. "api", "email" and "widget" are created through the inbox service; the others are history-only rows.
INBOX_NAMES = {
    "api": "App e sito (API)",
    "email": "Email assistenza",
    "whatsapp": "WhatsApp",
    "sms": "SMS",
    "widget": "Chat sito web",
    "telegram": "Telegram",
    "messenger": "Messenger",
}
# The identity a message on each channel carries, and replies on it are addressed to.
CHANNEL_IDENTITY = {"email": "email", "whatsapp": "whatsapp", "sms": "phone", "widget": "web_visitor", "telegram": "telegram", "messenger": "messenger", "api": "external"}


# --- people and places ---------------------------------------------------------------------------------

IT_FIRST = (
    "Marco", "Giulia", "Alessandro", "Francesca", "Lorenzo", "Sofia", "Andrea", "Chiara", "Matteo", "Martina", "Davide", "Sara",
    "Federico", "Elena", "Simone", "Valentina", "Nicolò", "Alessia", "Riccardo", "Beatrice", "Stefano", "Ilaria", "Gabriele", "Silvia",
    "Tommaso", "Laura", "Antonio", "Paola", "Giuseppe", "Roberta", "Fabio", "Anna", "Salvatore", "Rosa", "Emanuele", "Noemi",
)
IT_LAST = (
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo",
    "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani",
    "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile", "Martinelli", "Vitale", "D'Angelo", "Serra",
)
EN_FIRST = ("James", "Emma", "Oliver", "Charlotte", "Harry", "Amelia", "George", "Isla", "Jack", "Grace", "Thomas", "Lucy", "William", "Hannah", "Daniel", "Chloe")
EN_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans", "Walker", "Wright", "Thompson", "Hughes", "Clarke", "Hall", "Turner")
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "posta.example.org", "studio.example.net")
CITIES = ("Milano", "Roma", "Torino", "Napoli", "Bologna", "Firenze", "Genova", "Verona", "Bari", "Palermo", "Padova", "Trieste", "Brescia", "Parma")
MOBILE_PREFIXES = ("320", "324", "327", "328", "329", "330", "331", "333", "334", "335", "338", "339", "340", "342", "345", "346", "347", "348", "349", "350", "351", "366", "368", "380", "388", "389", "391", "392", "393")
TIERS = ("bronze", "silver", "gold", "platinum")
COMPANY_KINDS = ("Impianti", "Servizi", "Consulting", "Costruzioni", "Design", "Trasporti")
PRODUCTS = (
    ("router Wi-Fi 6", "Wi-Fi 6 router"), ("robot aspirapolvere", "robot vacuum cleaner"), ("monitor da 27 pollici", "27-inch monitor"),
    ("forno a microonde", "microwave oven"), ("frullatore", "blender"), ("tablet da 10 pollici", "10-inch tablet"),
    ("condizionatore portatile", "portable air conditioner"), ("televisore 55 pollici", "55-inch TV"), ("deumidificatore", "dehumidifier"),
    ("ferro da stiro a vapore", "steam iron"), ("tostapane", "toaster"), ("videocitofono", "video doorbell"),
)
IT_MONTHS = ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre")
EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


# --- what customers and agents write ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    """One request and how it goes: the opening message, the first answer, then (customer, agent) exchanges."""

    opener: str
    answer: str
    exchanges: tuple[tuple[str, str], ...]
    evidence: str | None = None  # a customer message that carries the topic's attachment


@dataclass(frozen=True)
class _Topic:
    team: str
    labels: tuple[str, ...]
    subject: dict[str, str]
    ref: dict[str, str]  # how the customer refers back to the request
    cases: dict[str, tuple[_Case, ...]]
    evidence_file: tuple[str, str]  # (filename, content type)
    ask: dict[str, str]  # the agent asks for something and waits (status pending)
    notes: dict[str, tuple[str, ...]]  # in the agent's language


TOPICS: dict[str, _Topic] = {
    "delivery": _Topic(
        team=CARE,
        labels=("spedizione",),
        subject={"it": "Ordine {order} non ancora arrivato", "en": "Order {order} has not arrived yet"},
        ref={"it": "l'ordine {order}", "en": "order {order}"},
        cases={
            "it": (
                _Case(
                    "Buongiorno, ho ordinato un {product} il {date} (ordine {order}) ma non è ancora arrivato. Potete dirmi dov'è?",
                    "Buongiorno {first}, sono {agent}. Ho verificato l'ordine {order}: il pacco è fermo al centro di smistamento di Bologna per un ritardo del corriere. La consegna è prevista entro 48 ore, il tracking è {tracking}.",
                    (
                        ("Il tracking {tracking} però sul sito del corriere non risulta.", "Il corriere aggiorna il sistema solo dopo la prima scansione: dovrebbe comparire entro stasera."),
                        ("Ok, ora lo vedo: arriva domani in mattinata.", "Perfetto! Se domani non dovesse arrivare ci scriva pure qui."),
                    ),
                ),
                _Case(
                    "Salve, il tracking dell'ordine {order} è fermo da tre giorni su \"in transito\". È normale?",
                    "Ciao {first}, non è normale: ho aperto una segnalazione con il corriere per l'ordine {order}. Ti aggiorno appena ho una risposta.",
                    (
                        ("Grazie. Se non arriva entro venerdì preferisco annullare.", "Capito. Se entro venerdì non si sblocca ti rimborsiamo l'intero importo, {amount}, senza bisogno di altre richieste."),
                        ("Avete notizie dal corriere?", "Sì: il pacco era stato smistato per errore a Napoli, è ripartito stamattina e arriva domani."),
                    ),
                ),
                _Case(
                    "Ciao, quando arriva l'ordine {order}? Martedì non sono a casa.",
                    "Ciao {first}, la consegna è prevista proprio martedì. Vuoi spostarla o preferisci indicarci un altro indirizzo?",
                    (
                        ("Potete consegnarlo in ufficio? Via Garibaldi 12, {city}, dalle 9 alle 18.", "Fatto: ho aggiornato l'indirizzo di consegna. Il corriere ti manderà un SMS la mattina stessa."),
                        ("Mi è arrivato l'SMS, grazie!", "Ottimo, allora è tutto a posto."),
                    ),
                ),
                _Case(
                    "Buonasera, il corriere dice di aver tentato la consegna dell'ordine {order}, ma io ero in casa tutto il giorno.",
                    "Buonasera {first}, mi scuso per il disagio. Ho chiesto al corriere di riprogrammare la consegna per domani: riceverà un SMS con la fascia oraria.",
                    (
                        ("Il citofono funziona, non capisco cosa sia successo.", "Ho inoltrato un reclamo al corriere, rif. {ticket}, e ho aggiunto nelle note di consegna di chiamarla prima di arrivare."),
                        ("Oggi è passato e ho ritirato il pacco.", "Benissimo, grazie per avercelo fatto sapere."),
                    ),
                    evidence="Vi mando la foto dell'avviso di mancata consegna che ho trovato nella buca delle lettere.",
                ),
            ),
            "en": (
                _Case(
                    "Hi, I ordered a {product} on {date} (order {order}) and it still hasn't arrived. Can you tell me where it is?",
                    "Hello {first}, this is {agent}. I've checked order {order}: the parcel is held at the Bologna sorting centre because of a courier delay. It should be delivered within 48 hours; the tracking number is {tracking}.",
                    (
                        ("The tracking number {tracking} doesn't show up on the courier's website though.", "The courier only updates its system after the first scan: it should appear by this evening."),
                        ("OK, I can see it now: it's arriving tomorrow morning.", "Great! If it doesn't arrive tomorrow, just message us here."),
                    ),
                ),
                _Case(
                    "Hello, tracking for order {order} has been stuck on \"in transit\" for three days. Is that normal?",
                    "Hi {first}, that's not normal: I've opened a claim with the courier for order {order}. I'll update you as soon as I hear back.",
                    (
                        ("Thanks. If it doesn't arrive by Friday I'd rather cancel.", "Understood. If it's still stuck on Friday we'll refund the full {amount} without you having to ask again."),
                        ("Any news from the courier?", "Yes: the parcel was sent to Naples by mistake; it left again this morning and arrives tomorrow."),
                    ),
                ),
                _Case(
                    "Hi there, when will order {order} be delivered? I'm not home on Tuesday.",
                    "Hi {first}, delivery is planned for Tuesday. Would you like to move it, or give us another address?",
                    (
                        ("Can you deliver it to my office? Via Garibaldi 12, {city}, 9am to 6pm.", "Done: I've updated the delivery address. The courier will text you that morning."),
                        ("Got the text, thanks!", "Great, you're all set then."),
                    ),
                ),
                _Case(
                    "Good evening, the courier says they tried to deliver order {order}, but I was at home all day.",
                    "Good evening {first}, I'm sorry about that. I've asked the courier to rebook the delivery for tomorrow: you'll get a text with the time slot.",
                    (
                        ("The buzzer works fine, I don't understand what happened.", "I've filed a complaint with the courier, ref. {ticket}, and added a note asking them to call you before arriving."),
                        ("They came today and I've got the parcel.", "Excellent, thanks for letting us know."),
                    ),
                    evidence="Here's a photo of the missed-delivery card I found in my letterbox.",
                ),
            ),
        },
        evidence_file=("avviso_corriere.png", "image/png"),
        ask={
            "it": "Per procedere mi conferma l'indirizzo completo di consegna e un numero di telefono per il corriere?",
            "en": "To go ahead, could you confirm the full delivery address and a phone number for the courier?",
        },
        notes={
            "it": ("Aperta segnalazione al corriere, rif. {ticket}.", "Verificato lo stato della spedizione sul portale del corriere."),
            "en": ("Opened a claim with the courier, ref. {ticket}.", "Checked the shipment status on the courier's portal."),
        },
    ),
    "billing": _Topic(
        team=BILLING,
        labels=("fatturazione",),
        subject={"it": "Problema con la fattura {invoice}", "en": "Problem with invoice {invoice}"},
        ref={"it": "la fattura {invoice}", "en": "invoice {invoice}"},
        cases={
            "it": (
                _Case(
                    "Buongiorno, nella fattura {invoice} manca la partita IVA della mia azienda. Potete riemetterla?",
                    "Buongiorno {first}, sono {agent} dell'amministrazione. Certo: mi indica ragione sociale, partita IVA e codice destinatario SDI?",
                    (
                        ("Ragione sociale {company}, partita IVA IT{vat}, codice SDI {sdi}.", "Grazie, ho riemesso la fattura {invoice} con i dati corretti: la trova nell'area clienti e le arriverà anche tramite SDI."),
                        ("Ricevuta, ora è corretta.", "Perfetto, la fattura precedente è stata annullata con una nota di credito."),
                    ),
                ),
                _Case(
                    "Salve, mi avete addebitato due volte {amount} per lo stesso ordine {order}. Come posso avere il rimborso?",
                    "Buongiorno {first}, ho verificato: il secondo addebito di {amount} è una preautorizzazione e verrà stornato automaticamente entro 5 giorni lavorativi.",
                    (
                        ("Sono passati sette giorni e l'addebito è ancora lì.", "Ha ragione, mi scusi: era un doppio incasso. Ho disposto il rimborso di {amount}, lo vedrà sulla carta entro 5-7 giorni lavorativi."),
                        ("Va bene, attendo allora.", "Le ho inviato per email anche la ricevuta del rimborso."),
                    ),
                    evidence="Vi allego l'estratto conto: risultano due addebiti, non una preautorizzazione.",
                ),
                _Case(
                    "Buongiorno, avrei bisogno della fattura intestata alla società per l'ordine {order}.",
                    "Buongiorno {first}, nessun problema: mi servono ragione sociale, partita IVA e codice SDI o PEC.",
                    (
                        ("È {company}, partita IVA IT{vat}, codice SDI {sdi}.", "Grazie, la fattura per l'ordine {order} è stata emessa e inviata allo SDI."),
                        ("Per i prossimi ordini posso averla in automatico?", "Sì: ho salvato i dati di fatturazione nel suo profilo, d'ora in poi la fattura sarà emessa in automatico."),
                    ),
                ),
                _Case(
                    "Ciao, l'importo addebitato sulla carta ({amount}) non corrisponde al totale dell'ordine {order}.",
                    "Ciao {first}, la differenza riguarda le spese di spedizione espressa, che nel riepilogo dell'ordine non erano evidenziate. Mi dispiace per la confusione.",
                    (
                        ("Ma io avevo scelto la spedizione standard!", "Hai ragione, c'è stato un errore nel carrello: ti ho emesso una nota di credito per la differenza."),
                        ("Quando vedrò il rimborso?", "Entro 5-7 giorni lavorativi, sullo stesso metodo di pagamento."),
                    ),
                ),
            ),
            "en": (
                _Case(
                    "Hello, invoice {invoice} is missing my company's VAT number. Could you issue it again?",
                    "Hello {first}, this is {agent} from accounts. Of course: could you send me the company name, VAT number and SDI recipient code?",
                    (
                        ("Company name {company}, VAT number IT{vat}, SDI code {sdi}.", "Thanks, I've reissued invoice {invoice} with the right details: it's in your account area and will also reach you through SDI."),
                        ("Got it, it's correct now.", "Great, the old invoice has been cancelled with a credit note."),
                    ),
                ),
                _Case(
                    "Hi, I've been charged {amount} twice for the same order {order}. How do I get a refund?",
                    "Hello {first}, I've checked: the second charge of {amount} is a pre-authorisation and will be released automatically within 5 working days.",
                    (
                        ("It's been seven days and the charge is still there.", "You're right, I'm sorry: it was a double charge. I've issued a refund of {amount}; you'll see it on your card within 5-7 working days."),
                        ("OK, I'll wait then.", "I've also emailed you the refund receipt."),
                    ),
                    evidence="I'm attaching my bank statement: there are two charges, not a pre-authorisation.",
                ),
                _Case(
                    "Hello, I need the invoice for order {order} made out to my company.",
                    "Hello {first}, no problem: I need the company name, VAT number and SDI code or certified email address.",
                    (
                        ("It's {company}, VAT number IT{vat}, SDI code {sdi}.", "Thanks, the invoice for order {order} has been issued and sent through SDI."),
                        ("Can I get it automatically for future orders?", "Yes: I've saved the billing details in your profile, so future invoices will be issued automatically."),
                    ),
                ),
                _Case(
                    "Hi, the amount charged to my card ({amount}) doesn't match the total of order {order}.",
                    "Hi {first}, the difference is the express shipping fee, which wasn't shown clearly in the order summary. Sorry for the confusion.",
                    (
                        ("But I chose standard shipping!", "You're right, there was a bug in the basket: I've issued a credit note for the difference."),
                        ("When will I see the refund?", "Within 5-7 working days, on the same payment method."),
                    ),
                ),
            ),
        },
        evidence_file=("estratto_conto.png", "image/png"),
        ask={
            "it": "Mi può indicare ragione sociale, partita IVA e codice destinatario SDI (o PEC)?",
            "en": "Could you send me the company name, VAT number and SDI recipient code (or certified email address)?",
        },
        notes={
            "it": ("Controllato l'ordine {order} sul gestionale: importi e dati di fatturazione verificati.", "Pratica segnalata alla contabilità per la chiusura del mese."),
            "en": ("Checked order {order} in the ERP: amounts and billing details verified.", "Flagged to accounting for the month-end close."),
        },
    ),
    "returns": _Topic(
        team=CARE,
        labels=("reso", "rimborso"),
        subject={"it": "Reso ordine {order}", "en": "Return for order {order}"},
        ref={"it": "il reso dell'ordine {order}", "en": "the return for order {order}"},
        cases={
            "it": (
                _Case(
                    "Salve, il {product} dell'ordine {order} è arrivato con la scatola rotta e non si accende. Vorrei fare il reso.",
                    "Ciao {first}, mi dispiace molto. Ti ho inviato via email l'etichetta prepagata per il reso dell'ordine {order}: il ritiro è gratuito.",
                    (
                        ("Preferisco il rimborso piuttosto che la sostituzione.", "Nessun problema: il rimborso di {amount} partirà appena il magazzino riceve il pacco."),
                        ("Il corriere è passato a ritirarlo stamattina.", "Perfetto, il reso risulta in viaggio verso il nostro magazzino."),
                    ),
                    evidence="Vi mando la foto del pacco danneggiato.",
                ),
                _Case(
                    "Buongiorno, vorrei restituire il {product}: non è quello che mi aspettavo. Sono ancora nei 30 giorni?",
                    "Buongiorno {first}, sì: l'ordine {order} è stato consegnato da meno di 30 giorni, quindi può restituirlo gratuitamente. Le ho mandato le istruzioni per email.",
                    (
                        ("Il ritiro può passare di mattina? Il pomeriggio lavoro.", "Certo, ho prenotato il ritiro per domani tra le 9 e le 13."),
                        ("Il codice di tracciamento del reso è {tracking}, giusto?", "Esatto, con quel codice può seguire il reso sul sito del corriere."),
                    ),
                ),
                _Case(
                    "Ciao, ho spedito il reso dell'ordine {order} dieci giorni fa ma non ho ancora ricevuto il rimborso.",
                    "Ciao {first}, ho verificato: il reso è arrivato al magazzino ieri e il rimborso di {amount} è stato disposto oggi.",
                    (
                        ("Tra quanto lo vedo sul conto?", "Di solito in 3-5 giorni lavorativi, dipende dalla banca."),
                        ("Arrivato, grazie.", "Benissimo, grazie a te per la pazienza."),
                    ),
                ),
                _Case(
                    "Mi è arrivato un colore diverso da quello ordinato (ordine {order}), posso cambiarlo?",
                    "Ciao {first}, scusa per l'errore! Ho predisposto la sostituzione del {product}: il nuovo pacco parte domani e il corriere ritirerà quello sbagliato alla consegna.",
                    (
                        ("Va bene, basta che arrivi entro la settimana prossima.", "Arriverà entro giovedì: ti ho mandato il tracking {tracking} per email."),
                        ("Devo rimettere quello vecchio nella sua scatola?", "Sì, se possibile nella scatola originale; l'etichetta la porta il corriere."),
                    ),
                ),
            ),
            "en": (
                _Case(
                    "Hello, the {product} from order {order} arrived with a crushed box and won't switch on. I'd like to return it.",
                    "Hi {first}, I'm really sorry. I've emailed you a prepaid label for the return of order {order}: the pickup is free.",
                    (
                        ("I'd rather have a refund than a replacement.", "No problem: the refund of {amount} will go out as soon as the warehouse receives the parcel."),
                        ("The courier picked it up this morning.", "Great, the return is on its way to our warehouse."),
                    ),
                    evidence="Here's a photo of the damaged parcel.",
                ),
                _Case(
                    "Hi, I'd like to return the {product}: it's not what I expected. Am I still within the 30 days?",
                    "Hello {first}, yes: order {order} was delivered less than 30 days ago, so you can return it for free. I've emailed you the instructions.",
                    (
                        ("Can the pickup be in the morning? I work in the afternoons.", "Of course, I've booked the pickup for tomorrow between 9am and 1pm."),
                        ("The tracking code for the return is {tracking}, right?", "That's right, you can follow the return on the courier's website with it."),
                    ),
                ),
                _Case(
                    "Hi, I sent back the return for order {order} ten days ago but haven't had the refund yet.",
                    "Hi {first}, I've checked: the return reached our warehouse yesterday and the refund of {amount} was issued today.",
                    (
                        ("How long until it shows in my account?", "Usually 3-5 working days, depending on your bank."),
                        ("It's arrived, thanks.", "Great, thank you for your patience."),
                    ),
                ),
                _Case(
                    "I received a different colour from the one I ordered (order {order}). Can I exchange it?",
                    "Hi {first}, sorry about the mix-up! I've arranged a replacement {product}: it ships tomorrow and the courier will collect the wrong one on delivery.",
                    (
                        ("OK, as long as it arrives by next week.", "It will arrive by Thursday: I've emailed you the tracking number {tracking}."),
                        ("Should I put the old one back in its box?", "Yes, in the original box if possible; the courier brings the label."),
                    ),
                ),
            ),
        },
        evidence_file=("foto_pacco.png", "image/png"),
        ask={
            "it": "Per autorizzare il reso mi può mandare una foto del prodotto e dell'imballo?",
            "en": "To authorise the return, could you send me a photo of the product and its packaging?",
        },
        notes={
            "it": ("Reso autorizzato, RMA {ticket}, ritiro a carico nostro.", "Aggiornata la scheda del reso sul gestionale del magazzino."),
            "en": ("Return authorised, RMA {ticket}, pickup at our expense.", "Updated the return record in the warehouse system."),
        },
    ),
    "technical": _Topic(
        team=TECH,
        labels=("tecnico",),
        subject={"it": "Problema tecnico: {product}", "en": "Technical problem: {product}"},
        ref={"it": "il problema con il {product}", "en": "the problem with my {product}"},
        cases={
            "it": (
                _Case(
                    "Buongiorno, il {product} non si connette più al Wi-Fi dopo l'ultimo aggiornamento.",
                    "Buongiorno {first}, sono {agent} del supporto tecnico. È un problema noto del firmware 2.4: la versione 2.4.1 lo corregge. Può aggiornare da Impostazioni > Sistema?",
                    (
                        ("Non trovo la voce Sistema nel menu.", "Deve prima collegarlo con il cavo di rete: la voce compare solo quando il dispositivo è online."),
                        ("Fatto, aggiornato: ora si collega di nuovo.", "Ottimo! L'aggiornamento risolve anche i problemi di stabilità segnalati in queste settimane."),
                    ),
                ),
                _Case(
                    "Salve, l'app continua a darmi \"errore 503\" quando provo ad accedere.",
                    "Ciao {first}, stiamo verificando un disservizio sui nostri server. Riesci a riprovare tra qualche minuto?",
                    (
                        ("Ho riprovato adesso, stesso errore.", "Grazie per la conferma: ho passato il problema agli sviluppatori con priorità alta."),
                        ("Ora funziona!", "Confermo, il servizio è stato ripristinato pochi minuti fa. Scusa per il disagio."),
                    ),
                    evidence="Vi allego il log dell'errore.",
                ),
                _Case(
                    "Ciao, il {product} si spegne da solo dopo pochi minuti. È ancora in garanzia (ordine {order}).",
                    "Ciao {first}, mi dispiace. Mi puoi dare il numero di serie? Lo trovi sull'etichetta sotto la base.",
                    (
                        ("Il numero di serie è SN{serial}.", "Grazie: il prodotto è in garanzia. Ho aperto una pratica di assistenza, rif. {ticket}, e un corriere passerà a ritirarlo."),
                        ("Quanto ci vuole per la riparazione?", "Di solito 10 giorni lavorativi dal ritiro; se non è riparabile ti mandiamo un prodotto nuovo."),
                    ),
                ),
                _Case(
                    "Buonasera, non riesco ad abbinare il {product} allo smartphone: la luce lampeggia rossa.",
                    "Buonasera {first}, provi a tenere premuto il tasto di reset per 10 secondi e poi a ripetere l'abbinamento dall'app.",
                    (
                        ("Ho già provato a riavviarlo e a fare il reset, niente da fare.", "Allora aggiorni l'app: la versione 5.2 aveva un problema con l'abbinamento, la 5.2.1 lo corregge."),
                        ("Con l'app aggiornata funziona, grazie.", "Perfetto, grazie a lei per la pazienza."),
                    ),
                ),
            ),
            "en": (
                _Case(
                    "Hello, the {product} stopped connecting to Wi-Fi after the last update.",
                    "Hello {first}, this is {agent} from technical support. It's a known issue with firmware 2.4: version 2.4.1 fixes it. Could you update from Settings > System?",
                    (
                        ("I can't find System in the menu.", "Connect it with a network cable first: that menu only appears when the device is online."),
                        ("Done, updated: it connects again.", "Great! The update also fixes the stability issues reported over the last few weeks."),
                    ),
                ),
                _Case(
                    "Hi, the app keeps showing \"error 503\" when I try to log in.",
                    "Hi {first}, we're looking into an outage on our servers. Could you try again in a few minutes?",
                    (
                        ("Just tried again, same error.", "Thanks for confirming: I've passed it to the developers as high priority."),
                        ("It works now!", "Confirmed, the service was restored a few minutes ago. Sorry for the trouble."),
                    ),
                    evidence="I'm attaching the error log.",
                ),
                _Case(
                    "Hi, the {product} switches itself off after a few minutes. It's still under warranty (order {order}).",
                    "Hi {first}, sorry to hear that. Could you give me the serial number? It's on the label under the base.",
                    (
                        ("The serial number is SN{serial}.", "Thanks: it's under warranty. I've opened a repair case, ref. {ticket}, and a courier will collect it."),
                        ("How long does the repair take?", "Usually 10 working days from pickup; if it can't be repaired we'll send you a new one."),
                    ),
                ),
                _Case(
                    "Good evening, I can't pair the {product} with my phone: the light keeps flashing red.",
                    "Good evening {first}, try holding the reset button for 10 seconds, then pair it again from the app.",
                    (
                        ("I've already tried restarting and resetting it, no luck.", "Then please update the app: version 5.2 had a pairing bug that 5.2.1 fixes."),
                        ("With the updated app it works, thanks.", "Great, thank you for your patience."),
                    ),
                ),
            ),
        },
        evidence_file=("log_errore.txt", "text/plain"),
        ask={
            "it": "Può dirmi il numero di serie (lo trova sotto la base) e la versione dell'app che usa?",
            "en": "Could you tell me the serial number (it's under the base) and which version of the app you're using?",
        },
        notes={
            "it": ("Aperto ticket di secondo livello {ticket} con il fornitore.", "Caso simile ad altri segnalati questa settimana: avvisato il responsabile di prodotto."),
            "en": ("Opened second-level ticket {ticket} with the manufacturer.", "Similar to other cases reported this week: product manager informed."),
        },
    ),
    "account": _Topic(
        team=TECH,
        labels=("account",),
        subject={"it": "Accesso all'account", "en": "Account access"},
        ref={"it": "il mio account", "en": "my account"},
        cases={
            "it": (
                _Case(
                    "Non riesco più ad accedere al mio account: il link per reimpostare la password non arriva.",
                    "Ciao {first}, ti ho inviato un nuovo link per reimpostare la password: è valido 30 minuti. Controlla anche nello spam.",
                    (
                        ("Ho controllato anche nello spam, niente.", "Il tuo provider bloccava le nostre email: ti ho mandato il link da un altro indirizzo, dovrebbe arrivare ora."),
                        ("Arrivato, ho cambiato la password.", "Perfetto, ora puoi accedere normalmente."),
                    ),
                ),
                _Case(
                    "Buongiorno, vorrei cambiare l'email associata al mio account.",
                    "Buongiorno {first}, per verificare la sua identità mi indica la data dell'ultimo ordine e le ultime 4 cifre della carta usata?",
                    (
                        ("L'ultimo ordine è del {date}, la carta finisce con {card}.", "Grazie, identità verificata. Qual è il nuovo indirizzo email?"),
                        ("È {new_email}.", "Fatto: ho aggiornato l'email dell'account, riceverà una conferma al nuovo indirizzo."),
                    ),
                ),
                _Case(
                    "Salve, vorrei cancellare il mio account e i miei dati. Come devo fare?",
                    "Buongiorno {first}, posso registrare io la richiesta. Gli ordini in corso vanno prima completati: ne ha qualcuno aperto?",
                    (
                        ("No, nessun ordine in corso.", "Bene: la richiesta di cancellazione è registrata, rif. {ticket}. I dati saranno eliminati entro 30 giorni, come previsto dal GDPR."),
                        ("Riceverò una conferma?", "Sì, riceverà un'email di conferma a cancellazione avvenuta."),
                    ),
                ),
                _Case(
                    "Ho ricevuto un avviso di accesso al mio account da un dispositivo che non conosco. È normale?",
                    "Ciao {first}, per sicurezza ho chiuso tutte le sessioni attive. Imposta una nuova password e attiva la verifica in due passaggi.",
                    (
                        ("Fatto, ho cambiato la password.", "Bene. Ho controllato gli ordini: non risultano acquisti che non hai fatto tu."),
                        ("Come attivo la verifica in due passaggi?", "Da Profilo > Sicurezza > Verifica in due passaggi: ti basta il numero di cellulare."),
                    ),
                    evidence="Vi allego lo screenshot dell'avviso.",
                ),
            ),
            "en": (
                _Case(
                    "I can't log in to my account any more: the password reset link never arrives.",
                    "Hi {first}, I've sent you a new password reset link: it's valid for 30 minutes. Please check your spam folder too.",
                    (
                        ("I've checked the spam folder too, nothing.", "Your provider was blocking our emails: I've sent the link from another address, it should arrive now."),
                        ("Got it, I've changed the password.", "Great, you can log in as usual now."),
                    ),
                ),
                _Case(
                    "Hello, I'd like to change the email address on my account.",
                    "Hello {first}, to verify your identity, could you tell me the date of your last order and the last 4 digits of the card you used?",
                    (
                        ("My last order was on {date}, the card ends in {card}.", "Thanks, identity verified. What's the new email address?"),
                        ("It's {new_email}.", "Done: I've updated your account email, you'll get a confirmation at the new address."),
                    ),
                ),
                _Case(
                    "Hi, I'd like to delete my account and my data. How do I do that?",
                    "Hello {first}, I can register the request for you. Any orders in progress need to be completed first: do you have any open?",
                    (
                        ("No, nothing in progress.", "Good: your deletion request is registered, ref. {ticket}. Your data will be erased within 30 days, as the GDPR requires."),
                        ("Will I get a confirmation?", "Yes, you'll get an email once the deletion is done."),
                    ),
                ),
                _Case(
                    "I got a sign-in alert for my account from a device I don't recognise. Is that normal?",
                    "Hi {first}, to be safe I've signed out all active sessions. Please set a new password and turn on two-step verification.",
                    (
                        ("Done, I've changed the password.", "Good. I've checked your orders: there are no purchases you didn't make."),
                        ("How do I turn on two-step verification?", "Under Profile > Security > Two-step verification: all you need is your mobile number."),
                    ),
                    evidence="I'm attaching a screenshot of the alert.",
                ),
            ),
        },
        evidence_file=("screenshot.png", "image/png"),
        ask={
            "it": "Per verificare la sua identità mi indica la data dell'ultimo ordine e le ultime 4 cifre della carta usata?",
            "en": "To verify your identity, could you tell me the date of your last order and the last 4 digits of the card you used?",
        },
        notes={
            "it": ("Identità del cliente verificata prima di procedere.", "Operazione annotata nel registro delle richieste privacy, rif. {ticket}."),
            "en": ("Customer identity verified before going ahead.", "Logged in the privacy requests register, ref. {ticket}."),
        },
    ),
}
TOPIC_WEIGHTS = {"delivery": 30, "billing": 18, "returns": 22, "technical": 20, "account": 10}

# How customers say which channel they wrote on before (used when a conversation switches channel).
CHANNEL_VIA = {
    "it": {"email": "per email", "whatsapp": "su WhatsApp", "sms": "via SMS", "widget": "sulla chat del sito", "telegram": "su Telegram", "messenger": "su Messenger", "api": "dall'app"},
    "en": {"email": "by email", "whatsapp": "on WhatsApp", "sms": "by text", "widget": "on the website chat", "telegram": "on Telegram", "messenger": "on Messenger", "api": "through the app"},
}
SWITCH = {
    "it": (
        "Vi scrivo qui perché è più comodo: vi avevo scritto {prev_via} per {ref}.",
        "Ciao, sono {full_name}: vi avevo contattato {prev_via} per {ref}.",
        "Riprendo qui la conversazione iniziata {prev_via}, per {ref}.",
        "Vi scrivo da qui perché sono fuori casa, è sempre per {ref}.",
    ),
    "en": (
        "Writing here as it's easier: I contacted you {prev_via} about {ref}.",
        "Hi, it's {full_name}: I got in touch {prev_via} about {ref}.",
        "Picking up here the conversation I started {prev_via}, about {ref}.",
        "Writing from here as I'm out and about, still about {ref}.",
    ),
}
CHASE = {
    "it": ("Ci sono novità?", "Non ancora, {first}: sto aspettando un riscontro dal reparto competente e ti aggiorno entro domani."),
    "en": ("Any news?", "Not yet, {first}: I'm waiting to hear back from the team in charge and will update you by tomorrow."),
}
THANKS = {
    "it": ("Grazie mille, gentilissimi!", "Perfetto, ricevuto. Grazie!", "Tutto risolto, grazie per l'aiuto.", "Ok grazie, buona giornata."),
    "en": ("Thank you so much!", "Perfect, got it. Thanks!", "All sorted, thanks for your help.", "OK thanks, have a good day."),
}
CLOSING = {
    "it": ("Grazie a voi, {first}! Chiudo la richiesta: per qualsiasi cosa siamo qui.", "Perfetto {first}, segno la pratica come risolta. Buona giornata!", "Bene {first}, allora chiudo la pratica. Buona serata!"),
    "en": ("Thank you, {first}! I'll close this request: we're here if you need anything.", "Glad that's sorted, {first}. Have a great day!", "Great, {first}, I'll mark this as resolved. Have a nice evening!"),
}
REOPEN = {
    "it": (
        ("Scusate, vi riscrivo: il problema si è ripresentato.", "Mi dispiace, {first}: riapro la pratica e la seguo personalmente."),
        ("Ciao di nuovo, in realtà {ref} non è ancora sistemato.", "Grazie per avercelo segnalato, {first}: ho riaperto la richiesta e verifico subito."),
    ),
    "en": (
        ("Sorry to write again: the problem is back.", "I'm sorry, {first}: I'm reopening the case and will follow it myself."),
        ("Hi again, actually {ref} still isn't sorted.", "Thanks for letting us know, {first}: I've reopened the request and am checking now."),
    ),
}
SNOOZE_NOTE = {
    "it": ("Il cliente richiama lunedì: riprendere la pratica.", "In attesa della risposta del fornitore, ricontrollare tra due giorni."),
    "en": ("Customer will call back on Monday: pick this up again then.", "Waiting for the supplier's answer, check again in two days."),
}


# --- planning (pure: random choices only, no database) ------------------------------------------------


@dataclass
class _ContactPlan:
    index: int
    name: str
    first_name: str  # how agents greet them
    language: str
    identities: dict[str, str]  # kind -> value, created with the contact
    whatsapp_on_phone: bool  # writes on WhatsApp from the phone number: linked automatically on the first message
    attributes: dict[str, Any]
    consent: dict[str, Any]
    created_at: datetime

    def channels(self) -> list[str]:
        """The channels this contact can write on, from the identities it has."""
        kinds = set(self.identities)
        if self.whatsapp_on_phone:
            kinds.add("whatsapp")
        return [channel for channel, kind in CHANNEL_IDENTITY.items() if kind in kinds]

    def identity_for(self, channel: str) -> tuple[str, str]:
        kind = CHANNEL_IDENTITY[channel]
        if kind == "whatsapp" and "whatsapp" not in self.identities:
            return kind, self.identities["phone"]
        return kind, self.identities[kind]


@dataclass
class _Step:
    """One thing that happens in a conversation, ``offset`` after its first message."""

    offset: timedelta
    action: str  # inbound, reply, note, assign, status
    text: str = ""
    channel: str | None = None
    agent: int | None = None  # index into STAFF
    status: str | None = None
    attachment: tuple[str, str] | None = None
    subject: str | None = None


@dataclass
class _ConversationPlan:
    index: int
    contact: _ContactPlan
    topic: str
    status: str
    priority: str
    labels: list[str]
    agent: int | None
    supervisor_assigns: bool
    subject: str = ""
    steps: list[_Step] = field(default_factory=list)
    start: datetime | None = None
    conversation: Conversation | None = None

    @property
    def duration(self) -> timedelta:
        return self.steps[-1].offset

    def starts_at(self) -> datetime:
        if self.start is None:
            raise RuntimeError(f"demo conversation {self.index} was not scheduled")
        return self.start


class _Ids:
    """Unique, plausible identifiers drawn from the seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("could not draw a unique demo identifier")

    def mobile(self) -> str:
        return self.unique(lambda: f"+39{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**7):07d}")

    def email(self, name: str) -> str:
        local = _ascii_slug(name, self.rng.choice((".", ".", "_", "")))
        return self.unique(lambda: f"{local}{self.rng.choice(('', '', str(self.rng.randrange(10, 99))))}@{self.rng.choice(EMAIL_DOMAINS)}")

    def digits(self, length: int) -> str:
        return self.unique(lambda: str(self.rng.randrange(10 ** (length - 1), 10**length)))

    def token(self, prefix: str, length: int) -> str:
        return self.unique(lambda: prefix + "".join(self.rng.choice("0123456789abcdef") for _ in range(length)))


def _ascii_slug(name: str, separator: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace("'", "")
    return separator.join(plain.split())


def _person(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.78:
        return f"{rng.choice(IT_FIRST)} {rng.choice(IT_LAST)}", "it"
    return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}", "en"


def _attributes(rng: random.Random, at: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    attributes: dict[str, Any] = {}
    if rng.random() < 0.6:
        attributes["city"] = rng.choice(CITIES)
    if rng.random() < 0.5:
        attributes["customer_tier"] = rng.choices(TIERS, weights=(50, 30, 15, 5))[0]
    if rng.random() < 0.08:
        attributes["vip"] = True
    if rng.random() < 0.3:
        attributes["orders_count"] = rng.randint(1, 40)
    consent: dict[str, Any] = {}
    if rng.random() < 0.55:
        for purpose in ("marketing_email", "marketing_whatsapp", "profiling"):
            if rng.random() < 0.7:
                consent[purpose] = {"granted": rng.random() < 0.75, "at": at.isoformat(), "by": None}
    return attributes, consent


def _identities(rng: random.Random, ids: _Ids, name: str) -> tuple[dict[str, str], bool]:
    identities: dict[str, str] = {}
    if rng.random() < 0.85:
        identities["email"] = ids.email(name)
    if rng.random() < 0.7:
        identities["phone"] = ids.mobile()
    whatsapp_on_phone = "phone" in identities and rng.random() < 0.6
    if not whatsapp_on_phone and rng.random() < 0.1:
        identities["whatsapp"] = ids.mobile()
    if rng.random() < 0.15:
        identities["telegram"] = ids.digits(rng.choice((9, 10)))
    if rng.random() < 0.3:
        identities["messenger"] = ids.digits(16)
    if rng.random() < 0.4:
        identities["web_visitor"] = ids.token("wv_", 16)
    if rng.random() < 0.45 or not identities:
        identities["external"] = f"CRM-{ids.digits(6)}"
    return identities, whatsapp_on_phone


def _duplicate_of(rng: random.Random, ids: _Ids, original: _ContactPlan, index: int, at: datetime) -> _ContactPlan:
    """A second record of the same person: same name written differently, or the same email user elsewhere."""
    identities: dict[str, str] = {}
    name = original.name
    if "email" in original.identities and rng.random() < 0.5:
        local = original.identities["email"].split("@", 1)[0]
        domains = [d for d in EMAIL_DOMAINS if not original.identities["email"].endswith("@" + d)]
        identities["email"] = ids.unique(lambda: f"{local}@{rng.choice(domains)}")
        first, *rest = original.name.split()
        name = f"{first[0]}. {' '.join(rest)}"
    else:
        # Same person, name in another order and case, reached on another channel.
        first, *rest = original.name.split()
        name = f"{' '.join(rest).upper()} {first}"
        kind = rng.choice(("messenger", "telegram"))
        identities[kind] = ids.digits(16 if kind == "messenger" else 10)
    if rng.random() < 0.5:
        identities["web_visitor"] = ids.token("wv_", 16)
    return _ContactPlan(index, name, original.first_name, original.language, identities, False, {}, {}, at)


def _plan_contacts(rng: random.Random, ids: _Ids, now: datetime) -> list[_ContactPlan]:
    plans: list[_ContactPlan] = []
    singles = CONTACT_COUNT - DUPLICATE_PAIRS
    for index in range(singles):
        name, language = _person(rng)
        created = now - timedelta(days=HISTORY_DAYS + 1) - timedelta(minutes=rng.randrange(300 * 24 * 60))
        identities, whatsapp_on_phone = _identities(rng, ids, name)
        attributes, consent = _attributes(rng, created)
        plans.append(_ContactPlan(index, name, name.split()[0], language, identities, whatsapp_on_phone, attributes, consent, created))
    for offset, original in enumerate(rng.sample(plans, DUPLICATE_PAIRS)):
        created = original.created_at + timedelta(days=rng.randint(1, 20))
        plans.append(_duplicate_of(rng, ids, original, singles + offset, min(created, now - timedelta(days=HISTORY_DAYS + 1))))
    plans.sort(key=lambda p: (p.created_at, p.index))
    return plans


def _conversation_counts(rng: random.Random, contacts: list[_ContactPlan]) -> list[int]:
    counts = [1] * len(contacts)
    weights = [rng.choice((1, 1, 1, 2, 3, 5)) for _ in contacts]
    extra = CONVERSATION_COUNT - len(contacts)
    while extra:
        index = rng.choices(range(len(contacts)), weights=weights)[0]
        if counts[index] < MAX_CONVERSATIONS_PER_CONTACT:
            counts[index] += 1
            extra -= 1
    return counts


def _minutes(rng: random.Random, low: int, high: int) -> timedelta:
    # Skewed towards quick answers, with a long tail.
    return timedelta(minutes=low + (high - low) * rng.random() ** 2.5)


def _agent_for(rng: random.Random, team: str, language: str) -> int:
    members = [i for i, person in enumerate(STAFF) if team in person.teams]
    speakers = [i for i in members if STAFF[i].language == language]
    if speakers and rng.random() < 0.7:
        return rng.choice(speakers)
    return rng.choice(members)


def _channel_path(rng: random.Random, available: list[str]) -> list[str]:
    """The channels the customer uses, in order; more than one means the conversation switches."""
    first = rng.choice(available)
    path = [first]
    others = [c for c in available if c != first]
    if others and rng.random() < 0.55:
        path.append(rng.choice(others))
        remaining = [c for c in available if c not in path]
        if remaining and rng.random() < 0.2:
            path.append(rng.choice(remaining))
    return path


class _Script:
    """Builds the steps of one conversation, keeping the running time, the channel and the dialogue."""

    def __init__(self, rng: random.Random, plan: _ConversationPlan, values: dict[str, str]) -> None:
        self.rng, self.plan, self.values = rng, plan, values
        self.topic = TOPICS[plan.topic]
        self.lang = plan.contact.language
        self.case = rng.choice(self.topic.cases[self.lang])
        self.exchanges = list(self.case.exchanges)
        self.at = timedelta(0)
        self.channel = ""

    def text(self, template: str) -> str:
        return template.format_map(self.values)

    def pick(self, options: tuple[str, ...]) -> str:
        return self.text(self.rng.choice(options))

    def next_exchange(self) -> tuple[str, str]:
        """The case's next (customer, agent) exchange; once they run out, the customer chases."""
        return self.exchanges.pop(0) if self.exchanges else CHASE[self.lang]

    def add(self, after: timedelta, action: str, **kwargs: Any) -> None:
        self.at += after
        self.plan.steps.append(_Step(self.at, action, **kwargs))

    def customer(self, after: timedelta, text: str, channel: str, attachment: tuple[str, str] | None = None) -> None:
        text = self.text(text)
        if self.channel and channel != self.channel:
            switch = self.rng.choice(SWITCH[self.lang]).format_map({**self.values, "prev_via": CHANNEL_VIA[self.lang][self.channel]})
            text = f"{switch} {text}"
        subject = self.plan.subject if channel == "email" else None
        self.channel = channel
        self.add(after, "inbound", text=text, channel=channel, attachment=attachment, subject=subject)

    def agent(self, after: timedelta, text: str) -> None:
        self.add(after, "reply", text=self.text(text), channel=self.channel, agent=self.plan.agent)

    def note(self, after: timedelta, options: dict[str, tuple[str, ...]]) -> None:
        language = STAFF[self.plan.agent].language if self.plan.agent is not None else "it"
        self.add(after, "note", text=self.pick(options[language]), agent=self.plan.agent)

    def status(self, after: timedelta, status: str) -> None:
        self.add(after, "status", status=status, agent=self.plan.agent)


def _write_script(rng: random.Random, plan: _ConversationPlan, values: dict[str, str]) -> None:
    script = _Script(rng, plan, values)
    path = _channel_path(rng, plan.contact.channels())
    rounds = max(rng.choice((1, 2, 2)), len(path) - 1)
    script.customer(timedelta(0), script.case.opener, path[0])
    if script.case.evidence and rng.random() < 0.5:
        script.customer(_minutes(rng, 1, 10), script.case.evidence, path[0], script.topic.evidence_file)
    if plan.status == "open" and plan.agent is None:
        # Just arrived and waiting in the team's queue: nobody has answered yet.
        script.add(_minutes(rng, 0, 3), "assign")
        if rng.random() < 0.4:
            script.customer(_minutes(rng, 20, 120), CHASE[script.lang][0], path[-1])
        return
    script.add(_minutes(rng, 1, 25), "assign")
    script.agent(_minutes(rng, 2, 8 * 60), script.case.answer)
    for round_ in range(rounds):
        question, answer = script.next_exchange()
        script.customer(_minutes(rng, 5, 20 * 60), question, path[min(round_ + 1, len(path) - 1)])
        if plan.status == "open" and round_ == rounds - 1:
            return  # the customer is waiting for an answer
        script.agent(_minutes(rng, 2, 8 * 60), answer)
        if rng.random() < 0.3:
            script.note(_minutes(rng, 1, 15), script.topic.notes)
    _finish(script, rng, plan)


def _finish(script: _Script, rng: random.Random, plan: _ConversationPlan) -> None:
    lang = script.lang
    if plan.status == "open":
        script.customer(_minutes(rng, 5, 20 * 60), script.next_exchange()[0], script.channel)
        return
    if plan.status == "pending":
        script.agent(_minutes(rng, 2, 60), script.topic.ask[lang])
        script.status(_minutes(rng, 0, 2), "pending")
        return
    if plan.status == "snoozed":
        script.note(_minutes(rng, 1, 30), SNOOZE_NOTE)
        script.status(_minutes(rng, 0, 2), "snoozed")
        return
    if rng.random() < 0.6:
        script.customer(_minutes(rng, 5, 12 * 60), rng.choice(THANKS[lang]), script.channel)
    if rng.random() < 0.6:
        script.agent(_minutes(rng, 1, 60), rng.choice(CLOSING[lang]))
    script.status(_minutes(rng, 0, 10), "resolved")
    if rng.random() < 0.08:
        # The customer comes back within the reopen window: the same conversation reopens.
        question, answer = rng.choice(REOPEN[lang])
        script.customer(timedelta(hours=rng.uniform(10, 60)), question, rng.choice(plan.contact.channels()))
        script.agent(_minutes(rng, 5, 6 * 60), answer)
        script.status(_minutes(rng, 1, 30), "resolved")
    if plan.status == "closed":
        script.status(timedelta(days=2), "closed")


def _values(rng: random.Random, contact: _ContactPlan, agent: int | None) -> dict[str, str]:
    product = rng.choice(PRODUCTS)[0 if contact.language == "it" else 1]
    amount = rng.randrange(990, 89900) / 100
    day = rng.randint(1, 28)
    month = rng.randrange(12)
    surname = contact.name.replace(contact.first_name, "").strip(" .").title() or contact.name
    surname_slug = _ascii_slug(surname, "")
    return {
        "first": contact.first_name,
        "full_name": contact.name,
        "agent": STAFF[agent].name.split()[0] if agent is not None else "",
        "order": f"BD-{rng.randrange(100000, 999999)}",
        "invoice": f"FT-{rng.randrange(1000, 9999)}/{rng.choice(('A', 'B'))}",
        "amount": f"{amount:.2f} €".replace(".", ",") if contact.language == "it" else f"€{amount:.2f}",
        "tracking": f"{rng.choice(('BRT', 'GLS', 'SDA'))}{rng.randrange(10**9, 10**10)}",
        "product": product,
        "city": contact.attributes.get("city") or rng.choice(CITIES),
        "date": f"{day} {IT_MONTHS[month]}" if contact.language == "it" else f"{day} {EN_MONTHS[month]}",
        "ticket": f"T{rng.randrange(10000, 99999)}",
        "vat": f"{rng.randrange(10**10, 10**11)}",
        "sdi": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(7)),
        "serial": f"{rng.randrange(10**8, 10**9)}",
        "card": f"{rng.randrange(10000):04d}",
        "company": f"{surname} {rng.choice(COMPANY_KINDS)} S.r.l.",
        "new_email": f"{_ascii_slug(contact.first_name, '.')}.{surname_slug}@{rng.choice(EMAIL_DOMAINS)}",
        "ref": "",
    }


def _plan_conversation(rng: random.Random, index: int, contact: _ContactPlan, status: str) -> _ConversationPlan:
    topic_name = rng.choices(list(TOPIC_WEIGHTS), weights=list(TOPIC_WEIGHTS.values()))[0]
    topic = TOPICS[topic_name]
    unassigned = status == "open" and rng.random() < 0.4
    agent = None if unassigned else _agent_for(rng, topic.team, contact.language)
    priority = rng.choices(("none", "low", "medium", "high", "urgent"), weights=(45, 15, 22, 13, 5))[0]
    labels = list(topic.labels)
    if contact.attributes.get("vip"):
        labels.append("vip")
    if rng.random() < 0.1:
        labels.append("reclamo")
    plan = _ConversationPlan(index, contact, topic_name, status, priority, labels, agent, rng.random() < 0.5)
    values = _values(rng, contact, agent)
    values["ref"] = topic.ref[contact.language].format_map(values)
    plan.subject = topic.subject[contact.language].format_map(values)
    _write_script(rng, plan, values)
    return plan


def _statuses(rng: random.Random, count: int, last_is_active: bool) -> list[str]:
    """Older conversations are resolved (some closed); the latest may still be active."""
    statuses = ["closed" if rng.random() < 0.12 else "resolved" for _ in range(count)]
    if last_is_active:
        statuses[-1] = rng.choices(("open", "pending", "snoozed"), weights=(50, 30, 20))[0]
    return statuses


def _schedule(rng: random.Random, plans: list[_ConversationPlan], now: datetime, active: bool) -> None:
    """Place one contact's conversations in the last 90 days, at least 8 days apart, in order."""
    window = timedelta(days=HISTORY_DAYS - 1)
    tail = _minutes(rng, 10, 36 * 60) if active else timedelta(0)
    needed = sum((p.duration for p in plans), timedelta(0)) + GAP_BETWEEN_CONVERSATIONS * (len(plans) - 1) + tail
    slack = window - needed
    if slack < timedelta(0):
        raise RuntimeError("demo conversations do not fit in the history window")
    # Cut points in [0, 1] share the slack out before each conversation; an active contact's
    # last cut is 1, so its latest conversation ends just ``tail`` before now.
    gaps = sorted(rng.random() for _ in range(len(plans) - (1 if active else 0))) + ([1.0] if active else [])
    cursor = now - window
    previous = 0.0
    for plan, cut in zip(plans, gaps, strict=True):
        cursor += slack * (cut - previous)
        previous = cut
        plan.start = cursor
        cursor += plan.duration + GAP_BETWEEN_CONVERSATIONS


def _plan_conversations(rng: random.Random, contacts: list[_ContactPlan], now: datetime) -> list[_ConversationPlan]:
    counts = _conversation_counts(rng, contacts)
    plans: list[_ConversationPlan] = []
    for contact, count in zip(contacts, counts, strict=True):
        active = rng.random() < 0.28
        mine = [_plan_conversation(rng, len(plans) + i, contact, status) for i, status in enumerate(_statuses(rng, count, active))]
        _schedule(rng, mine, now, active)
        plans.extend(mine)
    return plans


# --- writing ---------------------------------------------------------------------------------------------


class _HistoryClock:
    """Stamps rows added to the session with the simulated time instead of the wall clock."""

    def __init__(self, session: Session, at: datetime) -> None:
        self.at = at
        event.listen(session, "transient_to_pending", self._stamp)

    def _stamp(self, session: Session, instance: object) -> None:
        for name in ("created_at", "updated_at"):
            if hasattr(type(instance), name) and getattr(instance, name) is None:
                setattr(instance, name, self.at)


def _png(rng: random.Random) -> bytes:
    """A small valid PNG of one colour, so attachments open in a browser."""
    width = height = 16
    pixel = bytes(rng.randrange(256) for _ in range(3))
    raw = b"".join(b"\x00" + pixel * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _log(at: datetime) -> bytes:
    lines = [
        f"{at:%Y-%m-%d %H:%M:%S} INFO  app: avvio versione 5.2.0",
        f"{at:%Y-%m-%d %H:%M:%S} WARN  net: timeout connessione a api.bottega.example (3/3)",
        f"{at:%Y-%m-%d %H:%M:%S} ERROR auth: HTTP 503 Service Unavailable",
    ]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class _Org:
    tenant: Tenant
    users: list[User]  # in STAFF order
    teams: dict[str, Team]
    inboxes: dict[str, Inbox]

    def actor(self, index: int) -> Actor:
        user = self.users[index]
        return Actor(self.tenant.id, user.id, Role(user.role))


class _Writer:
    """Writes a planned history into one session, step by step, in time order."""

    def __init__(self, session: Session, rt: Runtime, rng: random.Random, org: _Org, clock: _HistoryClock, now: datetime) -> None:
        self.session, self.rt, self.rng, self.org, self.clock, self.now = session, rt, rng, org, clock, now
        self.counter = 0
        self.supervisor = next(i for i, person in enumerate(STAFF) if person.role == "supervisor")

    def provider_id(self, channel: str) -> str:
        self.counter += 1
        stem = f"{self.counter:06d}{self.rng.getrandbits(40):010x}"
        return {"email": f"<{stem}@mail.example.com>", "whatsapp": f"wamid.{stem}", "messenger": f"m_{stem}", "telegram": f"tg-{stem}"}.get(channel, f"{channel}-{stem}")

    def run(self, plans: list[_ConversationPlan]) -> None:
        steps = [(plan.starts_at() + step.offset, plan.index, order, plan, step) for plan in plans for order, step in enumerate(plan.steps)]
        steps.sort(key=lambda item: item[:3])
        handlers = {"inbound": self.inbound, "reply": self.reply, "note": self.note, "assign": self.assign, "status": self.status}
        for at, _, order, plan, step in steps:
            self.clock.at = at
            handlers[step.action](plan, step, at)
            if plan.conversation is not None and order == len(plan.steps) - 1:
                plan.conversation.updated_at = at  # the wall clock stamped it on every change before

    def inbound(self, plan: _ConversationPlan, step: _Step, at: datetime) -> None:
        assert step.channel is not None
        kind, value = plan.contact.identity_for(step.channel)
        identities = [InboundIdentity(kind, value)]
        if step.channel == "widget" and "email" in plan.contact.identities:
            identities.append(InboundIdentity("email", plan.contact.identities["email"]))  # from the pre-chat form
        attachments = []
        if step.attachment:
            filename, content_type = step.attachment
            data = _png(self.rng) if content_type == "image/png" else _log(at)
            attachments.append(InboundAttachment(filename, content_type, data))
        event_ = InboundEvent(
            provider_message_id=self.provider_id(step.channel),
            identities=identities,
            text=step.text,
            contact_name=plan.contact.name,
            contact_language=plan.contact.language,
            subject=step.subject,
            sent_at=at,
            attachments=attachments,
        )
        result = ingest_event(self.session, self.rt.files, self.org.inboxes[step.channel], event_, max_attachment_bytes=self.rt.settings.max_attachment_bytes, now=at)
        if plan.conversation is None:
            if not result.conversation_created:
                raise RuntimeError(f"demo conversation {plan.index} joined an existing conversation: the schedule is wrong")
            plan.conversation = result.conversation
        elif result.conversation.id != plan.conversation.id:
            raise RuntimeError(f"demo conversation {plan.index} was split: the schedule is wrong")

    def _record(self, plan: _ConversationPlan, actor: Actor, kind: TimelineKind, data: dict[str, Any]) -> None:
        conversation = plan.conversation
        assert conversation is not None
        add_timeline(self.session, self.org.tenant.id, conversation.contact_id, kind.value, conversation_id=conversation.id, actor_type=actor.actor_type, actor_id=actor.user_id, data=data)
        audit(self.session, actor, f"conversation.{kind.value}", "conversation", conversation.id, data)

    def assign(self, plan: _ConversationPlan, step: _Step, at: datetime) -> None:
        conversation = plan.conversation
        assert conversation is not None
        topic = TOPICS[plan.topic]
        team = self.org.teams[topic.team]
        if plan.agent is None:
            actor = system_actor(self.org.tenant.id)  # routed to the team's queue, nobody picked it up yet
        else:
            actor = self.org.actor(self.supervisor if plan.supervisor_assigns else plan.agent)
        self._record(plan, actor, TimelineKind.TEAM_CHANGED, {"from": None, "to": team.id})
        conversation.team_id = team.id
        if plan.agent is not None:
            agent_id = self.org.users[plan.agent].id
            self._record(plan, actor, TimelineKind.ASSIGNED, {"from": None, "to": agent_id})
            conversation.assignee_id = agent_id
        if plan.priority != "none":
            self._record(plan, actor, TimelineKind.PRIORITY_CHANGED, {"from": "none", "to": plan.priority})
            conversation.priority = plan.priority
        labels = sorted(set(plan.labels))
        self._record(plan, actor, TimelineKind.LABELS_CHANGED, {"from": [], "to": labels})
        conversation.labels = labels
        self.session.add_all(ConversationLabel(conversation_id=conversation.id, label=label, tenant_id=self.org.tenant.id) for label in labels)
        conversation.subject = conversation.subject or plan.subject

    def reply(self, plan: _ConversationPlan, step: _Step, at: datetime) -> None:
        conversation = plan.conversation
        assert conversation is not None and step.agent is not None and step.channel is not None
        user = self.org.users[step.agent]
        kind, value = plan.contact.identity_for(step.channel)
        inbox = self.org.inboxes[step.channel]
        message = Message(
            tenant_id=self.org.tenant.id, conversation_id=conversation.id, direction=Direction.OUTBOUND.value, channel=step.channel, inbox_id=inbox.id,
            sender_type=SenderType.USER.value, sender_id=user.id, text=step.text, content_attributes={"recipient": {"kind": kind, "value": value}},
            provider_message_id=self.provider_id(step.channel) + "-out", delivery_status=DeliveryStatus.SENT.value, created_at=at,
        )
        self.session.add(message)
        self.session.flush()
        conversation.first_response_at = conversation.first_response_at or at
        conversation.last_activity_at = at
        add_timeline(self.session, self.org.tenant.id, conversation.contact_id, TimelineKind.MESSAGE.value, conversation_id=conversation.id, actor_type="user", actor_id=user.id, data={"message_id": message.id, "direction": "outbound", "channel": step.channel})

    def note(self, plan: _ConversationPlan, step: _Step, at: datetime) -> None:
        conversation = plan.conversation
        assert conversation is not None
        author = self.org.users[step.agent if step.agent is not None else self.supervisor]
        note = Message(
            tenant_id=self.org.tenant.id, conversation_id=conversation.id, direction=Direction.NOTE.value, sender_type=SenderType.USER.value,
            sender_id=author.id, text=step.text, delivery_status=DeliveryStatus.NOT_APPLICABLE.value, created_at=at,
        )
        self.session.add(note)
        self.session.flush()
        add_timeline(self.session, self.org.tenant.id, conversation.contact_id, TimelineKind.NOTE.value, conversation_id=conversation.id, actor_type="user", actor_id=author.id, data={"message_id": note.id})

    def status(self, plan: _ConversationPlan, step: _Step, at: datetime) -> None:
        conversation = plan.conversation
        assert conversation is not None and step.status is not None
        actor = self.org.actor(step.agent if step.agent is not None else self.supervisor)
        self._record(plan, actor, TimelineKind.STATUS_CHANGED, {"from": conversation.status, "to": step.status})
        conversation.status = step.status
        if step.status == ConversationStatus.RESOLVED.value:
            conversation.resolved_at = at
        elif step.status == ConversationStatus.SNOOZED.value:
            conversation.snoozed_until = self.now + timedelta(hours=self.rng.randint(12, 72))


def _create_org(session: Session, rt: Runtime, slug: str) -> _Org:
    tenant = accounts.create_tenant(session, slug, "Bottega Digitale (demo)", region="IT", language="it")
    users: list[User] = []
    for person in STAFF:
        actor = system_actor(tenant.id) if not users else Actor(tenant.id, users[0].id, Role.OWNER)
        # Everyone shares the demo password: hash it once (argon2 is deliberately slow) and reuse the hash.
        password = DEMO_PASSWORD if not users else None
        user = accounts.create_user(session, actor, email=person.email(slug), name=person.name, role=person.role, password=password, language=person.language)
        user.password_hash = users[0].password_hash if users else user.password_hash
        users.append(user)
    admin = Actor(tenant.id, users[1].id, Role.ADMIN)
    teams = {}
    for name, description in TEAM_DESCRIPTIONS.items():
        members = [users[i].id for i, person in enumerate(STAFF) if name in person.teams]
        teams[name] = accounts.create_team(session, admin, name, description, members)
    public_url = rt.settings.resolved_public_url
    settings = {"api": {}, "email": {"address": f"assistenza@{slug}.example", "from_name": "Bottega Digitale"}, "widget": {"allowed_origins": [public_url]}}
    inboxes = {
        channel: create_inbox(session, rt.secretbox, admin, name=INBOX_NAMES[channel], channel=channel, settings=channel_settings, secrets_={}, business_hours=None)[0]
        for channel, channel_settings in settings.items()
    }
    for channel, name in INBOX_NAMES.items():
        if channel not in inboxes:
            # No channel module yet: a history-only inbox (see the module docstring).
            inboxes[channel] = Inbox(tenant_id=tenant.id, name=name, channel=channel, identifier=secrets.token_urlsafe(12), settings={}, business_hours={})
            session.add(inboxes[channel])
            session.flush()
            audit(session, admin, "inbox.create", "inbox", inboxes[channel].id, {"name": name, "channel": channel, "history_only": True})
    return _Org(tenant, users, teams, inboxes)


def _create_contacts(session: Session, org: _Org, plans: list[_ContactPlan], clock: _HistoryClock) -> None:
    for plan in plans:
        clock.at = plan.created_at
        identities = [IdentityInput(kind, value, verified=kind in ("email", "external")) for kind, value in plan.identities.items()]
        resolution = resolve_contact(session, org.tenant.id, identities, region="IT", name=plan.name, language=plan.language, actor_type="system")
        if not resolution.created:
            raise RuntimeError(f"demo contact {plan.index} resolved to an existing contact: identities must be unique")
        contact = resolution.contact
        contact.custom_attributes = dict(plan.attributes)
        contact.consent = dict(plan.consent)
        contact.updated_at = plan.created_at


def _logins(slug: str, emails: set[str] | None = None) -> DemoLogins:
    users = [(p.role, p.email(slug), DEMO_PASSWORD) for p in STAFF if emails is None or p.email(slug) in emails]
    return DemoLogins(slug, users)


def load_demo(rt: Runtime, seed: int = 7, *, slug: str = DEMO_SLUG, now: datetime | None = None) -> DemoLogins:
    """Create the demo tenant (once) and return its logins; if ``slug`` exists, load nothing."""
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if tenant_id is not None:
            emails = set(session.scalars(select(User.email).where(User.tenant_id == tenant_id)))
            return _logins(slug, emails)
        rng = random.Random(seed)
        ids = _Ids(rng)
        contacts = _plan_contacts(rng, ids, now)
        conversations = _plan_conversations(rng, contacts, now)
        clock = _HistoryClock(session, now - timedelta(days=HISTORY_DAYS + 400))
        org = _create_org(session, rt, slug)
        _create_contacts(session, org, contacts, clock)
        _Writer(session, rt, rng, org, clock, now).run(conversations)
        _create_routing(session, org)
        _create_content(session, org)
        _create_agenda(session, org, now)
    return _logins(slug)


def _create_agenda(session: Session, org: _Org, now: datetime) -> None:
    """Two callbacks in agents' agendas: a phone call in two hours and a follow-up tomorrow morning."""
    from zoneinfo import ZoneInfo

    from raccordo.desk.services import agenda
    from raccordo.platform.errors import InvalidInput

    rows = session.scalars(
        select(Conversation).where(Conversation.tenant_id == org.tenant.id, Conversation.status == "open", Conversation.assignee_id.is_not(None)).order_by(Conversation.id)
    ).all()
    local = now.astimezone(ZoneInfo("Europe/Rome"))
    plans = [
        ("callback", "phone", now + timedelta(hours=2), "Richiamare per confermare la consegna / Call back to confirm the delivery"),
        ("follow_up", None, (local + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0), "Verificare che il rimborso sia arrivato / Check the refund arrived"),
    ]
    for conversation in rows:
        if not plans:
            break
        kind, channel, due, note = plans[0]
        user = session.get(User, conversation.assignee_id)
        try:
            with session.begin_nested():
                agenda.schedule(session, Actor(org.tenant.id, user.id, Role(user.role)), conversation_id=conversation.id, kind=kind, due_at=due, channel=channel, note=note, now=now)
        except InvalidInput:  # no phone number on this customer: try the next conversation
            continue
        plans.pop(0)


# Team -> (queue name, the skill its rule requires, strategy, offer timeout in seconds or None).
DEMO_QUEUES = {
    CARE: ("Assistenza ordini", "ordini", "longest_idle", 45),
    BILLING: ("Fatturazione", "fatturazione", "best_skill", None),
    TECH: ("Supporto tecnico", "tecnico", "least_occupied", 60),
}
OFFICE_HOURS = {
    "timezone": "Europe/Rome",
    "weekly": {day: [["08:30", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [["09:00", "13:00"]]},
    "closed_dates": ["2026-12-25", "2026-12-26", "2027-01-01", "2027-01-06"],
}


def _create_routing(session: Session, org: _Org) -> None:
    """Skills, one queue per team, rules by keyword and language, agents' skills, an SLA policy:
    new conversations in the demo are routed like in a real service."""
    from raccordo.routing.services import admin as routing_admin
    from raccordo.routing.services import sla

    admin = org.actor(1)
    skills = ["italiano", "english", *(skill for _, skill, _, _ in DEMO_QUEUES.values())]
    for name in skills:
        routing_admin.create_skill(session, admin, name)
    queues = {}
    for team, (name, _, strategy, timeout) in DEMO_QUEUES.items():
        queues[team] = routing_admin.create_queue(session, admin, {
            "name": name, "strategy": strategy, "offer_timeout_seconds": timeout, "ageing_per_minute": 0.5, "ageing_cap": 3,
            "relax": [{"after_seconds": 120, "drop_levels": 1}, {"after_seconds": 300, "drop_levels": None}],
            "preferred_agent_seconds": 60, "business_hours": OFFICE_HOURS, "out_of_hours_action": "message",
        })
    routing_admin.create_rule(session, admin, {"name": "VIP", "position": 1, "conditions": [{"field": "contact.vip", "op": "eq", "value": True}], "queue_id": queues[CARE].id, "priority": 5})
    # The intent a bot, an IVR or an integrator records on the conversation ("intent": "billing").
    keywords = {BILLING: ["billing", "fatturazione"], TECH: ["technical", "tecnico"]}
    for position, (team, words) in enumerate(keywords.items(), start=2):
        routing_admin.create_rule(session, admin, {
            "name": DEMO_QUEUES[team][0], "position": position, "queue_id": queues[team].id, "required_skills": {DEMO_QUEUES[team][1]: 2},
            "conditions": [{"field": "conversation.intent", "op": "in", "value": words}],
        })
    routing_admin.create_rule(session, admin, {"name": "English", "position": 8, "conditions": [{"field": "language", "op": "eq", "value": "en"}], "queue_id": queues[CARE].id, "required_skills": {"english": 2}})
    routing_admin.create_rule(session, admin, {"name": "Tutto il resto", "position": 9, "queue_id": queues[CARE].id, "required_skills": {"italiano": 2}})
    for index, person in enumerate(STAFF):
        if person.role != "agent":
            continue
        levels = {"italiano": 5 if person.language == "it" else 2, "english": 5 if person.language == "en" else 3}
        levels |= {DEMO_QUEUES[team][1]: 3 + (index + position) % 3 for position, team in enumerate(person.teams)}
        routing_admin.set_agent_profile(
            session, admin, org.users[index].id, skills=levels, queue_ids=[queues[team].id for team in person.teams],
        )
    sla.create_policy(session, admin, {
        "name": "Standard", "position": 1, "first_response_seconds": 4 * 3600, "next_response_seconds": 8 * 3600, "resolution_seconds": 3 * 86400,
        "warn_before_seconds": 1800, "business_hours": OFFICE_HOURS, "actions": {"notify_supervisors": True, "raise_priority": True},
    })
    sla.create_policy(session, admin, {
        "name": "VIP", "position": 0, "conditions": [{"field": "contact.vip", "op": "eq", "value": True}], "first_response_seconds": 3600,
        "resolution_seconds": 86400, "business_hours": OFFICE_HOURS, "actions": {"notify_supervisors": True, "raise_priority": True, "reassign": True},
    })


# (name, shortcut, Italian body, English body): the answers the shop's agents give every day.
DEMO_TEMPLATES = (
    ("Saluto", "ciao", "Buongiorno {{contact.first_name}}, sono {{agent.first_name}} di Bottega Digitale: come posso aiutarla?",
     "Hello {{contact.first_name}}, this is {{agent.first_name}} from Bottega Digitale: how can I help?"),
    ("Tracking spedizione", "tracking", "Gentile {{contact.first_name}}, le ho inviato per email il link per seguire la spedizione.",
     "Dear {{contact.first_name}}, I have emailed you the link to track your parcel."),
    ("Reso gratuito", "reso", "Il reso è gratuito entro 30 giorni dalla consegna: le mando l'etichetta prepagata per email.",
     "Returns are free within 30 days of delivery: I'm emailing you the prepaid label."),
    ("Chiusura", "fine", "Grazie {{contact.first_name}}, buona giornata da {{agent.name}} e da tutta Bottega Digitale!",
     "Thank you {{contact.first_name}}, have a nice day from {{agent.name}} and all of Bottega Digitale!"),
)
# (code, label): outcomes the supervisors report on.
DEMO_WRAP_UP_CODES = (
    ("risolto", "Risolto al primo contatto / Solved at first contact"),
    ("reso", "Reso avviato / Return started"),
    ("rimborso", "Rimborso emesso / Refund issued"),
    ("informazioni", "Solo informazioni / Information only"),
    ("escalation", "Passato al secondo livello / Escalated"),
)


# A guided script with branches (Italian, with the English after " / "); answers go into attributes.
DEMO_SCRIPT: dict[str, Any] = {
    "name": "Reso prodotto / Product return",
    "description": "Raccoglie i dati per un reso / Collects what a return needs",
    "steps": [
        {"id": "saluto", "title": "Saluto / Greeting", "next": "ordine",
         "prompt": "Buongiorno {{contact.first_name}}, sono {{agent.first_name}}: la aiuto con il reso. / Hello {{contact.first_name}}, I'm {{agent.first_name}}: I'll help you with the return."},
        {"id": "ordine", "title": "Numero d'ordine / Order number", "answer": "text", "target": "conversation.order_number", "next": "motivo",
         "prompt": "Mi indica il numero d'ordine? / Could you give me the order number?"},
        {"id": "motivo", "title": "Motivo / Reason", "answer": "choice", "options": ["Difettoso / Faulty", "Taglia sbagliata / Wrong size", "Ripensamento / Changed mind"],
         "target": "conversation.return_reason", "branches": {"Difettoso / Faulty": "foto"}, "next": "consegna",
         "prompt": "Qual è il motivo del reso dell'ordine {{answer.ordine}}? / Why is order {{answer.ordine}} being returned?"},
        {"id": "foto", "title": "Foto del difetto / Photos", "answer": "yes_no", "target": "conversation.photos_received",
         "branches": {"no": "chiedi-foto"}, "next": "consegna",
         "prompt": "Il cliente ha inviato le foto del difetto? / Has the customer sent photos of the fault?"},
        {"id": "chiedi-foto", "title": "Richiesta foto / Ask for photos", "next": "consegna",
         "prompt": "Chieda le foto del difetto via email prima di emettere l'etichetta. / Ask for photos of the fault by email before issuing the label."},
        {"id": "consegna", "title": "Data di consegna / Delivery date", "answer": "date", "target": "conversation.delivered_on", "next": "ritiro",
         "prompt": "Quando è stato consegnato il pacco? Il reso è gratuito entro 30 giorni. / When was the parcel delivered? Returns are free within 30 days."},
        {"id": "ritiro", "title": "Ritiro a domicilio / Pickup", "answer": "yes_no", "target": "contact.prefers_pickup", "next": "fine",
         "prompt": "Preferisce il ritiro a domicilio invece del punto di consegna? / Would they rather have a home pickup than a drop-off point?"},
        {"id": "fine", "title": "Chiusura / Closing",
         "prompt": "Confermi che l'etichetta arriverà per email a {{contact.email}}. / Confirm the label will be emailed to {{contact.email}}."},
    ],
}


def _create_content(session: Session, org: _Org) -> None:
    """Answer templates and wrap-up codes, so the desktop's "/" picker and resolve codes work at once."""
    from raccordo.desk.services import templates, wrapup

    admin = org.actor(1)
    for name, shortcut, italian, english in DEMO_TEMPLATES:
        templates.create_template(session, admin, {"name": name, "shortcut": shortcut, "body": italian, "bodies": {"it": italian, "en": english}})
    for code, label in DEMO_WRAP_UP_CODES:
        wrapup.create_code(session, admin, {"code": code, "label": label})
    from raccordo.desk.services import scripts

    scripts.create_script(session, admin, DEMO_SCRIPT)
