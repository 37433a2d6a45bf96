"""Default grid-worker duties (网格职责); administrators may add more. Created or renamed by code."""

from django.db import migrations

DUTIES = [
    ("info_collection", "信息采集", "采集、核实并更新网格内人、地、事、物、组织信息"),
    ("patrol_visit", "巡查走访", "按时巡查网格, 走访住户, 重点关注特殊人群"),
    ("dispute_mediation", "矛盾调解", "排查矛盾纠纷, 就地调解或上报"),
    ("hazard_check", "安全隐患排查", "排查消防、燃气、用电、建筑等安全隐患并跟踪整改"),
    ("policy_outreach", "政策宣传", "宣传法律法规和惠民政策, 发布社区通知"),
    ("service_agency", "服务代办", "为群众代办、帮办政务服务事项"),
    ("event_report", "事件上报", "发现问题及时上报, 跟踪处置结果"),
    ("special_care", "特殊人群服务管理", "关爱独居老人、残疾人、留守儿童等, 落实帮扶措施"),
]


def create_duties(apps, schema_editor):
    Duty = apps.get_model("grids", "Duty")
    for code, name, description in DUTIES:
        Duty.objects.update_or_create(code=code, defaults={"name": name, "description": description})


class Migration(migrations.Migration):
    dependencies = [
        ("grids", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_duties, migrations.RunPython.noop)]
