"""Reading answer sheets: real CSV bytes in every encoding Excel writes, real .xlsx workbooks."""

from __future__ import annotations

import io
import string
import time
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.batches.parsing import Limits, QuestionMatcher, RowErrorCode, parse_sheet
from grader.errors import UnreadableSheet, UploadTooLarge
from grader.questions.references import load_bank
from tests.support.sheets import LONG_HEADER, LONG_ROWS, QUESTIONS, csv_bytes, xlsx_bytes


def parse(data: bytes, **kwargs):
    return parse_sheet(data, QUESTIONS, **kwargs)


# --- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030"), ("utf-16", "utf-16")],
)
def test_long_csv_in_every_encoding_excel_writes(encoding, reported):
    sheet = parse(csv_bytes(LONG_ROWS, encoding=encoding))

    assert sheet.file_format == "csv"
    assert sheet.encoding == reported
    assert sheet.layout == "long"
    assert sheet.errors == []
    assert [(a.row, a.candidate_id, a.question_id) for a in sheet.answers] == [
        (2, "c001", "q01"),
        (3, "c001", "q02"),
        (4, "c002", "q01"),
        (5, "c002", "q10"),
    ]
    first = sheet.answers[0]
    assert first.candidate_name == "张三"
    assert first.candidate_email == "zhang@example.com"
    assert first.answer == "优点：开创了生成式 AI，引入了 RLHF。\n缺点：消耗大量资源，有幻觉。"


def test_gbk_bytes_are_not_mistaken_for_utf8():
    data = "候选人,题号,答案\nc1,q06,温度系数控制采样的随机性\n".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    sheet = parse(data)

    assert sheet.encoding == "gb18030"
    assert sheet.answers[0].answer == "温度系数控制采样的随机性"


def test_bytes_in_no_supported_encoding_are_refused_with_what_to_do():
    data = b"candidate,question,answer\nc1,q01,\x80\xff\xfe broken\n"

    with pytest.raises(UnreadableSheet, match="CSV UTF-8"):
        parse(data)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(delimiter):
    rows = [*LONG_ROWS, ("c003", "王五", "", "q03", "多头注意力, 可以关注不同子空间; 表达能力更强")]

    sheet = parse(csv_bytes(rows, delimiter=delimiter))

    assert sheet.delimiter == delimiter
    assert sheet.answers[-1].answer == "多头注意力, 可以关注不同子空间; 表达能力更强"


def test_multi_line_cells_keep_their_lines_and_later_rows_keep_excel_row_numbers():
    rows = [
        ("candidate_id", "question_id", "answer"),
        ("c1", "q01", '第一行\r\n第二行\r\n\r\n第四行, "引号"'),
        ("c1", "q02", ""),  # an error reported on the row Excel shows, not the physical line
    ]

    sheet = parse(csv_bytes(rows))

    assert sheet.answers[0].answer == '第一行\r\n第二行\r\n\r\n第四行, "引号"'
    assert [(e.row, e.code) for e in sheet.errors] == [(3, RowErrorCode.EMPTY_ANSWER)]


# --- headers and layouts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        ("candidate_id", "question_id", "answer"),
        ("Candidate ID", "Question ID", "Answer"),
        (" CANDIDATE_ID ", "question", "ANSWER "),
        ("候选人", "题目", "回答"),
        ("候选人ID", "问题", "作答内容"),
        ("考生编号", "题号", "答案"),
        ("候选人编号*", "题号（必填）", "答案（必填）"),
    ],
)
def test_header_names_are_matched_leniently(header):
    sheet = parse(csv_bytes([header, ("c1", "q05", "RLHF 用人类偏好训练奖励模型")]))

    assert sheet.layout == "long"
    assert [(a.candidate_id, a.question_id) for a in sheet.answers] == [("c1", "q05")]


def test_a_title_line_above_the_header_is_passed_over():
    rows = [("2024 秋招 LLM 笔试答卷",), (), LONG_HEADER, ("c1", "", "", "q01", "答案")]

    sheet = parse(csv_bytes(rows))

    assert sheet.header_row == 3
    assert sheet.answers[0].row == 4


def test_wide_format_with_question_ids_as_headers():
    rows = [
        ("候选人编号", "姓名", "q01", "Q2", "q3"),
        ("c1", "张三", "答一", "答二", "答三"),
        ("c2", "李四", "答一", "", "答三"),
    ]

    sheet = parse(csv_bytes(rows))

    assert sheet.layout == "wide"
    assert [(a.row, a.candidate_id, a.question_id) for a in sheet.answers] == [
        (2, "c1", "q01"),
        (2, "c1", "q02"),
        (2, "c1", "q03"),
        (3, "c2", "q01"),
        (3, "c2", "q03"),
    ]
    [error] = sheet.errors
    assert (error.row, error.column, error.question_id) == (3, "Q2", "q02")
    assert error.code == RowErrorCode.EMPTY_ANSWER


def test_wide_format_with_the_real_banks_question_texts_as_headers():
    bank = {qid: ref.question for qid, ref in load_bank().items()}
    texts = list(bank.values())
    headers = [
        "姓名",
        "邮箱",
        texts[0],  # as in the bank
        texts[1].upper() + " ",  # case and spacing changed
        texts[2][:12],  # cut short by the spreadsheet
        "q04 " + texts[3],
    ]  # id in front of the text
    rows = [headers, ["张三", "z@example.com", "a1", "a2", "a3", "a4"]]

    sheet = parse_sheet(csv_bytes(rows), bank)

    assert sheet.layout == "wide"
    ids = sorted(bank)
    assert [a.question_id for a in sheet.answers] == ids[:4]
    assert {a.candidate_id for a in sheet.answers} == {"z@example.com"}  # no id column: email identifies


def test_full_width_punctuation_and_spacing_in_question_headers():
    rows = [("候选人", "什么是旋转位置编码(ROPE)?", "在GPT中, 什么是温度系数"), ("c1", "a", "b")]

    sheet = parse(csv_bytes(rows))

    assert [a.question_id for a in sheet.answers] == ["q07", "q06"]


def test_columns_it_could_not_use_are_reported():
    rows = [("候选人", "部门", "q01", "备注"), ("c1", "算法", "答", "无")]

    sheet = parse(csv_bytes(rows))

    assert sheet.columns == {"候选人": "candidate_id", "q01": "q01"}
    assert sheet.ignored_columns == ["部门", "备注"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("q01", "q01"),
        ("Q1", "q01"),
        ("1", "q01"),
        ("01", "q01"),
        ("第1题", "q01"),
        ("题1", "q01"),
        ("Q 12", "q12"),
        ("q12. 如何缓解复读机", "q12"),
        ("question 3", "q03"),
        ("如何缓解 llm 复读机的问题？", "q12"),
        ("为什么Transformer需要位置编码", "q10"),
        ("q13", None),
        ("13", None),
        ("", None),
        ("什么", None),
        ("今天天气怎么样", None),
    ],
)
def test_question_labels(label, expected):
    assert QuestionMatcher(QUESTIONS).match(label) == expected


# --- row errors ----------------------------------------------------------------------------------


def test_bad_rows_are_reported_with_row_number_and_reason_and_good_rows_kept():
    rows = [
        ("candidate_id", "question_id", "answer"),
        ("c1", "q01", "好的答案"),  # 2 ok
        ("c1", "q99", "答案"),  # 3 unknown question
        ("c1", "q02", "   "),  # 4 empty
        ("c1", "q03", "长" * 101),  # 5 too long
        ("c1", "Q1", "又答了一次"),  # 6 duplicate of row 2
        ("", "q04", "没有候选人"),  # 7 no candidate
        (),  # 8 blank: not an error
        ("c2", "q04", "好的答案"),  # 9 ok
    ]

    sheet = parse(csv_bytes(rows), max_answer_chars=100)

    assert [(a.row, a.candidate_id, a.question_id) for a in sheet.answers] == [(2, "c1", "q01"), (9, "c2", "q04")]
    assert [(e.row, e.code) for e in sheet.errors] == [
        (3, RowErrorCode.UNKNOWN_QUESTION),
        (4, RowErrorCode.EMPTY_ANSWER),
        (5, RowErrorCode.ANSWER_TOO_LONG),
        (6, RowErrorCode.DUPLICATE),
        (7, RowErrorCode.MISSING_CANDIDATE),
    ]
    reasons = {e.row: e.reason for e in sheet.errors}
    assert reasons[3] == "unknown question 'q99'"
    assert reasons[5] == "the answer is 101 characters; the limit is 100"
    assert reasons[6].startswith("duplicate of row 2")
    assert sheet.data_rows == 7
    assert sheet.total_answers == 7


def test_over_long_candidate_id_is_a_row_error():
    sheet = parse(csv_bytes([("候选人", "题号", "答案"), ("x" * 500, "q01", "答"), ("c2", "q01", "答")]))

    assert [e.code for e in sheet.errors] == [RowErrorCode.FIELD_TOO_LONG]
    assert [a.candidate_id for a in sheet.answers] == ["c2"]


# --- xlsx ----------------------------------------------------------------------------------------


def test_xlsx_long_format_with_numbers_and_formula_text():
    rows = [
        LONG_HEADER,
        (1001, "张三", None, 1, "答案一\n第二行"),
        (1002, "李四", None, "q2", '=HYPERLINK("http://evil","点我")'),
    ]

    sheet = parse(xlsx_bytes(("答卷", rows)))

    assert sheet.file_format == "xlsx"
    assert sheet.encoding is None
    assert sheet.sheet_name == "答卷"
    assert [(a.row, a.candidate_id, a.question_id) for a in sheet.answers] == [(2, "1001", "q01"), (3, "1002", "q02")]
    assert sheet.answers[0].answer == "答案一\n第二行"
    # Kept as the text that was typed; nothing is evaluated, and exports escape it.
    assert sheet.answers[1].answer == '=HYPERLINK("http://evil","点我")'


def test_xlsx_wide_format_on_a_later_sheet_with_blank_rows():
    cover = [("说明",), ("本文件为 2024 秋招答卷",)]
    answers = [("candidate_id", "q01", "q02"), ("c1", "a", "b"), (None, None, None), (None,), ("c2", "a", None)]

    sheet = parse(xlsx_bytes(("说明", cover), ("answers", answers)), filename="答卷.xlsx")

    assert sheet.sheet_name == "answers"
    assert sheet.layout == "wide"
    assert [(a.row, a.candidate_id, a.question_id) for a in sheet.answers] == [
        (2, "c1", "q01"),
        (2, "c1", "q02"),
        (5, "c2", "q01"),
    ]
    assert [(e.row, e.code) for e in sheet.errors] == [(5, RowErrorCode.EMPTY_ANSWER)]


def test_xlsx_whose_stored_dimensions_lie_is_read_in_full():
    rows = [("candidate_id", "question_id", "answer"), *[(f"c{i}", "q01", "a") for i in range(50)]]

    def forge(xml: bytes) -> bytes:
        assert b'<dimension ref="A1:C51" />' in xml
        return xml.replace(b'<dimension ref="A1:C51" />', b'<dimension ref="A1:A1" />')

    data = _rewrite_member(xlsx_bytes(("s", rows)), "xl/worksheets/sheet1.xml", forge)

    assert len(parse(data).answers) == 50


# --- whole-file refusals -------------------------------------------------------------------------


def test_a_file_over_the_size_cap_is_refused_before_reading():
    row = ("c1", "q01", "答" * 1000)
    data = csv_bytes([("candidate_id", "question_id", "answer"), *[row] * 7200])
    assert len(data) > 20 * 1024 * 1024

    with pytest.raises(UploadTooLarge, match="over the 20 MB limit") as exc:
        parse(data)
    assert exc.value.status_code == 413


def test_a_sheet_with_more_than_50000_answers_is_refused():
    rows = [("candidate_id", "question_id", "answer"), *[(f"c{i}", "q01", "a") for i in range(50_001)]]

    with pytest.raises(UploadTooLarge, match="more than 50,000 answers"):
        parse(csv_bytes(rows))


def test_a_wide_sheet_counts_answers_not_rows():
    rows = [("candidate_id", *QUESTIONS), *[(f"c{i}", *"a" * 12) for i in range(10)]]

    with pytest.raises(UploadTooLarge):
        parse(csv_bytes(rows), limits=Limits(max_answers=100))
    assert len(parse(csv_bytes(rows), limits=Limits(max_answers=120)).answers) == 120


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        ("这是一封求职信。\n我对贵公司的岗位很感兴趣。\n".encode(), "not a table"),
        (b"name,department,salary\nzhang,ml,100\n", "no usable columns"),
        ("候选人,题号,答案\n".encode(), "no answers"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, ".xls"),
        (b"PK\x03\x04 this is not really a zip", "damaged"),
        (
            b'candidate_id,question_id,answer\nc1,q01,ok\nc2,q01,"never closed\nc3,q01,x\n',
            "from row 3 on .* quote opened there is never closed",
        ),
    ],
)
def test_files_that_are_not_answer_sheets_are_refused_with_a_reason(data, message):
    with pytest.raises(UnreadableSheet, match=message) as exc:
        parse(data)
    assert exc.value.status_code == 422


def test_no_usable_columns_names_what_it_found_and_what_it_expects():
    with pytest.raises(UnreadableSheet) as exc:
        parse(csv_bytes([("部门", "分数"), ("算法", "90")]))

    assert "部门, 分数" in exc.value.message
    assert "候选人编号" in exc.value.message
    assert exc.value.details["header"] == ["部门", "分数"]


def test_a_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("answers.csv", "candidate_id,question_id,answer\n")

    with pytest.raises(UnreadableSheet, match="not an Excel workbook"):
        parse(out.getvalue())


def test_a_zip_bomb_workbook_is_refused_before_it_is_expanded():
    workbook = xlsx_bytes(("s", [("candidate_id", "question_id", "answer"), ("c1", "q01", "a")]))
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bomb,
    ):
        for member in source.infolist():
            bomb.writestr(member, source.read(member))
        bomb.writestr("xl/media/image1.bin", b"\0" * (32 * 1024 * 1024))  # 32 MB -> ~32 KB, under the total cap
    data = out.getvalue()
    assert len(data) < 200 * 1024

    started = time.perf_counter()
    with pytest.raises(UploadTooLarge, match="zip bomb") as exc:
        parse(data)
    assert time.perf_counter() - started < 1.0
    assert exc.value.status_code == 413


def test_a_workbook_expanding_past_the_cap_is_refused():
    rows = [("candidate_id", "question_id", "answer"), *[(f"c{i}", "q01", "答案" * 50) for i in range(2000)]]

    with pytest.raises(UploadTooLarge, match="unpacks to"):
        parse(xlsx_bytes(("s", rows)), limits=Limits(max_uncompressed_bytes=256 * 1024))


def test_a_zip_member_that_understates_its_size_cannot_expand_past_it():
    rows = [("candidate_id", "question_id", "answer"), *[(f"c{i}", "q01", "答案" * 50) for i in range(200)]]
    data = _understate_size(xlsx_bytes(("s", rows)), "xl/worksheets/sheet1.xml", declared=100)

    with pytest.raises(UnreadableSheet, match="could not be read"):
        parse(data)


# --- property: whatever the answers hold, a CSV written by Excel's rules reads back the same -------

answer_text = st.text(
    alphabet=st.characters(codec="gb18030", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n,;\t\"'"),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() and not s.startswith("\ufeff"))
candidate = st.text(alphabet=string.ascii_letters + string.digits + "-_@.", min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    answers=st.dictionaries(
        st.tuples(candidate, st.sampled_from(sorted(QUESTIONS))), answer_text, min_size=1, max_size=8
    ),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_any_answers_round_trip_through_csv(answers, encoding, delimiter):
    rows = [("candidate_id", "question_id", "answer"), *[(c, q, a) for (c, q), a in answers.items()]]

    sheet = parse(csv_bytes(rows, encoding=encoding, delimiter=delimiter), max_answer_chars=10_000)

    assert sheet.errors == [] or all(e.code == RowErrorCode.DUPLICATE for e in sheet.errors)
    got = {(a.candidate_id, a.question_id): a.answer for a in sheet.answers}
    assert got == {(c.strip(), q): a.strip() for (c, q), a in answers.items() if (c.strip(), q) in got}
    assert len(sheet.answers) + len(sheet.errors) == len(answers)


# --- helpers that forge zip entries ----------------------------------------------------------------


def _rewrite_member(data: bytes, name: str, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member)
            target.writestr(member, change(content) if member.filename == name else content)
    return out.getvalue()


def _understate_size(data: bytes, name: str, declared: int) -> bytes:
    """Patch the uncompressed size a member declares, in its local and central headers."""
    buffer = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    local = info.header_offset
    assert buffer[local : local + 4] == b"PK\x03\x04"
    buffer[local + 22 : local + 26] = declared.to_bytes(4, "little")
    central = 0
    while True:
        central = buffer.index(b"PK\x01\x02", central)
        name_len = int.from_bytes(buffer[central + 28 : central + 30], "little")
        if buffer[central + 46 : central + 46 + name_len] == name.encode():
            buffer[central + 24 : central + 28] = declared.to_bytes(4, "little")
            break
        central += 4
    return bytes(buffer)


def test_ignored_columns_say_why_and_which_questions_share_a_text() -> None:
    from grader.batches.parsing import parse_sheet
    from tests.support.sheets import csv_bytes

    questions = {"q01": "什么是温度系数？", "le-001": "什么是温度系数？", "q02": "什么是位置编码"}
    data = csv_bytes([("候选人编号", "q02", "Q13", "什么是温度系数？"), ("c-1", "位置编码提供顺序信息", "x", "y")])
    sheet = parse_sheet(data, questions, filename="s.csv")
    reasons = {r["column"]: r for r in sheet.ignored_reasons}
    assert sheet.ignored_columns == ["Q13", "什么是温度系数？"]
    assert reasons["Q13"]["reason"] == "no question 'Q13' in any published bank"
    shared = reasons["什么是温度系数？"]
    assert shared["questions"] == ["le-001", "q01"] and "several questions share" in shared["reason"]
