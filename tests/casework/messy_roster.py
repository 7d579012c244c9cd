"""A roster the way stations really keep them, built with openpyxl into a test's tmp_path: an instructions sheet
first, a title and a date line above the header, the station's own column names, a merged 村居 cell, full-width
spaces in a name, an old 15-digit ID number, a lower-case x, a landline, a blank risk, categories in other
spellings and with several separators, an ID stored as a number, an unknown category, 合计 and 填表人 footers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
from town import id_number

OLD_ID = "440106520315018"  # 15 digits, born 1952-03-15
OLD_ID_AS_18 = id_number("44010619520315018")
LOWER_X_ID = "440106194805200012"
HE_ID = "440106199001011235"
NUMERIC_ID = 440106194001010013  # typed into a number cell: Excel keeps 15 significant digits
HEADER = [
    "序号",
    "姓名",
    "性别",
    "所属村居",
    "详细地址",
    "联系方式",
    "本人电话",
    "公民身份号码",
    "人员类别",
    "风险级别",
    "责任社工",
    "上次走访日期",
    "备注",
]
IGNORED = ["序号", "性别", "备注"]
SHEET = "服务对象名单"


def lower_x_id() -> str:
    """A valid ID whose check character is X, written with a lower-case x."""
    for serial in range(1000):
        number = id_number(f"44010619480520{serial:03d}")
        if number.endswith("X"):
            return number[:-1] + "x"
    raise AssertionError("no X check character in range")


def build_messy_roster(path: Path) -> Path:
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "填表说明"
    notes.append(["填表说明"])
    notes.append(["1. 每位服务对象一行；2. 身份证号请设为文本格式；3. 类别可填多个，用顿号隔开。"])
    sheet = book.create_sheet(SHEET)
    sheet.append(["石牌街社工站服务对象名单（2026年11月）"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    sheet.append(["填报单位：石牌街社工站", None, None, None, None, None, None, None, None, "日期：2026-11-30"])
    sheet.append(HEADER)
    sheet.append(
        [
            1,
            "何　亚妹",
            "女",
            "石牌村",
            "石牌东路1号",
            None,
            "13812345678",
            HE_ID,
            "特困、独居",
            "高",
            "王芳",
            datetime(2026, 10, 15),
            None,
        ]
    )  # line 4
    sheet.append(
        [
            2,
            "李 伯",
            "男",
            None,
            "石牌东路3号",
            "020-12345678",
            None,
            OLD_ID,
            "低保户/残疾人",
            None,
            None,
            None,
            "子女在外地",
        ]
    )  # line 5
    sheet.append(
        [
            3,
            "陈婆",
            "女",
            None,
            "石牌西路2号",
            "(0757)8123 4567",
            None,
            lower_x_id(),
            "特困人员",
            "中风险",
            "王芳",
            "2026/9/1",
            None,
        ]
    )  # line 6
    sheet.merge_cells("D4:D6")  # one 村居 for three rows
    sheet.append([4, "张三", "男", "龙口村", "", "", "", NUMERIC_ID, "低保", "低", "", None, None])  # line 7
    sheet.append(
        [5, "赵六", "男", "龙口村", "", "", "", id_number("44010619450707001"), "五保户", "低", "", None, None]
    )  # line 8
    sheet.append([None, "合计", None, None, None, None, None, None, "5 人"])  # line 9
    sheet.append(["填表人：王芳", None, None, None, "审核：李敏"])  # line 10
    book.save(path)
    return path
