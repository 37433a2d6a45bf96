"""Pages of the cameras under /video/ (docs/pages.md, "Video"); included from shequ.web.urls."""

from django.urls import path

from shequ.video import views

app_name = "video"
urlpatterns = [
    path("", views.wall, name="wall"),
    path("cameras/<int:pk>/", views.camera_detail, name="camera"),
    path("cameras/<int:pk>/snapshot.jpg", views.camera_snapshot, name="camera_snapshot"),
    path("cameras/<int:pk>/analytics/", views.camera_analytics, name="analytics"),
    path("alerts/", views.alert_queue, name="alerts"),
    path("alerts/<int:pk>/snapshot.jpg", views.alert_snapshot, name="alert_snapshot"),
    path("alerts/<int:pk>/clip.mp4", views.alert_clip, name="alert_clip"),
    path("alerts/<int:pk>/<str:act>/", views.alert_act, name="alert_act"),
]
