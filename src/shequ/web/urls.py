from django.urls import include, path

from shequ.grids import views as grid_views
from shequ.registry import views as registry_views
from shequ.web import views

KINDS = "people|buildings|organizations|assets|households"

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("registry/import/", registry_views.import_upload, name="import"),
    path("registry/people/<int:pk>/", registry_views.person_detail, name="person"),
    path("registry/people/<int:pk>/reveal/", registry_views.person_reveal, name="person_reveal"),
    path("registry/buildings/<int:pk>/", registry_views.building_detail, name="building"),
    path("grids/", grid_views.grid_list, name="grids"),
    path("grids/<str:code>/", grid_views.grid_detail, name="grid"),
    path("cases/", include("shequ.cases.urls")),
    path("command/", include("shequ.command.urls")),
    path("units/", include("shequ.units.urls")),
    path("live/", include("shequ.live.urls")),
    path("onemap/", include("shequ.onemap.urls")),
    path("video/", include("shequ.video.urls")),
    path("drones/", include("shequ.drones.urls")),
]
# One list page and one export per register: /registry/people/, /registry/people/export.xlsx
for kind in KINDS.split("|"):
    urlpatterns += [
        path(f"registry/{kind}/", registry_views.register_list, {"kind": kind}, name=kind),
        path(
            f"registry/{kind}/export.<str:fmt>",
            registry_views.register_export,
            {"kind": kind},
            name=f"{kind}_export",
        ),
    ]
