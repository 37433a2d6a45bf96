from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", include("shequ.api_urls")),
    path("open311/", include("shequ.open311.urls")),
    path("", include("shequ.web.urls")),
]
