"""Round-the-clock time limits (自然时间) for emergencies.

An urgent or critical case reported at 3 a.m. on a Saturday (a gas leak, a missing manhole cover)
must not wait for Monday's working hours: the default urgent and critical categories count their
filing, dispatch, accepting and (when given in minutes or hours) handling limits in clock time.
Only limits still as the defaults made them are changed; what administrators set is kept.
"""

import importlib

from django.db import migrations, models

CLOCK = {"minutes": "clock_minutes", "hours": "clock_hours"}
ROUND_THE_CLOCK_STAGES = ("file", "dispatch", "accept", "handle")


def _defaults():
    """(kind, code, stage, amount, unit) of every default urgent or critical limit in working
    minutes or hours, for a stage that runs round the clock."""
    module = importlib.import_module("shequ.cases.migrations.0002_default_categories")
    for kind, code, _name, fields, limits in module.subclasses():
        if fields["urgency"] == "normal":
            continue
        for stage, amount, unit in limits:
            if stage in ROUND_THE_CLOCK_STAGES and unit in CLOCK:
                yield kind, code, stage, amount, unit


def to_clock(apps, schema_editor):
    TimeLimit = apps.get_model("cases", "TimeLimit")
    for kind, code, stage, amount, unit in _defaults():
        TimeLimit.objects.filter(
            category__kind=kind, category__code=code, stage=stage, amount=amount, unit=unit
        ).update(unit=CLOCK[unit])


def to_working(apps, schema_editor):
    TimeLimit = apps.get_model("cases", "TimeLimit")
    for kind, code, stage, amount, unit in _defaults():
        TimeLimit.objects.filter(
            category__kind=kind, category__code=code, stage=stage, amount=amount, unit=CLOCK[unit]
        ).update(unit=unit)


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0002_default_categories'),
    ]

    operations = [
        migrations.AlterField(
            model_name='extension',
            name='unit',
            field=models.CharField(choices=[('minutes', '工作分钟'), ('hours', '工作小时'), ('days', '工作日'), ('clock_minutes', '自然分钟'), ('clock_hours', '自然小时')], default='days', max_length=16, verbose_name='单位'),
        ),
        migrations.AlterField(
            model_name='timelimit',
            name='unit',
            field=models.CharField(choices=[('minutes', '工作分钟'), ('hours', '工作小时'), ('days', '工作日'), ('clock_minutes', '自然分钟'), ('clock_hours', '自然小时')], default='hours', max_length=16, verbose_name='单位'),
        ),
        migrations.RunPython(to_clock, to_working),
    ]
