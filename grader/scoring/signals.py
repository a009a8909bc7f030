"""What the engine measured in one answer, before calibration: the inputs of every fitted model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Signals(BaseModel):
    """Per key point, then for the whole answer; `label` (the human score, 0–10) only when fitting."""

    model_config = ConfigDict(frozen=True)

    weights: list[float]
    similarities: list[float]
    keyword_shares: list[float]
    contradicted: list[bool]
    whole_similarity: float
    flags: list[str]
    curated: list[bool] = []  # key points a person curated (their keywords, statements, misconceptions)
    # Key points that add to the score (covered, partial or disputed; not missed or contradicted). Empty in
    # signals measured before states existed: then every point not contradicted counts.
    counted: list[bool] = []
    # Key points counted on a clause that may say them with a sibling term swapped in (`engine._swaps`): their
    # credit stands, but a strong answer with one goes to a person (`calibration.settle`).
    swapped: list[bool] = []
    # Lexical overlap with the reference answer and lengths: they mean the same in any bank.
    keyword_presence: float = 0.0  # share of keyword groups present anywhere in the answer
    bigram_precision: float = 0.0
    bigram_recall: float = 0.0
    bigram_f1: float = 0.0
    novel_precision: float = 0.0  # bigram overlap leaving out the question's own bigrams
    novel_recall: float = 0.0
    opposite_swaps: int = 0  # reference word pairs the answer holds with one side turned into its opposite
    token_recall: float = 0.0  # share of the reference's content words the answer contains
    term_recall: float = 0.0  # ... beyond the question's, weighted by rarity (`lexical.term_recall`)
    # Whole-answer cosine to the question, and to its own reference less the best other question's in the
    # bank: an answer to another question of the field is closer to that question's reference.
    question_similarity: float = 0.0
    own_margin: float = 0.0
    # The answer's claims against the reference's (`claims.check`): clauses in all, clauses pairing reference
    # terms, and of those the ones pairing terms no reference clause pairs, swapping a sibling, negating.
    answer_clauses: int = 0
    claim_clauses: int = 0
    claim_novel: int = 0
    claim_swapped: int = 0
    claim_negated: int = 0
    # +1 where the answer opens with the verdict the reference opens with (错误 … / 正确 …), -1 the opposite.
    verdict: int = 0
    # Share of the answer's formulas and numbers the reference states (`lexical.formulas`).
    expression_precision: float = 0.0
    # The answer is the result its reference derives, a formula and little else (`lexical.formulas`).
    states_result: bool = False
    other_script: float = 0.0  # share of the answer's words in the script the reference mostly does not use
    answer_chars: int = 0  # lengths in reading units: a CJK character 1, a Latin word 1.7 (`lexical.reading_length`)
    reference_chars: int = 0
    label: float | None = None
