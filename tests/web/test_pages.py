"""Every page for the roles that may open it, refused to the others; scope and masking."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from shequ.accounts.models import Department, Role
from shequ.core.models import AuditEntry, Job
from tests.web.conftest import make_household

pytestmark = pytest.mark.django_db

REGISTER_PAGES = [
    "/registry/people/",
    "/registry/households/",
    "/registry/buildings/",
    "/registry/organizations/",
    "/registry/assets/",
    "/grids/",
]


@pytest.fixture
def worker(make_user, community):
    return make_user(Role.GRID_WORKER, grids=(community["grid11"],), display_name="网格员甲")


@pytest.fixture
def operator(make_user, community):
    return make_user(Role.COMMAND_OPERATOR, grids=(community["street"],))


@pytest.fixture
def leader(make_user, community):
    return make_user(Role.LEADER, grids=(community["street"],))


@pytest.mark.parametrize("url", REGISTER_PAGES)
@pytest.mark.parametrize(
    "role", [Role.GRID_WORKER, Role.COMMAND_OPERATOR, Role.LEADER, Role.SERVICE_CLERK, Role.ADMINISTRATOR]
)
def test_register_pages_open_for_area_roles(url, role, make_user, community, login):
    user = make_user(role, grids=(community["community1"],))
    assert login(user).get(url).status_code == 200


@pytest.mark.parametrize("url", [*REGISTER_PAGES, "/registry/import/"])
def test_register_pages_refused_to_department_and_resident(url, make_user, community, login):
    department = Department.objects.create(code="D1", name="城管执法中队")
    assert login(make_user(Role.DEPARTMENT_HANDLER, department=department)).get(url).status_code == 403
    assert login(make_user(Role.RESIDENT)).get(url).status_code == 403


def test_grid_worker_sees_only_their_grids_people(worker, community, login):
    page = login(worker).get("/registry/people/").text
    assert "王建国" in page and "李秀英" in page
    assert "赵志强" not in page


def test_people_list_masks_id_and_phone(worker, community, login):
    page = login(worker).get("/registry/people/").text
    wang = community["wang"]
    assert wang.id_number not in page and wang.phone not in page
    assert wang.id_number[:3] + "*" * 11 + wang.id_number[-4:] in page
    assert "138****" + wang.phone[-4:] in page  # stored +86..., shown as dialled in China


@pytest.mark.parametrize(
    "params, shown, hidden",
    [
        ({"q": "王"}, ["王建国"], ["李秀英"]),
        ({"gender": "female"}, None, None),
        ({"residence": "floating"}, [], ["王建国", "李秀英"]),
        ({"grid": "999999"}, ["王建国"], []),  # an unknown grid is reported and ignored
        ({"page": "x"}, ["王建国"], []),
    ],
)
def test_people_filters(params, shown, hidden, operator, community, login):
    response = login(operator).get("/registry/people/", params)
    assert response.status_code == 200
    for name in shown or []:
        assert name in response.text
    for name in hidden or []:
        assert name not in response.text


def test_people_filter_by_tag(operator, community, login):
    page = login(operator).get("/registry/people/", {"tag": community["elderly"].pk}).text
    assert "王建国" in page and "李秀英" not in page


def test_id_number_search_is_exact_and_scoped(worker, community, login):
    client = login(worker)
    page = client.get("/registry/people/", {"id_number": community["li"].id_number}).text
    assert "李秀英" in page and "王建国" not in page
    # Someone outside the worker's grids is not found, exactly as no one.
    page = client.get("/registry/people/", {"id_number": community["zhao"].id_number}).text
    assert "赵志强" not in page and "没有符合条件的记录" in page
    response = client.get("/registry/people/", {"id_number": "123"})
    assert response.status_code == 200 and "身份证号无效" in response.text


def test_sensitive_tags_hidden_from_roles_without_the_right(worker, leader, community, login):
    sensitive = f'class="badge badge-tag">{community["correction"].name}<'
    plain = f'class="badge badge-tag">{community["elderly"].name}<'
    page = login(worker).get("/registry/people/").text
    assert sensitive in page and plain in page
    page = login(leader).get("/registry/people/").text
    assert community["correction"].name not in page  # neither on the rows nor among the filter choices
    assert plain in page


def test_detail_pages_outside_the_scope_are_404(worker, community, login):
    client = login(worker)
    assert client.get(f"/registry/people/{community['wang'].pk}/").status_code == 200
    assert client.get(f"/registry/people/{community['zhao'].pk}/").status_code == 404
    assert client.get("/registry/people/999999/").status_code == 404
    assert client.get(f"/registry/buildings/{community['b11'].pk}/").status_code == 200
    assert client.get(f"/registry/buildings/{community['b21'].pk}/").status_code == 404
    assert client.get(f"/grids/{community['grid11'].code}/").status_code == 200
    assert client.get(f"/grids/{community['grid21'].code}/").status_code == 404
    assert client.get("/grids/nonsense/").status_code == 404


def test_person_detail_is_masked(worker, community, login):
    page = login(worker).get(f"/registry/people/{community['wang'].pk}/").text
    assert community["wang"].id_number not in page and community["wang"].phone not in page
    assert "显示完整号码" in page


def test_reveal_shows_the_numbers_once_and_writes_an_audit_row(worker, community, login):
    wang = community["wang"]
    client = login(worker)
    response = client.post(f"/registry/people/{wang.pk}/reveal/", {"purpose": "入户走访核实身份"})
    assert response.status_code == 200
    assert wang.id_number in response.text and wang.phone in response.text
    assert response["Cache-Control"] == "no-store"
    entry = AuditEntry.objects.get(action="person.reveal")
    assert (entry.actor_id, entry.target_id, entry.detail["purpose"]) == (
        worker.pk,
        str(wang.pk),
        "入户走访核实身份",
    )
    # Shown once: the next visit is masked again.
    assert wang.id_number not in client.get(f"/registry/people/{wang.pk}/").text


def test_reveal_needs_a_purpose(worker, community, login):
    wang = community["wang"]
    response = login(worker).post(f"/registry/people/{wang.pk}/reveal/", {"purpose": "  "})
    assert response.status_code == 422
    assert wang.id_number not in response.text
    assert not AuditEntry.objects.filter(action="person.reveal").exists()


def test_leader_cannot_reveal(leader, community, login):
    wang = community["wang"]
    client = login(leader)
    assert "显示完整号码" not in client.get(f"/registry/people/{wang.pk}/").text
    response = client.post(f"/registry/people/{wang.pk}/reveal/", {"purpose": "想看看"})
    assert response.status_code == 403
    assert wang.id_number not in response.text
    assert not AuditEntry.objects.filter(action="person.reveal").exists()


def test_reveal_outside_the_scope_is_404_and_get_is_refused(worker, community, login):
    client = login(worker)
    assert (
        client.post(f"/registry/people/{community['zhao'].pk}/reveal/", {"purpose": "x"}).status_code == 404
    )
    assert client.get(f"/registry/people/{community['wang'].pk}/reveal/").status_code == 405
    assert not AuditEntry.objects.filter(action="person.reveal").exists()


def test_building_page_lists_dwellings_households_and_residents(worker, community, login):
    page = login(worker).get(f"/registry/buildings/{community['b11'].pk}/").text
    assert "H11-1" in page and "101" in page
    assert 'id="building-map"' in page


def _map_data(page: str, element_id: str) -> dict:
    start = page.index(f'<script id="{element_id}" type="application/json">')
    start = page.index(">", start) + 1
    return json.loads(page[start : page.index("</script>", start)])


def test_grid_page_draws_the_grid_and_its_buildings(worker, community, login):
    page = login(worker).get(f"/grids/{community['grid11'].code}/").text
    data = _map_data(page, "grid-map")
    kinds = [f["properties"]["kind"] for f in data["features"]]
    assert kinds.count("grid") == 1 and kinds.count("building") == 1
    assert "网格员甲" in page


def test_community_grid_page_shows_children_and_counts(operator, community, login):
    page = login(operator).get(f"/grids/{community['community1'].code}/").text
    assert community["grid11"].code in page and community["grid12"].code in page
    data = _map_data(page, "grid-map")
    assert sum(f["properties"].get("selected", False) for f in data["features"]) == 1


def test_homes_differ_by_role(make_user, community, login, system_user):
    from shequ.registry.services import update_person  # noqa: F401  (data built above)

    department = Department.objects.create(code="D1", name="城管执法中队")
    resident = make_user(Role.RESIDENT)
    resident.person = community["zhao"]
    resident.save(update_fields=["person"])
    pages = {
        Role.GRID_WORKER: ("我的网格", 'id="home-map"'),
        Role.COMMAND_OPERATOR: ("辖区概况", "我负责的区域"),
        Role.LEADER: ("辖区数据概览", "人口构成"),
        Role.ADMINISTRATOR: ("系统管理", "/admin/"),
    }
    for role, needles in pages.items():
        page = login(make_user(role, grids=(community["community1"],))).get("/").text
        for needle in needles:
            assert needle in page, (role, needle)
    page = login(make_user(Role.DEPARTMENT_HANDLER, department=department)).get("/").text
    assert "本部门" in page and "城管执法中队" in page
    page = login(resident).get("/").text
    zhao = community["zhao"]
    assert "我的登记信息" in page and "赵志强" in page
    assert zhao.id_number not in page and zhao.id_number[-4:] in page


def test_grid_worker_home_counts_and_map(worker, community, login):
    page = login(worker).get("/").text
    data = _map_data(page, "home-map")
    assert [f["properties"]["label"] for f in data["features"] if f["properties"]["kind"] == "grid"] == [
        f"{community['grid11'].name} {community['grid11'].code}"
    ]
    assert "社区1第1网格" in page


def test_people_list_query_count_does_not_grow_with_rows(
    operator, community, login, system_user, django_assert_num_queries
):
    import datetime as dt

    from shequ.registry import identifiers
    from shequ.registry.services import create_person

    client = login(operator)
    client.get("/registry/people/")  # warm the session
    with django_assert_num_queries(QUERIES_PEOPLE_LIST):
        client.get("/registry/people/")
    for n in range(60):
        create_person(
            {"name": f"居民{n}", "id_number": identifiers.make_resident_id("620102", dt.date(1980, 1, 1), n)},
            actor=system_user,
            household=community["h11"],
            tags=[community["elderly"]],
        )
    with django_assert_num_queries(QUERIES_PEOPLE_LIST):
        response = client.get("/registry/people/")
    assert response.context["page"].paginator.count == 63
    assert len(response.context["page"].object_list) == 50


# session, user, scope (assignments, grids), count, grid and tag choices, page, tags of the page,
# and the session saved again (SESSION_SAVE_EVERY_REQUEST: savepoint, update, release)
QUERIES_PEOPLE_LIST = 12


def test_job_page_for_its_creator_only(operator, make_user, community, login):
    job = Job.objects.create(
        kind="registry.import",
        created_by=operator,
        status=Job.Status.FAILED,
        total=3,
        done=3,
        params={"filename": "people.xlsx"},
        report={
            "created": 2,
            "updated": 0,
            "errors": [{"row": 3, "column": "身份证号", "value": "123", "message": "身份证号无效"}],
        },
    )
    page = login(operator).get(f"/jobs/{job.pk}/")
    assert page.status_code == 200
    assert "people.xlsx" in page.text and "身份证号无效" in page.text
    assert login(make_user(Role.COMMAND_OPERATOR)).get(f"/jobs/{job.pk}/").status_code == 404
    assert login(make_user(Role.ADMINISTRATOR)).get(f"/jobs/{job.pk}/").status_code == 200


def test_running_job_page_refreshes_itself(operator, community, login):
    job = Job.objects.create(
        kind="registry.import", created_by=operator, status=Job.Status.RUNNING, total=10, done=4
    )
    page = login(operator).get(f"/jobs/{job.pk}/").text
    assert 'http-equiv="refresh"' in page and "width: 40%" in page


def test_import_page_roles_and_bad_files(make_user, community, login):
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert login(make_user(Role.GRID_WORKER)).get("/registry/import/").status_code == 403
    assert login(make_user(Role.LEADER)).get("/registry/import/").status_code == 403
    client = login(make_user(Role.SERVICE_CLERK))
    assert client.get("/registry/import/").status_code == 200
    bad = SimpleUploadedFile("people.exe", b"MZ", content_type="application/octet-stream")
    response = client.post("/registry/import/", {"kind": "people", "mode": "upsert", "file": bad})
    assert response.status_code == 400 and "只接受 .xlsx 或 .csv 文件" in response.text
    empty = SimpleUploadedFile("people.csv", b"", content_type="text/csv")
    response = client.post("/registry/import/", {"kind": "people", "mode": "upsert", "file": empty})
    assert response.status_code == 400
    response = client.post(
        "/registry/import/",
        {"kind": "spaceship", "mode": "upsert", "file": SimpleUploadedFile("p.csv", b"a\n1\n")},
    )
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_import_through_the_page_then_the_job_report(
    make_user, community, login, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from shequ.core import jobs
    from shequ.registry import identifiers

    good = identifiers.make_resident_id("620102", dt.date(1990, 5, 1), 11)
    sheet = f"name,id_number\n孙立新,{good}\n周敏,620102199005011234\n".encode()
    client = login(make_user(Role.ADMINISTRATOR))
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/registry/import/",
            {"kind": "people", "mode": "upsert", "file": SimpleUploadedFile("新居民.csv", sheet)},
        )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.params == {"kind": "people", "mode": "upsert", "filename": "新居民.csv"}
    assert 'http-equiv="refresh"' in client.get(f"/jobs/{job.pk}/").text
    jobs.run(job.pk)
    page = client.get(f"/jobs/{job.pk}/").text
    assert 'http-equiv="refresh"' not in page
    assert '<td class="num">3</td>' in page  # the bad row, by its line in the sheet


def test_export_is_scoped_masked_and_audited(worker, community, login):
    response = login(worker).get("/registry/people/export.csv", {"q": "王"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    assert "王建国" in text and "李秀英" not in text and "赵志强" not in text
    assert community["wang"].id_number not in text
    assert AuditEntry.objects.filter(action="registry.export", actor=worker).exists()
    assert login(worker).get("/registry/people/export.pdf").status_code == 404
    xlsx = login(worker).get("/registry/buildings/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_list_counts_are_per_row_and_zero_when_empty(operator, community, login):
    make_household("H11-2", community["b11"], "1", "102")  # nobody lives there yet
    rows = login(operator).get("/registry/households/").context["page"].object_list
    counts = {h.number: h.member_count for h in rows}
    assert counts == {"H11-1": 2, "H11-2": 0, "H21-1": 1}
    rows = login(operator).get("/registry/buildings/").context["page"].object_list
    assert {b.code: b.dwelling_count for b in rows} == {"B11": 2, "B21": 1}


def test_refusals_are_pages_in_the_users_language(make_user, login, client, settings):
    settings.DEBUG = False
    resident = make_user(Role.RESIDENT)
    page = login(resident).get("/registry/people/")
    assert page.status_code == 403 and "您的角色不能查看此页面" in page.text and "退出" in page.text
    page = login(make_user(Role.COMMAND_OPERATOR)).get("/registry/people/999999/")
    assert page.status_code == 404 and "不在您的数据范围内" in page.text
    client.logout()
    page = client.get("/no/such/page/")
    assert page.status_code == 404 and "此页面不存在" in page.text and "退出" not in page.text


PAGE_JUNK = [
    {"page": "abc"},
    {"page": "-1"},
    {"page": str(10**30)},
    {"grid": "<junk>"},
    {"grid": "9" * 40},
    {"q": "a\x00b"},
    {"id_number": "1\x00"},
    {"id_number": "11010519491231002X"},
    {"tag": str(10**30)},
    {"category": str(10**30)},
    {"household": str(10**30)},  # was a 500: the number reached SQLite
    {"household": "-1"},
    {"residence": "\x00"},
    {"q": "长" * 10000},
]


def test_junk_filters_on_list_and_export_pages_never_give_a_server_error(operator, community, login):
    client = login(operator)
    client.raise_request_exception = False
    for kind in ("people", "households", "buildings", "organizations", "assets"):
        for url in (f"/registry/{kind}/", f"/registry/{kind}/export.csv", f"/registry/{kind}/export.xlsx"):
            for params in PAGE_JUNK:
                response = client.get(url, params)
                assert response.status_code < 500, (url, params, response.status_code)
    # An invalid filter is ignored, not widened to something else: the list still shows the scope.
    page = client.get("/registry/people/", {"household": str(10**30)}).text
    assert community["wang"].name in page and community["zhao"].name in page
    for url in (
        f"/registry/people/{10**30}/",
        f"/registry/buildings/{10**30}/",
        f"/jobs/{10**30}/",
        "/grids/%00/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/registry/people/{10**30}/reveal/", {"purpose": "x"}).status_code == 404
