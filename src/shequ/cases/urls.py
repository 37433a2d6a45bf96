"""Pages of the case loop under /cases/ (docs/pages.md); included from shequ.web.urls."""

from django.urls import path

from shequ.cases import views

app_name = "cases"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("inbox/", views.inbox, name="inbox"),
    path("report/", views.report, name="report"),
    path("mine/", views.mine, name="mine"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/export.xlsx", views.dashboard_export, name="dashboard_export"),
    path("<str:ref>/", views.case_detail, name="detail"),
    path("<str:ref>/reported/", views.reported, name="reported"),
    path("<str:ref>/act/<str:action>/", views.case_act, name="act"),
    path("<str:ref>/photos/<int:pk>/", views.case_photo, name="photo"),
]
