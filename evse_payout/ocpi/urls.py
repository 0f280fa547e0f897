"""OCPI 2.2.1 receiver routes (token auth, no login)."""

urlpatterns = []
