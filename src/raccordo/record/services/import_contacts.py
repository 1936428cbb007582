"""Contact import from CSV (``raccordo import-contacts``; the columns are in docs/import-export.md).

Every row goes through identity resolution, so a row whose email, phone or other
identity is already known updates that contact instead of creating a second one:
importing the same file twice changes nothing the second time. Each row runs in its
own savepoint, so a bad row is reported with its line number and a message a person
can act on, and the other rows are imported. Rows are committed in batches, so a large
file neither holds one huge transaction nor pays a commit per row.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.accounts.models import Tenant
from raccordo.platform.errors import InvalidInput, NotFound, RaccordoError
from raccordo.platform.i18n import LANGUAGES, translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.identities import IdentityKind, normalize_identity
from raccordo.record.services.contacts import update_contact
from raccordo.record.services.identity import IdentityInput, resolve_contact
from raccordo.record.services.records import audit

# CSV column -> identity kind: a column per kind a customer gives us, named as the kind (the CRM id
# is "external_id"); web visitors' cookies and unverified Reply-To addresses are not imported.
_COLUMN_NAMES = {IdentityKind.EXTERNAL: "external_id"}
IDENTITY_COLUMNS = {
    _COLUMN_NAMES.get(kind, kind.value): kind.value
    for kind in IdentityKind
    if kind not in (IdentityKind.EMAIL_REPLY_TO, IdentityKind.WEB_VISITOR)
}
COLUMNS = ("name", "language", *IDENTITY_COLUMNS)
ATTRIBUTE_PREFIX = "attr."
BATCH_SIZE = 200
_BOOLEANS = {"true": True, "false": False}


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0  # rows that matched an existing contact, whether or not anything changed
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)


@dataclass(frozen=True)
class _Row:
    line: int
    name: str | None
    language: str | None
    identities: list[IdentityInput]
    attributes: dict[str, Any]


class _RowError(Exception):
    """A row that cannot be imported, with its message already in the reader's language."""


def tenant_by_slug(session: Session, slug: str) -> Tenant:
    tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()
    if tenant is None:
        raise NotFound("tenant.unknown", field="tenant", slug=slug)
    return tenant


def _message(error: RaccordoError, language: str) -> str:
    return translate(error.key, language, **error.params)


def _check_header(header: list[str]) -> None:
    """Raise InvalidInput for an empty, repeated, unknown or identity-less header."""
    if not any(header):
        raise InvalidInput("import.file_empty")
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InvalidInput("import.column_repeated", column=column)
        seen.add(column)
        if column.startswith(ATTRIBUTE_PREFIX):
            if not column[len(ATTRIBUTE_PREFIX) :]:
                raise InvalidInput("import.attribute_name_empty")
        elif column not in COLUMNS:
            raise InvalidInput("import.column_unknown", column=column, known=", ".join(COLUMNS))
    if not seen & set(IDENTITY_COLUMNS):
        raise InvalidInput("import.no_identity_column", columns=", ".join(IDENTITY_COLUMNS))


def _header_name(raw: str) -> str:
    name = raw.strip()
    if name.lower().startswith(ATTRIBUTE_PREFIX):
        return ATTRIBUTE_PREFIX + name[len(ATTRIBUTE_PREFIX) :].strip()
    return name.lower()


def _attribute_value(value: str) -> Any:
    """Cells are text; ``true`` and ``false`` become booleans (numbers stay text, so "00184" keeps its zeros)."""
    return _BOOLEANS.get(value.lower(), value)


def _parse_row(line: int, cells: dict[str, str], region: str, language: str) -> _Row:
    """Validate one row; every problem names its column."""
    values = {column: (value or "").strip() for column, value in cells.items()}
    identities: list[IdentityInput] = []
    for column, kind in IDENTITY_COLUMNS.items():
        if values.get(column):
            try:
                normalize_identity(kind, values[column], region)
            except InvalidInput as exc:
                raise _RowError(
                    translate("import.column_error", language, column=column, message=_message(exc, language))
                ) from None
            identities.append(IdentityInput(kind, values[column]))
    if not identities:
        raise _RowError(translate("identity.none_given", language))
    contact_language = values.get("language", "").lower() or None
    if contact_language is not None and contact_language not in LANGUAGES:
        error = InvalidInput("contact.language_unknown", value=contact_language)
        raise _RowError(
            translate("import.column_error", language, column="language", message=_message(error, language))
        )
    attributes = {
        column[len(ATTRIBUTE_PREFIX) :]: _attribute_value(value)
        for column, value in values.items()
        if column.startswith(ATTRIBUTE_PREFIX) and value
    }
    return _Row(line, values.get("name") or None, contact_language, identities, attributes)


def _rows(handle: TextIO, report: ImportReport, region: str, language: str) -> Iterator[_Row]:
    """Parse the file, reporting bad rows (and a bad header, which stops the import) as it goes."""
    try:
        first = handle.readline()
    except UnicodeDecodeError:
        report.errors.append((1, translate("import.not_utf8", language, line=1)))
        return
    # Sniff the delimiter from the header: Italian spreadsheets save CSV with semicolons.
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(itertools.chain([first], handle), delimiter=delimiter)
    try:
        header = [_header_name(cell) for cell in next(reader, [])]
        _check_header(header)
    except InvalidInput as exc:
        report.errors.append((1, _message(exc, language)))
        return
    while True:
        try:
            cells = next(reader, None)
        except UnicodeDecodeError:
            report.errors.append(
                (reader.line_num + 1, translate("import.not_utf8", language, line=reader.line_num + 1))
            )
            return
        except csv.Error as exc:
            report.errors.append((reader.line_num, translate("import.csv_malformed", language, reason=str(exc))))
            return
        if cells is None:
            return
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if len(cells) > len(header):
            report.errors.append(
                (reader.line_num, translate("import.too_many_values", language, found=len(cells), expected=len(header)))
            )
            continue
        try:
            yield _parse_row(reader.line_num, dict(zip(header, cells, strict=False)), region, language)
        except _RowError as exc:
            report.errors.append((reader.line_num, str(exc)))


def _apply(session: Session, actor: Actor, region: str, row: _Row) -> bool:
    """Create or update the row's contact; True when it was created."""
    resolution = resolve_contact(
        session,
        actor.tenant_id,
        row.identities,
        region=region,
        name=row.name,
        language=row.language,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
    )
    contact = resolution.contact
    if resolution.created:
        if row.attributes:
            contact.custom_attributes = {**contact.custom_attributes, **row.attributes}
        return True
    update_contact(
        session, actor, contact.id, name=row.name, language=row.language, custom_attributes=row.attributes or None
    )
    return False


def _import_batch(
    rt: Runtime, actor: Actor, region: str, batch: list[_Row], report: ImportReport, language: str
) -> None:
    with unit_of_work(rt.sessions) as session:
        for row in batch:
            try:
                with session.begin_nested():
                    created = _apply(session, actor, region, row)
            except RaccordoError as exc:
                report.errors.append((row.line, _message(exc, language)))
            except IntegrityError:
                # Another process created one of these identities at the same moment.
                report.errors.append((row.line, translate("import.row_conflict", language)))
            else:
                if created:
                    report.created += 1
                else:
                    report.updated += 1


def import_csv(rt: Runtime, tenant_slug: str, path: Path, *, language: str = "en") -> ImportReport:
    """Import contacts from a CSV file into a tenant; messages in the report are in ``language``."""
    with unit_of_work(rt.sessions) as session:
        tenant = tenant_by_slug(session, tenant_slug)
        actor, region = system_actor(tenant.id), tenant.default_region
    report = ImportReport()
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = _rows(handle, report, region, language)
        while batch := list(itertools.islice(rows, BATCH_SIZE)):
            _import_batch(rt, actor, region, batch, report, language)
    with unit_of_work(rt.sessions) as session:
        summary = {
            "file": path.name,
            "created": report.created,
            "updated": report.updated,
            "failed": len(report.errors),
        }
        audit(session, actor, "contact.import", "tenant", actor.tenant_id, summary)
    report.errors.sort()
    return report
