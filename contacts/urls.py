from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("<int:pk>/details/", views.edit_detail, name="edit_detail"),
    path("<int:pk>/attributes/", views.set_attribute, name="set_attribute"),
    path("<int:pk>/notes/", views.add_note, name="add_note"),
    path("<int:pk>/labels/", views.change_label, name="change_label"),
]
