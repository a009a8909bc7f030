"""Use cases for question banks: import, list, edit drafts, publish, export, and the published
references the grader reads. Plain functions over a Session; the caller (API, CLI, dashboard)
commits, so a failed step leaves nothing behind.

The database is the source of truth. A bank's questions each have a draft (`bank_questions`);
`publish_bank` turns the drafts into the bank's next version: one immutable reference version per
question, keyed by its content hash, which is what grades and pinned submissions name.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.audit import audit
from grader.db.bank_models import Bank, BankQuestion, BankVersion, BankVersionQuestion
from grader.db.base import utcnow
from grader.db.models import Question, ReferenceVersion
from grader.errors import (
    BankNotFound,
    BankVersionNotFound,
    Conflict,
    GraderError,
    InvalidBankFile,
    InvalidInput,
    NothingToPublish,
    QuestionNotFound,
    ReferenceFileError,
)
from grader.keys.principal import Principal
from grader.questions.documents import BankRow, derive_question_id, normalise_question, parse_bank_document
from grader.questions.drafts import DraftEdit, apply_edit, generate_drafts, key_point_dicts, reference_from_row
from grader.questions.refbuild import _key_point_dict, dump_reference
from grader.questions.references import load_bank
from grader.questions.versions import BankDiff, bank_digest, diff_banks
from grader.scoring.types import Reference

BANK_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
# The bank migration 0005 loads from reference_answers/*.yaml; its ids (q01..q12) are the YAML files'.
DEFAULT_BANK = "llm"


# --- reports (what the doors render) ---------------------------------------------------------------


class ImportedQuestion(BaseModel):
    question_id: str
    row: int
    question: str
    status: Literal["added", "updated", "unchanged"]
    id_from: Literal["file", "bank", "derived"]  # given in the file, matched by text, or hashed
    key_points: int
    curated: int


class PublishReport(BaseModel):
    bank: str
    version: int
    digest: str
    diff: BankDiff


class ImportReport(BaseModel):
    bank: str
    dry_run: bool
    file_format: str
    new_bank: bool
    questions: list[ImportedQuestion]
    removed: list[str] = Field(default_factory=list)  # drafts the file no longer holds
    published: PublishReport | None = None
    note: str | None = None

    def counts(self) -> dict[str, int]:
        return {s: sum(q.status == s for q in self.questions) for s in ("added", "updated", "unchanged")}


class BankSummary(BaseModel):
    name: str
    title: str
    created_at: datetime
    questions: int
    version: int | None  # latest published, None before the first publish
    published_at: datetime | None
    pending: int  # questions whose draft differs from the latest version (added, edited or removed)


class QuestionSummary(BaseModel):
    question_id: str
    position: int
    question: str
    key_points: int
    curated: int
    draft_hash: str
    published_hash: str | None  # in the latest version
    pending: bool


class VersionSummary(BaseModel):
    version: int
    digest: str
    published_at: datetime
    published_by: str
    questions: int


class PublishedBank(BaseModel):
    bank: str
    version: int
    digest: str
    references: dict[str, Reference]  # by question id, in the bank's order


# --- reading ---------------------------------------------------------------------------------------


def get_bank(session: Session, name: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is None:
        raise BankNotFound(name, list(session.scalars(select(Bank.name).order_by(Bank.name))))
    return bank


def _draft_rows(session: Session, bank: Bank) -> list[BankQuestion]:
    return list(
        session.scalars(select(BankQuestion).where(BankQuestion.bank_id == bank.id).order_by(BankQuestion.position))
    )


def _draft(row: BankQuestion) -> Reference:
    return reference_from_row(row.question_id, row.question, row.reference_answer, row.key_points)


def _latest_version(session: Session, bank: Bank) -> BankVersion | None:
    return session.scalar(
        select(BankVersion).where(BankVersion.bank_id == bank.id).order_by(BankVersion.version.desc()).limit(1)
    )


def _version(session: Session, bank: Bank, version: int | None) -> BankVersion:
    found = (
        _latest_version(session, bank)
        if version is None
        else session.scalar(select(BankVersion).where(BankVersion.bank_id == bank.id, BankVersion.version == version))
    )
    if found is None:
        raise BankVersionNotFound(bank.name, version)
    return found


def _rebuild(version: ReferenceVersion) -> Reference:
    if version.question is None:
        raise GraderError(
            f"reference version {version.question_id}/{version.content_hash} was stored "
            "before banks and lacks its question; it cannot be rebuilt"
        )
    ref = reference_from_row(version.question_id, version.question, version.reference_answer, version.key_points)
    if ref.content_hash != version.content_hash:
        raise GraderError(
            f"reference version {version.question_id}/{version.content_hash} rebuilds to "
            f"hash {ref.content_hash}: the stored row was altered"
        )
    return ref


def _version_references(session: Session, version: BankVersion) -> dict[str, Reference]:
    rows = session.scalars(
        select(ReferenceVersion)
        .join(
            BankVersionQuestion,
            (BankVersionQuestion.question_id == ReferenceVersion.question_id)
            & (BankVersionQuestion.content_hash == ReferenceVersion.content_hash),
        )
        .where(BankVersionQuestion.bank_version_id == version.id)
        .order_by(BankVersionQuestion.position)
    )
    return {row.question_id: _rebuild(row) for row in rows}


def published_references(session: Session, bank: str, version: int | None = None) -> PublishedBank:
    """The references a published version grades with (the latest when `version` is None)."""
    found = _version(session, get_bank(session, bank), version)
    return PublishedBank(
        bank=bank, version=found.version, digest=found.digest, references=_version_references(session, found)
    )


def published_question_ids(session: Session, bank: str, version: int | None = None) -> list[str]:
    """The question ids a published version holds (the latest when `version` is None), in order; what
    `published_references` returns without rebuilding each reference."""
    found = _version(session, get_bank(session, bank), version)
    return list(
        session.scalars(
            select(BankVersionQuestion.question_id)
            .where(BankVersionQuestion.bank_version_id == found.id)
            .order_by(BankVersionQuestion.position)
        )
    )


def references_by_hash(session: Session, versions: Iterable[tuple[str, str]]) -> dict[str, Reference]:
    """Pinned reference versions, (question id, content hash) → `Reference` keyed by content hash:
    what grading a pinned submission (or re-grading) needs, whatever version is now the latest."""
    wanted = set(versions)
    if not wanted:
        return {}
    rows = session.scalars(
        select(ReferenceVersion).where(
            ReferenceVersion.question_id.in_({q for q, _ in wanted}),
            ReferenceVersion.content_hash.in_({h for _, h in wanted}),
        )
    )
    return {row.content_hash: _rebuild(row) for row in rows if (row.question_id, row.content_hash) in wanted}


def list_banks(session: Session) -> list[BankSummary]:
    out = []
    for bank in session.scalars(select(Bank).order_by(Bank.name)):
        drafts = {row.question_id: row.draft_hash for row in _draft_rows(session, bank)}
        latest = _latest_version(session, bank)
        published = _published_hashes(session, latest)
        pending = sum(published.get(q) != h for q, h in drafts.items()) + len(published.keys() - drafts.keys())
        out.append(
            BankSummary(
                name=bank.name,
                title=bank.title,
                created_at=bank.created_at,
                questions=len(drafts),
                version=latest.version if latest else None,
                published_at=latest.published_at if latest else None,
                pending=pending,
            )
        )
    return out


def _published_hashes(session: Session, version: BankVersion | None) -> dict[str, str]:
    if version is None:
        return {}
    rows = session.execute(
        select(BankVersionQuestion.question_id, BankVersionQuestion.content_hash).where(
            BankVersionQuestion.bank_version_id == version.id
        )
    )
    return {q: h for q, h in rows.all()}


def list_questions(session: Session, bank: str) -> list[QuestionSummary]:
    found = get_bank(session, bank)
    published = _published_hashes(session, _latest_version(session, found))
    return [
        QuestionSummary(
            question_id=row.question_id,
            position=row.position,
            question=row.question,
            key_points=len(row.key_points),
            curated=sum(bool(kp.get("curated")) for kp in row.key_points),
            draft_hash=row.draft_hash,
            published_hash=published.get(row.question_id),
            pending=published.get(row.question_id) != row.draft_hash,
        )
        for row in _draft_rows(session, found)
    ]


def list_versions(session: Session, bank: str) -> list[VersionSummary]:
    found = get_bank(session, bank)
    counts = (
        select(BankVersionQuestion.bank_version_id, func.count().label("n"))
        .group_by(BankVersionQuestion.bank_version_id)
        .subquery()
    )
    rows = session.execute(
        select(BankVersion, counts.c.n)
        .join(counts, counts.c.bank_version_id == BankVersion.id)
        .where(BankVersion.bank_id == found.id)
        .order_by(BankVersion.version)
    )
    return [
        VersionSummary(
            version=v.version, digest=v.digest, published_at=v.published_at, published_by=v.published_by, questions=n
        )
        for v, n in rows.all()
    ]


def diff_versions(session: Session, bank: str, old: int | None = None, new: int | None = None) -> BankDiff:
    """From version `old` (default: the one before `new`) to version `new` (default: the drafts, i.e.
    what publishing now would change)."""
    found = get_bank(session, bank)
    if new is None:
        after = {row.question_id: _draft(row) for row in _draft_rows(session, found)}
        base = _latest_version(session, found) if old is None else _version(session, found, old)
    else:
        after = _version_references(session, _version(session, found, new))
        base = None if new == 1 and old is None else _version(session, found, new - 1 if old is None else old)
    before = _version_references(session, base) if base else {}
    return diff_banks(before, after, old_version=base.version if base else None, new_version=new)


# --- drafts ----------------------------------------------------------------------------------------


def _draft_row(session: Session, bank: Bank, question_id: str) -> BankQuestion:
    row = session.scalar(
        select(BankQuestion).where(BankQuestion.bank_id == bank.id, BankQuestion.question_id == question_id)
    )
    if row is None:
        known = [
            q
            for q in session.scalars(
                select(BankQuestion.question_id)
                .where(BankQuestion.bank_id == bank.id)
                .order_by(BankQuestion.position)
                .limit(20)
            )
        ]
        raise QuestionNotFound(question_id, known)
    return row


def get_draft(session: Session, bank: str, question_id: str) -> Reference:
    return _draft(_draft_row(session, get_bank(session, bank), question_id))


def edit_draft(session: Session, bank: str, question_id: str, edit: DraftEdit, *, actor: Principal) -> Reference:
    """Change a draft's question, reference answer or key points (text, weight, keywords with aliases,
    correct statements, misconceptions). Edited key points become curated: imports keep them."""
    found = get_bank(session, bank)
    row = _draft_row(session, found, question_id)
    before = _draft(row)
    after = apply_edit(before, edit)
    if after.content_hash != before.content_hash:
        _store_draft(row, after)
        _audit(
            session,
            actor,
            "bank.draft_edited",
            bank,
            question_id=question_id,
            old_hash=before.content_hash,
            new_hash=after.content_hash,
        )
    return after


def _store_draft(row: BankQuestion, ref: Reference) -> None:
    row.question = ref.question
    row.reference_answer = ref.reference_answer
    row.key_points = key_point_dicts(ref)
    row.draft_hash = ref.content_hash
    row.updated_at = utcnow()


# --- import ----------------------------------------------------------------------------------------


def _check_name(bank: str) -> None:
    if not BANK_NAME.fullmatch(bank):
        raise InvalidInput(
            f"'{bank}' is not a usable bank name; use lower-case letters, digits, '-' or '_' (e.g. le, ads-2026)",
            details={"bank": bank},
        )


def _owners(session: Session, ids: Sequence[str], bank_id: int | None) -> dict[str, str]:
    """Ids another bank holds, as a draft or in a published version (question ids are global)."""
    owners: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        drafts = (
            select(BankQuestion.question_id, Bank.name)
            .join(Bank, Bank.id == BankQuestion.bank_id)
            .where(BankQuestion.question_id.in_(chunk), Bank.id != (bank_id or -1))
        )
        published = (
            select(BankVersionQuestion.question_id, Bank.name)
            .join(BankVersion, BankVersion.id == BankVersionQuestion.bank_version_id)
            .join(Bank, Bank.id == BankVersion.bank_id)
            .where(BankVersionQuestion.question_id.in_(chunk), Bank.id != (bank_id or -1))
        )
        for query in (drafts, published):
            owners.update({q: b for q, b in session.execute(query).all()})
    return owners


def _known(session: Session, bank: str, found: Bank | None, drafts: dict[str, Reference]) -> dict[str, Reference]:
    """Every question the bank has held: its drafts, else its latest published version holding the
    question, else (default bank only) the shipped YAML files, the explicit map of the seed's
    questions to q01..q12. Import matches a file's questions to these by text and keeps their
    curated key points, so a question dropped and brought back regains its id and its curation."""
    known: dict[str, Reference] = {}
    if bank == DEFAULT_BANK:
        with contextlib.suppress(ReferenceFileError):  # a deployment without the shipped files
            known.update(load_bank())
    if found is not None:
        history = session.scalars(
            select(ReferenceVersion)
            .join(
                BankVersionQuestion,
                (BankVersionQuestion.question_id == ReferenceVersion.question_id)
                & (BankVersionQuestion.content_hash == ReferenceVersion.content_hash),
            )
            .join(BankVersion, BankVersion.id == BankVersionQuestion.bank_version_id)
            .where(BankVersion.bank_id == found.id)
            .order_by(BankVersion.version)
        )
        known.update({row.question_id: _rebuild(row) for row in history})
    known.update(drafts)
    return known


def _assign_ids(
    session: Session, bank: str, bank_id: int | None, rows: list[BankRow], known: dict[str, Reference]
) -> list[tuple[str, BankRow, str]]:
    """Each row's id: as the file gives it, else the bank's question with the same text (so a
    reordered or re-exported document keeps ids and curated key points), else a hash of the text."""
    by_text = {normalise_question(ref.question): qid for qid, ref in known.items()}
    assigned: list[tuple[str, BankRow, str]] = []
    for row in rows:
        if row.question_id is not None:
            assigned.append((row.question_id, row, "file"))
        elif (matched := by_text.get(normalise_question(row.question))) is not None:
            assigned.append((matched, row, "bank"))
        else:
            assigned.append((derive_question_id(bank, row.question), row, "derived"))
    errors: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    for qid, row, _ in assigned:
        if qid in first_row:
            errors.append(
                {
                    "row": row.row,
                    "field": "question_id",
                    "message": f"resolves to {qid!r}, "
                    f"which row {first_row[qid]} already has; give this question its own id",
                }
            )
        first_row.setdefault(qid, row.row)
    owners = _owners(session, list(first_row), bank_id)
    errors.extend(
        {
            "row": row.row,
            "field": "question_id",
            "message": f"{qid!r} belongs to bank "
            f"'{owners[qid]}'; question ids are shared by all banks, so choose another",
        }
        for qid, row, _ in assigned
        if qid in owners
    )
    if errors:
        raise InvalidBankFile(
            f"{len(errors)} problem(s) with question ids; nothing was imported", sorted(errors, key=lambda e: e["row"])
        )
    return assigned


def import_bank(
    session: Session,
    bank: str,
    data: bytes,
    filename: str | None = None,
    *,
    actor: Principal,
    title: str | None = None,
    dry_run: bool = False,
    publish: bool = False,
) -> ImportReport:
    """Read a document or table into the bank's drafts, creating the bank if needed.

    The file replaces the bank's drafts: questions it no longer holds are dropped from the drafts
    (their published versions, and every grade, stay). Everything is validated before the first
    write; `dry_run` stops there and reports what would change. `publish` publishes at once.
    """
    _check_name(bank)
    document = parse_bank_document(data, filename)
    found = session.scalar(select(Bank).where(Bank.name == bank))
    current = {row.question_id: row for row in _draft_rows(session, found)} if found else {}
    existing = {qid: _draft(row) for qid, row in current.items()}
    known = _known(session, bank, found, existing)
    assigned = _assign_ids(session, bank, found.id if found else None, document.rows, known)
    drafts = generate_drafts([(qid, row) for qid, row, _ in assigned], known)

    questions = []
    for (qid, row, source), ref in zip(assigned, drafts, strict=True):
        old = existing.get(qid)
        status = "added" if old is None else "unchanged" if old.content_hash == ref.content_hash else "updated"
        questions.append(
            ImportedQuestion(
                question_id=qid,
                row=row.row,
                question=ref.question,
                status=status,
                id_from=source,
                key_points=len(ref.key_points),
                curated=sum(kp.curated for kp in ref.key_points),
            )
        )
    new_ids = {ref.id for ref in drafts}
    report = ImportReport(
        bank=bank,
        dry_run=dry_run,
        file_format=document.file_format,
        new_bank=found is None,
        questions=questions,
        removed=[q for q in current if q not in new_ids],
    )
    if dry_run:
        return report

    if found is None:
        found = Bank(name=bank, title=title or document.title or bank)
        session.add(found)
        _flush_or_conflict(
            session, f"question bank '{bank}' was created by someone else at the same time; import again"
        )
    elif title:
        found.title = title
    if report.removed:
        session.execute(delete(BankQuestion).where(BankQuestion.question_id.in_(report.removed)))
    for position, ref in enumerate(drafts, start=1):
        row_ = current.get(ref.id)
        if row_ is None:
            row_ = BankQuestion(
                question_id=ref.id,
                bank_id=found.id,
                position=position,
                question="",
                reference_answer="",
                key_points=[],
                draft_hash="",
            )
            session.add(row_)
            _store_draft(row_, ref)
        else:
            row_.position = position
            if row_.draft_hash != ref.content_hash:
                _store_draft(row_, ref)
    _audit(
        session,
        actor,
        "bank.imported",
        bank,
        file_format=document.file_format,
        **report.counts(),
        removed=report.removed,
    )
    session.flush()
    if publish:
        try:
            report.published = publish_bank(session, bank, actor=actor)
        except NothingToPublish as exc:
            report.note = exc.message
    return report


# --- publishing ------------------------------------------------------------------------------------


def _store_versions(session: Session, refs: Sequence[Reference]) -> None:
    """Reference versions are content-addressed: one already stored (by grading, or by another
    version) is the same content, so it is reused; one stored before banks gets its question."""
    ids = [ref.id for ref in refs]
    stored = {
        (q, h)
        for q, h in session.execute(
            select(ReferenceVersion.question_id, ReferenceVersion.content_hash).where(
                ReferenceVersion.question_id.in_(ids)
            )
        ).all()
    }
    questions = {q.id: q for q in session.scalars(select(Question).where(Question.id.in_(ids)))}
    for ref in refs:
        question = questions.get(ref.id)
        if question is None:
            session.add(Question(id=ref.id, text=ref.question, current_hash=ref.content_hash))
        elif question.current_hash != ref.content_hash or question.text != ref.question:
            question.text, question.current_hash, question.updated_at = ref.question, ref.content_hash, utcnow()
        if (ref.id, ref.content_hash) in stored:
            session.execute(
                update(ReferenceVersion)
                .where(
                    ReferenceVersion.question_id == ref.id,
                    ReferenceVersion.content_hash == ref.content_hash,
                    ReferenceVersion.question.is_(None),
                )
                .values(question=ref.question)
            )
        else:
            session.add(
                ReferenceVersion(
                    question_id=ref.id,
                    content_hash=ref.content_hash,
                    question=ref.question,
                    reference_answer=ref.reference_answer,
                    key_points=key_point_dicts(ref),
                )
            )
    # The version rows exist before bank_version_questions point at them.
    _flush_or_conflict(
        session,
        "another publish stored the same reference versions at the same time; "
        "look at the bank's latest version and publish again if needed",
    )


def publish_bank(session: Session, bank: str, *, actor: Principal) -> PublishReport:
    """The drafts become the bank's next version: immutable, hashed, with its diff from the last one.
    Old versions, and the grades and submissions that name them, are untouched."""
    found = get_bank(session, bank)
    drafts = {row.question_id: _draft(row) for row in _draft_rows(session, found)}
    if not drafts:
        raise InvalidInput(f"question bank '{bank}' has no questions to publish; import some first")
    latest = _latest_version(session, found)
    digest = bank_digest(drafts)
    if latest is not None and latest.digest == digest:
        raise NothingToPublish(bank, latest.version)
    previous = _version_references(session, latest) if latest else {}
    _store_versions(session, list(drafts.values()))
    version = BankVersion(
        bank_id=found.id, version=latest.version + 1 if latest else 1, digest=digest, published_by=actor.name
    )
    session.add(version)
    _flush_or_conflict(
        session,
        f"question bank '{bank}' was published by someone else at the same time; "
        "look at its latest version and publish again if needed",
    )
    session.add_all(
        BankVersionQuestion(
            bank_version_id=version.id, question_id=ref.id, content_hash=ref.content_hash, position=position
        )
        for position, ref in enumerate(drafts.values(), start=1)
    )
    diff = diff_banks(previous, drafts, old_version=latest.version if latest else None, new_version=version.version)
    _audit(session, actor, "bank.published", bank, version=version.version, digest=digest, summary=diff.summary())
    session.flush()
    return PublishReport(bank=bank, version=version.version, digest=digest, diff=diff)


# --- export ----------------------------------------------------------------------------------------


def export_bank(session: Session, bank: str, version: int | None = None, *, drafts: bool = False) -> str:
    """The bank as YAML (a published version, the latest by default, or the drafts), in the layout
    `import_bank` reads back with every key point as it is."""
    found = get_bank(session, bank)
    label: int | str
    if drafts:
        refs = [_draft(row) for row in _draft_rows(session, found)]
        label, digest = "draft", bank_digest({r.id: r for r in refs})
    else:
        chosen = _version(session, found, version)
        refs = list(_version_references(session, chosen).values())
        label, digest = chosen.version, chosen.digest
    document = {
        "bank": found.name,
        "title": found.title,
        "version": label,
        "digest": digest,
        "questions": [
            {
                "id": ref.id,
                "question": ref.question,
                "reference_answer": ref.reference_answer,
                "key_points": [_key_point_dict(kp) for kp in ref.key_points],
            }
            for ref in refs
        ],
    }
    text = dump_reference(document)
    yaml.safe_load(text)  # what is written must read back
    return text


def _flush_or_conflict(session: Session, message: str) -> None:
    """A unique (bank name) or (bank, version) clash means a concurrent import or publish won."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


def _audit(session: Session, actor: Principal, action: str, bank: str, **details: Any) -> None:
    audit(session, actor, action, "bank", bank, **details)
