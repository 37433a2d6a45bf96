"""Default case categories: the coded two-level tree of 部件 (components) and 事件 (events), in the
manner of the national digital urban management standards (GB/T 30428.2, CJ/T 214), each subclass
with its filing and closing conditions, urgency, duplicate rule and time limits per stage.

部件 codes and names are those of the registry's asset categories (registry migration 0003), so a
camera asset 0121 and a case category 部件 0121 are the same thing. Categories are created or
renamed by (kind, code); conditions, urgency and limits are only set when a row is created, so
that a re-run keeps what administrators changed in the admin.
"""

import importlib

from django.db import migrations

# (stage, amount, unit) triples; "handle" is given per subclass.
NORMAL = [("file", 60, "minutes"), ("dispatch", 30, "minutes"), ("accept", 2, "hours"),
          ("verify", 1, "days"), ("callback", 3, "days")]
URGENT = [("file", 15, "minutes"), ("dispatch", 10, "minutes"), ("accept", 30, "minutes"),
          ("verify", 4, "hours"), ("callback", 2, "days")]
CRITICAL = [("file", 5, "minutes"), ("dispatch", 5, "minutes"), ("accept", 10, "minutes"),
            ("verify", 2, "hours"), ("callback", 1, "days")]
PROFILE = {"normal": NORMAL, "urgent": URGENT, "critical": CRITICAL}

EVENT_MAJOR = [
    ("01", "市容环境"),
    ("02", "宣传广告"),
    ("03", "施工管理"),
    ("04", "突发事件"),
    ("05", "街面秩序"),
    ("06", "其他事件"),
]

# (code, name, urgency, handle (amount, unit), filing condition, closing condition,
#  duplicate radius m, window h, merge duplicates)
EVENTS = [
    ("0101", "私搭乱建", "normal", (5, "days"),
     "在公共区域、楼道、屋顶等处未经批准搭建建(构)筑物", "违章搭建已拆除, 场地清理干净", 30, 168, False),
    ("0102", "暴露垃圾", "normal", (4, "hours"),
     "公共区域有散落或堆放的生活垃圾, 面积 0.5 平方米以上", "垃圾清运完毕, 地面无残留", 50, 24, False),
    ("0103", "积存垃圾渣土", "normal", (1, "days"),
     "垃圾、渣土积存超过 1 立方米或 24 小时未清运", "积存垃圾渣土清运完毕", 50, 72, False),
    ("0104", "道路不洁", "normal", (4, "hours"),
     "道路、人行道有明显污物、油渍、泥沙, 长度 10 米以上", "路面清扫冲洗干净", 50, 24, False),
    ("0105", "水域不洁", "normal", (2, "days"),
     "河道、湖面、水渠有漂浮垃圾或明显污染", "水面漂浮物打捞完毕", 100, 72, False),
    ("0106", "绿地脏乱", "normal", (1, "days"),
     "绿地内有垃圾、杂物或被踩踏破坏", "绿地清理干净", 50, 72, False),
    ("0107", "乱堆物堆料", "normal", (1, "days"),
     "在道路、楼道、公共场地乱堆物料、杂物, 影响通行或市容", "堆物堆料清除, 恢复通行", 30, 72, False),
    ("0108", "违章接坡", "normal", (3, "days"),
     "在道路、人行道边缘私自修建坡道或搭设台阶", "违章接坡已拆除, 路面恢复", 30, 168, False),
    ("0109", "油烟污染", "normal", (3, "days"),
     "餐饮单位未安装或未正常使用油烟净化设施, 油烟直排", "油烟净化设施安装或修复并正常使用", 50, 168, False),
    ("0110", "噪声扰民", "normal", (4, "hours"),
     "生产经营、娱乐、宣传等活动噪声明显影响居民休息", "噪声源停止或整改到位", 100, 24, False),
    ("0111", "露天焚烧", "urgent", (2, "hours"),
     "露天焚烧垃圾、树叶、秸秆等", "明火熄灭, 焚烧物清理完毕", 100, 12, True),
    ("0112", "动物尸体", "normal", (4, "hours"),
     "道路或公共场所有动物尸体", "尸体清除并消杀", 30, 24, True),
    ("0201", "非法小广告", "normal", (1, "days"),
     "在建筑物、设施、树木上张贴、涂写、刻画小广告", "小广告清除, 墙面设施恢复", 30, 72, False),
    ("0202", "违规户外广告", "normal", (5, "days"),
     "未经审批或超期设置户外广告, 或广告设施破损、有安全隐患", "违规广告拆除或补办手续, 隐患消除", 30, 168, False),
    ("0203", "占道广告牌", "normal", (2, "days"),
     "在道路、人行道摆放广告牌、灯箱、展板", "占道广告牌清除", 30, 72, False),
    ("0204", "横幅标语破损过期", "normal", (2, "days"),
     "悬挂的横幅、标语破损、褪色或超过期限", "横幅标语撤除或更换", 50, 168, False),
    ("0205", "街头散发广告", "normal", (4, "hours"),
     "在街头、路口向行人散发广告宣传品", "散发行为制止, 散落宣传品清理", 100, 12, False),
    ("0301", "施工扰民", "normal", (4, "hours"),
     "夜间(22:00-06:00)或午休时间违规施工, 或施工噪声、粉尘明显影响居民", "违规施工停止, 扰民问题消除", 100, 24, False),
    ("0302", "违法建设", "normal", (15, "days"),
     "未取得建设工程规划许可或未按许可建设的建(构)筑物", "违法建设拆除或依法处理完毕", 30, 720, False),
    ("0303", "施工占道", "normal", (1, "days"),
     "施工未经许可占用道路, 或超范围、超期占道, 围挡不规范", "占道清除或补办许可, 围挡规范", 50, 72, False),
    ("0304", "施工废弃料", "normal", (2, "days"),
     "施工废弃料、渣土随意倾倒或未覆盖", "废弃料清运, 裸土覆盖", 50, 72, False),
    ("0305", "道路破损", "normal", (3, "days"),
     "车行道、人行道出现坑槽、沉陷、松动, 面积 0.5 平方米以上", "路面修复平整, 可正常通行", 30, 168, True),
    ("0401", "井盖缺失", "urgent", (2, "hours"),
     "检查井井盖缺失、破损或移位, 危及行人车辆安全", "井盖补齐或更换, 安放平稳", 20, 168, True),
    ("0402", "路面积水", "urgent", (4, "hours"),
     "降雨或管道问题造成路面积水, 深度 10 厘米以上或影响通行", "积水排除, 恢复通行", 100, 12, True),
    ("0403", "树木倒伏", "urgent", (4, "hours"),
     "树木倒伏、断枝, 阻碍交通或危及人身、设施安全", "倒伏树木、断枝清除或扶正加固", 50, 24, True),
    ("0404", "火灾隐患", "urgent", (4, "hours"),
     "楼道堆放易燃物、电动车违规充电、占用堵塞消防通道等", "隐患消除, 有整改后照片", 30, 72, False),
    ("0405", "燃气泄漏", "critical", (30, "minutes"),
     "闻到燃气异味或发现燃气管道、设施泄漏", "泄漏点关闭并修复, 燃气公司确认安全", 200, 6, True),
    ("0406", "道路塌陷", "critical", (60, "minutes"),
     "路面塌陷或出现空洞, 危及通行安全", "现场围挡警示, 塌陷处修复", 50, 24, True),
    ("0407", "供水管道破裂", "urgent", (2, "hours"),
     "供水管道破裂、漏水, 造成路面冒水或停水", "管道修复, 恢复供水, 路面清理", 100, 24, True),
    ("0408", "群体性事件苗头", "critical", (60, "minutes"),
     "多人聚集、上访、讨薪等可能引发群体性事件的苗头", "人员疏散, 诉求登记并移交责任部门", 200, 24, False),
    ("0409", "危险化学品泄漏", "critical", (30, "minutes"),
     "危险化学品运输、储存、使用中泄漏或有泄漏迹象", "泄漏控制, 现场清理, 专业部门确认安全", 300, 12, True),
    ("0501", "占道经营", "normal", (4, "hours"),
     "在道路、人行道、广场等公共场所摆摊设点经营", "摊点清除, 场地清理", 50, 12, False),
    ("0502", "无照经营游商", "normal", (4, "hours"),
     "流动商贩无照经营, 影响交通或市容", "游商劝离或依法处理", 100, 12, False),
    ("0503", "店外经营", "normal", (4, "hours"),
     "商户超出门窗在店外摆放商品、设施或作业", "店外经营清除, 商品设施收回店内", 30, 24, False),
    ("0504", "机动车乱停放", "normal", (2, "hours"),
     "机动车在人行道、绿地、消防通道等处违规停放", "车辆驶离或依法处理", 30, 12, False),
    ("0505", "非机动车乱停放", "normal", (4, "hours"),
     "非机动车(含共享单车)乱停乱放, 影响通行或市容", "车辆摆放整齐或清离", 30, 12, False),
    ("0506", "占用消防通道", "urgent", (2, "hours"),
     "车辆、杂物占用、堵塞消防车通道或安全出口", "消防通道畅通", 30, 12, False),
    ("0507", "露天烧烤", "normal", (4, "hours"),
     "在露天公共场所烧烤经营, 油烟影响周边", "烧烤经营停止, 场地清理", 50, 12, False),
    ("0508", "乱拉乱挂乱晾晒", "normal", (1, "days"),
     "在道路、树木、设施上乱拉绳索、乱挂物品或晾晒", "乱拉乱挂清除", 30, 72, False),
    ("0601", "邻里纠纷", "normal", (3, "days"),
     "居民之间因噪声、漏水、停车、宠物等引发的矛盾纠纷", "双方达成调解或已引导依法解决", 20, 168, False),
    ("0602", "流浪乞讨", "normal", (1, "days"),
     "流浪乞讨人员在公共场所滞留", "救助站接收或劝离, 有需要的已送医", 200, 24, False),
    ("0603", "宠物扰民", "normal", (2, "days"),
     "犬只未拴绳、扰民或伤人, 宠物粪便未清理", "饲养人整改, 伤人事件移交处理", 50, 72, False),
    ("0604", "其他安全隐患", "normal", (2, "days"),
     "其他危及人身、财产安全的隐患", "隐患消除或已移交责任单位", 50, 72, False),
    ("0605", "其他事件", "normal", (5, "days"),
     "不属于以上类别、需要处置的城市管理问题", "问题解决或已移交责任单位", 50, 72, False),
]

# 部件 subclasses: how urgent a fault of each is and how long handling may take, by code; the
# rest are "normal" with 3 working days.
COMPONENT_URGENT = {"0115": (1, "days"), "0601": (2, "hours")}
COMPONENT_HANDLE = {"0118": (2, "days"), "0119": (2, "days"), "0210": (4, "hours"), "0401": (5, "days")}
COMPONENT_FILING = "部件丢失、破损、移位或功能失效"
COMPONENT_CLOSING = "部件修复、更换或复位, 功能恢复, 有处置后照片"
MANHOLE = "井盖"  # a missing or broken manhole cover is a danger to people: urgent, 2 working hours


def _component_rule(code, name):
    if MANHOLE in name:
        return "urgent", (2, "hours")
    if code in COMPONENT_URGENT:
        return "urgent", COMPONENT_URGENT[code]
    return "normal", COMPONENT_HANDLE.get(code, (3, "days"))


def _registry_categories():
    # One list of 部件 for both apps: the registry's migration holds it.
    module = importlib.import_module("shequ.registry.migrations.0003_default_categories_and_tags")
    return module.MAJOR_CLASSES, module.SUBCLASSES


def subclasses():
    """Every default subclass as (kind, code, name, fields, limits): what the migration creates."""
    _majors, components = _registry_categories()
    rows = []
    for code, name in components:
        urgency, handle = _component_rule(code, name)
        fields = {
            "filing_condition": f"{name}{COMPONENT_FILING}",
            "closing_condition": f"{name}{COMPONENT_CLOSING}",
            "urgency": urgency,
            "duplicate_radius_m": 20,  # one facility is one case
            "duplicate_window_hours": 168,
            "merge_duplicates": True,
        }
        rows.append(("component", code, name, fields, [*PROFILE[urgency], ("handle", *handle)]))
    for code, name, urgency, handle, filing, closing, radius, window, merge in EVENTS:
        fields = {
            "filing_condition": filing,
            "closing_condition": closing,
            "urgency": urgency,
            "duplicate_radius_m": radius,
            "duplicate_window_hours": window,
            "merge_duplicates": merge,
        }
        rows.append(("event", code, name, fields, [*PROFILE[urgency], ("handle", *handle)]))
    return rows


def create_defaults(apps, schema_editor):
    Category = apps.get_model("cases", "Category")
    TimeLimit = apps.get_model("cases", "TimeLimit")
    component_majors, _components = _registry_categories()
    majors = {}
    for kind, classes in (("component", component_majors), ("event", EVENT_MAJOR)):
        for code, name in classes:
            majors[kind, code], _ = Category.objects.update_or_create(
                kind=kind, code=code, defaults={"name": name, "parent": None}
            )
    for kind, code, name, fields, limits in subclasses():
        category, created = Category.objects.update_or_create(
            kind=kind,
            code=code,
            defaults={"name": name, "parent": majors[kind, code[:2]]},
            create_defaults={"name": name, "parent": majors[kind, code[:2]], **fields},
        )
        for stage, amount, unit in limits:
            TimeLimit.objects.get_or_create(
                category=category, stage=stage, defaults={"amount": amount, "unit": unit}
            )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("registry", "0003_default_categories_and_tags"),
    ]

    # Reversing keeps the rows: cases may refer to them by then.
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
