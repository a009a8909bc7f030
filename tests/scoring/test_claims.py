"""An answer's claims read against the reference's (`claims.check`), on the interview banks' own references: a
sibling put in place of the reference's term is a swap; a list of siblings is not a claim about any of them;
speech transcribed without punctuation is read clause by clause at its pauses."""

from __future__ import annotations

from grader.eval_bank import load_eval_bank
from grader.scoring import claims
from grader.scoring.text import normalise


def _swaps(bank: str, question_id: str, answer: str) -> list[str]:
    reference = load_eval_bank(bank)[question_id].reference_answer
    return claims.check(normalise(answer), reference).swapped


def test_a_sibling_in_place_of_the_references_term_is_a_swap() -> None:
    # jv02's reference: 程序计数器、虚拟机栈和本地方法栈是线程私有的 … 堆和方法区是线程共享的.
    assert _swaps("jv", "jv02", "栈是所有线程共享的。") == ["栈是所有线程共享的"]
    assert _swaps("jv", "jv02", "虚拟机栈是线程私有的。") == []


def test_a_list_of_siblings_is_not_a_claim_about_any_of_them() -> None:
    # ml11's reference lists guardrail metrics; naming several of them together claims nothing about either.
    assert _swaps("ml", "ml11", "护栏指标比如接口延迟、负反馈率、次日留存、GMV。") == []


def test_speech_without_punctuation_is_read_at_its_pauses() -> None:
    spoken = (
        "嗯 运行时数据区的话 主要是五块 程序计数器 虚拟机栈 本地方法栈 然后是堆和方法区 那个 "
        "前面三个是线程私有的 每个线程一份 堆跟方法区是线程共享的 嗯"
    )
    assert claims.clauses(normalise(spoken))[:3] == ["嗯", "运行时数据区的话", "主要是五块"]
    assert _swaps("jv", "jv02", spoken) == []
    assert _swaps("jv", "jv02", "嗯 然后栈是所有线程共享的 嗯") == ["然后栈是所有线程共享的"]
