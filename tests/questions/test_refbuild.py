"""`grader refs build`: generating reference files from the seed and merging with curated ones."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from grader.errors import ReferenceFileError
from grader.questions.refbuild import (
    allocate_weights,
    build_bank,
    build_reference,
    dump_reference,
    read_seed,
    refs_build_command,
    split_key_points,
)
from grader.questions.references import DEFAULT_DIR, DEFAULT_SEED_DIR, load_bank, load_reference
from grader.scoring import lexical
from grader.scoring.types import KeyPoint, Keyword, Reference

SEED_DIR = Path(os.environ.get("GRADER_SEED_DIR", str(DEFAULT_SEED_DIR)))
EXPECTED_IDS = [f"q{n:02d}" for n in range(1, 13)]


@pytest.fixture(scope="module")
def seed() -> Path:
    if not any(SEED_DIR.glob("*.txt")):
        pytest.fail(
            f"no seed file in {SEED_DIR}: the seed document ships in reference_answers/seed/ (or set GRADER_SEED_DIR)"
        )
    return SEED_DIR


def load_bank_of(paths: list[Path]) -> list[Reference]:
    return [load_reference(p) for p in paths]


def test_reading_the_seed_numbers_questions_in_file_order(seed):
    questions = read_seed(seed)
    assert [q.id for q in questions] == EXPECTED_IDS
    assert questions[0].question == "说一下 chatgpt 的优缺点"
    assert questions[5].question == "在 GPT 中，什么是温度系数？"


def test_the_seed_can_be_given_as_its_file_or_its_directory(seed):
    (file,) = sorted(seed.glob("*.txt"))
    assert read_seed(file) == read_seed(seed)


def test_building_from_the_seed_gives_a_valid_reference_for_every_question(seed, tmp_path):
    paths = build_bank(seed, tmp_path)
    assert [p.name for p in paths] == [f"{qid}.yaml" for qid in EXPECTED_IDS]
    references = load_bank(tmp_path)
    for qid, question in zip(EXPECTED_IDS, read_seed(seed), strict=True):
        ref = references[qid]
        assert ref.reference_answer == question.answer
        assert ref.key_points
        assert not any(kp.curated for kp in ref.key_points)


def test_generated_weights_add_up_to_exactly_one_in_thousandths(seed, tmp_path):
    for ref in load_bank_of(build_bank(seed, tmp_path)):
        weights = [kp.weight for kp in ref.key_points]
        assert sum(round(w * 1000) for w in weights) == 1000, ref.id
        assert all(w == round(w, 3) and w > 0 for w in weights), ref.id


def test_a_generated_file_keeps_the_fields_in_reading_order_and_unicode_as_text(seed, tmp_path):
    text = build_bank(seed, tmp_path)[6].read_text(encoding="utf-8")
    assert list(yaml.safe_load(text)) == ["id", "question", "reference_answer", "key_points"]
    assert "旋转位置编码" in text
    assert "\\u" not in text


def test_generated_key_points_carry_ascii_terms_as_keywords(seed, tmp_path):
    build_bank(seed, tmp_path)
    q07 = load_reference(tmp_path / "q07.yaml")
    terms = {form for kp in q07.key_points for kw in kp.keywords for form in kw.forms()}
    assert "QKV" in terms
    assert "RoPE" in terms or "ROPe" in terms


def test_glossary_terms_get_their_chinese_and_english_spellings_as_aliases():
    answer = "它的核心是人类反馈的强化学习，也叫 RLHF，最后输出经过 softmax。"
    data = build_reference("q01", "问题", answer, None)
    keywords = [Keyword(**kw) for kp in data["key_points"] for kw in kp["keywords"]]
    rlhf = next(kw for kw in keywords if kw.term == "RLHF")
    assert "reinforcement learning from human feedback" in rlhf.aliases
    assert "softmax" in {kw.term for kw in keywords}


def test_numbered_list_items_become_separate_key_points():
    answer = (
        "1. 预训练：在海量文本上做无监督学习 2. 指令微调：用人工标注的数据做有监督训练 3. 训练奖励模型：人类给结果排序"
    )
    points = split_key_points(answer)
    assert len(points) == 3
    assert points[0].startswith("预训练")
    assert points[2].startswith("训练奖励模型")


def test_the_items_of_an_enumeration_are_read_without_the_words_around_the_list():
    assert lexical.enumeration_items("其中程序计数器、虚拟机栈和本地方法栈是线程私有的，生命周期与线程相同") == [
        "程序计数器",
        "虚拟机栈",
        "本地方法栈",
    ]
    assert lexical.enumeration_items(
        "宏任务（macrotask），如整体 script、setTimeout、setInterval、I/O、UI 事件、MessageChannel"
    )[1:] == [
        "setTimeout",
        "setInterval",
        "I/O",
        "UI 事件",
        "MessageChannel",
    ]
    assert lexical.enumeration_items("堆和方法区是所有线程共享的") == []  # two items joined by 和 are no enumeration


def test_a_list_number_and_quotation_marks_are_not_part_of_the_items():
    # fe02 drafted "3. 防抖" and jv05 "赋值引用”被重排序" as keywords: an admin's rubric and a candidate's feedback
    # showed them as terms the answer missed.
    assert lexical.enumeration_items("3. 防抖、节流、memoize 等需要在多次调用之间保存状态的工具函数") == [
        "防抖",
        "节流",
        "memoize",
    ]
    assert lexical.enumeration_items("（2）配货、配装、送达服务") == ["配货", "配装", "送达服务"]
    assert lexical.enumeration_items("防止 new 对象时“分配内存、初始化、赋值引用”被重排序") == [
        "分配内存",
        "初始化",
        "赋值引用",
    ]
    assert lexical.enumeration_items("1.5 倍、2 倍、3 倍") == ["1.5 倍", "2 倍", "3 倍"]  # a decimal is no list number


def _keywords(answer: str) -> list[list[str]]:
    reference = build_reference("t1", "问题", answer, None)
    return [[kw["term"] for kw in kp["keywords"]] for kp in reference["key_points"]]


def test_a_list_point_takes_its_items_as_keywords():
    answer = "SQL 标准定义了四种隔离级别，从低到高依次是读未提交、读已提交、可重复读和串行化。串行化的并发性能最差。"
    first = _keywords(answer)[0]
    assert {"读未提交", "读已提交", "可重复读", "串行化"} <= set(first)


def test_general_words_are_not_keywords_where_the_point_has_rarer_terms():
    # 使用 / 可能 / 情况 are general Chinese (jieba IDF below GENERAL_WORD_IDF); the point has technical terms.
    terms = {
        t for kws in _keywords("在这种情况下可能使用乐观锁，通过版本号检测并发冲突，冲突时重试事务。") for t in kws
    }
    assert not terms & {"使用", "可能", "情况"}
    assert "版本号" in terms


def test_two_words_jieba_ran_together_are_no_keyword_but_terms_it_guessed_are():
    answer = "交叉验证适合数据量不大时做模型选择和超参调优。分类问题且类别不平衡时应使用分层抽样。"
    terms = {t for kws in _keywords(answer) for t in kws}
    assert not terms & {"和超", "时应"}  # 和 / 时: function characters run into the next word
    assert {"数据量", "类别"} <= terms
    held = {t for kws in _keywords("老年代使用卡表记录跨代引用，回调先压入栈中。") for t in kws}
    assert {"卡表", "压入"} <= held  # two-character terms jieba's dictionary lacks, with no function character


def test_a_fragment_without_a_subject_joins_the_claim_before_it():
    points = split_key_points(
        "FixedThreadPool 使用无界的 LinkedBlockingQueue，任务堆积时内存会一直增长。都可能导致 OOM。"
    )
    assert points[-1].endswith("，都可能导致 OOM") and not any(p.startswith("都") for p in points)


def test_a_piece_that_announces_a_list_joins_the_claim_it_announces():
    points = split_key_points(
        "任务提交后的处理流程是：当前线程数小于 corePoolSize 时，直接创建新的核心线程执行该任务。"
    )
    assert points[0].startswith("任务提交后的处理流程是：当前线程数")


def test_tiny_fragments_are_merged_into_a_neighbour():
    points = split_key_points("encoder：\n首先通过 tokenizer 把词语映射成 id，再查词向量表")
    assert points == ["encoder 首先通过 tokenizer 把词语映射成 id，再查词向量表"]


def test_long_sentences_are_cut_at_commas_but_not_inside_brackets():
    answer = (
        "首先数据需要进行预处理，通过 tokenizer 将词语映射成 id，接着通过词向量层把离散的 id 变成连续向量，"
        "此时向量维度应为【batch_size，seq_len，d_model】，然后加上位置编码表示词的位置"
    )
    points = split_key_points(answer)
    assert len(points) > 1
    assert any("【batch_size，seq_len，d_model】" in p for p in points)


def test_allocated_weights_are_proportional_and_sum_exactly():
    weights = allocate_weights([10, 20, 30, 40])
    assert weights == [0.1, 0.2, 0.3, 0.4]
    assert sum(round(w * 1000) for w in allocate_weights([7, 7, 7])) == 1000
    assert sum(round(w * 1000) for w in allocate_weights([1, 1000, 1], total=0.25)) == 250
    assert all(w > 0 for w in allocate_weights([1, 1000, 1], total=0.25))


# Merging with an existing file


def curated_point(kp_id: str, weight: float) -> KeyPoint:
    return KeyPoint(
        id=kp_id,
        text="温度大于 1 时分布变平，低概率的词概率变大，输出更随机",
        weight=weight,
        keywords=[
            Keyword(term="温度", aliases=["temperature", "T"]),
            Keyword(term="更随机", aliases=["random"]),
        ],
        statements=["A temperature above 1 flattens the distribution."],
        misconceptions=["温度越高输出越确定"],
        correction="种子原文 “问答系数” 应为 “温度系数”。",
        curated=True,
    )


def with_key_points(ref: Reference, key_points: list[KeyPoint]) -> dict[str, object]:
    """A file's content mid-curation: its weights need not add up to 1 until the next build."""
    return {**ref.model_dump(), "key_points": [kp.model_dump() for kp in key_points]}


def key_point_block(text: str, kp_id: str) -> str:
    """The YAML lines of one key point, from its `- id:` line to the next key point."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"- id: {kp_id}\n")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("- id: ")), len(lines))
    return "".join(lines[start:end])


def test_a_rebuild_keeps_curated_key_points_byte_for_byte_and_regenerates_the_rest(seed, tmp_path):
    build_bank(seed, tmp_path)
    path = tmp_path / "q06.yaml"
    generated = load_reference(path)
    hand_edited_auto = generated.key_points[1].model_copy(update={"text": "某人改了却没标 curated", "weight": 0.6})
    ref = with_key_points(generated, [curated_point("kp3", 0.4), hand_edited_auto])
    path.write_text(dump_reference(ref), encoding="utf-8")
    before = key_point_block(path.read_text(encoding="utf-8"), "kp3")

    build_bank(seed, tmp_path)

    after_text = path.read_text(encoding="utf-8")
    assert key_point_block(after_text, "kp3") == before
    rebuilt = load_reference(path)
    assert rebuilt.key_points[0] == curated_point("kp3", 0.4)
    auto = [kp for kp in rebuilt.key_points if not kp.curated]
    assert auto, "the uncurated part of the answer was not regenerated"
    assert "某人改了却没标 curated" not in after_text
    assert "kp3" not in {kp.id for kp in auto}


def test_automatic_key_points_share_the_weight_the_curated_ones_leave(seed, tmp_path):
    build_bank(seed, tmp_path)
    path = tmp_path / "q06.yaml"
    ref = load_reference(path)
    path.write_text(dump_reference(with_key_points(ref, [curated_point("kp1", 0.4)])), "utf-8")

    build_bank(seed, tmp_path)

    rebuilt = load_reference(path)
    auto_weights = [kp.weight for kp in rebuilt.key_points if not kp.curated]
    assert sum(round(w * 1000) for w in auto_weights) == 600
    assert sum(kp.weight for kp in rebuilt.key_points) == pytest.approx(1.0)


def test_a_generated_point_that_a_curated_one_already_says_is_not_regenerated(seed, tmp_path):
    build_bank(seed, tmp_path)
    path = tmp_path / "q12.yaml"
    ref = load_reference(path)
    first, second = ref.key_points
    kept = first.model_copy(update={"curated": True, "weight": 0.5})
    path.write_text(dump_reference(with_key_points(ref, [kept])), "utf-8")

    build_bank(seed, tmp_path)

    rebuilt = load_reference(path)
    assert [kp.text for kp in rebuilt.key_points] == [first.text, second.text]
    assert [kp.weight for kp in rebuilt.key_points] == [0.5, 0.5]


def test_rebuilding_the_curated_bank_changes_nothing(seed, tmp_path):
    out = tmp_path / "bank"
    shutil.copytree(DEFAULT_DIR, out)
    before = {p.name: p.read_bytes() for p in out.glob("*.yaml")}

    build_bank(seed, out)

    assert {p.name: p.read_bytes() for p in out.glob("*.yaml")} == before


def test_the_question_and_reference_answer_always_come_from_the_seed(seed, tmp_path):
    build_bank(seed, tmp_path)
    path = tmp_path / "q05.yaml"
    ref = load_reference(path)
    tampered = ref.model_copy(update={"question": "改过的问题", "reference_answer": "RLHF（已修正）"})
    path.write_text(dump_reference(tampered.model_dump()), "utf-8")

    build_bank(seed, tmp_path)

    rebuilt = load_reference(path)
    assert rebuilt.question == read_seed(seed)[4].question
    assert "RLFH" in rebuilt.reference_answer


def test_an_invalid_existing_file_stops_the_build_and_is_left_as_it_was(seed, tmp_path):
    build_bank(seed, tmp_path)
    path = tmp_path / "q03.yaml"
    path.write_text("id: q03\nkey_points: [\n", encoding="utf-8")

    with pytest.raises(ReferenceFileError, match=r"q03\.yaml"):
        build_bank(seed, tmp_path)
    assert path.read_text(encoding="utf-8") == "id: q03\nkey_points: [\n"


def test_the_command_reports_each_file_it_wrote(seed, tmp_path, capsys):
    refs_build_command(seed, tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12
    assert lines[0].startswith(str(tmp_path / "q01.yaml"))
    assert "0 curated" in lines[0]


def test_curated_weights_above_one_stop_the_build_naming_the_file(seed, tmp_path):
    build_bank(seed, tmp_path)
    path = tmp_path / "q06.yaml"
    ref = load_reference(path)
    too_heavy = [curated_point("kp1", 0.7), curated_point("kp2", 0.6)]
    path.write_text(dump_reference(with_key_points(ref, too_heavy)), "utf-8")

    with pytest.raises(ReferenceFileError) as excinfo:
        build_bank(seed, tmp_path)
    assert str(path) in str(excinfo.value)
    assert "field 'key_points'" in str(excinfo.value)
    assert "add up to 1.300" in str(excinfo.value)


def test_a_list_is_not_cut_between_its_items_nor_from_the_claim_it_belongs_to():
    points = split_key_points(
        "任务分为两类：宏任务（macrotask），如整体 script、setTimeout、setInterval、I/O、UI 事件、MessageChannel；"
        "微任务（microtask），如 Promise.then/catch/finally、await 之后的代码、queueMicrotask、MutationObserver。"
    )
    assert points == [
        "任务分为两类：宏任务（macrotask），如整体 script、setTimeout、setInterval、I/O、UI 事件、MessageChannel",
        "微任务（microtask），如 Promise.then/catch/finally、await 之后的代码、queueMicrotask、MutationObserver",
    ]


def test_what_a_colon_announces_stays_with_it():
    points = split_key_points("Promise 是表示异步操作最终结果的对象，有三种状态：pending、fulfilled 和 rejected。")
    assert points == ["Promise 是表示异步操作最终结果的对象，有三种状态：pending、fulfilled 和 rejected"]


def test_a_number_in_brackets_is_no_list_item():
    points = split_key_points("因此同一轮注册的 Promise.then 回调总是先于 setTimeout(fn, 0) 的回调执行。")
    assert points == ["因此同一轮注册的 Promise.then 回调总是先于 setTimeout(fn, 0) 的回调执行"]


def test_an_example_joins_its_claim_but_a_condition_starts_a_new_one():
    example = split_key_points(
        "另一类是用自监督目标预训练，例如 Word2Vec（Skip-gram 用中心词预测上下文，CBOW 用上下文预测中心词）、"
        "Item2Vec、双塔模型的对比学习、BERT 等"
    )
    assert len(example) == 1
    condition = split_key_points(
        "注意求最大的 K 个用小顶堆，求最小的 K 个用大顶堆，因为堆顶保存的是当前 K 个里最小或最大的那个元素，"
        "如果数据能全部放进内存，也可以用基于快排 partition 的快速选择（Quick Select）"
    )
    assert condition == [
        "注意求最大的 K 个用小顶堆，求最小的 K 个用大顶堆，因为堆顶保存的是当前 K 个里最小或最大的那个元素",
        "如果数据能全部放进内存，也可以用基于快排 partition 的快速选择（Quick Select）",
    ]


def test_a_short_predicate_finishes_the_claim_before_it():
    points = split_key_points(
        "实践中可以比较训练误差和验证误差，或者画 learning curve：训练误差和验证误差都很高且接近，是高 bias；"
        "训练误差低但验证误差明显更高、两者差距大，是高 variance"
    )
    assert points[0].endswith("都很高且接近，是高 bias")
    assert points[1].startswith("训练误差低")
