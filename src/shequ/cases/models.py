"""The case loop's tables (ARCHITECTURE §3): categories with time limits, cases, their history,
evidence, extensions, supervision and routing rules.

Only `cases.services` writes these tables; only `cases.services.transition` sets `Case.state`.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shequ.core.fields import EncryptedTextField
from shequ.core.models import TimeStampedModel


class StateKind(models.TextChoices):
    """What a state means, for code that asks "is it still open?" without listing states."""

    OPEN = "open", _("待受理")
    IN_PROGRESS = "in_progress", _("办理中")
    RESOLVED = "resolved", _("待核查")
    CLOSED = "closed", _("已办结")


class CaseState(models.TextChoices):
    REPORTED = "reported", _("已上报")
    FILED = "filed", _("已立案")
    DISPATCHED = "dispatched", _("已派遣")
    IN_PROGRESS = "in_progress", _("处置中")
    HANDLED = "handled", _("已反馈")
    CLOSED = "closed", _("已结案")
    REJECTED = "rejected", _("不予立案")
    MERGED = "merged", _("已合并")

    @property
    def kind(self) -> StateKind:
        return STATE_KIND[self]


STATE_KIND: dict[CaseState, StateKind] = {
    CaseState.REPORTED: StateKind.OPEN,
    CaseState.FILED: StateKind.OPEN,
    CaseState.DISPATCHED: StateKind.IN_PROGRESS,
    CaseState.IN_PROGRESS: StateKind.IN_PROGRESS,
    CaseState.HANDLED: StateKind.RESOLVED,
    CaseState.CLOSED: StateKind.CLOSED,
    CaseState.REJECTED: StateKind.CLOSED,
    CaseState.MERGED: StateKind.CLOSED,
}
OPEN_STATES = frozenset(s for s, k in STATE_KIND.items() if k != StateKind.CLOSED)


class Source(models.TextChoices):
    GRID_WORKER = "grid_worker", _("网格员巡查")
    RESIDENT = "resident", _("居民上报")
    HOTLINE = "hotline", _("热线")
    CAMERA = "camera", _("视频监控")
    DRONE = "drone", _("无人机")
    SENSOR = "sensor", _("物联感知")
    INSPECTION = "inspection", _("安全检查")
    REFERRAL = "referral", _("上级交办")
    API = "api", _("接口")


# 主动发现: found by the platform's own eyes and rounds, not reported by someone affected.
PROACTIVE_SOURCES = frozenset(
    {Source.GRID_WORKER, Source.CAMERA, Source.DRONE, Source.SENSOR, Source.INSPECTION}
)


class Urgency(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")
    CRITICAL = "critical", _("特急")


class Stage(models.TextChoices):
    """The stages that have a time limit (时限), each measured from the stage's start."""

    FILE = "file", _("受理立案")
    DISPATCH = "dispatch", _("派遣")
    ACCEPT = "accept", _("签收")
    HANDLE = "handle", _("处置")
    VERIFY = "verify", _("核查结案")
    CALLBACK = "callback", _("回访")


class LimitUnit(models.TextChoices):
    """Working time follows the official calendar's working hours; clock time (自然时间) runs
    round the clock, for emergencies that cannot wait for Monday morning."""

    MINUTES = "minutes", _("工作分钟")
    HOURS = "hours", _("工作小时")
    DAYS = "days", _("工作日")
    CLOCK_MINUTES = "clock_minutes", _("自然分钟")
    CLOCK_HOURS = "clock_hours", _("自然小时")


class Category(TimeStampedModel):
    """A node of the coded two-level tree of 部件 (components) and 事件 (events): a major class
    (no parent) or a subclass, which is what a case is filed under."""

    class Kind(models.TextChoices):
        COMPONENT = "component", _("部件")
        EVENT = "event", _("事件")

    kind = models.CharField(_("大类型"), max_length=12, choices=Kind.choices)
    code = models.CharField(_("编码"), max_length=12)
    name = models.CharField(_("名称"), max_length=60)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("大类"),
    )
    filing_condition = models.TextField(_("立案条件"), blank=True, default="")
    closing_condition = models.TextField(_("结案条件"), blank=True, default="")
    urgency = models.CharField(_("紧急程度"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    duplicate_radius_m = models.PositiveIntegerField(_("重复判定半径(米)"), default=50)
    duplicate_window_hours = models.PositiveIntegerField(_("重复判定时间窗(小时)"), default=72)
    merge_duplicates = models.BooleanField(
        _("自动合并重复上报"), default=False, help_text=_("否则只提示疑似重复, 由坐席决定")
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["kind", "code"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="category_kind_code")]
        verbose_name = _("案件类别")
        verbose_name_plural = _("案件类别")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code} {self.name}"


class QuestionDatatype(models.TextChoices):
    """The kinds of answer an extra question takes: Open311 GeoReport v2's attribute datatypes."""

    STRING = "string", _("短文本")
    NUMBER = "number", _("数字")
    DATETIME = "datetime", _("日期时间")
    TEXT = "text", _("长文本")
    SINGLEVALUELIST = "singlevaluelist", _("单选")
    MULTIVALUELIST = "multivaluelist", _("多选")


QUESTION_LISTS = frozenset({QuestionDatatype.SINGLEVALUELIST, QuestionDatatype.MULTIVALUELIST})


class Question(models.Model):
    """附加问题: an optional extra question of a subclass, asked when a case of it is reported
    (how deep the pothole is, which floor). A client that asks them (Open311: the service
    definition's attributes) has its answers checked by `services.questions.check_answers`."""

    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="questions", verbose_name=_("类别")
    )
    code = models.SlugField(_("编码"), max_length=40, help_text=_("字母、数字、下划线或连字符"))
    prompt = models.CharField(_("问题"), max_length=200)
    hint = models.CharField(_("填写说明"), max_length=200, blank=True, default="")
    datatype = models.CharField(
        _("答案类型"), max_length=16, choices=QuestionDatatype.choices, default=QuestionDatatype.STRING
    )
    # Open311's `variable`: false is a note shown to the reporter, which takes no answer.
    variable = models.BooleanField(_("需要回答"), default=True, help_text=_("否: 仅为提示说明, 不收集答案"))
    required = models.BooleanField(_("必答"), default=False)
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)
    choices = models.JSONField(
        _("选项"),
        default=list,
        blank=True,
        help_text=_('单选/多选的选项: [{"key": "deep", "name": "很深"}, ...]'),
    )
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["category", "order", "id"]
        constraints = [models.UniqueConstraint(fields=["category", "code"], name="question_category_code")]
        verbose_name = _("附加问题")
        verbose_name_plural = _("附加问题")

    def __str__(self) -> str:
        return f"{self.category.code} {self.code} {self.prompt}"

    def choice_keys(self) -> list[str]:
        return [str(c.get("key")) for c in self.choices if isinstance(c, dict)]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.datatype in QUESTION_LISTS:
            ok = (
                isinstance(self.choices, list)
                and self.choices
                and all(
                    isinstance(c, dict)
                    and set(c) == {"key", "name"}
                    and isinstance(c["key"], str)
                    and isinstance(c["name"], str)
                    and c["key"].strip()
                    and len(c["key"]) <= 100
                    and len(c["name"]) <= 200
                    for c in self.choices
                )
            )
            if not ok:
                raise ValidationError(
                    {"choices": _('单选/多选须有选项, 每项为 {"key": "...", "name": "..."}')}
                )
            if len(set(self.choice_keys())) != len(self.choices):
                raise ValidationError({"choices": _("选项的 key 不能重复")})
        elif self.choices:
            raise ValidationError({"choices": _("只有单选/多选问题有选项")})
        if not self.variable and self.required:
            raise ValidationError({"required": _("不需回答的提示不能是必答")})


class TimeLimit(models.Model):
    """How long a stage may take for cases of a category, in working time (core.calendar)."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="time_limits")
    stage = models.CharField(_("阶段"), max_length=10, choices=Stage.choices)
    amount = models.PositiveIntegerField(_("时限"))
    unit = models.CharField(_("单位"), max_length=16, choices=LimitUnit.choices, default=LimitUnit.HOURS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["category", "stage"], name="time_limit_stage"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="time_limit_positive"),
        ]
        verbose_name = _("时限")
        verbose_name_plural = _("时限")

    def __str__(self) -> str:
        return f"{self.category.code} {self.get_stage_display()} {self.amount}{self.get_unit_display()}"


class RoutingRule(TimeStampedModel):
    """category × grid (× time of day) → department. The most specific active rule wins: a rule
    naming a category beats one that does not, a deeper grid beats its parent, then `priority`."""

    name = models.CharField(_("名称"), max_length=100)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("类别(空=全部)")
    )
    grid = models.ForeignKey(
        "grids.Grid", null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("网格(空=全部, 含下级)")
    )
    starts_at = models.TimeField(_("起始时刻"), null=True, blank=True)
    ends_at = models.TimeField(_("结束时刻"), null=True, blank=True, help_text=_("可跨零点, 如 22:00–06:00"))
    department = models.ForeignKey(
        "accounts.Department", on_delete=models.PROTECT, verbose_name=_("处置部门")
    )
    auto_file = models.BooleanField(_("自动立案"), default=False)
    auto_dispatch = models.BooleanField(_("自动派遣"), default=False)
    priority = models.IntegerField(_("优先级"), default=0)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True, ends_at__isnull=True)
                | Q(starts_at__isnull=False, ends_at__isnull=False),
                name="routing_window_both_or_neither",
            ),
        ]
        verbose_name = _("派遣规则")
        verbose_name_plural = _("派遣规则")

    def __str__(self) -> str:
        return self.name


class Case(TimeStampedModel):
    """事件/案件: one problem, from report to close (GLOSSARY)."""

    number = models.CharField(_("案件编号"), max_length=20, unique=True)
    source = models.CharField(_("来源"), max_length=16, choices=Source.choices, db_index=True)
    source_id = models.CharField(_("来源编号"), max_length=120, blank=True, default="")
    category = models.ForeignKey(
        Category,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("类别"),
    )
    title = models.CharField(_("标题"), max_length=100, blank=True, default="")
    description = models.TextField(_("问题描述"))
    urgency = models.CharField(_("紧急程度"), max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    lon = models.FloatField(_("经度"), null=True, blank=True)
    lat = models.FloatField(_("纬度"), null=True, blank=True)
    address = models.CharField(_("地址"), max_length=200, blank=True, default="")
    grid = models.ForeignKey(
        "grids.Grid",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
        verbose_name=_("网格"),
    )

    # The reporter: an account, or a name and phone given by a caller. Confidential reporters are
    # shown to no one but the command center (举报人保密).
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_cases",
        verbose_name=_("上报人"),
    )
    reporter_name = models.CharField(_("上报人姓名"), max_length=50, blank=True, default="")
    reporter_phone = EncryptedTextField(_("上报人电话"), blank=True, default="")
    reporter_phone_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    reporter_confidential = models.BooleanField(_("上报人保密"), default=False)

    state = models.CharField(
        _("状态"), max_length=12, choices=CaseState.choices, default=CaseState.REPORTED, db_index=True
    )
    department = models.ForeignKey(
        "accounts.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("处置部门"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
        verbose_name=_("处置人"),
    )
    routing_rule = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("派遣规则")
    )
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        verbose_name=_("重复于"),
        help_text=_("合并后指向主案件; 未合并时为疑似重复"),
    )

    # Time limits: the running stage, when it started and when it is due (working-day calendar).
    stage = models.CharField(_("当前阶段"), max_length=10, choices=Stage.choices, blank=True, default="")
    stage_started_at = models.DateTimeField(_("阶段开始"), null=True, blank=True)
    due_at = models.DateTimeField(_("阶段时限"), null=True, blank=True, db_index=True)
    warned_at = models.DateTimeField(_("预警时间"), null=True, blank=True)
    overdue_at = models.DateTimeField(_("超期时间"), null=True, blank=True)
    handle_due_at = models.DateTimeField(_("处置时限"), null=True, blank=True)
    supervision_level = models.PositiveSmallIntegerField(_("督办级别"), default=0)

    # Milestones, kept for the measures (analytics) without replaying the history.
    filed_at = models.DateTimeField(_("立案时间"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("派遣时间"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    handled_at = models.DateTimeField(_("反馈时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结案时间"), null=True, blank=True, db_index=True)
    closed_on_time = models.BooleanField(_("按期结案"), null=True, blank=True)
    self_handled = models.BooleanField(_("自行处置"), default=False)
    dispatch_count = models.PositiveSmallIntegerField(_("派遣次数"), default=0)
    return_count = models.PositiveSmallIntegerField(_("退回次数"), default=0)
    rework_count = models.PositiveSmallIntegerField(_("返工次数"), default=0)
    reopen_count = models.PositiveSmallIntegerField(_("重办次数"), default=0)

    class Satisfaction(models.TextChoices):
        SATISFIED = "satisfied", _("满意")
        BASICALLY = "basically", _("基本满意")
        DISSATISFIED = "dissatisfied", _("不满意")

    satisfaction = models.CharField(
        _("满意度"), max_length=14, choices=Satisfaction.choices, blank=True, default=""
    )
    satisfaction_note = models.CharField(_("回访意见"), max_length=500, blank=True, default="")
    callback_at = models.DateTimeField(_("回访时间"), null=True, blank=True)

    # Answers to the category's extra questions (Question.code → value), as given at the report.
    answers = models.JSONField(_("附加问题回答"), default=dict, blank=True)

    # A retried report is harmless: the same key from the same reporter finds the first case.
    idempotency_key = models.CharField(max_length=80, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="case_idempotency",
            ),
            models.UniqueConstraint(
                fields=["source", "source_id"], condition=~Q(source_id=""), name="case_source_id"
            ),
            models.CheckConstraint(
                condition=Q(supervision_level__lte=3), name="case_supervision_level_range"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="case_state_due"),
            models.Index(fields=["department", "state"], name="case_department_state"),
            models.Index(fields=["grid", "state"], name="case_grid_state"),
            models.Index(fields=["category", "created_at"], name="case_category_created"),
        ]
        verbose_name = _("案件")
        verbose_name_plural = _("案件")

    def __str__(self) -> str:
        return self.number

    @property
    def state_kind(self) -> StateKind:
        return CaseState(self.state).kind

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_proactive(self) -> bool:
        return self.source in PROACTIVE_SOURCES

    def is_overdue(self, now: dt.datetime) -> bool:
        """Open and past its running stage's due: the rule of `selectors.overdue_q`, for one row."""
        return self.is_open and self.due_at is not None and self.due_at < now

    def on_time_if_closed_at(self, at: dt.datetime) -> bool | None:
        return closed_on_time(self.handle_due_at, at)


def closed_on_time(handle_due_at: dt.datetime | None, closed_at: dt.datetime) -> bool | None:
    """按期结案: closed by the handling due (None when handling never had one). The measures read
    the stored `Case.closed_on_time` (analytics/definitions.py)."""
    return None if handle_due_at is None else closed_at <= handle_due_at


class HistoryEntry(models.Model):
    """One line of a case's history: every transition, and notes that change no state."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="history")
    at = models.DateTimeField(_("时间"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(_("操作人"), max_length=80)
    action = models.CharField(_("操作"), max_length=24)
    from_state = models.CharField(
        _("原状态"), max_length=12, choices=CaseState.choices, blank=True, default=""
    )
    to_state = models.CharField(_("新状态"), max_length=12, choices=CaseState.choices, blank=True, default="")
    reason = models.TextField(_("说明"), blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="history_case_at")]
        verbose_name = _("案件历史")
        verbose_name_plural = _("案件历史")

    def __str__(self) -> str:
        return f"{self.case_id} {self.action} {self.from_state}→{self.to_state}"


class Evidence(models.Model):
    """A photo of a case: what was reported, or the result after handling. Stored only after it
    decoded as a real image; EXIF GPS (WGS-84) and time kept where present."""

    class Kind(models.TextChoices):
        REPORT = "report", _("上报照片")
        RESULT = "result", _("处置结果")
        VERIFY = "verify", _("核查照片")
        SNAPSHOT = "snapshot", _("监控抓拍")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="evidence")
    history = models.ForeignKey(
        HistoryEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices, default=Kind.REPORT)
    file = models.FileField(_("文件"), upload_to="cases/%Y/%m/")
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    taken_at = models.DateTimeField(_("拍摄时间"), null=True, blank=True)
    lon = models.FloatField(_("拍摄经度"), null=True, blank=True)
    lat = models.FloatField(_("拍摄纬度"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name = _("证据照片")
        verbose_name_plural = _("证据照片")

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.file.name}"


class Extension(models.Model):
    """延期: the handler asks for more time on the handling stage; the command center decides."""

    class Decision(models.TextChoices):
        PENDING = "pending", _("待审批")
        GRANTED = "granted", _("已同意")
        REFUSED = "refused", _("未同意")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="extensions")
    amount = models.PositiveIntegerField(_("延长时限"))
    unit = models.CharField(_("单位"), max_length=16, choices=LimitUnit.choices, default=LimitUnit.DAYS)
    reason = models.TextField(_("延期理由"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("申请时间"))
    decision = models.CharField(
        _("审批结果"), max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("审批时间"), null=True, blank=True)
    note = models.TextField(_("审批意见"), blank=True, default="")
    old_due_at = models.DateTimeField(null=True, blank=True)
    new_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            # One request at a time: a second waits for the first's decision.
            models.UniqueConstraint(
                fields=["case"], condition=Q(decision="pending"), name="extension_one_pending"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="extension_positive"),
        ]
        verbose_name = _("延期申请")
        verbose_name_plural = _("延期申请")

    def __str__(self) -> str:
        return f"{self.case_id} +{self.amount} {self.unit} {self.decision}"


class Supervision(models.Model):
    """督办: a raised level of pressure on a case, by the deadline sweep or by a person."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="supervisions")
    level = models.PositiveSmallIntegerField(_("督办级别"))
    at = models.DateTimeField(_("时间"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.CharField(_("督办事由"), max_length=200)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("督办")
        verbose_name_plural = _("督办")

    def __str__(self) -> str:
        return f"{self.case_id} level {self.level}"
