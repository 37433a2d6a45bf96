"""The columns of each register's sheet: one table per kind, shared by import and export.

A column is found by its Chinese header (what the export writes), by the model's English field name,
or by one of a few common variants. Headers are compared after removing spaces and a trailing "*"
(templates often mark required columns "姓名*"), case-insensitively.

people (人员) -- one row per person; matched to a registered person by 身份证号, else by 来源+来源编号
    姓名*  性别  出生日期  身份证号  联系电话  民族  人口类型  户号  与户主关系  标签  备注  来源  来源编号
    A row needs 身份证号 or 来源编号, so that importing the sheet again finds the same person.
    性别 and 出生日期 may be left empty when 身份证号 is given; if given they must agree with it.
    户号 names a household; one not yet registered is created (with no grid) and the person's grid
    is the household's. 标签 is a list of tag names or codes separated by "、" "," "，" ";".
households (户) -- matched by 户号
    户号*  地址  网格编码  楼栋编码  单元  室号  来源  来源编号
    楼栋编码+单元+室号 name the dwelling (created in that building if missing); the grid is 网格编码,
    else the building's grid.
buildings (楼栋) -- matched by 编码
    编码*  名称*  地址*  用途  层数  经度  纬度  来源  来源编号     (the grid comes from the point)
organizations (组织) -- matched by 统一社会信用代码, else by 来源+来源编号
    名称*  类型  统一社会信用代码  法定代表人  联系电话  地址  经度  纬度  楼栋编码  从业人数  来源  来源编号
assets (部件) -- matched by 编码
    编码*  名称*  类别*  状态  权属部门  地址  经度  纬度  备注  来源  来源编号
    类别 is an asset category code or name, 权属部门 a department code or name; both must exist.

Empty 来源 means "import". In "upsert" mode only the columns present in the sheet are written to a
row that exists already: a sheet without 标签 leaves everyone's tags as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("people", "households", "buildings", "organizations", "assets")
KIND_NAMES = {
    "people": "人员",
    "households": "户",
    "buildings": "楼栋",
    "organizations": "组织",
    "assets": "部件",
}


@dataclass(frozen=True)
class Column:
    field: str  # key in the row dict handed to the kind's check (mostly the model field name)
    header: str  # the Chinese header the export writes
    required: bool = False  # the column must be present (cells may still be checked per row)
    personal: bool = False  # values are masked in reports and exports
    aliases: tuple[str, ...] = ()


SOURCE = Column("source", "来源", aliases=("数据来源",))
SOURCE_ID = Column("source_id", "来源编号", aliases=("外部编号", "原编号"))
LON = Column("lon", "经度", aliases=("longitude", "lng"))
LAT = Column("lat", "纬度", aliases=("latitude",))

COLUMNS: dict[str, tuple[Column, ...]] = {
    "people": (
        Column("name", "姓名", required=True, personal=True),
        Column("gender", "性别"),
        Column("birth_date", "出生日期", aliases=("出生年月日", "生日")),
        Column("id_number", "身份证号", personal=True, aliases=("公民身份号码", "身份证号码", "证件号码")),
        Column(
            "phone", "联系电话", personal=True, aliases=("电话", "手机", "手机号", "手机号码", "联系方式")
        ),
        Column("ethnicity", "民族"),
        Column("residence", "人口类型", aliases=("人口性质",)),
        Column("household", "户号", aliases=("household_number",)),
        Column("relation", "与户主关系", aliases=("关系",)),
        Column("tags", "标签", aliases=("人员标签", "人员类别")),
        Column("note", "备注"),
        SOURCE,
        SOURCE_ID,
    ),
    "households": (
        Column("number", "户号", required=True),
        Column("address", "地址", aliases=("住址",)),
        Column("grid", "网格编码", aliases=("网格",)),
        Column("building", "楼栋编码", aliases=("楼栋",)),
        Column("unit", "单元"),
        Column("dwelling", "室号", aliases=("房号", "门牌号")),
        SOURCE,
        SOURCE_ID,
    ),
    "buildings": (
        Column("code", "编码", required=True, aliases=("楼栋编码",)),
        Column("name", "名称", required=True, aliases=("楼栋名称",)),
        Column("address", "地址", required=True),
        Column("use", "用途"),
        Column("floors", "层数"),
        LON,
        LAT,
        SOURCE,
        SOURCE_ID,
    ),
    "organizations": (
        Column("name", "名称", required=True, aliases=("单位名称", "组织名称")),
        Column("kind", "类型", aliases=("组织类型", "单位类型")),
        Column("credit_code", "统一社会信用代码", aliases=("信用代码",)),
        Column("legal_representative", "法定代表人", aliases=("负责人",)),
        Column("phone", "联系电话", aliases=("电话",)),
        Column("address", "地址"),
        LON,
        LAT,
        Column("building", "楼栋编码", aliases=("楼栋",)),
        Column("staff_count", "从业人数", aliases=("人数",)),
        SOURCE,
        SOURCE_ID,
    ),
    "assets": (
        Column("code", "编码", required=True, aliases=("部件编码",)),
        Column("name", "名称", required=True, aliases=("部件名称",)),
        Column("category", "类别", required=True, aliases=("部件类别", "类别编码")),
        Column("status", "状态"),
        Column("owner", "权属部门", aliases=("权属单位", "部门")),
        Column("address", "地址"),
        LON,
        LAT,
        Column("note", "备注"),
        SOURCE,
        SOURCE_ID,
    ),
}


def normalise_header(text: object) -> str:
    return re.sub(r"\s+", "", str(text or "")).rstrip("*＊").lower()


def header_lookup(kind: str) -> dict[str, Column]:
    """Every accepted spelling of every header of `kind`, normalised, to its column."""
    out: dict[str, Column] = {}
    for column in COLUMNS[kind]:
        for name in (column.header, column.field, *column.aliases):
            out[normalise_header(name)] = column
    return out
