"""`shequ open311 key create NAME` (prints the key, shown this once), `key revoke NAME`,
`key list`: the Open311 API keys (docs/open311.md "Keys")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from shequ.core.errors import DomainError
from shequ.open311 import services
from shequ.open311.models import ApiKey

ACTOR = "shequ open311"


class Command(BaseCommand):
    help = "Open311 API 密钥: key create 名称 (打印密钥) / key revoke 名称 / key list"

    def add_arguments(self, parser: CommandParser) -> None:
        kinds = parser.add_subparsers(dest="kind", required=True)
        key = kinds.add_parser("key", help="API 密钥")
        acts = key.add_subparsers(dest="act", required=True)
        acts.add_parser("create", help="生成密钥并打印 (只显示一次)").add_argument("name")
        acts.add_parser("revoke", help="作废密钥").add_argument("name")
        acts.add_parser("list", help="列出密钥")

    def handle(self, *args: Any, act: str, name: str = "", **options: Any) -> None:
        if act == "list":
            for key in ApiKey.objects.order_by("name"):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-"
                self.stdout.write(
                    f"{key.name}\t{key.prefix}…\t{state}\trequests={key.request_count}"
                    f"\treports={key.report_count}\trefused={key.refused_count}\tlast_used={used}"
                )
            return
        if act == "create":
            try:
                _key, raw = services.create_key(name, actor=ACTOR)
            except DomainError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(raw)
            return
        found = ApiKey.objects.filter(name=name).first()
        if found is None:
            raise CommandError(f"没有名为 {name} 的密钥")
        services.revoke_key(found, actor=ACTOR)
        self.stdout.write(f"已作废 {name}")
