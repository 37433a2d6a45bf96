"""The demo's accounts: one per role, all with the same published password."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.hashers import make_password

from shequ.accounts.models import Department, Role, ScopeKind
from shequ.accounts.services import create_user
from shequ.grids.models import Duty, Grid
from shequ.grids.services import assign_user
from shequ.registry.models import Person

PASSWORD = "Shequ-demo-2026"  # meets settings.AUTH_PASSWORD_VALIDATORS (length, three character classes)
HANDLER_DEPARTMENT = "chengguan"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: Role
    display_name: str
    note: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("operator", Role.COMMAND_OPERATOR, "李敏", "全街道"),
    DemoAccount("gridworker", Role.GRID_WORKER, "王芳", "西岔社区第1、2网格"),
    DemoAccount("handler", Role.DEPARTMENT_HANDLER, "张强", "城市管理综合执法局"),
    DemoAccount("leader", Role.LEADER, "刘建华", "全街道"),
    DemoAccount("resident", Role.RESIDENT, "", "西岔社区第1网格的一位户主"),
    DemoAccount("emergency", Role.EMERGENCY_MANAGER, "赵磊", "全街道"),
    DemoAccount("clerk", Role.SERVICE_CLERK, "陈静", "全街道"),
    DemoAccount("party", Role.PARTY_OFFICER, "马丽", "全街道"),
    DemoAccount("sysadmin", Role.ADMINISTRATOR, "系统管理员", "全部"),
)
USERNAMES = frozenset(a.username for a in DEMO_ACCOUNTS)


def create_accounts(
    *, street: Grid, first_community: Grid, departments: dict[str, Department], actor: Any
) -> int:
    """The accounts, through accounts.services (so the password policy applies) and grid assignments:
    the grid worker answers for two unit grids, the other area roles for the whole street."""
    unit_grids = list(Grid.objects.filter(parent=first_community).order_by("code")[:2])
    hashed = make_password(PASSWORD)  # once for the nine: each PBKDF2 hash takes over half a second
    duties = list(Duty.objects.all())
    for account in DEMO_ACCOUNTS:
        display = account.display_name
        person = None
        if account.role == Role.RESIDENT:
            person = (
                Person.objects.filter(
                    grid=unit_grids[0], relation="户主", birth_date__lte=dt.date(2000, 1, 1)
                )
                .order_by("pk")
                .first()
            )
            display = person.name if person else "居民"
        user = create_user(
            username=account.username,
            password=PASSWORD,
            password_hash=hashed,
            role=account.role,
            actor=actor,
            display_name=display,
            department=departments[HANDLER_DEPARTMENT] if account.role == Role.DEPARTMENT_HANDLER else None,
        )
        if person is not None:
            user.person = person
            user.save(update_fields=["person"])
        if account.role == Role.GRID_WORKER:
            for grid in unit_grids:
                assign_user(user, grid, actor=actor, duties=duties)
        elif Role(account.role).scope == ScopeKind.AREA:
            assign_user(user, street, actor=actor, primary=False)
    return len(DEMO_ACCOUNTS)


def print_accounts(out: Callable[[str], None]) -> None:
    """The demo accounts and how to reach them."""
    out(f"演示账号 (密码都是 {PASSWORD}):")
    for account in DEMO_ACCOUNTS:
        out(f"  {account.username:<12} {pad(str(Role(account.role).label), 14)}{account.note}")
    out("运行 `shequ serve` (或 make demo) 后打开 http://127.0.0.1:8000/ 登录")


def pad(text: str, width: int) -> str:
    """Left-justify to a terminal width where Chinese characters take two columns."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - used)
