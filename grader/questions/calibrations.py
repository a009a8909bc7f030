"""A bank's calibration versions. Fitting writes an unpublished version; an admin publishes it; the
latest published version grades the bank. A bank without one grades with the shipped calibration
(`bank_calibration` returns None), so nothing ever overwrites `reference_answers/calibration.json`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.bank_models import Bank, CalibrationVersion
from grader.db.base import utcnow
from grader.db.models import AuditEntry
from grader.errors import Conflict, GraderError, NotFound
from grader.keys.principal import Principal
from grader.questions.banks import get_bank
from grader.scoring.calibration import Calibration, Signals
from grader.scoring.engine import SCORING_VERSION
from grader.scoring.fitting import fit_own


class CalibrationInfo(BaseModel):
    bank: str
    version: int
    digest: str
    source: str
    created_at: datetime
    published_at: datetime | None
    calibration: Calibration
    # What the fit reported: labels_from (reviewer → answers), held_back, before/after, earlier,
    # references, warnings (code → why) — from the `calibration.added` audit entry.
    proposal: dict[str, Any] = {}


def calibration_digest(calibration: Calibration) -> str:
    canonical = json.dumps(calibration.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _info(bank: str, row: CalibrationVersion, proposal: dict[str, Any] | None = None) -> CalibrationInfo:
    try:
        calibration = Calibration.model_validate(row.params)
    except ValidationError as exc:
        raise GraderError(f"calibration version {row.version} of bank '{bank}' is invalid: {exc}") from exc
    return CalibrationInfo(
        bank=bank,
        version=row.version,
        digest=row.digest,
        source=row.source,
        created_at=row.created_at,
        published_at=row.published_at,
        calibration=calibration,
        proposal=proposal or {},
    )


def add_calibration(
    session: Session,
    bank: str,
    calibration: Calibration,
    *,
    source: str,
    actor: Principal,
    proposal: dict[str, Any] | None = None,
) -> CalibrationInfo:
    """A new, unpublished calibration version for the bank (e.g. fitted on its labelled answers).

    `proposal` (who the labels came from, the before/after figures, the warnings) goes into the
    `calibration.added` audit entry: append-only, it is what publishing checks the confirmation against."""
    found = get_bank(session, bank)
    last = session.scalar(
        select(CalibrationVersion.version)
        .where(CalibrationVersion.bank_id == found.id)
        .order_by(CalibrationVersion.version.desc())
        .limit(1)
    )
    row = CalibrationVersion(
        bank_id=found.id,
        version=(last or 0) + 1,
        digest=calibration_digest(calibration),
        params=calibration.model_dump(mode="json"),
        source=source[:200],
    )
    session.add(row)
    audit(session, actor, "calibration.added", "bank", bank, version=row.version, digest=row.digest, **(proposal or {}))
    session.flush()
    return _info(bank, row)


def calibration_proposals(session: Session, bank: str) -> dict[int, dict[str, Any]]:
    """Version → what its fit reported (labels' sources, figures, warnings)."""
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.entity_type == "bank", AuditEntry.entity_id == bank, AuditEntry.action == "calibration.added")
        .order_by(AuditEntry.id)
    )
    found: dict[int, dict[str, Any]] = {}
    for entry in entries:
        version = entry.details.get("version")
        if isinstance(version, int):
            found[version] = {k: v for k, v in entry.details.items() if k not in ("version", "digest")}
    return found


def calibration_proposal(session: Session, bank: str, version: int) -> dict[str, Any]:
    """What the fit of this version reported; {} for none."""
    return calibration_proposals(session, bank).get(version, {})


class CalibrationNeedsConfirmation(Conflict):
    """The proposal carries warnings: publishing needs a confirmation naming each of their codes."""

    code = "calibration_needs_confirmation"


def publish_calibration(
    session: Session, bank: str, version: int, *, actor: Principal, confirm: Iterable[str] = ()
) -> CalibrationInfo:
    """Grade the bank with this version from now on. A version whose fit warned (it disagrees sharply
    with the calibration grading now, or scores the bank's reference answers low) is published only
    when `confirm` names every warning's code; the audit entry records what was confirmed."""
    found = get_bank(session, bank)
    row = session.scalar(
        select(CalibrationVersion).where(CalibrationVersion.bank_id == found.id, CalibrationVersion.version == version)
    )
    if row is None:
        raise NotFound(
            f"bank '{bank}' has no calibration version {version}", details={"bank": bank, "version": version}
        )
    if row.published_at is not None:
        raise Conflict(
            f"calibration version {version} of bank '{bank}' is already published",
            details={"bank": bank, "version": version},
        )
    proposal = calibration_proposal(session, bank, version)
    warnings: dict[str, str] = proposal.get("warnings") or {}
    unconfirmed = sorted(set(warnings) - {c.strip() for c in confirm})
    if unconfirmed:
        raise CalibrationNeedsConfirmation(
            f"calibration version {version} of bank '{bank}' warns: "
            + "; ".join(f"[{code}] {warnings[code]}" for code in unconfirmed)
            + ". Publish it only if that is intended, confirming "
            + ", ".join(unconfirmed)
            + " (CLI: --confirm "
            + ",".join(unconfirmed)
            + ")",
            details={"warnings": warnings, "confirm": unconfirmed, "labels_from": proposal.get("labels_from", {})},
        )
    row.published_at, row.published_by = utcnow(), actor.name
    audit(
        session,
        actor,
        "calibration.published",
        "bank",
        bank,
        version=version,
        digest=row.digest,
        confirmed=sorted(warnings),
        labels_from=proposal.get("labels_from", {}),
    )
    session.flush()
    return _info(bank, row)


def list_calibrations(session: Session, bank: str) -> list[CalibrationInfo]:
    found = get_bank(session, bank)
    rows = session.scalars(
        select(CalibrationVersion).where(CalibrationVersion.bank_id == found.id).order_by(CalibrationVersion.version)
    )
    proposals = calibration_proposals(session, bank)
    return [_info(bank, row, proposals.get(row.version)) for row in rows]


def bank_calibration(session: Session, bank: str) -> CalibrationInfo | None:
    """The latest published calibration of the bank; None: grade with the shipped calibration."""
    found = get_bank(session, bank)
    row = session.scalar(
        select(CalibrationVersion)
        .where(CalibrationVersion.bank_id == found.id, CalibrationVersion.published_at.is_not(None))
        .order_by(CalibrationVersion.version.desc())
        .limit(1)
    )
    return _info(bank, row) if row is not None else None


def bank_calibrations(session: Session, banks: Iterable[str]) -> dict[str, CalibrationInfo]:
    """`bank_calibration` for several banks in one statement; a bank without one is absent."""
    names = sorted(set(banks))
    if not names:
        return {}
    rows = session.execute(
        select(Bank.name, CalibrationVersion)
        .join(Bank, Bank.id == CalibrationVersion.bank_id)
        .where(Bank.name.in_(names), CalibrationVersion.published_at.is_not(None))
        .order_by(CalibrationVersion.version)
    ).all()
    return {name: _info(name, row) for name, row in rows}  # the latest published wins


def fit_bank_calibration(
    examples: Sequence[Signals], shipped: Calibration, *, bank: str, embedder: str, source: str, command: str
) -> Calibration:
    """The one place a bank's own calibration is fitted: the shipped cross-bank model refitted on the
    bank's labelled answers and pulled towards it (5-fold cross-validated figures in `cv_metrics`,
    keyed `cv_<bank>_<metric>`)."""
    return fit_own(
        examples,
        shipped,
        bank=bank,
        version=f"{SCORING_VERSION}+{embedder}+{bank}",
        fitted_on=source,
        fit_command=command,
    )
