"""The reference bank as shipped, and what an admin sees when a reference file is broken."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.errors import ReferenceFileError
from grader.questions.references import DEFAULT_DIR, DEFAULT_SEED_DIR, load_bank, load_reference
from grader.scoring.types import Reference

SEED_DIR = Path(os.environ.get("GRADER_SEED_DIR", str(DEFAULT_SEED_DIR)))
EXPECTED_IDS = [f"q{n:02d}" for n in range(1, 13)]


def seed_questions() -> list[tuple[str, str]]:
    """(question, answer) pairs read straight from the seed, independently of grader.questions.refbuild."""
    files = sorted(SEED_DIR.glob("*.txt"))
    if not files:
        pytest.fail(
            f"no seed file in {SEED_DIR}: the seed document ships in reference_answers/seed/ (or set GRADER_SEED_DIR)"
        )
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    blocks = re.split(r"^##(?!#)", text, flags=re.MULTILINE)[1:]
    pairs = []
    for block in blocks:
        header, _, body = block.partition("\n")
        pairs.append((header.strip(), body.strip()))
    return pairs


def bank() -> dict[str, Reference]:
    return load_bank(DEFAULT_DIR)


def english(text: str) -> bool:
    return len(re.findall(r"[A-Za-z]+", text)) >= 5


# The bank as shipped


def test_every_reference_file_loads_and_validates():
    assert sorted(bank()) == EXPECTED_IDS


def test_ids_follow_the_seed_order():
    questions = [question for question, _ in seed_questions()]
    assert [bank()[qid].question for qid in EXPECTED_IDS] == questions


def test_reference_answer_is_the_seed_text_verbatim():
    for qid, (question, answer) in zip(EXPECTED_IDS, seed_questions(), strict=True):
        assert bank()[qid].question == question
        assert bank()[qid].reference_answer == answer, qid


def test_weights_of_every_file_add_up_to_one():
    for ref in bank().values():
        assert sum(kp.weight for kp in ref.key_points) == pytest.approx(1.0, abs=1e-9), ref.id


def test_every_key_point_is_curated_into_a_rubric_item():
    for ref in bank().values():
        assert 2 <= len(ref.key_points) <= 6, ref.id
        for kp in ref.key_points:
            where = f"{ref.id}.{kp.id}"
            assert kp.curated, where
            assert 2 <= len(kp.keywords) <= 6, where
            assert 2 <= len(kp.statements) <= 5, where
            assert any(english(s) for s in kp.statements), f"{where} has no English phrasing"
            assert 1 <= len(kp.misconceptions) <= 4, where


def test_keywords_are_not_bare_generic_words():
    generic = {"模型", "数据", "输出", "输入", "model", "data"}
    for ref in bank().values():
        for kp in ref.key_points:
            assert not {k.term for k in kp.keywords} & generic, f"{ref.id}.{kp.id}"


def test_a_keyword_form_is_listed_once_per_keyword():
    for ref in bank().values():
        for kp in ref.key_points:
            for kw in kp.keywords:
                forms = [f.lower() for f in kw.forms()]
                assert len(forms) == len(set(forms)), f"{ref.id}.{kp.id}: {kw.term}"


def test_q05_records_the_rlfh_slip_and_marks_on_rlhf():
    q05 = bank()["q05"]
    assert "RLFH" in q05.reference_answer  # the seed's wording stays as written
    corrected = [kp for kp in q05.key_points if kp.correction and "RLFH" in kp.correction]
    assert corrected, "q05 has no correction for RLFH"
    kp = corrected[0]
    assert "RLHF" in kp.text
    assert any("RLHF" in kw.forms() for kw in kp.keywords)
    assert not any("RLFH" in " ".join([kp.text, *kp.statements]) for kp in q05.key_points)


def test_q07_records_that_rope_rotates_q_and_k_not_v():
    q07 = bank()["q07"]
    corrected = [kp for kp in q07.key_points if kp.correction and "V" in kp.correction]
    assert corrected, "q07 has no correction about V"
    assert "Q 和 K" in corrected[0].text
    assert any("RoPE 作用在 V 上" in kp.misconceptions for kp in q07.key_points)
    assert not any("QKV" in kp.text for kp in q07.key_points)


def test_q06_marks_on_temperature_not_the_seeds_typo():
    q06 = bank()["q06"]
    assert "问答系数" in q06.reference_answer
    assert any(kp.correction and "问答系数" in kp.correction for kp in q06.key_points)
    assert not any("问答系数" in kp.text for kp in q06.key_points)


# Broken files: the message names the file, the field and the problem


def valid_reference(qid: str = "q01") -> dict[str, Any]:
    return {
        "id": qid,
        "question": "在 GPT 中，什么是温度系数？",
        "reference_answer": "温度系数是一个超参数。",
        "key_points": [
            {"id": "kp1", "text": "温度是超参数", "weight": 0.4, "keywords": [{"term": "温度"}]},
            {"id": "kp2", "text": "温度作用在 softmax 上", "weight": 0.6, "keywords": [{"term": "softmax"}]},
        ],
    }


def write(directory: Path, name: str, content: dict[str, Any] | str) -> Path:
    path = directory / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(ReferenceFileError) as excinfo:
        load_reference(path)
    return str(excinfo.value)


def test_a_valid_file_loads(tmp_path):
    ref = load_reference(write(tmp_path, "q01.yaml", valid_reference()))
    assert [kp.id for kp in ref.key_points] == ["kp1", "kp2"]


def test_a_missing_field_is_named(tmp_path):
    data = valid_reference()
    del data["question"]
    path = write(tmp_path, "q01.yaml", data)
    message = load_error(path)
    assert str(path) in message
    assert "field 'question'" in message
    assert "Field required" in message


def test_a_missing_field_inside_a_key_point_is_named_with_its_position(tmp_path):
    data = valid_reference()
    del data["key_points"][1]["keywords"]
    message = load_error(write(tmp_path, "q01.yaml", data))
    assert "field 'key_points.1.keywords'" in message
    assert "Field required" in message


def test_weights_not_adding_up_to_one_are_reported_with_their_sum(tmp_path):
    data = valid_reference()
    data["key_points"][1]["weight"] = 0.5
    path = write(tmp_path, "q01.yaml", data)
    message = load_error(path)
    assert str(path) in message
    assert "weights must add up to 1.0" in message
    assert "0.900" in message


def test_a_duplicate_key_point_id_is_reported(tmp_path):
    data = valid_reference()
    data["key_points"][1]["id"] = "kp1"
    path = write(tmp_path, "q01.yaml", data)
    message = load_error(path)
    assert str(path) in message
    assert "field 'key_points'" in message
    assert "repeated: kp1" in message


def test_a_weight_out_of_range_names_the_key_point(tmp_path):
    data = valid_reference()
    data["key_points"][0]["weight"] = 0
    message = load_error(write(tmp_path, "q01.yaml", data))
    assert "field 'key_points.0.weight'" in message
    assert "greater than 0" in message


def test_invalid_yaml_is_reported_as_such(tmp_path):
    path = write(tmp_path, "q01.yaml", "id: q01\nquestion: [unclosed\n")
    message = load_error(path)
    assert str(path) in message
    assert "is not valid YAML" in message


def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path):
    message = load_error(write(tmp_path, "q01.yaml", "- just\n- a list\n"))
    assert "must be a YAML mapping" in message


def test_an_id_that_does_not_match_the_file_name_is_reported(tmp_path):
    path = write(tmp_path, "q02.yaml", valid_reference("q01"))
    message = load_error(path)
    assert str(path) in message
    assert "field 'id'" in message
    assert "'q01'" in message
    assert "q02.yaml" in message


def test_a_file_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "q01.yaml"
    path.write_bytes(yaml.safe_dump(valid_reference(), allow_unicode=True).encode("gbk"))
    assert "not UTF-8" in load_error(path)


def test_an_empty_directory_is_reported(tmp_path):
    with pytest.raises(ReferenceFileError, match="holds no"):
        load_bank(tmp_path)


def test_one_bad_file_stops_the_whole_bank_from_loading(tmp_path):
    write(tmp_path, "q01.yaml", valid_reference("q01"))
    bad = valid_reference("q02")
    bad["key_points"][0]["weight"] = 0.9
    write(tmp_path, "q02.yaml", bad)
    with pytest.raises(ReferenceFileError, match=r"q02\.yaml"):
        load_bank(tmp_path)
