"""`shequ demo-figures [--json] [--check]`: the demo community's figures, read from the database."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.accounts.models import User
from shequ.demo import community, figures, users
from shequ.demo.figures import Scale


class Command(BaseCommand):
    help = (
        "从数据库读出演示社区的各项数字 (居民、户、楼栋、房屋、社区、网格及面积、学校、企业、党员、摄像头、"
        "其他部件、道路、部门、账号)。--check 与示范社区乘以生成规模的数字比较 (居民 ±1%, 网格面积 ±0.5%, "
        "其余须相等), 不符时列出差异并以非零状态退出。--json 输出机器可读的 JSON。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="输出 JSON")
        parser.add_argument("--check", action="store_true", help="与应有的数字比较, 不符则以非零状态退出")

    def handle(self, *args: Any, **options: Any) -> None:
        record = community.demo_record()
        found = figures.actual()
        expected: dict[str, float] = {}
        problems: list[str] = []
        if record is None:
            problems.append("数据库中没有演示社区 (请先运行 shequ demo-community)")
        else:
            expected = Scale(record.scale).expected()
            problems += [str(d) for d in figures.compare(expected, found)]
            usernames = set(users.USERNAMES)
            present = set(
                User.objects.filter(username__in=usernames, is_active=True).values_list("username", flat=True)
            )
            if present != usernames:
                problems.append("演示账号缺失: " + ", ".join(sorted(usernames - present)))

        if options["json"]:
            payload: dict[str, Any] = {
                "demo": None if record is None else {"seed": record.seed, "scale": record.scale},
                "figures": found,
                "expected": expected,
            }
            if options["check"]:
                payload["problems"] = problems
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
        else:
            if record is not None:
                self.stdout.write(f"演示社区: 规模 {Scale(record.scale)}, 种子 {record.seed}")
            for key, label, unit in figures.LABELS:
                value = found[key]
                text = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
                want = expected.get(key)
                hint = ""
                if want is not None:
                    hint = f"  (应为 {want:,.2f})" if isinstance(want, float) else f"  (应为 {want:,})"
                self.stdout.write(f"  {users.pad(label, 12)}{text:>12} {users.pad(unit, 10)}{hint}".rstrip())
        if options["check"]:
            if problems:
                raise CommandError("演示社区的数字不符:\n  " + "\n  ".join(problems))
            if not options["json"]:
                self.stdout.write(self.style.SUCCESS("演示社区的数字相符。"))
