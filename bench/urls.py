"""The product's URLs plus the fair admin baselines at /bench-admin/ (bench settings only)."""

from django.urls import path

from config.urls import urlpatterns as product_urlpatterns

from .admin_baseline import site

urlpatterns = [path("bench-admin/", site.urls), *product_urlpatterns]
