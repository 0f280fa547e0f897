"""Pages of this area; routes are declared in `urlpatterns` at the bottom."""

urlpatterns = []
