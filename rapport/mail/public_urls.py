"""The public endpoints recipients reach from a message, mounted at /m/ (short links keep
messages small): no session, no sign-in, a signed token in each URL.
"""

from django.urls import path

from rapport.mail import public_views

app_name = "mail_public"

urlpatterns = [
    path("o/<str:token>.gif", public_views.pixel, name="pixel"),
    path("c/<str:token>", public_views.click, name="click"),
    path("u/<str:token>", public_views.unsubscribe, name="unsubscribe"),
]
