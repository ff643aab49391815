from django.urls import path

from restarts.healing import views

app_name = "healing"
urlpatterns = [
    path("groups/<int:pk>/self-healing/", views.group_self_healing, name="group"),
]
