from django.urls import path

from chargers import views

app_name = "chargers"
urlpatterns = [
    path("", views.charger_list, name="list"),
    path("<int:pk>/", views.charger_detail, name="detail"),
]
