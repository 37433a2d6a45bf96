"""`shequ demo-community --scale N [--seed S] [--if-absent]`: generate the demo community."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.demo import community, users
from shequ.demo.figures import Scale, ScaleError


class Command(BaseCommand):
    help = (
        "生成演示社区 (兰州新区西岔镇一带的示范社区: 16.35 平方公里, 2 个社区, 25 个网格, 82,000 名居民, "
        "14 所学校, 15 家企业, 256 名党员, 500 个摄像头点位) 及每个角色一个演示账号。"
        "--scale N (整数) 并排生成 N 个这样的单元, 用于压力测试; 0 到 1 之间的小数 (如 0.02) 保留同样的"
        "地图、社区、网格、学校和企业, 只按比例减少居民、党员、摄像头和其他部件, 用于快速测试。"
        "数据库中已有演示社区或其他数据时拒绝生成; 加 --if-absent 则已有时直接返回。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scale", default="1", help="规模: 正整数, 或 0 到 1 之间的小数 (默认 1)")
        parser.add_argument(
            "--seed",
            type=int,
            default=community.DEFAULT_SEED,
            help=f"随机种子 (默认 {community.DEFAULT_SEED})",
        )
        parser.add_argument(
            "--if-absent", action="store_true", help="已有演示社区 (或其他数据) 时不生成, 直接返回"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scale = Scale.parse(options["scale"])
        except ScaleError as exc:
            raise CommandError(str(exc)) from None
        seed = options["seed"]
        if seed < 0:
            raise CommandError("随机种子不能为负数")
        record = community.demo_record()
        if record is not None:
            same = record.seed == seed and record.scale == scale.value
            what = f"规模 {record.scale:g}, 种子 {record.seed}"
            if not options["if_absent"]:
                raise CommandError(
                    f"数据库中已有演示社区 ({what}), 不再生成。要重新生成, 请换一个空数据库 "
                    "(SHEQU_DATABASE_URL 或 SHEQU_VAR_DIR)"
                )
            self.stdout.write(f"演示社区已存在 ({what}){'' if same else ', 与所要求的不同, 未重新生成'}。")
            users.print_accounts(self.stdout.write)
            return
        present = community.other_data()
        if present:
            message = "数据库中已有非演示数据 (" + "、".join(present) + "), 演示社区只生成在空数据库中"
            if options["if_absent"]:
                self.stdout.write(self.style.WARNING(message + "; 未生成。"))
                return
            raise CommandError(message + "。")
        started = time.monotonic()
        try:
            record = community.generate(seed, scale, out=self.progress)
        except community.DemoExists as exc:  # another process got there first
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"演示社区已生成: 规模 {scale}, 种子 {seed}, 用时 {time.monotonic() - started:.1f} 秒"
            )
        )
        users.print_accounts(self.stdout.write)

    def progress(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()  # show each stage at once, also when the output is piped (make demo | tee)
