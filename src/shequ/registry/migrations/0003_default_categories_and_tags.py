"""Default reference data of the registers: 部件 categories and person tags.

Categories follow the layout of the national urban-management component standard (CJ/T 214,
GB/T 30428.2): six major classes with two-digit codes, subclasses with four. Administrators may
add their own; this migration only creates or renames the defaults, by code, so it is safe to
run on a database that already has some of them.
"""

from django.db import migrations

MAJOR_CLASSES = [
    ("01", "公用设施"),
    ("02", "道路交通"),
    ("03", "市容环境"),
    ("04", "园林绿化"),
    ("05", "房屋土地"),
    ("06", "其他设施"),
]

SUBCLASSES = [
    ("0101", "上水井盖"),
    ("0102", "污水井盖"),
    ("0103", "雨水井盖"),
    ("0104", "雨水箅子"),
    ("0105", "电力井盖"),
    ("0106", "路灯井盖"),
    ("0107", "通讯井盖"),
    ("0110", "热力井盖"),
    ("0111", "燃气井盖"),
    ("0114", "综合井盖"),
    ("0115", "消防栓"),
    ("0116", "电力设施"),
    ("0117", "通讯交接箱"),
    ("0118", "路灯"),
    ("0119", "景观灯"),
    ("0121", "监控电子眼"),
    ("0122", "治安岗亭"),
    ("0201", "停车场"),
    ("0203", "公交站亭"),
    ("0205", "过街天桥"),
    ("0209", "交通标志牌"),
    ("0210", "交通信号灯"),
    ("0212", "隔离护栏"),
    ("0214", "路名牌"),
    ("0215", "电子警察"),
    ("0301", "公共厕所"),
    ("0302", "垃圾房"),
    ("0304", "广告牌匾"),
    ("0305", "垃圾箱"),
    ("0306", "报刊亭"),
    ("0401", "古树名木"),
    ("0402", "行道树"),
    ("0404", "绿地"),
    ("0405", "城市雕塑"),
    ("0406", "街头座椅"),
    ("0407", "花坛"),
    ("0501", "宣传栏"),
    ("0502", "人防工事"),
    ("0504", "公共健身设施"),
    ("0601", "重大危险源"),
    ("0602", "工地"),
    ("0603", "水域附属设施"),
    ("0604", "应急避难场所"),
]

# (code, name, is_sensitive): sensitive categories are seen only by elevated roles (ARCHITECTURE §7).
TAGS = [
    ("elderly_alone", "独居老人", False),
    ("empty_nest_elderly", "空巢老人", False),
    ("elderly_80_plus", "高龄老人", False),
    ("disabled", "残疾人", False),
    ("subsistence_allowance", "低保户", False),
    ("extreme_poverty", "特困人员", False),
    ("left_behind_child", "留守儿童", False),
    ("party_member", "党员", False),
    ("veteran", "退役军人", False),
    ("community_correction", "社区矫正人员", True),
    ("released_prisoner", "刑满释放人员", True),
    ("severe_mental_disorder", "严重精神障碍患者", True),
    ("drug_user", "吸毒人员", True),
    ("key_youth", "重点青少年", True),
    ("key_petitioner", "信访重点人员", True),
]


def create_defaults(apps, schema_editor):
    AssetCategory = apps.get_model("registry", "AssetCategory")
    Tag = apps.get_model("registry", "Tag")
    majors = {}
    for code, name in MAJOR_CLASSES:
        majors[code], _ = AssetCategory.objects.update_or_create(
            code=code, defaults={"name": name, "parent": None}
        )
    for code, name in SUBCLASSES:
        AssetCategory.objects.update_or_create(code=code, defaults={"name": name, "parent": majors[code[:2]]})
    for code, name, sensitive in TAGS:
        Tag.objects.update_or_create(code=code, defaults={"name": name, "is_sensitive": sensitive})


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0002_road"),
    ]

    # Reversing keeps the rows: people and assets may refer to them by then.
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
