from django.urls import path

from chargers import manage_views, views

app_name = "chargers"
urlpatterns = [
    path("", views.charger_list, name="list"),
    path("<int:pk>/", views.charger_detail, name="detail"),
    path("add/", manage_views.charger_add, name="add"),
    path("<int:pk>/edit/", manage_views.charger_edit, name="edit"),
    path("move/", manage_views.chargers_move, name="move"),
]
