"""Pages of command (docs/command.md); included from shequ.web.urls under /command/."""

from django.urls import path

from shequ.command import views

app_name = "command"
urlpatterns = [
    path("", views.center, name="center"),
    path("send/", views.send, name="send"),
    path("inbox/", views.inbox, name="inbox"),
    path("<str:ref>/", views.detail, name="detail"),
    path("<str:ref>/act/<str:act>/", views.act, name="act"),
]
