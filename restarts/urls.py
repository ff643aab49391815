from django.urls import path

from restarts import views

app_name = "restarts"
urlpatterns = [
    path("window/", views.restart_window, name="window"),
    path("window/page/", views.restart_window_page, name="window_page"),
    path("confirm/", views.restart_confirm, name="confirm"),
    path("history/", views.history, name="history"),
    path("history/<int:pk>/", views.history_detail, name="history_detail"),
]
