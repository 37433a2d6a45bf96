"""`shequ api-token <username>`: create or rotate a user's API token and print it (docs/api.md,
"Machines"). The token acts with the user's role and data scope; rotating invalidates the old one.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

from shequ.accounts.models import User
from shequ.core.audit import audit


class Command(BaseCommand):
    help = "为用户生成 (或更换) API 令牌并打印; 旧令牌立即失效"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="用户名 (令牌以该用户的角色和数据范围访问)")
        parser.add_argument("--revoke", action="store_true", help="只作废现有令牌, 不生成新的")

    def handle(self, *args: Any, username: str, revoke: bool, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"用户 {username} 不存在")
        if not user.is_active and not revoke:
            raise CommandError(f"用户 {username} 已停用, 不能生成令牌")
        with transaction.atomic():
            # One token per user: rotating is delete + create, so the old key stops working at once.
            had = Token.objects.filter(user=user).delete()[0] > 0
            if revoke:
                audit("user.api_token_revoke", actor="shequ api-token", target=user, had_token=had)
                self.stdout.write(f"已作废 {username} 的 API 令牌" if had else f"{username} 没有 API 令牌")
                return
            token = Token.objects.create(user=user)
            audit("user.api_token", actor="shequ api-token", target=user, rotated=had)
        self.stdout.write(token.key)
